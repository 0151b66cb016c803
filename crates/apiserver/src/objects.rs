//! How objects sit in the store: keys (`/registry/pods/default/busybox`), the JSON bytes
//! stored (everything but `metadata.resourceVersion`, which is the store revision and is set
//! on the way out), and small helpers over object JSON shared by the verbs.

use api::ResourceInfo;
use serde_json::{Map, Value};
use store::{KeyValue, Revision};

use crate::error::{ApiError, ApiResult};

/// The key of one object.
pub fn key(info: &ResourceInfo, namespace: Option<&str>, name: &str) -> String {
    match namespace.filter(|_| info.namespaced) {
        Some(namespace) => format!("{}{namespace}/{name}", info.key_prefix()),
        None => format!("{}{name}", info.key_prefix()),
    }
}

/// The key prefix of every object of a resource, or of those in one namespace.
pub fn prefix(info: &ResourceInfo, namespace: Option<&str>) -> String {
    match namespace.filter(|_| info.namespaced) {
        Some(namespace) => format!("{}{namespace}/", info.key_prefix()),
        None => info.key_prefix(),
    }
}

/// The object stored under a key, as `info` serves it, with `resourceVersion` set to its
/// revision.
pub fn from_kv(info: &ResourceInfo, kv: &KeyValue) -> ApiResult<Value> {
    from_bytes(info, &kv.value, kv.mod_revision)
}

pub fn from_bytes(info: &ResourceInfo, bytes: &[u8], revision: Revision) -> ApiResult<Value> {
    let stored: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal(format!("stored object is not valid JSON: {e}")))?;
    let mut object = api::convert::from_storage(info, stored);
    set_resource_version(&mut object, revision);
    Ok(object)
}

/// Appends an object stored as served (see [`api::convert::stored_as_served`]) to `out` as
/// JSON with `metadata.resourceVersion` set to `revision`, without decoding it: the version
/// is spliced in as the first field of `metadata` (stored objects never carry one).
pub fn write_served_json(out: &mut Vec<u8>, stored: &[u8], revision: Revision) -> ApiResult<()> {
    #[derive(serde::Deserialize)]
    struct Stored<'a> {
        #[serde(borrow)]
        metadata: &'a serde_json::value::RawValue,
    }
    let invalid = |reason: String| ApiError::internal(format!("stored object is not valid JSON: {reason}"));
    let parsed: Stored<'_> = serde_json::from_slice(stored).map_err(|e| invalid(e.to_string()))?;
    let metadata = parsed.metadata.get();
    // The raw value is a slice of `stored`: its offset is where metadata's `{` sits.
    let start = (metadata.as_ptr() as usize).wrapping_sub(stored.as_ptr() as usize);
    if stored.get(start) != Some(&b'{') || !metadata.starts_with('{') {
        return Err(invalid("metadata is not an object".into()));
    }
    out.extend_from_slice(&stored[..=start]);
    out.extend_from_slice(b"\"resourceVersion\":\"");
    out.extend_from_slice(revision.to_string().as_bytes());
    out.push(b'"');
    if metadata[1..].trim_start().as_bytes().first() != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(&stored[start + 1..]);
    Ok(())
}

/// The bytes to store for an object served as `info` (no `resourceVersion`: the revision is
/// the version). The object is left as it was.
pub fn to_bytes(info: &ResourceInfo, object: &mut Value) -> Vec<u8> {
    if api::convert::stored_as_served(info) {
        // Most kinds are stored as served: take the version out for the time of encoding,
        // rather than copying the whole object.
        let version =
            object.get_mut("metadata").and_then(Value::as_object_mut).and_then(|m| m.remove("resourceVersion"));
        let bytes = api::codec::to_json_bytes(object);
        if let Some(version) = version {
            metadata_mut(object).insert("resourceVersion".into(), version);
        }
        return bytes;
    }
    let mut stored = api::convert::to_storage(info, object.clone());
    if let Some(metadata) = stored.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
    }
    api::codec::to_json_bytes(&stored)
}

pub fn set_resource_version(object: &mut Value, revision: Revision) {
    metadata_mut(object).insert("resourceVersion".into(), Value::String(revision.to_string()));
}

/// `metadata` as a mutable map, created if missing or not an object.
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let map = object.as_object_mut().expect("just made an object");
    let metadata = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    metadata.as_object_mut().expect("just made an object")
}

pub fn metadata_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

pub fn name_of(object: &Value) -> &str {
    metadata_str(object, "name").unwrap_or("")
}

/// The resourceVersion a client sent, if any: `None` when absent or empty.
pub fn resource_version_of(object: &Value) -> ApiResult<Option<Revision>> {
    match metadata_str(object, "resourceVersion") {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse::<Revision>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {text:?}"))),
    }
}

pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

pub fn is_being_deleted(object: &Value) -> bool {
    metadata_str(object, "deletionTimestamp").is_some()
}

/// Current time as Kubernetes writes `metav1.Time`: RFC 3339, whole seconds, UTC.
pub fn now_rfc3339(now: jiff::Timestamp) -> String {
    now.round(jiff::Unit::Second).unwrap_or(now).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A random 5-character suffix from apimachinery's alphabet (no vowels, no look-alikes).
pub fn generate_name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_versions() {
        let pods = api::resources::find("", "v1", "pods").unwrap();
        let nodes = api::resources::find("", "v1", "nodes").unwrap();
        assert_eq!(key(pods, Some("default"), "a"), "/registry/pods/default/a");
        assert_eq!(key(nodes, None, "n1"), "/registry/nodes/n1");
        assert_eq!(prefix(pods, None), "/registry/pods/");
        let mut object = serde_json::json!({"metadata": {"name": "a", "resourceVersion": "5"}});
        let bytes = to_bytes(pods, &mut object);
        assert_eq!(object["metadata"]["resourceVersion"], "5", "the object is left as it was");
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        assert_eq!(from_bytes(pods, &bytes, 9).unwrap()["metadata"]["resourceVersion"], "9");
        set_resource_version(&mut object, 7);
        assert_eq!(resource_version_of(&object).unwrap(), Some(7));
        assert_eq!(generate_name_suffix().len(), 5);

        // Served straight from the stored bytes, the object is the one decoding would give.
        for object in [
            serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": {"x": "{\"metadata\":{"}}, "spec": {}}),
            serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}}),
        ] {
            let stored = to_bytes(pods, &mut object.clone());
            let mut served = Vec::new();
            write_served_json(&mut served, &stored, 42).unwrap();
            let served: Value = serde_json::from_slice(&served).unwrap();
            assert_eq!(served, from_bytes(pods, &stored, 42).unwrap());
            assert_eq!(served["metadata"]["resourceVersion"], "42");
        }
        assert!(write_served_json(&mut Vec::new(), br#"{"metadata":[]}"#, 1).is_err());
        assert!(write_served_json(&mut Vec::new(), b"{", 1).is_err());
        let t: jiff::Timestamp = "2025-01-02T03:04:05.6Z".parse().unwrap();
        assert_eq!(now_rfc3339(t), "2025-01-02T03:04:06Z");
    }
}
