//! Lease validation (coordination.k8s.io/v1), light: name and the counters.

use serde_json::Value;

use super::fields::{at, opt_int};
use super::names;
use super::object_meta::{IS_NEGATIVE, validate_object_meta};
use crate::FieldError;

/// ValidateLease.
pub fn validate_create(lease: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(lease, true, names::name_is_dns_subdomain);
    let spec = at(lease, "spec");
    if let Some(duration) = opt_int(spec, "leaseDurationSeconds")
        && duration <= 0
    {
        errs.push(FieldError::invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"));
    }
    if let Some(transitions) = opt_int(spec, "leaseTransitions")
        && transitions < 0
    {
        errs.push(FieldError::invalid("spec.leaseTransitions", transitions, IS_NEGATIVE));
    }
    errs
}
