//! Kubernetes Events recorded by the scheduler and the controllers (`Scheduled`,
//! `FailedScheduling`, `SuccessfulCreate`, `ScalingReplicaSet`, `NodeNotReady`, ...), as
//! client-go's `record.EventRecorder` with its default `EventCorrelator` does:
//!
//! - events go through a queue of 1,000 that drops what does not fit, so recording never
//!   fails or delays the caller;
//! - an event seen again (same source, object, type, reason and message) patches the `count`,
//!   `lastTimestamp` and `message` of the Event already written instead of creating another;
//! - similar events (the same but for the message) more than 10 times within 10 minutes are
//!   combined into one Event, `(combined from similar events): <message>`, whose count grows;
//! - a source may record a burst of 25 events about one object, then one every 5 minutes (a
//!   token bucket per source and object); the rest are dropped. A ReplicaSet creating 1,000
//!   pods records 10 `SuccessfulCreate` Events plus one combined Event, not 1,000.
//!
//! Owns only the delivery and correlation of events; callers decide what to say.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{Api, Patch};
use hashlink::LruCache;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

/// client-go's `maxQueuedEvents`.
const MAX_QUEUED_EVENTS: usize = 1000;
/// Event writes in flight at once.
const PARALLEL_WRITES: usize = 16;
/// client-go's `maxLruCacheEntries`, for each of the correlator's three caches.
const LRU_ENTRIES: usize = 4096;
/// client-go's `defaultAggregateMaxEvents` and `defaultAggregateIntervalInSeconds`.
const AGGREGATE_MAX_EVENTS: usize = 10;
const AGGREGATE_INTERVAL: Duration = Duration::from_secs(600);
/// client-go's `defaultSpamBurst` and `defaultSpamQPS` (one token every 300 s).
const SPAM_BURST: f64 = 25.0;
const SPAM_REFILL: Duration = Duration::from_secs(300);
/// client-go's `EventAggregatorByReasonMessageFunc` prefix.
const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// A cheap handle to the delivery task of one component.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Event>,
    component: Arc<str>,
}

impl Recorder {
    /// Starts the delivery task; it ends when every `Recorder` clone is dropped.
    pub fn spawn(client: client::Client, component: &str) -> Recorder {
        let (tx, rx) = mpsc::channel(MAX_QUEUED_EVENTS);
        tokio::spawn(deliver(client, rx));
        Recorder { tx, component: component.into() }
    }

    /// Queues a `Normal` or `Warning` event about `object`, in the object's namespace
    /// (`default` for cluster-scoped objects, as Kubernetes does). Dropped, with a debug log,
    /// when the queue is full.
    pub fn record(&self, object: ObjectReference, type_: &str, reason: &str, message: String) {
        let now = jiff::Timestamp::now();
        let namespace = object.namespace.clone().unwrap_or_else(|| "default".into());
        let name = format!("{}.{:x}", object.name.as_deref().unwrap_or(""), now.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta { name: Some(name), namespace: Some(namespace), ..ObjectMeta::default() },
            involved_object: object,
            reason: Some(reason.into()),
            message: Some(message),
            source: Some(EventSource { component: Some(self.component.to_string()), host: None }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            type_: Some(type_.into()),
            reporting_component: Some(self.component.to_string()),
            reporting_instance: Some(self.component.to_string()),
            ..Event::default()
        };
        if let Err(error) = self.tx.try_send(event) {
            tracing::debug!(%error, "event dropped");
        }
    }
}

/// A reference to an object for [`Recorder::record`].
pub fn reference(api_version: &str, kind: &str, meta: &ObjectMeta) -> ObjectReference {
    ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..ObjectReference::default()
    }
}

/// Writes correlated events: creates, or patches the Event a repeat belongs to (and creates
/// it if it has expired or was deleted meanwhile). Writes of different Events run in
/// parallel; writes of one Event run in order, so its count only grows.
async fn deliver(client: client::Client, mut rx: mpsc::Receiver<Event>) {
    let writes = Arc::new(Semaphore::new(PARALLEL_WRITES));
    let mut correlator = Correlator::default();
    let mut last_write: HashMap<String, JoinHandle<()>> = HashMap::new();
    while let Some(event) = rx.recv().await {
        let Some(event) = correlator.correlate(event, Instant::now()) else { continue };
        let Ok(permit) = writes.clone().acquire_owned().await else { return };
        let events: Api<Event> = Api::namespaced(client.clone(), event.metadata.namespace.as_deref().unwrap_or(""));
        let name = event.metadata.name.clone().unwrap_or_default();
        if last_write.len() >= LRU_ENTRIES {
            last_write.retain(|_, write| !write.is_finished());
        }
        let previous = last_write.remove(&name);
        let write = tokio::spawn(async move {
            let _permit = permit;
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            write_event(&events, &event).await;
        });
        last_write.insert(name, write);
    }
}

