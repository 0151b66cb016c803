//! Events (`printEvent`), for both `v1` and `events.k8s.io/v1` events (kube-apiserver serves
//! both from one storage and one printer): Last Seen, Type, Reason, Object, Subobject (p1),
//! Source (p1), Message, First Seen (p1), Count (p1), Name (p1).
//!
//! Last Seen is `lastTimestamp`, else First Seen; First Seen is `firstTimestamp`, else
//! `eventTime`; an event with a `series` shows the series' last observation and count; a count
//! of 0 prints as 1 (singleton events of the new API carry no count).
//!
//! `events.k8s.io/v1` field names (`regarding`, `note`, `deprecated*`) are read where the core
//! names are absent, as kube-apiserver converts them to the core event before printing.

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{get, int, name, object, string, timestamp, translate_timestamp_since};
use super::{Column, NAME_DESCRIPTION};

/// `v1.Event{}.SwaggerDoc()[...]` and `v1.ObjectReference{}.SwaggerDoc()["fieldPath"]`.
const LAST_TIMESTAMP_DESCRIPTION: &str = "The time at which the most recent occurrence of this event was recorded.";
const TYPE_DESCRIPTION: &str = "Type of this event (Normal, Warning), new types could be added in the future";
const REASON_DESCRIPTION: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
const INVOLVED_OBJECT_DESCRIPTION: &str = "The object that this event is about.";
const FIELD_PATH_DESCRIPTION: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
const SOURCE_DESCRIPTION: &str = "The component reporting this event. Should be a short machine understandable string.";
const MESSAGE_DESCRIPTION: &str = "A human-readable description of the status of this operation.";
const FIRST_TIMESTAMP_DESCRIPTION: &str =
    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
const COUNT_DESCRIPTION: &str = "The number of times this event has occurred.";

pub(super) const COLUMNS: &[Column] = &[
    Column { name: "Last Seen", type_: "string", format: "", description: LAST_TIMESTAMP_DESCRIPTION, priority: 0 },
    Column { name: "Type", type_: "string", format: "", description: TYPE_DESCRIPTION, priority: 0 },
    Column { name: "Reason", type_: "string", format: "", description: REASON_DESCRIPTION, priority: 0 },
    Column { name: "Object", type_: "string", format: "", description: INVOLVED_OBJECT_DESCRIPTION, priority: 0 },
    Column { name: "Subobject", type_: "string", format: "", description: FIELD_PATH_DESCRIPTION, priority: 1 },
    Column { name: "Source", type_: "string", format: "", description: SOURCE_DESCRIPTION, priority: 1 },
    Column { name: "Message", type_: "string", format: "", description: MESSAGE_DESCRIPTION, priority: 0 },
    Column { name: "First Seen", type_: "string", format: "", description: FIRST_TIMESTAMP_DESCRIPTION, priority: 1 },
    Column { name: "Count", type_: "string", format: "", description: COUNT_DESCRIPTION, priority: 1 },
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 1 },
];

/// The core field, or its `events.k8s.io/v1` counterpart when the core one is absent.
fn either<'a>(event: &'a Value, core: &str, new: &str) -> Option<&'a Value> {
    get(event, &[core]).or_else(|| get(event, &[new]))
}

fn either_string<'a>(event: &'a Value, core: &str, new: &str) -> &'a str {
    either(event, core, new).and_then(Value::as_str).unwrap_or("")
}

fn either_time(event: &Value, core: &str, new: &str) -> Option<Timestamp> {
    either_string(event, core, new).parse::<Timestamp>().ok()
}

