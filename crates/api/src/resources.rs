//! The table of served resources: one row per resource with everything discovery, routing,
//! storage keys and `kubectl api-resources` need. Adding a resource starts here.

/// A subresource as discovery lists it (`pods/log`, `deployments/scale`).
#[derive(Debug)]
pub struct Subresource {
    pub name: &'static str,
    /// Group, version and kind of the object the subresource takes and returns.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

/// One served resource (a GroupVersionResource with its kind and scope).
#[derive(Debug)]
pub struct ResourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
}

impl ResourceInfo {
    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `PodList`, `DeploymentList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// `pods`, or `deployments.apps`: the name kubectl and error messages use.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() { self.plural.to_string() } else { format!("{}.{}", self.plural, self.group) }
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name == name)
    }

    pub fn has_status(&self) -> bool {
        self.has_subresource("status")
    }

    /// The storage key prefix, as kube-apiserver lays out etcd: `/registry/pods/`,
    /// `/registry/deployments/` (groups other than core share the same flat layout in
    /// Kubernetes, except where noted; we keep the group in the key to avoid collisions,
    /// e.g. core and `events.k8s.io` events are one resource in Kubernetes but stored once).
    pub fn key_prefix(&self) -> String {
        // events.k8s.io/v1 Event is the same stored object as core/v1 Event in Kubernetes.
        if self.plural == "events" {
            return "/registry/events/".to_string();
        }
        if self.group.is_empty() {
            format!("/registry/{}/", self.plural)
        } else {
            format!("/registry/{}/{}/", self.group, self.plural)
        }
    }
}

const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

macro_rules! sub {
    ($name:expr, $group:expr, $version:expr, $kind:expr, $verbs:expr) => {
        Subresource { name: $name, group: $group, version: $version, kind: $kind, verbs: $verbs }
    };
}

static RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        short_names: &["ns"],
        namespaced: false,
        verbs: &["create", "delete", "get", "list", "patch", "update", "watch"],
        categories: &[],
        subresources: &[
            sub!("finalize", "", "v1", "Namespace", &["update"]),
            sub!("status", "", "v1", "Namespace", STATUS_VERBS),
        ],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        short_names: &["po"],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &["all"],
        subresources: &[
            sub!("attach", "", "v1", "PodAttachOptions", &["create", "get"]),
            sub!("binding", "", "v1", "Binding", &["create"]),
            sub!("eviction", "policy", "v1", "Eviction", &["create"]),
            sub!("exec", "", "v1", "PodExecOptions", &["create", "get"]),
            sub!("log", "", "v1", "Pod", &["get"]),
            sub!("portforward", "", "v1", "PodPortForwardOptions", &["create", "get"]),
            sub!("status", "", "v1", "Pod", STATUS_VERBS),
        ],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        singular: "node",
        short_names: &["no"],
        namespaced: false,
        verbs: ALL_VERBS,
        categories: &[],
        subresources: &[sub!("status", "", "v1", "Node", STATUS_VERBS)],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        short_names: &["ev"],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        short_names: &["cm"],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        short_names: &[],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        singular: "service",
        short_names: &["svc"],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &["all"],
        subresources: &[sub!("status", "", "v1", "Service", STATUS_VERBS)],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Endpoints",
        plural: "endpoints",
        singular: "endpoints",
        short_names: &["ep"],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        short_names: &["sa"],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        plural: "leases",
        singular: "lease",
        short_names: &[],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        short_names: &["deploy"],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &["all"],
        subresources: &[
            sub!("scale", "autoscaling", "v1", "Scale", STATUS_VERBS),
            sub!("status", "apps", "v1", "Deployment", STATUS_VERBS),
        ],
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        plural: "replicasets",
        singular: "replicaset",
        short_names: &["rs"],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &["all"],
        subresources: &[
            sub!("scale", "autoscaling", "v1", "Scale", STATUS_VERBS),
            sub!("status", "apps", "v1", "ReplicaSet", STATUS_VERBS),
        ],
    },
    ResourceInfo {
        group: "events.k8s.io",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        short_names: &["ev"],
        namespaced: true,
        verbs: ALL_VERBS,
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "node.k8s.io",
        version: "v1",
        kind: "RuntimeClass",
        plural: "runtimeclasses",
        singular: "runtimeclass",
        short_names: &[],
        namespaced: false,
        verbs: ALL_VERBS,
        categories: &[],
        subresources: &[],
    },
];

/// Every served resource, core group first, in discovery order.
pub fn all() -> &'static [ResourceInfo] {
    RESOURCES
}

/// The resource served at `/{group}/{version}/{plural}`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource for a kind in an `apiVersion` (`v1`, `apps/v1`), as manifests name it.
pub fn find_by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    let (group, version) = split_api_version(api_version);
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// `apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// The API groups other than core, each with its versions, in discovery order.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) if !versions.contains(&r.version) => versions.push(r.version),
            Some(_) => {}
            None => groups.push((r.group, vec![r.version])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(find("", "v1", "pods").unwrap().kind, "Pod");
        assert_eq!(find_by_kind("apps/v1", "Deployment").unwrap().plural, "deployments");
        assert_eq!(find("apps", "v1", "deployments").unwrap().api_version(), "apps/v1");
        assert!(find("", "v1", "nope").is_none());
        let names: Vec<_> = groups().into_iter().map(|(g, _)| g).collect();
        assert_eq!(names, vec!["coordination.k8s.io", "apps", "events.k8s.io", "node.k8s.io"]);
        let runtime_classes = find("node.k8s.io", "v1", "runtimeclasses").unwrap();
        assert!(!runtime_classes.namespaced);
        assert_eq!(runtime_classes.key_prefix(), "/registry/node.k8s.io/runtimeclasses/");
    }
}
