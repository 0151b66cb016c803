//! The RuntimeClass admission plugin (`plugin/pkg/admission/runtimeclass`) on pod create: a
//! pod naming a RuntimeClass gets the class's `overhead.podFixed` as `spec.overhead` and the
//! class's `scheduling.nodeSelector` and `scheduling.tolerations` merged into its own; a pod
//! whose overhead disagrees with its class (or that sets one without a class that defines one)
//! is refused.
//!
//! Pure: the caller (the apiserver) looks the class up in its store and turns a refusal into
//! the 403 `Forbidden` kube-apiserver's admission chain answers. Must not validate the pod
//! otherwise (`crate::validation` does).

use serde_json::{Map, Value};

use crate::validation::quantity;

/// Why the plugin refuses a pod; the messages are upstream's, verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeClassRejection {
    #[error("pod rejected: RuntimeClass \"{0}\" not found")]
    NotFound(String),
    #[error("pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead")]
    OverheadMismatch,
    #[error("pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead")]
    OverheadWithoutClass,
    #[error(
        "conflict: runtimeClass.scheduling.nodeSelector[{key}] = {class_value}; pod.spec.nodeSelector[{key}] = {pod_value}"
    )]
    NodeSelectorConflict { key: String, class_value: String, pod_value: String },
}

/// `spec.runtimeClassName` of a pod, when set and not empty.
pub fn runtime_class_name(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/runtimeClassName").and_then(Value::as_str).filter(|name| !name.is_empty())
}

/// Admit (mutation) then Validate of the plugin for a pod being created. `class` is the
/// RuntimeClass the pod names, `None` when it names none (a named class that does not exist
/// is the caller's [`RuntimeClassRejection::NotFound`]).
pub fn admit_pod(pod: &mut Value, class: Option<&Value>) -> Result<(), RuntimeClassRejection> {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
    let pod_fixed = class.and_then(|c| c.pointer("/overhead/podFixed")).filter(|v| !v.is_null());
    let pod_overhead = spec.get("overhead").filter(|v| !v.is_null());
    match (pod_fixed, pod_overhead) {
        // setOverhead: a pod may only carry the class's own overhead.
        (Some(fixed), Some(own)) if !same_resources(fixed, own) => {
            return Err(RuntimeClassRejection::OverheadMismatch);
        }
        (Some(fixed), _) => {
            spec.insert("overhead".into(), fixed.clone());
        }
        // validateOverhead: an overhead with no class overhead behind it is refused.
        (None, Some(_)) => return Err(RuntimeClassRejection::OverheadWithoutClass),
        (None, None) => {}
    }
    if let Some(scheduling) = class.and_then(|c| c.get("scheduling")).filter(|s| s.is_object()) {
        set_scheduling(spec, scheduling)?;
    }
    Ok(())
}

/// setScheduling: the class's node selector is added to the pod's (a key both set to
/// different values is a conflict), and the tolerations are merged.
fn set_scheduling(spec: &mut Map<String, Value>, scheduling: &Value) -> Result<(), RuntimeClassRejection> {
    if let Some(class_selector) = scheduling.get("nodeSelector").and_then(Value::as_object) {
        let mut selector = spec.get("nodeSelector").and_then(Value::as_object).cloned().unwrap_or_default();
        for (key, class_value) in class_selector {
            if let Some(pod_value) = selector.get(key)
                && pod_value != class_value
            {
                return Err(RuntimeClassRejection::NodeSelectorConflict {
                    key: key.clone(),
                    class_value: class_value.as_str().unwrap_or_default().to_string(),
                    pod_value: pod_value.as_str().unwrap_or_default().to_string(),
                });
            }
            selector.insert(key.clone(), class_value.clone());
        }
        spec.insert("nodeSelector".into(), Value::Object(selector));
    }
    let class_tolerations = scheduling.get("tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
    let pod_tolerations = spec.get("tolerations").and_then(Value::as_array).cloned().unwrap_or_default();
    let merged = merge_tolerations(pod_tolerations, class_tolerations);
    if merged.is_empty() {
        spec.remove("tolerations");
    } else {
        spec.insert("tolerations".into(), Value::Array(merged));
    }
    Ok(())
}

/// Semantic equality of two resource lists: same names, equal quantities (`1` == `1000m`).
fn same_resources(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return a == b };
    a.len() == b.len()
        && a.iter().all(|(name, qa)| {
            b.get(name).is_some_and(|qb| match (quantity::from_value(qa), quantity::from_value(qb)) {
                (Some(x), Some(y)) => x.cmp(&y).is_eq(),
                _ => qa == qb,
            })
        })
}

/// `pkg/util/tolerations.MergeTolerations`: the pod's then the class's tolerations, keeping
/// only one of equal ones and dropping any that another one covers.
fn merge_tolerations(first: Vec<Value>, second: Vec<Value>) -> Vec<Value> {
    let all: Vec<Value> = first.into_iter().chain(second).collect();
    let mut merged: Vec<Value> = Vec::new();
    'next: for (i, t) in all.iter().enumerate() {
        if merged.iter().any(|kept| is_superset(kept, t)) {
            continue;
        }
        for later in &all[i + 1..] {
            // Of equal tolerations the first is kept.
            if later != t && is_superset(later, t) {
                continue 'next;
            }
        }
        merged.push(t.clone());
    }
    merged
}

