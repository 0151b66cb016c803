//! Request bodies in, canonical objects out: JSON, YAML and protobuf decoding, the check of
//! `apiVersion`/`kind` against the resource, and strict field validation (unknown fields).
//!
//! Every object goes through its typed `k8s-openapi` struct once ("round trip"), as
//! kube-apiserver decodes into its internal types: shapes that the Go struct would refuse are
//! refused here with a 400, and fields the struct does not know are reported so that the
//! apiserver can apply `fieldValidation=Strict|Warn|Ignore`.
//!
//! This module must not know about HTTP; it returns errors the apiserver maps to `Status`.

use k8s_openapi::api::{apps, coordination, core, events};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ResourceInfo;

/// The deepest nesting accepted in a request body (objects and arrays). Kubernetes objects
/// nest a few dozen levels at most; this refuses hostile bodies before recursion can hurt.
pub const MAX_NESTING_DEPTH: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// The body could not be parsed at all (a 400 `BadRequest`).
    #[error("{0}")]
    Malformed(String),
    /// The content type is not one the server reads (a 415 `UnsupportedMediaType`).
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    )]
    UnsupportedMediaType,
    /// `strict decoding error: unknown field "spec.foo"` (a 400 under `fieldValidation=Strict`).
    #[error("strict decoding error: {}", .0.iter().map(|f| format!("unknown field \"{f}\"")).collect::<Vec<_>>().join(", "))]
    UnknownFields(Vec<String>),
}

/// The body formats a request can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
    Protobuf,
}

impl BodyFormat {
    /// From a `Content-Type` header; JSON when absent. Patch content types are handled by
    /// the caller.
    pub fn from_content_type(content_type: Option<&str>) -> Result<BodyFormat, DecodeError> {
        let Some(content_type) = content_type else { return Ok(BodyFormat::Json) };
        let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media_type.as_str() {
            "" | "application/json" | "*/*" => Ok(BodyFormat::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(BodyFormat::Yaml),
            "application/vnd.kubernetes.protobuf" => Ok(BodyFormat::Protobuf),
            _ => Err(DecodeError::UnsupportedMediaType),
        }
    }
}

/// Parses a body into a JSON value, whatever its format.
pub fn decode_body(format: BodyFormat, body: &[u8]) -> Result<Value, DecodeError> {
    match format {
        // Both check the nesting depth themselves.
        BodyFormat::Json => parse_json(body),
        BodyFormat::Yaml => parse_yaml(body),
        BodyFormat::Protobuf => {
            let value = crate::protobuf::decode(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
            check_depth(&value)?;
            Ok(value)
        }
    }
}

/// JSON with serde_json's own recursion limit (128), mapped to a 400.
pub fn parse_json(body: &[u8]) -> Result<Value, DecodeError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| DecodeError::Malformed(format!("couldn't get version/kind; json parse error: {e}")))?;
    check_depth(&value)?;
    Ok(value)
}

/// YAML read the way Kubernetes reads it (YAML 1.1: `0644` is octal 420, `yes` is true).
pub fn parse_yaml(body: &[u8]) -> Result<Value, DecodeError> {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    let value: Value = serde_saphyr::from_slice_with_options(body, options)
        .map_err(|e| DecodeError::Malformed(format!("error converting YAML to JSON: {e}")))?;
    check_depth(&value)?;
    Ok(value)
}

fn check_depth(value: &Value) -> Result<(), DecodeError> {
    fn depth(value: &Value, level: usize) -> Result<(), DecodeError> {
        if level > MAX_NESTING_DEPTH {
            return Err(DecodeError::Malformed(format!(
                "object nesting exceeds the limit of {MAX_NESTING_DEPTH} levels"
            )));
        }
        match value {
            Value::Object(map) => map.values().try_for_each(|v| depth(v, level + 1)),
            Value::Array(items) => items.iter().try_for_each(|v| depth(v, level + 1)),
            _ => Ok(()),
        }
    }
    depth(value, 0)
}

/// Checks that `object` is a JSON object of `info`'s kind (filling in a missing `apiVersion`
/// or `kind`), round-trips it through the typed struct, and returns the canonical object
/// together with the paths of fields the type does not have.
pub fn normalize(info: &ResourceInfo, object: Value) -> Result<(Value, Vec<String>), DecodeError> {
    normalize_as(&info.api_version(), info.kind, object)
}

