//! The OpenAPI v2 (Swagger 2.0) document kube-apiserver serves at `/openapi/v2`: one document with the
//! paths and definitions of every group version, as JSON and as gnostic's `openapi.v2.Document`
//! protobuf (`v2_proto.rs`).
//!
//! kubectl up to 1.28 reads it (as protobuf) for `create`/`apply` with `--validate=strict` (the PATCH
//! operation of a kind with `x-kubernetes-group-version-kind` and a `fieldValidation` query parameter
//! makes it leave validation to the server), for `kubectl explain` and for the strategic merge patch
//! metadata of `kubectl apply` (`x-kubernetes-patch-*` on the definitions).
//!
//! Built from the same data as the v3 documents (`super::build` for every v3 path, not cached ones):
//! operations get `consumes`/`produces`/`schemes` and a `body` parameter instead of `requestBody`, and
//! schemas refer to `#/definitions/` with the `allOf` wrappers of OpenAPI 3 unwrapped, as kube-openapi's
//! v2 builder writes them. Built on first request and kept; must not do IO or know about HTTP.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use super::{KUBERNETES_VERSION, build, entries, v2_proto};

const V3_REF_PREFIX: &str = "#/components/schemas/";
const V2_REF_PREFIX: &str = "#/definitions/";

/// The content type kube-apiserver answers protobuf requests with (kube-openapi's handler accepts
/// the deprecated `…spec.v2@v1.0+protobuf` that kubectl sends, and this one, and answers with this one).
pub const V2_PROTOBUF_CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// An encoding of the v2 document a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V2Encoding {
    Json,
    Protobuf,
}

impl V2Encoding {
    /// Picks the encoding for an `Accept` header as kube-openapi's handler does: clauses sorted by
    /// quality (then specificity), each matched in turn against `application/json`, then the two
    /// protobuf media types; a missing header means `*/*` (JSON). None means 406 Not Acceptable.
    pub fn negotiate(accept: Option<&str>) -> Option<V2Encoding> {
        const ACCEPTED: &[(&str, V2Encoding)] = &[
            ("json", V2Encoding::Json),
            ("com.github.proto-openapi.spec.v2@v1.0+protobuf", V2Encoding::Protobuf),
            ("com.github.proto-openapi.spec.v2.v1.0+protobuf", V2Encoding::Protobuf),
        ];
        let accept = accept.map(str::trim).filter(|a| !a.is_empty()).unwrap_or("*/*");
        let mut clauses: Vec<(f64, bool, bool, &str, &str)> = accept
            .split(',')
            .filter_map(|clause| {
                let mut parts = clause.split(';');
                let (kind, sub) = parts.next()?.trim().split_once('/')?;
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f64>().ok())
                    .unwrap_or(1.0);
                Some((q, kind != "*", sub != "*", kind.trim(), sub.trim()))
            })
            .collect();
        // Stable sort: higher quality first, then concrete types before wildcards.
        clauses.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
        clauses.iter().filter(|c| c.0 > 0.0).find_map(|(_, _, _, kind, sub)| {
            if *kind != "application" && *kind != "*" {
                return None;
            }
            ACCEPTED.iter().find(|(accepted, _)| sub == accepted || *sub == "*").map(|(_, encoding)| *encoding)
        })
    }

    /// The `Content-Type` of the answer.
    pub fn content_type(self) -> &'static str {
        match self {
            V2Encoding::Json => "application/json",
            V2Encoding::Protobuf => V2_PROTOBUF_CONTENT_TYPE,
        }
    }

    /// The document in this encoding.
    pub fn body(self) -> Arc<Vec<u8>> {
        match self {
            V2Encoding::Json => v2_json(),
            V2Encoding::Protobuf => v2_protobuf(),
        }
    }

    /// The quoted `ETag` of the body (uppercase hex SHA-512, as kube-openapi computes it), so that
    /// clients can revalidate with `If-None-Match`. Computed once per encoding.
    pub fn etag(self) -> String {
        static JSON: OnceLock<String> = OnceLock::new();
        static PROTOBUF: OnceLock<String> = OnceLock::new();
        let cell = match self {
            V2Encoding::Json => &JSON,
            V2Encoding::Protobuf => &PROTOBUF,
        };
        cell.get_or_init(|| {
            let digest: String = Sha512::digest(self.body().as_slice()).iter().map(|b| format!("{b:02X}")).collect();
            format!("\"{digest}\"")
        })
        .clone()
    }
}

/// The OpenAPI v2 (Swagger 2.0) document of every served resource, as JSON bytes (kube-apiserver
/// serves it for `Accept: application/json`) — built lazily, cached.
pub fn v2_json() -> Arc<Vec<u8>> {
    static JSON: OnceLock<Arc<Vec<u8>>> = OnceLock::new();
    JSON.get_or_init(|| {
        // Serializing a `Value` cannot fail (its keys are strings); an empty body would only mean a bug.
        Arc::new(serde_json::to_vec(&document()).unwrap_or_default())
    })
    .clone()
}

