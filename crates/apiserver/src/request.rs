//! The Kubernetes URL grammar: which endpoint a path names, and the query parameters of
//! resource requests.
//!
//! Resource paths are `/api/v1/...` (core) or `/apis/{group}/{version}/...`, followed by
//! `[namespaces/{namespace}/]{resource}[/{name}[/{subresource}]]`. A namespace is itself a
//! resource, so `/api/v1/namespaces/x` names namespace x and `/api/v1/namespaces/x/status`
//! its status, while `/api/v1/namespaces/x/pods` lists pods in it.

use api::ResourceInfo;

use crate::error::{ApiError, ApiResult};

/// What a request path names.
#[derive(Debug)]
pub enum Endpoint {
    Version,
    Health(&'static str),
    Metrics,
    /// `/api`
    CoreDiscovery,
    /// `/apis`
    GroupsDiscovery,
    /// `/apis/{group}`
    GroupDiscovery(String),
    /// `/api/v1` or `/apis/{group}/{version}`
    GroupVersionDiscovery {
        group: String,
        version: String,
    },
    OpenApiV3Root,
    OpenApiV3(String),
    OpenApiV2,
    Resource(ResourceTarget),
}

/// A request on a resource, a single object, or one of its subresources.
#[derive(Debug, Clone)]
pub struct ResourceTarget {
    pub info: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

pub fn parse_path(path: &str) -> ApiResult<Endpoint> {
    let trimmed = path.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    match segments.as_slice() {
        ["version"] => Ok(Endpoint::Version),
        ["healthz"] => Ok(Endpoint::Health("healthz")),
        ["livez"] => Ok(Endpoint::Health("livez")),
        ["readyz"] => Ok(Endpoint::Health("readyz")),
        ["metrics"] => Ok(Endpoint::Metrics),
        ["api"] => Ok(Endpoint::CoreDiscovery),
        ["apis"] => Ok(Endpoint::GroupsDiscovery),
        ["openapi", "v3"] => Ok(Endpoint::OpenApiV3Root),
        ["openapi", "v3", rest @ ..] => Ok(Endpoint::OpenApiV3(rest.join("/"))),
        ["openapi", "v2"] => Ok(Endpoint::OpenApiV2),
        ["api", version] => Ok(Endpoint::GroupVersionDiscovery { group: String::new(), version: version.to_string() }),
        ["apis", group] => Ok(Endpoint::GroupDiscovery(group.to_string())),
        ["apis", group, version] => {
            Ok(Endpoint::GroupVersionDiscovery { group: group.to_string(), version: version.to_string() })
        }
        ["api", version, rest @ ..] => resource_target("", version, rest).map(Endpoint::Resource),
        ["apis", group, version, rest @ ..] => resource_target(group, version, rest).map(Endpoint::Resource),
        _ => Err(ApiError::no_route()),
    }
}

fn resource_target(group: &str, version: &str, rest: &[&str]) -> ApiResult<ResourceTarget> {
    let find = |plural: &str| api::resources::find(group, version, plural).ok_or_else(ApiError::no_route);
    let target = |info, namespace: Option<&str>, name: Option<&str>, subresource: Option<&str>| {
        for segment in [namespace, name, subresource].into_iter().flatten() {
            if segment.is_empty() {
                return Err(ApiError::no_route());
            }
        }
        Ok(ResourceTarget {
            info,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: subresource.map(str::to_string),
        })
    };
    match rest {
        // /namespaces/{ns}/{resource}[/{name}[/{sub}]] unless {resource} is a namespace subresource.
        ["namespaces", namespace, plural, tail @ ..] if !is_namespace_subresource(group, plural, tail) => {
            let info = find(plural)?;
            if !info.namespaced {
                return Err(ApiError::no_route());
            }
            match tail {
                [] => target(info, Some(namespace), None, None),
                [name] => target(info, Some(namespace), Some(name), None),
                [name, sub] => target(info, Some(namespace), Some(name), Some(sub)),
                _ => Err(ApiError::no_route()),
            }
        }
        [plural] => target(find(plural)?, None, None, None),
        [plural, name] => {
            let info = find(plural)?;
            if info.namespaced {
                // A namespaced object is only addressable inside its namespace.
                return Err(ApiError::no_route());
            }
            target(info, None, Some(name), None)
        }
        [plural, name, sub] => {
            let info = find(plural)?;
            if info.namespaced {
                return Err(ApiError::no_route());
            }
            target(info, None, Some(name), Some(sub))
        }
        _ => Err(ApiError::no_route()),
    }
}

fn is_namespace_subresource(group: &str, segment: &str, tail: &[&str]) -> bool {
    group.is_empty() && tail.is_empty() && (segment == "status" || segment == "finalize")
}

/// The query parameters of resource requests (list, watch, create, update, patch, delete).
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: usize,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub watch: bool,
    pub allow_watch_bookmarks: bool,
    pub timeout_seconds: Option<u64>,
    pub send_initial_events: bool,
    pub dry_run: bool,
    pub field_validation: Option<String>,
    pub field_manager: Option<String>,
    pub include_object: Option<String>,
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub orphan_dependents: Option<bool>,
    pub pretty: bool,
    /// Every parameter in order, for subresources that take their own (log, exec).
    pub raw: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> ApiResult<Query> {
        let mut parsed = Query::default();
        let Some(query) = query else { return Ok(parsed) };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value_string = value.to_string();
            match key.as_ref() {
                "labelSelector" => parsed.label_selector = Some(value_string.clone()),
                "fieldSelector" => parsed.field_selector = Some(value_string.clone()),
                "limit" => parsed.limit = parse_number(&key, &value)?,
                "continue" => parsed.continue_token = Some(value_string.clone()).filter(|v| !v.is_empty()),
                "resourceVersion" => parsed.resource_version = Some(value_string.clone()).filter(|v| !v.is_empty()),
                "resourceVersionMatch" => parsed.resource_version_match = Some(value_string.clone()),
                "watch" => parsed.watch = parse_bool(&value),
                "allowWatchBookmarks" => parsed.allow_watch_bookmarks = parse_bool(&value),
                "timeoutSeconds" => parsed.timeout_seconds = Some(parse_number(&key, &value)?),
                "sendInitialEvents" => parsed.send_initial_events = parse_bool(&value),
                "dryRun" => match value.as_ref() {
                    "All" => parsed.dry_run = true,
                    "" => {}
                    other => return Err(ApiError::bad_request(format!("Invalid dryRun value: {other:?}"))),
                },
                "fieldValidation" => parsed.field_validation = Some(value_string.clone()),
                "fieldManager" => parsed.field_manager = Some(value_string.clone()),
                "includeObject" => parsed.include_object = Some(value_string.clone()),
                "propagationPolicy" => parsed.propagation_policy = Some(value_string.clone()),
                "gracePeriodSeconds" => parsed.grace_period_seconds = Some(parse_number(&key, &value)?),
                "orphanDependents" => parsed.orphan_dependents = Some(parse_bool(&value)),
                "pretty" => parsed.pretty = parse_bool(&value),
                _ => {}
            }
            parsed.raw.push((key.to_string(), value_string));
        }
        Ok(parsed)
    }

    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.raw.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.all(key).next()
    }
}

