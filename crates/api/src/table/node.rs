//! Nodes (`printNode`): Name, Status, Roles, Age, Version | wide: Internal-IP, External-IP,
//! OS-Image, Kernel-Version, Container-Runtime.
//!
//! Status is `Ready`/`NotReady` from the `Ready` condition (`Unknown` without one), plus
//! `,SchedulingDisabled` for cordoned nodes. Roles come from `node-role.kubernetes.io/<role>`
//! labels and the legacy `kubernetes.io/role=<role>` label, sorted, `<none>` when there are none.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, array, boolean, get, name, string};
use super::{AGE_COLUMN, Column, NAME_COLUMN};

/// `v1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]`.
const KUBELET_VERSION_DESCRIPTION: &str = "Kubelet Version reported by the node.";
/// `v1.NodeStatus{}.SwaggerDoc()["addresses"]`.
const ADDRESSES_DESCRIPTION: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
/// `v1.NodeSystemInfo{}.SwaggerDoc()["osImage"]`.
const OS_IMAGE_DESCRIPTION: &str =
    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
/// `v1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]`.
const KERNEL_VERSION_DESCRIPTION: &str =
    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
/// `v1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]`.
const CONTAINER_RUNTIME_DESCRIPTION: &str =
    "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Status", type_: "string", format: "", description: "The status of the node", priority: 0 },
    Column { name: "Roles", type_: "string", format: "", description: "The roles of the node", priority: 0 },
    AGE_COLUMN,
    Column { name: "Version", type_: "string", format: "", description: KUBELET_VERSION_DESCRIPTION, priority: 0 },
    Column { name: "Internal-IP", type_: "string", format: "", description: ADDRESSES_DESCRIPTION, priority: 1 },
    Column { name: "External-IP", type_: "string", format: "", description: ADDRESSES_DESCRIPTION, priority: 1 },
    Column { name: "OS-Image", type_: "string", format: "", description: OS_IMAGE_DESCRIPTION, priority: 1 },
    Column {
        name: "Kernel-Version",
        type_: "string",
        format: "",
        description: KERNEL_VERSION_DESCRIPTION,
        priority: 1,
    },
    Column {
        name: "Container-Runtime",
        type_: "string",
        format: "",
        description: CONTAINER_RUNTIME_DESCRIPTION,
        priority: 1,
    },
];

/// `labelNodeRolePrefix`.
const LABEL_NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";
/// `nodeLabelRole`.
const NODE_LABEL_ROLE: &str = "kubernetes.io/role";

pub(super) fn cells(node: &Value, now: Timestamp) -> Vec<Value> {
    let info = |field: &str| {
        let v = string(node, &["status", "nodeInfo", field]);
        Value::String(if v.is_empty() { "<unknown>".to_string() } else { v.to_string() })
    };
    vec![
        name(node),
        Value::String(status(node)),
        Value::String(roles(node)),
        age(node, now),
        Value::String(string(node, &["status", "nodeInfo", "kubeletVersion"]).to_string()),
        Value::String(address(node, "InternalIP")),
        Value::String(address(node, "ExternalIP")),
        info("osImage"),
        info("kernelVersion"),
        info("containerRuntimeVersion"),
    ]
}

fn status(node: &Value) -> String {
    // Go builds a map by condition type, so the last Ready condition wins.
    let ready = array(node, &["status", "conditions"]).iter().rev().find(|c| string(c, &["type"]) == "Ready");
    let mut parts = vec![match ready {
        Some(c) if string(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if boolean(node, &["spec", "unschedulable"]) {
        parts.push("SchedulingDisabled");
    }
    parts.join(",")
}

/// `findNodeRoles`, joined with commas.
fn roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    if let Some(labels) = get(node, &["metadata", "labels"]).and_then(Value::as_object) {
        for (key, value) in labels {
            let value = value.as_str().unwrap_or("");
            if let Some(role) = key.strip_prefix(LABEL_NODE_ROLE_PREFIX) {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if key == NODE_LABEL_ROLE && !value.is_empty() {
                roles.insert(value.to_string());
            }
        }
    }
    if roles.is_empty() { "<none>".to_string() } else { roles.into_iter().collect::<Vec<_>>().join(",") }
}

/// The first address of `type_`, or `<none>`.
fn address(node: &Value, type_: &str) -> String {
    array(node, &["status", "addresses"])
        .iter()
        .find(|a| string(a, &["type"]) == type_)
        .map_or_else(|| "<none>".to_string(), |a| string(a, &["address"]).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn status_of(conditions: Value, unschedulable: bool) -> String {
        status(&json!({"spec": {"unschedulable": unschedulable}, "status": {"conditions": conditions}}))
    }

    #[test]
    fn node_status() {
        let ready = json!([{"type": "Ready", "status": "True"}]);
        let not_ready = json!([{"type": "Ready", "status": "False"}]);
        let unknown = json!([{"type": "Ready", "status": "Unknown"}]);
        let other = json!([{"type": "MemoryPressure", "status": "True"}]);
        let cases = [
            (ready.clone(), false, "Ready"),
            (ready, true, "Ready,SchedulingDisabled"),
            (not_ready.clone(), false, "NotReady"),
            (not_ready, true, "NotReady,SchedulingDisabled"),
            (unknown, false, "NotReady"),
            (other, false, "Unknown"),
            (json!([]), false, "Unknown"),
            (json!([]), true, "Unknown,SchedulingDisabled"),
            (json!([{"type": "Ready", "status": "False"}, {"type": "Ready", "status": "True"}]), false, "Ready"),
        ];
        for (conditions, unschedulable, want) in cases {
            assert_eq!(status_of(conditions.clone(), unschedulable), want, "{conditions} {unschedulable}");
        }
    }

    #[test]
    fn node_roles() {
        let cases = [
            (json!({}), "<none>"),
            (json!({"node-role.kubernetes.io/control-plane": ""}), "control-plane"),
            (
                json!({"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "x"}),
                "control-plane,worker",
            ),
            (json!({"kubernetes.io/role": "master"}), "master"),
            (json!({"kubernetes.io/role": ""}), "<none>"),
            (json!({"node-role.kubernetes.io/": ""}), "<none>"),
            (json!({"kubernetes.io/role": "node", "node-role.kubernetes.io/node": ""}), "node"),
            (json!({"kubernetes.io/hostname": "n1"}), "<none>"),
        ];
        for (labels, want) in cases {
            assert_eq!(roles(&json!({"metadata": {"labels": labels}})), want, "{labels}");
        }
    }

    #[test]
    fn node_cells() {
        let node = json!({
            "metadata": {"name": "node1", "creationTimestamp": "2024-05-01T11:59:50Z",
                         "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "node1"}, {"type": "InternalIP", "address": "10.0.0.1"},
                              {"type": "InternalIP", "address": "10.0.0.2"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                             "kernelVersion": "6.1.0", "containerRuntimeVersion": "podman://5.0"}}});
        assert_eq!(
            cells(&node, now()),
            vec![
                json!("node1"),
                json!("Ready"),
                json!("control-plane"),
                json!("10s"),
                json!("v1.33.0"),
                json!("10.0.0.1"),
                json!("<none>"),
                json!("Debian GNU/Linux 12 (bookworm)"),
                json!("6.1.0"),
                json!("podman://5.0"),
            ]
        );
        let bare = cells(&json!({"metadata": {"name": "n"}}), now());
        assert_eq!(
            bare[4..],
            [json!(""), json!("<none>"), json!("<none>"), json!("<unknown>"), json!("<unknown>"), json!("<unknown>")]
        );
    }
}