async fn write_event(events: &Api<Event>, event: &Event) {
    if event.count.unwrap_or(1) > 1 {
        let patch = Patch::Strategic(json!({
            "count": event.count,
            "lastTimestamp": event.last_timestamp,
            "message": event.message,
        }));
        match events.patch(event.metadata.name.as_deref().unwrap_or(""), &patch).await {
            Ok(_) => return,
            Err(error) if error.is_not_found() => {}
            Err(error) => {
                tracing::debug!(%error, "event update failed");
                return;
            }
        }
    }
    if let Err(error) = events.create(event).await {
        tracing::debug!(%error, "event not recorded");
    }
}

/// client-go's `EventCorrelator`: aggregation of similar events, counting of repeats, and
/// the per-object spam filter, in that order.
struct Correlator {
    /// Aggregate key -> the distinct messages seen and when the last one was.
    aggregates: LruCache<String, Aggregate>,
    /// Event key -> the Event written for it (`eventLogger`).
    observed: LruCache<String, Observation>,
    /// Spam key (source and object) -> its token bucket.
    buckets: LruCache<String, TokenBucket>,
}

impl Default for Correlator {
    fn default() -> Self {
        Correlator {
            aggregates: LruCache::new(LRU_ENTRIES),
            observed: LruCache::new(LRU_ENTRIES),
            buckets: LruCache::new(LRU_ENTRIES),
        }
    }
}

struct Aggregate {
    messages: HashSet<String>,
    last: Instant,
}

struct Observation {
    count: i32,
    first_timestamp: Option<Time>,
    name: Option<String>,
}

struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    fn try_accept(&mut self, now: Instant) -> bool {
        let refilled = now.saturating_duration_since(self.updated).as_secs_f64() / SPAM_REFILL.as_secs_f64();
        self.tokens = (self.tokens + refilled).min(SPAM_BURST);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Correlator {
    /// The event to write (a repeat carries `count > 1` and the name of the Event to patch),
    /// or `None` when the spam filter drops it.
    fn correlate(&mut self, event: Event, now: Instant) -> Option<Event> {
        let (event, key) = self.aggregate(event, now);
        let event = self.observe(event, key);
        self.spam_filter_accepts(&event, now).then_some(event)
    }

    /// `EventAggregate`: below the threshold of distinct messages the event passes as it is;
    /// from the threshold on, it becomes the combined event, keyed by its group.
    fn aggregate(&mut self, event: Event, now: Instant) -> (Event, String) {
        let event_key = event_key(&event);
        let aggregate_key = aggregate_key(&event);
        let message = event.message.clone().unwrap_or_default();
        let fresh = |aggregate: &Aggregate| now.saturating_duration_since(aggregate.last) <= AGGREGATE_INTERVAL;
        if !self.aggregates.get(&aggregate_key).is_some_and(fresh) {
            self.aggregates.insert(aggregate_key.clone(), Aggregate { messages: HashSet::new(), last: now });
        }
        let aggregate = self.aggregates.get_mut(&aggregate_key).expect("just inserted");
        aggregate.messages.insert(message.clone());
        aggregate.last = now;
        if aggregate.messages.len() < AGGREGATE_MAX_EVENTS {
            return (event, event_key);
        }
        // Keep the set at the threshold, as client-go's PopAny does.
        if let Some(any) = aggregate.messages.iter().next().cloned() {
            aggregate.messages.remove(&any);
        }
        let timestamp = Time(jiff::Timestamp::now());
        let combined = Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}",
                    event.involved_object.name.as_deref().unwrap_or(""),
                    timestamp.0.as_nanosecond()
                )),
                namespace: event.metadata.namespace.clone(),
                ..ObjectMeta::default()
            },
            count: Some(1),
            first_timestamp: Some(timestamp.clone()),
            last_timestamp: Some(timestamp),
            message: Some(format!("{COMBINED_PREFIX}{message}")),
            ..event
        };
        (combined, aggregate_key)
    }

    /// `eventObserve`: a key seen before turns the event into the next count of the Event
    /// already written under it.
    fn observe(&mut self, mut event: Event, key: String) -> Event {
        if let Some(last) = self.observed.get(&key)
            && last.count > 0
        {
            event.metadata.name = last.name.clone();
            event.first_timestamp = last.first_timestamp.clone();
            event.count = Some(last.count + 1);
        }
        let observation = Observation {
            count: event.count.unwrap_or(1),
            first_timestamp: event.first_timestamp.clone(),
            name: event.metadata.name.clone(),
        };
        self.observed.insert(key, observation);
        event
    }

    /// `EventSourceObjectSpamFilter`.
    fn spam_filter_accepts(&mut self, event: &Event, now: Instant) -> bool {
        let key = spam_key(event);
        if self.buckets.get(&key).is_none() {
            self.buckets.insert(key.clone(), TokenBucket { tokens: SPAM_BURST, updated: now });
        }
        self.buckets.get_mut(&key).expect("just inserted").try_accept(now)
    }
}

fn source(event: &Event) -> (&str, &str) {
    let source = event.source.as_ref();
    (source.and_then(|s| s.component.as_deref()).unwrap_or(""), source.and_then(|s| s.host.as_deref()).unwrap_or(""))
}

