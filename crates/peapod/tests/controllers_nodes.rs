//! Acceptance: the node lifecycle controller inside a real `peapod server --disable-agent
//! --node-monitor-grace-period 3`, with two real `peapod sim-nodes` processes. Stopping one
//! (its leases stop) makes its node `Ready=Unknown` with reason `NodeStatusUnknown` and the
//! `node.kubernetes.io/unreachable` taints; the taint manager evicts its Deployment pods
//! after their `tolerationSeconds`, and the ReplicaSet recreates them on the live node. A node
//! that heartbeats again loses the taints; a deleted node's Lease is garbage collected.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::{Server, ServerOptions, eventually};

const SETTLE: Duration = Duration::from_secs(60);

fn ready_condition(node: &Value) -> Value {
    node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready").cloned())
        .unwrap_or(Value::Null)
}

fn taint_keys(node: &Value) -> Vec<(String, String)> {
    node["spec"]["taints"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|t| (t["key"].as_str().unwrap_or("").to_string(), t["effect"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn running_on(server: &Server, namespace: &str, node: &str) -> usize {
    server.get_json(&["pods", "-n", namespace])["items"]
        .as_array()
        .map(|pods| {
            pods.iter()
                .filter(|p| {
                    !p["metadata"]["deletionTimestamp"].is_string()
                        && p["spec"]["nodeName"] == node
                        && p["status"]["phase"] == "Running"
                })
                .count()
        })
        .unwrap_or(0)
}

#[track_caller]
fn wait(what: &str, timeout: Duration, server: &Server, predicate: impl FnMut() -> bool) {
    if !eventually(timeout, predicate) {
        let log = server.log();
        let lines: Vec<&str> = log.lines().collect();
        panic!("timed out waiting for {what}\n{}", lines[lines.len().saturating_sub(60)..].join("\n"));
    }
}

#[test]
fn a_silent_node_is_tainted_and_its_pods_move() {
    let server = Server::start_with(ServerOptions {
        extra_args: vec!["--node-monitor-grace-period".into(), "3".into()],
        ..ServerOptions::default()
    })
    .expect("server");
    let doomed_nodes = server.sim_nodes("doomed", 1, &["--lease-interval", "1", "--status-interval", "1"]);
    let _live_nodes = server.sim_nodes("live", 1, &["--lease-interval", "1", "--status-interval", "1"]);
    let (doomed, live) = ("doomed-0000", "live-0000");
    let ns = server.fresh_namespace("evict");
    // Four pods, tolerating unreachable for 2 s only, spread over both nodes.
    let manifest = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "nginx", "image": "nginx"}],
                    "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                        "effect": "NoExecute", "tolerationSeconds": 2}],
                },
            },
        },
    });
    server.kubectl_stdin(testkit::Kubectl::V1_33, &["apply", "-f", "-"], &manifest.to_string()).assert_success();
    wait("pods on both nodes", SETTLE, &server, || {
        running_on(&server, &ns, doomed) >= 1 && running_on(&server, &ns, doomed) + running_on(&server, &ns, live) == 4
    });
    let before = server.get_json(&["node", doomed]);
    assert_eq!(ready_condition(&before)["status"], "True");
    assert!(!taint_keys(&before).iter().any(|(k, _)| k == "node.kubernetes.io/unreachable"));

    drop(doomed_nodes);
    wait("the node to go Unknown and be tainted", Duration::from_secs(30), &server, || {
        let node = server.get_json(&["node", doomed]);
        let taints = taint_keys(&node);
        ready_condition(&node)["status"] == "Unknown"
            && taints.contains(&("node.kubernetes.io/unreachable".into(), "NoExecute".into()))
            && taints.contains(&("node.kubernetes.io/unreachable".into(), "NoSchedule".into()))
    });
    let node = server.get_json(&["node", doomed]);
    let ready = ready_condition(&node);
    assert_eq!(ready["reason"], "NodeStatusUnknown");
    assert_eq!(ready["message"], "Kubelet stopped posting node status.");
    let no_execute = node["spec"]["taints"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["effect"] == "NoExecute").cloned())
        .expect("NoExecute taint");
    assert!(no_execute["timeAdded"].is_string(), "{no_execute}");
    let listed = server.kubectl(&["get", "node", doomed]);
    listed.assert_success();
    listed.assert_stdout_contains("NotReady");

    // The pods move to the live node once their 2 s toleration runs out.
    wait("the pods on the live node", Duration::from_secs(40), &server, || running_on(&server, &ns, live) == 4);
    let evicted = server.get_json(&["pods", "-n", &ns])["items"]
        .as_array()
        .map(|pods| {
            pods.iter()
                .filter(|p| p["spec"]["nodeName"] == doomed && p["metadata"]["deletionTimestamp"].is_string())
                .count()
        })
        .unwrap_or(0);
    assert!(evicted >= 1, "the doomed node's pods are being deleted");

    // The node comes back: the taints go.
    let _back = server.sim_nodes("doomed", 1, &["--lease-interval", "1", "--status-interval", "1"]);
    wait("the taints removed", Duration::from_secs(30), &server, || {
        let node = server.get_json(&["node", doomed]);
        ready_condition(&node)["status"] == "True"
            && !taint_keys(&node).iter().any(|(k, _)| k.starts_with("node.kubernetes.io/unreachable"))
    });

    // A deleted node's Lease (owned by the Node) is garbage collected.
    drop(_back);
    server.kubectl(&["get", "lease", doomed, "-n", "kube-node-lease"]).assert_success();
    server.kubectl(&["delete", "node", doomed]).assert_success();
    wait("the node's lease collected", Duration::from_secs(30), &server, || {
        !server.kubectl(&["get", "lease", doomed, "-n", "kube-node-lease"]).status.success()
    });
}
