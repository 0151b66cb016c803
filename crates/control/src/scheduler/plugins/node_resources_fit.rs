//! NodeResourcesFit: the pod's requests (cpu, memory, ephemeral storage, extended resources)
//! must fit in what the node's allocatable leaves after the counted pods, and the node's
//! `pods` capacity must have room (filter); the `LeastAllocated` strategy scores emptier nodes
//! higher, over cpu and memory with weight 1 each (score, plugin weight 1).

use crate::scheduler::framework::{
    Code, FilterPlugin, FilterResult, MAX_NODE_SCORE, NodeInfo, PodInfo, Rejection, ScorePlugin,
};

pub const NAME: &str = "NodeResourcesFit";

pub struct NodeResourcesFit;

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    /// kube-scheduler's `fitsRequest`: every shortfall is a reason, in this order.
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> FilterResult {
        let mut reasons = Vec::new();
        if node.pod_count as i64 + 1 > node.allowed_pods {
            reasons.push("Too many pods".to_string());
        }
        let request = &pod.requests.requests;
        if !request.is_zero() {
            let (allocatable, requested) = (&node.allocatable, &node.requested);
            if request.milli_cpu > 0 && request.milli_cpu > allocatable.milli_cpu - requested.milli_cpu {
                reasons.push("Insufficient cpu".to_string());
            }
            if request.memory > 0 && request.memory > allocatable.memory - requested.memory {
                reasons.push("Insufficient memory".to_string());
            }
            if request.ephemeral_storage > 0
                && request.ephemeral_storage > allocatable.ephemeral_storage - requested.ephemeral_storage
            {
                reasons.push("Insufficient ephemeral-storage".to_string());
            }
            for (name, amount) in &request.scalar {
                if *amount == 0 {
                    continue;
                }
                let free = allocatable.scalar.get(name).copied().unwrap_or(0)
                    - requested.scalar.get(name).copied().unwrap_or(0);
                if *amount > free {
                    reasons.push(format!("Insufficient {name}"));
                }
            }
        }
        if reasons.is_empty() { Ok(()) } else { Err(Rejection { plugin: NAME, code: Code::Unschedulable, reasons }) }
    }
}

/// `(capacity - requested) * 100 / capacity`, 0 when full or over.
fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

impl ScorePlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn weight(&self) -> i64 {
        1
    }

    /// LeastAllocated over the non-zero requests (pods without requests still count), so
    /// empty pods spread instead of piling onto one node.
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let cpu = least_requested(
            node.non_zero_requested.milli_cpu + pod.requests.non_zero.milli_cpu,
            node.allocatable.milli_cpu,
        );
        let memory =
            least_requested(node.non_zero_requested.memory + pod.requests.non_zero.memory, node.allocatable.memory);
        (cpu + memory) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{node, pod, pod_spec};

    #[test]
    fn filter_reports_every_shortfall() {
        type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case] = &[
            ("fits", "500m", "512Mi", &[], &[]),
            ("exactly fits", "2", "4Gi", &[], &[]),
            ("too much cpu", "2100m", "1Mi", &[], &["Insufficient cpu"]),
            ("too much memory", "1", "5Gi", &[], &["Insufficient memory"]),
            ("both", "3", "5Gi", &[], &["Insufficient cpu", "Insufficient memory"]),
            ("after existing pods", "1500m", "1Mi", &[("1", "1Gi")], &["Insufficient cpu"]),
            ("existing pods leave room", "1", "1Mi", &[("1", "1Gi")], &[]),
            ("pod count", "", "", &[("", ""), ("", ""), ("", "")], &["Too many pods"]),
            ("pod count and cpu", "3", "", &[("", ""), ("", ""), ("", "")], &["Too many pods", "Insufficient cpu"]),
        ];
        for (name, cpu, memory, existing, expected) in cases {
            let mut node = node("n", "2", "4Gi", "3");
            for (cpu, memory) in existing.iter() {
                node.add_pod(&pod(pod_spec(cpu, memory)));
            }
            let result = NodeResourcesFit.filter(&pod(pod_spec(cpu, memory)), &node);
            let reasons = result.err().map(|r| r.reasons).unwrap_or_default();
            assert_eq!(reasons, expected.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{name}");
        }
    }

    #[test]
    fn extended_resources_must_be_offered() {
        let mut spec = pod_spec("", "");
        if let Some(resources) = spec.containers[0].resources.as_mut() {
            resources
                .requests
                .get_or_insert_default()
                .insert("example.com/gpu".into(), k8s_openapi::apimachinery::pkg::api::resource::Quantity("1".into()));
        }
        let gpu_pod = pod(spec);
        let plain = node("n", "2", "4Gi", "10");
        assert_eq!(
            NodeResourcesFit.filter(&gpu_pod, &plain).err().map(|r| r.reasons),
            Some(vec!["Insufficient example.com/gpu".to_string()])
        );
        let mut gpu_node = node("g", "2", "4Gi", "10");
        gpu_node.allocatable.scalar.insert("example.com/gpu".into(), 1);
        assert!(NodeResourcesFit.filter(&gpu_pod, &gpu_node).is_ok());
        gpu_node.add_pod(&gpu_pod);
        assert!(NodeResourcesFit.filter(&gpu_pod, &gpu_node).is_err());
    }

    #[test]
    fn least_allocated_prefers_emptier_nodes() {
        let empty = node("a", "4", "8Gi", "10");
        let mut half = node("b", "4", "8Gi", "10");
        half.add_pod(&pod(pod_spec("2", "4Gi")));
        let incoming = pod(pod_spec("1", "2Gi"));
        // empty: cpu (4-1)/4 = 75, memory 75 -> 75; half: (4-3)/4 = 25 each -> 25.
        assert_eq!(NodeResourcesFit.score(&incoming, &empty), 75);
        assert_eq!(NodeResourcesFit.score(&incoming, &half), 25);
        // A pod without requests counts as 100m / 200Mi.
        let none = pod(pod_spec("", ""));
        let small = node("c", "1", "1000Mi", "10");
        assert_eq!(NodeResourcesFit.score(&none, &small), (90 + 80) / 2);
        // Over capacity scores zero rather than going negative.
        assert_eq!(NodeResourcesFit.score(&pod(pod_spec("8", "16Gi")), &empty), 0);
    }
}
