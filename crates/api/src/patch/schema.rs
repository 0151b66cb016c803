//! The strategic-merge metadata model: which Go type sits behind each JSON field, and the
//! `patchStrategy` / `patchMergeKey` tags of that field.
//!
//! Owns the lookups `LookupPatchMetadataForStruct` / `LookupPatchMetadataForSlice` of
//! `k8s.io/apimachinery/pkg/util/strategicpatch/meta.go` and the map from (apiVersion, kind) to
//! the root type. Must not merge anything (that is `strategic.rs`) nor hold the data (`tags.rs`).

use super::tags;

/// A Go struct type: its JSON fields that carry strategic-merge metadata.
#[derive(Debug)]
pub(crate) struct StructType {
    pub(crate) fields: &'static [Field],
}

/// One JSON field of a Go struct.
#[derive(Debug)]
pub(crate) struct Field {
    /// The JSON name (first part of the `json` tag).
    pub(crate) name: &'static str,
    pub(crate) ty: Ty,
    /// The `patchStrategy` tag verbatim, e.g. `"merge"` or `"merge,retainKeys"`.
    pub(crate) strategy: &'static str,
    /// The `patchMergeKey` tag verbatim; empty for lists of scalars.
    pub(crate) merge_key: &'static str,
}

/// The shape of a field's Go type, as far as the merge cares.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    /// A struct (or pointer to one).
    Struct(&'static StructType),
    /// A slice of structs whose own fields carry metadata.
    ListOf(&'static StructType),
    /// A slice of scalars, or of structs without metadata.
    List,
}

/// Where the merge currently is in the type tree.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Schema {
    Typed(&'static StructType),
    /// No metadata: a map (labels, data), a struct without strategic fields, or a field this
    /// table does not know. Maps merge recursively and lists are replaced, which is what
    /// upstream does for every field without tags.
    Untyped,
}

/// How a field's value combines with the patch (the non-`retainKeys` part of `patchStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// No tag: maps merge, lists are replaced.
    Default,
    Merge,
    Replace,
}

/// The metadata of one field, as `PatchMeta` upstream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PatchMeta {
    pub(crate) strategy: Strategy,
    pub(crate) merge_key: &'static str,
}

const NO_META: PatchMeta = PatchMeta { strategy: Strategy::Default, merge_key: "" };

impl Field {
    fn patch_meta(&self) -> PatchMeta {
        // Upstream (`extractRetainKeysPatchStrategy`) splits the tag on "," and sets `retainKeys`
        // apart; it only matters when computing a patch, never when applying one.
        let strategy = match self.strategy.split(',').find(|s| *s != "retainKeys") {
            Some("merge") => Strategy::Merge,
            Some("replace") => Strategy::Replace,
            _ => Strategy::Default,
        };
        PatchMeta { strategy, merge_key: self.merge_key }
    }
}

impl Schema {
    fn field(self, key: &str) -> Option<&'static Field> {
        let Schema::Typed(st) = self else { return None };
        // encoding/json picks the exact name first, then a case-insensitive match.
        st.fields.iter().find(|f| f.name == key).or_else(|| st.fields.iter().find(|f| f.name.eq_ignore_ascii_case(key)))
    }

    /// Metadata of `key` whose value is a map in both the original and the patch.
    pub(crate) fn lookup_struct(self, key: &str) -> (Schema, PatchMeta) {
        match self.field(key) {
            Some(f) => match f.ty {
                Ty::Struct(st) => (Schema::Typed(st), f.patch_meta()),
                Ty::ListOf(_) | Ty::List => (Schema::Untyped, f.patch_meta()),
            },
            None => (Schema::Untyped, NO_META),
        }
    }

    /// Metadata of `key` whose value is a list in both the original and the patch; the schema
    /// returned is the element's.
    pub(crate) fn lookup_slice(self, key: &str) -> (Schema, PatchMeta) {
        match self.field(key) {
            Some(f) => match f.ty {
                Ty::ListOf(st) => (Schema::Typed(st), f.patch_meta()),
                Ty::List => (Schema::Untyped, f.patch_meta()),
                // Upstream accepts a pointer-to-struct field holding a list of that struct.
                Ty::Struct(st) => (Schema::Typed(st), f.patch_meta()),
            },
            None => (Schema::Untyped, NO_META),
        }
    }

    /// What upstream prints as the schema's name in "cannot merge lists without merge key for
    /// %s" (the Go kind of the element type).
    pub(crate) fn kind_name(self) -> &'static str {
        "struct"
    }
}

