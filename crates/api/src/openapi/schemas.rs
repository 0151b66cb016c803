//! `components.schemas` of one OpenAPI v3 document: the schemas `k8s-openapi` derives with schemars
//! (Kubernetes names and descriptions already), turned into kube-apiserver's shape: OpenAPI 3.0
//! `$ref`s under `#/components/schemas/`, `allOf` around a `$ref` that carries a description, the
//! `x-kubernetes-*` field extensions, `x-kubernetes-group-version-kind` on top-level kinds, and the
//! `<Kind>List` schemas k8s-openapi does not model.
//!
//! Must not build paths or decide which kinds a document serves (`paths.rs` and `mod.rs` do).

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::extensions::{Ext, FIELDS, MAP_TYPES};
use super::kinds::{self, Discovery};
use super::{GroupVersionKind, OpenApiError};

const REF_PREFIX: &str = "#/components/schemas/";

/// The JSON reference to a component schema.
pub(super) fn reference(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

/// The schemas of one document and the component name of each kind it serves.
pub(super) struct Components {
    pub(super) schemas: Map<String, Value>,
    /// `(group, version, kind)` (including `<Kind>List` and the meta kinds) -> component name.
    pub(super) names: BTreeMap<GroupVersionKind, String>,
}

impl Components {
    pub(super) fn name(&self, gvk: &GroupVersionKind) -> Result<&str, OpenApiError> {
        self.names.get(gvk).map(String::as_str).ok_or_else(|| OpenApiError::UnknownKind(gvk.to_string()))
    }
}

/// What a document needs schemas for.
pub(super) struct Request<'a> {
    /// Kinds served with a list (`Pod` gets `PodList` too).
    pub(super) listed: &'a [GroupVersionKind],
    /// Kinds only used as subresource bodies (`Binding`, `Scale`, `Eviction`).
    pub(super) bodies: &'a [GroupVersionKind],
    /// Group versions whose `DeleteOptions` and `WatchEvent` this document carries, for their GVK lists.
    pub(super) meta_group_versions: &'a [(&'a str, &'a str)],
    pub(super) discovery: &'a [Discovery],
}

/// Builds the component schemas for `request`.
pub(super) fn build(request: &Request<'_>) -> Result<Components, OpenApiError> {
    let mut generator = SchemaSettings::openapi3().with(|s| s.meta_schema = None).into_generator();
    let mut names = BTreeMap::new();
    let mut kind_gvks: BTreeMap<String, Vec<Value>> = BTreeMap::new();

    for gvk in request.listed.iter().chain(request.bodies) {
        let name = kinds::register(&mut generator, &gvk.group, &gvk.version, &gvk.kind)
            .ok_or_else(|| OpenApiError::UnknownKind(gvk.to_string()))?;
        let entry = kind_gvks.entry(name.clone()).or_default();
        if !entry.contains(&gvk.extension()) {
            entry.push(gvk.extension());
        }
        names.insert(gvk.clone(), name);
    }
    // Discovery documents (no resources) carry only their own response schema.
    let meta = if request.listed.is_empty() { Vec::new() } else { kinds::register_meta(&mut generator) };
    for (kind, name) in meta {
        let gvks = kind_gvks.entry(name.clone()).or_default();
        for (group, version) in request.meta_group_versions {
            let gvk = GroupVersionKind::new(group, version, kind);
            // Upstream tags Status with core/v1 only; DeleteOptions and WatchEvent with every group version.
            if kind == "Status" && !group.is_empty() {
                continue;
            }
            if matches!(kind, "DeleteOptions" | "WatchEvent" | "Status") {
                gvks.push(gvk.extension());
            }
            names.insert(gvk, name.clone());
        }
    }
    for what in request.discovery {
        kinds::register_discovery(&mut generator, *what);
    }

    let mut schemas = generator.take_definitions(true);
    for gvk in request.listed {
        let item = names.get(gvk).cloned().ok_or_else(|| OpenApiError::UnknownKind(gvk.to_string()))?;
        let list_name = format!("{item}List");
        let list_gvk = GroupVersionKind::new(&gvk.group, &gvk.version, &format!("{}List", gvk.kind));
        schemas.insert(list_name.clone(), list_schema(&gvk.kind, &item));
        kind_gvks.entry(list_name.clone()).or_default().push(list_gvk.extension());
        names.insert(list_gvk, list_name);
    }

    for (name, schema) in &mut schemas {
        let Some(object) = schema.as_object_mut() else { continue };
        add_extensions(name, object);
        if let Some(gvks) = kind_gvks.get(name).filter(|g| !g.is_empty()) {
            object.insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks.clone()));
            drop_required_metadata(object);
        }
    }
    Ok(Components { schemas, names })
}

/// `PodList`: k8s-openapi has a generic `List<T>` without a schema, so this builds upstream's shape.
fn list_schema(kind: &str, item: &str) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string",
            },
            "items": {
                "description": format!("List of {kind} objects."),
                "type": "array",
                "items": { "allOf": [reference(item)], "default": {} },
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string",
            },
            "metadata": {
                "allOf": [reference("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")],
                "default": {},
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "required": ["items"],
    })
}

/// Adds the `x-kubernetes-*` extensions of `name`'s fields and of the type itself.
fn add_extensions(name: &str, object: &mut Map<String, Value>) {
    if let Some((_, map_type)) = MAP_TYPES.iter().find(|(schema, _)| *schema == name) {
        object.insert("x-kubernetes-map-type".into(), Value::from(*map_type));
    }
    let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for (_, property, extensions) in FIELDS.iter().filter(|(schema, _, _)| *schema == name) {
        let Some(field) = properties.get_mut(*property).and_then(Value::as_object_mut) else { continue };
        for extension in *extensions {
            let (key, value) = match extension {
                Ext::ListType(v) => ("x-kubernetes-list-type", Value::from(*v)),
                Ext::ListMapKeys(keys) => ("x-kubernetes-list-map-keys", Value::from(keys.to_vec())),
                Ext::MapType(v) => ("x-kubernetes-map-type", Value::from(*v)),
                Ext::PatchMergeKey(v) => ("x-kubernetes-patch-merge-key", Value::from(*v)),
                Ext::PatchStrategy(v) => ("x-kubernetes-patch-strategy", Value::from(*v)),
            };
            field.insert(key.into(), value);
        }
    }
}

/// k8s-openapi marks `metadata` required because its Rust field is not an `Option`; Kubernetes'
/// schemas do not (`kubectl explain pod` must not print `metadata <ObjectMeta> -required-`).
fn drop_required_metadata(object: &mut Map<String, Value>) {
    let Some(required) = object.get_mut("required").and_then(Value::as_array_mut) else { return };
    required.retain(|field| field != "metadata");
    if required.is_empty() {
        object.remove("required");
    }
}
