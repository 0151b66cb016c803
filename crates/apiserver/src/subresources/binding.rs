//! `pods/binding`: the scheduler's (or a user's) assignment of a pod to a node. Sets
//! `spec.nodeName` once, with the `PodScheduled` condition, as kube-apiserver's
//! `BindingREST` does.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::handlers::ResourceRequest;
use crate::objects;
use crate::write::{self, UpdateScope};

pub async fn create(request: ResourceRequest) -> ApiResult<Response> {
    let info = request.target.info;
    let (binding, _) = request.decode_body_as("v1", "Binding")?;
    let binding_name = objects::name_of(&binding);
    if !binding_name.is_empty() && binding_name != request.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({binding_name}) does not match the name on the URL ({})",
            request.name()
        )));
    }
    let node_name = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or("").to_string();
    if node_name.is_empty() {
        let error = api::FieldError::required("target.name", "");
        return Err(ApiError::invalid(info, request.name(), &[error]));
    }
    let annotations = binding.pointer("/metadata/annotations").and_then(Value::as_object).cloned();
    let now = objects::now_rfc3339(request.now);
    write::update(
        &request.server,
        write::ObjectKey { info, namespace: request.namespace(), name: request.name() },
        UpdateScope::Internal,
        request.query.dry_run,
        request.now,
        |current| {
            if objects::is_being_deleted(current) {
                return Err(ApiError::conflict_message(
                    info,
                    request.name(),
                    "pod is being deleted, cannot be assigned to a host",
                ));
            }
            let assigned = current.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
            if !assigned.is_empty() {
                return Err(ApiError::conflict_message(
                    info,
                    request.name(),
                    &format!("pod {} is already assigned to node \"{assigned}\"", request.name()),
                ));
            }
            let mut next = current.clone();
            objects::metadata_mut(&mut next).remove("resourceVersion");
            next["spec"]["nodeName"] = json!(node_name);
            if let Some(annotations) = &annotations {
                let metadata = objects::metadata_mut(&mut next);
                let existing = metadata.entry("annotations").or_insert_with(|| json!({}));
                for (key, value) in annotations {
                    existing[key] = value.clone();
                }
            }
            set_condition(
                &mut next,
                json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}),
            );
            Ok(next)
        },
    )
    .await?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(crate::response::json_response(StatusCode::CREATED, &status))
}

/// Replaces the condition of the same type in `status.conditions`, or appends it.
fn set_condition(pod: &mut Value, condition: Value) {
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    let conditions =
        pod["status"].as_object_mut().expect("status is an object").entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let items = conditions.as_array_mut().expect("conditions is an array");
    match items.iter_mut().find(|c| c.get("type") == condition.get("type")) {
        Some(existing) => *existing = condition,
        None => items.push(condition),
    }
}
