//! The error type of the protobuf decoder.
//!
//! Owns only the error enum; every message is phrased for a `400 BadRequest` answer, so the
//! server can use `Display` verbatim as the `Status.message`.

/// Why a `application/vnd.kubernetes.protobuf` request body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with the 4-byte `k8s\0` prefix of the Kubernetes protobuf encoding.
    #[error("protobuf body does not start with the \"k8s\\x00\" magic prefix")]
    MissingMagic,
    /// A varint, a fixed-width value or a length-delimited payload runs past the end of its message.
    #[error("truncated protobuf data: {0} runs past the end of the message")]
    Truncated(&'static str),
    /// A varint longer than 10 bytes or larger than 64 bits.
    #[error("malformed protobuf data: varint overflows 64 bits")]
    VarintOverflow,
    /// Field number 0 or above the protobuf maximum (2^29 - 1).
    #[error("malformed protobuf data: invalid field number {0}")]
    InvalidFieldNumber(u64),
    /// Wire types 3 and 4 (groups) are never produced by Kubernetes; 6 and 7 do not exist.
    #[error("malformed protobuf data: unsupported wire type {0}")]
    UnsupportedWireType(u8),
    /// A known field arrived with a wire type that does not fit its declared type.
    #[error("malformed protobuf data: field {field} of {message} has wire type {wire_type}, expected {expected}")]
    WireTypeMismatch { message: &'static str, field: u32, wire_type: u8, expected: &'static str },
    /// Nested messages deeper than [`super::MAX_DEPTH`].
    #[error("protobuf object nesting exceeds the maximum depth of {0}")]
    TooDeep(usize),
    /// The `runtime.Unknown` envelope carries no `typeMeta.apiVersion` / `typeMeta.kind`.
    #[error("protobuf envelope has no apiVersion and kind in its typeMeta")]
    MissingTypeMeta,
    /// The envelope names a kind this server does not accept as a protobuf request body.
    #[error("protobuf request bodies of kind {kind} in {api_version} are not supported")]
    UnsupportedKind { api_version: String, kind: String },
    /// The envelope's `contentEncoding` is set (for example `gzip`); kube-apiserver does not support it either.
    #[error("protobuf envelope content encoding {0:?} is not supported")]
    UnsupportedContentEncoding(String),
    /// The envelope's `contentType` says the raw object is not protobuf.
    #[error("protobuf envelope content type {0:?} is not supported")]
    UnsupportedContentType(String),
    /// A `metav1.Time`/`MicroTime` outside the years 0 to 9999, which Go cannot render as JSON either.
    #[error("protobuf timestamp {seconds}s {nanos}ns is out of range")]
    TimeOutOfRange { seconds: i64, nanos: i64 },
    /// An `IntOrString` whose `type` is neither 0 (int) nor 1 (string).
    #[error("malformed IntOrString: unknown type {0}")]
    InvalidIntOrString(i64),
    /// `metav1.FieldsV1.Raw` (managedFields) that is not JSON.
    #[error("managedFields fieldsV1 is not valid JSON: {0}")]
    InvalidFieldsV1(String),
}