/// The same document encoded as the gnostic `openapi.v2.Document` protobuf message (for
/// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) — built lazily, cached.
/// Built from a fresh `Value`, not from `v2_json()`, so that serving only protobuf (all kubectl asks
/// for) does not also keep the JSON bytes.
pub fn v2_protobuf() -> Arc<Vec<u8>> {
    static PROTOBUF: OnceLock<Arc<Vec<u8>>> = OnceLock::new();
    PROTOBUF.get_or_init(|| Arc::new(v2_proto::encode_document(&document()))).clone()
}

/// The whole Swagger 2.0 document. Keys are sorted (paths, definitions, properties), as Go's JSON
/// encoding of kube-openapi's maps sorts them.
pub(super) fn document() -> Value {
    let mut paths: BTreeMap<String, Value> = BTreeMap::new();
    let mut definitions: BTreeMap<String, Value> = BTreeMap::new();
    for entry in entries() {
        // A kind without a schema fails its v3 document too, and the unit tests build every one.
        let Ok(v3) = build(&entry.subject) else { continue };
        if let Some(v3_paths) = v3["paths"].as_object() {
            for (path, item) in v3_paths {
                paths.insert(path.clone(), path_item(item));
            }
        }
        if let Some(schemas) = v3["components"]["schemas"].as_object() {
            for (name, schema) in schemas {
                // The meta schemas (ObjectMeta, Status, DeleteOptions, ...) appear in every group
                // version document, identically (their GVK lists name every group version).
                definitions.entry(name.clone()).or_insert_with(|| schema_v2(schema));
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {"description": "Bearer Token authentication", "type": "apiKey", "name": "authorization", "in": "header"},
        },
        "security": [{"BearerToken": []}],
    })
}

/// A v3 path item: the operations and the path-level parameters.
fn path_item(v3: &Value) -> Value {
    let mut item = Map::new();
    let Some(fields) = v3.as_object() else { return Value::Object(item) };
    for (key, value) in fields {
        match key.as_str() {
            "get" | "put" | "post" | "delete" | "options" | "head" | "patch" => {
                item.insert(key.clone(), operation(value));
            }
            "parameters" => {
                item.insert(key.clone(), Value::Array(parameters(value)));
            }
            _ => {}
        }
    }
    Value::Object(item)
}

/// A v3 operation in v2 form: media types move from `content` maps to `consumes`/`produces`, the
/// request body becomes the `body` parameter (first, as kube-openapi lists it).
fn operation(v3: &Value) -> Value {
    let mut op = Map::new();
    let body_content = v3["requestBody"]["content"].as_object();
    let consumes: Vec<Value> = match body_content {
        Some(content) => in_upstream_order(content.keys()),
        None => vec![Value::from("*/*")],
    };
    op.insert("consumes".into(), Value::Array(consumes));
    if let Some(description) = v3.get("description") {
        op.insert("description".into(), description.clone());
    }
    if let Some(id) = v3.get("operationId") {
        op.insert("operationId".into(), id.clone());
    }
    let mut params = Vec::new();
    if let Some(content) = body_content {
        let schema = content.values().find_map(|c| c.get("schema")).map(schema_v2).unwrap_or_else(|| json!({}));
        let required = v3["requestBody"]["required"].as_bool().unwrap_or(false);
        params.push(json!({"name": "body", "in": "body", "required": required, "schema": schema}));
    }
    params.extend(parameters(&v3["parameters"]));
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    let mut produces: Vec<&String> = Vec::new();
    let mut responses = Map::new();
    if let Some(v3_responses) = v3["responses"].as_object() {
        for (code, response) in v3_responses {
            let mut out = Map::new();
            out.insert("description".into(), response.get("description").cloned().unwrap_or_else(|| json!("")));
            if let Some(content) = response["content"].as_object() {
                if let Some(schema) = content.values().find_map(|c| c.get("schema")) {
                    out.insert("schema".into(), schema_v2(schema));
                }
                for media_type in content.keys() {
                    if !produces.contains(&media_type) {
                        produces.push(media_type);
                    }
                }
            }
            responses.insert(code.clone(), Value::Object(out));
        }
    }
    op.insert("produces".into(), Value::Array(in_upstream_order(produces)));
    op.insert("responses".into(), Value::Object(responses));
    op.insert("schemes".into(), json!(["https"]));
    if let Some(tags) = v3.get("tags") {
        op.insert("tags".into(), tags.clone());
    }
    if let Some(fields) = v3.as_object() {
        for (key, value) in fields.iter().filter(|(k, _)| k.starts_with("x-")) {
            op.insert(key.clone(), value.clone());
        }
    }
    Value::Object(op)
}

