//! Node validation, light: the name, taints, and the fields a node update may not rewrite
//! (podCIDR(s) and providerID may only go from unset to set).

use std::collections::BTreeSet;

use serde_json::Value;

use super::fields::{arr_of, at, str_of, string_list};
use super::names;
use super::object_meta::{validate_object_meta, validate_object_meta_update};
use crate::FieldError;

fn validate_taints(taints: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, taint) in taints.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let (key, value, effect) = (str_of(taint, "key"), str_of(taint, "value"), str_of(taint, "effect"));
        errs.extend(names::is_qualified_name(key).into_iter().map(|m| FieldError::invalid(format!("{p}.key"), key, m)));
        errs.extend(
            names::is_valid_label_value(value).into_iter().map(|m| FieldError::invalid(format!("{p}.value"), value, m)),
        );
        match effect {
            "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
            "" => errs.push(FieldError::required(format!("{p}.effect"), "")),
            other => errs.push(FieldError::not_supported(
                format!("{p}.effect"),
                other,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            )),
        }
        if !seen.insert((key, effect)) {
            errs.push(FieldError::duplicate(p, taint.clone()));
        }
    }
    errs
}

/// ValidateNode.
pub fn validate_create(node: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(node, false, names::name_is_dns_subdomain);
    errs.extend(validate_taints(arr_of(at(node, "spec"), "taints"), "spec.taints"));
    errs
}

/// ValidateNodeUpdate (light).
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_taints(arr_of(at(new, "spec"), "taints"), "spec.taints"));
    let (new_spec, old_spec) = (at(new, "spec"), at(old, "spec"));
    let (old_cidrs, new_cidrs) = (string_list(old_spec, "podCIDRs"), string_list(new_spec, "podCIDRs"));
    if !old_cidrs.is_empty() && old_cidrs != new_cidrs {
        errs.push(FieldError::forbidden(
            "spec.podCIDRs",
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let old_provider = str_of(old_spec, "providerID");
    if !old_provider.is_empty() && old_provider != str_of(new_spec, "providerID") {
        errs.push(FieldError::forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    errs
}
