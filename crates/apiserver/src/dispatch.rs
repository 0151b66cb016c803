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
    server.metrics.observe_request(
        &reported_verb(verb),
        &resource,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The verb label kube-apiserver's metrics use: LIST and WATCH for collection reads, the HTTP
/// method otherwise.
fn reported_verb(verb: &str) -> String {
    match verb {
        "get" => "GET".into(),
        "create" => "POST".into(),
        "update" => "PUT".into(),
        "deletecollection" => "DELETECOLLECTION".into(),
        other => other.to_ascii_uppercase(),
    }
}

type Routed = Result<(&'static str, String, Response), (&'static str, String, ApiError)>;

async fn route(server: &Arc<ApiServer>, request: Request<Body>) -> Routed {
    let (mut parts, body) = request.into_parts();
    // Present on HTTP/1.1 requests with `Connection: Upgrade` (exec, attach, portforward).
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
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
        // Swagger 2.0, read by kubectl up to 1.28 (as protobuf) for validation, explain and apply.
        Endpoint::OpenApiV2 => {
            let if_none_match = parts.headers.get(http::header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
            get_only("get", Ok(openapi_v2(accept, if_none_match)))
        }
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
            let handled = match upgrade {
                Some(upgrade) => crate::subresources::handle_upgrade(request, upgrade).await,
                None => handlers::handle(request).await,
            };
            match handled {
                Ok(response) => Ok((verb, resource, response)),
                Err(error) => Err((verb, resource, error)),
            }
        }
    }
}

/// `/openapi/v2` as kube-openapi's handler serves it: the encoding the Accept header picks (JSON
/// for none or `*/*`), a bare 406 when none fits, `ETag` revalidation and `Vary: Accept`.
fn openapi_v2(accept: &str, if_none_match: Option<&str>) -> Response {
    let Some(encoding) = api::openapi::V2Encoding::negotiate(Some(accept)) else {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_ACCEPTABLE;
        response.headers_mut().insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
        return response;
    };
    let etag = encoding.etag();
    let mut response = if if_none_match.is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag)) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        bytes_response(StatusCode::OK, encoding.content_type(), encoding.body().as_ref().clone())
    };
    let headers = response.headers_mut();
    headers.insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
    if let Ok(value) = http::HeaderValue::from_str(&etag) {
        headers.insert(http::header::ETAG, value);
    }
    response
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

/// How much of an oversized body is read and discarded before answering 413. Answering
/// while the client is still sending makes HTTP/2 reset the stream, and the client never sees
/// the Status; past this bound the connection is not worth keeping.
const DISCARD_LIMIT: usize = 64 * 1024 * 1024;

async fn read_body(mut body: Body, limit: usize) -> ApiResult<bytes::Bytes> {
    let mut collected = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| ApiError::bad_request(format!("reading the request body: {error}")))?;
        let Ok(data) = frame.into_data() else { continue };
        total += data.len();
        if total <= limit {
            collected.extend_from_slice(&data);
        } else if total > DISCARD_LIMIT {
            break;
        }
    }
    if total > limit {
        return Err(ApiError::request_entity_too_large(limit));
    }
    Ok(collected.freeze())
}
