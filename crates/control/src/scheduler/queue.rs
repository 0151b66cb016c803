//! The scheduling queue (kube-scheduler's `PriorityQueue`): pending pods wait in
//! - `active`: ready to be tried, highest priority first, then oldest first (PrioritySort);
//! - `backoff`: after a failed attempt, 1 s doubling per attempt up to 10 s;
//! - `unschedulable`: no node fit; they move back (to active, or backoff while it lasts) when
//!   the cluster changes in a way that may help (a node added or changed, a pod gone), and
//!   at the latest after 5 minutes.
//!
//! A pod popped for a cycle is in flight; if the cluster changed during its cycle, a failure
//! sends it to backoff rather than to unschedulable, so the change is not missed.
//! The queue knows nothing of nodes or plugins.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::framework::{PodInfo, PodKey};

/// The queue's timings.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// `podMaxInUnschedulablePodsDuration`.
    pub max_unschedulable_duration: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_unschedulable_duration: Duration::from_secs(300),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Location {
    Active {
        order: (std::cmp::Reverse<i32>, u64),
    },
    Backoff {
        until: Instant,
        seq: u64,
    },
    Unschedulable {
        since: Instant,
    },
    /// Popped for the scheduling cycle with this number.
    InFlight {
        cycle: u64,
    },
}

struct Entry {
    info: Arc<PodInfo>,
    attempts: u32,
    location: Location,
}

#[derive(Default)]
struct State {
    pods: HashMap<PodKey, Entry>,
    active: BTreeSet<((std::cmp::Reverse<i32>, u64), PodKey)>,
    backoff: BTreeSet<(Instant, u64, PodKey)>,
    seq: u64,
    cycle: u64,
    /// The cycle number current when the cluster last changed.
    move_cycle: u64,
    closed: bool,
}

/// A pod handed out for a scheduling cycle.
#[derive(Clone, Debug)]
pub struct Popped {
    pub info: Arc<PodInfo>,
    pub cycle: u64,
    pub attempts: u32,
}

pub struct SchedulingQueue {
    state: Mutex<State>,
    wake: Notify,
    config: QueueConfig,
}

