//! The scheduler: binds pending pods to nodes with kube-scheduler's semantics.
//!
//! - `framework`: what plugins see and the `FitError` message; `plugins/`: one file each;
//! - `cache`: nodes with the pods counted on them, including pods assumed while binding;
//! - `queue`: active / backoff / unschedulable; `algorithm`: filter, score, pick;
//! - `events`: the event recorder; `resources`: quantities and pod requests.
//!
//! This module wires them: two informers (nodes; pods that are not terminal) feed the cache
//! and the queue, one loop schedules a pod at a time (decisions are sequential, so the cache
//! is always current), and bindings run concurrently as API calls, bounded. Only pods for
//! `default-scheduler` (or no scheduler name), unbound and not being deleted, are scheduled.
//! Everything goes through the API; nothing here touches the store.

pub mod algorithm;
pub mod cache;
pub mod framework;
pub mod plugins;
pub mod queue;
pub mod resources;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use client::watcher::{self, Event};
use client::{Api, Patch};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::events::Recorder;
use algorithm::{Algorithm, Profile};
use cache::{Cache, NodeChange};
use framework::{DEFAULT_SCHEDULER_NAME, PodInfo, pod_key};
use queue::{QueueConfig, SchedulingQueue};

/// The scheduler's own knobs (the control plane's config carries none yet).
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    pub queue: QueueConfig,
    /// `percentageOfNodesToScore`; `None` is the adaptive default.
    pub percentage_of_nodes_to_score: Option<usize>,
    /// Bindings (and unschedulable status updates) in flight at once.
    pub parallel_bindings: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig { queue: QueueConfig::default(), percentage_of_nodes_to_score: None, parallel_bindings: 64 }
    }
}

/// Runs the scheduler until `shutdown`.
pub async fn run(client: client::Client, config: crate::ControlConfig, shutdown: CancellationToken) {
    let _ = config;
    run_with(client, SchedulerConfig::default(), shutdown).await;
}

/// The cache and the decision maker, under one lock: a decision and the assumption that
/// follows it are one step, so two decisions never see the same free room.
struct Core {
    cache: Cache,
    algorithm: Algorithm,
}

struct Scheduler {
    client: client::Client,
    core: Mutex<Core>,
    queue: SchedulingQueue,
    recorder: Recorder,
    writes: Arc<Semaphore>,
}

impl Scheduler {
    fn core(&self) -> std::sync::MutexGuard<'_, Core> {
        // Cache updates are single calls that finish before anything can panic.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs the scheduler with explicit settings until `shutdown`.
pub async fn run_with(client: client::Client, config: SchedulerConfig, shutdown: CancellationToken) {
    let profile = Profile { percentage_of_nodes_to_score: config.percentage_of_nodes_to_score, ..Profile::default() };
    let scheduler = Arc::new(Scheduler {
        client: client.clone(),
        core: Mutex::new(Core { cache: Cache::new(), algorithm: Algorithm::new(profile) }),
        queue: SchedulingQueue::new(config.queue.clone()),
        recorder: Recorder::spawn(client.clone(), DEFAULT_SCHEDULER_NAME),
        writes: Arc::new(Semaphore::new(config.parallel_bindings.max(1))),
    });
    let (nodes_synced, mut nodes_ready) = tokio::sync::watch::channel(false);
    let (pods_synced, mut pods_ready) = tokio::sync::watch::channel(false);
    let node_informer = tokio::spawn(watch_nodes(scheduler.clone(), nodes_synced));
    let pod_informer = tokio::spawn(watch_pods(scheduler.clone(), pods_synced));

    // Deciding before both caches are filled would ignore pods already on nodes.
    let synced = async {
        let _ = nodes_ready.wait_for(|ready| *ready).await;
        let _ = pods_ready.wait_for(|ready| *ready).await;
    };
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = synced => {
            tracing::info!("scheduler caches synced; scheduling");
            loop {
                let popped = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    popped = scheduler.queue.pop() => popped,
                };
                let Some(popped) = popped else { break };
                schedule_one(&scheduler, popped).await;
            }
        }
    }
    scheduler.queue.close();
    node_informer.abort();
    pod_informer.abort();
}

