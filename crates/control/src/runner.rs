//! The controller runner, in the shape of client-go's informer + workqueue and kube-rs'
//! `Controller`: [`Informer`]s keep reflector caches of a collection and tell handlers what
//! changed (with the previous cached state, so handlers can compare old and new); handlers
//! turn changes into keys on a deduplicating [`WorkQueue`]; [`run_workers`] pops keys and calls
//! `reconcile(key) -> Result<Action>`, retrying failures per key with exponential backoff
//! (5 ms doubling, capped) and honouring `Action::requeue_after`; [`resync`] re-adds every
//! primary key periodically, so a lost event only delays convergence.
//!
//! It owns scheduling of reconciles only: no controller logic, and no writes to the API.
//! A key is never reconciled by two workers at once (client-go's processing/dirty sets).

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use client::reflector::{ObjectKey, Store, Writer};
use client::{Api, Object, watcher};
use futures::StreamExt;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a reconcile failed on; the key is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] client::Error),
    /// The object cannot be acted on as it is (e.g. an invalid selector); retried anyway,
    /// since a later update may fix it.
    #[error("{0}")]
    Invalid(String),
    /// A cache the reconcile needs has not finished its first list.
    #[error("caches not synced yet")]
    NotSynced,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a successful reconcile asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Action {
    pub requeue_after: Option<Duration>,
}

impl Action {
    /// Nothing more until something changes (or the periodic resync).
    pub fn await_change() -> Self {
        Action { requeue_after: None }
    }

    /// Reconcile again after `delay` even if nothing changes (time-based conditions).
    pub fn requeue(delay: Duration) -> Self {
        Action { requeue_after: Some(delay) }
    }

    /// The sooner of two requests.
    pub fn min(self, other: Action) -> Action {
        match (self.requeue_after, other.requeue_after) {
            (Some(a), Some(b)) => Action::requeue(a.min(b)),
            (a, b) => Action { requeue_after: a.or(b) },
        }
    }
}

/// Per-key retry delays after failures: `base * 2^(failures-1)`, capped at `max`
/// (client-go's `ItemExponentialFailureRateLimiter`, 5 ms to 1000 s; we cap lower by
/// default so a controller recovers within a minute of a fixed cause).
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_millis(5), max: Duration::from_secs(60) }
    }
}

impl Backoff {
    /// The delay before the `failures`-th retry (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(40);
        let factor = 1u64 << exponent;
        let nanos = (self.base.as_nanos() as u64).saturating_mul(factor);
        Duration::from_nanos(nanos).min(self.max)
    }
}

struct QueueState<K> {
    queue: VecDeque<K>,
    /// Keys waiting to be processed (queued, or re-added while processing).
    dirty: HashSet<K>,
    processing: HashSet<K>,
    failures: HashMap<K, u32>,
    /// The earliest pending delayed add per key.
    waiting: HashMap<K, Instant>,
    shut_down: bool,
}

struct QueueShared<K> {
    state: Mutex<QueueState<K>>,
    notify: Notify,
    backoff: Backoff,
}