/// Media types in the order kube-apiserver lists them (the v3 `content` maps lost it).
fn in_upstream_order<'a>(types: impl IntoIterator<Item = &'a String>) -> Vec<Value> {
    const ORDER: &[&str] = &[
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "text/plain",
        "application/json",
        "application/yaml",
        "application/vnd.kubernetes.protobuf",
        "application/json;stream=watch",
        "application/vnd.kubernetes.protobuf;stream=watch",
    ];
    let mut types: Vec<&String> = types.into_iter().collect();
    types.sort_by_key(|t| ORDER.iter().position(|known| known == t).unwrap_or(ORDER.len()));
    types.into_iter().map(|t| Value::from(t.as_str())).collect()
}

/// v3 parameters (`schema: {type, uniqueItems}`) in v2 form (`type` and `uniqueItems` inline).
fn parameters(v3: &Value) -> Vec<Value> {
    let Some(list) = v3.as_array() else { return Vec::new() };
    list.iter()
        .map(|p| {
            let mut out = Map::new();
            for key in ["uniqueItems", "type", "format"] {
                if let Some(value) = p["schema"].get(key) {
                    out.insert(key.into(), value.clone());
                }
            }
            for key in ["description", "name", "in", "required"] {
                if let Some(value) = p.get(key) {
                    out.insert(key.into(), value.clone());
                }
            }
            Value::Object(out)
        })
        .collect()
}

/// The keywords of a Swagger 2.0 schema object other than `$ref`, `allOf`, `properties`, `items`
/// and `additionalProperties` (converted recursively); anything else of OpenAPI 3 (`nullable`,
/// `oneOf`, `anyOf`, `not`, ...) has no v2 form and is dropped, as gnostic rejects unknown keys.
const PLAIN_KEYWORDS: &[&str] = &[
    "default",
    "description",
    "discriminator",
    "enum",
    "example",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "externalDocs",
    "format",
    "maxItems",
    "maxLength",
    "maxProperties",
    "maximum",
    "minItems",
    "minLength",
    "minProperties",
    "minimum",
    "multipleOf",
    "pattern",
    "readOnly",
    "required",
    "title",
    "uniqueItems",
    "xml",
];

/// A v3 schema in v2 form.
pub(super) fn schema_v2(v3: &Value) -> Value {
    let Some(fields) = v3.as_object() else { return v3.clone() };
    let mut out = Map::new();
    for (key, value) in fields {
        match key.as_str() {
            "$ref" => {
                let target = value.as_str().unwrap_or_default();
                let name = target.strip_prefix(V3_REF_PREFIX).unwrap_or(target);
                out.insert(key.clone(), Value::String(format!("{V2_REF_PREFIX}{name}")));
            }
            // OpenAPI 3 wraps a `$ref` in `allOf` so that siblings (description, default) count;
            // Swagger 2.0 (and kube-openapi's v2 output) puts them next to the `$ref`.
            "allOf" => match value.as_array().map(Vec::as_slice) {
                Some([only]) if only.as_object().is_some_and(|o| o.len() == 1 && o.contains_key("$ref")) => {
                    if let Value::Object(converted) = schema_v2(only) {
                        out.extend(converted);
                    }
                }
                Some(all) => {
                    out.insert(key.clone(), Value::Array(all.iter().map(schema_v2).collect()));
                }
                None => {}
            },
            "properties" => {
                let properties: Map<String, Value> = value
                    .as_object()
                    .map(|p| p.iter().map(|(name, schema)| (name.clone(), schema_v2(schema))).collect())
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Object(properties));
            }
            "items" => {
                out.insert(key.clone(), schema_v2(value));
            }
            "additionalProperties" => {
                let converted = if value.is_boolean() { value.clone() } else { schema_v2(value) };
                out.insert(key.clone(), converted);
            }
            "type" => {
                // Swagger 2.0 has no "null" type (OpenAPI 3.0 uses `nullable`, never a type array).
                let types: Vec<&Value> = match value {
                    Value::Array(types) => types.iter().filter(|t| t.as_str() != Some("null")).collect(),
                    other => vec![other],
                };
                if let [single] = types.as_slice() {
                    out.insert(key.clone(), (*single).clone());
                }
            }
            _ if key.starts_with("x-") || PLAIN_KEYWORDS.contains(&key.as_str()) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    // kube-openapi's v2 IntOrString and Quantity are `"type": "string"`: kubectl 1.27's `explain`
    // and client-side validation read the type (an untyped schema is "arbitrary", shown as `<>`).
    if out.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) && !out.contains_key("type") {
        out.insert("type".into(), json!("string"));
    }
    Value::Object(out)
}