/// As [`normalize`], for a kind named by apiVersion and kind (subresource bodies: `Scale`,
/// `Binding`, `DeleteOptions`, `Eviction`).
pub fn normalize_as(api_version: &str, kind: &str, mut object: Value) -> Result<(Value, Vec<String>), DecodeError> {
    let Value::Object(map) = &mut object else {
        return Err(DecodeError::Malformed(format!(
            "{kind} in version \"{api_version}\" cannot be handled: the body is not a JSON object"
        )));
    };
    match map.get("kind") {
        None | Some(Value::Null) => {
            map.insert("kind".into(), Value::String(kind.into()));
        }
        Some(Value::String(k)) if k == kind => {}
        Some(other) => {
            return Err(DecodeError::Malformed(format!(
                "the kind {other} in the body does not match the kind {kind} of the resource"
            )));
        }
    }
    match map.get("apiVersion") {
        None | Some(Value::Null) => {
            map.insert("apiVersion".into(), Value::String(api_version.into()));
        }
        Some(Value::String(v)) if v == api_version => {}
        Some(other) => {
            return Err(DecodeError::Malformed(format!(
                "the API version {other} in the body does not match the API version {api_version} of the resource"
            )));
        }
    }
    let mut canonical = round_trip(api_version, kind, &object)?;
    let mut unknown = Vec::new();
    collect_unknown_fields(&object, &canonical, "", &mut unknown);
    drop_empty_omitempty(&mut canonical);
    Ok((canonical, unknown))
}

/// Map-typed fields of the Kubernetes types (`map[string]...` with `omitempty`). An empty
/// JSON object in one of these is an empty Go map, which Kubernetes does not serialize;
/// elsewhere `{}` is a struct (`resources: {}`, `emptyDir: {}`) and stays.
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "nodeSelector",
    "data",
    "binaryData",
    "stringData",
    "matchLabels",
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "overhead",
];

/// Drops what Go's `omitempty` drops and k8s-openapi keeps: empty lists (every list field
/// of the API types is `omitempty`) and empty maps, so that emptying labels with a patch
/// leaves no `labels: {}` behind, as in Kubernetes.
fn drop_empty_omitempty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, child| match child {
                Value::Array(items) => !items.is_empty(),
                Value::Object(fields) => !(fields.is_empty() && MAP_FIELDS.contains(&key.as_str())),
                _ => true,
            });
            map.values_mut().for_each(drop_empty_omitempty);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty_omitempty),
        _ => {}
    }
}

