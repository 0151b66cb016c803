//! The node lifecycle controller (Kubernetes' `nodelifecycle` plus the NoExecute taint
//! manager, `tainteviction`):
//!
//! - A node's heartbeat is its Lease in `kube-node-lease` (and its `Ready` condition's
//!   heartbeat). When neither changed for `node_monitor_grace_period` (as observed here, so
//!   clocks need not agree), its `Ready`, `MemoryPressure`, `DiskPressure` and `PIDPressure`
//!   conditions become `Unknown` / `NodeStatusUnknown` ("Kubelet stopped posting node
//!   status."), and its pods' `Ready` condition `False`.
//! - Taints follow the `Ready` condition: `Unknown` gives `node.kubernetes.io/unreachable`,
//!   `False` gives `node.kubernetes.io/not-ready`, each as NoSchedule and NoExecute (with
//!   `timeAdded`); `True` removes them. A resumed lease makes the agent post `Ready=True`
//!   again, and the taints go.
//! - NoExecute taints evict (delete) the pods on the node that do not tolerate them at once,
//!   and those that do after the smallest `tolerationSeconds` of the tolerations used
//!   (counted from when the taint manager first saw the pod under the taint; without
//!   `tolerationSeconds`, never). Admission adds 300 s tolerations for both taints.
//!
//! It never deletes nodes, and it does not set `Ready=True`: only the node's agent does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use client::reflector::{ObjectKey, Store};
use client::{Api, Client, DeleteParams, Patch};
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use serde_json::json;

use super::deployment_util::now_time;
use super::pods;
use crate::events::{Recorder, reference};
use crate::runner::{Action, Change, Informer, Result, WorkQueue};

pub const LEASE_NAMESPACE: &str = "kube-node-lease";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// A node that never reported gets this long (`--node-startup-grace-period`, 60 s).
const STARTUP_GRACE: Duration = Duration::from_secs(60);
const CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// `Toleration.ToleratesTaint`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    let operator = toleration.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() {
        return operator == "Exists";
    }
    if key != taint.key {
        return false;
    }
    match operator {
        "Exists" => true,
        "Equal" | "" => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// What the taint manager does with a pod under NoExecute taints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// Tolerated forever (or no NoExecute taint).
    Never,
    Now,
    /// After this many seconds (the smallest `tolerationSeconds` of the tolerations used).
    After(i64),
}

/// `getMinTolerationTime` over the tolerations matching the node's NoExecute taints.
pub fn eviction(taints: &[Taint], tolerations: &[Toleration]) -> Eviction {
    let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_execute.is_empty() {
        return Eviction::Never;
    }
    let mut used: Vec<&Toleration> = Vec::new();
    for taint in no_execute {
        let matching: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Eviction::Now;
        }
        used.extend(matching);
    }
    let mut min: Option<i64> = None;
    for toleration in used {
        if let Some(seconds) = toleration.toleration_seconds {
            let seconds = seconds.max(0);
            min = Some(min.map_or(seconds, |m| m.min(seconds)));
        }
    }
    match min {
        None => Eviction::Never,
        Some(0) => Eviction::Now,
        Some(seconds) => Eviction::After(seconds),
    }
}

