//! Tests of the OpenAPI documents: what kubectl reads from them (root listing, PATCH operations
//! with `fieldValidation`, GVK extensions, schemas for `explain`, patch metadata for `apply`) and
//! that every `$ref` resolves.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

fn document(path: &str) -> Value {
    let bytes = group_version_document(path).unwrap_or_else(|| panic!("no document for {path}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
}

fn gv_path(r: &ResourceInfo) -> String {
    if r.group.is_empty() { format!("api/{}", r.version) } else { format!("apis/{}/{}", r.group, r.version) }
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "missing schema {name}");
    schema
}

fn collect_refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    out.insert(v.as_str().unwrap_or_default().to_string());
                }
                collect_refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn root_lists_every_group_version_with_a_hashed_url() {
    let root = root_document();
    let paths = root["paths"].as_object().unwrap();
    for r in resources::all() {
        let path = gv_path(r);
        let url = paths[&path]["serverRelativeURL"].as_str().unwrap();
        let hash = url.strip_prefix(&format!("/openapi/v3/{path}?hash=")).unwrap();
        assert_eq!(hash.len(), 128, "SHA-512 is 128 hex digits: {hash}");
        assert!(hash.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()), "{hash}");
        if !r.group.is_empty() {
            assert!(paths.contains_key(&format!("apis/{}", r.group)), "group document for {}", r.group);
        }
    }
    for discovery in ["api", "apis", "version"] {
        assert!(paths.contains_key(discovery), "{discovery}");
    }
    // Every listed path is served, and the hash is the digest of exactly the served bytes.
    for (path, entry) in paths {
        let bytes = group_version_document(path).unwrap();
        let hash: String = Sha512::digest(bytes.as_slice()).iter().map(|b| format!("{b:02X}")).collect();
        assert!(entry["serverRelativeURL"].as_str().unwrap().ends_with(&hash), "{path}");
    }
    // Stable: a second call gives the same root.
    assert_eq!(root, root_document());
}

#[test]
fn unknown_paths_have_no_document() {
    assert!(group_version_document("apis/batch/v1").is_none());
    assert!(group_version_document("api/v2").is_none());
    assert!(group_version_document("").is_none());
    // A leading slash, as a router may pass it, is accepted.
    assert!(group_version_document("/api/v1").is_some());
}

#[test]
fn documents_are_openapi_3_with_kubernetes_info() {
    for path in ["api/v1", "apis/apps/v1", "api", "apis", "apis/apps", "version"] {
        let doc = document(path);
        assert_eq!(doc["openapi"], "3.0.0", "{path}");
        assert_eq!(doc["info"]["title"], "Kubernetes");
        assert!(doc["info"]["version"].as_str().unwrap().starts_with("v1.33."));
        assert!(!doc["paths"].as_object().unwrap().is_empty(), "{path}");
    }
    assert!(document("api")["paths"]["/api/"]["get"]["responses"]["200"].is_object());
    assert_eq!(document("apis/apps")["paths"]["/apis/apps/"]["get"]["operationId"], "getAppsAPIGroup");
}

/// kubectl's `--validate=strict` check: a PATCH operation tagged with the kind's GVK that lists the
/// `fieldValidation` query parameter (and POST/PUT carry it too).
#[test]
fn every_kind_has_write_operations_with_field_validation() {
    for r in resources::all() {
        let doc = document(&gv_path(r));
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        for method in ["patch", "put", "post"] {
            let found = doc["paths"].as_object().unwrap().values().any(|path| {
                let op = &path[method];
                op["x-kubernetes-group-version-kind"] == gvk
                    && op["parameters"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "fieldValidation" && p["in"] == "query"))
            });
            assert!(found, "{method} with fieldValidation for {}", r.group_resource());
        }
    }
}

