//! `get`: one object.

use axum::response::Response;
use http::StatusCode;

use super::ResourceRequest;
use crate::error::ApiResult;
use crate::write;

pub async fn get(request: ResourceRequest) -> ApiResult<Response> {
    let (object, _) = write::read(&request.server, request.target.info, request.namespace(), request.name()).await?;
    request.respond(StatusCode::OK, object, &[])
}
