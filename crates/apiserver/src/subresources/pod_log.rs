//! `GET pods/{name}/log`: validates `PodLogOptions`, finds the container and its node, and
//! streams the agent's `/containerLogs/{namespace}/{pod}/{container}` answer back as
//! `text/plain` (with `follow`, each chunk as it arrives: kubectl prints lines as they come
//! and exits when the stream ends).
//!
//! A pod not yet bound to a node has an empty log (kube-apiserver's `LogLocation` gives no
//! location, and its streamer answers nothing). The agent's errors become `Status` errors as
//! kube-apiserver's `GenericHttpResponseChecker` makes them: its text is the message.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::{BodyExt, Empty, Limited};
use serde_json::Value;

use super::node_proxy;
use crate::error::{ApiError, ApiResult};
use crate::handlers::ResourceRequest;
use crate::response::bytes_response;

/// How much of an agent's error body is read (kube-apiserver's `maxReadLength`).
const MAX_ERROR_BODY: usize = 50_000;

/// `PodLogOptions` as the query carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodLogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub since_seconds: Option<i64>,
    pub since_time: Option<jiff::Timestamp>,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
}

impl PodLogOptions {
    /// Parses (400 on a malformed value) and validates (422 `PodLogOptions "name" is invalid`,
    /// as `ValidatePodLogOptions`).
    pub fn from_request(request: &ResourceRequest) -> ApiResult<PodLogOptions> {
        let query = &request.query;
        let number = |name: &str| -> ApiResult<Option<i64>> {
            query
                .get(name)
                .map(|v| {
                    v.parse()
                        .map_err(|_| ApiError::bad_request(format!("invalid value {v:?} for query parameter {name}")))
                })
                .transpose()
        };
        let since_time = query
            .get("sinceTime")
            .map(|v| {
                v.parse::<jiff::Timestamp>()
                    .map_err(|_| ApiError::bad_request(format!("invalid value {v:?} for query parameter sinceTime")))
            })
            .transpose()?;
        let options = PodLogOptions {
            container: query.get("container").filter(|c| !c.is_empty()).map(str::to_string),
            follow: node_proxy::parse_bool("follow", query.get("follow"))?,
            previous: node_proxy::parse_bool("previous", query.get("previous"))?,
            timestamps: node_proxy::parse_bool("timestamps", query.get("timestamps"))?,
            since_seconds: number("sinceSeconds")?,
            since_time,
            tail_lines: number("tailLines")?,
            limit_bytes: number("limitBytes")?,
        };
        let mut errors = Vec::new();
        if let Some(lines) = options.tail_lines.filter(|l| *l < 0) {
            errors.push(format!("tailLines: Invalid value: {lines}: must be greater than or equal to 0"));
        }
        if let Some(limit) = options.limit_bytes.filter(|l| *l < 1) {
            errors.push(format!("limitBytes: Invalid value: {limit}: must be greater than 0"));
        }
        match (options.since_seconds, options.since_time) {
            (Some(_), Some(_)) => {
                errors.push("Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified".into())
            }
            (Some(seconds), None) if seconds < 1 => {
                errors.push(format!("sinceSeconds: Invalid value: {seconds}: must be greater than 0"))
            }
            _ => {}
        }
        if !errors.is_empty() {
            let list = if errors.len() == 1 { errors.remove(0) } else { format!("[{}]", errors.join(", ")) };
            return Err(ApiError::with_code(
                422,
                "Invalid",
                format!("PodLogOptions \"{}\" is invalid: {list}", request.name()),
            ));
        }
        Ok(options)
    }

