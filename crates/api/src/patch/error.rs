//! The error of applying a patch, classified the way kube-apiserver answers it.
//!
//! Owns the mapping from a failure to the HTTP status kube-apiserver returns
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go`: `applyJSPatch`,
//! `strategicPatchObject`, `interpretStrategicMergePatchError`). Must not build `Status` objects:
//! that is the apiserver's job, with `code()`, `reason()` and `Display`.

/// Why a patch could not be applied.
///
/// `Display` is the `message` of the `Status` kube-apiserver returns; `detail()` always gives the
/// underlying cause (for logs), which for [`PatchError::Unprocessable`] differs from the message.
///
/// | variant | code | reason |
/// |---|---|---|
/// | `BadRequest` | 400 | `BadRequest` |
/// | `Unprocessable` | 422 | `Invalid` |
/// | `TooManyOperations` | 413 | `RequestEntityTooLarge` |
/// | `Unconverted` | 500 | `""` (StatusReasonUnknown) |
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// A malformed patch: a body of the wrong JSON type, a malformed `$setElementOrder`,
    /// `$deleteFromPrimitiveList` or `$retainKeys` directive, an unknown `$` directive key, a
    /// patch nested too deeply, or a strategic merge patch for a kind without strategic-merge
    /// metadata (upstream `ErrUnsupportedStrategicMergePatchFormat`).
    #[error("{0}")]
    BadRequest(String),
    /// The patch is well-formed but cannot be applied to this object: a JSON patch operation that
    /// fails (a `test` that does not match, a path that does not exist) or a strategic merge of
    /// lists of lists. kube-apiserver builds these with `NewGenericServerResponse(422, …)`, which
    /// replaces the cause with a fixed message; the cause is kept in `detail`.
    #[error("the server rejected our request due to an error in our request")]
    Unprocessable { detail: String },
    /// A JSON patch with more operations than kube-apiserver accepts.
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations { max: usize, got: usize },
    /// Every other strategic merge failure (a list item without its merge key, an unknown
    /// `$patch` value, a `$setElementOrder` list that contradicts the patch, mixed element
    /// types, …). kube-apiserver passes these errors through unconverted, so the client sees a
    /// 500 whose reason is empty and whose message is this text.
    #[error("{0}")]
    Unconverted(String),
}

impl PatchError {
    /// The HTTP status code kube-apiserver answers with.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Unprocessable { .. } => 422,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::Unconverted(_) => 500,
        }
    }

    /// The `Status.reason` kube-apiserver answers with.
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::Unprocessable { .. } => "Invalid",
            PatchError::TooManyOperations { .. } => "RequestEntityTooLarge",
            PatchError::Unconverted(_) => "",
        }
    }

    /// True for the 422 (`Invalid`) answers.
    pub fn is_invalid(&self) -> bool {
        matches!(self, PatchError::Unprocessable { .. })
    }

    /// True for the 400 (`BadRequest`) answers.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, PatchError::BadRequest(_))
    }

    /// The underlying cause, for logs.
    pub fn detail(&self) -> String {
        match self {
            PatchError::Unprocessable { detail } => detail.clone(),
            other => other.to_string(),
        }
    }

    pub(crate) fn unprocessable(detail: impl Into<String>) -> Self {
        PatchError::Unprocessable { detail: detail.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_matches_kube_apiserver() {
        let cases = [
            (PatchError::BadRequest("invalid patch format of retainKeys".into()), 400, "BadRequest", false),
            (PatchError::unprocessable("testing value /a failed"), 422, "Invalid", true),
            (PatchError::TooManyOperations { max: 10000, got: 10001 }, 413, "RequestEntityTooLarge", false),
            (PatchError::Unconverted("map: map[] does not contain declared merge key: name".into()), 500, "", false),
        ];
        for (err, code, reason, invalid) in cases {
            assert_eq!(err.code(), code, "{err:?}");
            assert_eq!(err.reason(), reason, "{err:?}");
            assert_eq!(err.is_invalid(), invalid, "{err:?}");
            assert_eq!(err.is_bad_request(), code == 400, "{err:?}");
        }
    }

    #[test]
    fn unprocessable_message_is_the_generic_one_but_keeps_the_cause() {
        let err = PatchError::unprocessable("test failed");
        assert_eq!(err.to_string(), "the server rejected our request due to an error in our request");
        assert_eq!(err.detail(), "test failed");
        let err = PatchError::TooManyOperations { max: 10000, got: 10001 };
        assert_eq!(err.to_string(), "The allowed maximum operations in a JSON patch is 10000, got 10001");
    }
}
