//! The scheduler cache: every node as a [`NodeInfo`] with the pods counted on it, fed by the
//! node and pod watches, plus pods *assumed* on a node while their binding is in flight, so a
//! burst of decisions never overcommits a node before the watch confirms the bindings.
//!
//! Nodes live in one vector (iteration order for the search) with a name index; a node seen
//! only through its pods is a placeholder (`exists == false`) that filters never consider.
//! The cache is the snapshot a scheduling cycle reads under the scheduler's lock; it makes
//! no API calls.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::framework::{NodeInfo, PodInfo, PodKey};

#[derive(Clone, Debug)]
struct CachedPod {
    node: String,
    info: Arc<PodInfo>,
    /// Placed by this scheduler and not yet seen bound through the watch.
    assumed: bool,
}

#[derive(Default)]
pub struct Cache {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    pods: HashMap<PodKey, CachedPod>,
    existing_nodes: usize,
}

/// What a node update changed, for the queue: a new node or changed fields can make pending
/// pods schedulable; a heartbeat cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeChange {
    Added,
    Updated,
    Unchanged,
}

impl Cache {
    pub fn new() -> Cache {
        Cache::default()
    }

    /// Nodes that exist (placeholders excluded).
    pub fn num_nodes(&self) -> usize {
        self.existing_nodes
    }

    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i]).filter(|n| n.exists)
    }

    /// Whether the pod is counted on a node (bound or assumed): then it needs no scheduling.
    pub fn has_pod(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    fn slot(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.nodes.push(NodeInfo::placeholder(name));
        let i = self.nodes.len() - 1;
        self.index.insert(name.to_string(), i);
        i
    }

    pub fn upsert_node(&mut self, node: &Node) -> NodeChange {
        let Some(name) = node.metadata.name.as_deref() else { return NodeChange::Unchanged };
        let i = self.slot(name);
        let before = self.nodes[i].clone();
        self.nodes[i].set_node(node);
        if !before.exists {
            self.existing_nodes += 1;
            NodeChange::Added
        } else if before.same_node_fields(&self.nodes[i]) {
            NodeChange::Unchanged
        } else {
            NodeChange::Updated
        }
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else { return };
        if self.nodes[i].exists {
            self.existing_nodes -= 1;
        }
        // Pods still bound to a deleted node keep a placeholder until they go (pod GC).
        if self.nodes[i].pod_count > 0 {
            let counted = std::mem::replace(&mut self.nodes[i], NodeInfo::placeholder(name));
            let placeholder = &mut self.nodes[i];
            placeholder.requested = counted.requested;
            placeholder.non_zero_requested = counted.non_zero_requested;
            placeholder.pod_count = counted.pod_count;
            placeholder.used_ports = counted.used_ports;
            return;
        }
        self.drop_slot(i);
    }

    fn drop_slot(&mut self, i: usize) {
        let removed = self.nodes.swap_remove(i);
        self.index.remove(&removed.name);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
    }

    /// Names of nodes that exist, for relist reconciliation.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().filter(|n| n.exists).map(|n| n.name.clone()).collect()
    }

    /// Counts the pod on `node` before the binding is confirmed.
    pub fn assume(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove_pod(&pod.key());
        let i = self.slot(node);
        self.nodes[i].add_pod(&pod);
        self.pods.insert(pod.key(), CachedPod { node: node.to_string(), info: pod, assumed: true });
    }

    /// Undoes [`assume`](Self::assume) after a failed binding (a confirmed pod stays).
    pub fn forget(&mut self, key: &str) {
        if self.is_assumed(key) {
            self.remove_pod(key);
        }
    }

    /// A pod the watch shows bound (confirming an assumed one, or moving it).
    pub fn add_or_update_bound(&mut self, pod: Arc<PodInfo>) {
        let key = pod.key();
        self.remove_pod(&key);
        let i = self.slot(&pod.node_name);
        self.nodes[i].add_pod(&pod);
        self.pods.insert(key, CachedPod { node: pod.node_name.clone(), info: pod, assumed: false });
    }

    /// Stops counting a pod; true when it was counted (its node has room again).
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(cached) = self.pods.remove(key) else { return false };
        if let Some(&i) = self.index.get(&cached.node) {
            self.nodes[i].remove_pod(&cached.info);
            if !self.nodes[i].exists && self.nodes[i].pod_count == 0 {
                self.drop_slot(i);
            }
        }
        true
    }

    /// After a relist: drops confirmed pods the list no longer has (assumed ones stay; their
    /// binding is still in flight).
    pub fn retain_pods(&mut self, seen: &HashSet<PodKey>) -> bool {
        let gone: Vec<PodKey> = self
            .pods
            .iter()
            .filter(|(key, pod)| !pod.assumed && !seen.contains(*key))
            .map(|(k, _)| k.clone())
            .collect();
        let any = !gone.is_empty();
        for key in gone {
            self.remove_pod(&key);
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plugins::testing::{pod, pod_spec};

    fn node(name: &str) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "10"}}
        }))
        .expect("node")
    }

    fn named(name: &str, node_name: &str, cpu: &str) -> Arc<PodInfo> {
        let mut info = pod(pod_spec(cpu, ""));
        info.name = name.into();
        info.node_name = node_name.into();
        Arc::new(info)
    }

    #[test]
    fn assumed_pods_count_until_forgotten_or_confirmed() {
        let mut cache = Cache::new();
        assert_eq!(cache.upsert_node(&node("a")), NodeChange::Added);
        assert_eq!(cache.upsert_node(&node("a")), NodeChange::Unchanged);
        cache.assume(named("p1", "", "1"), "a");
        assert_eq!(cache.node("a").map(|n| (n.requested.milli_cpu, n.pod_count)), Some((1000, 1)));
        assert!(cache.is_assumed("default/p1"));
        // The watch confirms: counted once, no longer assumed.
        cache.add_or_update_bound(named("p1", "a", "1"));
        assert_eq!(cache.node("a").map(|n| (n.requested.milli_cpu, n.pod_count)), Some((1000, 1)));
        assert!(!cache.is_assumed("default/p1"));
        cache.forget("default/p1");
        assert!(cache.has_pod("default/p1"), "a confirmed pod is not forgotten");
        cache.assume(named("p2", "", "2"), "a");
        cache.forget("default/p2");
        assert_eq!(cache.node("a").map(|n| n.requested.milli_cpu), Some(1000));
        assert!(cache.remove_pod("default/p1"));
        assert_eq!(cache.node("a").map(|n| n.pod_count), Some(0));
    }

    #[test]
    fn pods_before_their_node_and_node_removal() {
        let mut cache = Cache::new();
        cache.add_or_update_bound(named("early", "b", "1"));
        assert_eq!(cache.num_nodes(), 0);
        assert!(cache.node("b").is_none());
        cache.upsert_node(&node("b"));
        assert_eq!(cache.node("b").map(|n| n.requested.milli_cpu), Some(1000));
        cache.upsert_node(&node("c"));
        cache.remove_node("b");
        assert_eq!(cache.num_nodes(), 1);
        assert!(cache.node("b").is_none());
        assert!(cache.node("c").is_some());
        assert!(cache.remove_pod("default/early"));
        assert_eq!(cache.nodes().len(), 1, "the placeholder goes with its last pod");
        cache.remove_node("c");
        assert!(cache.nodes().is_empty());
    }

    #[test]
    fn relist_drops_vanished_confirmed_pods_only() {
        let mut cache = Cache::new();
        cache.upsert_node(&node("a"));
        cache.add_or_update_bound(named("kept", "a", "1"));
        cache.add_or_update_bound(named("gone", "a", "1"));
        cache.assume(named("binding", "", "1"), "a");
        let seen = HashSet::from(["default/kept".to_string()]);
        assert!(cache.retain_pods(&seen));
        assert!(cache.has_pod("default/kept"));
        assert!(!cache.has_pod("default/gone"));
        assert!(cache.has_pod("default/binding"));
        assert_eq!(cache.node("a").map(|n| n.pod_count), Some(2));
    }
}
