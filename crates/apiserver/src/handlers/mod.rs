//! One file per verb. `handle` routes a resource request by HTTP method and subresource;
//! the verbs share [`ResourceRequest`] for decoding bodies and shaping responses.

mod create;
mod delete;
mod delete_collection;
mod get;
mod list;
mod patch;
mod update;
mod watch;

use std::sync::Arc;

use axum::response::Response;
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use crate::ApiServer;
use crate::error::{ApiError, ApiResult};
use crate::output::{self, Output};
use crate::request::{Query, ResourceTarget};
use crate::response::{add_warnings, json_response};
use crate::subresources;

pub use patch::apply_patch_body;

/// Everything a verb needs to know about a request.
pub struct ResourceRequest {
    pub server: Arc<ApiServer>,
    pub method: Method,
    pub target: ResourceTarget,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
    pub now: jiff::Timestamp,
}

/// The Kubernetes verb of a request, for metrics and errors.
pub fn verb_of(method: &Method, target: &ResourceTarget, query: &Query) -> &'static str {
    match *method {
        Method::GET | Method::HEAD if query.watch => "watch",
        Method::GET | Method::HEAD if target.name.is_none() => "list",
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if target.name.is_none() => "deletecollection",
        Method::DELETE => "delete",
        _ => "unknown",
    }
}

pub async fn handle(request: ResourceRequest) -> ApiResult<Response> {
    let info = request.target.info;
    if let Some(subresource) = request.target.subresource.clone() {
        if !info.has_subresource(&subresource) {
            return Err(ApiError::no_route());
        }
        return subresources::handle(request, &subresource).await;
    }
    let verb = verb_of(&request.method, &request.target, &request.query);
    if !info.verbs.contains(&verb) && verb != "unknown" {
        return Err(ApiError::method_not_supported(info, verb));
    }
    match (verb, request.target.name.is_some()) {
        ("watch", _) => watch::watch(request).await,
        ("list", _) => list::list(request).await,
        ("get", _) => get::get(request).await,
        ("create", false) => create::create(request).await,
        ("update", true) => update::update(request).await,
        ("patch", true) => patch::patch(request).await,
        ("delete", true) => delete::delete(request).await,
        ("deletecollection", false) => delete_collection::delete_collection(request).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// How unknown fields in a body are treated (`?fieldValidation=`, default Warn as in
/// kube-apiserver since 1.27).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl ResourceRequest {
    pub fn namespace(&self) -> Option<&str> {
        self.target.namespace.as_deref()
    }

    pub fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn field_validation(&self) -> ApiResult<FieldValidation> {
        match self.query.field_validation.as_deref() {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\" or \"Strict\", got {other:?}"
            ))),
        }
    }

    /// Parses the body (JSON, YAML or protobuf) as an object of `api_version`/`kind`, and
    /// applies field validation. Returns the canonical object and any warnings.
    pub fn decode_body_as(&self, api_version: &str, kind: &str) -> ApiResult<(Value, Vec<String>)> {
        let format = api::codec::BodyFormat::from_content_type(self.header("content-type"))
            .map_err(|_| ApiError::unsupported_media_type(self.header("content-type").unwrap_or("")))?;
        let raw = api::codec::decode_body(format, &self.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        self.validate_fields(api_version, kind, raw)
    }

    /// Field validation of an already-parsed object (patched results go through here too).
    pub fn validate_fields(&self, api_version: &str, kind: &str, raw: Value) -> ApiResult<(Value, Vec<String>)> {
        let (object, unknown) = api::codec::normalize_as(api_version, kind, raw).map_err(|e| match e {
            api::codec::DecodeError::UnsupportedMediaType => {
                ApiError::unsupported_media_type(self.header("content-type").unwrap_or(""))
            }
            other => ApiError::bad_request(other.to_string()),
        })?;
        let warnings = match (self.field_validation()?, unknown.is_empty()) {
            (_, true) | (FieldValidation::Ignore, _) => Vec::new(),
            (FieldValidation::Strict, false) => {
                return Err(ApiError::bad_request(api::codec::DecodeError::UnknownFields(unknown).to_string()));
            }
            (FieldValidation::Warn, false) => unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect(),
        };
        Ok((object, warnings))
    }

    pub fn output(&self) -> ApiResult<Output> {
        output::negotiate(self.header("accept"), self.query.include_object.as_deref())
    }

    /// A single-object response in the negotiated shape.
    pub fn respond(&self, code: StatusCode, object: Value, warnings: &[String]) -> ApiResult<Response> {
        let shaped = output::object(self.target.info, object, self.output()?, self.now);
        let mut response = json_response(code, &shaped);
        add_warnings(&mut response, warnings);
        Ok(response)
    }
}

pub use patch::{PatchType, patch_scoped};
pub use update::put as put_scoped;

/// Every object of a resource in every namespace (for allocators and bootstrap checks).
pub async fn list_all(server: &ApiServer, info: &'static api::ResourceInfo) -> ApiResult<Vec<Value>> {
    let page = list::scan(server, info, &crate::objects::prefix(info, None), "", 0, 0, |_| true).await?;
    Ok(page.items)
}
