//! ReplicaSets (`printReplicaSet`): Name, Desired, Current, Ready (integer cells), Age | wide:
//! Containers, Images, Selector (`metav1.FormatLabelSelector`: `<none>` when empty, `<error>`
//! when it does not convert).

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, array, container_cells, get, int, name, opt_int};
use super::label_selector::format_label_selector;
use super::{AGE_COLUMN, CONTAINERS_DESCRIPTION, Column, IMAGES_DESCRIPTION, NAME_COLUMN};

/// `extensionsv1beta1.ReplicaSetSpec{}`/`ReplicaSetStatus{}` swagger docs.
const DESIRED_DESCRIPTION: &str = "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
const CURRENT_DESCRIPTION: &str = "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
const READY_DESCRIPTION: &str =
    "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.";
const SELECTOR_DESCRIPTION: &str = "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Desired", type_: "integer", format: "", description: DESIRED_DESCRIPTION, priority: 0 },
    Column { name: "Current", type_: "integer", format: "", description: CURRENT_DESCRIPTION, priority: 0 },
    Column { name: "Ready", type_: "integer", format: "", description: READY_DESCRIPTION, priority: 0 },
    AGE_COLUMN,
    Column { name: "Containers", type_: "string", format: "", description: CONTAINERS_DESCRIPTION, priority: 1 },
    Column { name: "Images", type_: "string", format: "", description: IMAGES_DESCRIPTION, priority: 1 },
    Column { name: "Selector", type_: "string", format: "", description: SELECTOR_DESCRIPTION, priority: 1 },
];

pub(super) fn cells(rs: &Value, now: Timestamp) -> Vec<Value> {
    // apps/v1 defaulting sets spec.replicas to 1 before kube-apiserver prints.
    let desired = opt_int(rs, &["spec", "replicas"]).unwrap_or(1);
    let (containers, images) = container_cells(array(rs, &["spec", "template", "spec", "containers"]));
    vec![
        name(rs),
        Value::from(desired),
        Value::from(int(rs, &["status", "replicas"])),
        Value::from(int(rs, &["status", "readyReplicas"])),
        age(rs, now),
        containers,
        images,
        Value::String(format_label_selector(get(rs, &["spec", "selector"]))),
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
    fn replicaset_cells() {
        let rs = json!({"metadata": {"name": "web-7rdkjhbj5l", "creationTimestamp": "2024-05-01T11:59:54Z"},
            "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7rdkjhbj5l"}},
                     "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
            "status": {"replicas": 5, "readyReplicas": 3}});
        assert_eq!(
            cells(&rs, now()),
            vec![
                json!("web-7rdkjhbj5l"),
                json!(5),
                json!(5),
                json!(3),
                json!("6s"),
                json!("nginx"),
                json!("nginx"),
                json!("app=web,pod-template-hash=7rdkjhbj5l")
            ]
        );
    }

    #[test]
    fn replicaset_defaults_and_selectors() {
        let bare = cells(&json!({"metadata": {"name": "r"}}), now());
        assert_eq!(
            bare,
            vec![json!("r"), json!(1), json!(0), json!(0), json!("<unknown>"), json!(""), json!(""), json!("<none>")]
        );
        let bad = json!({"spec": {"replicas": 0, "selector": {"matchLabels": {"a": "not valid!"}}}});
        let c = cells(&bad, now());
        assert_eq!((&c[1], &c[7]), (&json!(0), &json!("<error>")));
        let types: Vec<&str> = COLUMNS.iter().map(|c| c.type_).collect();
        assert_eq!(types, ["string", "integer", "integer", "integer", "string", "string", "string", "string"]);
    }
}