async fn schedule_one(scheduler: &Arc<Scheduler>, popped: queue::Popped) {
    let info = popped.info;
    let key = info.key();
    let decision = {
        let mut core = scheduler.core();
        if core.cache.has_pod(&key) {
            // Bound meanwhile, or assumed and binding: nothing to decide.
            drop(core);
            scheduler.queue.done(&key);
            return;
        }
        let Core { cache, algorithm } = &mut *core;
        let decision = algorithm.schedule(cache, &info);
        if let Ok(node) = &decision {
            cache.assume(info.clone(), node);
        }
        decision
    };
    // Waiting for a permit here is the backpressure that keeps bindings bounded.
    let Ok(permit) = scheduler.writes.clone().acquire_owned().await else { return };
    match decision {
        Ok(node) => {
            scheduler.queue.done(&key);
            let scheduler = scheduler.clone();
            tokio::spawn(async move {
                bind(&scheduler, info, &node).await;
                drop(permit);
            });
        }
        Err(error) => {
            scheduler.queue.unschedulable(&key, popped.cycle);
            let message = error.to_string();
            tracing::debug!(pod = %key, %message, "unschedulable");
            let scheduler = scheduler.clone();
            tokio::spawn(async move {
                record_unschedulable(&scheduler, &info, message).await;
                drop(permit);
            });
        }
    }
}

/// POST `pods/binding` (the DefaultBinder), then the `Scheduled` event.
async fn bind(scheduler: &Scheduler, info: Arc<PodInfo>, node: &str) {
    let pods: Api<Pod> = Api::namespaced(scheduler.client.clone(), &info.namespace);
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": info.name, "namespace": info.namespace, "uid": info.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let reference = pod_reference(&info.namespace, &info.name, &info.uid);
    match pods.create_subresource::<_, Value>("binding", &info.name, &binding).await {
        Ok(_) => scheduler.recorder.record(
            reference,
            "Normal",
            "Scheduled",
            format!("Successfully assigned {}/{} to {node}", info.namespace, info.name),
        ),
        Err(error) => {
            scheduler.core().cache.forget(&info.key());
            if error.is_not_found() {
                scheduler.queue.delete(&info.key());
                return;
            }
            tracing::debug!(pod = %info.key(), %node, %error, "binding failed");
            scheduler.queue.retry(info.clone());
            scheduler.recorder.record(
                reference,
                "Warning",
                "FailedScheduling",
                format!("Binding rejected: {}", error_message(&error)),
            );
        }
    }
}

/// An `ObjectReference` to a pod, for events.
fn pod_reference(namespace: &str, name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        uid: Some(uid.into()).filter(|u: &String| !u.is_empty()),
        ..ObjectReference::default()
    }
}

