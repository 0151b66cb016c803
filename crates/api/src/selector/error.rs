//! The one error type of the selector module, and the Go-style formatting its messages need.
//!
//! Every `Display` text is the message kube-apiserver (apimachinery) produces for the same
//! mistake, because clients show it verbatim (`Error from server (BadRequest): ...`). This file
//! owns the wording; it must not decide HTTP status codes (the apiserver maps every variant to 400).

use std::fmt::Write as _;

/// Why a label or field selector was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// `?labelSelector=` did not parse. The text is apimachinery's, e.g.
    /// `found ',', expected: !, identifier, or 'end of string'` or
    /// `unable to parse requirement: values[0][app]: Invalid value: "-x": ...`.
    #[error("{0}")]
    InvalidLabelSelector(String),
    /// A requirement built from a `metav1.LabelSelector` (or in code) is invalid: apimachinery's
    /// aggregated field errors, e.g. `key: Invalid value: "a b": name part must consist of ...`.
    #[error("{0}")]
    InvalidRequirement(String),
    /// A `matchExpressions[].operator` other than In, NotIn, Exists and DoesNotExist.
    #[error("{} is not a valid label selector operator", go_quote(.0))]
    InvalidOperator(String),
    /// A `metav1.LabelSelector` JSON value of the wrong shape (Go's JSON decoder would refuse it).
    #[error("{0}")]
    Decode(String),
    /// A field selector term with no `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidFieldTerm { selector: String, term: String },
    /// A `\` in a field selector value not followed by `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscapeSequence(String),
    /// A `,` or `=` in a field selector value that should have been escaped. Go prints the rune
    /// as its code point (`61` for `=`), and so do we.
    #[error("invalid field selector: unescaped character in value: {}", code_point(.0))]
    UnescapedCharacter(char),
    /// A field the resource's field label conversion does not know (resources with their own
    /// conversion function: pods, nodes, namespaces, events, secrets, services).
    #[error("field label not supported: {0}")]
    FieldLabelNotSupported(String),
    /// A field other than `metadata.name`/`metadata.namespace` on a resource that has no field
    /// label conversion of its own (apimachinery's `DefaultMetaV1FieldSelectorConversion`).
    #[error("{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"", go_quote(.0))]
    UnknownFieldSelector(String),
}

fn code_point(c: &char) -> u32 {
    u32::from(*c)
}

/// A string as Go's `%q` (strconv.Quote) prints it: double quotes, backslash escapes for
/// quotes, backslashes and non-printable characters.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string list as Go's `%#v` prints a `[]string` (`[]string{"a", "b"}`, `[]string(nil)`).
/// apimachinery passes `append([]string(nil), values...)`, so an empty list is always nil.
pub(crate) fn go_string_slice(values: &[String]) -> String {
    if values.is_empty() {
        return "[]string(nil)".to_string();
    }
    let quoted: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// apimachinery's `field.Invalid(path, value, detail).Error()`.
pub(crate) fn field_invalid(path: &str, bad_value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {bad_value}: {detail}")
}

/// apimachinery's `utilerrors.NewAggregate(errs).Error()`: one message alone, several
/// de-duplicated in brackets.
pub(crate) fn aggregate(messages: &[String]) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for m in messages {
        if !seen.contains(&m.as_str()) {
            seen.push(m);
        }
    }
    match seen.as_slice() {
        [] => None,
        [only] => Some(only.to_string()),
        _ => Some(format!("[{}]", seen.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        let cases = [
            ("abc", r#""abc""#),
            ("", r#""""#),
            ("a\"b", r#""a\"b""#),
            ("a\\b", r#""a\\b""#),
            ("tab\there", r#""tab\there""#),
            ("nl\n", r#""nl\n""#),
            ("\u{1}", r#""\x01""#),
            ("\u{7f}", r#""\x7f""#),
            ("héllo", "\"héllo\""),
            ("\u{85}", r#""\u0085""#),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), want, "input {input:?}");
        }
    }

    #[test]
    fn go_string_slice_formats() {
        assert_eq!(go_string_slice(&[]), "[]string(nil)");
        assert_eq!(go_string_slice(&["a".into(), "b c".into()]), r#"[]string{"a", "b c"}"#);
    }

    #[test]
    fn aggregate_dedups_and_brackets() {
        assert_eq!(aggregate(&[]), None);
        assert_eq!(aggregate(&["x".into()]).as_deref(), Some("x"));
        assert_eq!(aggregate(&["x".into(), "x".into()]).as_deref(), Some("x"));
        assert_eq!(aggregate(&["x".into(), "y".into(), "x".into()]).as_deref(), Some("[x, y]"));
    }

    #[test]
    fn messages_match_kubernetes() {
        assert_eq!(
            SelectorError::FieldLabelNotSupported("spec.foo".into()).to_string(),
            "field label not supported: spec.foo"
        );
        assert_eq!(
            SelectorError::UnknownFieldSelector("spec.foo".into()).to_string(),
            r#""spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace""#
        );
        assert_eq!(
            SelectorError::UnescapedCharacter('=').to_string(),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            SelectorError::InvalidOperator("Foo".into()).to_string(),
            r#""Foo" is not a valid label selector operator"#
        );
    }
}