impl SchedulingQueue {
    pub fn new(config: QueueConfig) -> SchedulingQueue {
        SchedulingQueue { state: Mutex::new(State::default()), wake: Notify::new(), config }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every mutation keeps the sets and the map consistent before it can panic, so a
        // poisoned lock still guards a usable state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pods known to the queue, wherever they wait (for metrics and tests).
    pub fn len(&self) -> usize {
        self.lock().pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts of (active, backoff, unschedulable, in flight).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let state = self.lock();
        let unschedulable =
            state.pods.values().filter(|e| matches!(e.location, Location::Unschedulable { .. })).count();
        let in_flight = state.pods.values().filter(|e| matches!(e.location, Location::InFlight { .. })).count();
        (state.active.len(), state.backoff.len(), unschedulable, in_flight)
    }

    /// A new pending pod, or a new version of one.
    pub fn add_or_update(&self, info: Arc<PodInfo>) {
        let key = info.key();
        let mut state = self.lock();
        let now = Instant::now();
        match state.pods.get_mut(&key) {
            None => {
                let location = push_active(&mut state, &key, info.priority);
                state.pods.insert(key, Entry { info, attempts: 0, location });
                drop(state);
                self.wake.notify_one();
            }
            Some(entry) => {
                let changed = !entry.info.same_scheduling_inputs(&info);
                let priority_changed = entry.info.priority != info.priority;
                entry.info = info;
                let location = entry.location;
                let priority = entry.info.priority;
                match location {
                    Location::Unschedulable { .. } if changed => {
                        self.requeue(&mut state, &key, now);
                        drop(state);
                        self.wake.notify_one();
                    }
                    Location::Active { order } if priority_changed => {
                        state.active.remove(&(order, key.clone()));
                        let location = push_active(&mut state, &key, priority);
                        if let Some(entry) = state.pods.get_mut(&key) {
                            entry.location = location;
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The pod is gone, bound by someone else, or no longer ours.
    pub fn delete(&self, key: &str) {
        let mut state = self.lock();
        if let Some(entry) = state.pods.remove(key) {
            remove_from_sets(&mut state, key, entry.location);
        }
    }

    /// The next pod to schedule; waits for one. `None` once closed.
    pub async fn pop(&self) -> Option<Popped> {
        loop {
            let notified = self.wake.notified();
            let wait = {
                let mut state = self.lock();
                if state.closed {
                    return None;
                }
                let now = Instant::now();
                self.flush(&mut state, now);
                if let Some((order, key)) = state.active.pop_first() {
                    let _ = order;
                    state.cycle += 1;
                    let cycle = state.cycle;
                    if let Some(entry) = state.pods.get_mut(&key) {
                        entry.location = Location::InFlight { cycle };
                        return Some(Popped { info: entry.info.clone(), cycle, attempts: entry.attempts });
                    }
                    continue;
                }
                // Sleep until the first backoff ends (or 1 s, to flush long-unschedulable pods).
                state
                    .backoff
                    .first()
                    .map(|(until, _, _)| until.saturating_duration_since(now))
                    .unwrap_or(Duration::from_secs(1))
            };
            let _ = tokio::time::timeout(wait.max(Duration::from_millis(1)), notified).await;
        }
    }

    /// Ends `pop` for good.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    /// The pod was bound (or assumed and handed to a binder): it leaves the queue.
    pub fn done(&self, key: &str) {
        self.delete(key);
    }

    /// No node fit the pod in cycle `cycle`.
    pub fn unschedulable(&self, key: &str, cycle: u64) {
        let mut state = self.lock();
        let moved_since = state.move_cycle >= cycle;
        let Some(entry) = state.pods.get_mut(key) else { return };
        entry.attempts += 1;
        if moved_since {
            self.to_backoff(&mut state, key, Instant::now());
        } else if let Some(entry) = state.pods.get_mut(key) {
            entry.location = Location::Unschedulable { since: Instant::now() };
        }
        drop(state);
        self.wake.notify_one();
    }

    /// The attempt failed for another reason (a binding error): retry after backoff. A pod
    /// the queue no longer holds (bound, deleted) is added back only if `info` is given.
    pub fn retry(&self, info: Arc<PodInfo>) {
        let key = info.key();
        let mut state = self.lock();
        let now = Instant::now();
        match state.pods.get_mut(&key) {
            Some(entry) => {
                entry.attempts += 1;
                let location = entry.location;
                remove_from_sets(&mut state, &key, location);
            }
            None => {
                state.pods.insert(key.clone(), Entry { info, attempts: 1, location: Location::InFlight { cycle: 0 } });
            }
        }
        self.to_backoff(&mut state, &key, now);
        drop(state);
        self.wake.notify_one();
    }

    /// The cluster changed in a way that may let unschedulable pods fit.
    pub fn move_all_to_active_or_backoff(&self) {
        let mut state = self.lock();
        state.move_cycle = state.cycle;
        let now = Instant::now();
        let waiting: Vec<PodKey> = state
            .pods
            .iter()
            .filter(|(_, e)| matches!(e.location, Location::Unschedulable { .. }))
            .map(|(k, _)| k.clone())
            .collect();
        if waiting.is_empty() {
            return;
        }
        for key in waiting {
            self.requeue(&mut state, &key, now);
        }
        drop(state);
        self.wake.notify_one();
    }

    fn backoff_duration(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(16);
        self.config.initial_backoff.saturating_mul(1 << doublings).min(self.config.max_backoff)
    }

    fn to_backoff(&self, state: &mut State, key: &str, now: Instant) {
        let Some(entry) = state.pods.get(key) else { return };
        let until = now + self.backoff_duration(entry.attempts);
        state.seq += 1;
        let seq = state.seq;
        state.backoff.insert((until, seq, key.to_string()));
        if let Some(entry) = state.pods.get_mut(key) {
            entry.location = Location::Backoff { until, seq };
        }
    }

    /// From unschedulable to backoff (if its backoff has not ended yet) or active.
    fn requeue(&self, state: &mut State, key: &str, now: Instant) {
        let Some(entry) = state.pods.get(key) else { return };
        let location = entry.location;
        let priority = entry.info.priority;
        // The backoff counts from the failed attempt, which was when it became unschedulable.
        let backoff_end = match location {
            Location::Unschedulable { since } => since + self.backoff_duration(entry.attempts),
            _ => now,
        };
        remove_from_sets(state, key, location);
        if backoff_end > now {
            state.seq += 1;
            let seq = state.seq;
            state.backoff.insert((backoff_end, seq, key.to_string()));
            if let Some(entry) = state.pods.get_mut(key) {
                entry.location = Location::Backoff { until: backoff_end, seq };
            }
        } else {
            let location = push_active(state, key, priority);
            if let Some(entry) = state.pods.get_mut(key) {
                entry.location = location;
            }
        }
    }

    /// Ended backoffs go active; pods unschedulable for too long get another try.
    fn flush(&self, state: &mut State, now: Instant) {
        while let Some((until, _, _)) = state.backoff.first() {
            if *until > now {
                break;
            }
            let Some((_, _, key)) = state.backoff.pop_first() else { break };
            let Some(priority) = state.pods.get(&key).map(|e| e.info.priority) else { continue };
            let location = push_active(state, &key, priority);
            if let Some(entry) = state.pods.get_mut(&key) {
                entry.location = location;
            }
        }
        let limit = self.config.max_unschedulable_duration;
        let stale: Vec<PodKey> = state
            .pods
            .iter()
            .filter(
                |(_, e)| matches!(e.location, Location::Unschedulable { since } if now.duration_since(since) >= limit),
            )
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.requeue(state, &key, now);
        }
    }
}

fn push_active(state: &mut State, key: &str, priority: i32) -> Location {
    state.seq += 1;
    let order = (std::cmp::Reverse(priority), state.seq);
    state.active.insert((order, key.to_string()));
    Location::Active { order }
}

fn remove_from_sets(state: &mut State, key: &str, location: Location) {
    match location {
        Location::Active { order } => {
            state.active.remove(&(order, key.to_string()));
        }
        Location::Backoff { until, seq } => {
            state.backoff.remove(&(until, seq, key.to_string()));
        }
        Location::Unschedulable { .. } | Location::InFlight { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, priority: i32) -> Arc<PodInfo> {
        Arc::new(PodInfo { namespace: "ns".into(), name: name.into(), priority, ..PodInfo::default() })
    }

    fn fast() -> QueueConfig {
        QueueConfig {
            initial_backoff: Duration::from_millis(40),
            max_backoff: Duration::from_millis(100),
            max_unschedulable_duration: Duration::from_secs(60),
        }
    }

    async fn pop_now(queue: &SchedulingQueue) -> Option<Popped> {
        tokio::time::timeout(Duration::from_millis(10), queue.pop()).await.ok().flatten()
    }

    #[tokio::test]
    async fn active_pods_pop_by_priority_then_age() {
        let queue = SchedulingQueue::new(fast());
        queue.add_or_update(info("low-old", 0));
        queue.add_or_update(info("high", 10));
        queue.add_or_update(info("low-new", 0));
        let order: Vec<String> = [pop_now(&queue).await, pop_now(&queue).await, pop_now(&queue).await]
            .into_iter()
            .map(|p| p.map(|p| p.info.name.clone()).unwrap_or_default())
            .collect();
        assert_eq!(order, ["high", "low-old", "low-new"]);
        assert!(pop_now(&queue).await.is_none());
    }

    #[tokio::test]
    async fn unschedulable_pods_wait_for_a_cluster_change() {
        let queue = SchedulingQueue::new(fast());
        queue.add_or_update(info("p", 0));
        let popped = pop_now(&queue).await.expect("pod");
        queue.unschedulable("ns/p", popped.cycle);
        assert_eq!(queue.counts(), (0, 0, 1, 0));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(pop_now(&queue).await.is_none(), "stays unschedulable without a change");
        // A status-only update changes nothing; a spec change retries.
        queue.add_or_update(info("p", 0));
        assert_eq!(queue.counts(), (0, 0, 1, 0));
        queue.move_all_to_active_or_backoff();
        let again = pop_now(&queue).await.expect("moved to active after its backoff ended");
        assert_eq!(again.attempts, 1);
    }

    #[tokio::test]
    async fn a_change_during_the_cycle_sends_the_pod_to_backoff() {
        let queue = SchedulingQueue::new(fast());
        queue.add_or_update(info("p", 0));
        let popped = pop_now(&queue).await.expect("pod");
        queue.move_all_to_active_or_backoff();
        queue.unschedulable("ns/p", popped.cycle);
        assert_eq!(queue.counts(), (0, 1, 0, 0));
        let started = Instant::now();
        let again = tokio::time::timeout(Duration::from_secs(2), queue.pop()).await.ok().flatten().expect("retried");
        assert!(started.elapsed() >= Duration::from_millis(30), "{:?}", started.elapsed());
        assert_eq!(again.info.name, "p");
    }

    #[tokio::test]
    async fn backoff_doubles_to_the_cap() {
        let queue = SchedulingQueue::new(QueueConfig::default());
        let durations: Vec<u64> = (1..=6).map(|a| queue.backoff_duration(a).as_secs()).collect();
        assert_eq!(durations, [1, 2, 4, 8, 10, 10]);
    }

    #[tokio::test]
    async fn retry_and_delete() {
        let queue = SchedulingQueue::new(fast());
        queue.add_or_update(info("p", 0));
        let popped = pop_now(&queue).await.expect("pod");
        queue.done("ns/p");
        assert!(queue.is_empty());
        // A failed binding brings it back after a backoff.
        queue.retry(popped.info.clone());
        assert_eq!(queue.counts(), (0, 1, 0, 0));
        let again = tokio::time::timeout(Duration::from_secs(2), queue.pop()).await.ok().flatten().expect("retried");
        assert_eq!(again.attempts, 1);
        queue.delete("ns/p");
        assert!(queue.is_empty());
        queue.close();
        assert!(queue.pop().await.is_none());
    }
}
