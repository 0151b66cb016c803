//! The scheduling framework's vocabulary: what a plugin sees of a pod ([`PodInfo`]) and of a
//! node ([`NodeInfo`], with the pods counted on it), the filter verdict ([`Rejection`]), the
//! plugin traits, and the `FitError` message kube-scheduler prints when no node fits.
//!
//! Pods and nodes are reduced once, on arrival from the watch, to the fields plugins read, so
//! the per-node work of a scheduling cycle is a few comparisons. This module holds no state.

use k8s_openapi::api::core::v1::{Node, NodeSelector, Pod, PreferredSchedulingTerm, Taint, Toleration};
use std::collections::BTreeMap;

use super::resources::{PodRequests, Resources, pod_requests, value};

/// The scheduler name pods get by default; only pods naming it (or none) are ours.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// `namespace/name` of a pod.
pub type PodKey = String;

pub fn pod_key(namespace: &str, name: &str) -> PodKey {
    format!("{namespace}/{name}")
}

/// A `hostPort` a pod wants on its node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// `0.0.0.0` when the pod names no host IP (all addresses).
    pub ip: String,
    pub port: i32,
}

impl HostPort {
    /// Two host ports clash on the same protocol and port when either listens on every
    /// address or both on the same one.
    pub fn conflicts_with(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// The scheduling-relevant part of a pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub node_name: String,
    pub scheduler_name: String,
    pub priority: i32,
    pub deleting: bool,
    /// `Succeeded` or `Failed`: the pod no longer uses its node.
    pub terminal: bool,
    pub requests: PodRequests,
    pub host_ports: Vec<HostPort>,
    pub tolerations: Vec<Toleration>,
    pub node_selector: BTreeMap<String, String>,
    pub required_affinity: Option<NodeSelector>,
    pub preferred_affinity: Vec<PreferredSchedulingTerm>,
    /// The current `PodScheduled` condition (status, reason, message), to skip status writes
    /// that would change nothing.
    pub scheduled_condition: Option<(String, String, String)>,
}

impl PodInfo {
    pub fn from_pod(pod: &Pod) -> PodInfo {
        let metadata = &pod.metadata;
        let spec = pod.spec.clone().unwrap_or_default();
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
        let mut host_ports = Vec::new();
        let sidecars = spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always"));
        for container in spec.containers.iter().chain(sidecars) {
            for port in container.ports.iter().flatten() {
                if let Some(host_port) = port.host_port.filter(|p| *p > 0) {
                    host_ports.push(HostPort {
                        protocol: port.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        ip: port.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "0.0.0.0".into()),
                        port: host_port,
                    });
                }
            }
        }
        let node_affinity = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref());
        let scheduled_condition = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|conditions| conditions.iter().find(|c| c.type_ == "PodScheduled"))
            .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default()));
        PodInfo {
            namespace: metadata.namespace.clone().unwrap_or_default(),
            name: metadata.name.clone().unwrap_or_default(),
            uid: metadata.uid.clone().unwrap_or_default(),
            resource_version: metadata.resource_version.clone().unwrap_or_default(),
            node_name: spec.node_name.clone().unwrap_or_default(),
            scheduler_name: spec.scheduler_name.clone().unwrap_or_default(),
            priority: spec.priority.unwrap_or(0),
            deleting: metadata.deletion_timestamp.is_some(),
            terminal: phase == "Succeeded" || phase == "Failed",
            requests: pod_requests(&spec),
            host_ports,
            tolerations: spec.tolerations.clone().unwrap_or_default(),
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            required_affinity: node_affinity
                .and_then(|a| a.required_during_scheduling_ignored_during_execution.clone()),
            preferred_affinity: node_affinity
                .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.clone())
                .unwrap_or_default(),
            scheduled_condition,
        }
    }

    pub fn key(&self) -> PodKey {
        pod_key(&self.namespace, &self.name)
    }

    /// Whether this scheduler is responsible for the pod.
    pub fn is_ours(&self) -> bool {
        self.scheduler_name.is_empty() || self.scheduler_name == DEFAULT_SCHEDULER_NAME
    }

    /// Whether two versions differ in anything a plugin reads (a status-only change does not
    /// make an unschedulable pod worth another try).
    pub fn same_scheduling_inputs(&self, other: &PodInfo) -> bool {
        self.requests == other.requests
            && self.host_ports == other.host_ports
            && self.tolerations == other.tolerations
            && self.node_selector == other.node_selector
            && self.required_affinity == other.required_affinity
            && self.preferred_affinity == other.preferred_affinity
            && self.priority == other.priority
    }
}