#[test]
fn pod_operations_match_kube_apiserver() {
    let doc = document("api/v1");
    let item = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"];
    assert_eq!(item["patch"]["operationId"], "patchCoreV1NamespacedPod");
    assert_eq!(item["patch"]["x-kubernetes-action"], "patch");
    assert_eq!(item["get"]["operationId"], "readCoreV1NamespacedPod");
    assert_eq!(item["delete"]["x-kubernetes-action"], "delete");
    let patch_types: Vec<&String> = item["patch"]["requestBody"]["content"].as_object().unwrap().keys().collect();
    assert!(patch_types.iter().any(|t| *t == "application/strategic-merge-patch+json"));
    assert!(patch_types.iter().any(|t| *t == "application/apply-patch+yaml"));
    let params: Vec<&str> =
        item["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(params, ["name", "namespace", "pretty"]);

    let collection = &doc["paths"]["/api/v1/namespaces/{namespace}/pods"];
    assert_eq!(collection["get"]["x-kubernetes-action"], "list");
    assert_eq!(collection["post"]["operationId"], "createCoreV1NamespacedPod");
    assert_eq!(collection["delete"]["operationId"], "deleteCoreV1CollectionNamespacedPod");
    assert_eq!(
        collection["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.PodList"
    );
    assert_eq!(doc["paths"]["/api/v1/pods"]["get"]["operationId"], "listCoreV1PodForAllNamespaces");
    assert_eq!(doc["paths"]["/api/v1/watch/namespaces/{namespace}/pods"]["get"]["x-kubernetes-action"], "watchlist");

    let exec = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/exec"];
    assert_eq!(exec["post"]["x-kubernetes-action"], "connect");
    assert_eq!(exec["post"]["x-kubernetes-group-version-kind"]["kind"], "PodExecOptions");
    let eviction = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"];
    assert_eq!(
        eviction["post"]["x-kubernetes-group-version-kind"],
        json!({"group": "policy", "version": "v1", "kind": "Eviction"})
    );
    assert_eq!(
        doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]["operationId"],
        "readCoreV1NamespacedPodLog"
    );

    // Cluster-scoped: no namespace parameter, no "Namespaced" infix.
    let node = &doc["paths"]["/api/v1/nodes/{name}"];
    assert_eq!(node["patch"]["operationId"], "patchCoreV1Node");
    assert!(!node["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "namespace"));
    assert_eq!(
        doc["paths"]["/api/v1/namespaces/{name}/finalize"]["put"]["operationId"],
        "replaceCoreV1NamespaceFinalize"
    );

    let apps = document("apis/apps/v1");
    let scale = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(scale["patch"]["operationId"], "patchAppsV1NamespacedDeploymentScale");
    assert_eq!(
        scale["patch"]["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    assert!(apps["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"].is_object());
    let lease = document("apis/coordination.k8s.io/v1");
    assert!(
        lease["paths"]["/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"]["patch"]["operationId"]
            == "patchCoordinationV1NamespacedLease"
    );
}

#[test]
fn every_ref_resolves_and_every_kind_has_its_schema() {
    for entry in entries() {
        let doc = document(&entry.path);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = BTreeSet::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty(), "{}", entry.path);
        for reference in refs {
            let name =
                reference.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("bad $ref {reference}"));
            assert!(schemas.contains_key(name), "{}: dangling $ref {reference}", entry.path);
        }
        // OpenAPI 3.0 has no draft-07 leftovers.
        let text = serde_json::to_string(&doc).unwrap();
        assert!(!text.contains("#/definitions/") && !text.contains("$defs") && !text.contains("\"$schema\""));
    }
    for r in resources::all() {
        let doc = document(&gv_path(r));
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let list_gvk = json!({"group": r.group, "version": r.version, "kind": r.list_kind()});
        for wanted in [gvk, list_gvk] {
            let found =
                doc["components"]["schemas"].as_object().unwrap().values().any(|s| {
                    s["x-kubernetes-group-version-kind"].as_array().is_some_and(|gvks| gvks.contains(&wanted))
                });
            assert!(found, "schema tagged {wanted}");
        }
    }
}

#[test]
fn pod_schema_has_descriptions_types_and_patch_metadata() {
    let doc = document("api/v1");
    let pod = schema(&doc, "io.k8s.api.core.v1.Pod");
    assert_eq!(pod["x-kubernetes-group-version-kind"], json!([{"group": "", "kind": "Pod", "version": "v1"}]));
    assert!(pod.get("required").is_none(), "metadata is not required upstream: {pod}");
    assert_eq!(pod["properties"]["spec"]["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.core.v1.PodSpec");
    assert!(pod["properties"]["spec"]["description"].as_str().unwrap().starts_with("Specification of the desired"));

    let spec = schema(&doc, "io.k8s.api.core.v1.PodSpec");
    let containers = &spec["properties"]["containers"];
    assert!(containers["description"].as_str().unwrap().starts_with("List of containers belonging to the pod."));
    assert_eq!(containers["type"], "array");
    assert_eq!(containers["items"]["$ref"], "#/components/schemas/io.k8s.api.core.v1.Container");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    assert_eq!(spec["properties"]["volumes"]["x-kubernetes-patch-strategy"], "merge,retainKeys");
    assert_eq!(spec["required"], json!(["containers"]));

    let container = schema(&doc, "io.k8s.api.core.v1.Container");
    assert_eq!(container["required"], json!(["name"]));
    assert_eq!(container["properties"]["ports"]["x-kubernetes-list-map-keys"], json!(["containerPort", "protocol"]));
    assert_eq!(container["properties"]["image"]["type"], "string");

    let meta = schema(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    assert_eq!(meta["properties"]["finalizers"]["x-kubernetes-list-type"], "set");
    assert_eq!(meta["properties"]["ownerReferences"]["x-kubernetes-patch-merge-key"], "uid");
    assert_eq!(meta["properties"]["labels"]["additionalProperties"]["type"], "string");
    assert_eq!(schema(&doc, "io.k8s.api.core.v1.LocalObjectReference")["x-kubernetes-map-type"], "atomic");

    let apps = document("apis/apps/v1");
    let deployment_spec = schema(&apps, "io.k8s.api.apps.v1.DeploymentSpec");
    assert_eq!(deployment_spec["properties"]["strategy"]["x-kubernetes-patch-strategy"], "retainKeys");
    assert_eq!(
        deployment_spec["properties"]["strategy"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"
    );
}

#[test]
fn special_types_match_upstream() {
    let doc = document("api/v1");
    let time = schema(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.Time");
    assert_eq!((time["type"].as_str(), time["format"].as_str()), (Some("string"), Some("date-time")));
    assert_eq!(schema(&doc, "io.k8s.apimachinery.pkg.util.intstr.IntOrString")["x-kubernetes-int-or-string"], true);
    assert!(schema(&doc, "io.k8s.apimachinery.pkg.api.resource.Quantity")["x-kubernetes-int-or-string"] == true);
    let status = schema(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.Status");
    assert!(
        status["x-kubernetes-group-version-kind"]
            .as_array()
            .unwrap()
            .contains(&json!({"group": "", "kind": "Status", "version": "v1"}))
    );
    let delete = schema(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions");
    assert!(
        delete["x-kubernetes-group-version-kind"]
            .as_array()
            .unwrap()
            .contains(&json!({"group": "apps", "kind": "DeleteOptions", "version": "v1"}))
    );
    // Core and events.k8s.io Events are distinct schemas, each tagged with its own group.
    let events = document("apis/events.k8s.io/v1");
    assert_eq!(
        schema(&events, "io.k8s.api.events.v1.Event")["x-kubernetes-group-version-kind"][0]["group"],
        "events.k8s.io"
    );
    assert!(events["components"]["schemas"].get("io.k8s.api.core.v1.Pod").is_none());
    let version = document("version");
    assert!(schema(&version, "io.k8s.apimachinery.pkg.version.Info")["properties"]["gitVersion"].is_object());
}

#[test]
fn every_extension_field_exists_in_its_schema() {
    // A typo in extensions.rs (or a field k8s-openapi names differently) would silently drop patch
    // metadata; check every entry whose schema is served.
    let mut all = Map::new();
    for entry in entries() {
        if let Value::Object(schemas) = document(&entry.path)["components"]["schemas"].clone() {
            all.extend(schemas);
        }
    }
    let mut checked = 0;
    for (schema_name, property, _) in extensions::FIELDS {
        if let Some(schema) = all.get(*schema_name) {
            assert!(schema["properties"][*property].is_object(), "{schema_name}.{property}");
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} extension entries apply");
}
