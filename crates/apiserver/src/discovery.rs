//! Discovery: `/version`, `/api`, `/apis`, `/apis/{group}` and `/api/v1`, `/apis/{group}/{version}`,
//! both the aggregated v2 form (one response for everything, kubectl's first choice) and the
//! legacy documents, all derived from the resource table in `api::resources`.

use api::ResourceInfo;
use serde_json::{Value, json};

/// The Kubernetes version peapod serves (k8s-openapi's `v1_33` types).
pub const KUBERNETES_MAJOR: &str = "1";
pub const KUBERNETES_MINOR: &str = "33";
pub const GIT_VERSION: &str = "v1.33.0+peapod";

/// The content type of an aggregated discovery answer. kubectl only treats the answer as
/// aggregated if the header is exactly this.
pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGGREGATED_V2BETA1_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

pub fn version() -> Value {
    json!({
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-23T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// Which aggregated discovery version the `Accept` header asks for, if any; returns the
/// content type to answer with.
pub fn aggregated_content_type(accept: &str) -> Option<&'static str> {
    for media_type in accept.split(',') {
        let params: Vec<&str> = media_type.split(';').map(str::trim).collect();
        if !params.contains(&"as=APIGroupDiscoveryList") || !params.contains(&"g=apidiscovery.k8s.io") {
            continue;
        }
        if params.contains(&"v=v2") {
            return Some(AGGREGATED_CONTENT_TYPE);
        }
        if params.contains(&"v=v2beta1") {
            return Some(AGGREGATED_V2BETA1_CONTENT_TYPE);
        }
    }
    None
}

fn aggregated_resource(info: &ResourceInfo) -> Value {
    let subresources: Vec<Value> = info
        .subresources
        .iter()
        .map(|s| {
            json!({
                "subresource": s.name,
                "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                "verbs": s.verbs,
            })
        })
        .collect();
    let mut resource = json!({
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": if info.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": info.singular,
        "verbs": info.verbs,
    });
    if !info.short_names.is_empty() {
        resource["shortNames"] = json!(info.short_names);
    }
    if !info.categories.is_empty() {
        resource["categories"] = json!(info.categories);
    }
    if !subresources.is_empty() {
        resource["subresources"] = json!(subresources);
    }
    resource
}

fn aggregated_group(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| {
            let resources: Vec<Value> = api::resources::all()
                .iter()
                .filter(|r| r.group == group && r.version == *version)
                .map(aggregated_resource)
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !group.is_empty() {
        metadata["name"] = json!(group);
    }
    json!({"metadata": metadata, "versions": versions})
}

/// The aggregated document for `/api` (core) or `/apis` (every other group).
pub fn aggregated(core: bool, content_type: &str) -> Value {
    let version = if content_type == AGGREGATED_CONTENT_TYPE { "v2" } else { "v2beta1" };
    let items: Vec<Value> = if core {
        vec![aggregated_group("", &["v1"])]
    } else {
        api::resources::groups().iter().map(|(group, versions)| aggregated_group(group, versions)).collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// Legacy `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn api_group(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
    json!({
        "name": group,
        "versions": versions.clone(),
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// Legacy `/apis`.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> =
        api::resources::groups().iter().map(|(group, versions)| api_group(group, versions)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Legacy `/apis/{group}`.
pub fn api_group_document(group: &str) -> Option<Value> {
    let groups = api::resources::groups();
    let (name, versions) = groups.iter().find(|(g, _)| *g == group)?;
    let mut document = api_group(name, versions);
    document["kind"] = json!("APIGroup");
    document["apiVersion"] = json!("v1");
    Some(document)
}

/// Legacy `/api/v1` or `/apis/{group}/{version}`: an `APIResourceList`.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let infos: Vec<&ResourceInfo> =
        api::resources::all().iter().filter(|r| r.group == group && r.version == version).collect();
    if infos.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for info in infos {
        let mut resource = json!({
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": info.verbs,
        });
        if !info.short_names.is_empty() {
            resource["shortNames"] = json!(info.short_names);
        }
        if !info.categories.is_empty() {
            resource["categories"] = json!(info.categories);
        }
        resources.push(resource);
        for sub in info.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", info.plural, sub.name),
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            if sub.group != info.group || sub.version != info.version {
                entry["group"] = json!(sub.group);
                entry["version"] = json!(sub.version);
            }
            resources.push(entry);
        }
    }
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_accept_negotiation() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_content_type(kubectl), Some(AGGREGATED_CONTENT_TYPE));
        assert_eq!(aggregated_content_type("application/json"), None);
    }

    #[test]
    fn documents_list_served_resources() {
        let core = aggregated(true, AGGREGATED_CONTENT_TYPE);
        let resources = &core["items"][0]["versions"][0]["resources"];
        let pods = resources.as_array().unwrap().iter().find(|r| r["resource"] == "pods").unwrap();
        assert_eq!(pods["shortNames"][0], "po");
        assert_eq!(pods["categories"][0], "all");
        let groups = aggregated(false, AGGREGATED_CONTENT_TYPE);
        assert!(groups["items"].as_array().unwrap().iter().any(|g| g["metadata"]["name"] == "apps"));
        let legacy = api_resource_list("", "v1").unwrap();
        assert!(legacy["resources"].as_array().unwrap().iter().any(|r| r["name"] == "pods/log"));
        assert!(api_resource_list("apps", "v2").is_none());
        assert_eq!(api_group_document("apps").unwrap()["preferredVersion"]["groupVersion"], "apps/v1");
    }
}
