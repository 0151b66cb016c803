//! Deployments (`printDeployment`): Name, Ready (`ready/desired`), Up-to-date, Available (integer
//! cells under columns kube-apiserver declares as `string`), Age | wide: Containers, Images,
//! Selector (`LabelSelectorAsSelector(…).String()`: empty for no selector, `<invalid>` when it
//! does not convert).

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, array, container_cells, get, int, name, opt_int};
use super::label_selector::selector_string;
use super::{AGE_COLUMN, CONTAINERS_DESCRIPTION, Column, IMAGES_DESCRIPTION, NAME_COLUMN};

/// `extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()[...]` and `DeploymentSpec{}…["selector"]`.
const UPDATED_DESCRIPTION: &str =
    "Total number of non-terminating pods targeted by this deployment that have the desired template spec.";
const AVAILABLE_DESCRIPTION: &str =
    "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.";
const SELECTOR_DESCRIPTION: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column {
        name: "Ready",
        type_: "string",
        format: "",
        description: "Number of the pod with ready state",
        priority: 0,
    },
    Column { name: "Up-to-date", type_: "string", format: "", description: UPDATED_DESCRIPTION, priority: 0 },
    Column { name: "Available", type_: "string", format: "", description: AVAILABLE_DESCRIPTION, priority: 0 },
    AGE_COLUMN,
    Column { name: "Containers", type_: "string", format: "", description: CONTAINERS_DESCRIPTION, priority: 1 },
    Column { name: "Images", type_: "string", format: "", description: IMAGES_DESCRIPTION, priority: 1 },
    Column { name: "Selector", type_: "string", format: "", description: SELECTOR_DESCRIPTION, priority: 1 },
];

pub(super) fn cells(deploy: &Value, now: Timestamp) -> Vec<Value> {
    // apps/v1 defaulting sets spec.replicas to 1 before kube-apiserver prints.
    let desired = opt_int(deploy, &["spec", "replicas"]).unwrap_or(1);
    let ready = int(deploy, &["status", "readyReplicas"]);
    let (containers, images) = container_cells(array(deploy, &["spec", "template", "spec", "containers"]));
    let selector = selector_string(get(deploy, &["spec", "selector"])).unwrap_or_else(|_| "<invalid>".to_string());
    vec![
        name(deploy),
        Value::String(format!("{ready}/{desired}")),
        Value::from(int(deploy, &["status", "updatedReplicas"])),
        Value::from(int(deploy, &["status", "availableReplicas"])),
        age(deploy, now),
        containers,
        images,
        Value::String(selector),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn deployment_cells() {
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:59:54Z"},
            "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"},
                                                          {"name": "sidecar", "image": "busybox:1.36"}]}}},
            "status": {"replicas": 5, "readyReplicas": 4, "updatedReplicas": 5, "availableReplicas": 4}});
        assert_eq!(
            cells(&d, now()),
            vec![
                json!("web"),
                json!("4/5"),
                json!(5),
                json!(4),
                json!("6s"),
                json!("nginx,sidecar"),
                json!("nginx,busybox:1.36"),
                json!("app=web")
            ]
        );
    }

    #[test]
    fn deployment_defaults_and_bad_selectors() {
        let bare = cells(&json!({"metadata": {"name": "d"}}), now());
        assert_eq!(
            bare,
            vec![json!("d"), json!("0/1"), json!(0), json!(0), json!("<unknown>"), json!(""), json!(""), json!("")]
        );
        let scaled_to_zero = cells(&json!({"spec": {"replicas": 0}}), now());
        assert_eq!(scaled_to_zero[1], json!("0/0"));
        let bad = json!({"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Nope"}]}}});
        assert_eq!(cells(&bad, now())[7], json!("<invalid>"));
        let empty = json!({"spec": {"selector": {}}});
        assert_eq!(cells(&empty, now())[7], json!(""));
    }
}
