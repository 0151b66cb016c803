//! The ReplicaSet controller (Kubernetes' `replica_set.go`): keeps `spec.replicas` active
//! pods matching the selector, adopting orphans and releasing pods that stop matching, and
//! reports `status` (`replicas`, `fullyLabeledReplicas`, `readyReplicas`,
//! `availableReplicas`, `observedGeneration`).
//!
//! Creations and deletions are tracked as expectations, lowered by what the pod watch
//! reports: while some are outstanding the controller does not create or delete again, so a
//! slow watch never makes it over-create. Pods are created in slow-start batches (1, 2, 4, ...)
//! so a failing create costs one request, not hundreds; deletions pick the pods Kubernetes
//! would (unscheduled, pending, not ready, ... first).
//!
//! It does not schedule or run pods, and it never edits a pod beyond its ownerReferences.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use client::reflector::{ObjectKey, Store};
use client::{Api, Client, DeleteParams};
use futures::future::join_all;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::controller_ref::{self, Claim};
use super::pods;
use crate::events::{Recorder, reference};
use crate::runner::{Action, Change, Error, Informer, Result, WorkQueue};

/// At most this many creations or deletions per reconcile (`burstReplicas`).
pub const BURST_REPLICAS: usize = 500;
/// Expectations older than this are ignored, so a lost watch event cannot wedge an RS.
const EXPECTATIONS_TTL: Duration = Duration::from_secs(300);

/// Outstanding creations (a count) and deletions (pod names) per ReplicaSet.
#[derive(Default)]
pub struct Expectations {
    map: Mutex<HashMap<ObjectKey, Expectation>>,
}

struct Expectation {
    adds: i64,
    deletes: HashSet<String>,
    set_at: Instant,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Expectation>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True when nothing is outstanding (or never recorded, or expired).
    pub fn satisfied(&self, key: &ObjectKey) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(e) => (e.adds <= 0 && e.deletes.is_empty()) || e.set_at.elapsed() > EXPECTATIONS_TTL,
        }
    }

    pub fn expect_creations(&self, key: &ObjectKey, adds: usize) {
        let expectation = Expectation {
            adds: i64::try_from(adds).unwrap_or(i64::MAX),
            deletes: HashSet::new(),
            set_at: Instant::now(),
        };
        self.lock().insert(key.clone(), expectation);
    }

    pub fn expect_deletions(&self, key: &ObjectKey, pods: impl IntoIterator<Item = String>) {
        let expectation = Expectation { adds: 0, deletes: pods.into_iter().collect(), set_at: Instant::now() };
        self.lock().insert(key.clone(), expectation);
    }

    pub fn creation_observed(&self, key: &ObjectKey) {
        if let Some(e) = self.lock().get_mut(key) {
            e.adds -= 1;
        }
    }

    /// Counted once per pod, however many events report it going.
    pub fn deletion_observed(&self, key: &ObjectKey, pod: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.deletes.remove(pod);
        }
    }

    pub fn forget(&self, key: &ObjectKey) {
        self.lock().remove(key);
    }
}

pub struct ReplicaSetController {
    client: Client,
    pods: Store<Pod>,
    replicasets: Store<ReplicaSet>,
    pub queue: WorkQueue<ObjectKey>,
    expectations: Expectations,
    recorder: Recorder,
}

/// The key of the ReplicaSet that controls `pod`, if the cache has that very RS.
fn owner_key(replicasets: &Store<ReplicaSet>, pod: &Pod) -> Option<ObjectKey> {
    let reference = controller_ref::controller_of(&pod.metadata)?;
    if reference.kind != "ReplicaSet" {
        return None;
    }
    let namespace = pod.metadata.namespace.as_deref();
    let rs = replicasets.get(namespace, &reference.name)?;
    (rs.metadata.uid.as_deref() == Some(reference.uid.as_str())).then(|| ObjectKey::new(namespace, &reference.name))
}

fn selector_of(rs: &ReplicaSet) -> Result<api::selector::LabelSelector> {
    let selector =
        rs.spec.as_ref().map(|s| serde_json::to_value(&s.selector)).transpose().map_err(client::Error::Json)?;
    let selector = selector.unwrap_or(serde_json::Value::Null);
    api::selector::LabelSelector::from_json(&selector)
        .map_err(|e| Error::Invalid(format!("invalid selector of ReplicaSet {:?}: {e}", rs.metadata.name)))
}

fn labels_match(selector: &api::selector::LabelSelector, meta: &ObjectMeta) -> bool {
    // An empty selector selects nothing for controllers (validation forbids it anyway).
    !selector.is_empty() && selector.matches(meta.labels.as_ref().unwrap_or(&BTreeMap::new()))
}