/// A node with the pods the scheduler counts on it (bound, or assumed while binding).
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    pub name: String,
    /// False for a placeholder holding pods whose node the cache has not seen (yet).
    pub exists: bool,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    /// The node's `pods` allocatable.
    pub allowed_pods: i64,
    pub requested: Resources,
    pub non_zero_requested: Resources,
    pub pod_count: usize,
    pub used_ports: Vec<HostPort>,
}

impl NodeInfo {
    pub fn placeholder(name: &str) -> NodeInfo {
        NodeInfo { name: name.to_string(), ..NodeInfo::default() }
    }

    /// Takes the node's own fields, keeping the pods counted on it.
    pub fn set_node(&mut self, node: &Node) {
        let spec = node.spec.as_ref();
        let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
        self.exists = true;
        self.labels = node.metadata.labels.clone().unwrap_or_default();
        self.taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.allocatable = Resources::from_list(allocatable);
        self.allowed_pods = allocatable.and_then(|a| a.get("pods")).and_then(|q| value(&q.0)).unwrap_or(0);
    }

    /// Whether a node update changes what filters see (a heartbeat does not).
    pub fn same_node_fields(&self, other: &NodeInfo) -> bool {
        self.exists == other.exists
            && self.labels == other.labels
            && self.taints == other.taints
            && self.unschedulable == other.unschedulable
            && self.allocatable == other.allocatable
            && self.allowed_pods == other.allowed_pods
    }

    pub fn add_pod(&mut self, pod: &PodInfo) {
        self.requested.add(&pod.requests.requests);
        self.non_zero_requested.add(&pod.requests.non_zero);
        self.pod_count += 1;
        self.used_ports.extend(pod.host_ports.iter().cloned());
    }

    pub fn remove_pod(&mut self, pod: &PodInfo) {
        self.requested.subtract(&pod.requests.requests);
        self.non_zero_requested.subtract(&pod.requests.non_zero);
        self.pod_count = self.pod_count.saturating_sub(1);
        for port in &pod.host_ports {
            if let Some(index) = self.used_ports.iter().position(|used| used == port) {
                self.used_ports.swap_remove(index);
            }
        }
    }
}

/// How final a filter's refusal is (kube-scheduler's status codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The node could fit after other pods leave (preemption might help).
    Unschedulable,
    /// Nothing about other pods changes it (preemption would not help).
    UnschedulableAndUnresolvable,
}

/// Why a filter refused a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub plugin: &'static str,
    pub code: Code,
    pub reasons: Vec<String>,
}

impl Rejection {
    pub fn new(plugin: &'static str, code: Code, reason: impl Into<String>) -> Rejection {
        Rejection { plugin, code, reasons: vec![reason.into()] }
    }
}

pub type FilterResult = Result<(), Rejection>;

/// A filter plugin: can the pod run on this node at all?
pub trait FilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> FilterResult;
}

/// The highest score a plugin gives a node (`MaxNodeScore`).
pub const MAX_NODE_SCORE: i64 = 100;

/// A score plugin: how good is this feasible node (0..=100 after normalizing)?
pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn weight(&self) -> i64;
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64;
    /// Rescales the raw scores of all feasible nodes (for plugins whose raw score is a count).
    fn normalize(&self, _scores: &mut [i64]) {}
}

/// Scales scores to 0..=MAX_NODE_SCORE by the highest one, optionally reversed (kube-scheduler's
/// `DefaultNormalizeScore`).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for score in scores.iter_mut() {
        *score = MAX_NODE_SCORE * *score / max;
        if reverse {
            *score = MAX_NODE_SCORE - *score;
        }
    }
}