/// A deduplicating work queue: a key queued several times before a worker takes it is
/// reconciled once; a key re-added while being reconciled runs again after that reconcile.
pub struct WorkQueue<K> {
    shared: Arc<QueueShared<K>>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue { shared: self.shared.clone() }
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new(Backoff::default())
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueue<K> {
    pub fn new(backoff: Backoff) -> Self {
        let state = QueueState {
            queue: VecDeque::new(),
            dirty: HashSet::new(),
            processing: HashSet::new(),
            failures: HashMap::new(),
            waiting: HashMap::new(),
            shut_down: false,
        };
        WorkQueue { shared: Arc::new(QueueShared { state: Mutex::new(state), notify: Notify::new(), backoff }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<K>> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn add(&self, key: K) {
        let mut state = self.lock();
        if state.shut_down || state.dirty.contains(&key) {
            return;
        }
        state.dirty.insert(key.clone());
        if state.processing.contains(&key) {
            return;
        }
        state.queue.push_back(key);
        drop(state);
        self.shared.notify.notify_one();
    }

    /// Adds `key` after `delay`; of several pending delayed adds of a key only the earliest
    /// stays.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let deadline = Instant::now() + delay;
        {
            let mut state = self.lock();
            if state.shut_down {
                return;
            }
            match state.waiting.get(&key) {
                Some(existing) if *existing <= deadline => return,
                _ => {
                    state.waiting.insert(key.clone(), deadline);
                }
            }
        }
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            let due = {
                let mut state = queue.lock();
                // A later, earlier deadline for the same key replaced ours: it adds the key.
                if state.waiting.get(&key) == Some(&deadline) {
                    state.waiting.remove(&key);
                    true
                } else {
                    false
                }
            };
            if due {
                queue.add(key);
            }
        });
    }

    /// Adds `key` after its backoff delay, counting one more failure.
    pub fn add_rate_limited(&self, key: K) {
        let failures = {
            let mut state = self.lock();
            let failures = state.failures.entry(key.clone()).or_insert(0);
            *failures += 1;
            *failures
        };
        self.add_after(key, self.shared.backoff.delay(failures));
    }

    /// Clears the failure count of `key` (after a success).
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    pub fn failures(&self, key: &K) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// The next key to reconcile; `None` once shut down.
    pub async fn get(&self) -> Option<K> {
        loop {
            let notified = self.shared.notify.notified();
            {
                let mut state = self.lock();
                if state.shut_down {
                    return None;
                }
                if let Some(key) = state.queue.pop_front() {
                    state.dirty.remove(&key);
                    state.processing.insert(key.clone());
                    // More work may remain for other idle workers.
                    if !state.queue.is_empty() {
                        self.shared.notify.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Marks `key` as no longer being reconciled; re-queues it if it was added meanwhile.
    pub fn done(&self, key: &K) {
        let mut state = self.lock();
        state.processing.remove(key);
        if state.dirty.contains(key) {
            state.queue.push_back(key.clone());
            drop(state);
            self.shared.notify.notify_one();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.shared.notify.notify_waiters();
    }
}

/// A change seen by an [`Informer`]: the previous cached state comes along with updates.
pub enum Change<'a, K> {
    Applied { old: Option<&'a K>, new: &'a K },
    Deleted(&'a K),
}

type Handler<K> = Box<dyn FnMut(&Change<'_, K>) + Send>;

/// A reflector cache of one collection plus the handlers told about each change, as
/// client-go's shared informer. Register handlers, then [`Informer::spawn`].
pub struct Informer<K: Object> {
    api: Api<K>,
    config: watcher::Config,
    writer: Writer<K>,
    handlers: Vec<Handler<K>>,
    /// Applied to each object before it is cached (e.g. keep only metadata).
    transform: Option<Box<dyn Fn(K) -> K + Send>>,
}

impl<K: Object> Informer<K> {
    pub fn new(api: Api<K>, config: watcher::Config) -> Self {
        Informer { api, config, writer: Writer::default(), handlers: Vec::new(), transform: None }
    }

    pub fn store(&self) -> Store<K> {
        self.writer.store()
    }

    pub fn on_change(&mut self, handler: impl FnMut(&Change<'_, K>) + Send + 'static) {
        self.handlers.push(Box::new(handler));
    }

    /// Indexes the cache (see [`client::reflector::Store::by_index`]).
    pub fn add_index(&mut self, name: &'static str, func: client::reflector::IndexFunc<K>) {
        self.writer.add_index(name, func);
    }

    pub fn transform(&mut self, transform: impl Fn(K) -> K + Send + 'static) {
        self.transform = Some(Box::new(transform));
    }

    /// Runs the watch until `shutdown`. Relists are turned into updates for objects seen
    /// again and deletions for objects that vanished while the watch was broken.
    pub fn spawn(self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let Informer { api, config, mut writer, mut handlers, transform } = self;
        let store = writer.store();
        let collection = format!("{api:?}");
        tokio::spawn(async move {
            let events = watcher::watcher(api, config);
            futures::pin_mut!(events);
            let mut relisted: Option<HashSet<ObjectKey>> = None;
            loop {
                let event = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    event = events.next() => match event { Some(event) => event, None => return },
                };
                let event = match event {
                    Ok(event) => event,
                    Err(error) => {
                        tracing::debug!(%collection, %error, "watch failed; retrying");
                        continue;
                    }
                };
                let event = match (event, &transform) {
                    (watcher::Event::Apply(o), Some(t)) => watcher::Event::Apply(t(o)),
                    (watcher::Event::InitApply(o), Some(t)) => watcher::Event::InitApply(t(o)),
                    (watcher::Event::Delete(o), Some(t)) => watcher::Event::Delete(t(o)),
                    (event, _) => event,
                };
                match &event {
                    watcher::Event::Init => {
                        relisted = Some(HashSet::new());
                        writer.apply_watcher_event(&event);
                    }
                    watcher::Event::InitApply(new) | watcher::Event::Apply(new) => {
                        let key = ObjectKey::of(new);
                        if let (Some(seen), Some(key), watcher::Event::InitApply(_)) = (&mut relisted, &key, &event) {
                            seen.insert(key.clone());
                        }
                        let old = key.as_ref().and_then(|k| store.get_key(k));
                        if matches!(event, watcher::Event::Apply(_)) {
                            writer.apply_watcher_event(&event);
                        }
                        // Relisted objects are compared against the old view (still cached
                        // until InitDone) and reported as updates.
                        let change = Change::Applied { old: old.as_deref(), new };
                        handlers.iter_mut().for_each(|h| h(&change));
                        if matches!(event, watcher::Event::InitApply(_)) {
                            writer.apply_watcher_event(&event);
                        }
                    }
                    watcher::Event::Delete(old) => {
                        writer.apply_watcher_event(&event);
                        let change = Change::Deleted(old);
                        handlers.iter_mut().for_each(|h| h(&change));
                    }
                    watcher::Event::InitDone => {
                        let seen = relisted.take().unwrap_or_default();
                        let vanished: Vec<_> = store
                            .list()
                            .into_iter()
                            .filter(|o| ObjectKey::of(o.as_ref()).is_some_and(|k| !seen.contains(&k)))
                            .collect();
                        writer.apply_watcher_event(&event);
                        for old in vanished {
                            let change = Change::Deleted(old.as_ref());
                            handlers.iter_mut().for_each(|h| h(&change));
                        }
                    }
                }
            }
        })
    }
}

/// Re-adds every key of `store` to `queue` each `period` (client-go's resync), until
/// `shutdown`.
pub fn resync<K: Object>(
    store: Store<K>,
    queue: WorkQueue<ObjectKey>,
    period: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            for object in store.list() {
                if let Some(key) = ObjectKey::of(object.as_ref()) {
                    queue.add(key);
                }
            }
        }
    })
}

/// Runs `workers` concurrent reconcile loops on `queue` until `shutdown`. Failures are
/// logged and retried with backoff; successes forget the failure count and may ask for a
/// later requeue.
pub async fn run_workers<Q, F, Fut>(
    name: &'static str,
    queue: WorkQueue<Q>,
    workers: usize,
    reconcile: F,
    shutdown: CancellationToken,
) where
    Q: Clone + Eq + Hash + Send + Sync + std::fmt::Debug + 'static,
    F: Fn(Q) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Action>> + Send + 'static,
{
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let reconcile = reconcile.clone();
        let shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let key = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    key = queue.get() => match key { Some(key) => key, None => return },
                };
                let result = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    result = reconcile(key.clone()) => result,
                };
                match result {
                    Ok(action) => {
                        tracing::trace!(controller = name, ?key, ?action, "reconciled");
                        queue.forget(&key);
                        if let Some(delay) = action.requeue_after {
                            queue.add_after(key.clone(), delay);
                        }
                    }
                    Err(error) => {
                        let failures = queue.failures(&key);
                        // Conflicts are routine with optimistic concurrency: quieter.
                        if failures < 3 {
                            tracing::debug!(controller = name, ?key, %error, "reconcile failed; retrying");
                        } else {
                            tracing::warn!(controller = name, ?key, %error, "reconcile failed; retrying");
                        }
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        }));
    }
    shutdown.cancelled().await;
    queue.shut_down();
    for task in tasks {
        let _ = task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_5ms_to_the_cap() {
        let backoff = Backoff { base: Duration::from_millis(5), max: Duration::from_secs(1000) };
        assert_eq!(backoff.delay(1), Duration::from_millis(5));
        assert_eq!(backoff.delay(2), Duration::from_millis(10));
        assert_eq!(backoff.delay(5), Duration::from_millis(80));
        assert_eq!(backoff.delay(30), Duration::from_secs(1000));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(1000));
    }

    #[test]
    fn action_min_takes_the_sooner_requeue() {
        let a = Action::requeue(Duration::from_secs(3));
        assert_eq!(a.min(Action::await_change()), a);
        assert_eq!(Action::await_change().min(a), a);
        assert_eq!(a.min(Action::requeue(Duration::from_secs(1))), Action::requeue(Duration::from_secs(1)));
        assert_eq!(Action::await_change().min(Action::await_change()), Action::await_change());
    }

    #[tokio::test]
    async fn queue_deduplicates_and_requeues_keys_added_while_processing() {
        let queue = WorkQueue::<&'static str>::default();
        queue.add("a");
        queue.add("b");
        queue.add("a");
        assert_eq!(queue.len(), 2);
        let first = queue.get().await;
        assert_eq!(first, Some("a"));
        // Re-added while processing: not handed to another worker now...
        queue.add("a");
        assert_eq!(queue.get().await, Some("b"));
        assert!(queue.is_empty());
        // ...but queued again when the first reconcile finishes.
        queue.done(&"a");
        assert_eq!(queue.get().await, Some("a"));
        queue.done(&"a");
        queue.done(&"b");
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn delayed_and_rate_limited_adds() {
        let queue = WorkQueue::<u32>::new(Backoff { base: Duration::from_millis(5), max: Duration::from_millis(20) });
        queue.add_after(1, Duration::from_secs(30));
        queue.add_after(1, Duration::from_millis(50));
        assert!(queue.is_empty());
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.get().await, Some(1));
        queue.done(&1);

        for expected in [1, 2, 3, 4] {
            queue.add_rate_limited(7);
            assert_eq!(queue.failures(&7), expected);
            let started = Instant::now();
            assert_eq!(queue.get().await, Some(7));
            let waited = started.elapsed();
            let want = Duration::from_millis(5 * (1 << (expected - 1))).min(Duration::from_millis(20));
            assert!(waited >= want, "{waited:?} vs {want:?}");
            queue.done(&7);
        }
        queue.forget(&7);
        assert_eq!(queue.failures(&7), 0);
    }

    #[tokio::test]
    async fn workers_retry_failures_and_stop_on_shutdown() {
        let queue = WorkQueue::<u32>::default();
        let attempts = Arc::new(Mutex::new(0u32));
        let shutdown = CancellationToken::new();
        let counted = attempts.clone();
        let stop = shutdown.clone();
        let workers = tokio::spawn(run_workers(
            "test",
            queue.clone(),
            2,
            move |_key: u32| {
                let counted = counted.clone();
                let stop = stop.clone();
                async move {
                    let n = {
                        let mut n = counted.lock().unwrap_or_else(PoisonError::into_inner);
                        *n += 1;
                        *n
                    };
                    if n < 3 {
                        return Err(Error::Invalid("not yet".into()));
                    }
                    stop.cancel();
                    Ok(Action::await_change())
                }
            },
            shutdown.clone(),
        ));
        queue.add(1);
        tokio::time::timeout(Duration::from_secs(5), workers).await.expect("workers stop").expect("join");
        assert_eq!(*attempts.lock().unwrap_or_else(PoisonError::into_inner), 3);
    }
}