impl ReplicaSetController {
    pub fn new(client: Client, pods: &mut Informer<Pod>, replicasets: &mut Informer<ReplicaSet>) -> Arc<Self> {
        let controller = Arc::new(ReplicaSetController {
            recorder: Recorder::spawn(client.clone(), "replicaset-controller"),
            client,
            pods: pods.store(),
            replicasets: replicasets.store(),
            queue: WorkQueue::default(),
            expectations: Expectations::default(),
        });
        let this = controller.clone();
        replicasets.on_change(move |change| match change {
            Change::Applied { new, .. } => {
                if let Some(key) = ObjectKey::of(*new) {
                    this.queue.add(key);
                }
            }
            Change::Deleted(old) => {
                if let Some(key) = ObjectKey::of(*old) {
                    this.expectations.forget(&key);
                }
            }
        });
        let this = controller.clone();
        pods.on_change(move |change| this.pod_changed(change));
        controller
    }

    fn pod_changed(&self, change: &Change<'_, Pod>) {
        match change {
            Change::Applied { old: None, new } => {
                if new.metadata.deletion_timestamp.is_some() {
                    return self.pod_deleted(new);
                }
                match owner_key(&self.replicasets, new) {
                    Some(key) => {
                        self.expectations.creation_observed(&key);
                        self.queue.add(key);
                    }
                    None if controller_ref::controller_of(&new.metadata).is_none() => self.enqueue_matching(new),
                    None => {}
                }
            }
            Change::Applied { old: Some(old), new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                if new.metadata.deletion_timestamp.is_some() && old.metadata.deletion_timestamp.is_none() {
                    // Being deleted gracefully counts as deleted: it is no longer active.
                    self.pod_deleted(new);
                }
                let old_owner = owner_key(&self.replicasets, old);
                let new_owner = owner_key(&self.replicasets, new);
                if let Some(key) = old_owner.filter(|k| Some(k) != new_owner.as_ref()) {
                    self.queue.add(key);
                }
                match new_owner {
                    Some(key) => self.queue.add(key),
                    None if controller_ref::controller_of(&new.metadata).is_none()
                        && (old.metadata.labels != new.metadata.labels
                            || controller_ref::controller_of(&old.metadata).is_some()) =>
                    {
                        self.enqueue_matching(new);
                    }
                    None => {}
                }
            }
            Change::Deleted(old) => self.pod_deleted(old),
        }
    }

    fn pod_deleted(&self, pod: &Pod) {
        if let Some(key) = owner_key(&self.replicasets, pod) {
            self.expectations.deletion_observed(&key, pod.metadata.name.as_deref().unwrap_or_default());
            self.queue.add(key);
        }
    }

    /// An orphan: every ReplicaSet whose selector matches may want to adopt it.
    fn enqueue_matching(&self, pod: &Pod) {
        let namespace = pod.metadata.namespace.as_deref();
        for rs in self.replicasets.list() {
            if rs.metadata.namespace.as_deref() != namespace {
                continue;
            }
            if selector_of(&rs).is_ok_and(|s| labels_match(&s, &pod.metadata))
                && let Some(key) = ObjectKey::of(rs.as_ref())
            {
                self.queue.add(key);
            }
        }
    }

