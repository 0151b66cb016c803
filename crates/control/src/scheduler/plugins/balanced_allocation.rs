//! NodeResourcesBalancedAllocation: prefers nodes where cpu and memory would be used in equal
//! proportion after placing the pod, `(1 - std(fractions)) * 100` (weight 1).

use crate::scheduler::framework::{MAX_NODE_SCORE, NodeInfo, PodInfo, ScorePlugin};

pub const NAME: &str = "NodeResourcesBalancedAllocation";

pub struct BalancedAllocation;

fn fraction(requested: i64, allocatable: i64) -> f64 {
    if allocatable <= 0 {
        return 1.0;
    }
    (requested as f64 / allocatable as f64).min(1.0)
}

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn weight(&self) -> i64 {
        1
    }

    /// Upstream uses the plain requests here (not the non-zero defaults); with two resources
    /// the standard deviation is half their difference.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let cpu = fraction(node.requested.milli_cpu + pod.requests.requests.milli_cpu, node.allocatable.milli_cpu);
        let memory = fraction(node.requested.memory + pod.requests.requests.memory, node.allocatable.memory);
        let std = (cpu - memory).abs() / 2.0;
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{node, pod, pod_spec};

    #[test]
    fn balanced_use_scores_higher() {
        let cases = [
            // (node cpu, node memory, pod cpu, pod memory, expected)
            ("4", "4Gi", "2", "2Gi", 100),
            ("4", "4Gi", "4", "", 50),
            ("4", "4Gi", "1", "3Gi", 75),
            ("4", "4Gi", "", "", 100),
        ];
        for (cpu, memory, pod_cpu, pod_memory, expected) in cases {
            let node = node("n", cpu, memory, "10");
            assert_eq!(
                BalancedAllocation.score(&pod(pod_spec(pod_cpu, pod_memory)), &node),
                expected,
                "{pod_cpu}/{pod_memory} on {cpu}/{memory}"
            );
        }
    }
}