/// Whether toleration `ss` tolerates everything `t` does (`isSuperset`).
fn is_superset(ss: &Value, t: &Value) -> bool {
    if ss == t {
        return true;
    }
    let field = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let (ss_key, t_key) = (field(ss, "key"), field(t, "key"));
    let ss_operator = field(ss, "operator");
    // An empty key with Exists matches all keys and values.
    if t_key != ss_key && (!ss_key.is_empty() || ss_operator != "Exists") {
        return false;
    }
    let ss_effect = field(ss, "effect");
    // An empty effect matches all effects.
    if field(t, "effect") != ss_effect && !ss_effect.is_empty() {
        return false;
    }
    if ss_effect == "NoExecute"
        && let Some(ss_seconds) = ss.get("tolerationSeconds").and_then(Value::as_i64)
    {
        match t.get("tolerationSeconds").and_then(Value::as_i64) {
            Some(t_seconds) if t_seconds <= ss_seconds => {}
            _ => return false,
        }
    }
    match ss_operator.as_str() {
        "Equal" | "" => field(t, "operator") == "Equal" && field(t, "value") == field(ss, "value"),
        "Exists" => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": spec})
    }

    #[test]
    fn overhead_is_copied_from_the_class() {
        let class = json!({"handler": "runc", "overhead": {"podFixed": {"cpu": "250m", "memory": "64Mi"}}});
        let mut p = pod(json!({"runtimeClassName": "x", "containers": []}));
        admit_pod(&mut p, Some(&class)).unwrap();
        assert_eq!(p["spec"]["overhead"], json!({"cpu": "250m", "memory": "64Mi"}));
        // The same overhead, written differently, is accepted.
        let mut same = pod(json!({"overhead": {"cpu": "0.25", "memory": "64Mi"}}));
        assert_eq!(admit_pod(&mut same, Some(&class)), Ok(()));
    }

    #[test]
    fn overhead_mismatches_are_refused() {
        let class = json!({"handler": "runc", "overhead": {"podFixed": {"cpu": "250m"}}});
        let mut other = pod(json!({"overhead": {"cpu": "1"}}));
        let err = admit_pod(&mut other, Some(&class)).unwrap_err();
        assert_eq!(err.to_string(), "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead");
        let mut without_class = pod(json!({"overhead": {"cpu": "1"}}));
        assert_eq!(
            admit_pod(&mut without_class, None).unwrap_err().to_string(),
            "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
        );
        let mut class_without_overhead = pod(json!({"overhead": {"cpu": "1"}}));
        assert_eq!(
            admit_pod(&mut class_without_overhead, Some(&json!({"handler": "runc"}))),
            Err(RuntimeClassRejection::OverheadWithoutClass)
        );
        assert_eq!(
            RuntimeClassRejection::NotFound("gvisor".into()).to_string(),
            "pod rejected: RuntimeClass \"gvisor\" not found"
        );
    }

    #[test]
    fn node_selectors_merge_and_conflicts_are_refused() {
        let class = json!({"handler": "runc", "scheduling": {"nodeSelector": {"runtime": "runc", "zone": "a"}}});
        let mut p = pod(json!({"nodeSelector": {"disk": "ssd", "zone": "a"}}));
        admit_pod(&mut p, Some(&class)).unwrap();
        assert_eq!(p["spec"]["nodeSelector"], json!({"disk": "ssd", "runtime": "runc", "zone": "a"}));
        let mut bare = pod(json!({}));
        admit_pod(&mut bare, Some(&class)).unwrap();
        assert_eq!(bare["spec"]["nodeSelector"], json!({"runtime": "runc", "zone": "a"}));
        let mut conflicting = pod(json!({"nodeSelector": {"zone": "b"}}));
        assert_eq!(
            admit_pod(&mut conflicting, Some(&class)).unwrap_err().to_string(),
            "conflict: runtimeClass.scheduling.nodeSelector[zone] = a; pod.spec.nodeSelector[zone] = b"
        );
    }

    #[test]
    fn tolerations_merge_without_redundancy() {
        let class = json!({"handler": "runc", "scheduling": {"tolerations": [
            {"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Equal", "value": "gpu"}
        ]}});
        let mut p = pod(json!({"tolerations": [
            {"key": "sandbox", "operator": "Equal", "value": "yes", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Equal", "value": "gpu"}
        ]}));
        admit_pod(&mut p, Some(&class)).unwrap();
        assert_eq!(
            p["spec"]["tolerations"],
            json!([
                {"key": "dedicated", "operator": "Equal", "value": "gpu"},
                {"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"}
            ])
        );
        // Exists with an empty key covers everything.
        let everything = json!({"handler": "runc", "scheduling": {"tolerations": [{"operator": "Exists"}]}});
        let mut q = pod(json!({"tolerations": [{"key": "a", "operator": "Exists", "effect": "NoExecute"}]}));
        admit_pod(&mut q, Some(&everything)).unwrap();
        assert_eq!(q["spec"]["tolerations"], json!([{"operator": "Exists"}]));
    }

    #[test]
    fn pods_without_a_class_are_untouched() {
        let mut p = pod(json!({"containers": [{"name": "c", "image": "busybox"}]}));
        let before = p.clone();
        admit_pod(&mut p, None).unwrap();
        assert_eq!(p, before);
        assert_eq!(runtime_class_name(&p), None);
        assert_eq!(runtime_class_name(&pod(json!({"runtimeClassName": "runc"}))), Some("runc"));
        assert_eq!(runtime_class_name(&pod(json!({"runtimeClassName": ""}))), None);
    }
}
