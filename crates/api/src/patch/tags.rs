//! The `patchStrategy` / `patchMergeKey` struct tags of the Kubernetes Go types (k8s.io/api and
//! k8s.io/apimachinery v0.33.9), as data for the strategic merge patch.
//!
//! Owns only the table; the model is in `schema.rs` and the merge in `strategic.rs`. Must not hold
//! logic.
//!
//! The table is pruned on purpose: a field appears only when a strategic merge of it differs from
//! a plain recursive merge, that is a list with `patchStrategy:"merge"` (or `"replace"`) or a
//! struct whose fields lead to one. Scalars, maps and lists without a strategy behave the same
//! with or without metadata (maps merge, lists are replaced), so leaving them out changes nothing
//! and keeps the table reviewable. Tags that only steer the client-side diff are left out too:
//! `retainKeys` alone (`DeploymentSpec.strategy`) changes nothing on the server, where a
//! `$retainKeys` directive is honoured wherever it appears, exactly like upstream. Lists that
//! carry no strategy tag in Go and so are replaced whole: `tolerations`, `taints`,
//! `containerStatuses`, `resizePolicy`, `images`, `subsets` and their `addresses`.
//!
//! Extracted mechanically from `core/v1/types.go`, `apps/v1/types.go`,
//! `coordination/v1/types.go`, `autoscaling/v1/types.go`, `events/v1/types.go` and
//! `apimachinery/pkg/apis/meta/v1/types.go` (inline structs flattened, as `encoding/json` does).
//! To extend it, read the tags of the new type in the Go source and add its fields here.

use super::schema::{Field, StructType, Ty};

