//! RuntimeClass validation (node.k8s.io/v1, `pkg/apis/node/validation`): a DNS-label
//! `handler` that never changes, `overhead.podFixed` checked as resource limits are, and
//! `scheduling` (label-valid `nodeSelector`, valid `tolerations`).
//!
//! Must not look at pods: the RuntimeClass admission of pods is in
//! `crate::defaults::runtime_class`.

use serde_json::Value;

use super::fields::{arr_of, at, child, obj_of, str_of, string_map};
use super::names;
use super::object_meta::{
    FIELD_IMMUTABLE, IS_NEGATIVE, validate_labels, validate_object_meta, validate_object_meta_update,
};
use super::pod_spec::validate_tolerations;
use super::quantity::{self, QUANTITY_FORMAT_ERROR};
use crate::FieldError;

/// ValidateRuntimeClass.
pub fn validate_create(class: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(class, false, names::name_is_dns_subdomain);
    let handler = str_of(class, "handler");
    // NameIsDNSLabel: a missing handler reads as "" and fails the label format, as upstream.
    errs.extend(
        names::name_is_dns_label(handler, false).into_iter().map(|m| FieldError::invalid("handler", handler, m)),
    );
    if child(class, "overhead").is_some() {
        errs.extend(validate_overhead(at(class, "overhead")));
    }
    if let Some(scheduling) = child(class, "scheduling") {
        if child(scheduling, "nodeSelector").is_some() {
            errs.extend(validate_labels(&string_map(scheduling, "nodeSelector"), "scheduling.nodeSelector"));
        }
        errs.extend(validate_tolerations(arr_of(scheduling, "tolerations"), "scheduling.tolerations"));
    }
    errs
}

/// The registry strategy's ValidateUpdate: ValidateRuntimeClass on the new object, then
/// ValidateRuntimeClassUpdate (object meta rules and the immutable handler).
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    // The name/namespace rules of create are covered by the metadata update rules.
    let mut errs: Vec<FieldError> =
        validate_create(new).into_iter().filter(|e| !e.field.starts_with("metadata.")).collect();
    errs.extend(validate_object_meta_update(new, old));
    let (new_handler, old_handler) = (str_of(new, "handler"), str_of(old, "handler"));
    if new_handler != old_handler {
        errs.push(FieldError::invalid("handler", new_handler, FIELD_IMMUTABLE));
    }
    errs
}

/// validateOverhead: upstream reuses ValidateResourceRequirements with `podFixed` as the
/// limits, so the error paths read `overhead.limits[<name>]`.
fn validate_overhead(overhead: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(pod_fixed) = obj_of(overhead, "podFixed") else { return errs };
    for (name, raw) in pod_fixed {
        let path = format!("overhead.limits[{name}]");
        errs.extend(validate_resource_name(name, &path));
        match quantity::from_value(raw) {
            None => errs.push(FieldError::invalid(&path, raw.clone(), QUANTITY_FORMAT_ERROR)),
            Some(q) => {
                if q.is_negative() {
                    errs.push(FieldError::invalid(&path, q.canonical(), IS_NEGATIVE));
                }
                if !is_native_resource(name) && !q.is_integer() {
                    errs.push(FieldError::invalid(&path, q.canonical(), "must be an integer"));
                }
            }
        }
    }
    errs
}

/// A resource name in the `kubernetes.io` namespace or without a domain (IsNativeResource).
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// validateContainerResourceName: a qualified name, and a standard container resource when
/// it has no domain.
fn validate_resource_name(name: &str, path: &str) -> Vec<FieldError> {
    let errs: Vec<FieldError> =
        names::is_qualified_name(name).into_iter().map(|m| FieldError::invalid(path, name, m)).collect();
    if !errs.is_empty() {
        return errs;
    }
    let standard = matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-");
    if !name.contains('/') && !standard {
        return vec![FieldError::invalid(path, name, "must be a standard resource for containers")];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| format!("{}: {}", e.field, e.detail)).collect()
    }

    #[test]
    fn a_full_class_is_valid() {
        let class = json!({
            "metadata": {"name": "gvisor"},
            "handler": "runsc",
            "overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}},
            "scheduling": {
                "nodeSelector": {"runtime": "gvisor"},
                "tolerations": [{"key": "sandboxed", "operator": "Exists", "effect": "NoSchedule"}]
            }
        });
        assert!(validate_create(&class).is_empty(), "{:?}", fields(&validate_create(&class)));
    }

    #[test]
    fn handler_is_required_and_a_dns_label() {
        let missing = validate_create(&json!({"metadata": {"name": "x"}}));
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].field, "handler");
        assert!(missing[0].detail.starts_with("a lowercase RFC 1123 label must consist of"), "{}", missing[0].detail);
        let upper = validate_create(&json!({"metadata": {"name": "x"}, "handler": "Runc"}));
        assert_eq!(fields(&upper).len(), 1);
        assert_eq!(upper[0].field, "handler");
        let dotted = validate_create(&json!({"metadata": {"name": "x"}, "handler": "kata.v2"}));
        assert_eq!(dotted[0].field, "handler");
    }

    #[test]
    fn cluster_scoped_name_rules() {
        let errs =
            validate_create(&json!({"metadata": {"name": "Bad_Name", "namespace": "default"}, "handler": "runc"}));
        let paths: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(paths.contains(&"metadata.name"), "{paths:?}");
        assert!(paths.contains(&"metadata.namespace"), "{paths:?}");
    }

    #[test]
    fn overhead_is_checked_as_limits() {
        let class = json!({"metadata": {"name": "x"}, "handler": "runc",
            "overhead": {"podFixed": {"cpu": "-1", "memory": "lots", "gpus": "1", "example.com/dev": "500m"}}});
        let errs = fields(&validate_create(&class));
        assert!(errs.contains(&format!("overhead.limits[cpu]: {IS_NEGATIVE}")), "{errs:?}");
        assert!(errs.contains(&format!("overhead.limits[memory]: {QUANTITY_FORMAT_ERROR}")), "{errs:?}");
        assert!(errs.contains(&"overhead.limits[gpus]: must be a standard resource for containers".to_string()));
        assert!(errs.contains(&"overhead.limits[example.com/dev]: must be an integer".to_string()), "{errs:?}");
    }

    #[test]
    fn scheduling_is_checked() {
        let class = json!({"metadata": {"name": "x"}, "handler": "runc", "scheduling": {
            "nodeSelector": {"bad key!": "v"},
            "tolerations": [{"operator": "Equal", "value": "v"}]
        }});
        let errs = validate_create(&class);
        let paths: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(paths, vec!["scheduling.nodeSelector", "scheduling.tolerations[0].operator"]);
    }

    #[test]
    fn handler_is_immutable() {
        let old = json!({"metadata": {"name": "x", "resourceVersion": "1"}, "handler": "runc"});
        let mut new = old.clone();
        new["handler"] = json!("crun");
        let errs = validate_update(&new, &old);
        assert_eq!(fields(&errs), vec![format!("handler: {FIELD_IMMUTABLE}")]);
        // Other fields may change.
        let mut relabelled = old.clone();
        relabelled["overhead"] = json!({"podFixed": {"cpu": "1"}});
        assert!(validate_update(&relabelled, &old).is_empty());
        // The create rules still apply to the new object.
        let mut bad = old.clone();
        bad["overhead"] = json!({"podFixed": {"cpu": "-1"}});
        assert_eq!(fields(&validate_update(&bad, &old)), vec![format!("overhead.limits[cpu]: {IS_NEGATIVE}")]);
    }
}
