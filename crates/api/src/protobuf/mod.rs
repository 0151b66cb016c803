//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//!
//! kubectl 1.32+ sends every typed-clientset request body (`kubectl create deployment`,
//! `create namespace`, `create configmap`, ...) as protobuf, with no JSON fallback. This module
//! turns such a body into the JSON object the same request would have carried as JSON, so the
//! rest of the server only ever handles JSON. It owns the wire decoding and the schema of the
//! accepted kinds; it must not validate, default or store objects, and it does not encode
//! protobuf (responses are always JSON: kubectl's `Accept` always includes `application/json`).
//!
//! # Format
//! A body is the 4-byte magic `k8s\0` followed by a `runtime.Unknown` message:
//! `{1: typeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}`, where
//! `raw` is the gogo-protobuf encoding of the typed object (for example
//! `k8s.io.api.apps.v1.Deployment`). The typed message is decoded with a static schema
//! (`generated.rs`, produced by `tools/gen_schema.py` from Kubernetes' `generated.proto` and
//! `types.go`) that gives each field its number, protobuf type, JSON name and Go tag facts.
//!
//! # Zero values: the rule implemented
//! The output is what Go's `encoding/json` would write for the Go struct that gogo-protobuf
//! decodes, which is what kubectl sends when it uses JSON:
//! * gogo writes every non-pointer field even at its zero value (`namespace: ""`,
//!   `hostNetwork: false`, `status.replicas: 0`). A non-pointer **scalar** (string, bytes,
//!   integer, bool) whose Go tag has `omitempty` is dropped at its zero value.
//! * Go **pointer** fields (`*int32`, `*bool`, `*string`, ...) are only written when set, and
//!   are kept even at zero: `spec.replicas: 0`, `automountServiceAccountToken: false`.
//! * Scalars without `omitempty` are kept at zero (`containerPort: 0`, `name: ""`), as in Go.
//! * Embedded messages are kept even when empty (`strategy: {}`, `resources: {}`,
//!   `status: {}`): `omitempty` never omits a Go struct, and kubectl's JSON has them too.
//! * A zero `metav1.Time`/`MicroTime` (written as an empty message) becomes `null`, as Go
//!   writes `"creationTimestamp": null`.
//! * Repeated and map fields absent from the wire are absent from the JSON (Go would write
//!   `null` for a nil slice without `omitempty`; the server treats both alike).
//! * Fields unknown to the schema (from a newer Kubernetes) are skipped, as gogo does.
//!
//! # Regenerating the schema
//! ```text
//! python3 crates/api/src/protobuf/tools/gen_schema.py \
//!     --api <clone of kubernetes/api> --apimachinery <clone of kubernetes/apimachinery> \
//!     > crates/api/src/protobuf/generated.rs
//! ```
//! The generator refuses to emit a table that needs a type `decode.rs` does not support.

mod decode;
mod error;
#[rustfmt::skip]
mod generated;
mod schema;
#[cfg(test)]
mod tests;
mod wire;

use serde_json::Value;

pub use error::ProtobufError;
use wire::{Reader, WireValue};

/// The media type of the Kubernetes protobuf encoding.
const PROTOBUF_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8; 4] = b"k8s\0";

/// Maximum nesting of messages; Kubernetes objects nest about 15 deep (Pod → spec → affinity …).
pub(crate) const MAX_DEPTH: usize = 64;

/// True for `application/vnd.kubernetes.protobuf` (parameters ignored).
pub fn is_protobuf_content_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(PROTOBUF_MEDIA_TYPE)
}

/// Decodes a `k8s\0` envelope into the JSON object the same request would have carried as JSON
/// (with "apiVersion" and "kind" set from the envelope's typeMeta). Supports every kind the server accepts as a
/// request body: core/v1 Pod, Namespace, Node, Event, ConfigMap, Secret, Service, Endpoints, ServiceAccount, Binding,
/// meta/v1 DeleteOptions; apps/v1 Deployment, ReplicaSet; coordination.k8s.io/v1 Lease; autoscaling/v1 Scale; events.k8s.io/v1 Event; policy/v1 Eviction.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtobufError::MissingMagic)?;
    let unknown = Unknown::parse(envelope)?;
    if !unknown.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedContentEncoding(unknown.content_encoding));
    }
    // The Kubernetes serializer leaves contentType empty for protobuf; accept it spelled out too.
    if !unknown.content_type.is_empty() && !is_protobuf_content_type(&unknown.content_type) {
        return Err(ProtobufError::UnsupportedContentType(unknown.content_type));
    }
    if unknown.api_version.is_empty() || unknown.kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    let Some(message) = schema::message_for(&unknown.api_version, &unknown.kind) else {
        return Err(ProtobufError::UnsupportedKind { api_version: unknown.api_version, kind: unknown.kind });
    };
    let mut object = decode::message(message, unknown.raw, 0)?;
    object.insert("apiVersion".to_string(), Value::String(unknown.api_version));
    object.insert("kind".to_string(), Value::String(unknown.kind));
    Ok(Value::Object(object))
}

/// The fields of `runtime.Unknown` (with its `runtime.TypeMeta` flattened).
struct Unknown<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Unknown<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut unknown = Unknown {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        let mut reader = Reader::new(bytes);
        while let Some((number, value)) = reader.next_field()? {
            let bytes = match (number, value) {
                (1..=4, WireValue::Len(bytes)) => bytes,
                (1..=4, other) => {
                    return Err(ProtobufError::WireTypeMismatch {
                        message: "k8s.io.apimachinery.pkg.runtime.Unknown",
                        field: number,
                        wire_type: other.wire_type(),
                        expected: "length-delimited (2)",
                    });
                }
                _ => continue,
            };
            match number {
                1 => {
                    let mut type_meta = Reader::new(bytes);
                    while let Some((number, value)) = type_meta.next_field()? {
                        match (number, value) {
                            (1, WireValue::Len(v)) => unknown.api_version = String::from_utf8_lossy(v).into_owned(),
                            (2, WireValue::Len(v)) => unknown.kind = String::from_utf8_lossy(v).into_owned(),
                            (1 | 2, other) => {
                                return Err(ProtobufError::WireTypeMismatch {
                                    message: "k8s.io.apimachinery.pkg.runtime.TypeMeta",
                                    field: number,
                                    wire_type: other.wire_type(),
                                    expected: "length-delimited (2)",
                                });
                            }
                            _ => {}
                        }
                    }
                }
                2 => unknown.raw = bytes,
                3 => unknown.content_encoding = String::from_utf8_lossy(bytes).into_owned(),
                _ => unknown.content_type = String::from_utf8_lossy(bytes).into_owned(),
            }
        }
        Ok(unknown)
    }
}