/// The node's taints with the lifecycle taints set for its `Ready` status (`True`, `False`,
/// `Unknown`), keeping `timeAdded` of taints already there.
pub fn desired_taints(current: &[Taint], ready: &str, now: Timestamp) -> Vec<Taint> {
    let wanted: &[(&str, &str)] = match ready {
        "True" => &[],
        "False" => &[(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")],
        _ => &[(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")],
    };
    let ours = |t: &Taint| t.key == NOT_READY || t.key == UNREACHABLE;
    let mut taints: Vec<Taint> = current
        .iter()
        .filter(|t| !ours(t) || wanted.iter().any(|(k, e)| t.key == *k && t.effect == *e))
        .cloned()
        .collect();
    for (key, effect) in wanted {
        if !taints.iter().any(|t| t.key == *key && t.effect == *effect) {
            taints.push(Taint {
                key: key.to_string(),
                effect: effect.to_string(),
                value: None,
                time_added: (*effect == "NoExecute").then(|| now_time(now)),
            });
        }
    }
    taints
}

/// The conditions once the node is found silent (`tryUpdateNodeHealth`); `None` when
/// nothing changes.
pub fn unknown_conditions(current: &[NodeCondition], now: Timestamp) -> Option<Vec<NodeCondition>> {
    let mut conditions = current.to_vec();
    let mut changed = false;
    for type_ in CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => {
                conditions.push(NodeCondition {
                    type_: type_.to_string(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: None,
                    last_transition_time: Some(now_time(now)),
                });
                changed = true;
            }
            Some(condition) if condition.status != "Unknown" => {
                condition.status = "Unknown".into();
                condition.reason = Some("NodeStatusUnknown".into());
                condition.message = Some("Kubelet stopped posting node status.".into());
                condition.last_transition_time = Some(now_time(now));
                changed = true;
            }
            Some(_) => {}
        }
    }
    changed.then_some(conditions)
}

/// A node's last observed heartbeat: what it was, and when we saw it change.
struct Health {
    heartbeat: Option<Timestamp>,
    observed: tokio::time::Instant,
}

pub struct NodeLifecycleController {
    client: Client,
    grace: Duration,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    pub queue: WorkQueue<ObjectKey>,
    health: Mutex<HashMap<String, Health>>,
    /// Pods under a tolerated NoExecute taint: when the taint manager first saw them so.
    tainted_since: Mutex<HashMap<(String, String), tokio::time::Instant>>,
    recorder: Recorder,
}

fn ready_status(node: &Node) -> String {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map_or_else(|| "Unknown".to_string(), |c| c.status.clone())
}

impl NodeLifecycleController {
    pub fn new(
        client: Client,
        config: &crate::ControlConfig,
        nodes: &mut Informer<Node>,
        leases: &mut Informer<Lease>,
        pods: &mut Informer<Pod>,
    ) -> Arc<Self> {
        let controller = Arc::new(NodeLifecycleController {
            recorder: Recorder::spawn(client.clone(), "node-controller"),
            client,
            grace: config.node_monitor_grace_period,
            nodes: nodes.store(),
            leases: leases.store(),
            pods: pods.store(),
            queue: WorkQueue::default(),
            health: Mutex::new(HashMap::new()),
            tainted_since: Mutex::new(HashMap::new()),
        });
        let this = controller.clone();
        nodes.on_change(move |change| match change {
            Change::Applied { new, .. } => {
                if let Some(key) = ObjectKey::of(*new) {
                    this.queue.add(key);
                }
            }
            Change::Deleted(old) => {
                if let Some(name) = old.metadata.name.as_deref() {
                    this.health.lock().unwrap_or_else(PoisonError::into_inner).remove(name);
                }
            }
        });
        let this = controller.clone();
        leases.on_change(move |change| {
            if let Change::Applied { new, .. } = change
                && let Some(name) = new.metadata.name.as_deref()
            {
                this.queue.add(ObjectKey::new(None, name));
            }
        });
        let this = controller.clone();
        pods.on_change(move |change| {
            // A pod landing on a node with NoExecute taints must be judged too.
            if let Change::Applied { new, .. } = change {
                let node = pods::node_name(new);
                if !node.is_empty()
                    && this.nodes.get(None, node).is_some_and(|n| {
                        n.spec
                            .as_ref()
                            .and_then(|s| s.taints.as_ref())
                            .is_some_and(|t| t.iter().any(|t| t.effect == "NoExecute"))
                    })
                {
                    this.queue.add(ObjectKey::new(None, node));
                }
            }
        });
        controller
    }

    /// Records the latest heartbeat; returns how long ago it was observed to change.
    fn silence(&self, node: &Node) -> Duration {
        let name = node.metadata.name.clone().unwrap_or_default();
        let lease_renew = self
            .leases
            .get(Some(LEASE_NAMESPACE), &name)
            .and_then(|l| l.spec.as_ref().and_then(|s| s.renew_time.as_ref()).map(|t| t.0));
        let condition_heartbeat = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .and_then(|c| c.last_heartbeat_time.as_ref().map(|t| t.0));
        let heartbeat = lease_renew.max(condition_heartbeat);
        let now = tokio::time::Instant::now();
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = health.entry(name).or_insert(Health { heartbeat, observed: now });
        if heartbeat > entry.heartbeat {
            entry.heartbeat = heartbeat;
            entry.observed = now;
        }
        now.duration_since(entry.observed)
    }

    pub async fn reconcile(self: Arc<Self>, key: ObjectKey) -> Result<Action> {
        if !self.nodes.is_ready() || !self.leases.is_ready() || !self.pods.is_ready() {
            return Err(crate::runner::Error::NotSynced);
        }
        let Some(node) = self.nodes.get_key(&key) else { return Ok(Action::await_change()) };
        let mut node = (*node).clone();
        let name = key.name.clone();
        let now = Timestamp::now();
        let api: Api<Node> = Api::all(self.client.clone());
        let silence = self.silence(&node);
        let never_reported = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_none_or(|c| !c.iter().any(|c| c.type_ == "Ready"));
        let grace = if never_reported { STARTUP_GRACE.max(self.grace) } else { self.grace };
        let mut action = Action::requeue(grace.saturating_sub(silence) + Duration::from_millis(100));
        if silence >= grace {
            let current = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
            if let Some(conditions) = unknown_conditions(&current, now) {
                let was_ready = ready_status(&node) == "True";
                node.status.get_or_insert_with(Default::default).conditions = Some(conditions);
                node = api.replace_status(&name, &node).await?;
                if was_ready {
                    tracing::info!(node = %name, "node stopped posting status: Ready=Unknown");
                    self.recorder.record(
                        reference("v1", "Node", &node.metadata),
                        "Normal",
                        "NodeNotReady",
                        format!("Node {name} status is now: NodeNotReady"),
                    );
                }
            }
            action = Action::requeue(self.grace);
        }
        let ready = ready_status(&node);
        let current_taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        let taints = desired_taints(&current_taints, &ready, now);
        if taints != current_taints {
            let patch = json!({"spec": {"taints": if taints.is_empty() { serde_json::Value::Null } else { json!(taints) }},
                "metadata": {"resourceVersion": node.metadata.resource_version}});
            node = api.patch(&name, &Patch::Merge(patch)).await?;
        }
        let on_node = pods::on_node(&self.pods, &name);
        if ready != "True" {
            self.mark_pods_not_ready(&on_node, now).await;
        }
        let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        action = action.min(self.evict(&on_node, &taints).await);
        Ok(action)
    }

    /// `MarkPodsNotReady`.
    async fn mark_pods_not_ready(&self, on_node: &[Arc<Pod>], now: Timestamp) {
        for pod in on_node.iter().filter(|p| pods::is_ready(p) && !pods::is_terminated(p)) {
            let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
            let mut updated = (**pod).clone();
            if let Some(condition) = updated
                .status
                .as_mut()
                .and_then(|s| s.conditions.as_mut())
                .and_then(|c| c.iter_mut().find(|c| c.type_ == "Ready"))
            {
                condition.status = "False".into();
                condition.last_transition_time = Some(now_time(now));
            }
            if let Err(error) = api.replace_status(name, &updated).await {
                tracing::debug!(%namespace, %name, %error, "could not mark a pod not ready");
            }
        }
    }

    /// The taint manager's pass over one node's pods; the action is when to look again.
    async fn evict(&self, on_node: &[Arc<Pod>], taints: &[Taint]) -> Action {
        let now = tokio::time::Instant::now();
        let mut action = Action::await_change();
        for pod in on_node {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let key =
                (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default());
            let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
            let decision = eviction(taints, &tolerations);
            let due = match decision {
                Eviction::Never => {
                    self.tainted_since.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
                    continue;
                }
                Eviction::Now => true,
                Eviction::After(seconds) => {
                    let since = *self
                        .tainted_since
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(key.clone())
                        .or_insert(now);
                    let at = since + Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
                    if at > now {
                        action = action.min(Action::requeue(at - now + Duration::from_millis(50)));
                        false
                    } else {
                        true
                    }
                }
            };
            if due {
                self.tainted_since.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
                self.delete_pod(pod).await;
            }
        }
        action
    }

    /// Marks the pod with a `DisruptionTarget` condition and deletes it (graceful, as the
    /// taint manager does).
    async fn delete_pod(&self, pod: &Pod) {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let patch = json!({"status": {"conditions": [{"type": "DisruptionTarget", "status": "True",
            "reason": "DeletionByTaintManager", "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": now_time(Timestamp::now())}]}});
        if let Err(error) = api.patch_status(name, &Patch::Strategic(patch)).await {
            tracing::debug!(%namespace, %name, %error, "could not add the DisruptionTarget condition");
        }
        tracing::info!(%namespace, %name, "taint manager: evicting a pod");
        self.recorder.record(
            reference("v1", "Pod", &pod.metadata),
            "Normal",
            "TaintManagerEviction",
            format!("Marking for deletion Pod {namespace}/{name}"),
        );
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(error) if error.is_not_found() => {}
            Err(error) => tracing::warn!(%namespace, %name, %error, "taint manager could not delete a pod"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, effect: &str) -> Taint {
        Taint { key: key.into(), effect: effect.into(), value: None, time_added: None }
    }

    fn toleration(key: Option<&str>, operator: &str, effect: Option<&str>, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: key.map(str::to_string),
            operator: Some(operator.into()),
            effect: effect.map(str::to_string),
            toleration_seconds: seconds,
            value: None,
        }
    }

    #[test]
    fn toleration_matching() {
        let unreachable = taint(UNREACHABLE, "NoExecute");
        assert!(tolerates(&toleration(Some(UNREACHABLE), "Exists", Some("NoExecute"), None), &unreachable));
        assert!(tolerates(&toleration(None, "Exists", None, None), &unreachable), "empty key + Exists tolerates all");
        assert!(!tolerates(&toleration(None, "Equal", None, None), &unreachable));
        assert!(!tolerates(&toleration(Some(UNREACHABLE), "Exists", Some("NoSchedule"), None), &unreachable));
        assert!(!tolerates(&toleration(Some(NOT_READY), "Exists", None, None), &unreachable));
        let mut with_value = taint("k", "NoExecute");
        with_value.value = Some("v".into());
        let mut equal = toleration(Some("k"), "Equal", None, None);
        equal.value = Some("v".into());
        assert!(tolerates(&equal, &with_value));
        equal.value = Some("w".into());
        assert!(!tolerates(&equal, &with_value));
    }

    #[test]
    fn eviction_uses_the_smallest_toleration_seconds() {
        let taints = [taint(UNREACHABLE, "NoExecute"), taint(UNREACHABLE, "NoSchedule")];
        assert_eq!(eviction(&taints, &[]), Eviction::Now);
        let admission = [
            toleration(Some(NOT_READY), "Exists", Some("NoExecute"), Some(300)),
            toleration(Some(UNREACHABLE), "Exists", Some("NoExecute"), Some(300)),
        ];
        assert_eq!(eviction(&taints, &admission), Eviction::After(300));
        let short = [
            toleration(Some(UNREACHABLE), "Exists", Some("NoExecute"), Some(2)),
            toleration(None, "Exists", None, Some(50)),
        ];
        assert_eq!(eviction(&taints, &short), Eviction::After(2));
        assert_eq!(eviction(&taints, &[toleration(None, "Exists", None, None)]), Eviction::Never);
        assert_eq!(eviction(&[taint(UNREACHABLE, "NoSchedule")], &[]), Eviction::Never);
        assert_eq!(eviction(&taints, &[toleration(Some(UNREACHABLE), "Exists", None, Some(0))]), Eviction::Now);
    }

    #[test]
    fn taints_follow_readiness() {
        let now = Timestamp::from_second(1_700_000_000).expect("ts");
        let other = taint("dedicated", "NoSchedule");
        let unknown = desired_taints(std::slice::from_ref(&other), "Unknown", now);
        assert_eq!(unknown.len(), 3);
        assert!(unknown.iter().any(|t| t.key == UNREACHABLE && t.effect == "NoExecute" && t.time_added.is_some()));
        assert!(unknown.iter().any(|t| t.key == UNREACHABLE && t.effect == "NoSchedule" && t.time_added.is_none()));
        // Kept as is (timeAdded too) while still unknown.
        let later = Timestamp::from_second(1_700_000_100).expect("ts");
        assert_eq!(desired_taints(&unknown, "Unknown", later), unknown);
        // Not ready swaps unreachable for not-ready; ready removes both.
        let not_ready = desired_taints(&unknown, "False", later);
        assert!(not_ready.iter().all(|t| t.key != UNREACHABLE));
        assert_eq!(not_ready.iter().filter(|t| t.key == NOT_READY).count(), 2);
        assert_eq!(desired_taints(&not_ready, "True", later), vec![other]);
    }

    #[test]
    fn silent_nodes_get_unknown_conditions() {
        let now = Timestamp::from_second(1_700_000_000).expect("ts");
        let ready = NodeCondition { type_: "Ready".into(), status: "True".into(), ..NodeCondition::default() };
        let conditions = unknown_conditions(&[ready], now).expect("changed");
        let ready = conditions.iter().find(|c| c.type_ == "Ready").expect("ready");
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(ready.message.as_deref(), Some("Kubelet stopped posting node status."));
        let pressure = conditions.iter().find(|c| c.type_ == "MemoryPressure").expect("added");
        assert_eq!(pressure.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert!(unknown_conditions(&conditions, now).is_none(), "already unknown: no write");
    }
}
