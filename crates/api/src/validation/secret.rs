//! Secret validation (ValidateSecret, ValidateSecretUpdate): keys, 1 MiB of decoded data, the
//! keys each built-in type requires, type immutability and the `immutable: true` freeze.
//! `stringData` has been merged into `data` by defaulting (as v1→internal conversion does).

use base64::Engine;
use serde_json::Value;

use super::config_map::{MAX_SECRET_SIZE, validate_immutable};
use super::fields::{metadata, obj_of, str_of, string_map};
use super::names;
use super::object_meta::{FIELD_IMMUTABLE, validate_object_meta, validate_object_meta_update};
use crate::FieldError;

fn decoded(value: &Value) -> Option<Vec<u8>> {
    value.as_str().and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
}

/// ValidateSecret.
pub fn validate_create(secret: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(secret, true, names::name_is_dns_subdomain);
    let data = obj_of(secret, "data");
    let mut total = 0usize;
    for (key, value) in data.into_iter().flatten() {
        let path = format!("data[{key}]");
        errs.extend(names::is_config_map_key(key).into_iter().map(|m| FieldError::invalid(&path, key.as_str(), m)));
        total += decoded(value).map_or(0, |b| b.len());
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let has = |key: &str| data.is_some_and(|d| d.contains_key(key));
    let required = |key: &str| FieldError::required(format!("data[{key}]"), "");
    match str_of(secret, "type") {
        "kubernetes.io/service-account-token" => {
            let annotations = string_map(metadata(secret), "annotations");
            let named = annotations.iter().any(|(k, v)| *k == "kubernetes.io/service-account.name" && !v.is_empty());
            if !named {
                errs.push(FieldError::required("metadata.annotations[kubernetes.io/service-account.name]", ""));
            }
        }
        kind @ ("kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson") => {
            let key = if kind == "kubernetes.io/dockercfg" { ".dockercfg" } else { ".dockerconfigjson" };
            match data.and_then(|d| d.get(key)) {
                None => errs.push(required(key)),
                Some(value) => {
                    let parsed = decoded(value).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
                    if !parsed.is_some_and(|v| v.is_object()) {
                        errs.push(FieldError::invalid(
                            format!("data[{key}]"),
                            "<secret contents redacted>",
                            "invalid JSON object",
                        ));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(required("username"));
            errs.push(required("password"));
        }
        "kubernetes.io/ssh-auth"
            if data.and_then(|d| d.get("ssh-privatekey")).and_then(decoded).is_none_or(|b| b.is_empty()) =>
        {
            errs.push(required("ssh-privatekey"));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(required(key));
                }
            }
        }
        _ => {}
    }
    errs
}

/// ValidateSecretUpdate.
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let (new_type, old_type) = (str_of(new, "type"), str_of(old, "type"));
    if new_type != old_type {
        errs.push(FieldError::invalid("type", new_type, FIELD_IMMUTABLE));
    }
    errs.extend(validate_immutable(new, old, &["data"]));
    errs.extend(validate_create(new));
    errs
}
