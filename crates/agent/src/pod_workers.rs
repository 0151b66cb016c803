//! Pod workers: one task per pod UID, the single owner of that pod's lifecycle on the node.
//! The dispatcher feeds them from the pod watch (`fieldSelector=spec.nodeName=<node>`),
//! runtime events (a container exited), probe result changes and a periodic relist (the
//! PLEG's), and each worker runs [`pod_sync`] passes with the latest pod it was given; a
//! worker ends once its pod is terminated and gone.
//!
//! The dispatcher never touches containers or statuses itself.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use client::Api;
use client::watcher::{self, Event};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::agent::Context;
use crate::pod_sync::{self, PodState};

/// What a worker is told: the latest pod, whether it is gone from the API, and a counter
/// bumped to ask for a pass without a pod change.
#[derive(Clone)]
struct Update {
    pod: Pod,
    removed: bool,
    generation: u64,
}

/// Finished UIDs remembered so that late watch events do not start a worker again.
const FINISHED_MEMORY: usize = 10_000;
/// A worker with nothing scheduled still looks at its pod this often.
const IDLE_RESYNC: Duration = Duration::from_secs(60);

/// A running worker: how to reach it and its task.
struct Handle {
    updates: watch::Sender<Update>,
    task: JoinHandle<()>,
}

struct Inner {
    context: Arc<Context>,
    workers: Mutex<HashMap<String, Handle>>,
    finished: Mutex<HashSet<String>>,
}

#[derive(Clone)]
pub(crate) struct PodWorkers {
    inner: Arc<Inner>,
}

fn uid_of(pod: &Pod) -> Option<String> {
    pod.metadata.uid.clone().filter(|uid| !uid.is_empty())
}

impl PodWorkers {
    pub fn new(context: Arc<Context>) -> Self {
        PodWorkers {
            inner: Arc::new(Inner {
                context,
                workers: Mutex::new(HashMap::new()),
                finished: Mutex::new(HashSet::new()),
            }),
        }
    }

    fn workers(&self) -> MutexGuard<'_, HashMap<String, Handle>> {
        self.inner.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pod was added or changed: hand it to its worker, starting one if needed.
    fn update(&self, pod: Pod, removed: bool) {
        let Some(uid) = uid_of(&pod) else { return };
        let mut workers = self.workers();
        if let Some(handle) = workers.get(&uid) {
            handle.updates.send_modify(|update| {
                update.pod = pod;
                update.removed |= removed;
                update.generation += 1;
            });
            return;
        }
        if removed || self.inner.finished.lock().unwrap_or_else(PoisonError::into_inner).contains(&uid) {
            return;
        }
        let (updates, receiver) = watch::channel(Update { pod, removed, generation: 0 });
        // The worker removes its own entry when done, which needs this lock: it cannot do
        // so before the entry is inserted.
        let task = tokio::spawn(worker(self.inner.clone(), uid.clone(), receiver));
        workers.insert(uid, Handle { updates, task });
    }

    /// Asks a pod's worker for a pass.
    fn ping(&self, uid: &str) {
        if let Some(handle) = self.workers().get(uid) {
            handle.updates.send_modify(|update| update.generation += 1);
        }
    }

    fn ping_all(&self) {
        for handle in self.workers().values() {
            handle.updates.send_modify(|update| update.generation += 1);
        }
    }

    /// Feeds the workers until aborted: pod watch, runtime events, probe changes, relist.
    pub async fn run(self, mut probe_changes: mpsc::UnboundedReceiver<String>) {
        let context = self.inner.context.clone();
        let pods: Api<Pod> = Api::all(context.client.clone());
        let config = watcher::Config::default().fields(format!("spec.nodeName={}", context.config.node_name));
        let stream = watcher::watcher(pods, config);
        futures::pin_mut!(stream);
        let mut runtime_events = context.runtime.subscribe_events();
        let mut relist = tokio::time::interval(context.config.relist_period);
        relist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The UIDs seen during a (re)list: the others were deleted meanwhile.
        let mut listing: Option<HashSet<String>> = None;
        loop {
            tokio::select! {
                event = stream.next() => match event {
                    Some(Ok(Event::Init)) => listing = Some(HashSet::new()),
                    Some(Ok(Event::InitApply(pod))) => {
                        if let (Some(seen), Some(uid)) = (listing.as_mut(), uid_of(&pod)) {
                            seen.insert(uid);
                        }
                        self.update(pod, false);
                    }
                    Some(Ok(Event::InitDone)) => {
                        if let Some(seen) = listing.take() {
                            let gone: Vec<Pod> = self
                                .workers()
                                .iter()
                                .filter(|(uid, _)| !seen.contains(*uid))
                                .map(|(_, handle)| handle.updates.borrow().pod.clone())
                                .collect();
                            for pod in gone {
                                self.update(pod, true);
                            }
                        }
                    }
                    Some(Ok(Event::Apply(pod))) => self.update(pod, false),
                    Some(Ok(Event::Delete(pod))) => self.update(pod, true),
                    Some(Err(error)) => tracing::warn!(%error, "pod watch failed; the watcher retries"),
                    None => return,
                },
                event = runtime_events.recv() => match event {
                    Ok(event) => self.ping(&event.pod_uid),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.ping_all(),
                    Err(broadcast::error::RecvError::Closed) => {
                        // No more events: the relist alone keeps workers in step.
                        runtime_events = broadcast::channel(1).1;
                    }
                },
                Some(uid) = probe_changes.recv() => self.ping(&uid),
                _ = relist.tick() => self.ping_all(),
            }
        }
    }

    /// Stops every worker in the middle of whatever it does (agent shutdown); containers
    /// keep running.
    pub async fn stop(&self) {
        let tasks: Vec<JoinHandle<()>> = self.workers().drain().map(|(_, handle)| handle.task).collect();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

async fn worker(inner: Arc<Inner>, uid: String, mut updates: watch::Receiver<Update>) {
    let context = inner.context.clone();
    let mut state = PodState::new(&updates.borrow().pod);
    loop {
        let update = updates.borrow_and_update().clone();
        let terminating = update.removed || update.pod.metadata.deletion_timestamp.is_some();
        let wakeup = if terminating {
            if pod_sync::terminate(&context, &mut state, &update.pod, update.removed).await {
                break;
            }
            Some(Duration::from_secs(1))
        } else {
            pod_sync::sync(&context, &mut state, &update.pod).await
        };
        tokio::select! {
            changed = updates.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(wakeup.unwrap_or(IDLE_RESYNC)) => {}
        }
    }
    {
        let mut finished = inner.finished.lock().unwrap_or_else(PoisonError::into_inner);
        if finished.len() >= FINISHED_MEMORY {
            finished.clear();
        }
        finished.insert(uid.clone());
    }
    inner.workers.lock().unwrap_or_else(PoisonError::into_inner).remove(&uid);
}
