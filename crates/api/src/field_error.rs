//! Field errors: the `details.causes` of a Kubernetes 422 `Invalid` status.
//!
//! Messages follow apimachinery's `field.Error.ErrorBody()` so that kubectl prints what it
//! prints against kube-apiserver, e.g.
//! `metadata.name: Invalid value: "Foo": a lowercase RFC 1123 subdomain must consist of ...`.

use serde_json::Value;

/// `metav1.CauseType` values used in validation errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CauseType {
    Required,
    Invalid,
    Forbidden,
    NotSupported,
    Duplicate,
    TooLong,
    TooMany,
    NotFound,
    TypeInvalid,
}

impl CauseType {
    /// The wire value, as in `metav1.CauseType`.
    pub fn reason(self) -> &'static str {
        match self {
            CauseType::Required => "FieldValueRequired",
            CauseType::Invalid => "FieldValueInvalid",
            CauseType::Forbidden => "FieldValueForbidden",
            CauseType::NotSupported => "FieldValueNotSupported",
            CauseType::Duplicate => "FieldValueDuplicate",
            CauseType::TooLong => "FieldValueTooLong",
            CauseType::TooMany => "FieldValueTooMany",
            CauseType::NotFound => "FieldValueNotFound",
            CauseType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

/// One invalid field: the path (`spec.containers[0].image`), what is wrong, and the value.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub cause: CauseType,
    /// The offending value, printed in the message where apimachinery prints it.
    pub value: Option<Value>,
    /// The detail after the type phrase, e.g. "must be no more than 63 characters".
    pub detail: String,
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), cause: CauseType::Required, value: None, detail: detail.into() }
    }
    pub fn invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), cause: CauseType::Invalid, value: Some(value.into()), detail: detail.into() }
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), cause: CauseType::Forbidden, value: None, detail: detail.into() }
    }
    pub fn not_supported(field: impl Into<String>, value: impl Into<Value>, supported: &[&str]) -> Self {
        let quoted: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Self {
            field: field.into(),
            cause: CauseType::NotSupported,
            value: Some(value.into()),
            detail: format!("supported values: {}", quoted.join(", ")),
        }
    }
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self { field: field.into(), cause: CauseType::Duplicate, value: Some(value.into()), detail: String::new() }
    }
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self {
            field: field.into(),
            cause: CauseType::TooLong,
            value: None,
            detail: format!("may not be more than {max} bytes"),
        }
    }
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self { field: field.into(), cause: CauseType::NotFound, value: Some(value.into()), detail: String::new() }
    }

    /// The cause message without the field path, as in `details.causes[].message`.
    pub fn body(&self) -> String {
        let phrase = match self.cause {
            CauseType::Required => "Required value",
            CauseType::Invalid => "Invalid value",
            CauseType::Forbidden => "Forbidden",
            CauseType::NotSupported => "Unsupported value",
            CauseType::Duplicate => "Duplicate value",
            CauseType::TooLong => "Too long",
            CauseType::TooMany => "Too many",
            CauseType::NotFound => "Not found",
            CauseType::TypeInvalid => "Invalid value",
        };
        let mut body = phrase.to_string();
        if let Some(value) = &self.value {
            body.push_str(": ");
            body.push_str(&render_value(value));
        }
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }

    /// `field: body`, the form used inside the top-level `message`.
    pub fn message(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }
}

/// Go's `%#v`-like rendering that apimachinery uses: strings quoted, numbers bare.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// The top-level message of a 422: `Pod "x" is invalid: <causes joined by ", ">`, or
/// `[a, b]` brackets when there are several, as `errors.NewInvalid` prints them.
pub fn invalid_message(kind: &str, name: &str, errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors.iter().map(FieldError::message).collect();
    let joined = if parts.len() == 1 { parts[0].clone() } else { format!("[{}]", parts.join(", ")) };
    format!("{kind} \"{name}\" is invalid: {joined}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_apimachinery_shape() {
        let e = FieldError::invalid("metadata.name", "Foo", "a lowercase RFC 1123 subdomain");
        assert_eq!(e.message(), "metadata.name: Invalid value: \"Foo\": a lowercase RFC 1123 subdomain");
        let r = FieldError::required("spec.containers", "");
        assert_eq!(r.body(), "Required value");
        assert_eq!(
            invalid_message("Pod", "x", &[r.clone(), e]),
            "Pod \"x\" is invalid: [spec.containers: Required value, metadata.name: Invalid value: \"Foo\": a lowercase RFC 1123 subdomain]"
        );
        assert_eq!(invalid_message("Pod", "x", &[r]), "Pod \"x\" is invalid: spec.containers: Required value");
    }
}
