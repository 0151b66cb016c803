//! Subresources, one file each: `status` (of every kind that has one), `pods/binding`,
//! `{deployments,replicasets}/scale`, `namespaces/finalize`, and the node-proxied pod
//! subresources (`log`, `exec`, `attach`, `portforward`). Also cluster IP allocation, the
//! service half of create.

mod binding;
pub mod cluster_ip;
mod finalize;
mod node_proxy;
mod scale;
mod status;

use axum::response::Response;
use http::Method;

use crate::error::{ApiError, ApiResult};
use crate::handlers::ResourceRequest;

pub async fn handle(request: ResourceRequest, subresource: &str) -> ApiResult<Response> {
    if request.target.name.is_none() {
        return Err(ApiError::no_route());
    }
    match (subresource, &request.method) {
        ("status", _) => status::handle(request).await,
        ("binding", &Method::POST) => binding::create(request).await,
        ("scale", _) => scale::handle(request).await,
        ("finalize", &Method::PUT) => finalize::update(request).await,
        ("log" | "exec" | "attach" | "portforward", _) => node_proxy::handle(request).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}
