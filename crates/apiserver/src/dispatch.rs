//! The single entry point of every request: authenticate, parse the path, route to discovery,
//! OpenAPI, health, metrics or a verb handler, and record metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;

use crate::error::{ApiError, ApiResult};
use crate::request::{Endpoint, Query, parse_path};
use crate::response::{bytes_response, json_response};
use crate::{ApiServer, auth, discovery, handlers};

pub async fn dispatch(State(server): State<Arc<ApiServer>>, request: Request<Body>) -> Response {
    let started = Instant::now();
    let (verb, resource, response) = match route(&server, request).await {
        Ok((verb, resource, response)) => (verb, resource, response),
        Err((verb, resource, error)) => (verb, resource, error.into_response()),
    };
    server.metrics.observe_request(verb, &resource, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

type Routed = Result<(&'static str, String, Response), (&'static str, String, ApiError)>;

async fn route(server: &Arc<ApiServer>, request: Request<Body>) -> Routed {
    let (parts, body) = request.into_parts();
    let endpoint = match parse_path(parts.uri.path()) {
        Ok(endpoint) => endpoint,
        Err(error) => return Err(("unknown", String::new(), error)),
    };
    if !auth::is_public(&endpoint) && !auth::authenticate(server, &parts.headers) {
        return Err(("unknown", String::new(), ApiError::unauthorized()));
    }
    let accept = parts.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let get_only = |verb: &'static str, result: ApiResult<Response>| -> Routed {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return Err((verb, String::new(), ApiError::method_not_allowed()));
        }
        result.map(|r| (verb, String::new(), r)).map_err(|e| (verb, String::new(), e))
    };
    match endpoint {
        Endpoint::Version => get_only("get", Ok(json_response(StatusCode::OK, &discovery::version()))),
        Endpoint::Health(which) => get_only("get", Ok(health(server, which, parts.uri.query()))),
        Endpoint::Metrics => {
            if let Ok(revision) = server.backend.current_revision().await {
                server.metrics.set_store_revision(revision);
            }
            get_only(
                "get",
                Ok(bytes_response(StatusCode::OK, "text/plain; version=0.0.4", server.metrics.encode().into_bytes())),
            )
        }
        Endpoint::CoreDiscovery => get_only(
            "get",
            Ok(match discovery::aggregated_content_type(accept) {
                Some(content_type) => aggregated(true, content_type),
                None => json_response(StatusCode::OK, &discovery::api_versions(&server.config.advertise_address)),
            }),
        ),
        Endpoint::GroupsDiscovery => get_only(
            "get",
            Ok(match discovery::aggregated_content_type(accept) {
                Some(content_type) => aggregated(false, content_type),
                None => json_response(StatusCode::OK, &discovery::api_group_list()),
            }),
        ),
        Endpoint::GroupDiscovery(group) => get_only(
            "get",
            discovery::api_group_document(&group)
                .map(|doc| json_response(StatusCode::OK, &doc))
                .ok_or_else(ApiError::no_route),
        ),
        Endpoint::GroupVersionDiscovery { group, version } => get_only(
            "get",
            discovery::api_resource_list(&group, &version)
                .map(|doc| json_response(StatusCode::OK, &doc))
                .ok_or_else(ApiError::no_route),
        ),
        Endpoint::OpenApiV3Root => get_only("get", Ok(json_response(StatusCode::OK, &api::openapi::root_document()))),
        Endpoint::OpenApiV3(path) => get_only(
            "get",
            api::openapi::group_version_document(&path)
                .map(|doc| bytes_response(StatusCode::OK, "application/json", doc.as_ref().clone()))
                .ok_or_else(ApiError::no_route),
        ),
        // kubectl falls back to its built-in patch metadata when v2 is absent.
        Endpoint::OpenApiV2 => get_only("get", Err(ApiError::no_route())),
        Endpoint::Resource(target) => {
            let resource = match &target.subresource {
                Some(sub) => format!("{}/{sub}", target.info.plural),
                None => target.info.plural.to_string(),
            };
            let query = match Query::parse(parts.uri.query()) {
                Ok(query) => query,
                Err(error) => return Err(("unknown", resource, error)),
            };
            let verb = handlers::verb_of(&parts.method, &target, &query);
            let body = match read_body(body, server.config.max_body_bytes).await {
                Ok(body) => body,
                Err(error) => return Err((verb, resource, error)),
            };
            let request = handlers::ResourceRequest {
                server: server.clone(),
                method: parts.method.clone(),
                target,
                query,
                headers: parts.headers.clone(),
                body,
                now: jiff::Timestamp::now(),
            };
            match handlers::handle(request).await {
                Ok(response) => Ok((verb, resource, response)),
                Err(error) => Err((verb, resource, error)),
            }
        }
    }
}

fn aggregated(core: bool, content_type: &str) -> Response {
    let document = discovery::aggregated(core, content_type);
    bytes_response(StatusCode::OK, content_type, api::codec::to_json_bytes(&document))
}

fn health(server: &ApiServer, which: &str, query: Option<&str>) -> Response {
    let verbose = query.is_some_and(|q| q.split('&').any(|p| p == "verbose" || p == "verbose=true"));
    let ready = which != "readyz" || server.is_ready();
    let mut text = String::new();
    if verbose {
        text.push_str("[+]ping ok\n[+]etcd ok\n");
        text.push_str(if ready { "[+]poststarthook/bootstrap ok\n" } else { "[-]poststarthook/bootstrap failed\n" });
        text.push_str(&format!("{which} check {}\n", if ready { "passed" } else { "failed" }));
    } else {
        text.push_str(if ready { "ok" } else { "[-]poststarthook/bootstrap failed: not finished" });
    }
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    bytes_response(code, "text/plain; charset=utf-8", text.into_bytes())
}

async fn read_body(body: Body, limit: usize) -> ApiResult<bytes::Bytes> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(ApiError::request_entity_too_large(limit)),
        Err(error) => Err(ApiError::bad_request(format!("reading the request body: {error}"))),
    }
}
