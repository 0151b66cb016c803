//! ReplicaSet validation (`pkg/apis/apps/validation`), plus the pieces Deployments share with
//! it: label selector checks and ValidatePodTemplateSpecForReplicaSet (selector must match the
//! template labels, restartPolicy Always).

use serde_json::Value;

use super::fields::{arr_of, at, child, int_of, str_of, string_list, string_map};
use super::names;
use super::object_meta::{
    FIELD_IMMUTABLE, IS_NEGATIVE, validate_labels, validate_object_meta, validate_object_meta_update,
};
use super::pod_spec::validate_pod_template_spec;
use crate::FieldError;

/// ValidateLabelSelector (strict: label values in expressions must be valid).
pub fn validate_label_selector(selector: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(&string_map(selector, "matchLabels"), &format!("{path}.matchLabels"));
    for (i, expr) in arr_of(selector, "matchExpressions").iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let values = string_list(expr, "values");
        match str_of(expr, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        format!("{p}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        format!("{p}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(format!("{p}.operator"), other, "not a valid selector operator")),
        }
        let key = str_of(expr, "key");
        errs.extend(names::is_qualified_name(key).into_iter().map(|m| FieldError::invalid(format!("{p}.key"), key, m)));
        for (j, v) in values.iter().enumerate() {
            errs.extend(
                names::is_valid_label_value(v)
                    .into_iter()
                    .map(|m| FieldError::invalid(format!("{p}.values[{j}]"), *v, m)),
            );
        }
    }
    errs
}

/// Whether a LabelSelector matches a label set (matchLabels AND every expression).
pub fn selector_matches(selector: &Value, labels: &[(&str, &str)]) -> bool {
    let get = |k: &str| labels.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let labels_ok = string_map(selector, "matchLabels").into_iter().all(|(k, v)| get(k) == Some(v));
    labels_ok
        && arr_of(selector, "matchExpressions").iter().all(|expr| {
            let key = str_of(expr, "key");
            let values = string_list(expr, "values");
            match str_of(expr, "operator") {
                "In" => get(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => get(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => get(key).is_some(),
                "DoesNotExist" => get(key).is_none(),
                _ => false,
            }
        })
}

/// Whether metav1.LabelSelectorAsSelector accepts the selector.
fn selector_convertible(selector: &Value) -> bool {
    let labels_ok = string_map(selector, "matchLabels")
        .iter()
        .all(|(k, v)| names::is_qualified_name(k).is_empty() && names::is_valid_label_value(v).is_empty());
    labels_ok
        && arr_of(selector, "matchExpressions").iter().all(|expr| {
            let values = string_list(expr, "values");
            let operator_ok = match str_of(expr, "operator") {
                "In" | "NotIn" => !values.is_empty(),
                "Exists" | "DoesNotExist" => values.is_empty(),
                _ => false,
            };
            operator_ok
                && names::is_qualified_name(str_of(expr, "key")).is_empty()
                && values.iter().all(|v| names::is_valid_label_value(v).is_empty())
        })
}

fn selector_is_empty(selector: &Value) -> bool {
    string_map(selector, "matchLabels").is_empty() && arr_of(selector, "matchExpressions").is_empty()
}

/// The selector checks of ValidateReplicaSetSpec / ValidateDeploymentSpec, then the template.
pub fn validate_selector_and_template(spec: &Value, kind_word: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let selector = child(spec, "selector");
    match selector {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) => {
            errs.extend(validate_label_selector(sel, "spec.selector"));
            if selector_is_empty(sel) {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    sel.clone(),
                    format!("empty selector is invalid for {kind_word}"),
                ));
            }
        }
    }
    let template = at(spec, "template");
    if template.is_null() {
        errs.push(FieldError::required("spec.template", ""));
        return errs;
    }
    // LabelSelectorAsSelector: an unconvertible selector stops here; a missing one matches
    // nothing (so the template labels never match it); an empty one matches everything.
    if let Some(sel) = selector
        && !selector_convertible(sel)
    {
        errs.push(FieldError::invalid("spec.selector", sel.clone(), "invalid label selector"));
        return errs;
    }
    let template_labels = string_map(at(template, "metadata"), "labels");
    let mismatch = match selector {
        None => true,
        Some(sel) => !selector_is_empty(sel) && !selector_matches(sel, &template_labels),
    };
    if mismatch {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            at(at(template, "metadata"), "labels").clone(),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(validate_pod_template_spec(template, "spec.template"));
    let template_spec = at(template, "spec");
    let restart_policy = str_of(template_spec, "restartPolicy");
    if restart_policy != "Always" {
        errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", restart_policy, &["Always"]));
    }
    if let Some(deadline) = child(template_spec, "activeDeadlineSeconds") {
        errs.push(FieldError::invalid(
            "spec.template.spec.activeDeadlineSeconds",
            deadline.clone(),
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        ));
    }
    errs
}

/// `spec.replicas` and `spec.minReadySeconds` must not be negative.
pub fn validate_counts(spec: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["replicas", "minReadySeconds"] {
        let value = int_of(spec, field);
        if value < 0 {
            errs.push(FieldError::invalid(format!("spec.{field}"), value, IS_NEGATIVE));
        }
    }
    errs
}

/// ValidateReplicaSet.
pub fn validate_create(rs: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(rs, true, names::name_is_dns_subdomain);
    let spec = at(rs, "spec");
    errs.extend(validate_counts(spec));
    errs.extend(validate_selector_and_template(spec, "deployment"));
    errs
}

/// The apps/v1 rule: `spec.selector` cannot change after creation.
pub fn validate_selector_immutable(new: &Value, old: &Value) -> Vec<FieldError> {
    let (new_sel, old_sel) = (at(at(new, "spec"), "selector"), at(at(old, "spec"), "selector"));
    if new_sel != old_sel {
        return vec![FieldError::invalid("spec.selector", new_sel.clone(), FIELD_IMMUTABLE)];
    }
    Vec::new()
}

/// ValidateReplicaSetUpdate.
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let spec = at(new, "spec");
    errs.extend(validate_counts(spec));
    errs.extend(validate_selector_and_template(spec, "deployment"));
    errs.extend(validate_selector_immutable(new, old));
    errs
}

/// ValidateReplicaSetStatusUpdate: the counters must be non-negative and consistent.
pub fn validate_status_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let status = at(new, "status");
    for field in ["replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"] {
        let value = int_of(status, field);
        if value < 0 {
            errs.push(FieldError::invalid(format!("status.{field}"), value, IS_NEGATIVE));
        }
    }
    let replicas = int_of(status, "replicas");
    for field in ["fullyLabeledReplicas", "readyReplicas"] {
        if int_of(status, field) > replicas {
            errs.push(FieldError::invalid(
                format!("status.{field}"),
                int_of(status, field),
                "cannot be greater than status.replicas",
            ));
        }
    }
    if int_of(status, "availableReplicas") > int_of(status, "readyReplicas") {
        errs.push(FieldError::invalid(
            "status.availableReplicas",
            int_of(status, "availableReplicas"),
            "cannot be greater than readyReplicas",
        ));
    }
    errs
}