pub(super) fn cells(event: &Value, now: Timestamp) -> Vec<Value> {
    let first_seen = match either_time(event, "firstTimestamp", "deprecatedFirstTimestamp") {
        Some(t) => translate_timestamp_since(Some(t), now),
        None => translate_timestamp_since(timestamp(event, &["eventTime"]), now),
    };
    let mut last_seen = match either_time(event, "lastTimestamp", "deprecatedLastTimestamp") {
        Some(t) => translate_timestamp_since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = either(event, "count", "deprecatedCount").and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = object(event, &["series"]) {
        last_seen = translate_timestamp_since(timestamp(series, &["lastObservedTime"]), now);
        count = int(series, &["count"]);
    } else if count == 0 {
        count = 1;
    }

    let involved = either(event, "involvedObject", "regarding").cloned().unwrap_or(Value::Null);
    let kind = string(&involved, &["kind"]).to_lowercase();
    let involved_name = string(&involved, &["name"]);
    let target = if involved_name.is_empty() { kind } else { format!("{kind}/{involved_name}") };

    let source = either(event, "source", "deprecatedSource").cloned().unwrap_or(Value::Null);
    let component = first_non_empty(string(&source, &["component"]), string(event, &["reportingController"]));
    let instance = first_non_empty(string(&source, &["host"]), string(event, &["reportingInstance"]));
    // formatEventSourceComponentInstance
    let source = if instance.is_empty() { component.to_string() } else { format!("{component}, {instance}") };

    vec![
        Value::String(last_seen),
        Value::String(string(event, &["type"]).to_string()),
        Value::String(string(event, &["reason"]).to_string()),
        Value::String(target),
        Value::String(string(&involved, &["fieldPath"]).to_string()),
        Value::String(source),
        Value::String(either_string(event, "message", "note").trim().to_string()),
        Value::String(first_seen),
        Value::from(count),
        name(event),
    ]
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn core_event() {
        let ev = json!({
            "metadata": {"name": "busybox.17c1"},
            "involvedObject": {"kind": "Pod", "name": "busybox", "fieldPath": "spec.containers{busybox}"},
            "reason": "Pulled", "type": "Normal", "message": "  Successfully pulled image\n",
            "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": "2024-05-01T11:50:00Z", "lastTimestamp": "2024-05-01T11:59:00Z", "count": 4});
        assert_eq!(
            cells(&ev, now()),
            vec![
                json!("60s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/busybox"),
                json!("spec.containers{busybox}"),
                json!("kubelet, node1"),
                json!("Successfully pulled image"),
                json!("10m"),
                json!(4),
                json!("busybox.17c1"),
            ]
        );
    }

    #[test]
    fn timestamps_fall_back() {
        // No lastTimestamp: Last Seen is First Seen.
        let ev = json!({"firstTimestamp": "2024-05-01T11:00:00Z", "count": 2});
        let c = cells(&ev, now());
        assert_eq!((&c[0], &c[7], &c[8]), (&json!("60m"), &json!("60m"), &json!(2)));
        // No firstTimestamp: First Seen is eventTime; no count: 1.
        let ev = json!({"eventTime": "2024-05-01T11:59:30.123456Z"});
        let c = cells(&ev, now());
        assert_eq!((&c[0], &c[7], &c[8]), (&json!("29s"), &json!("29s"), &json!(1)));
        // Nothing at all.
        let c = cells(&json!({}), now());
        assert_eq!(
            (&c[0], &c[3], &c[5], &c[7], &c[8]),
            (&json!("<unknown>"), &json!(""), &json!(""), &json!("<unknown>"), &json!(1))
        );
    }

    #[test]
    fn series_wins() {
        let ev = json!({"eventTime": "2024-05-01T10:00:00.000000Z", "count": 0,
                        "series": {"count": 7, "lastObservedTime": "2024-05-01T11:58:00.000000Z"}});
        let c = cells(&ev, now());
        assert_eq!((&c[0], &c[7], &c[8]), (&json!("2m"), &json!("120m"), &json!(7)));
    }

    #[test]
    fn source_and_object_fallbacks() {
        let ev =
            json!({"involvedObject": {"kind": "Node"}, "reportingController": "peapod", "reportingInstance": "n1"});
        let c = cells(&ev, now());
        assert_eq!((&c[3], &c[5]), (&json!("node"), &json!("peapod, n1")));
        let ev = json!({"source": {"component": "kubelet"}, "reportingInstance": ""});
        assert_eq!(cells(&ev, now())[5], json!("kubelet"));
    }

    #[test]
    fn events_k8s_io_fields() {
        let ev = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
            "regarding": {"kind": "Deployment", "name": "web"}, "note": "Scaled up", "reason": "ScalingReplicaSet",
            "type": "Normal", "reportingController": "deployment-controller", "reportingInstance": "",
            "eventTime": "2024-05-01T11:59:00.000000Z", "deprecatedCount": 3,
            "deprecatedLastTimestamp": "2024-05-01T11:59:50Z"});
        let c = cells(&ev, now());
        assert_eq!(
            c,
            vec![
                json!("10s"),
                json!("Normal"),
                json!("ScalingReplicaSet"),
                json!("deployment/web"),
                json!(""),
                json!("deployment-controller"),
                json!("Scaled up"),
                json!("60s"),
                json!(3),
                json!("e1"),
            ]
        );
    }

    #[test]
    fn column_order() {
        let cols: Vec<(&str, i32)> = COLUMNS.iter().map(|c| (c.name, c.priority)).collect();
        assert_eq!(
            cols,
            [
                ("Last Seen", 0),
                ("Type", 0),
                ("Reason", 0),
                ("Object", 0),
                ("Subobject", 1),
                ("Source", 1),
                ("Message", 0),
                ("First Seen", 1),
                ("Count", 1),
                ("Name", 1),
            ]
        );
        assert_eq!(COLUMNS[9].format, "name");
    }
}