fn error_message(error: &client::Error) -> String {
    match error {
        client::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// `PodScheduled=False, reason Unschedulable` on the pod (when it changes) and a
/// `FailedScheduling` warning.
async fn record_unschedulable(scheduler: &Scheduler, info: &PodInfo, message: String) {
    scheduler.recorder.record(
        pod_reference(&info.namespace, &info.name, &info.uid),
        "Warning",
        "FailedScheduling",
        message.clone(),
    );
    let wanted = ("False".to_string(), "Unschedulable".to_string(), message.clone());
    if info.scheduled_condition.as_ref() == Some(&wanted) {
        return;
    }
    let pods: Api<Pod> = Api::namespaced(scheduler.client.clone(), &info.namespace);
    let patch = Patch::Strategic(json!({
        "status": {
            "conditions": [{
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": null,
                "lastTransitionTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
            }]
        }
    }));
    if let Err(error) = pods.patch_status(&info.name, &patch).await
        && !error.is_not_found()
    {
        tracing::debug!(pod = %info.key(), %error, "could not set PodScheduled=False");
    }
}

/// The node informer: keeps the cache's nodes current; new or changed nodes give
/// unschedulable pods another chance.
async fn watch_nodes(scheduler: Arc<Scheduler>, synced: tokio::sync::watch::Sender<bool>) {
    let events = watcher::watcher(Api::<Node>::all(scheduler.client.clone()), watcher::Config::default());
    futures::pin_mut!(events);
    let mut relist: Option<HashSet<String>> = None;
    while let Some(event) = events.next().await {
        let changed = match event {
            Ok(Event::Init) => {
                relist = Some(HashSet::new());
                false
            }
            Ok(Event::InitApply(node)) => {
                if let (Some(seen), Some(name)) = (relist.as_mut(), node.metadata.name.as_ref()) {
                    seen.insert(name.clone());
                }
                scheduler.core().cache.upsert_node(&node) != NodeChange::Unchanged
            }
            Ok(Event::InitDone) => {
                if let Some(seen) = relist.take() {
                    let mut core = scheduler.core();
                    for name in core.cache.node_names() {
                        if !seen.contains(&name) {
                            core.cache.remove_node(&name);
                        }
                    }
                }
                synced.send_replace(true);
                true
            }
            Ok(Event::Apply(node)) => scheduler.core().cache.upsert_node(&node) != NodeChange::Unchanged,
            Ok(Event::Delete(node)) => {
                if let Some(name) = node.metadata.name.as_deref() {
                    scheduler.core().cache.remove_node(name);
                }
                false
            }
            Err(error) => {
                tracing::warn!(%error, "scheduler: node watch failed; retrying");
                false
            }
        };
        if changed {
            scheduler.queue.move_all_to_active_or_backoff();
        }
    }
}

/// The pod informer: bound pods go to the cache, pending pods of ours to the queue; a pod
/// leaving a node (deleted or terminal) frees room, so unschedulable pods get another try.
async fn watch_pods(scheduler: Arc<Scheduler>, synced: tokio::sync::watch::Sender<bool>) {
    // As kube-scheduler's informer: terminal pods hold no resources and need no scheduling.
    let config = watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    let events = watcher::watcher(Api::<Pod>::all(scheduler.client.clone()), config);
    futures::pin_mut!(events);
    let mut relist: Option<HashSet<String>> = None;
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => relist = Some(HashSet::new()),
            Ok(Event::InitApply(pod)) => {
                let info = PodInfo::from_pod(&pod);
                if let Some(seen) = relist.as_mut() {
                    seen.insert(info.key());
                }
                apply_pod(&scheduler, info);
            }
            Ok(Event::InitDone) => {
                if let Some(seen) = relist.take()
                    && scheduler.core().cache.retain_pods(&seen)
                {
                    scheduler.queue.move_all_to_active_or_backoff();
                }
                synced.send_replace(true);
            }
            Ok(Event::Apply(pod)) => apply_pod(&scheduler, PodInfo::from_pod(&pod)),
            Ok(Event::Delete(pod)) => {
                let key = pod_key(
                    pod.metadata.namespace.as_deref().unwrap_or_default(),
                    pod.metadata.name.as_deref().unwrap_or_default(),
                );
                pod_gone(&scheduler, &key);
            }
            Err(error) => tracing::warn!(%error, "scheduler: pod watch failed; retrying"),
        }
    }
}

fn apply_pod(scheduler: &Scheduler, info: PodInfo) {
    let key = info.key();
    if info.terminal {
        pod_gone(scheduler, &key);
    } else if !info.node_name.is_empty() {
        scheduler.queue.delete(&key);
        scheduler.core().cache.add_or_update_bound(Arc::new(info));
    } else if info.is_ours() && !info.deleting {
        scheduler.queue.add_or_update(Arc::new(info));
    } else {
        scheduler.queue.delete(&key);
    }
}

fn pod_gone(scheduler: &Scheduler, key: &str) {
    scheduler.queue.delete(key);
    if scheduler.core().cache.remove_pod(key) {
        scheduler.queue.move_all_to_active_or_backoff();
    }
}
