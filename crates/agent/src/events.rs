//! Events the agent records about its pods and its node (`Pulling`, `Pulled`, `Created`,
//! `Started`, `Killing`, `BackOff`, `Unhealthy`, `Failed`, ...), as the kubelet's
//! `EventRecorder`: source component `kubelet` on this host, `involvedObject.fieldPath`
//! naming the container (`spec.containers{web}`).
//!
//! Repeats of the same event (same object, field path, type, reason and message) bump the
//! existing Event's `count` and `lastTimestamp` instead of creating a new one, as client-go's
//! event correlator does. Recording never blocks or fails a sync: events go through a queue
//! to one writer task, which keeps their order.

use std::collections::HashMap;

use client::{Api, Client, Patch};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::json;
use tokio::sync::mpsc;

/// The event component of every event the agent records.
pub const COMPONENT: &str = "kubelet";
/// Aggregation entries kept before the cache starts over (client-go keeps an LRU of 4096).
const CACHE_SIZE: usize = 4096;

pub const NORMAL: &str = "Normal";
pub const WARNING: &str = "Warning";

/// The `fieldPath` of a pod's container (`spec.containers{web}`, `spec.initContainers{init}`).
pub fn container_field_path(pod: &Pod, container: &str) -> String {
    let is_init = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.init_containers.as_ref())
        .is_some_and(|init| init.iter().any(|c| c.name == container));
    if is_init { format!("spec.initContainers{{{container}}}") } else { format!("spec.containers{{{container}}}") }
}

struct Pending {
    namespace: String,
    involved: ObjectReference,
    type_: &'static str,
    reason: String,
    message: String,
}

/// Cheap to clone; every clone feeds the same writer task.
#[derive(Clone)]
pub struct EventRecorder {
    tx: mpsc::UnboundedSender<Pending>,
}

impl EventRecorder {
    /// Starts the writer task (it ends when every recorder clone is dropped).
    pub fn start(client: Client, node_name: String) -> EventRecorder {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(client, node_name, rx));
        EventRecorder { tx }
    }

    /// An event about a pod, optionally about one of its containers.
    pub fn pod(&self, pod: &Pod, container: Option<&str>, type_: &'static str, reason: &str, message: String) {
        let meta = &pod.metadata;
        let involved = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            field_path: container.map(|c| container_field_path(pod, c)),
        };
        let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
        let _ = self.tx.send(Pending { namespace, involved, type_, reason: reason.to_string(), message });
    }

    /// An event about the node (the kubelet uses the node name as the reference's UID).
    pub fn node(&self, node_name: &str, type_: &'static str, reason: &str, message: String) {
        let involved = ObjectReference {
            kind: Some("Node".into()),
            name: Some(node_name.to_string()),
            uid: Some(node_name.to_string()),
            ..ObjectReference::default()
        };
        let _ =
            self.tx.send(Pending { namespace: "default".into(), involved, type_, reason: reason.to_string(), message });
    }
}

/// What an aggregated event is known as.
struct Recorded {
    name: String,
    count: i32,
}

async fn writer(client: Client, node_name: String, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut cache: HashMap<String, Recorded> = HashMap::new();
    while let Some(event) = rx.recv().await {
        let key = format!(
            "{}/{}/{}/{}/{}/{}/{}",
            event.namespace,
            event.involved.kind.as_deref().unwrap_or_default(),
            event.involved.uid.as_deref().unwrap_or_default(),
            event.involved.field_path.as_deref().unwrap_or_default(),
            event.type_,
            event.reason,
            event.message
        );
        let api: Api<Event> = Api::namespaced(client.clone(), &event.namespace);
        let now = jiff::Timestamp::now();
        if let Some(recorded) = cache.get_mut(&key) {
            let count = recorded.count + 1;
            let patch = Patch::Merge(json!({"count": count, "lastTimestamp": Time(now)}));
            match api.patch(&recorded.name, &patch).await {
                Ok(_) => {
                    recorded.count = count;
                    continue;
                }
                // Gone (expired by TTL, or deleted): record it afresh.
                Err(error) => tracing::debug!(%error, "could not update an event; creating a new one"),
            }
        }
        let object_name = event.involved.name.clone().unwrap_or_default();
        let name = format!("{object_name}.{:x}", now.as_nanosecond());
        let object = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(event.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: event.involved,
            reason: Some(event.reason),
            message: Some(event.message),
            type_: Some(event.type_.to_string()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            reporting_component: Some(COMPONENT.into()),
            reporting_instance: Some(node_name.clone()),
            source: Some(EventSource { component: Some(COMPONENT.into()), host: Some(node_name.clone()) }),
            ..Event::default()
        };
        match api.create(&object).await {
            Ok(_) => {
                if cache.len() >= CACHE_SIZE {
                    cache.clear();
                }
                cache.insert(key, Recorded { name, count: 1 });
            }
            Err(error) => tracing::debug!(%error, "could not record an event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_name_the_container_list() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "web"}], "initContainers": [{"name": "setup"}]}
        }))
        .expect("pod");
        assert_eq!(container_field_path(&pod, "web"), "spec.containers{web}");
        assert_eq!(container_field_path(&pod, "setup"), "spec.initContainers{setup}");
    }
}
