//! Kubernetes Events the controllers record (`SuccessfulCreate`, `ScalingReplicaSet`,
//! `NodeNotReady`, ...), as client-go's `EventRecorder`: fire-and-forget, never failing or
//! delaying a reconcile.
//!
//! It does not aggregate or rate-limit events beyond one create per call.

use client::{Api, Client};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};

#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: &'static str,
}

/// What an event is about.
pub struct Regarding<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub meta: &'a ObjectMeta,
}

impl Recorder {
    pub fn new(client: Client, component: &'static str) -> Self {
        Recorder { client, component }
    }

    /// Records a `Normal` or `Warning` event in the object's namespace (`default` for
    /// cluster-scoped objects, as Kubernetes does).
    pub fn record(&self, regarding: Regarding<'_>, type_: &str, reason: &str, message: String) {
        let namespace = regarding.meta.namespace.clone().unwrap_or_else(|| "default".to_string());
        let name = regarding.meta.name.clone().unwrap_or_default();
        let now = jiff::Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(regarding.api_version.to_string()),
                kind: Some(regarding.kind.to_string()),
                name: Some(name),
                namespace: regarding.meta.namespace.clone(),
                uid: regarding.meta.uid.clone(),
                resource_version: regarding.meta.resource_version.clone(),
                ..ObjectReference::default()
            },
            reason: Some(reason.to_string()),
            message: Some(message),
            type_: Some(type_.to_string()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None::<MicroTime>,
            reporting_component: Some(self.component.to_string()),
            reporting_instance: Some(self.component.to_string()),
            source: Some(EventSource { component: Some(self.component.to_string()), host: None }),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        tokio::spawn(async move {
            if let Err(error) = api.create(&event).await {
                tracing::debug!(%error, "could not record an event");
            }
        });
    }
}
