//! Validation as kube-apiserver 1.33 does it (ValidateXxx, ValidateXxxUpdate,
//! ValidateXxxStatusUpdate), with apimachinery's exact messages so that kubectl prints the same
//! text as against Kubernetes.
//!
//! Owns: object meta rules, name formats, and the per-kind rules (one file per kind). Works on
//! the JSON object of an already decoded and defaulted request body, and never panics on odd
//! shapes (missing or mistyped fields read as Go zero values).
//! Must not: touch storage, allocate cluster IPs, or check `resourceVersion` (the apiserver's).

mod config_map;
mod deployment;
mod endpoints;
mod event;
mod fields;
mod lease;
mod names;
mod namespace;
mod node;
mod object_meta;
mod pod;
pub(crate) mod pod_spec;
pub(crate) mod quantity;
mod replicaset;
mod runtime_class;
mod secret;
mod service;

#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::{FieldError, ResourceInfo};

pub use names::{
    is_config_map_key, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value,
};
pub use object_meta::FIELD_IMMUTABLE;

/// Validation on create (ValidateXxx): object meta + the kind's spec. Returns every error found.
pub fn validate_create(info: &ResourceInfo, object: &Value) -> Vec<FieldError> {
    match (info.group, info.kind) {
        ("", "Pod") => pod::validate_create(object),
        ("", "Namespace") => namespace::validate_create(object),
        ("", "Node") => node::validate_create(object),
        ("", "Event") => event::validate_core(object),
        ("events.k8s.io", "Event") => event::validate_events_v1(object),
        ("", "ConfigMap") => config_map::validate_create(object),
        ("", "Secret") => secret::validate_create(object),
        ("", "Service") => service::validate_create(object),
        ("", "Endpoints") => endpoints::validate_create(object),
        ("coordination.k8s.io", "Lease") => lease::validate_create(object),
        ("apps", "Deployment") => deployment::validate_create(object),
        ("apps", "ReplicaSet") => replicaset::validate_create(object),
        ("node.k8s.io", "RuntimeClass") => runtime_class::validate_create(object),
        // ServiceAccount and anything else: object meta with a DNS-1123 subdomain name.
        _ => object_meta::validate_object_meta(object, info.namespaced, names::name_is_dns_subdomain),
    }
}

/// Validation on update of the main resource (ValidateXxxUpdate), incl. immutability rules.
pub fn validate_update(info: &ResourceInfo, new: &Value, old: &Value) -> Vec<FieldError> {
    match (info.group, info.kind) {
        ("", "Pod") => pod::validate_update(new, old),
        ("", "Namespace") => namespace::validate_update(new, old),
        ("", "Node") => node::validate_update(new, old),
        ("", "ConfigMap") => config_map::validate_update(new, old),
        ("", "Secret") => secret::validate_update(new, old),
        ("", "Service") => service::validate_update(new, old),
        ("apps", "Deployment") => deployment::validate_update(new, old),
        ("apps", "ReplicaSet") => replicaset::validate_update(new, old),
        ("node.k8s.io", "RuntimeClass") => runtime_class::validate_update(new, old),
        // Kinds whose update rules are their create rules plus the metadata rules.
        _ => {
            let mut errs = object_meta::validate_object_meta_update(new, old);
            let create = validate_create(info, new);
            // The name/namespace checks of create are already covered by immutability.
            errs.extend(create.into_iter().filter(|e| !e.field.starts_with("metadata.")));
            errs
        }
    }
}

/// Validation on update of the status subresource (ValidateXxxStatusUpdate).
pub fn validate_status_update(info: &ResourceInfo, new: &Value, old: &Value) -> Vec<FieldError> {
    match (info.group, info.kind) {
        ("", "Pod") => pod::validate_status_update(new, old),
        ("", "Namespace") => namespace::validate_status_update(new, old),
        ("", "Service") => service::validate_status_update(new, old),
        ("apps", "Deployment") => deployment::validate_status_update(new, old),
        ("apps", "ReplicaSet") => replicaset::validate_status_update(new, old),
        _ => object_meta::validate_object_meta_update(new, old),
    }
}

/// Validation of an update through the namespace `finalize` subresource.
pub fn validate_namespace_finalize_update(new: &Value, old: &Value) -> Vec<FieldError> {
    namespace::validate_finalize_update(new, old)
}
