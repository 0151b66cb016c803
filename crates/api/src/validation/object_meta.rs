//! ObjectMeta validation (apimachinery `pkg/api/validation/objectmeta.go` plus the core group's
//! finalizer rule): names, namespace, labels, annotations, owner references and finalizers on
//! create, and the immutable fields on update. `resourceVersion` is the apiserver's concern.

use serde_json::Value;

use super::fields::{arr_of, at, bool_of, child, int_of, str_of, string_list, string_map};
use super::names;
use crate::FieldError;

/// `field is immutable`.
pub const FIELD_IMMUTABLE: &str = "field is immutable";
/// `must be greater than or equal to 0`.
pub const IS_NEGATIVE: &str = "must be greater than or equal to 0";
/// Annotations may total at most 256 KiB (keys plus values).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// peapod's limit on the total size of an object's labels. Kubernetes has none (only etcd's
/// 1.5 MiB object limit), but labels are copied into every selector match and watch cache, so
/// a huge set is refused like huge annotations are.
pub const TOTAL_LABEL_SIZE_LIMIT: usize = 64 * 1024;

/// A name format check (`ValidateNameFunc`): the name and whether it is a generateName prefix.
pub type NameFn = fn(&str, bool) -> Vec<String>;

/// ValidateLabels: keys are qualified names, values label values; plus peapod's total size
/// limit ([`TOTAL_LABEL_SIZE_LIMIT`]).
pub fn validate_labels(labels: &[(&str, &str)], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0;
    for (k, v) in labels {
        total += k.len() + v.len();
        errs.extend(names::is_qualified_name(k).into_iter().map(|m| FieldError::invalid(path, *k, m)));
        errs.extend(names::is_valid_label_value(v).into_iter().map(|m| FieldError::invalid(path, *v, m)));
    }
    if total > TOTAL_LABEL_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_LABEL_SIZE_LIMIT));
    }
    errs
}

/// ValidateAnnotations: keys are qualified names (checked lowercased), total size ≤ 256 KiB.
pub fn validate_annotations(annotations: &[(&str, &str)], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations {
        errs.extend(names::is_qualified_name(&k.to_lowercase()).into_iter().map(|m| FieldError::invalid(path, *k, m)));
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// The finalizer names the core group accepts without a `/` (IsStandardFinalizerName).
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// ValidateFinalizers (apimachinery) plus validateKubeFinalizerName (core group).
fn validate_finalizers(finalizers: &[&str], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in finalizers {
        errs.extend(names::is_qualified_name(f).into_iter().map(|m| FieldError::invalid(path, *f, m)));
    }
    if finalizers.contains(&"orphan") && finalizers.contains(&"foregroundDeletion") {
        let value = Value::from(finalizers.iter().map(|f| Value::from(*f)).collect::<Vec<_>>());
        errs.push(FieldError::invalid(path, value, "finalizer orphan and foregroundDeletion cannot be both set"));
    }
    for (i, f) in finalizers.iter().enumerate() {
        errs.extend(validate_kube_finalizer_name(f, &format!("{path}[{i}]")));
    }
    errs
}

/// validateKubeFinalizerName: a finalizer without a `/` must be a standard one.
pub fn validate_kube_finalizer_name(name: &str, path: &str) -> Vec<FieldError> {
    if !name.contains('/') && !STANDARD_FINALIZERS.contains(&name) {
        return vec![FieldError::invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        )];
    }
    Vec::new()
}

/// validateFinalizerName (namespace spec.finalizers): qualified name plus the core rule.
pub fn validate_finalizer_name(name: &str, path: &str) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> =
        names::is_qualified_name(name).into_iter().map(|m| FieldError::invalid(path, name, m)).collect();
    errs.extend(validate_kube_finalizer_name(name, path));
    errs
}

