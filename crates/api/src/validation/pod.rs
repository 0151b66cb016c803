//! Pod validation: ValidatePodCreate, ValidatePodUpdate (the near-immutability of a pod spec)
//! and ValidatePodStatusUpdate. The spec rules themselves live in `pod_spec.rs`.
//!
//! `spec.nodeName` is set through the `binding` subresource; a plain update that changes it
//! fails the spec-equality check below, as in Kubernetes.

use serde_json::{Map, Value};

use super::fields::{arr_of, at, child, int_of, opt_int, str_of};
use super::names;
use super::object_meta::{validate_object_meta, validate_object_meta_update};
use super::pod_spec::{SpecContext, validate_image_whitespace, validate_pod_spec, validate_tolerations};
use crate::FieldError;

/// The fields a pod update may change, as kube-apiserver 1.33 lists them.
const UPDATABLE_POD_SPEC_FIELDS: &[&str] = &[
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

/// validatePodMetadataAndSpec.
fn validate_metadata_and_spec(pod: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(pod, true, names::name_is_dns_subdomain);
    let spec = at(pod, "spec");
    errs.extend(validate_pod_spec(spec, "spec", SpecContext { resource_is_pod: true }));
    errs.extend(validate_image_whitespace(spec, "spec"));
    errs
}

/// ValidatePodCreate.
pub fn validate_create(pod: &Value) -> Vec<FieldError> {
    let mut errs = validate_metadata_and_spec(pod);
    let spec = at(pod, "spec");
    if !arr_of(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden("spec.ephemeralContainers", "cannot be set on create"));
    }
    if !str_of(spec, "nodeName").is_empty() && !arr_of(spec, "schedulingGates").is_empty() {
        errs.push(FieldError::forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"));
    }
    errs
}

/// ValidateContainerUpdates: same number of containers, and images still required.
fn validate_container_updates(new: &[Value], old: &[Value], path: &str) -> (Vec<FieldError>, bool) {
    if new.len() != old.len() {
        return (vec![FieldError::forbidden(path, "pod updates may not add or remove containers")], true);
    }
    let mut errs = Vec::new();
    for (i, c) in new.iter().enumerate() {
        let image = str_of(c, "image");
        if image.is_empty() {
            errs.push(FieldError::required(format!("{path}[{i}].image"), ""));
        }
        if image.trim().len() != image.len() {
            errs.push(FieldError::invalid(
                format!("{path}[{i}].image"),
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    (errs, false)
}

/// validateOnlyAddedTolerations: existing tolerations may only change their tolerationSeconds.
fn validate_only_added_tolerations(new: &[Value], old: &[Value]) -> Vec<FieldError> {
    let strip = |t: &Value| {
        let mut t = normalize(t);
        if let Some(m) = t.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        t
    };
    for old_toleration in old {
        let wanted = strip(old_toleration);
        if !new.iter().any(|n| strip(n) == wanted) {
            return vec![FieldError::forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    validate_tolerations(new, "spec.tolerations")
}

/// validateOnlyDeletedSchedulingGates.
fn validate_only_deleted_scheduling_gates(new: &[Value], old: &[Value]) -> Vec<FieldError> {
    let old_names: Vec<&str> = old.iter().map(|g| str_of(g, "name")).collect();
    new.iter()
        .enumerate()
        .filter(|(_, g)| !old_names.contains(&str_of(g, "name")))
        .map(|(i, g)| {
            FieldError::forbidden(
                format!("spec.schedulingGates[{i}].name"),
                format!("only deletion is allowed, but found new scheduling gate '{}'", str_of(g, "name")),
            )
        })
        .collect()
}

/// Drops nulls and empty lists/maps, so that `[]`, `{}`, `null` and absent compare equal, as
/// they do after a round trip through kube-apiserver's storage.
fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = normalize(v);
                let empty =
                    v.is_null() || v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(Map::is_empty);
                if !empty {
                    out.insert(k.clone(), v);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Lines `- path: old` / `+ path: new` for every leaf that differs, in the spirit of the
/// `cmp.Diff` Kubernetes appends (whose Go-struct syntax we cannot reproduce).
fn diff(old: &Value, new: &Value, path: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                diff(a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null), &p, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a != b => {
            out.push(format!("- \t{path}: {a}"));
            out.push(format!("+ \t{path}: {b}"));
        }
        _ => {}
    }
}

/// ValidatePodUpdate.
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_metadata_and_spec(new));
    let (new_spec, old_spec) = (at(new, "spec"), at(old, "spec"));

    for list in ["containers", "initContainers"] {
        let (list_errs, stop) =
            validate_container_updates(arr_of(new_spec, list), arr_of(old_spec, list), &format!("spec.{list}"));
        errs.extend(list_errs);
        if stop {
            return errs;
        }
    }

    // activeDeadlineSeconds may be set, or lowered, but not raised or removed.
    match (opt_int(new_spec, "activeDeadlineSeconds"), opt_int(old_spec, "activeDeadlineSeconds")) {
        (Some(new_deadline), old_deadline) => {
            if !(0..=i64::from(i32::MAX)).contains(&new_deadline) {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    new_deadline,
                    names::inclusive_range_error(0, i64::from(i32::MAX)),
                ));
                return errs;
            }
            if old_deadline.is_some_and(|o| o < new_deadline) {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    new_deadline,
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }

    errs.extend(validate_only_added_tolerations(arr_of(new_spec, "tolerations"), arr_of(old_spec, "tolerations")));
    errs.extend(validate_only_deleted_scheduling_gates(
        arr_of(new_spec, "schedulingGates"),
        arr_of(old_spec, "schedulingGates"),
    ));

    let old_norm = normalize(old_spec);
    if normalize(new_spec) == old_norm {
        return errs;
    }

    // Put the updatable fields back to their old values; whatever still differs is forbidden.
    let mut munged = new_spec.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(items) = m.get_mut(list).and_then(Value::as_array_mut) {
                for (i, c) in items.iter_mut().enumerate() {
                    let old_image = arr_of(old_spec, list).get(i).and_then(|o| o.get("image")).cloned();
                    if let (Some(cm), Some(image)) = (c.as_object_mut(), old_image) {
                        cm.insert("image".to_string(), image);
                    }
                }
            }
        }
        for field in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            match child(old_spec, field) {
                Some(v) => m.insert(field.to_string(), v.clone()),
                None => m.remove(field),
            };
        }
        let old_grace = opt_int(old_spec, "terminationGracePeriodSeconds");
        if old_grace.is_some_and(|g| g < 0)
            && opt_int(&Value::Object(m.clone()), "terminationGracePeriodSeconds") == Some(1)
        {
            m.insert("terminationGracePeriodSeconds".to_string(), Value::from(old_grace));
        }
        // Gated pods may gain nodeSelector entries (additions only).
        if !arr_of(old_spec, "schedulingGates").is_empty() {
            let old_selector = at(old_spec, "nodeSelector").as_object().cloned().unwrap_or_default();
            let new_selector = m.get("nodeSelector").and_then(Value::as_object).cloned().unwrap_or_default();
            let only_additions = old_selector.iter().all(|(k, v)| new_selector.get(k) == Some(v));
            if only_additions {
                match child(old_spec, "nodeSelector") {
                    Some(v) => m.insert("nodeSelector".to_string(), v.clone()),
                    None => m.remove("nodeSelector"),
                };
            }
        }
    }
    let munged_norm = normalize(&munged);
    if munged_norm != old_norm {
        let mut lines = Vec::new();
        diff(&old_norm, &munged_norm, "", &mut lines);
        errs.push(FieldError::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than {}\n  core.PodSpec{{\n{}\n  }}\n",
                UPDATABLE_POD_SPEC_FIELDS.join(","),
                lines.join("\n")
            ),
        ));
    }
    errs
}

/// ValidateContainerStateTransition: without restartPolicy Always, a terminated container may
/// not become non-terminated again (OnFailure lets failed ones restart).
fn validate_state_transitions(new: &[Value], old: &[Value], path: &str, restart_policy: &str) -> Vec<FieldError> {
    if restart_policy == "Always" {
        return Vec::new();
    }
    let mut errs = Vec::new();
    for (i, old_status) in old.iter().enumerate() {
        let Some(terminated) = child(at(old_status, "state"), "terminated") else { continue };
        if int_of(terminated, "exitCode") != 0 && restart_policy == "OnFailure" {
            continue;
        }
        let name = str_of(old_status, "name");
        for new_status in new {
            if str_of(new_status, "name") == name && child(at(new_status, "state"), "terminated").is_none() {
                errs.push(FieldError::forbidden(
                    format!("{path}[{i}].state"),
                    "may not be transitioned to non-terminated state",
                ));
            }
        }
    }
    errs
}

/// ValidatePodStatusUpdate (the checks that matter for a kubelet-like writer).
pub fn validate_status_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let (new_spec, old_spec) = (at(new, "spec"), at(old, "spec"));
    if str_of(new_spec, "nodeName") != str_of(old_spec, "nodeName") {
        errs.push(FieldError::forbidden("status.nodeName", "may not be changed directly"));
    }
    let (new_status, old_status) = (at(new, "status"), at(old, "status"));
    let nominated = str_of(new_status, "nominatedNodeName");
    if !nominated.is_empty() && nominated != str_of(old_status, "nominatedNodeName") {
        errs.extend(
            names::name_is_dns_subdomain(nominated, false)
                .into_iter()
                .map(|m| FieldError::invalid("status.nominatedNodeName", nominated, m)),
        );
    }
    let (new_qos, old_qos) = (str_of(new_status, "qosClass"), str_of(old_status, "qosClass"));
    if new_qos != old_qos {
        errs.push(FieldError::invalid("status.qosClass", new_qos, super::object_meta::FIELD_IMMUTABLE));
    }
    let restart_policy = str_of(old_spec, "restartPolicy");
    errs.extend(validate_state_transitions(
        arr_of(new_status, "containerStatuses"),
        arr_of(old_status, "containerStatuses"),
        "status.containerStatuses",
        restart_policy,
    ));
    // Restartable (sidecar) init containers may leave the terminated state.
    let sidecars: Vec<&str> = arr_of(old_spec, "initContainers")
        .iter()
        .filter(|c| str_of(c, "restartPolicy") == "Always")
        .map(|c| str_of(c, "name"))
        .collect();
    let old_init: Vec<Value> = arr_of(old_status, "initContainerStatuses")
        .iter()
        .map(|s| if sidecars.contains(&str_of(s, "name")) { Value::Null } else { s.clone() })
        .collect();
    errs.extend(validate_state_transitions(
        arr_of(new_status, "initContainerStatuses"),
        &old_init,
        "status.initContainerStatuses",
        restart_policy,
    ));
    errs
}
