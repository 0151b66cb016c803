//! Which `k8s-openapi` Rust type carries the schema of each served kind: the only place that names
//! Rust types. Registering a type with the schemars generator also registers every type it reaches.
//!
//! Must not decide which kinds a document contains (that is `schemas.rs`, from the resource table).

use k8s_openapi::api::{apps, autoscaling, coordination, core, events, node, policy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::{JsonSchema, SchemaGenerator};

/// Registers the schema of a kind and returns its component name (`io.k8s.api.core.v1.Pod`), or
/// `None` for a kind this module does not know (a resource table row without a schema here).
pub(super) fn register(generator: &mut SchemaGenerator, group: &str, version: &str, kind: &str) -> Option<String> {
    let name = match (group, version, kind) {
        ("", "v1", "Binding") => add::<core::v1::Binding>(generator),
        ("", "v1", "ConfigMap") => add::<core::v1::ConfigMap>(generator),
        ("", "v1", "Endpoints") => add::<core::v1::Endpoints>(generator),
        ("", "v1", "Event") => add::<core::v1::Event>(generator),
        ("", "v1", "Namespace") => add::<core::v1::Namespace>(generator),
        ("", "v1", "Node") => add::<core::v1::Node>(generator),
        ("", "v1", "Pod") => add::<core::v1::Pod>(generator),
        ("", "v1", "Secret") => add::<core::v1::Secret>(generator),
        ("", "v1", "Service") => add::<core::v1::Service>(generator),
        ("", "v1", "ServiceAccount") => add::<core::v1::ServiceAccount>(generator),
        ("apps", "v1", "Deployment") => add::<apps::v1::Deployment>(generator),
        ("apps", "v1", "ReplicaSet") => add::<apps::v1::ReplicaSet>(generator),
        ("autoscaling", "v1", "Scale") => add::<autoscaling::v1::Scale>(generator),
        ("coordination.k8s.io", "v1", "Lease") => add::<coordination::v1::Lease>(generator),
        ("events.k8s.io", "v1", "Event") => add::<events::v1::Event>(generator),
        ("node.k8s.io", "v1", "RuntimeClass") => add::<node::v1::RuntimeClass>(generator),
        ("policy", "v1", "Eviction") => add::<policy::v1::Eviction>(generator),
        _ => return None,
    };
    Some(name)
}

/// The meta types every group version document references (request and response bodies that are
/// not the resource itself). Returns (kind, component name) pairs.
pub(super) fn register_meta(generator: &mut SchemaGenerator) -> Vec<(&'static str, String)> {
    vec![
        ("APIResourceList", add::<meta::APIResourceList>(generator)),
        ("DeleteOptions", add::<meta::DeleteOptions>(generator)),
        ("Patch", add::<meta::Patch>(generator)),
        ("Status", add::<meta::Status>(generator)),
        ("WatchEvent", add::<meta::WatchEvent<()>>(generator)),
    ]
}

/// The schemas of the discovery documents (`/api`, `/apis`, `/apis/<group>`, `/version`).
pub(super) fn register_discovery(generator: &mut SchemaGenerator, what: Discovery) -> String {
    match what {
        Discovery::APIVersions => add::<meta::APIVersions>(generator),
        Discovery::APIGroupList => add::<meta::APIGroupList>(generator),
        Discovery::APIGroup => add::<meta::APIGroup>(generator),
        Discovery::VersionInfo => add::<k8s_openapi::apimachinery::pkg::version::Info>(generator),
    }
}

/// A discovery response type.
#[derive(Debug, Clone, Copy)]
pub(super) enum Discovery {
    APIVersions,
    APIGroupList,
    APIGroup,
    VersionInfo,
}

fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}
