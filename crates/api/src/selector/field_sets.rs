//! Which fields each served resource can be selected on, and the value each field has on an
//! object, as kube-apiserver 1.33 computes them.
//!
//! Two Kubernetes tables are combined here and must be kept apart in spirit:
//! - the field label conversion functions (`pkg/apis/core/v1/conversion.go`,
//!   `pkg/apis/events/v1`), which decide what a request may select on. Kinds without one fall
//!   back to `DefaultMetaV1FieldSelectorConversion` (only `metadata.name` and
//!   `metadata.namespace`). apps/v1 registers none, so ReplicaSets do *not* accept
//!   `status.replicas` even though their registry computes it (kubernetes/kubernetes#135136);
//! - the registries' `GetAttrs`/`ToSelectableFields`, which compute the values. A field accepted
//!   by conversion but not computed (pods' `status.podIPs`) reads as the empty string.
//!
//! Objects are the versioned JSON (`v1` or `events.k8s.io/v1`); a missing value is `""`, so
//! `spec.nodeName=` selects unbound pods. Adding a served resource with selectable fields
//! starts here. Must not know selector syntax.

use serde_json::Value;

use crate::ResourceInfo;

const DEFAULT_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];

const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];

const NAMESPACE_FIELDS: &[&str] = &["metadata.name", "status.phase"];

const EVENT_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

const SECRET_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "type"];

const SERVICE_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"];

/// The resource's own field label conversion, if Kubernetes registers one for its kind.
fn own_conversion(info: &ResourceInfo) -> Option<&'static [&'static str]> {
    match (info.group, info.plural) {
        ("", "pods") => Some(POD_FIELDS),
        ("", "nodes") => Some(NODE_FIELDS),
        ("", "namespaces") => Some(NAMESPACE_FIELDS),
        ("", "events") | ("events.k8s.io", "events") => Some(EVENT_FIELDS),
        ("", "secrets") => Some(SECRET_FIELDS),
        ("", "services") => Some(SERVICE_FIELDS),
        _ => None,
    }
}

/// The parts of an object that label and field selectors of the resource read: all of
/// `metadata`, and the paths `field_value` reads (for [`crate::projection::project`]).
pub fn selectable_paths(info: &ResourceInfo) -> &'static [&'static [&'static str]] {
    match (info.group, info.plural) {
        ("", "pods") => &[
            &["metadata"],
            &["spec", "nodeName"],
            &["spec", "restartPolicy"],
            &["spec", "schedulerName"],
            &["spec", "serviceAccountName"],
            &["spec", "hostNetwork"],
            &["status", "phase"],
            &["status", "podIP"],
            &["status", "podIPs"],
            &["status", "nominatedNodeName"],
        ],
        ("", "nodes") => &[&["metadata"], &["spec", "unschedulable"]],
        ("", "namespaces") => &[&["metadata"], &["status", "phase"]],
        ("", "secrets") => &[&["metadata"], &["type"]],
        ("", "services") => &[&["metadata"], &["spec", "clusterIP"], &["spec", "type"]],
        ("", "events") | ("events.k8s.io", "events") => &[
            &["metadata"],
            &["involvedObject"],
            &["regarding"],
            &["reason"],
            &["type"],
            &["reportingComponent"],
            &["reportingController"],
            &["source"],
            &["deprecatedSource"],
        ],
        _ => &[&["metadata"]],
    }
}

/// Whether the resource has a conversion function of its own, which decides the wording of
/// the "unsupported field" error.
pub(super) fn has_own_conversion(info: &ResourceInfo) -> bool {
    own_conversion(info).is_some()
}

/// The fields a field selector may use on this resource.
pub fn supported_fields(info: &ResourceInfo) -> &'static [&'static str] {
    own_conversion(info).unwrap_or(DEFAULT_FIELDS)
}

/// The field a selector's field name stands for, or None if the resource does not accept it.
/// Pods still accept `spec.host`, the pre-v1 name of `spec.nodeName`.
pub(super) fn canonical_field(info: &ResourceInfo, field: &str) -> Option<&'static str> {
    if field == "spec.host" && (info.group, info.plural) == ("", "pods") {
        return Some("spec.nodeName");
    }
    supported_fields(info).iter().find(|f| **f == field).copied()
}

