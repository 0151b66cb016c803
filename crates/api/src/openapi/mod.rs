//! The OpenAPI v3 documents kube-apiserver serves at `/openapi/v3` (the root listing) and
//! `/openapi/v3/<path>` (one per group version, plus the discovery and `/version` documents).
//!
//! kubectl needs them for `kubectl explain` (schemas, descriptions, `x-kubernetes-group-version-kind`)
//! and for `kubectl apply`/`create` with the default `--validate=strict`: when the PATCH operation of
//! a kind declares the `fieldValidation` query parameter, kubectl leaves validation to the server.
//! `kubectl apply` also computes its strategic merge patch from these schemas (the
//! `x-kubernetes-patch-*` extensions), because the PATCH operations accept
//! `application/strategic-merge-patch+json`.
//!
//! Schemas come from `k8s-openapi`'s schemars derivations (`schemas.rs`, `kinds.rs`) plus the field
//! extensions of `extensions.rs`; operations are derived from the resource table (`paths.rs`).
//!
//! `v2.rs` serves the same operations and schemas as the single OpenAPI v2 (Swagger 2.0) document of
//! `/openapi/v2` (JSON, and gnostic's protobuf encoding from `v2_proto.rs`) that kubectl up to 1.28 reads.
//!
//! Documents are built on first request and kept (they are large and immutable for a build); nothing is
//! built at start-up. Must not do IO or know about HTTP: the apiserver serves the returned bytes.

mod extensions;
mod kinds;
mod paths;
mod schemas;
mod v2;
mod v2_proto;

pub use v2::{V2_PROTOBUF_CONTENT_TYPE, V2Encoding, v2_json, v2_protobuf};

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use crate::resources::{self, ResourceInfo};
use kinds::Discovery;

/// The Kubernetes version these documents describe (`info.version`).
const KUBERNETES_VERSION: &str = "v1.33.0";

/// Why a document could not be built: the resource table names a kind `kinds.rs` has no schema for.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenApiError {
    #[error("no OpenAPI schema for kind {0}")]
    UnknownKind(String),
}

/// A group, version and kind, as `x-kubernetes-group-version-kind` spells it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GroupVersionKind {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) kind: String,
}

impl GroupVersionKind {
    pub(crate) fn new(group: &str, version: &str, kind: &str) -> GroupVersionKind {
        GroupVersionKind { group: group.to_string(), version: version.to_string(), kind: kind.to_string() }
    }

    /// `{"group": "apps", "kind": "Deployment", "version": "v1"}`.
    fn extension(&self) -> Value {
        json!({"group": self.group, "kind": self.kind, "version": self.version})
    }
}

impl fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}/{}", self.version, self.kind)
        } else {
            write!(f, "{}/{}/{}", self.group, self.version, self.kind)
        }
    }
}

/// What one `/openapi/v3/<path>` document describes.
#[derive(Debug)]
enum Subject {
    /// `api/v1`, `apis/apps/v1`.
    GroupVersion { group: &'static str, version: &'static str },
    /// `api`: `GET /api/` (APIVersions).
    CoreVersions,
    /// `apis`: `GET /apis/` (APIGroupList).
    Groups,
    /// `apis/<group>`: `GET /apis/<group>/` (APIGroup).
    Group(&'static str),
    /// `version`: `GET /version/`.
    Version,
}

struct Entry {
    path: String,
    subject: Subject,
    document: OnceLock<Option<Arc<Vec<u8>>>>,
}

/// Every document path, sorted as kube-apiserver lists them; documents themselves start unbuilt.
fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let mut subjects: Vec<(String, Subject)> = vec![
            ("api".into(), Subject::CoreVersions),
            ("apis".into(), Subject::Groups),
            ("version".into(), Subject::Version),
        ];
        let mut seen = BTreeSet::new();
        for r in resources::all() {
            if !seen.insert((r.group, r.version)) {
                continue;
            }
            if r.group.is_empty() {
                subjects.push((format!("api/{}", r.version), Subject::GroupVersion { group: "", version: r.version }));
            } else {
                if !subjects.iter().any(|(_, s)| matches!(s, Subject::Group(g) if *g == r.group)) {
                    subjects.push((format!("apis/{}", r.group), Subject::Group(r.group)));
                }
                subjects.push((
                    format!("apis/{}/{}", r.group, r.version),
                    Subject::GroupVersion { group: r.group, version: r.version },
                ));
            }
        }
        subjects.sort_by(|a, b| a.0.cmp(&b.0));
        subjects.into_iter().map(|(path, subject)| Entry { path, subject, document: OnceLock::new() }).collect()
    })
}

/// The `/openapi/v3` root: `{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=<HASH>"},…}}`,
/// listing every group version served plus the `api`, `apis`, `apis/<group>` and `version` documents.
/// The hash is the uppercase hex SHA-512 of the document, as kube-apiserver computes it; kubectl
/// caches documents by this URL, so it must change whenever the document does. Building the root
/// therefore builds (and keeps) every document.
pub fn root_document() -> Value {
    let mut paths = Map::new();
    for entry in entries() {
        let Some(document) = document_of(entry) else { continue };
        let hash: String = Sha512::digest(document.as_slice()).iter().map(|b| format!("{b:02X}")).collect();
        paths.insert(
            entry.path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={hash}", entry.path)}),
        );
    }
    json!({ "paths": paths })
}

