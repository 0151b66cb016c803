//! `update`: PUT of a whole object (the main resource; status has its own subresource).

use axum::response::Response;
use http::StatusCode;

use super::ResourceRequest;
use crate::error::{ApiError, ApiResult};
use crate::objects;
use crate::write::{self, UpdateScope};

pub async fn update(request: ResourceRequest) -> ApiResult<Response> {
    put(request, UpdateScope::Main).await
}

/// PUT of the main resource or of its status.
pub async fn put(request: ResourceRequest, scope: UpdateScope) -> ApiResult<Response> {
    let info = request.target.info;
    let (mut object, warnings) = request.decode_body_as(&info.api_version(), info.kind)?;
    check_identity(&request, &mut object)?;
    let updated = write::update(
        &request.server,
        write::ObjectKey { info, namespace: request.namespace(), name: request.name() },
        scope,
        request.query.dry_run,
        request.now,
        |_current| Ok(object.clone()),
    )
    .await?;
    request.respond(StatusCode::OK, updated, &warnings)
}

/// The body's name and namespace must be those of the URL (an empty namespace is filled in).
pub fn check_identity(request: &ResourceRequest, object: &mut serde_json::Value) -> ApiResult<()> {
    let name = objects::name_of(object);
    if name != request.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            request.name()
        )));
    }
    if let (Some(url_namespace), Some(body_namespace)) =
        (request.namespace(), objects::metadata_str(object, "namespace"))
        && !body_namespace.is_empty()
        && body_namespace != url_namespace
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if let Some(url_namespace) = request.namespace() {
        objects::metadata_mut(object).insert("namespace".into(), serde_json::json!(url_namespace));
    }
    Ok(())
}
