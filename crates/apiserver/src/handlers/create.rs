//! `create`: POST to a collection. Names from `generateName`, the namespace check, cluster IP
//! allocation for services, then the generic create of `write`.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::ResourceRequest;
use crate::error::{ApiError, ApiResult};
use crate::objects::{self, metadata_mut};
use crate::write;

/// How many names `generateName` tries before giving up, as kube-apiserver retries on
/// AlreadyExists for generated names.
const GENERATE_NAME_ATTEMPTS: usize = 8;

pub async fn create(request: ResourceRequest) -> ApiResult<Response> {
    let info = request.target.info;
    let (mut object, warnings) = request.decode_body_as(&info.api_version(), info.kind)?;
    if objects::resource_version_of(&object)?.is_some() {
        return Err(ApiError::bad_request("resourceVersion should not be set on objects to be created"));
    }
    if info.namespaced {
        let url_namespace = request.namespace().ok_or_else(ApiError::method_not_allowed)?.to_string();
        let metadata = metadata_mut(&mut object);
        match metadata.get("namespace").and_then(Value::as_str) {
            None | Some("") => {
                metadata.insert("namespace".into(), json!(url_namespace));
            }
            Some(body_namespace) if body_namespace == url_namespace => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        write::check_namespace_accepts(&request.server, info, objects::name_of(&object), &url_namespace).await?;
    } else {
        metadata_mut(&mut object).remove("namespace");
    }
    let generate_name = objects::metadata_str(&object, "generateName").map(str::to_string);
    let has_name = objects::metadata_str(&object, "name").is_some_and(|n| !n.is_empty());
    let attempts = if has_name || generate_name.is_none() { 1 } else { GENERATE_NAME_ATTEMPTS };
    for attempt in 1..=attempts {
        // Only a generated name can be tried again; the object itself is needed once.
        let mut candidate = if attempt < attempts { object.clone() } else { std::mem::take(&mut object) };
        if let (false, Some(prefix)) = (has_name, &generate_name) {
            let name = format!("{prefix}{}", objects::generate_name_suffix());
            metadata_mut(&mut candidate).insert("name".into(), json!(name));
        }
        write::prepare_create(info, &mut candidate, request.now)?;
        if info.group.is_empty() && info.kind == "Service" {
            crate::subresources::cluster_ip::allocate(&request.server, &mut candidate).await?;
        }
        match write::create(&request.server, info, candidate, request.query.dry_run).await {
            Ok(created) => return request.respond(StatusCode::CREATED, created, &warnings),
            Err(error) if error.reason == "AlreadyExists" && attempt < attempts => continue,
            Err(error) => return Err(error),
        }
    }
    Err(ApiError::internal("could not generate a unique name"))
}