/// The value a supported field has on an object (as kube-apiserver's per-resource
/// `GetAttrs`/`ToSelectableFields` compute it), or None if the resource does not support the
/// field.
pub fn field_value(info: &ResourceInfo, object: &Value, field: &str) -> Option<String> {
    let field = canonical_field(info, field)?;
    let value = match field {
        "metadata.name" => text(object, &["metadata", "name"]),
        "metadata.namespace" => text(object, &["metadata", "namespace"]),
        _ => match (info.group, info.plural) {
            ("", "pods") => pod_field(object, field),
            ("", "nodes") => node_field(object, field),
            ("", "namespaces") | ("", "secrets") | ("", "services") => {
                // status.phase, type, spec.clusterIP and spec.type are plain strings at the
                // path their name spells.
                let path: Vec<&str> = field.split('.').collect();
                text(object, &path)
            }
            ("", "events") | ("events.k8s.io", "events") => event_field(object, field),
            _ => String::new(),
        },
    };
    Some(value)
}

fn at<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(object, |v, key| v.get(key))
}

/// The string at `path`, or "" when absent or not a string (Go's zero value).
fn text(object: &Value, path: &[&str]) -> String {
    at(object, path).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// A boolean as Go's `strconv.FormatBool`/`fmt.Sprint` print it, false when absent.
fn flag(object: &Value, path: &[&str]) -> String {
    at(object, path).and_then(Value::as_bool).unwrap_or(false).to_string()
}

fn pod_field(pod: &Value, field: &str) -> String {
    match field {
        "spec.nodeName" => text(pod, &["spec", "nodeName"]),
        "spec.restartPolicy" => text(pod, &["spec", "restartPolicy"]),
        "spec.schedulerName" => text(pod, &["spec", "schedulerName"]),
        "spec.serviceAccountName" => text(pod, &["spec", "serviceAccountName"]),
        "spec.hostNetwork" => flag(pod, &["spec", "hostNetwork"]),
        "status.phase" => text(pod, &["status", "phase"]),
        // The internal pod keeps only podIPs (v1 podIP is folded into it on conversion), and
        // the field set holds the first one.
        "status.podIP" => match at(pod, &["status", "podIPs"]).and_then(Value::as_array).and_then(|ips| ips.first()) {
            Some(first) => text(first, &["ip"]),
            None => text(pod, &["status", "podIP"]),
        },
        "status.nominatedNodeName" => text(pod, &["status", "nominatedNodeName"]),
        // Accepted by the conversion function but never put in the field set (a TODO in
        // Kubernetes), so it reads as "" on every pod.
        _ => String::new(),
    }
}

fn node_field(node: &Value, field: &str) -> String {
    match field {
        "spec.unschedulable" => flag(node, &["spec", "unschedulable"]),
        _ => String::new(),
    }
}

/// Event fields. Stored events may be core/v1 (`involvedObject`, `source`,
/// `reportingComponent`) or events.k8s.io/v1 (`regarding`, `deprecatedSource`,
/// `reportingController`) JSON; both read the same, as kube-apiserver computes the fields on
/// the internal type both convert to.
fn event_field(event: &Value, field: &str) -> String {
    let first = |paths: &[&[&str]]| -> String {
        paths.iter().map(|p| text(event, p)).find(|s| !s.is_empty()).unwrap_or_default()
    };
    if let Some(sub) = field.strip_prefix("involvedObject.") {
        return first(&[&["involvedObject", sub], &["regarding", sub]]);
    }
    let reporting = || first(&[&["reportingComponent"], &["reportingController"]]);
    match field {
        "reason" => text(event, &["reason"]),
        "type" => text(event, &["type"]),
        "reportingComponent" => reporting(),
        // Events recorded through events.k8s.io have no source component; the reporting
        // controller stands in for it.
        "source" => {
            let component = first(&[&["source", "component"], &["deprecatedSource", "component"]]);
            if component.is_empty() { reporting() } else { component }
        }
        _ => String::new(),
    }
}
