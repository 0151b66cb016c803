//! `delete`: one object, with `DeleteOptions` from the body or the query.

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use super::ResourceRequest;
use crate::error::{ApiError, ApiResult};
use crate::write::{self, DeleteOptions, Deleted};

pub async fn delete(request: ResourceRequest) -> ApiResult<Response> {
    let options = delete_options(&request)?;
    let deleted =
        write::delete(&request.server, request.target.info, request.namespace(), request.name(), &options, request.now)
            .await?;
    // 200 with the object either way, as kube-apiserver answers unless a client uses the
    // deprecated `orphanDependents=false`.
    let (Deleted::Gone(object) | Deleted::Pending(object)) = deleted;
    request.respond(StatusCode::OK, object, &[])
}

/// `DeleteOptions` from the body (JSON, YAML or protobuf), overridden by query parameters.
pub fn delete_options(request: &ResourceRequest) -> ApiResult<DeleteOptions> {
    let mut options = DeleteOptions { dry_run: request.query.dry_run, ..DeleteOptions::default() };
    if !request.body.is_empty() {
        let (body, _) = request.decode_body_as("meta.k8s.io/v1", "DeleteOptions").or_else(|_| {
            // Older clients send DeleteOptions as `v1`.
            request.decode_body_as("v1", "DeleteOptions")
        })?;
        options.grace_period_seconds = body.get("gracePeriodSeconds").and_then(Value::as_i64);
        options.propagation_policy = body.get("propagationPolicy").and_then(Value::as_str).map(str::to_string);
        if body.get("orphanDependents").and_then(Value::as_bool) == Some(true) && options.propagation_policy.is_none() {
            options.propagation_policy = Some("Orphan".into());
        }
        options.precondition_uid = body.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string);
        options.precondition_resource_version =
            body.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_string);
        if body.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All")) {
            options.dry_run = true;
        }
    }
    if let Some(seconds) = request.query.grace_period_seconds {
        options.grace_period_seconds = Some(seconds);
    }
    if let Some(policy) = &request.query.propagation_policy {
        options.propagation_policy = Some(policy.clone());
    }
    if request.query.orphan_dependents == Some(true) && options.propagation_policy.is_none() {
        options.propagation_policy = Some("Orphan".into());
    }
    match options.propagation_policy.as_deref() {
        None | Some("Orphan" | "Background" | "Foreground") => Ok(options),
        Some(other) => Err(ApiError::bad_request(format!(
            "DeleteOptions.propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
        ))),
    }
}
