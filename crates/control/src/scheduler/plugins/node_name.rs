//! NodeName: a pod naming a node in `spec.nodeName` fits only that node.

use crate::scheduler::framework::{Code, FilterPlugin, FilterResult, NodeInfo, PodInfo, Rejection};

pub const NAME: &str = "NodeName";
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

impl FilterPlugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> FilterResult {
        if pod.node_name.is_empty() || pod.node_name == node.name {
            return Ok(());
        }
        Err(Rejection::new(NAME, Code::UnschedulableAndUnresolvable, ERR_REASON))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{node, pod, pod_spec};

    #[test]
    fn only_the_named_node_fits() {
        for (wanted, node_name, fits) in [("", "a", true), ("a", "a", true), ("a", "b", false)] {
            let mut spec = pod_spec("", "");
            spec.node_name = Some(wanted.into());
            let result = NodeName.filter(&pod(spec), &node(node_name, "1", "1Gi", "10"));
            assert_eq!(result.is_ok(), fits, "{wanted} on {node_name}");
            if let Err(rejection) = result {
                assert_eq!(rejection.reasons, vec![ERR_REASON]);
            }
        }
    }
}
