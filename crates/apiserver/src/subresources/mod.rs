//! Subresources, one file each: `status` (of every kind that has one), `pods/binding`,
//! `{deployments,replicasets}/scale`, `namespaces/finalize`, and the node-proxied pod
//! subresources (`log`, `exec`, `attach`, `portforward`). Also cluster IP allocation, the
//! service half of create.

mod binding;
pub mod cluster_ip;
mod finalize;
mod node_proxy;
mod pod_log;
mod scale;
mod status;
mod upgrade_proxy;

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

/// A request that asked for a protocol upgrade: `exec`, `attach` and `portforward` are
/// proxied to the node agent; anything else is handled as if it had not asked.
pub async fn handle_upgrade(request: ResourceRequest, upgrade: hyper::upgrade::OnUpgrade) -> ApiResult<Response> {
    match request.target.subresource.as_deref() {
        Some(sub @ ("exec" | "attach" | "portforward"))
            if request.target.name.is_some() && request.target.info.has_subresource(sub) =>
        {
            node_proxy::handle_upgrade(request, upgrade).await
        }
        _ => crate::handlers::handle(request).await,
    }
}
