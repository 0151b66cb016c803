//! Pod garbage collection (Kubernetes' `podgc/gc_controller.go`), every `pod_gc_period`:
//!
//! - terminated pods (`Succeeded`/`Failed`) beyond `terminated_pod_gc_threshold` are
//!   deleted, evicted ones first, then the oldest;
//! - pods bound to a node that has not existed for `orphaned_pod_quarantine` (confirmed by a
//!   live GET) are marked `Failed` with a `DisruptionTarget` condition and force-deleted;
//! - terminating pods never scheduled, and terminating pods on a not-ready node tainted
//!   `node.kubernetes.io/out-of-service`, are force-deleted (nobody else would finish them).
//!
//! It deletes pods only; it never touches nodes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use client::reflector::Store;
use client::{Api, Client, DeleteParams, Patch};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::pods;

pub const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service";

/// The terminated pods to delete: evicted first, then oldest first, beyond `threshold`.
pub fn terminated_to_delete(all: &[Arc<Pod>], threshold: usize) -> Vec<Arc<Pod>> {
    let mut terminated: Vec<Arc<Pod>> = all.iter().filter(|p| pods::is_terminated(p)).cloned().collect();
    if threshold == 0 || terminated.len() <= threshold {
        return Vec::new();
    }
    let excess = terminated.len() - threshold;
    let evicted = |p: &Pod| p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted");
    terminated
        .sort_by_key(|p| (!evicted(p), p.metadata.creation_timestamp.as_ref().map(|t| t.0), p.metadata.name.clone()));
    terminated.truncate(excess);
    terminated
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

fn out_of_service(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|taints| taints.iter().any(|t| t.key == OUT_OF_SERVICE_TAINT && t.effect == "NoExecute"))
}

pub struct PodGc {
    client: Client,
    config: crate::ControlConfig,
    pods: Store<Pod>,
    nodes: Store<Node>,
    /// Nodes seen missing, and since when.
    missing_since: HashMap<String, Instant>,
}

pub async fn run(
    client: Client,
    config: crate::ControlConfig,
    pods: Store<Pod>,
    nodes: Store<Node>,
    shutdown: CancellationToken,
) {
    let mut gc = PodGc { client, config, pods, nodes, missing_since: HashMap::new() };
    let mut ticks = tokio::time::interval(gc.config.pod_gc_period);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if !gc.pods.is_ready() || !gc.nodes.is_ready() {
            continue;
        }
        gc.pass().await;
    }
}

impl PodGc {
    async fn pass(&mut self) {
        let all = self.pods.list();
        for pod in terminated_to_delete(&all, self.config.terminated_pod_gc_threshold) {
            self.force_delete(&pod, None).await;
        }
        // Orphaned: bound to a node that does not exist.
        let now = Instant::now();
        let mut missing: HashSet<String> = HashSet::new();
        for pod in &all {
            let node = pods::node_name(pod);
            if !node.is_empty() && self.nodes.get(None, node).is_none() {
                missing.insert(node.to_string());
            }
        }
        self.missing_since.retain(|node, _| missing.contains(node));
        let mut gone: HashSet<String> = HashSet::new();
        for node in missing {
            let since = *self.missing_since.entry(node.clone()).or_insert(now);
            if now.duration_since(since) < self.config.orphaned_pod_quarantine {
                continue;
            }
            // The cache may lag: only a live answer proves the node is gone.
            match Api::<Node>::all(self.client.clone()).get_opt(&node).await {
                Ok(None) => {
                    gone.insert(node);
                }
                Ok(Some(_)) => {}
                Err(error) => tracing::debug!(%node, %error, "pod GC could not check a node"),
            }
        }
        for pod in all.iter().filter(|p| gone.contains(pods::node_name(p))) {
            self.force_delete(pod, Some("PodGC: node no longer exists")).await;
        }
        for pod in all.iter().filter(|p| p.metadata.deletion_timestamp.is_some()) {
            let node = pods::node_name(pod);
            if node.is_empty() {
                // Terminating and never scheduled: no agent will finish it.
                self.force_delete(pod, None).await;
            } else if let Some(node) = self.nodes.get(None, node)
                && !node_ready(&node)
                && out_of_service(&node)
            {
                self.force_delete(pod, Some("PodGC: node is out-of-service")).await;
            }
        }
    }

    /// Marks the pod `Failed` with a `DisruptionTarget` condition when asked (upstream's
    /// `markFailedAndDeletePodWithCondition`), then deletes it with grace 0.
    async fn force_delete(&self, pod: &Pod, disruption: Option<&str>) {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        if let Some(message) = disruption
            && !pods::is_terminated(pod)
        {
            let now = super::deployment_util::now_time(jiff::Timestamp::now());
            let patch = json!({"status": {
                "phase": "Failed",
                "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                    "message": message, "lastTransitionTime": now}],
            }});
            if let Err(error) = api.patch_status(name, &Patch::Strategic(patch)).await {
                tracing::debug!(%namespace, %name, %error, "pod GC could not mark a pod failed");
            }
        }
        match api.delete(name, &DeleteParams::immediate()).await {
            Ok(_) => tracing::info!(%namespace, %name, "pod GC deleted a pod"),
            Err(error) if error.is_not_found() => {}
            Err(error) => tracing::warn!(%namespace, %name, %error, "pod GC could not delete a pod"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::pods::tests::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn terminated_pods_beyond_the_threshold_oldest_first() {
        let mut all = Vec::new();
        for (i, phase) in ["Succeeded", "Failed", "Running", "Succeeded", "Failed"].iter().enumerate() {
            let mut p = pod(&format!("p{i}"), "n1", phase, None);
            p.metadata.creation_timestamp =
                Some(Time(jiff::Timestamp::from_second(1_700_000_000 - i as i64).expect("ts")));
            all.push(Arc::new(p));
        }
        assert!(terminated_to_delete(&all, 4).is_empty());
        assert!(terminated_to_delete(&all, 0).is_empty(), "0 disables it");
        let names = |v: Vec<Arc<Pod>>| v.iter().filter_map(|p| p.metadata.name.clone()).collect::<Vec<_>>();
        // p4 is the oldest, then p3.
        assert_eq!(names(terminated_to_delete(&all, 2)), ["p4", "p3"]);
        // Evicted pods go first regardless of age.
        let mut evicted = pod("evicted", "n1", "Failed", None);
        evicted.status.as_mut().expect("status").reason = Some("Evicted".into());
        evicted.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(1_800_000_000).expect("ts")));
        all.push(Arc::new(evicted));
        assert_eq!(names(terminated_to_delete(&all, 4)), ["evicted"]);
    }
}
