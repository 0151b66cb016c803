//! What the client needs to know about a kind: where its collection lives (group, version,
//! plural, scope) and how to read an object's identity (name, namespace, resourceVersion).
//!
//! Owns the [`Object`] and [`Resource`] traits and their implementations for the
//! `k8s-openapi` types peapod serves, plus [`ApiResource`] for kinds only known at run time
//! (with `serde_json::Value` objects). It must not hold any resource table of its own: the
//! served set is `api::resources`; typed constants come from `k8s-openapi`.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Event, Namespace, Node, Pod, Secret, Service, ServiceAccount};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An object the client can send, receive, and keep in a cache.
pub trait Object: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    fn name(&self) -> Option<&str>;
    fn namespace(&self) -> Option<&str>;
    fn resource_version(&self) -> Option<&str>;
    fn uid(&self) -> Option<&str>;
    /// Items of lists come without `apiVersion` and `kind` (as from kube-apiserver); typed
    /// objects know theirs, untyped ones get them filled in here.
    fn fill_type_meta(&mut self, _api_version: &str, _kind: &str) {}
}

/// A kind whose collection is known at compile time.
pub trait Resource: Object {
    /// Empty for the core group.
    const GROUP: &'static str;
    const VERSION: &'static str;
    const KIND: &'static str;
    /// The URL path segment: `pods`, `deployments`.
    const PLURAL: &'static str;
    const NAMESPACED: bool;
}

/// A resource's place in the URL space, for kinds handled as `serde_json::Value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl ApiResource {
    pub fn of<K: Resource>() -> Self {
        ApiResource {
            group: K::GROUP.to_string(),
            version: K::VERSION.to_string(),
            kind: K::KIND.to_string(),
            plural: K::PLURAL.to_string(),
            namespaced: K::NAMESPACED,
        }
    }

    /// From the served resource table (`api::resources::find`).
    pub fn from_info(info: &api::ResourceInfo) -> Self {
        ApiResource {
            group: info.group.to_string(),
            version: info.version.to_string(),
            kind: info.kind.to_string(),
            plural: info.plural.to_string(),
            namespaced: info.namespaced,
        }
    }

    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `/api/v1` or `/apis/apps/v1`.
    pub(crate) fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

macro_rules! served {
    ($($ty:ty),* $(,)?) => {$(
        impl Object for $ty {
            fn name(&self) -> Option<&str> {
                self.metadata.name.as_deref()
            }
            fn namespace(&self) -> Option<&str> {
                self.metadata.namespace.as_deref()
            }
            fn resource_version(&self) -> Option<&str> {
                self.metadata.resource_version.as_deref()
            }
            fn uid(&self) -> Option<&str> {
                self.metadata.uid.as_deref()
            }
        }

        impl Resource for $ty {
            const GROUP: &'static str = <$ty as k8s_openapi::Resource>::GROUP;
            const VERSION: &'static str = <$ty as k8s_openapi::Resource>::VERSION;
            const KIND: &'static str = <$ty as k8s_openapi::Resource>::KIND;
            const PLURAL: &'static str = <$ty as k8s_openapi::Resource>::URL_PATH_SEGMENT;
            const NAMESPACED: bool =
                <<$ty as k8s_openapi::Resource>::Scope as Scope>::NAMESPACED;
        }
    )*};
}

/// Turns `k8s-openapi`'s scope marker types into a constant.
trait Scope {
    const NAMESPACED: bool;
}

impl Scope for k8s_openapi::NamespaceResourceScope {
    const NAMESPACED: bool = true;
}

impl Scope for k8s_openapi::ClusterResourceScope {
    const NAMESPACED: bool = false;
}

served!(
    Pod,
    Node,
    Namespace,
    Event,
    k8s_openapi::api::events::v1::Event,
    ConfigMap,
    Secret,
    Service,
    Endpoints,
    ServiceAccount,
    Lease,
    Deployment,
    ReplicaSet,
);

impl Object for serde_json::Value {
    fn name(&self) -> Option<&str> {
        self.pointer("/metadata/name").and_then(|v| v.as_str())
    }
    fn namespace(&self) -> Option<&str> {
        self.pointer("/metadata/namespace").and_then(|v| v.as_str())
    }
    fn resource_version(&self) -> Option<&str> {
        self.pointer("/metadata/resourceVersion").and_then(|v| v.as_str())
    }
    fn uid(&self) -> Option<&str> {
        self.pointer("/metadata/uid").and_then(|v| v.as_str())
    }
    fn fill_type_meta(&mut self, api_version: &str, kind: &str) {
        if let Some(map) = self.as_object_mut() {
            map.entry("apiVersion").or_insert_with(|| api_version.into());
            map.entry("kind").or_insert_with(|| kind.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_resources_match_the_served_table() {
        fn check<K: Resource>() {
            let info = api::resources::find(K::GROUP, K::VERSION, K::PLURAL)
                .unwrap_or_else(|| panic!("{}/{} {} is not served", K::GROUP, K::VERSION, K::PLURAL));
            assert_eq!(info.kind, K::KIND);
            assert_eq!(info.namespaced, K::NAMESPACED, "{}", K::KIND);
            assert_eq!(ApiResource::of::<K>(), ApiResource::from_info(info));
        }
        check::<Pod>();
        check::<Node>();
        check::<Namespace>();
        check::<Event>();
        check::<k8s_openapi::api::events::v1::Event>();
        check::<ConfigMap>();
        check::<Secret>();
        check::<Service>();
        check::<Endpoints>();
        check::<ServiceAccount>();
        check::<Lease>();
        check::<Deployment>();
        check::<ReplicaSet>();
    }

    #[test]
    fn values_expose_identity_and_get_type_meta() {
        let mut value =
            serde_json::json!({"metadata": {"name": "a", "namespace": "n", "resourceVersion": "7", "uid": "u"}});
        assert_eq!(
            (value.name(), value.namespace(), value.resource_version(), value.uid()),
            (Some("a"), Some("n"), Some("7"), Some("u"))
        );
        value.fill_type_meta("v1", "Pod");
        assert_eq!(value["kind"], "Pod");
        assert_eq!(value["apiVersion"], "v1");
        let mut not_an_object = serde_json::json!(3);
        not_an_object.fill_type_meta("v1", "Pod");
        assert_eq!(not_an_object.name(), None);
    }
}
