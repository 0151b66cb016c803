//! `deletecollection`: DELETE on a collection, with label and field selectors.

use axum::response::Response;
use http::StatusCode;

use super::ResourceRequest;
use super::delete::delete_options;
use super::list::{Selectors, list_matching};
use crate::error::ApiResult;
use crate::output::Output;
use crate::write::{self, Deleted};
use crate::{objects, output};

pub async fn delete_collection(request: ResourceRequest) -> ApiResult<Response> {
    let info = request.target.info;
    let options = delete_options(&request)?;
    let selectors = Selectors::parse(&request)?;
    let (items, revision) = list_matching(&request.server, info, request.namespace(), &selectors, 0).await?;
    let mut deleted_items = Vec::new();
    for item in items {
        let namespace = objects::metadata_str(&item, "namespace").map(str::to_string);
        let name = objects::name_of(&item).to_string();
        match write::delete(&request.server, info, namespace.as_deref(), &name, &options, request.now).await {
            Ok(Deleted::Gone(object) | Deleted::Pending(object)) => deleted_items.push(object),
            // Deleted meanwhile by someone else: that is what was asked.
            Err(error) if error.code == 404 => {}
            Err(error) => return Err(error),
        }
    }
    let metadata = serde_json::json!({"resourceVersion": revision.to_string()});
    let list = output::list(info, deleted_items, metadata, Output::Json, request.now);
    Ok(crate::response::json_response(StatusCode::OK, &list))
}
