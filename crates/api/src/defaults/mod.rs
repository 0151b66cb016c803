//! Defaulting as kube-apiserver 1.33 does it: the `SetDefaults_*` functions of
//! `pkg/apis/core/v1/defaults.go` and `pkg/apis/apps/v1/defaults.go`, plus the generated
//! defaults of k8s.io/api, and the two admission plugins every cluster runs that only add fields
//! (DefaultTolerationSeconds, Priority), so that a stored object looks like Kubernetes' own.
//!
//! Owns: filling unset fields of a decoded JSON object, on create and on update. Protobuf and
//! JSON zero values (`""`, `null`) count as unset. Must not: validate (see `crate::validation`),
//! allocate cluster IPs, pick names, or set status the registry strategies own (pod phase, QoS).

mod deployment;
mod namespace;
mod node;
mod pod;
pub mod runtime_class;
mod secret;
mod service;

use serde_json::{Map, Value};

use crate::ResourceInfo;

/// Fills defaults as kube-apiserver's defaulting functions (SetDefaults_*, `pkg/apis/*/v1/defaults.go`
/// and k8s.io/api defaults) do, on create and on update. `object` is the JSON object of the
/// resource `info`. Also treats protobuf zero values ("" for strings, etc.) as unset where relevant.
pub fn apply_defaults(info: &ResourceInfo, object: &mut Value) {
    let Some(obj) = object.as_object_mut() else { return };
    match (info.group, info.kind) {
        ("", "Pod") => pod::default_pod(obj),
        ("", "Service") => service::default_service(obj),
        ("", "Namespace") => namespace::default_namespace(obj),
        ("", "Secret") => secret::default_secret(obj),
        ("", "Node") => node::default_node(obj),
        ("", "Endpoints") => service::default_endpoints(obj),
        ("apps", "Deployment") => deployment::default_deployment(obj),
        ("apps", "ReplicaSet") => deployment::default_replicaset(obj),
        // Events, ConfigMaps, ServiceAccounts and Leases have no defaults.
        _ => {}
    }
}

/// Whether a field counts as unset: absent, `null`, or `""`.
fn is_unset(obj: &Map<String, Value>, key: &str) -> bool {
    match obj.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

/// Sets `key` to `value` when unset.
fn set_default(obj: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    if is_unset(obj, key) {
        obj.insert(key.to_string(), value.into());
    }
}

/// Runs `f` on the object at `key`, creating it (in place of a null or non-object) first.
fn ensure_object(obj: &mut Map<String, Value>, key: &str, f: impl FnOnce(&mut Map<String, Value>)) {
    let mut inner = match obj.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    f(&mut inner);
    obj.insert(key.to_string(), Value::Object(inner));
}

/// Runs `f` on every object in the array at `key`, if any.
fn each_object(obj: &mut Map<String, Value>, key: &str, mut f: impl FnMut(&mut Map<String, Value>)) {
    if let Some(items) = obj.get_mut(key).and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            f(item);
        }
    }
}

/// Runs `f` on the object at `key` when it is present and an object.
fn with_object(obj: &mut Map<String, Value>, key: &str, f: impl FnOnce(&mut Map<String, Value>)) {
    if let Some(m) = obj.get_mut(key).and_then(Value::as_object_mut) {
        f(m);
    }
}

#[cfg(test)]
mod tests;
