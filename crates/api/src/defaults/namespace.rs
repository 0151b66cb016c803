//! Namespace defaults: status.phase Active (SetDefaults_NamespaceStatus) and the `kubernetes`
//! finalizer the namespace strategy adds on create.

use serde_json::{Map, Value, json};

use super::{ensure_object, set_default};

pub fn default_namespace(ns: &mut Map<String, Value>) {
    // The finalizer belongs to creation only (PrepareForCreate): an object that already has a
    // resourceVersion has been stored, and its finalizers change through `finalize` alone.
    let stored = ns
        .get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str)
        .is_some_and(|rv| !rv.is_empty());
    if !stored {
        ensure_object(ns, "spec", |spec| {
            if spec.get("finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty) {
                spec.insert("finalizers".to_string(), json!(["kubernetes"]));
            }
        });
    }
    ensure_object(ns, "status", |status| set_default(status, "phase", "Active"));
}