    pub async fn reconcile(self: Arc<Self>, key: ObjectKey) -> Result<Action> {
        if !self.pods.is_ready() || !self.replicasets.is_ready() {
            return Err(Error::NotSynced);
        }
        let namespace = key.namespace.as_deref().unwrap_or_default();
        // Read before the RS: expectations satisfied now stay satisfied for what we read.
        let needs_sync = self.expectations.satisfied(&key);
        let Some(rs) = self.replicasets.get_key(&key) else {
            self.expectations.forget(&key);
            return Ok(Action::await_change());
        };
        let selector = selector_of(&rs)?;
        let pod_api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let rs_deleting = rs.metadata.deletion_timestamp.is_some();
        // Only pods this RS controls or nobody does can be claimed (`FilterPodsByOwner`).
        let rs_uid = rs.metadata.uid.as_deref().unwrap_or_default();
        let mut candidates = pods::controlled_by(&self.pods, namespace, rs_uid);
        candidates.extend(pods::orphans(&self.pods, namespace));

        let mut claimed: Vec<Arc<Pod>> = Vec::new();
        for pod in candidates.iter().filter(|p| pods::is_active(p)) {
            let matches = labels_match(&selector, &pod.metadata);
            match controller_ref::decide(&rs.metadata, rs_deleting, &pod.metadata, matches) {
                Claim::Keep => claimed.push(pod.clone()),
                Claim::Adopt => {
                    let reference = controller_ref::new_controller_ref("apps/v1", "ReplicaSet", &rs.metadata);
                    match controller_ref::adopt(&pod_api, &pod.metadata, reference).await {
                        Ok(adopted) => claimed.push(Arc::new(adopted)),
                        Err(error) if error.is_not_found() => {}
                        Err(error) => return Err(error.into()),
                    }
                }
                Claim::Release => {
                    let uid = rs.metadata.uid.as_deref().unwrap_or_default();
                    match controller_ref::release(&pod_api, &pod.metadata, uid).await {
                        Ok(_) => {}
                        Err(error) if error.is_not_found() => {}
                        Err(error) => return Err(error.into()),
                    }
                }
                Claim::Ignore => {}
            }
        }

        let manage_result =
            if needs_sync && !rs_deleting { self.manage_replicas(&key, &rs, &claimed, &pod_api).await } else { Ok(()) };

        let now = jiff::Timestamp::now();
        let min_ready_seconds = rs.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        let status = calculate_status(&rs, &claimed, now);
        if !status_equal(rs.status.as_ref(), &status) {
            let mut updated = (*rs).clone();
            updated.status = Some(status.clone());
            let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), namespace);
            api.replace_status(&key.name, &updated).await?;
        }
        manage_result?;
        // Pods ready but not yet available become available with time alone.
        let next_available = claimed.iter().filter_map(|p| pods::available_at(p, min_ready_seconds, now)).min();
        Ok(match next_available {
            Some(at) => Action::requeue(Duration::try_from(at - now).unwrap_or_default() + Duration::from_millis(50)),
            None => Action::await_change(),
        })
    }

    async fn manage_replicas(
        &self,
        key: &ObjectKey,
        rs: &ReplicaSet,
        claimed: &[Arc<Pod>],
        pod_api: &Api<Pod>,
    ) -> Result<()> {
        let desired = usize::try_from(rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)).unwrap_or(0);
        let regarding = reference("apps/v1", "ReplicaSet", &rs.metadata);
        if claimed.len() < desired {
            let count = (desired - claimed.len()).min(BURST_REPLICAS);
            let pod = pod_from_template(rs)?;
            self.expectations.expect_creations(key, count);
            let (created, error) = slow_start_batch(count, 1, |_| {
                let pod = pod.clone();
                async move { pod_api.create(&pod).await }
            })
            .await;
            for name in &created {
                self.recorder.record(regarding.clone(), "Normal", "SuccessfulCreate", format!("Created pod: {name}"));
            }
            // Creations that were skipped or failed will never be observed.
            for _ in created.len()..count {
                self.expectations.creation_observed(key);
            }
            if let Some(error) = error {
                if is_namespace_terminating(&error) {
                    return Ok(());
                }
                self.recorder.record(regarding, "Warning", "FailedCreate", format!("Error creating: {error}"));
                return Err(error.into());
            }
        } else if claimed.len() > desired {
            let count = (claimed.len() - desired).min(BURST_REPLICAS);
            let related = related_pods(rs, &self.pods, &self.replicasets);
            let victims = pods_to_delete(claimed, &related, count, jiff::Timestamp::now());
            let names: Vec<String> = victims.iter().filter_map(|p| p.metadata.name.clone()).collect();
            self.expectations.expect_deletions(key, names.iter().cloned());
            let params = DeleteParams::default();
            let results = join_all(names.iter().map(|name| pod_api.delete(name, &params))).await;
            let mut first_error = None;
            for (name, result) in names.iter().zip(results) {
                match result {
                    Ok(_) => self.recorder.record(
                        regarding.clone(),
                        "Normal",
                        "SuccessfulDelete",
                        format!("Deleted pod: {name}"),
                    ),
                    Err(error) => {
                        self.expectations.deletion_observed(key, name);
                        if !error.is_not_found() && first_error.is_none() {
                            first_error = Some(error);
                        }
                    }
                }
            }
            if let Some(error) = first_error {
                return Err(error.into());
            }
        }
        Ok(())
    }
}

/// kube-apiserver refuses creates in a terminating namespace; the RS is going anyway.
fn is_namespace_terminating(error: &client::Error) -> bool {
    error.status().is_some_and(|s| {
        s.code == 403
            && (s.message.contains("being terminated")
                || s.details.as_ref().is_some_and(|d| d.to_string().contains("NamespaceTerminating")))
    })
}

