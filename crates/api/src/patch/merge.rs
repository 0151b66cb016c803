//! RFC 7386 JSON merge patch (`application/merge-patch+json`), as kube-apiserver applies it.
//!
//! Owns the semantics of `jsonpatch.MergePatch` from gopkg.in/evanphx/json-patch.v4, the library
//! kube-apiserver uses: objects merge recursively, `null` deletes a key, anything else (lists
//! included) replaces the target, and `null`s are pruned from the values the patch adds. Must not
//! know about Kubernetes types: lists are never merged here (that is the strategic merge patch).

use serde_json::{Map, Value};

use super::error::PatchError;
use super::strategic::MAX_DEPTH;

/// evanphx's `ErrBadJSONPatch`, which kube-apiserver turns into a 400.
const ERR_BAD_JSON_PATCH: &str = "Invalid JSON Patch";
/// evanphx's `ErrBadJSONDoc`, which kube-apiserver passes through (a 500).
const ERR_BAD_JSON_DOC: &str = "Invalid JSON Document";

/// Applies a merge patch; see [`super::apply_merge_patch`].
pub(crate) fn apply(original: Value, patch: &Value) -> Result<Value, PatchError> {
    check_depth(patch, 0)?;
    match patch {
        Value::Object(p) => match original {
            Value::Object(mut doc) => {
                merge_docs(&mut doc, p);
                Ok(Value::Object(doc))
            }
            Value::Null => Err(PatchError::Unconverted(ERR_BAD_JSON_DOC.into())),
            // Not an object: the pruned patch becomes the document.
            _ => Ok(pruned(patch.clone())),
        },
        // A list patch becomes the document (the apiserver then fails to decode it).
        Value::Array(_) => Ok(pruned(patch.clone())),
        _ => Err(PatchError::BadRequest(ERR_BAD_JSON_PATCH.into())),
    }
}

fn check_depth(v: &Value, depth: usize) -> Result<(), PatchError> {
    let children: Box<dyn Iterator<Item = &Value>> = match v {
        Value::Object(m) => Box::new(m.values()),
        Value::Array(items) => Box::new(items.iter()),
        _ => return Ok(()),
    };
    if depth >= MAX_DEPTH {
        return Err(PatchError::BadRequest(format!("the patch is nested more than {MAX_DEPTH} levels deep")));
    }
    for child in children {
        check_depth(child, depth + 1)?;
    }
    Ok(())
}

fn merge_docs(doc: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            doc.remove(k);
            continue;
        }
        match doc.get_mut(k) {
            Some(Value::Object(cur)) => match v {
                Value::Object(p) => merge_docs(cur, p),
                // evanphx returns a non-object patch value as is here, without pruning.
                other => {
                    doc.insert(k.clone(), other.clone());
                }
            },
            _ => {
                doc.insert(k.clone(), pruned(v.clone()));
            }
        }
    }
}

/// `pruneNulls`: drops `null` members of objects, at any depth; `null` list items stay.
fn pruned(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, pruned(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(pruned).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7386_examples_and_kubectl_patches() {
        // (original, patch, result)
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
            // kubectl scale: {"spec":{"replicas":5}} on a Scale.
            (
                json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web"},
                       "spec": {"replicas": 3}, "status": {"replicas": 3, "selector": "app=web"}}),
                json!({"spec": {"replicas": 5}}),
                json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web"},
                       "spec": {"replicas": 5}, "status": {"replicas": 3, "selector": "app=web"}}),
            ),
            // kubectl label --type=merge / annotate: metadata only, `null` removes.
            (
                json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}}),
                json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
                json!({"metadata": {"name": "p", "labels": {"b": "2", "c": "3"}}}),
            ),
            // Lists are replaced whole, nulls inside added objects are pruned, null items kept.
            (
                json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
                json!({"spec": {"containers": [{"name": "c", "args": null}, null]}}),
                json!({"spec": {"containers": [{"name": "c"}, null]}}),
            ),
            // An object value replaced by a list keeps the list as sent (evanphx does not prune).
            (json!({"a": {"b": 1}}), json!({"a": [{"c": null}]}), json!({"a": [{"c": null}]})),
            (json!("text"), json!({"a": null, "b": 1}), json!({"b": 1})),
            (json!({"a": 1}), json!([{"x": null}]), json!([{}])),
        ];
        for (original, patch, want) in cases {
            assert_eq!(apply(original.clone(), &patch).expect("applies"), want, "{original} + {patch}");
        }
    }

    #[test]
    fn bad_patches_are_rejected() {
        for patch in [json!(null), json!(1), json!("x"), json!(true)] {
            let err = apply(json!({"a": 1}), &patch).expect_err("rejected");
            assert_eq!(err, PatchError::BadRequest("Invalid JSON Patch".into()), "{patch}");
        }
        let err = apply(json!(null), &json!({"a": 1})).expect_err("rejected");
        assert_eq!(err.to_string(), "Invalid JSON Document");
        assert_eq!(err.code(), 500);
    }

    #[test]
    fn deep_patches_are_rejected_not_overflowing() {
        let mut patch = json!("leaf");
        for _ in 0..(MAX_DEPTH + 5) {
            patch = json!({ "a": patch });
        }
        let err = apply(json!({}), &patch).expect_err("rejected");
        assert!(err.is_bad_request(), "{err:?}");
        let mut ok = json!("leaf");
        for _ in 0..(MAX_DEPTH - 1) {
            ok = json!({ "a": ok });
        }
        assert!(apply(json!({}), &ok).is_ok());
    }
}