/// `core/v1` Pod.
pub(super) static CORE_POD: StructType = StructType {
    fields: &[
        Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" },
        Field { name: "spec", ty: Ty::Struct(&CORE_POD_SPEC), strategy: "", merge_key: "" },
        Field { name: "status", ty: Ty::Struct(&CORE_POD_STATUS), strategy: "", merge_key: "" },
    ],
};
/// `core/v1` Node.
pub(super) static CORE_NODE: StructType = StructType {
    fields: &[
        Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" },
        Field { name: "spec", ty: Ty::Struct(&CORE_NODE_SPEC), strategy: "", merge_key: "" },
        Field { name: "status", ty: Ty::Struct(&CORE_NODE_STATUS), strategy: "", merge_key: "" },
    ],
};
/// `core/v1` Namespace.
pub(super) static CORE_NAMESPACE: StructType = StructType {
    fields: &[
        Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" },
        Field { name: "status", ty: Ty::Struct(&CORE_NAMESPACE_STATUS), strategy: "", merge_key: "" },
    ],
};
/// `core/v1` Event.
pub(super) static CORE_EVENT: StructType = StructType {
    fields: &[Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" }],
};
/// `core/v1` ConfigMap.
pub(super) static CORE_CONFIG_MAP: StructType = StructType {
    fields: &[Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" }],
};
/// `core/v1` Secret.
pub(super) static CORE_SECRET: StructType = StructType {
    fields: &[Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" }],
};
/// `core/v1` Service.
pub(super) static CORE_SERVICE: StructType = StructType {
    fields: &[
        Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" },
        Field { name: "spec", ty: Ty::Struct(&CORE_SERVICE_SPEC), strategy: "", merge_key: "" },
        Field { name: "status", ty: Ty::Struct(&CORE_SERVICE_STATUS), strategy: "", merge_key: "" },
    ],
};
/// `core/v1` Endpoints.
pub(super) static CORE_ENDPOINTS: StructType = StructType {
    fields: &[Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" }],
};
/// `core/v1` ServiceAccount.
pub(super) static CORE_SERVICE_ACCOUNT: StructType = StructType {
    fields: &[
        Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" },
        Field { name: "secrets", ty: Ty::List, strategy: "merge", merge_key: "name" },
    ],
};
/// `coordination/v1` Lease.
pub(super) static COORDINATION_LEASE: StructType = StructType {
    fields: &[Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" }],
};
/// `node.k8s.io/v1` RuntimeClass (`scheduling.tolerations` has no strategy: replaced whole).
pub(super) static NODE_RUNTIME_CLASS: StructType = StructType {
    fields: &[Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" }],
};
/// `apps/v1` Deployment.
pub(super) static APPS_DEPLOYMENT: StructType = StructType {
    fields: &[
        Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" },
        Field { name: "spec", ty: Ty::Struct(&APPS_DEPLOYMENT_SPEC), strategy: "", merge_key: "" },
        Field { name: "status", ty: Ty::Struct(&APPS_DEPLOYMENT_STATUS), strategy: "", merge_key: "" },
    ],
};
/// `apps/v1` ReplicaSet.
pub(super) static APPS_REPLICA_SET: StructType = StructType {
    fields: &[
        Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" },
        Field { name: "spec", ty: Ty::Struct(&APPS_REPLICA_SET_SPEC), strategy: "", merge_key: "" },
        Field { name: "status", ty: Ty::Struct(&APPS_REPLICA_SET_STATUS), strategy: "", merge_key: "" },
    ],
};
/// `autoscaling/v1` Scale.
pub(super) static AUTOSCALING_SCALE: StructType = StructType {
    fields: &[Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" }],
};
/// `events/v1` Event.
pub(super) static EVENTS_EVENT: StructType = StructType {
    fields: &[Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" }],
};
/// `meta/v1` ObjectMeta.
pub(super) static META_OBJECT_META: StructType = StructType {
    fields: &[
        Field { name: "ownerReferences", ty: Ty::List, strategy: "merge", merge_key: "uid" },
        Field { name: "finalizers", ty: Ty::List, strategy: "merge", merge_key: "" },
    ],
};
/// `core/v1` PodSpec.
pub(super) static CORE_POD_SPEC: StructType = StructType {
    fields: &[
        Field { name: "volumes", ty: Ty::ListOf(&CORE_VOLUME), strategy: "merge,retainKeys", merge_key: "name" },
        Field { name: "initContainers", ty: Ty::ListOf(&CORE_CONTAINER), strategy: "merge", merge_key: "name" },
        Field { name: "containers", ty: Ty::ListOf(&CORE_CONTAINER), strategy: "merge", merge_key: "name" },
        Field {
            name: "ephemeralContainers",
            ty: Ty::ListOf(&CORE_EPHEMERAL_CONTAINER),
            strategy: "merge",
            merge_key: "name",
        },
        Field { name: "imagePullSecrets", ty: Ty::List, strategy: "merge", merge_key: "name" },
        Field { name: "hostAliases", ty: Ty::List, strategy: "merge", merge_key: "ip" },
        Field { name: "topologySpreadConstraints", ty: Ty::List, strategy: "merge", merge_key: "topologyKey" },
        Field { name: "schedulingGates", ty: Ty::List, strategy: "merge", merge_key: "name" },
        Field { name: "resourceClaims", ty: Ty::List, strategy: "merge,retainKeys", merge_key: "name" },
    ],
};
/// `core/v1` PodStatus.
pub(super) static CORE_POD_STATUS: StructType = StructType {
    fields: &[
        Field { name: "conditions", ty: Ty::List, strategy: "merge", merge_key: "type" },
        Field { name: "hostIPs", ty: Ty::List, strategy: "merge", merge_key: "ip" },
        Field { name: "podIPs", ty: Ty::List, strategy: "merge", merge_key: "ip" },
        Field { name: "resourceClaimStatuses", ty: Ty::List, strategy: "merge,retainKeys", merge_key: "name" },
    ],
};
/// `core/v1` NodeSpec.
pub(super) static CORE_NODE_SPEC: StructType =
    StructType { fields: &[Field { name: "podCIDRs", ty: Ty::List, strategy: "merge", merge_key: "" }] };
/// `core/v1` NodeStatus.
pub(super) static CORE_NODE_STATUS: StructType = StructType {
    fields: &[
        Field { name: "conditions", ty: Ty::List, strategy: "merge", merge_key: "type" },
        Field { name: "addresses", ty: Ty::List, strategy: "merge", merge_key: "type" },
    ],
};
/// `core/v1` NamespaceStatus.
pub(super) static CORE_NAMESPACE_STATUS: StructType =
    StructType { fields: &[Field { name: "conditions", ty: Ty::List, strategy: "merge", merge_key: "type" }] };
/// `core/v1` ServiceSpec.
pub(super) static CORE_SERVICE_SPEC: StructType =
    StructType { fields: &[Field { name: "ports", ty: Ty::List, strategy: "merge", merge_key: "port" }] };
/// `core/v1` ServiceStatus.
pub(super) static CORE_SERVICE_STATUS: StructType =
    StructType { fields: &[Field { name: "conditions", ty: Ty::List, strategy: "merge", merge_key: "type" }] };
/// `apps/v1` DeploymentSpec.
pub(super) static APPS_DEPLOYMENT_SPEC: StructType = StructType {
    fields: &[Field { name: "template", ty: Ty::Struct(&CORE_POD_TEMPLATE_SPEC), strategy: "", merge_key: "" }],
};
/// `apps/v1` DeploymentStatus.
pub(super) static APPS_DEPLOYMENT_STATUS: StructType =
    StructType { fields: &[Field { name: "conditions", ty: Ty::List, strategy: "merge", merge_key: "type" }] };
/// `apps/v1` ReplicaSetSpec.
pub(super) static APPS_REPLICA_SET_SPEC: StructType = StructType {
    fields: &[Field { name: "template", ty: Ty::Struct(&CORE_POD_TEMPLATE_SPEC), strategy: "", merge_key: "" }],
};
/// `apps/v1` ReplicaSetStatus.
pub(super) static APPS_REPLICA_SET_STATUS: StructType =
    StructType { fields: &[Field { name: "conditions", ty: Ty::List, strategy: "merge", merge_key: "type" }] };
/// `core/v1` Volume.
pub(super) static CORE_VOLUME: StructType = StructType {
    fields: &[Field { name: "ephemeral", ty: Ty::Struct(&CORE_EPHEMERAL_VOLUME_SOURCE), strategy: "", merge_key: "" }],
};
/// `core/v1` Container.
pub(super) static CORE_CONTAINER: StructType = StructType {
    fields: &[
        Field { name: "ports", ty: Ty::List, strategy: "merge", merge_key: "containerPort" },
        Field { name: "env", ty: Ty::List, strategy: "merge", merge_key: "name" },
        Field { name: "volumeMounts", ty: Ty::List, strategy: "merge", merge_key: "mountPath" },
        Field { name: "volumeDevices", ty: Ty::List, strategy: "merge", merge_key: "devicePath" },
    ],
};
/// `core/v1` EphemeralContainer.
pub(super) static CORE_EPHEMERAL_CONTAINER: StructType = StructType {
    fields: &[
        Field { name: "ports", ty: Ty::List, strategy: "merge", merge_key: "containerPort" },
        Field { name: "env", ty: Ty::List, strategy: "merge", merge_key: "name" },
        Field { name: "volumeMounts", ty: Ty::List, strategy: "merge", merge_key: "mountPath" },
        Field { name: "volumeDevices", ty: Ty::List, strategy: "merge", merge_key: "devicePath" },
    ],
};
/// `core/v1` PodTemplateSpec.
pub(super) static CORE_POD_TEMPLATE_SPEC: StructType = StructType {
    fields: &[
        Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" },
        Field { name: "spec", ty: Ty::Struct(&CORE_POD_SPEC), strategy: "", merge_key: "" },
    ],
};
/// `core/v1` EphemeralVolumeSource.
pub(super) static CORE_EPHEMERAL_VOLUME_SOURCE: StructType = StructType {
    fields: &[Field {
        name: "volumeClaimTemplate",
        ty: Ty::Struct(&CORE_PERSISTENT_VOLUME_CLAIM_TEMPLATE),
        strategy: "",
        merge_key: "",
    }],
};
/// `core/v1` PersistentVolumeClaimTemplate.
pub(super) static CORE_PERSISTENT_VOLUME_CLAIM_TEMPLATE: StructType = StructType {
    fields: &[Field { name: "metadata", ty: Ty::Struct(&META_OBJECT_META), strategy: "", merge_key: "" }],
};