/// Runs `count` calls in batches of 1, 2, 4, ... (`slowStartBatch`), stopping after the
/// first batch with a failure. Returns the names created and the first error.
pub async fn slow_start_batch<F, Fut>(count: usize, initial: usize, call: F) -> (Vec<String>, Option<client::Error>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = client::Result<Pod>>,
{
    let mut done = Vec::new();
    let mut batch = initial.max(1);
    let mut remaining = count;
    while remaining > 0 {
        let size = batch.min(remaining);
        let results = join_all((0..size).map(|i| call(count - remaining + i))).await;
        let mut error = None;
        for result in results {
            match result {
                Ok(pod) => done.push(pod.metadata.name.unwrap_or_default()),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if error.is_some() {
            return (done, error);
        }
        remaining -= size;
        batch *= 2;
    }
    (done, None)
}

/// The pod an RS creates (`GetPodFromTemplate`): template labels, annotations and
/// finalizers, `generateName: <rs>-`, and the controller reference.
pub fn pod_from_template(rs: &ReplicaSet) -> Result<Pod> {
    let template = rs.spec.as_ref().and_then(|s| s.template.clone()).unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: rs.metadata.namespace.clone(),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![controller_ref::new_controller_ref("apps/v1", "ReplicaSet", &rs.metadata)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    })
}

/// Active pods of this RS's family (RSs with the same controller, e.g. one Deployment's),
/// for the "doubled up on a node" rank.
fn related_pods(rs: &ReplicaSet, pods: &Store<Pod>, replicasets: &Store<ReplicaSet>) -> Vec<Arc<Pod>> {
    let own_uid = rs.metadata.uid.clone().unwrap_or_default();
    let mut family: HashSet<String> = [own_uid].into();
    if let Some(owner) = controller_ref::controller_of(&rs.metadata) {
        for sibling in replicasets.list() {
            if sibling.metadata.namespace == rs.metadata.namespace
                && controller_ref::controller_of(&sibling.metadata).is_some_and(|r| r.uid == owner.uid)
                && let Some(uid) = &sibling.metadata.uid
            {
                family.insert(uid.clone());
            }
        }
    }
    let namespace = rs.metadata.namespace.as_deref().unwrap_or_default();
    family.iter().flat_map(|uid| pods::controlled_by(pods, namespace, uid)).collect()
}

/// The `count` pods to delete first (`getPodsToDelete`).
pub fn pods_to_delete(claimed: &[Arc<Pod>], related: &[Arc<Pod>], count: usize, now: jiff::Timestamp) -> Vec<Arc<Pod>> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for pod in related.iter().filter(|p| pods::is_active(p)) {
        *on_node.entry(pods::node_name(pod)).or_default() += 1;
    }
    let mut ranked: Vec<pods::Ranked<'_>> = claimed
        .iter()
        .map(|pod| pods::Ranked { pod, rank: on_node.get(pods::node_name(pod)).copied().unwrap_or(0) })
        .collect();
    if count < ranked.len() {
        pods::sort_for_deletion(&mut ranked, now);
    }
    let names: Vec<&str> = ranked.iter().take(count).filter_map(|r| r.pod.metadata.name.as_deref()).collect();
    claimed.iter().filter(|p| p.metadata.name.as_deref().is_some_and(|n| names.contains(&n))).cloned().collect()
}

/// The status from the claimed active pods (`calculateStatus`), keeping conditions.
pub fn calculate_status(rs: &ReplicaSet, claimed: &[Arc<Pod>], now: jiff::Timestamp) -> ReplicaSetStatus {
    let spec = rs.spec.as_ref();
    let template_labels =
        spec.and_then(|s| s.template.as_ref()).and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref());
    let min_ready_seconds = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let count = |f: &dyn Fn(&Pod) -> bool| i32::try_from(claimed.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX);
    let fully_labeled = count(&|p: &Pod| {
        let labels = p.metadata.labels.as_ref();
        template_labels.as_ref().is_none_or(|t| t.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)))
    });
    ReplicaSetStatus {
        replicas: count(&|_| true),
        fully_labeled_replicas: Some(fully_labeled),
        ready_replicas: Some(count(&pods::is_ready)),
        available_replicas: Some(count(&|p| pods::is_available(p, min_ready_seconds, now))),
        observed_generation: rs.metadata.generation,
        conditions: rs.status.as_ref().and_then(|s| s.conditions.clone()),
        terminating_replicas: None,
    }
}

