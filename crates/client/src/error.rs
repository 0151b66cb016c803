//! The client's error type, and the Kubernetes `Status` an API error carries.
//!
//! Owns the classification callers branch on (`is_not_found`, `is_conflict`, ...); it must not
//! retry or log: deciding what an error means for a controller is the caller's business.

use serde::{Deserialize, Serialize};

/// A `meta.k8s.io/v1 Status` as the API server returns it for failures (and for some
/// successful deletes). Only the fields callers branch on are typed; `details` stays raw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `Success` or `Failure`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub message: String,
    /// A machine-readable `StatusReason`: `NotFound`, `AlreadyExists`, `Conflict`,
    /// `Expired`, `Gone`, `Invalid`, ...
    #[serde(default)]
    pub reason: String,
    /// The HTTP status code the server meant.
    #[serde(default)]
    pub code: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl Status {
    /// A failure `Status` for an HTTP response whose body was not a `Status` (a proxy error
    /// page, an empty body): keeps the code so the classification still works.
    pub fn from_http(code: u16, body: &[u8]) -> Self {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            410 => "Gone",
            413 => "RequestEntityTooLarge",
            415 => "UnsupportedMediaType",
            422 => "Invalid",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "Unknown",
        };
        Status {
            status: "Failure".to_string(),
            message: String::from_utf8_lossy(body).trim().chars().take(1024).collect(),
            reason: reason.to_string(),
            code,
            details: None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.reason, self.code, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a failure `Status` (any non-2xx response, or an `ERROR`
    /// watch event).
    #[error("API error: {0}")]
    Api(Box<Status>),
    /// The kubeconfig or explicit configuration is unusable.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// A request could not be built (bad URL, name or header).
    #[error("invalid request: {0}")]
    Request(String),
    /// Connecting, TLS, or sending the request failed before a response arrived.
    #[error("HTTP transport: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Reading the response body (or a watch stream) failed.
    #[error("reading the response: {0}")]
    Body(#[source] hyper::Error),
    /// The request timeout elapsed.
    #[error("request timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A body could not be encoded or a response decoded.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A watch stream sent something that is not a watch event.
    #[error("invalid watch event: {0}")]
    WatchEvent(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The Kubernetes `Status` of an API error.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Api(status) => Some(status),
            _ => None,
        }
    }

    fn has(&self, code: u16, reason: &str) -> bool {
        self.status().is_some_and(|s| s.code == code || s.reason == reason)
    }

    /// 404 `NotFound`.
    pub fn is_not_found(&self) -> bool {
        self.has(404, "NotFound")
    }

    /// 409 `Conflict`: a stale resourceVersion on update, or a failed precondition. Kubernetes
    /// answers `AlreadyExists` with 409 too, so this checks the reason, not only the code.
    pub fn is_conflict(&self) -> bool {
        self.status().is_some_and(|s| s.reason == "Conflict" || (s.code == 409 && s.reason != "AlreadyExists"))
    }

    /// 409 `AlreadyExists` on create.
    pub fn is_already_exists(&self) -> bool {
        self.status().is_some_and(|s| s.reason == "AlreadyExists")
    }

    /// 410: the requested resourceVersion or continue token is older than the compacted
    /// history (`Expired` or `Gone`); the caller must list again.
    pub fn is_gone(&self) -> bool {
        self.status().is_some_and(|s| s.code == 410 || s.reason == "Expired" || s.reason == "Gone")
    }

    /// 422 `Invalid`.
    pub fn is_invalid(&self) -> bool {
        self.has(422, "Invalid")
    }

    /// The server does not have the requested resourceVersion yet (504 "Too large resource
    /// version", e.g. after it restarted on a fresh store). Like 410, the cure is a relist;
    /// client-go's reflector recognises it by the same message.
    pub fn is_resource_version_too_large(&self) -> bool {
        self.status().is_some_and(|s| {
            s.message.contains("Too large resource version")
                || s.details.as_ref().and_then(|d| d.get("causes")).and_then(|c| c.as_array()).is_some_and(|causes| {
                    causes.iter().any(|c| c.get("reason").and_then(|r| r.as_str()) == Some("ResourceVersionTooLarge"))
                })
        })
    }
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        Error::Api(Box::new(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> Error {
        Error::from(Status { code, reason: reason.to_string(), ..Status::default() })
    }

    #[test]
    fn classification_follows_kubernetes_reasons() {
        assert!(api(404, "NotFound").is_not_found());
        assert!(api(409, "Conflict").is_conflict());
        assert!(!api(409, "AlreadyExists").is_conflict());
        assert!(api(409, "AlreadyExists").is_already_exists());
        assert!(api(410, "Expired").is_gone());
        assert!(api(410, "Gone").is_gone());
        assert!(!api(404, "NotFound").is_gone());
        assert!(api(422, "Invalid").is_invalid());
        assert!(!Error::Request("x".into()).is_not_found());
    }

    #[test]
    fn too_large_resource_version_is_recognised_by_message_or_cause() {
        let by_message = Error::from(Status {
            code: 504,
            reason: "Timeout".into(),
            message: "Too large resource version: 90, current: 5".into(),
            ..Status::default()
        });
        assert!(by_message.is_resource_version_too_large());
        let by_cause = Error::from(Status {
            code: 504,
            reason: "Timeout".into(),
            details: Some(serde_json::json!({"causes": [{"reason": "ResourceVersionTooLarge"}]})),
            ..Status::default()
        });
        assert!(by_cause.is_resource_version_too_large());
        assert!(!api(504, "Timeout").is_resource_version_too_large());
    }

    #[test]
    fn non_status_bodies_keep_the_code() {
        let status = Status::from_http(404, b"404 page not found\n");
        assert!(Error::from(status.clone()).is_not_found());
        assert_eq!(status.message, "404 page not found");
    }
}
