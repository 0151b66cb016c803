//! Request parameters of [`Api`](crate::Api) calls, with the query strings and bodies they
//! turn into (names verbatim from the Kubernetes API: `labelSelector`, `continue`,
//! `propagationPolicy`, ...).
//!
//! Owns encoding only; it does not validate selectors (the server does, with a `Status`
//! that names the problem).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::Value;

/// Query values and path segments: everything but RFC 3986 unreserved characters is
/// escaped, so selectors (`a in (x,y)`, `!b`) and odd names travel intact.
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `list` options.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListParams {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// The page size; the response carries a continue token when more remain.
    pub limit: Option<u32>,
    /// The `continue` token of the previous page.
    pub continue_token: Option<String>,
    /// `None`: the latest state (a consistent read). `"0"`: any state the server has cached.
    pub resource_version: Option<String>,
    /// `Exact` or `NotOlderThan`, with `resource_version`.
    pub resource_version_match: Option<String>,
}

impl ListParams {
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn continue_token(mut self, token: impl Into<String>) -> Self {
        self.continue_token = Some(token.into());
        self
    }

    pub(crate) fn query(&self) -> String {
        let mut query = Query::default();
        query.push("labelSelector", self.label_selector.as_deref());
        query.push("fieldSelector", self.field_selector.as_deref());
        query.push("limit", self.limit.map(|l| l.to_string()).as_deref());
        query.push("continue", self.continue_token.as_deref());
        query.push("resourceVersion", self.resource_version.as_deref());
        query.push("resourceVersionMatch", self.resource_version_match.as_deref());
        query.finish()
    }
}

/// `watch` options.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WatchParams {
    /// Replay changes after this version; `None` or `"0"` starts with synthetic `ADDED`
    /// events for every current object.
    pub resource_version: Option<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// `timeoutSeconds`: the server ends the stream after this long.
    pub timeout: Option<u32>,
    /// `allowWatchBookmarks`: periodic `BOOKMARK` events carrying the current version.
    pub bookmarks: bool,
}

impl WatchParams {
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    pub fn at(mut self, resource_version: impl Into<String>) -> Self {
        self.resource_version = Some(resource_version.into());
        self
    }

    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }

    pub(crate) fn query(&self) -> String {
        let mut query = Query::default();
        query.push("watch", Some("true"));
        query.push("labelSelector", self.label_selector.as_deref());
        query.push("fieldSelector", self.field_selector.as_deref());
        query.push("resourceVersion", self.resource_version.as_deref());
        query.push("timeoutSeconds", self.timeout.map(|t| t.to_string()).as_deref());
        if self.bookmarks {
            query.push("allowWatchBookmarks", Some("true"));
        }
        query.finish()
    }
}

/// The patch formats the API server accepts, each with its content type.
#[derive(Clone, Debug, PartialEq)]
pub enum Patch {
    /// RFC 7386 JSON merge patch.
    Merge(Value),
    /// Kubernetes strategic merge patch (lists merged by their merge keys).
    Strategic(Value),
    /// RFC 6902 JSON patch (a list of operations).
    Json(Value),
}

impl Patch {
    pub fn content_type(&self) -> &'static str {
        match self {
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
            Patch::Json(_) => "application/json-patch+json",
        }
    }

    pub fn body(&self) -> &Value {
        match self {
            Patch::Merge(v) | Patch::Strategic(v) | Patch::Json(v) => v,
        }
    }
}

/// What happens to dependents when an owner is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PropagationPolicy {
    Orphan,
    Background,
    Foreground,
}

/// Conditions the object must still meet for the delete to happen (409 otherwise).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// `delete` options, sent as a `DeleteOptions` body as client-go does.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation_policy: Option<PropagationPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preconditions: Option<Preconditions>,
}

impl DeleteParams {
    /// Delete now, without a grace period.
    pub fn immediate() -> Self {
        DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }
    }

    pub(crate) fn body(&self) -> Value {
        let mut body = serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Default::default()));
        if let Some(map) = body.as_object_mut() {
            map.insert("kind".into(), "DeleteOptions".into());
            map.insert("apiVersion".into(), "v1".into());
        }
        body
    }
}

/// Builds `?a=b&c=d` with escaped values; empty when nothing was pushed.
#[derive(Default)]
struct Query(String);

impl Query {
    fn push(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.0.push(if self.0.is_empty() { '?' } else { '&' });
            self.0.push_str(key);
            self.0.push('=');
            self.0.extend(utf8_percent_encode(value, COMPONENT));
        }
    }

    fn finish(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_escapes_selectors() {
        assert_eq!(ListParams::default().query(), "");
        let params =
            ListParams::default().labels("app in (a,b),!x").fields("spec.nodeName=").limit(2).continue_token("abc=");
        assert_eq!(
            params.query(),
            "?labelSelector=app%20in%20%28a%2Cb%29%2C%21x&fieldSelector=spec.nodeName%3D&limit=2&continue=abc%3D"
        );
    }

    #[test]
    fn watch_query_has_watch_and_bookmarks() {
        let params = WatchParams { bookmarks: true, ..WatchParams::default() }.at("42").timeout(5);
        assert_eq!(params.query(), "?watch=true&resourceVersion=42&timeoutSeconds=5&allowWatchBookmarks=true");
    }

    #[test]
    fn delete_options_body() {
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions { uid: None, resource_version: Some("5".into()) }),
        };
        assert_eq!(
            params.body(),
            serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                "propagationPolicy": "Foreground", "preconditions": {"resourceVersion": "5"}})
        );
    }

    #[test]
    fn patch_content_types() {
        assert_eq!(Patch::Merge(Value::Null).content_type(), "application/merge-patch+json");
        assert_eq!(Patch::Strategic(Value::Null).content_type(), "application/strategic-merge-patch+json");
        assert_eq!(Patch::Json(Value::Null).content_type(), "application/json-patch+json");
    }
}
