//! Recording core/v1 Events about pods (`Scheduled`, `FailedScheduling`) as client-go's event
//! recorder does: asynchronously through a bounded buffer that drops events when full (so a
//! slow API never stalls scheduling), and correlating repeats of the same event (same object,
//! type, reason and message) into one Event whose `count` and `lastTimestamp` are patched.
//!
//! Owns only event delivery; callers decide what to say.

use std::collections::HashMap;
use std::sync::Arc;

use client::{Api, Patch};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use tokio::sync::{Semaphore, mpsc};

/// client-go's `maxQueuedEvents`.
const MAX_QUEUED_EVENTS: usize = 1000;
/// Event writes in flight at once.
const PARALLEL_WRITES: usize = 16;
/// Correlation entries kept before the table is cleared (client-go keeps an LRU of 4096).
const MAX_CORRELATED: usize = 4096;

/// What an event is about and what it says.
#[derive(Clone, Debug)]
pub struct Record {
    pub object: ObjectReference,
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// A cheap handle to the recorder task.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
}

impl Recorder {
    /// Starts the delivery task; it ends when every `Recorder` clone is dropped.
    pub fn spawn(client: client::Client, component: &str) -> Recorder {
        let (tx, rx) = mpsc::channel(MAX_QUEUED_EVENTS);
        tokio::spawn(deliver(client, component.to_string(), rx));
        Recorder { tx }
    }

    /// Queues an event; dropped (with a debug log) when the buffer is full, as client-go
    /// drops events rather than block the component.
    pub fn record(&self, record: Record) {
        if let Err(error) = self.tx.try_send(record) {
            tracing::debug!(%error, "event dropped");
        }
    }
}

/// An `ObjectReference` to a pod.
pub fn pod_reference(namespace: &str, name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        uid: Some(uid.into()).filter(|u: &String| !u.is_empty()),
        ..ObjectReference::default()
    }
}

type CorrelationKey = (String, String, String, &'static str, &'static str, String);

async fn deliver(client: client::Client, component: String, mut rx: mpsc::Receiver<Record>) {
    let writes = Arc::new(Semaphore::new(PARALLEL_WRITES));
    let mut seen: HashMap<CorrelationKey, (String, i32)> = HashMap::new();
    while let Some(record) = rx.recv().await {
        let object = &record.object;
        let namespace = object.namespace.clone().unwrap_or_else(|| "default".into());
        let key: CorrelationKey = (
            namespace.clone(),
            object.name.clone().unwrap_or_default(),
            object.uid.clone().unwrap_or_default(),
            record.type_,
            record.reason,
            record.message.clone(),
        );
        if seen.len() >= MAX_CORRELATED {
            seen.clear();
        }
        let now = jiff::Timestamp::now();
        let (name, repeat) = match seen.get_mut(&key) {
            Some((name, count)) => {
                *count += 1;
                (name.clone(), Some(*count))
            }
            None => {
                let name = format!("{}.{:x}", key.1, now.as_nanosecond());
                seen.insert(key, (name.clone(), 1));
                (name, None)
            }
        };
        let Ok(permit) = writes.clone().acquire_owned().await else { return };
        let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
        let component = component.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(count) = repeat {
                let patch = Patch::Merge(serde_json::json!({
                    "count": count,
                    "lastTimestamp": Time(now),
                }));
                match events.patch(&name, &patch).await {
                    Ok(_) => return,
                    // Expired or deleted meanwhile: record it anew.
                    Err(error) if error.is_not_found() => {}
                    Err(error) => {
                        tracing::debug!(%error, "event update failed");
                        return;
                    }
                }
            }
            let event = new_event(&name, &namespace, &component, &record, now);
            if let Err(error) = events.create(&event).await {
                tracing::debug!(%error, "event not recorded");
            }
        });
    }
}

fn new_event(name: &str, namespace: &str, component: &str, record: &Record, now: jiff::Timestamp) -> Event {
    Event {
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..ObjectMeta::default() },
        involved_object: record.object.clone(),
        reason: Some(record.reason.into()),
        message: Some(record.message.clone()),
        source: Some(EventSource { component: Some(component.into()), host: None }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        type_: Some(record.type_.into()),
        reporting_component: Some(component.into()),
        reporting_instance: Some(component.into()),
        ..Event::default()
    }
}
