//! Namespace validation: a DNS-1123 label name, standard or qualified finalizers, and the
//! phase rule on status updates.

use serde_json::Value;

use super::fields::{at, child, metadata, str_of, string_list};
use super::names;
use super::object_meta::{validate_finalizer_name, validate_object_meta, validate_object_meta_update};
use crate::FieldError;

/// ValidateNamespace.
pub fn validate_create(ns: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(ns, false, names::name_is_dns_label);
    for finalizer in string_list(at(ns, "spec"), "finalizers") {
        errs.extend(validate_finalizer_name(finalizer, "spec.finalizers"));
    }
    errs
}

/// ValidateNamespaceUpdate: metadata rules only (spec.finalizers change through `finalize`).
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    validate_object_meta_update(new, old)
}

/// ValidateNamespaceStatusUpdate: Active unless deleting, then Terminating.
pub fn validate_status_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let phase = str_of(at(new, "status"), "phase");
    if child(metadata(new), "deletionTimestamp").is_none() {
        if phase != "Active" {
            errs.push(FieldError::invalid(
                "status.Phase",
                phase,
                "may only be 'Active' if `deletionTimestamp` is empty",
            ));
        }
    } else if phase != "Terminating" {
        errs.push(FieldError::invalid(
            "status.Phase",
            phase,
            "may only be 'Terminating' if `deletionTimestamp` is not empty",
        ));
    }
    errs
}

/// ValidateNamespaceFinalizeUpdate (the `finalize` subresource).
pub fn validate_finalize_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    for (i, finalizer) in string_list(at(new, "spec"), "finalizers").into_iter().enumerate() {
        errs.extend(validate_finalizer_name(finalizer, &format!("spec.finalizers[{i}]")));
    }
    errs
}
