//! `namespaces/finalize`: the namespace controller's removal of `spec.finalizers`; a
//! terminating namespace with none left is deleted.

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use crate::error::ApiResult;
use crate::handlers::ResourceRequest;
use crate::write::{self, UpdateScope};

pub async fn update(request: ResourceRequest) -> ApiResult<Response> {
    let info = request.target.info;
    let (object, warnings) = request.decode_body_as("v1", "Namespace")?;
    let finalizers = object.pointer("/spec/finalizers").cloned().unwrap_or(Value::Array(Vec::new()));
    let updated = write::update(
        &request.server,
        write::ObjectKey { info, namespace: None, name: request.name() },
        UpdateScope::Internal,
        request.query.dry_run,
        request.now,
        |current| {
            let mut next = current.clone();
            crate::objects::metadata_mut(&mut next).remove("resourceVersion");
            next["spec"]["finalizers"] = finalizers.clone();
            Ok(next)
        },
    )
    .await?;
    request.respond(StatusCode::OK, updated, &warnings)
}