/// The root type of a built-in kind, or `None` when strategic merge patch is not supported for it
/// (custom resources and kinds this server does not serve).
pub(crate) fn root_for(api_version: &str, kind: &str) -> Option<&'static StructType> {
    Some(match (api_version, kind) {
        ("v1", "Pod") => &tags::CORE_POD,
        ("v1", "Node") => &tags::CORE_NODE,
        ("v1", "Namespace") => &tags::CORE_NAMESPACE,
        ("v1", "Event") => &tags::CORE_EVENT,
        ("v1", "ConfigMap") => &tags::CORE_CONFIG_MAP,
        ("v1", "Secret") => &tags::CORE_SECRET,
        ("v1", "Service") => &tags::CORE_SERVICE,
        ("v1", "Endpoints") => &tags::CORE_ENDPOINTS,
        ("v1", "ServiceAccount") => &tags::CORE_SERVICE_ACCOUNT,
        ("coordination.k8s.io/v1", "Lease") => &tags::COORDINATION_LEASE,
        ("apps/v1", "Deployment") => &tags::APPS_DEPLOYMENT,
        ("apps/v1", "ReplicaSet") => &tags::APPS_REPLICA_SET,
        ("autoscaling/v1", "Scale") => &tags::AUTOSCALING_SCALE,
        ("events.k8s.io/v1", "Event") => &tags::EVENTS_EVENT,
        ("node.k8s.io/v1", "RuntimeClass") => &tags::NODE_RUNTIME_CLASS,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(schema: Schema, path: &[&str], list: &str) -> (Strategy, &'static str) {
        let mut s = schema;
        for p in path {
            s = s.lookup_struct(p).0;
        }
        let (_, m) = s.lookup_slice(list);
        (m.strategy, m.merge_key)
    }

    #[test]
    fn tags_match_the_go_types() {
        let pod = Schema::Typed(root_for("v1", "Pod").expect("Pod"));
        let cases: &[(&[&str], &str, Strategy, &str)] = &[
            (&["spec"], "containers", Strategy::Merge, "name"),
            (&["spec"], "initContainers", Strategy::Merge, "name"),
            (&["spec"], "ephemeralContainers", Strategy::Merge, "name"),
            (&["spec"], "volumes", Strategy::Merge, "name"),
            (&["spec"], "imagePullSecrets", Strategy::Merge, "name"),
            (&["spec"], "hostAliases", Strategy::Merge, "ip"),
            (&["spec"], "tolerations", Strategy::Default, ""),
            (&["spec"], "topologySpreadConstraints", Strategy::Merge, "topologyKey"),
            (&["spec"], "schedulingGates", Strategy::Merge, "name"),
            (&["spec"], "resourceClaims", Strategy::Merge, "name"),
            (&["metadata"], "ownerReferences", Strategy::Merge, "uid"),
            (&["metadata"], "finalizers", Strategy::Merge, ""),
            (&["metadata"], "managedFields", Strategy::Default, ""),
            (&["status"], "conditions", Strategy::Merge, "type"),
            (&["status"], "podIPs", Strategy::Merge, "ip"),
            (&["status"], "hostIPs", Strategy::Merge, "ip"),
            (&["status"], "containerStatuses", Strategy::Default, ""),
        ];
        for (path, list, strategy, key) in cases {
            assert_eq!(meta(pod, path, list), (*strategy, *key), "{path:?}.{list}");
        }
        let (container, _) = pod.lookup_struct("spec").0.lookup_slice("containers");
        for (list, strategy, key) in [
            ("ports", Strategy::Merge, "containerPort"),
            ("env", Strategy::Merge, "name"),
            ("volumeMounts", Strategy::Merge, "mountPath"),
            ("volumeDevices", Strategy::Merge, "devicePath"),
            ("resizePolicy", Strategy::Default, ""),
            ("args", Strategy::Default, ""),
        ] {
            assert_eq!(meta(container, &[], list), (strategy, key), "{list}");
        }

        let node = Schema::Typed(root_for("v1", "Node").expect("Node"));
        assert_eq!(meta(node, &["spec"], "podCIDRs"), (Strategy::Merge, ""));
        assert_eq!(meta(node, &["spec"], "taints"), (Strategy::Default, ""));
        assert_eq!(meta(node, &["status"], "conditions"), (Strategy::Merge, "type"));
        assert_eq!(meta(node, &["status"], "addresses"), (Strategy::Merge, "type"));
        assert_eq!(meta(node, &["status"], "images"), (Strategy::Default, ""));

        let svc = Schema::Typed(root_for("v1", "Service").expect("Service"));
        assert_eq!(meta(svc, &["spec"], "ports"), (Strategy::Merge, "port"));
        let sa = Schema::Typed(root_for("v1", "ServiceAccount").expect("ServiceAccount"));
        assert_eq!(meta(sa, &[], "secrets"), (Strategy::Merge, "name"));
        let ns = Schema::Typed(root_for("v1", "Namespace").expect("Namespace"));
        assert_eq!(meta(ns, &["status"], "conditions"), (Strategy::Merge, "type"));
        let ep = Schema::Typed(root_for("v1", "Endpoints").expect("Endpoints"));
        assert_eq!(meta(ep, &[], "subsets"), (Strategy::Default, ""));

        let deploy = Schema::Typed(root_for("apps/v1", "Deployment").expect("Deployment"));
        assert_eq!(meta(deploy, &["status"], "conditions"), (Strategy::Merge, "type"));
        assert_eq!(meta(deploy, &["spec", "template", "spec"], "containers"), (Strategy::Merge, "name"));
        let rs = Schema::Typed(root_for("apps/v1", "ReplicaSet").expect("ReplicaSet"));
        assert_eq!(meta(rs, &["status"], "conditions"), (Strategy::Merge, "type"));
        assert_eq!(meta(rs, &["spec", "template", "metadata"], "finalizers"), (Strategy::Merge, ""));
    }

    #[test]
    fn every_served_kind_has_a_root() {
        for r in crate::resources::all() {
            let api_version =
                if r.group.is_empty() { r.version.to_string() } else { format!("{}/{}", r.group, r.version) };
            assert!(root_for(&api_version, r.kind).is_some(), "{api_version} {}", r.kind);
        }
        assert!(root_for("autoscaling/v1", "Scale").is_some());
        assert!(root_for("example.com/v1", "Widget").is_none());
    }

    #[test]
    fn field_names_match_case_insensitively_after_exact() {
        let pod = Schema::Typed(root_for("v1", "Pod").expect("Pod"));
        let (spec, _) = pod.lookup_struct("Spec");
        assert_eq!(spec.lookup_slice("CONTAINERS").1.merge_key, "name");
    }
}