/// kube-scheduler's `FitError.Error()` with the DefaultPreemption post-filter message:
/// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}.
/// preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2
/// Preemption is not helpful for scheduling.` Reasons are counted over nodes and sorted as
/// strings, exactly as upstream sorts them.
pub fn fit_error_message(num_nodes: usize, rejections: &[Rejection]) -> String {
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let mut preemption: BTreeMap<&str, usize> = BTreeMap::new();
    for rejection in rejections {
        for reason in &rejection.reasons {
            *reasons.entry(reason).or_default() += 1;
        }
        // Preemption only helps where evicting pods could free the node; this scheduler
        // treats every pod as of equal priority, so there are never victims to evict.
        let outcome = match rejection.code {
            Code::Unschedulable => "No preemption victims found for incoming pod",
            Code::UnschedulableAndUnresolvable => "Preemption is not helpful for scheduling",
        };
        *preemption.entry(outcome).or_default() += 1;
    }
    let histogram = |counts: BTreeMap<&str, usize>| {
        let mut lines: Vec<String> = counts.into_iter().map(|(reason, count)| format!("{count} {reason}")).collect();
        lines.sort();
        lines.join(", ")
    };
    let mut message = format!("0/{num_nodes} nodes are available:");
    if !reasons.is_empty() {
        message.push_str(&format!(" {}.", histogram(reasons)));
    }
    message.push_str(&format!(" preemption: 0/{num_nodes} nodes are available:"));
    if !preemption.is_empty() {
        message.push_str(&format!(" {}.", histogram(preemption)));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(code: Code, reason: &str) -> Rejection {
        Rejection::new("test", code, reason)
    }

    #[test]
    fn fit_error_matches_kube_scheduler() {
        let message = fit_error_message(
            3,
            &[
                rejection(
                    Code::UnschedulableAndUnresolvable,
                    "node(s) had untolerated taint {node.kubernetes.io/unreachable: }",
                ),
                rejection(Code::Unschedulable, "Insufficient cpu"),
                rejection(
                    Code::UnschedulableAndUnresolvable,
                    "node(s) had untolerated taint {node.kubernetes.io/unreachable: }",
                ),
            ],
        );
        assert_eq!(
            message,
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint \
             {node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: 1 No preemption victims \
             found for incoming pod, 2 Preemption is not helpful for scheduling."
        );
        let all_unresolvable = fit_error_message(
            2,
            &[
                rejection(Code::UnschedulableAndUnresolvable, "node(s) didn't match Pod's node affinity/selector"),
                rejection(Code::UnschedulableAndUnresolvable, "node(s) didn't match Pod's node affinity/selector"),
            ],
        );
        assert_eq!(
            all_unresolvable,
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes \
             are available: 2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn multiple_reasons_of_one_node_all_count() {
        let both = Rejection {
            plugin: "NodeResourcesFit",
            code: Code::Unschedulable,
            reasons: vec!["Insufficient cpu".into(), "Insufficient memory".into()],
        };
        assert_eq!(
            fit_error_message(1, &[both]),
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are \
             available: 1 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn normalize_scales_and_reverses() {
        let mut scores = vec![0, 2, 4];
        default_normalize(&mut scores, true);
        assert_eq!(scores, vec![100, 50, 0]);
        let mut zeros = vec![0, 0];
        default_normalize(&mut zeros, true);
        assert_eq!(zeros, vec![100, 100]);
        let mut plain = vec![1, 4];
        default_normalize(&mut plain, false);
        assert_eq!(plain, vec![25, 100]);
    }

    #[test]
    fn host_port_conflicts() {
        let any = HostPort { protocol: "TCP".into(), ip: "0.0.0.0".into(), port: 80 };
        let one = HostPort { protocol: "TCP".into(), ip: "10.0.0.1".into(), port: 80 };
        let other = HostPort { protocol: "TCP".into(), ip: "10.0.0.2".into(), port: 80 };
        let udp = HostPort { protocol: "UDP".into(), ip: "0.0.0.0".into(), port: 80 };
        assert!(any.conflicts_with(&one));
        assert!(one.conflicts_with(&any));
        assert!(!one.conflicts_with(&other));
        assert!(!any.conflicts_with(&udp));
    }
}
