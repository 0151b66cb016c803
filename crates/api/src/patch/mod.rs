//! The three patch formats of `PATCH` requests, applied to an object already decoded as JSON:
//! JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes' strategic merge patch.
//!
//! Owns the patch semantics and the classification of patch failures (see [`PatchError`]:
//! 400 / 413 / 422 / 500 exactly as kube-apiserver answers). Must not decode the result into a
//! typed object, default, validate or store it, and must not see HTTP: the apiserver does those.
//! Server-side apply (`application/apply-patch+yaml`) is not here.
//!
//! - [`apply_json_patch`]: `application/json-patch+json`, in `json.rs`.
//! - [`apply_merge_patch`]: `application/merge-patch+json`, in `merge.rs`.
//! - [`apply_strategic_merge_patch`]: `application/strategic-merge-patch+json`, in
//!   `strategic.rs`, driven by the Go struct tags in `tags.rs` through `schema.rs`.

mod error;
mod gofmt;
mod json;
mod merge;
mod schema;
mod strategic;
mod tags;

#[cfg(test)]
mod strategic_tests;

pub use error::PatchError;
pub use json::MAX_JSON_PATCH_OPERATIONS;

use serde_json::Value;

/// RFC 6902 JSON patch (`application/json-patch+json`), body already parsed as JSON.
///
/// A body that is not a list of objects is a 400; more than [`MAX_JSON_PATCH_OPERATIONS`]
/// operations a 413; an operation that cannot be decoded or fails, such as a `test` that does
/// not match, a 422 ([`PatchError::is_invalid`]).
pub fn apply_json_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    json::apply(original, patch)
}

/// RFC 7386 merge patch (`application/merge-patch+json`).
///
/// A `null` or scalar patch is a 400 ("Invalid JSON Patch"); a list patch replaces the whole
/// document, as in kube-apiserver (whose typed decoding then rejects it).
/// The original is taken by value: the patch is applied to it in place.
pub fn apply_merge_patch(original: Value, patch: &Value) -> Result<Value, PatchError> {
    merge::apply(original, patch)
}

/// Strategic merge patch (`application/strategic-merge-patch+json`) for a built-in kind,
/// identified by apiVersion and kind (e.g. "v1","Pod"; "apps/v1","Deployment";
/// "autoscaling/v1","Scale").
///
/// A kind without strategic-merge metadata (a custom resource) is a 400 "strategic merge patch
/// format is not supported". The result carries no directive keys (`$patch`, `$retainKeys`,
/// `$setElementOrder/…`, `$deleteFromPrimitiveList/…`).
pub fn apply_strategic_merge_patch(
    api_version: &str,
    kind: &str,
    original: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    let Some(root) = schema::root_for(api_version, kind) else {
        return Err(PatchError::BadRequest(strategic::ERR_UNSUPPORTED_STRATEGIC_MERGE_PATCH_FORMAT.into()));
    };
    strategic::strategic_merge_patch(original, patch, schema::Schema::Typed(root))
}
