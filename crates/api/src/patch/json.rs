//! RFC 6902 JSON patch (`application/json-patch+json`), as kube-apiserver applies it.
//!
//! Owns the checks and error classes of `jsonPatcher.applyJSPatch` in
//! `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go`: a body that is not a list of
//! operation objects is a 400, more than [`MAX_JSON_PATCH_OPERATIONS`] operations a 413, and any
//! operation that cannot be decoded or applied (including a failed `test`) a 422. The operations
//! themselves are the `json-patch` crate's. Must not decode the result into a typed object.

use serde_json::Value;

use super::error::PatchError;
use super::gofmt;

/// kube-apiserver's `maxJSONPatchOperations`.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10000;

/// Applies a JSON patch; see [`super::apply_json_patch`].
pub(crate) fn apply(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = match patch {
        Value::Array(ops) => ops,
        // `json.Unmarshal("null", &patch)` leaves an empty patch.
        Value::Null => return Ok(original.clone()),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                gofmt::json_kind(other)
            )));
        }
    };
    // Upstream decodes each operation into a map of raw messages; only the shape is checked
    // here, the content is checked when the operation is applied (422 below).
    if let Some(bad) = ops.iter().find(|op| !(op.is_object() || op.is_null())) {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            gofmt::json_kind(bad)
        )));
    }
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations { max: MAX_JSON_PATCH_OPERATIONS, got: ops.len() });
    }
    let mut decoded = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let op: ::json_patch::PatchOperation =
            serde_json::from_value(op.clone()).map_err(|e| PatchError::unprocessable(format!("operation {i}: {e}")))?;
        decoded.push(op);
    }
    let mut doc = original.clone();
    // `patch_unsafe` on a copy: a failure simply discards the copy, no undo needed.
    ::json_patch::patch_unsafe(&mut doc, &decoded).map_err(|e| PatchError::unprocessable(e.to_string()))?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "labels": {"app": "web"}},
               "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]}})
    }

    #[test]
    fn operations_apply_in_order() {
        let cases = [
            (
                json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:2"}]),
                json!({"metadata": {"name": "p", "labels": {"app": "web"}},
                       "spec": {"containers": [{"name": "a", "image": "nginx:2"}, {"name": "b", "image": "redis"}]}}),
            ),
            (
                json!([{"op": "add", "path": "/metadata/labels/tier", "value": "fe"},
                       {"op": "remove", "path": "/metadata/labels/app"}]),
                json!({"metadata": {"name": "p", "labels": {"tier": "fe"}},
                       "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]}}),
            ),
            (
                json!([{"op": "test", "path": "/metadata/name", "value": "p"},
                       {"op": "remove", "path": "/spec/containers/1"},
                       {"op": "add", "path": "/spec/containers/-", "value": {"name": "c"}}]),
                json!({"metadata": {"name": "p", "labels": {"app": "web"}},
                       "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "c"}]}}),
            ),
            (
                json!([{"op": "copy", "from": "/metadata/labels", "path": "/metadata/annotations"},
                       {"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/role"}]),
                json!({"metadata": {"name": "p", "labels": {"role": "web"}, "annotations": {"app": "web"}},
                       "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]}}),
            ),
            (json!([]), pod()),
            (json!(null), pod()),
        ];
        for (patch, want) in cases {
            assert_eq!(apply(&pod(), &patch).expect("patch applies"), want, "{patch}");
        }
    }

    #[test]
    fn failures_are_classified_like_kube_apiserver() {
        // (patch, code)
        let cases = [
            (json!({"op": "add"}), 400),
            (json!("x"), 400),
            (json!(["add"]), 400),
            (json!([{"op": "test", "path": "/metadata/name", "value": "q"}]), 422),
            (json!([{"op": "remove", "path": "/metadata/missing"}]), 422),
            (json!([{"op": "replace", "path": "/spec/containers/5/image", "value": "x"}]), 422),
            (json!([{"op": "frobnicate", "path": "/a"}]), 422),
            (json!([{"op": "add", "path": "/a"}]), 422),
            (json!([null]), 422),
        ];
        for (patch, code) in cases {
            let err = apply(&pod(), &patch).expect_err("patch must fail");
            assert_eq!(err.code(), code, "{patch}: {err:?}");
        }
    }

    #[test]
    fn a_failed_test_is_a_422_with_kube_apiserver_message() {
        let err = apply(&pod(), &json!([{"op": "test", "path": "/metadata/name", "value": "q"}])).expect_err("fails");
        assert!(err.is_invalid());
        assert_eq!(err.to_string(), "the server rejected our request due to an error in our request");
        assert!(err.detail().contains("/metadata/name"), "{}", err.detail());
    }

    #[test]
    fn non_list_bodies_get_go_decoder_messages() {
        let err = apply(&pod(), &json!({"op": "add"})).expect_err("fails");
        assert_eq!(err.to_string(), "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
        let err = apply(&pod(), &json!([1])).expect_err("fails");
        assert_eq!(err.to_string(), "json: cannot unmarshal number into Go value of type jsonpatch.Operation");
    }

    #[test]
    fn too_many_operations_is_a_413() {
        let ops: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "/metadata/name", "value": "p"}))
            .collect();
        let err = apply(&pod(), &Value::Array(ops)).expect_err("fails");
        assert_eq!(err, PatchError::TooManyOperations { max: 10000, got: 10001 });
        assert_eq!(err.code(), 413);
    }

    #[test]
    fn a_failing_patch_leaves_the_original_untouched() {
        let original = pod();
        let patch = json!([{"op": "remove", "path": "/metadata/labels"}, {"op": "test", "path": "/x", "value": 1}]);
        assert!(apply(&original, &patch).is_err());
        assert_eq!(original, pod());
    }
}
