//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods tolerating the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint.

use k8s_openapi::api::core::v1::Taint;

use super::taint_toleration::tolerates;
use crate::scheduler::framework::{Code, FilterPlugin, FilterResult, NodeInfo, PodInfo, Rejection};

pub const NAME: &str = "NodeUnschedulable";
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> FilterResult {
        if !node.unschedulable {
            return Ok(());
        }
        let taint =
            Taint { key: TAINT_NODE_UNSCHEDULABLE.into(), effect: "NoSchedule".into(), value: None, time_added: None };
        if pod.tolerations.iter().any(|toleration| tolerates(toleration, &taint)) {
            return Ok(());
        }
        Err(Rejection::new(NAME, Code::UnschedulableAndUnresolvable, ERR_REASON_UNSCHEDULABLE))
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Toleration;

    use super::*;
    use crate::scheduler::plugins::testing::{node, pod, pod_spec};

    #[test]
    fn cordoned_nodes_take_only_tolerating_pods() {
        let cases = [
            ("schedulable node", false, None, true),
            ("cordoned node", true, None, false),
            ("cordoned node, tolerated", true, Some(TAINT_NODE_UNSCHEDULABLE), true),
            ("cordoned node, other toleration", true, Some("example.com/x"), false),
        ];
        for (name, unschedulable, toleration, fits) in cases {
            let mut node = node("n", "1", "1Gi", "10");
            node.unschedulable = unschedulable;
            let mut spec = pod_spec("", "");
            spec.tolerations = toleration.map(|key| {
                vec![Toleration {
                    key: Some(key.into()),
                    operator: Some("Exists".into()),
                    effect: Some("NoSchedule".into()),
                    ..Default::default()
                }]
            });
            let result = NodeUnschedulable.filter(&pod(spec), &node);
            assert_eq!(result.is_ok(), fits, "{name}");
            if let Err(rejection) = result {
                assert_eq!(rejection.reasons, vec![ERR_REASON_UNSCHEDULABLE]);
                assert_eq!(rejection.code, Code::UnschedulableAndUnresolvable);
            }
        }
    }
}
