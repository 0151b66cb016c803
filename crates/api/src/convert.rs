//! Conversion between the versions of one stored resource. Kubernetes stores an Event once
//! and serves it as `v1` (core) and as `events.k8s.io/v1`; peapod stores the core form and
//! converts the other on the way in and out, with the field mapping of
//! `pkg/apis/events/v1/conversion.go`.

use serde_json::{Map, Value};

use crate::ResourceInfo;

/// (events.k8s.io/v1 field, core/v1 field) pairs that differ in name.
const EVENT_FIELDS: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// Whether objects of `info` are stored exactly as served (every kind but
/// `events.k8s.io` Events, which are stored as core Events).
pub fn stored_as_served(info: &ResourceInfo) -> bool {
    !is_events_group(info)
}

fn is_events_group(info: &ResourceInfo) -> bool {
    info.group == "events.k8s.io" && info.kind == "Event"
}

/// The stored form of an object served as `info`.
pub fn to_storage(info: &ResourceInfo, object: Value) -> Value {
    if !is_events_group(info) {
        return object;
    }
    rename(object, "v1", |field| EVENT_FIELDS.iter().find(|(new, _)| *new == field).map(|(_, core)| *core))
}

/// The stored form served as `info`.
pub fn from_storage(info: &ResourceInfo, object: Value) -> Value {
    if !is_events_group(info) {
        return object;
    }
    rename(object, "events.k8s.io/v1", |field| {
        EVENT_FIELDS.iter().find(|(_, core)| *core == field).map(|(new, _)| *new)
    })
}

fn rename(object: Value, api_version: &str, map_field: impl Fn(&str) -> Option<&'static str>) -> Value {
    let Value::Object(fields) = object else { return object };
    let mut converted = Map::with_capacity(fields.len());
    for (field, value) in fields {
        match map_field(&field) {
            Some(renamed) => converted.insert(renamed.to_string(), value),
            None => converted.insert(field, value),
        };
    }
    converted.insert("apiVersion".into(), Value::String(api_version.into()));
    Value::Object(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip_between_versions() {
        let events = crate::resources::find("events.k8s.io", "v1", "events").unwrap();
        let core = crate::resources::find("", "v1", "events").unwrap();
        let new = json!({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e"},
            "regarding":{"kind":"Pod","name":"p"},"note":"hello","reason":"Started","deprecatedCount":2,
            "reportingController":"peapod"});
        let stored = to_storage(events, new.clone());
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(stored["involvedObject"]["name"], "p");
        assert_eq!(stored["message"], "hello");
        assert_eq!(stored["count"], 2);
        assert_eq!(stored["reportingComponent"], "peapod");
        assert_eq!(from_storage(events, stored.clone()), new);
        assert_eq!(from_storage(core, stored.clone()), stored);
    }
}