fn round_trip(api_version: &str, kind: &str, object: &Value) -> Result<Value, DecodeError> {
    fn via<T: DeserializeOwned + Serialize>(
        kind: &str,
        api_version: &str,
        object: &Value,
    ) -> Result<Value, DecodeError> {
        // Deserializing from a borrowed Value spares a copy of the whole tree.
        let typed = T::deserialize(object).map_err(|e| {
            DecodeError::Malformed(format!("{kind} in version \"{api_version}\" cannot be handled as a {kind}: {e}"))
        })?;
        serde_json::to_value(&typed).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
    match (api_version, kind) {
        ("v1", "Pod") => via::<core::v1::Pod>(kind, api_version, object),
        ("v1", "Namespace") => via::<core::v1::Namespace>(kind, api_version, object),
        ("v1", "Node") => via::<core::v1::Node>(kind, api_version, object),
        ("v1", "Event") => via::<core::v1::Event>(kind, api_version, object),
        ("v1", "ConfigMap") => via::<core::v1::ConfigMap>(kind, api_version, object),
        ("v1", "Secret") => via::<core::v1::Secret>(kind, api_version, object),
        ("v1", "Service") => via::<core::v1::Service>(kind, api_version, object),
        ("v1", "Endpoints") => via::<core::v1::Endpoints>(kind, api_version, object),
        ("v1", "ServiceAccount") => via::<core::v1::ServiceAccount>(kind, api_version, object),
        ("v1", "Binding") => via::<core::v1::Binding>(kind, api_version, object),
        ("coordination.k8s.io/v1", "Lease") => via::<coordination::v1::Lease>(kind, api_version, object),
        ("apps/v1", "Deployment") => via::<apps::v1::Deployment>(kind, api_version, object),
        ("apps/v1", "ReplicaSet") => via::<apps::v1::ReplicaSet>(kind, api_version, object),
        ("events.k8s.io/v1", "Event") => via::<events::v1::Event>(kind, api_version, object),
        ("node.k8s.io/v1", "RuntimeClass") => {
            via::<k8s_openapi::api::node::v1::RuntimeClass>(kind, api_version, object)
        }
        ("autoscaling/v1", "Scale") => via::<k8s_openapi::api::autoscaling::v1::Scale>(kind, api_version, object),
        ("policy/v1", "Eviction") => via::<k8s_openapi::api::policy::v1::Eviction>(kind, api_version, object),
        (_, "DeleteOptions") => via::<meta::DeleteOptions>(kind, api_version, object),
        _ => Err(DecodeError::Malformed(format!("no kind \"{kind}\" is registered for version \"{api_version}\""))),
    }
}

/// Paths present (and not null) in `input` that the typed round trip dropped.
fn collect_unknown_fields(input: &Value, canonical: &Value, path: &str, unknown: &mut Vec<String>) {
    match (input, canonical) {
        (Value::Object(input_map), Value::Object(canonical_map)) => {
            for (key, value) in input_map {
                if value.is_null() {
                    continue;
                }
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match canonical_map.get(key) {
                    Some(canonical_value) => collect_unknown_fields(value, canonical_value, &child, unknown),
                    // Map-typed fields (labels, data) keep every key, so a missing key here is a
                    // field the struct does not have.
                    None => unknown.push(child),
                }
            }
        }
        (Value::Array(input_items), Value::Array(canonical_items)) => {
            for (index, (item, canonical_item)) in input_items.iter().zip(canonical_items).enumerate() {
                collect_unknown_fields(item, canonical_item, &format!("{path}[{index}]"), unknown);
            }
        }
        _ => {}
    }
}

/// Serializes an object for storage or a response.
pub fn to_json_bytes(value: &Value) -> Vec<u8> {
    // Serializing a `Value` cannot fail: its keys are strings and it holds no custom types.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;

    fn pods() -> &'static ResourceInfo {
        resources::find("", "v1", "pods").unwrap()
    }

    #[test]
    fn kubectl_run_body_round_trips_without_unknown_fields() {
        let body = br#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"busybox","creationTimestamp":null,"labels":{"run":"busybox"}},
            "spec":{"containers":[{"name":"busybox","image":"busybox","args":["echo","Hello World"],"resources":{}}],
            "restartPolicy":"Never","dnsPolicy":"ClusterFirst"},"status":{}}"#;
        let value = decode_body(BodyFormat::Json, body).unwrap();
        let (canonical, unknown) = normalize(pods(), value).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(canonical["spec"]["containers"][0]["args"][1], "Hello World");
        assert_eq!(canonical["metadata"]["labels"]["run"], "busybox");
    }

    #[test]
    fn unknown_fields_are_reported_with_paths() {
        let value = serde_json::json!({"metadata":{"name":"x"},"spec":{"foo":1,"containers":[{"name":"a","image":"b","bogus":true}]}});
        let (_, unknown) = normalize(pods(), value).unwrap();
        assert_eq!(unknown, vec!["spec.containers[0].bogus".to_string(), "spec.foo".to_string()]);
        assert_eq!(
            DecodeError::UnknownFields(unknown).to_string(),
            "strict decoding error: unknown field \"spec.containers[0].bogus\", unknown field \"spec.foo\""
        );
    }

    #[test]
    fn empty_maps_and_lists_are_omitted_but_empty_structs_stay() {
        let value = serde_json::json!({"metadata":{"name":"x","labels":{},"annotations":{}},
            "spec":{"containers":[{"name":"a","image":"b","args":[],"resources":{}}],"volumes":[{"name":"v","emptyDir":{}}]}});
        let (canonical, unknown) = normalize(pods(), value).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert!(canonical["metadata"].get("labels").is_none());
        assert!(canonical["metadata"].get("annotations").is_none());
        assert!(canonical["spec"]["containers"][0].get("args").is_none());
        assert_eq!(canonical["spec"]["containers"][0]["resources"], serde_json::json!({}));
        assert_eq!(canonical["spec"]["volumes"][0]["emptyDir"], serde_json::json!({}));
    }

    #[test]
    fn wrong_kind_and_bad_shapes_are_errors_not_panics() {
        assert!(normalize(pods(), serde_json::json!({"kind":"Service"})).is_err());
        assert!(normalize(pods(), serde_json::json!([1, 2])).is_err());
        assert!(normalize(pods(), serde_json::json!({"spec":{"containers":"nope"}})).is_err());
        let filled = normalize(pods(), serde_json::json!({"metadata":{"name":"x"}})).unwrap().0;
        assert_eq!((filled["kind"].as_str(), filled["apiVersion"].as_str()), (Some("Pod"), Some("v1")));
    }

    #[test]
    fn yaml_is_read_as_kubernetes_reads_it() {
        let body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  mode: '0644'\n";
        let value = decode_body(BodyFormat::Yaml, body).unwrap();
        assert_eq!(value["data"]["mode"], "0644");
        let octal = parse_yaml(b"defaultMode: 0644\n").unwrap();
        assert_eq!(octal["defaultMode"], 420);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "[".repeat(110) + &"]".repeat(110);
        assert!(decode_body(BodyFormat::Json, deep.as_bytes()).is_err());
        let mut nested = String::from("a: ");
        for _ in 0..120 {
            nested.push_str("{b: ");
        }
        nested.push('1');
        nested.push_str(&"}".repeat(120));
        assert!(decode_body(BodyFormat::Yaml, nested.as_bytes()).is_err());
    }

    #[test]
    fn content_types() {
        assert_eq!(BodyFormat::from_content_type(None).unwrap(), BodyFormat::Json);
        assert_eq!(BodyFormat::from_content_type(Some("application/json; charset=utf-8")).unwrap(), BodyFormat::Json);
        assert_eq!(BodyFormat::from_content_type(Some("application/yaml")).unwrap(), BodyFormat::Yaml);
        assert_eq!(
            BodyFormat::from_content_type(Some("application/vnd.kubernetes.protobuf")).unwrap(),
            BodyFormat::Protobuf
        );
        assert_eq!(BodyFormat::from_content_type(Some("text/plain")), Err(DecodeError::UnsupportedMediaType));
    }
}
