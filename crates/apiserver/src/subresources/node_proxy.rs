//! Pod subresources served by the node agent (`log`, `exec`, `attach`, `portforward`).
//! The agent does not exist yet, so these answer as kube-apiserver does for a pod whose
//! containers have not started: a 400 naming the container and its waiting reason.

use axum::response::Response;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::handlers::ResourceRequest;
use crate::write;

pub async fn handle(request: ResourceRequest) -> ApiResult<Response> {
    let (pod, _) = write::read(&request.server, request.target.info, request.namespace(), request.name()).await?;
    let container = request
        .query
        .get("container")
        .map(str::to_string)
        .or_else(|| pod.pointer("/spec/containers/0/name").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let reason = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|statuses| {
            statuses.iter().find(|s| s.get("name").and_then(Value::as_str) == Some(container.as_str()))
        })
        .and_then(|s| s.pointer("/state/waiting/reason"))
        .and_then(Value::as_str)
        .unwrap_or("ContainerCreating")
        .to_string();
    Err(ApiError::bad_request(format!(
        "container \"{container}\" in pod \"{}\" is waiting to start: {reason}",
        request.name()
    )))
}