    /// The agent's query string (the kubelet's parameter names).
    pub fn agent_query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if self.follow {
            query.append_pair("follow", "true");
        }
        if self.previous {
            query.append_pair("previous", "true");
        }
        if self.timestamps {
            query.append_pair("timestamps", "true");
        }
        if let Some(seconds) = self.since_seconds {
            query.append_pair("sinceSeconds", &seconds.to_string());
        }
        if let Some(time) = self.since_time {
            query.append_pair("sinceTime", &time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        if let Some(lines) = self.tail_lines {
            query.append_pair("tailLines", &lines.to_string());
        }
        if let Some(limit) = self.limit_bytes {
            query.append_pair("limitBytes", &limit.to_string());
        }
        query.finish()
    }
}

pub async fn get(request: ResourceRequest) -> ApiResult<Response> {
    let options = PodLogOptions::from_request(&request)?;
    let pod = node_proxy::read_pod(&request).await?;
    let container = node_proxy::resolve_container(&pod, options.container.as_deref())?;
    let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
        return Ok(bytes_response(StatusCode::OK, "text/plain", Vec::new()));
    };
    let location = node_proxy::node_location(&request, node).await?;
    let namespace = request.namespace().unwrap_or("default");
    let path = format!(
        "/containerLogs/{}/{}/{}?{}",
        node_proxy::segment(namespace),
        node_proxy::segment(request.name()),
        node_proxy::segment(&container),
        options.agent_query()
    );
    // Errors reaching the agent are not `Status` errors upstream: a 500 with the Go error text.
    let unreachable = |error: String| {
        ApiError::with_code(500, "", format!("Get \"https://{}{path}\": {error}", location.authority()))
    };
    let mut sender = node_proxy::connect(&location).await.map_err(unreachable)?;
    let mut agent_request = http::Request::get(path.as_str());
    if let Ok(host) = http::HeaderValue::from_str(&location.authority()) {
        agent_request = agent_request.header(header::HOST, host);
    }
    if let Some(authorization) = node_proxy::authorization(&request) {
        agent_request = agent_request.header(header::AUTHORIZATION, authorization);
    }
    let agent_request = agent_request.body(Empty::<Bytes>::new()).map_err(|e| ApiError::internal(e.to_string()))?;
    let response = sender.send_request(agent_request).await.map_err(|e| unreachable(e.to_string()))?;
    let status = response.status();
    if status.is_success() {
        let mut streamed = Response::new(Body::new(response.into_body()));
        let headers = streamed.headers_mut();
        headers.insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
        headers.insert(header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache, private"));
        return Ok(streamed);
    }
    let body = Limited::new(response.into_body(), MAX_ERROR_BODY)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    Err(agent_error(status, String::from_utf8_lossy(&body).trim_end(), request.name()))
}

/// An agent's error answer as kube-apiserver's `GenericHttpResponseChecker` turns it into a
/// `Status`.
pub fn agent_error(status: StatusCode, body: &str, pod: &str) -> ApiError {
    match status {
        StatusCode::BAD_REQUEST => ApiError::bad_request(body),
        StatusCode::INTERNAL_SERVER_ERROR => ApiError::internal(body),
        StatusCode::NOT_FOUND => ApiError::with_code(
            404,
            "NotFound",
            format!("the server could not find the requested resource ( pods/log {pod})"),
        ),
        other => ApiError::with_code(
            other.as_u16(),
            "",
            format!(
                "the server responded with the status code {} but did not return more information ( pods/log {pod})",
                other.as_u16()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_query_uses_kubelet_names() {
        let options = PodLogOptions {
            follow: true,
            timestamps: true,
            tail_lines: Some(5),
            limit_bytes: Some(100),
            since_time: Some("2024-01-01T00:00:00.5Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            options.agent_query(),
            "follow=true&timestamps=true&sinceTime=2024-01-01T00%3A00%3A00Z&tailLines=5&limitBytes=100"
        );
        assert_eq!(PodLogOptions::default().agent_query(), "");
    }

    #[test]
    fn agent_errors_become_statuses() {
        let waiting = agent_error(
            StatusCode::BAD_REQUEST,
            "container \"c\" in pod \"p\" is waiting to start: ContainerCreating",
            "p",
        );
        assert_eq!((waiting.code, waiting.reason), (400, "BadRequest"));
        assert!(waiting.message.ends_with("is waiting to start: ContainerCreating"));
        assert_eq!(agent_error(StatusCode::NOT_FOUND, "x", "p").code, 404);
        assert_eq!(agent_error(StatusCode::UNAUTHORIZED, "x", "p").code, 401);
    }
}