/// Kubernetes omits zero counts; `Some(0)` and `None` are the same status.
fn status_equal(current: Option<&ReplicaSetStatus>, next: &ReplicaSetStatus) -> bool {
    let Some(current) = current else { return false };
    let n = |v: Option<i32>| v.unwrap_or(0);
    current.replicas == next.replicas
        && n(current.fully_labeled_replicas) == n(next.fully_labeled_replicas)
        && n(current.ready_replicas) == n(next.ready_replicas)
        && n(current.available_replicas) == n(next.available_replicas)
        && current.observed_generation == next.observed_generation
        && current.conditions == next.conditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::pods::tests::{at, pod};
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn rs(replicas: i32) -> ReplicaSet {
        let labels: std::collections::BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web-abc".into()),
                namespace: Some("ns".into()),
                uid: Some("rs-uid".into()),
                generation: Some(3),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(10),
                selector: LabelSelector { match_labels: Some(labels.clone()), match_expressions: None },
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
                    spec: None,
                }),
            }),
            status: None,
        }
    }

    #[test]
    fn expectations_block_until_observed() {
        let expectations = Expectations::default();
        let key = ObjectKey::new(Some("ns"), "rs");
        assert!(expectations.satisfied(&key));
        expectations.expect_creations(&key, 2);
        assert!(!expectations.satisfied(&key));
        expectations.creation_observed(&key);
        assert!(!expectations.satisfied(&key));
        expectations.creation_observed(&key);
        assert!(expectations.satisfied(&key));
        expectations.expect_deletions(&key, ["a".to_string(), "b".to_string()]);
        expectations.deletion_observed(&key, "a");
        expectations.deletion_observed(&key, "a");
        assert!(!expectations.satisfied(&key), "a second event for the same pod must not count");
        expectations.deletion_observed(&key, "b");
        assert!(expectations.satisfied(&key));
    }

    #[test]
    fn pods_from_the_template_are_owned_and_generated() {
        let pod = pod_from_template(&rs(1)).expect("pod");
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-abc-"));
        assert_eq!(pod.metadata.name, None);
        let owner = controller_ref::controller_of(&pod.metadata).expect("controller");
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("ReplicaSet", "rs-uid"));
        assert_eq!(pod.metadata.labels.as_ref().and_then(|l| l.get("app")).map(String::as_str), Some("web"));
    }

    #[test]
    fn status_counts_ready_and_available_pods() {
        let now = at(1000);
        let mut unlabeled = pod("c", "n1", "Running", None);
        unlabeled.metadata.labels = None;
        let claimed = vec![
            Arc::new(pod("a", "n1", "Running", Some(0))),
            Arc::new(pod("b", "n1", "Running", Some(995))),
            Arc::new(unlabeled),
        ];
        let mut with_labels = claimed.clone();
        for p in with_labels.iter_mut().take(2) {
            Arc::make_mut(p).metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        }
        let status = calculate_status(&rs(3), &with_labels, now);
        assert_eq!(status.replicas, 3);
        assert_eq!(status.fully_labeled_replicas, Some(2));
        assert_eq!(status.ready_replicas, Some(2));
        assert_eq!(status.available_replicas, Some(1), "b is ready for 5 s < minReadySeconds 10");
        assert_eq!(status.observed_generation, Some(3));
        assert!(status_equal(Some(&status), &status));
    }

    #[test]
    fn scale_down_picks_unready_and_unscheduled_first() {
        let claimed: Vec<Arc<Pod>> = vec![
            Arc::new(pod("ready", "n1", "Running", Some(0))),
            Arc::new(pod("pending", "", "Pending", None)),
            Arc::new(pod("starting", "n2", "Running", None)),
        ];
        let victims = pods_to_delete(&claimed, &claimed, 2, at(100));
        let mut names: Vec<_> = victims.iter().filter_map(|p| p.metadata.name.clone()).collect();
        names.sort();
        assert_eq!(names, ["pending", "starting"]);
    }

    #[tokio::test]
    async fn slow_start_stops_after_a_failing_batch() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let (done, error) = slow_start_batch(10, 1, |i| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if i >= 3 {
                    Err(client::Error::Request("quota".into()))
                } else {
                    Ok(Pod {
                        metadata: ObjectMeta { name: Some(format!("p{i}")), ..ObjectMeta::default() },
                        ..Pod::default()
                    })
                }
            }
        })
        .await;
        // Batches 1, 2, 4: the third batch (calls 3..7) fails, nothing after it runs.
        assert_eq!(done, ["p0", "p1", "p2"]);
        assert!(error.is_some());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 7);
        let (all, none) = slow_start_batch(5, 1, |i| async move {
            Ok(Pod { metadata: ObjectMeta { name: Some(format!("p{i}")), ..ObjectMeta::default() }, ..Pod::default() })
        })
        .await;
        assert_eq!(all.len(), 5);
        assert!(none.is_none());
    }
}
