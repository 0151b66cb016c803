//! `{deployments,replicasets}/scale`: the `autoscaling/v1 Scale` view of `spec.replicas`,
//! which `kubectl scale` patches.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::handlers::{PatchType, ResourceRequest, apply_patch_body};
use crate::objects;
use crate::response::json_response;
use crate::write::{self, UpdateScope};

/// The Scale of a Deployment or ReplicaSet.
fn to_scale(object: &Value) -> Value {
    let selector = object
        .pointer("/spec/selector")
        .and_then(|s| api::selector::LabelSelector::from_json(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut metadata = json!({});
    for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(value) = object.get("metadata").and_then(|m| m.get(field)) {
            metadata[field] = value.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": object.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// Computes the Scale a request asks for, given the current object.
type DesiredScale = Box<dyn Fn(&Value) -> ApiResult<Value> + Send + Sync>;

pub async fn handle(request: ResourceRequest) -> ApiResult<Response> {
    let info = request.target.info;
    let desired_scale: DesiredScale = match request.method {
        Method::GET => {
            let (object, _) = write::read(&request.server, info, request.namespace(), request.name()).await?;
            return Ok(json_response(StatusCode::OK, &to_scale(&object)));
        }
        Method::PUT => {
            let (scale, _) = request.decode_body_as("autoscaling/v1", "Scale")?;
            Box::new(move |_current: &Value| Ok(scale.clone()))
        }
        Method::PATCH => {
            let patch_type = PatchType::from_content_type(request.header("content-type"))?;
            let patch = api::codec::parse_json(&request.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            Box::new(move |current: &Value| {
                apply_patch_body(patch_type, "autoscaling/v1", "Scale", &to_scale(current), &patch)
            })
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    let updated = write::update(
        &request.server,
        write::ObjectKey { info, namespace: request.namespace(), name: request.name() },
        UpdateScope::Main,
        request.query.dry_run,
        request.now,
        |current| {
            let scale = desired_scale(current)?;
            let replicas = match scale.pointer("/spec/replicas") {
                None | Some(Value::Null) => 0,
                Some(value) => {
                    value.as_i64().ok_or_else(|| ApiError::bad_request("spec.replicas must be an integer"))?
                }
            };
            let mut next = current.clone();
            let pinned = objects::metadata_str(&scale, "resourceVersion").map(str::to_string);
            let metadata = objects::metadata_mut(&mut next);
            match pinned {
                Some(rv) if !rv.is_empty() => metadata.insert("resourceVersion".into(), json!(rv)),
                _ => metadata.remove("resourceVersion"),
            };
            next["spec"]["replicas"] = json!(replicas);
            Ok(next)
        },
    )
    .await?;
    Ok(json_response(StatusCode::OK, &to_scale(&updated)))
}
