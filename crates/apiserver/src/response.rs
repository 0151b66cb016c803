//! Building HTTP responses: JSON bodies with the headers kube-apiserver sends.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

pub fn json_response(code: StatusCode, value: &Value) -> Response {
    bytes_response(code, "application/json", api::codec::to_json_bytes(value))
}

pub fn bytes_response(code: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    // As kube-apiserver: clients (and the kubectl dispatcher's HTTP cache) must revalidate.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    response
}

/// Adds `Warning: 299 - "..."` headers, as kube-apiserver does for `fieldValidation=Warn`.
pub fn add_warnings(response: &mut Response, warnings: &[String]) {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            response.headers_mut().append("warning", value);
        }
    }
}