fn validate_owner_references(refs: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = str_of(r, "apiVersion");
        let kind = str_of(r, "kind");
        let version = api_version.rsplit_once('/').map_or(api_version, |(_, v)| v);
        if version.is_empty() || api_version.matches('/').count() > 1 {
            errs.push(FieldError::invalid(format!("{path}.apiVersion"), api_version, "version must not be empty"));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(format!("{path}.kind"), kind, "kind must not be empty"));
        }
        if str_of(r, "name").is_empty() {
            errs.push(FieldError::invalid(format!("{path}.name"), "", "name must not be empty"));
        }
        if str_of(r, "uid").is_empty() {
            errs.push(FieldError::invalid(format!("{path}.uid"), "", "uid must not be empty"));
        }
        if api_version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(path, r.clone(), "/v1, Kind=Event is disallowed from being an owner"));
        }
        if bool_of(r, "controller") {
            let current = format!("{kind}/{}", str_of(r, "name"));
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    Value::from(refs.to_vec()),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// ValidateObjectMeta for `object`'s `metadata`. `namespaced` is the resource's scope.
pub fn validate_object_meta(object: &Value, namespaced: bool, name_fn: NameFn) -> Vec<FieldError> {
    let meta = at(object, "metadata");
    let mut errs = Vec::new();
    let generate_name = str_of(meta, "generateName");
    if !generate_name.is_empty() {
        errs.extend(
            name_fn(generate_name, true)
                .into_iter()
                .map(|m| FieldError::invalid("metadata.generateName", generate_name, m)),
        );
    }
    let name = str_of(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    } else {
        errs.extend(name_fn(name, false).into_iter().map(|m| FieldError::invalid("metadata.name", name, m)));
    }
    let namespace = str_of(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            errs.extend(
                names::name_is_dns_label(namespace, false)
                    .into_iter()
                    .map(|m| FieldError::invalid("metadata.namespace", namespace, m)),
            );
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
    }
    let generation = int_of(meta, "generation");
    if generation < 0 {
        errs.push(FieldError::invalid("metadata.generation", generation, IS_NEGATIVE));
    }
    errs.extend(validate_common_meta(meta));
    errs
}

/// The checks shared by create and update: labels, annotations, owner references, finalizers.
fn validate_common_meta(meta: &Value) -> Vec<FieldError> {
    let mut errs = validate_labels(&string_map(meta, "labels"), "metadata.labels");
    errs.extend(validate_annotations(&string_map(meta, "annotations"), "metadata.annotations"));
    errs.extend(validate_owner_references(arr_of(meta, "ownerReferences"), "metadata.ownerReferences"));
    errs.extend(validate_finalizers(&string_list(meta, "finalizers"), "metadata.finalizers"));
    errs
}

/// ValidateObjectMetaUpdate: name, namespace, uid, creationTimestamp, deletionTimestamp and
/// deletionGracePeriodSeconds are immutable; generation may not decrease; no new finalizers
/// once deleting. The caller also runs the create checks where Kubernetes does.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let (new_meta, old_meta) = (at(new, "metadata"), at(old, "metadata"));
    let mut errs = Vec::new();
    if child(old_meta, "deletionTimestamp").is_some() {
        let old_finalizers = string_list(old_meta, "finalizers");
        let mut extra: Vec<&str> =
            string_list(new_meta, "finalizers").into_iter().filter(|f| !old_finalizers.contains(f)).collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let quoted: Vec<String> = extra.iter().map(|f| format!("{f:?}")).collect();
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    quoted.join(", ")
                ),
            ));
        }
    }
    let (new_gen, old_gen) = (int_of(new_meta, "generation"), int_of(old_meta, "generation"));
    if new_gen < old_gen {
        errs.push(FieldError::invalid("metadata.generation", new_gen, "must not be decremented"));
    }
    for field in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"] {
        let new_value = child(new_meta, field).filter(|v| v.as_str() != Some(""));
        let old_value = child(old_meta, field).filter(|v| v.as_str() != Some(""));
        if new_value != old_value {
            let shown = new_value.cloned().unwrap_or_else(|| Value::from(""));
            errs.push(FieldError::invalid(format!("metadata.{field}"), shown, FIELD_IMMUTABLE));
        }
    }
    errs.extend(validate_common_meta(new_meta));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn name_is_required_unless_generate_name() {
        let errs =
            validate_object_meta(&json!({"metadata": {"namespace": "default"}}), true, names::name_is_dns_subdomain);
        assert_eq!(messages(&errs), ["metadata.name: Required value: name or generateName is required"]);
        let errs = validate_object_meta(
            &json!({"metadata": {"generateName": "web-", "name": "web-abcde", "namespace": "default"}}),
            true,
            names::name_is_dns_subdomain,
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn namespace_rules() {
        let errs = validate_object_meta(&json!({"metadata": {"name": "x"}}), true, names::name_is_dns_subdomain);
        assert_eq!(messages(&errs), ["metadata.namespace: Required value"]);
        let errs = validate_object_meta(
            &json!({"metadata": {"name": "x", "namespace": "a"}}),
            false,
            names::name_is_dns_subdomain,
        );
        assert_eq!(messages(&errs), ["metadata.namespace: Forbidden: not allowed on this type"]);
    }

    #[test]
    fn labels_annotations_finalizers() {
        let obj = json!({"metadata": {"name": "x", "namespace": "d",
            "labels": {"app": "bad value"}, "annotations": {"-bad": "v"}, "finalizers": ["foo"]}});
        let got = messages(&validate_object_meta(&obj, true, names::name_is_dns_subdomain));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].starts_with("metadata.labels: Invalid value: \"bad value\": a valid label must be"));
        assert!(got[1].starts_with("metadata.annotations: Invalid value: \"-bad\": name part must consist"));
        assert_eq!(
            got[2],
            "metadata.finalizers[0]: Invalid value: \"foo\": name is neither a standard finalizer name nor is it fully qualified"
        );
        let many: serde_json::Map<String, Value> =
            (0..2000).map(|i| (format!("label-{i}"), json!("v".repeat(60)))).collect();
        let obj = json!({"metadata": {"name": "x", "namespace": "d", "labels": many}});
        let got: Vec<String> =
            validate_object_meta(&obj, true, names::name_is_dns_subdomain).iter().map(|e| e.message()).collect();
        assert_eq!(got, ["metadata.labels: Too long: may not be more than 65536 bytes"]);
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let obj = json!({"metadata": {"name": "x", "namespace": "d", "annotations": {"a": big}}});
        let got = messages(&validate_object_meta(&obj, true, names::name_is_dns_subdomain));
        assert_eq!(got, ["metadata.annotations: Too long: may not be more than 262144 bytes"]);
    }

    #[test]
    fn owner_references() {
        let obj = json!({"metadata": {"name": "x", "namespace": "d", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": true},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": true},
            {"apiVersion": "", "kind": "", "name": "", "uid": ""}]}});
        let got = messages(&validate_object_meta(&obj, true, names::name_is_dns_subdomain));
        assert!(got[0].ends_with(
            "Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b"
        ));
        assert_eq!(
            &got[1..],
            [
                "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
                "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
                "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty",
                "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty",
            ]
        );
    }

    #[test]
    fn update_immutability() {
        let old = json!({"metadata": {"name": "x", "namespace": "d", "uid": "u1", "generation": 2,
            "creationTimestamp": "2024-01-01T00:00:00Z"}});
        let new = json!({"metadata": {"name": "y", "namespace": "d", "uid": "u2", "generation": 1,
            "creationTimestamp": "2024-01-01T00:00:00Z"}});
        assert_eq!(
            messages(&validate_object_meta_update(&new, &old)),
            [
                "metadata.generation: Invalid value: 1: must not be decremented",
                "metadata.name: Invalid value: \"y\": field is immutable",
                "metadata.uid: Invalid value: \"u2\": field is immutable",
            ]
        );
        assert!(validate_object_meta_update(&old, &old).is_empty());
    }

    #[test]
    fn no_new_finalizers_while_deleting() {
        let old =
            json!({"metadata": {"name": "x", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a/b"]}});
        let new = json!({"metadata": {"name": "x", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a/b", "c/d"]}});
        assert_eq!(
            messages(&validate_object_meta_update(&new, &old)),
            [
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"c/d\"}"
            ]
        );
    }
}
