//! `{resource}/status`: GET the object, PUT or PATCH only its status.

use axum::response::Response;
use http::{Method, StatusCode};

use crate::error::{ApiError, ApiResult};
use crate::handlers::ResourceRequest;
use crate::write::{self, UpdateScope};

pub async fn handle(request: ResourceRequest) -> ApiResult<Response> {
    match request.method {
        Method::GET => {
            let (object, _) =
                write::read(&request.server, request.target.info, request.namespace(), request.name()).await?;
            request.respond(StatusCode::OK, object, &[])
        }
        Method::PUT => crate::handlers::put_scoped(request, UpdateScope::Status).await,
        Method::PATCH => crate::handlers::patch_scoped(request, UpdateScope::Status).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}
