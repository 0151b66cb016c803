//! ConfigMap validation (ValidateConfigMap, ValidateConfigMapUpdate): keys, the 1 MiB total and
//! the `immutable: true` freeze.

use serde_json::Value;

use super::fields::{child, obj_of};
use super::names;
use super::object_meta::{validate_object_meta, validate_object_meta_update};
use crate::FieldError;

/// core.MaxSecretSize, shared by ConfigMaps and Secrets.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

fn key_errors(key: &str, path: &str) -> Vec<FieldError> {
    names::is_config_map_key(key).into_iter().map(|m| FieldError::invalid(path, key, m)).collect()
}

/// ValidateConfigMap.
pub fn validate_create(cm: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(cm, true, names::name_is_dns_subdomain);
    let binary = obj_of(cm, "binaryData");
    let mut total = 0usize;
    if let Some(data) = obj_of(cm, "data") {
        for (key, value) in data {
            let path = format!("data[{key}]");
            errs.extend(key_errors(key, &path));
            if binary.is_some_and(|b| b.contains_key(key)) {
                errs.push(FieldError::invalid(&path, key.as_str(), "duplicate of key present in binaryData"));
            }
            total += value.as_str().map_or(0, str::len);
        }
    }
    if let Some(binary) = binary {
        for (key, value) in binary {
            errs.extend(key_errors(key, &format!("binaryData[{key}]")));
            // binaryData travels base64-encoded; its size is the decoded size.
            total += value.as_str().map_or(0, |s| s.len() / 4 * 3);
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
    errs
}

/// The `immutable: true` rules shared by ConfigMaps and Secrets.
pub fn validate_immutable(new: &Value, old: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.get("immutable").and_then(Value::as_bool) == Some(true) {
        if new.get("immutable").and_then(Value::as_bool) != Some(true) {
            errs.push(FieldError::forbidden("immutable", "field is immutable when `immutable` is set"));
        }
        for field in fields {
            if child(new, field) != child(old, field) {
                errs.push(FieldError::forbidden(*field, "field is immutable when `immutable` is set"));
            }
        }
    }
    errs
}

/// ValidateConfigMapUpdate.
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_immutable(new, old, &["data", "binaryData"]));
    errs.extend(validate_create(new));
    errs
}
