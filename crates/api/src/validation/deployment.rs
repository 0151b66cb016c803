//! Deployment validation (ValidateDeployment, ValidateDeploymentSpec, ValidateDeploymentStrategy
//! in `pkg/apis/apps/validation`). Selector and template rules are shared with `replicaset.rs`.

use serde_json::Value;

use super::fields::{at, child, int_of, opt_int, str_of};
use super::names;
use super::object_meta::{IS_NEGATIVE, validate_object_meta, validate_object_meta_update};
use super::replicaset::{validate_counts, validate_selector_and_template, validate_selector_immutable};
use crate::FieldError;

/// An IntOrString as a number of percent or a count; `None` when the string is not `N%`.
fn int_or_percent(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.strip_suffix('%').and_then(|d| d.parse().ok()),
        _ => Some(0),
    }
}

/// ValidatePositiveIntOrPercent: a string must be `N%`, an integer must not be negative.
fn positive_int_or_percent(value: &Value, path: &str) -> Vec<FieldError> {
    match value {
        Value::String(s) => {
            names::is_valid_percent(s).into_iter().map(|m| FieldError::invalid(path, s.as_str(), m)).collect()
        }
        Value::Number(n) => match n.as_i64() {
            Some(x) if x < 0 => vec![FieldError::invalid(path, x, IS_NEGATIVE)],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// ValidateRollingUpdateDeployment.
fn validate_rolling_update(rolling: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let unavailable = rolling.get("maxUnavailable").cloned().unwrap_or(Value::from(0));
    let surge = rolling.get("maxSurge").cloned().unwrap_or(Value::from(0));
    let unavailable_path = format!("{path}.maxUnavailable");
    errs.extend(positive_int_or_percent(&unavailable, &unavailable_path));
    errs.extend(positive_int_or_percent(&surge, &format!("{path}.maxSurge")));
    let (u, s) = (int_or_percent(&unavailable).unwrap_or(-1), int_or_percent(&surge).unwrap_or(-1));
    if u == 0 && s == 0 {
        // Both zero would let a rollout neither add nor remove pods.
        errs.push(FieldError::invalid(&unavailable_path, unavailable.clone(), "may not be 0 when `maxSurge` is 0"));
    }
    if unavailable.as_str().is_some_and(|s| s.ends_with('%')) && u > 100 {
        errs.push(FieldError::invalid(&unavailable_path, unavailable.clone(), "must not be greater than 100%"));
    }
    errs
}

/// ValidateDeploymentStrategy.
fn validate_strategy(strategy: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rolling = child(strategy, "rollingUpdate");
    match str_of(strategy, "type") {
        "Recreate" => {
            if rolling.is_some() {
                errs.push(FieldError::forbidden(
                    format!("{path}.rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match rolling {
            Some(rolling) => errs.extend(validate_rolling_update(rolling, &format!("{path}.rollingUpdate"))),
            None => errs.push(FieldError::required(
                format!("{path}.rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
        },
        _ => errs.push(FieldError::not_supported(path, strategy.clone(), &["Recreate", "RollingUpdate"])),
    }
    errs
}

/// ValidateDeploymentSpec.
fn validate_spec(spec: &Value) -> Vec<FieldError> {
    let mut errs = validate_counts(spec);
    errs.extend(validate_selector_and_template(spec, "deployment"));
    errs.extend(validate_strategy(at(spec, "strategy"), "spec.strategy"));
    if let Some(limit) = opt_int(spec, "revisionHistoryLimit")
        && limit < 0
    {
        errs.push(FieldError::invalid("spec.revisionHistoryLimit", limit, IS_NEGATIVE));
    }
    if let Some(deadline) = opt_int(spec, "progressDeadlineSeconds") {
        if deadline < 0 {
            errs.push(FieldError::invalid("spec.progressDeadlineSeconds", deadline, IS_NEGATIVE));
        }
        if deadline <= int_of(spec, "minReadySeconds") {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                deadline,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

/// ValidateDeployment.
pub fn validate_create(deployment: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(deployment, true, names::name_is_dns_subdomain);
    errs.extend(validate_spec(at(deployment, "spec")));
    errs
}

/// ValidateDeploymentUpdate: apps/v1 makes the selector immutable.
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_spec(at(new, "spec")));
    errs.extend(validate_selector_immutable(new, old));
    errs
}

/// ValidateDeploymentStatusUpdate: counters non-negative and consistent.
pub fn validate_status_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let status = at(new, "status");
    for field in [
        "observedGeneration",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    ] {
        let value = int_of(status, field);
        if value < 0 {
            errs.push(FieldError::invalid(format!("status.{field}"), value, IS_NEGATIVE));
        }
    }
    if let Some(count) = opt_int(status, "collisionCount")
        && count < 0
    {
        errs.push(FieldError::invalid("status.collisionCount", count, IS_NEGATIVE));
    }
    let replicas = int_of(status, "replicas");
    for field in ["updatedReplicas", "readyReplicas", "availableReplicas"] {
        let value = int_of(status, field);
        if value > replicas {
            errs.push(FieldError::invalid(format!("status.{field}"), value, "cannot be greater than status.replicas"));
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
