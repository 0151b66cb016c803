//! `patch`: JSON patch, JSON merge patch and strategic merge patch, applied to the current
//! object inside the update loop (so a concurrent write makes the patch re-apply, not fail).

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use super::ResourceRequest;
use crate::error::{ApiError, ApiResult};
use crate::objects;
use crate::write::{self, UpdateScope};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
}

impl PatchType {
    pub fn from_content_type(content_type: Option<&str>) -> ApiResult<PatchType> {
        let media_type = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
        match media_type {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::StrategicMerge),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

pub async fn patch(request: ResourceRequest) -> ApiResult<Response> {
    patch_scoped(request, UpdateScope::Main).await
}

/// Patch of the main resource or of its status.
pub async fn patch_scoped(request: ResourceRequest, scope: UpdateScope) -> ApiResult<Response> {
    let info = request.target.info;
    let patch_type = PatchType::from_content_type(request.header("content-type"))?;
    let patch_body = api::codec::parse_json(&request.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut warnings = Vec::new();
    let api_version = info.api_version();
    let updated = write::update(
        &request.server,
        write::ObjectKey { info, namespace: request.namespace(), name: request.name() },
        scope,
        request.query.dry_run,
        request.now,
        |current| {
            let patched = apply_patch_body(patch_type, &api_version, info.kind, current, &patch_body)?;
            let (object, field_warnings) = request.validate_fields(&api_version, info.kind, patched)?;
            warnings = field_warnings;
            Ok(object)
        },
    )
    .await?;
    request.respond(StatusCode::OK, updated, &warnings)
}

/// Applies a patch to `current` as kube-apiserver does: the resourceVersion of `current` is
/// not part of the document patched, so the result only pins a version if the patch does.
pub fn apply_patch_body(
    patch_type: PatchType,
    api_version: &str,
    kind: &str,
    current: &Value,
    patch: &Value,
) -> ApiResult<Value> {
    let mut original = current.clone();
    objects::metadata_mut(&mut original).remove("resourceVersion");
    let result = match patch_type {
        PatchType::Json => api::patch::apply_json_patch(&original, patch),
        PatchType::Merge => api::patch::apply_merge_patch(original, patch),
        PatchType::StrategicMerge => api::patch::apply_strategic_merge_patch(api_version, kind, &original, patch),
    };
    // The patch module classifies errors as kube-apiserver's patch handler does.
    result.map_err(|e| ApiError::with_code(e.code(), e.reason(), e.to_string()))
}
