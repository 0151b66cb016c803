//! The default plugins, one file each, named as in kube-scheduler. Filters run in
//! kube-scheduler's order and a node is refused by the first that fails; scores are weighted
//! as in its default profile.

pub mod balanced_allocation;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod taint_toleration;

use super::framework::{FilterPlugin, ScorePlugin};

/// The filters of the default profile, in kube-scheduler's order.
pub fn default_filters() -> Vec<Box<dyn FilterPlugin>> {
    vec![
        Box::new(node_unschedulable::NodeUnschedulable),
        Box::new(node_name::NodeName),
        Box::new(taint_toleration::TaintToleration),
        Box::new(node_affinity::NodeAffinity),
        Box::new(node_ports::NodePorts),
        Box::new(node_resources_fit::NodeResourcesFit),
    ]
}

/// The scorers of the default profile with their weights.
pub fn default_scorers() -> Vec<Box<dyn ScorePlugin>> {
    vec![
        Box::new(taint_toleration::TaintToleration),
        Box::new(node_affinity::NodeAffinity),
        Box::new(node_resources_fit::NodeResourcesFit),
        Box::new(balanced_allocation::BalancedAllocation),
    ]
}

/// Builders shared by the plugin tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{
        Container, Node, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements, Taint,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use crate::scheduler::framework::{NodeInfo, PodInfo};

    pub fn node(name: &str, cpu: &str, memory: &str, pods: &str) -> NodeInfo {
        let allocatable = BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.into())),
            ("memory".to_string(), Quantity(memory.into())),
            ("pods".to_string(), Quantity(pods.into())),
        ]);
        let node = Node {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus { allocatable: Some(allocatable), ..Default::default() }),
        };
        let mut info = NodeInfo::placeholder(name);
        info.set_node(&node);
        info
    }

    pub fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()).filter(|v: &String| !v.is_empty()),
            effect: effect.into(),
            time_added: None,
        }
    }

    pub fn pod_spec(cpu: &str, memory: &str) -> PodSpec {
        let mut requests = BTreeMap::new();
        if !cpu.is_empty() {
            requests.insert("cpu".to_string(), Quantity(cpu.into()));
        }
        if !memory.is_empty() {
            requests.insert("memory".to_string(), Quantity(memory.into()));
        }
        PodSpec {
            containers: vec![Container {
                name: "app".into(),
                resources: Some(ResourceRequirements { requests: Some(requests), ..Default::default() }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    pub fn pod(spec: PodSpec) -> PodInfo {
        let pod = Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("p".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(spec),
            status: None,
        };
        PodInfo::from_pod(&pod)
    }
}
