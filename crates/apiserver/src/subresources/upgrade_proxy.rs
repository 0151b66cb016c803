//! The upgrade-aware proxy behind `exec`, `attach` and `portforward` (kube-apiserver's
//! `UpgradeAwareHandler`): the client's HTTP/1.1 `Upgrade` request is replayed to the agent;
//! when the agent switches protocols (101), the client gets the agent's 101 with its
//! handshake headers (`Sec-WebSocket-Accept`, the chosen `Sec-WebSocket-Protocol`) and the two
//! upgraded connections are joined byte for byte until either side closes. Any other answer
//! is passed back as it is (kubectl reads it as the failed upgrade's error).
//!
//! It does not look inside the tunnel: the channel protocol is the agent's business.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderName, StatusCode, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

use super::node_proxy::{self, NodeLocation};
use crate::error::{ApiError, ApiResult};
use crate::handlers::ResourceRequest;

/// The request headers that belong to the upgrade handshake.
const FORWARDED_REQUEST_HEADERS: [HeaderName; 6] = [
    header::CONNECTION,
    header::UPGRADE,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_PROTOCOL,
    header::SEC_WEBSOCKET_EXTENSIONS,
];

/// The largest error body passed back from the agent.
const MAX_ERROR_BODY: usize = 64 * 1024;

pub async fn proxy(
    request: &ResourceRequest,
    client_upgrade: hyper::upgrade::OnUpgrade,
    location: &NodeLocation,
    path: &str,
) -> ApiResult<Response> {
    let unreachable = |error: String| {
        ApiError::with_code(500, "", format!("error dialing backend: {error} (https://{}{path})", location.authority()))
    };
    let mut sender = node_proxy::connect(location).await.map_err(unreachable)?;
    let mut agent_request = http::Request::builder().method(request.method.clone()).uri(path);
    for name in FORWARDED_REQUEST_HEADERS {
        for value in request.headers.get_all(&name) {
            agent_request = agent_request.header(&name, value);
        }
    }
    // SPDY clients name their stream protocols here; forwarded so the agent can refuse them
    // with a clear message.
    for value in request.headers.get_all("x-stream-protocol-version") {
        agent_request = agent_request.header("x-stream-protocol-version", value);
    }
    if let Ok(host) = http::HeaderValue::from_str(&location.authority()) {
        agent_request = agent_request.header(header::HOST, host);
    }
    if let Some(authorization) = node_proxy::authorization(request) {
        agent_request = agent_request.header(header::AUTHORIZATION, authorization);
    }
    let agent_request = agent_request.body(Empty::<Bytes>::new()).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut agent_response = sender.send_request(agent_request).await.map_err(|e| unreachable(e.to_string()))?;

    if agent_response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = agent_response.status();
        let content_type = agent_response.headers().get(header::CONTENT_TYPE).cloned();
        let body = Limited::new(agent_response.into_body(), MAX_ERROR_BODY)
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        if let Some(content_type) = content_type {
            response.headers_mut().insert(header::CONTENT_TYPE, content_type);
        }
        return Ok(response);
    }

    let agent_upgrade = hyper::upgrade::on(&mut agent_response);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in agent_response.headers() {
        response.headers_mut().append(name, value.clone());
    }
    tokio::spawn(async move {
        let (client, agent) = match tokio::try_join!(client_upgrade, agent_upgrade) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!("stream upgrade failed: {error}");
                return;
            }
        };
        let (mut client, mut agent) = (TokioIo::new(client), TokioIo::new(agent));
        // Ends when either side closes; an error is only a dropped connection.
        let _ = tokio::io::copy_bidirectional(&mut client, &mut agent).await;
    });
    Ok(response)
}
