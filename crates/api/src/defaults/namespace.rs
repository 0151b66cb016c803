//! Namespace defaults: status.phase Active (SetDefaults_NamespaceStatus). The `kubernetes`
//! finalizer is not a default: the namespace strategy adds it on create only (the apiserver's
//! `write::prepare_create`), because the namespace controller removes it over the object's life.

use serde_json::{Map, Value};

use super::{ensure_object, set_default};

pub fn default_namespace(ns: &mut Map<String, Value>) {
    ensure_object(ns, "status", |status| set_default(status, "phase", "Active"));
}