/// The OpenAPI 3.0 document for one path of the root ("api/v1", "apis/apps/v1", "api", "apis",
/// "apis/apps", "version"), or None for an unknown path. Built on first use and cached; returned
/// serialized, because kube-apiserver serves these exact bytes and they are big.
pub fn group_version_document(path: &str) -> Option<Arc<Vec<u8>>> {
    let path = path.trim_matches('/');
    entries().iter().find(|e| e.path == path).and_then(document_of)
}

fn document_of(entry: &Entry) -> Option<Arc<Vec<u8>>> {
    entry
        .document
        .get_or_init(|| {
            // A failure here means resources.rs has a kind kinds.rs does not know; the unit tests
            // build every document, so it cannot ship.
            let document = build(&entry.subject).ok()?;
            Some(Arc::new(serde_json::to_vec(&document).ok()?))
        })
        .clone()
}

fn build(subject: &Subject) -> Result<Value, OpenApiError> {
    match subject {
        Subject::GroupVersion { group, version } => build_group_version(group, version),
        Subject::CoreVersions => Ok(discovery_document(
            "/api/",
            "getCoreAPIVersions",
            "get available API versions",
            "core",
            Discovery::APIVersions,
        )),
        Subject::Groups => Ok(discovery_document(
            "/apis/",
            "getAPIVersions",
            "get available API versions",
            "apis",
            Discovery::APIGroupList,
        )),
        Subject::Group(group) => {
            let short = group.strip_suffix(".k8s.io").unwrap_or(group);
            let camel: String = short.split('.').map(capitalize).collect();
            let tag: String =
                short.split('.').enumerate().map(|(i, w)| if i == 0 { w.to_string() } else { capitalize(w) }).collect();
            Ok(discovery_document(
                &format!("/apis/{group}/"),
                &format!("get{camel}APIGroup"),
                "get information of a group",
                &tag,
                Discovery::APIGroup,
            ))
        }
        Subject::Version => Ok(discovery_document(
            "/version/",
            "getCodeVersion",
            "get the version information for this server",
            "version",
            Discovery::VersionInfo,
        )),
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn envelope(paths: Map<String, Value>, schemas: Map<String, Value>) -> Value {
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
        "security": [{"BearerToken": []}],
    })
}

fn discovery_document(path: &str, id: &str, description: &str, tag: &str, what: Discovery) -> Value {
    let request = schemas::Request { listed: &[], bodies: &[], meta_group_versions: &[], discovery: &[what] };
    // Discovery kinds are all known to kinds.rs, so building cannot fail; fall back to no schemas.
    let schemas = schemas::build(&request).map(|c| c.schemas).unwrap_or_default();
    let name = match what {
        Discovery::APIVersions => "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions",
        Discovery::APIGroupList => "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList",
        Discovery::APIGroup => "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup",
        Discovery::VersionInfo => "io.k8s.apimachinery.pkg.version.Info",
    };
    let types: &[&str] = if matches!(what, Discovery::VersionInfo) {
        &["application/json"]
    } else {
        &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
    };
    let content: Map<String, Value> =
        types.iter().map(|t| ((*t).to_string(), json!({"schema": schemas::reference(name)}))).collect();
    let mut paths = Map::new();
    paths.insert(
        path.to_string(),
        json!({"get": {
            "tags": [tag], "description": description, "operationId": id,
            "responses": {"200": {"description": "OK", "content": content}, "401": {"description": "Unauthorized"}},
        }}),
    );
    envelope(paths, schemas)
}

fn build_group_version(group: &str, version: &str) -> Result<Value, OpenApiError> {
    let served: Vec<&ResourceInfo> =
        resources::all().iter().filter(|r| r.group == group && r.version == version).collect();
    let listed: Vec<GroupVersionKind> =
        served.iter().map(|r| GroupVersionKind::new(r.group, r.version, r.kind)).collect();
    let mut bodies: Vec<GroupVersionKind> = Vec::new();
    for sub in served.iter().flat_map(|r| r.subresources) {
        let gvk = GroupVersionKind::new(sub.group, sub.version, sub.kind);
        // Streaming subresources (exec, attach, portforward) have option kinds without a body schema.
        let streaming = matches!(sub.name, "exec" | "attach" | "portforward" | "proxy" | "log");
        if !streaming && !listed.contains(&gvk) && !bodies.contains(&gvk) {
            bodies.push(gvk);
        }
    }
    let mut meta_group_versions: Vec<(&str, &str)> = vec![("", "v1")];
    for r in resources::all() {
        if !meta_group_versions.contains(&(r.group, r.version)) {
            meta_group_versions.push((r.group, r.version));
        }
    }
    let request = schemas::Request {
        listed: &listed,
        bodies: &bodies,
        meta_group_versions: &meta_group_versions,
        discovery: &[],
    };
    let components = schemas::build(&request)?;
    let paths = paths::build(group, version, &served, &components)?;
    Ok(envelope(paths, components.schemas))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod v2_tests;
