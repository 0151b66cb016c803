//! Event validation. Core `v1` Events get kube's legacy checks only (no name format; the
//! involved object's namespace must agree with the event's); `events.k8s.io/v1` Events also get
//! the strict checks (name, eventTime, type, reporting fields).

use serde_json::Value;

use super::fields::{at, child, metadata, str_of};
use super::names;
use super::object_meta::validate_object_meta;
use crate::FieldError;

/// legacyValidateEvent for a core/v1 Event.
pub fn validate_core(event: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let namespace = str_of(metadata(event), "namespace");
    let involved_namespace = str_of(at(event, "involvedObject"), "namespace");
    if child(event, "eventTime").is_none() {
        let consistent = if involved_namespace.is_empty() {
            namespace.is_empty() || namespace == "default"
        } else {
            namespace == involved_namespace
        };
        if !consistent {
            errs.push(FieldError::invalid(
                "involvedObject.namespace",
                involved_namespace,
                "does not match event.namespace",
            ));
        }
    } else {
        if involved_namespace.is_empty() && namespace != "default" && namespace != "kube-system" {
            errs.push(FieldError::invalid(
                "involvedObject.namespace",
                involved_namespace,
                "does not match event.namespace",
            ));
        }
        for (field, shown) in [("reportingComponent", "reportingComponent"), ("reportingInstance", "reportingInstance")]
        {
            if str_of(event, field).is_empty() {
                errs.push(FieldError::required(shown, ""));
            }
        }
        for field in ["action", "reason"] {
            if str_of(event, field).is_empty() {
                errs.push(FieldError::required(field, ""));
            }
        }
    }
    errs.extend(
        names::is_dns1123_subdomain(namespace).into_iter().map(|m| FieldError::invalid("namespace", namespace, m)),
    );
    errs
}

/// ValidateEventCreate for an events.k8s.io/v1 Event.
pub fn validate_events_v1(event: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(event, true, names::name_is_dns_subdomain);
    if child(event, "eventTime").is_none() {
        errs.push(FieldError::required("eventTime", ""));
    }
    let event_type = str_of(event, "type");
    if event_type != "Normal" && event_type != "Warning" {
        errs.push(FieldError::invalid("type", "", format!("has invalid value: {event_type}")));
    }
    for field in ["reportingController", "reportingInstance", "action", "reason"] {
        if str_of(event, field).is_empty() {
            errs.push(FieldError::required(field, ""));
        }
    }
    errs
}
