//! The string form of a `metav1.LabelSelector` as the printers show it: apimachinery's
//! `LabelSelectorAsSelector(s).String()` (deployments) and `FormatLabelSelector` (replica sets).
//!
//! Kept private to the table module on purpose: it formats only, and does not depend on
//! `crate::selector` (which parses and matches selectors).

use serde_json::Value;

/// Why a selector does not convert (apimachinery's `LabelSelectorAsSelector` error).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum SelectorError {
    #[error("{0:?} is not a valid label selector operator")]
    InvalidOperator(String),
    #[error("invalid requirement for key {0:?}")]
    InvalidRequirement(String),
}

/// One requirement with the operator spelled as `labels.Requirement.String()` needs it.
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// `LabelSelectorAsSelector(s).String()`: `Ok("")` for a nil or empty selector (apimachinery's
/// `Nothing()` and `Everything()` both print as the empty string).
pub(super) fn selector_string(selector: Option<&Value>) -> Result<String, SelectorError> {
    let Some(selector) = selector.filter(|s| s.is_object()) else {
        return Ok(String::new());
    };
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let match_expressions = selector.get("matchExpressions").and_then(Value::as_array);
    let mut reqs: Vec<Requirement> = Vec::new();
    for (k, v) in match_labels.into_iter().flatten() {
        let value = v.as_str().unwrap_or("").to_string();
        reqs.push(new_requirement(k, Op::Equals, vec![value])?);
    }
    for expr in match_expressions.into_iter().flatten() {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
        let operator = expr.get("operator").and_then(Value::as_str).unwrap_or("");
        let op = match operator {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            other => return Err(SelectorError::InvalidOperator(other.to_string())),
        };
        let values = expr
            .get("values")
            .and_then(Value::as_array)
            .map(|vs| vs.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default();
        reqs.push(new_requirement(key, op, values)?);
    }
    // internalSelector.Add sorts by key; a stable sort keeps apimachinery's order for equal keys.
    reqs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(reqs.iter().map(requirement_string).collect::<Vec<_>>().join(","))
}

/// `metav1.FormatLabelSelector`: `<none>` when empty, `<error>` when it does not convert.
pub(super) fn format_label_selector(selector: Option<&Value>) -> String {
    match selector_string(selector) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(_) => "<error>".to_string(),
    }
}

/// `labels.NewRequirement` validation: a qualified-name key, the value count the operator
/// needs, and valid label values.
fn new_requirement(key: &str, op: Op, values: Vec<String>) -> Result<Requirement, SelectorError> {
    let count_ok = match op {
        Op::In | Op::NotIn => !values.is_empty(),
        Op::Equals => values.len() == 1,
        Op::Exists | Op::DoesNotExist => values.is_empty(),
    };
    if !is_qualified_name(key) || !count_ok || !values.iter().all(|v| is_valid_label_value(v)) {
        return Err(SelectorError::InvalidRequirement(key.to_string()));
    }
    Ok(Requirement { key: key.to_string(), op, values })
}

/// `labels.Requirement.String()`.
fn requirement_string(r: &Requirement) -> String {
    let mut s = String::new();
    if r.op == Op::DoesNotExist {
        s.push('!');
    }
    s.push_str(&r.key);
    match r.op {
        Op::Exists | Op::DoesNotExist => return s,
        Op::Equals => s.push('='),
        Op::In => s.push_str(" in "),
        Op::NotIn => s.push_str(" notin "),
    }
    let set = matches!(r.op, Op::In | Op::NotIn);
    if set {
        s.push('(');
    }
    // Values print sorted, without changing the requirement itself.
    let mut values: Vec<&str> = r.values.iter().map(String::as_str).collect();
    values.sort_unstable();
    s.push_str(&values.join(","));
    if set {
        s.push(')');
    }
    s
}

/// `validation.IsQualifiedName`: `[prefix/]name`, prefix a DNS-1123 subdomain.
fn is_qualified_name(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() || !is_dns1123_subdomain(prefix) {
                return false;
            }
            *name
        }
        _ => return false,
    };
    !name.is_empty() && name.len() <= 63 && is_name_chars(name)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` on a non-empty string.
fn is_name_chars(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `validation.IsValidLabelValue`: empty, or at most 63 name characters.
fn is_valid_label_value(v: &str) -> bool {
    v.is_empty() || (v.len() <= 63 && is_name_chars(v))
}

/// `validation.IsDNS1123Subdomain`.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(f), Some(l)) => {
                    (f.is_ascii_lowercase() || f.is_ascii_digit())
                        && (l.is_ascii_lowercase() || l.is_ascii_digit())
                        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                }
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_strings() {
        let cases = [
            (json!({"matchLabels": {"app": "web"}}), "app=web"),
            (json!({"matchLabels": {"b": "2", "a": "1"}}), "a=1,b=2"),
            (
                json!({"matchLabels": {"tier": "fe"}, "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                    {"key": "zone", "operator": "NotIn", "values": ["z1"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "example.com/owner", "operator": "Exists", "values": []}
                ]}),
                "!canary,env in (dev,prod),example.com/owner,tier=fe,zone notin (z1)",
            ),
            (json!({}), ""),
            (json!({"matchLabels": {}, "matchExpressions": []}), ""),
        ];
        for (sel, want) in cases {
            assert_eq!(selector_string(Some(&sel)).as_deref(), Ok(want), "{sel}");
        }
        assert_eq!(selector_string(None), Ok(String::new()));
    }

    #[test]
    fn invalid_selectors() {
        let bad = [
            json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            json!({"matchLabels": {"bad key": "x"}}),
            json!({"matchLabels": {"a": "bad value"}}),
            json!({"matchLabels": {"Upper.Case/x": "v"}}),
            json!({"matchLabels": {"a/b/c": "v"}}),
            json!({"matchLabels": {"-a": "v"}}),
        ];
        for sel in bad {
            assert!(selector_string(Some(&sel)).is_err(), "{sel}");
            assert_eq!(format_label_selector(Some(&sel)), "<error>");
        }
        assert_eq!(
            selector_string(Some(&json!({"matchExpressions": [{"key": "a", "operator": "Nope"}]}))),
            Err(SelectorError::InvalidOperator("Nope".to_string()))
        );
    }

    #[test]
    fn format_label_selector_placeholders() {
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_label_selector(Some(&json!({"matchLabels": {"app": "x"}}))), "app=x");
    }
}