/// Source and object, the part of every key (client-go's `getSpamKey`). Fields are joined
/// with a separator no name contains, so that distinct tuples never collide.
fn spam_key(event: &Event) -> String {
    let (component, host) = source(event);
    let object = &event.involved_object;
    [
        component,
        host,
        object.kind.as_deref().unwrap_or(""),
        object.namespace.as_deref().unwrap_or(""),
        object.name.as_deref().unwrap_or(""),
        object.uid.as_deref().unwrap_or(""),
        object.api_version.as_deref().unwrap_or(""),
    ]
    .join("\u{0}")
}

/// client-go's `EventAggregatorByReasonFunc` group: everything but the message.
fn aggregate_key(event: &Event) -> String {
    [
        spam_key(event).as_str(),
        event.type_.as_deref().unwrap_or(""),
        event.reason.as_deref().unwrap_or(""),
        event.reporting_component.as_deref().unwrap_or(""),
        event.reporting_instance.as_deref().unwrap_or(""),
    ]
    .join("\u{0}")
}

/// client-go's `getEventKey`: the exact event.
fn event_key(event: &Event) -> String {
    [
        spam_key(event).as_str(),
        event.involved_object.field_path.as_deref().unwrap_or(""),
        event.type_.as_deref().unwrap_or(""),
        event.reason.as_deref().unwrap_or(""),
        event.message.as_deref().unwrap_or(""),
    ]
    .join("\u{0}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(object: &str, reason: &str, message: &str) -> Event {
        let name = format!("{object}.{message}");
        Event {
            metadata: ObjectMeta { name: Some(name), namespace: Some("ns".into()), ..ObjectMeta::default() },
            involved_object: ObjectReference {
                kind: Some("ReplicaSet".into()),
                namespace: Some("ns".into()),
                name: Some(object.into()),
                uid: Some(format!("uid-{object}")),
                api_version: Some("apps/v1".into()),
                ..ObjectReference::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some("Normal".into()),
            count: Some(1),
            source: Some(EventSource { component: Some("replicaset-controller".into()), host: None }),
            ..Event::default()
        }
    }

    #[test]
    fn an_identical_event_patches_the_count_of_the_first() {
        let mut correlator = Correlator::default();
        let now = Instant::now();
        let first = correlator.correlate(event("web", "BackOff", "same"), now).expect("first is written");
        assert_eq!(first.count, Some(1));
        let second = correlator.correlate(event("web", "BackOff", "same"), now).expect("repeat is written");
        assert_eq!(second.count, Some(2));
        assert_eq!(second.metadata.name, first.metadata.name, "the repeat patches the first Event");
        assert_eq!(second.first_timestamp, first.first_timestamp);
    }

    #[test]
    fn similar_events_are_combined_after_ten_and_spam_is_dropped_after_twenty_five() {
        let mut correlator = Correlator::default();
        let now = Instant::now();
        let written: Vec<Event> = (0..1000)
            .filter_map(|i| {
                correlator.correlate(event("web", "SuccessfulCreate", &format!("Created pod: web-{i}")), now)
            })
            .collect();
        assert_eq!(written.len(), 25, "a burst of 25 per source and object");
        // Nine distinct messages pass as they are; the tenth starts the combined Event.
        for (i, event) in written.iter().take(9).enumerate() {
            assert_eq!(event.message.as_deref(), Some(format!("Created pod: web-{i}").as_str()));
            assert_eq!(event.count, Some(1));
        }
        let combined = &written[9..];
        assert_eq!(combined[0].message.as_deref(), Some("(combined from similar events): Created pod: web-9"));
        assert_eq!(combined[0].count, Some(1));
        let name = combined[0].metadata.name.clone();
        for (i, event) in combined.iter().enumerate() {
            assert_eq!(event.metadata.name, name, "one combined Event, patched");
            assert_eq!(event.count, Some(i32::try_from(i).expect("small") + 1));
        }
        // Another object has its own budget.
        assert!(correlator.correlate(event("api", "SuccessfulCreate", "Created pod: api-0"), now).is_some());
        // One token comes back every 5 minutes; the count kept growing meanwhile.
        let later = now + SPAM_REFILL;
        let next =
            correlator.correlate(event("web", "SuccessfulCreate", "Created pod: web-1000"), later).expect("refilled");
        assert_eq!(next.metadata.name, name);
        assert_eq!(next.count, Some(1000 - 9 + 1));
        assert!(correlator.correlate(event("web", "SuccessfulCreate", "Created pod: web-1001"), later).is_none());
    }

    #[test]
    fn aggregation_starts_over_after_ten_quiet_minutes() {
        let mut correlator = Correlator::default();
        let now = Instant::now();
        for i in 0..9 {
            correlator.correlate(event("web", "SuccessfulDelete", &format!("Deleted pod: web-{i}")), now);
        }
        let later = now + AGGREGATE_INTERVAL + Duration::from_secs(1);
        let event =
            correlator.correlate(event("web", "SuccessfulDelete", "Deleted pod: web-9"), later).expect("passes");
        assert_eq!(event.message.as_deref(), Some("Deleted pod: web-9"), "not combined: the group expired");
    }
}