fn parse_bool(value: &str) -> bool {
    matches!(value, "true" | "1" | "True" | "TRUE")
}

fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> ApiResult<T> {
    value.parse().map_err(|_| ApiError::bad_request(format!("invalid value {value:?} for query parameter {key}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(path: &str) -> ResourceTarget {
        match parse_path(path).unwrap() {
            Endpoint::Resource(target) => target,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        let pods = resource("/api/v1/namespaces/default/pods");
        assert_eq!((pods.info.kind, pods.namespace.as_deref(), pods.name.as_deref()), ("Pod", Some("default"), None));
        let log = resource("/api/v1/namespaces/default/pods/busybox/log");
        assert_eq!((log.name.as_deref(), log.subresource.as_deref()), (Some("busybox"), Some("log")));
        let all_pods = resource("/api/v1/pods");
        assert!(all_pods.namespace.is_none());
        let namespace = resource("/api/v1/namespaces/kube-system");
        assert_eq!((namespace.info.kind, namespace.name.as_deref()), ("Namespace", Some("kube-system")));
        let namespace_status = resource("/api/v1/namespaces/x/status");
        assert_eq!(
            (namespace_status.info.kind, namespace_status.subresource.as_deref()),
            ("Namespace", Some("status"))
        );
        let scale = resource("/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!((scale.info.kind, scale.subresource.as_deref()), ("Deployment", Some("scale")));
        let node = resource("/api/v1/nodes/n1/status");
        assert_eq!((node.info.kind, node.subresource.as_deref()), ("Node", Some("status")));
        assert!(matches!(parse_path("/apis/apps/v1").unwrap(), Endpoint::GroupVersionDiscovery { .. }));
        assert!(parse_path("/api/v1/pods/x").is_err());
        assert!(parse_path("/api/v1/namespaces/default/nodes").is_err());
        assert!(parse_path("/nope").is_err());
        assert!(parse_path("/api/v1/namespaces//pods").is_err());
    }

    #[test]
    fn queries() {
        let q = Query::parse(Some("labelSelector=run%3Dbusybox&limit=500&watch=true&command=sh&command=-c")).unwrap();
        assert_eq!(q.label_selector.as_deref(), Some("run=busybox"));
        assert_eq!(q.limit, 500);
        assert!(q.watch);
        assert_eq!(q.all("command").collect::<Vec<_>>(), vec!["sh", "-c"]);
        assert!(Query::parse(Some("limit=abc")).is_err());
        assert!(Query::parse(Some("dryRun=Some")).is_err());
    }
}
