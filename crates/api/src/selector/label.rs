//! Label selectors: the requirement model, matching against an object's labels, the canonical
//! string form, and conversion from a `metav1.LabelSelector` JSON object.
//!
//! Semantics follow apimachinery's `pkg/labels` exactly (`NotIn` and `!=` match objects without
//! the key; `Gt`/`Lt` need the label to parse as an integer). The string parser lives in
//! `label_parser.rs`. This file must not know about resources or fields.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::error::{SelectorError, aggregate, field_invalid, go_quote, go_string_slice};
use super::label_parser;
use crate::validation::{is_qualified_name as qualified_name_errors, is_valid_label_value as label_value_errors};

/// The relation a requirement states between a label and its values (apimachinery's
/// `selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `!key`
    DoesNotExist,
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key in (a,b)`
    In,
    /// `key!=value`
    NotEquals,
    /// `key notin (a,b)`
    NotIn,
    /// `key`
    Exists,
    /// `key>5`
    GreaterThan,
    /// `key<5`
    LessThan,
}

impl Operator {
    /// The operator's name in apimachinery (`selection.Operator` values), as its error messages
    /// print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::DoesNotExist => "!",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::In => "in",
            Operator::NotEquals => "!=",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One term of a selector: a key, an operator and the values it relates the key to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// apimachinery's `NewRequirement`: checks the key is a qualified name, the number of values
    /// suits the operator, `Gt`/`Lt` values are integers and every value is a label value.
    /// Errors carry apimachinery's aggregated field-error text (paths `key`, `values`,
    /// `values[i]`, `values[i][key]`).
    pub fn new(key: impl Into<String>, operator: Operator, values: Vec<String>) -> Result<Requirement, SelectorError> {
        let key = key.into();
        let mut errs = Vec::new();
        let key_errs = qualified_name_errors(&key);
        if !key_errs.is_empty() {
            errs.push(field_invalid("key", &go_quote(&key), &key_errs.join("; ")));
        }
        let values_list = || go_string_slice(&values);
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(field_invalid(
                        "values",
                        &values_list(),
                        "for 'in', 'notin' operators, values set can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(field_invalid(
                        "values",
                        &values_list(),
                        "exact-match compatibility requires one single value",
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(field_invalid(
                        "values",
                        &values_list(),
                        "values set must be empty for exists and does not exist",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(field_invalid(
                        "values",
                        &values_list(),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(field_invalid(
                            &format!("values[{i}]"),
                            &go_quote(v),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let value_errs = label_value_errors(v);
            if !value_errs.is_empty() {
                errs.push(field_invalid(&format!("values[{i}][{key}]"), &go_quote(v), &value_errs.join("; ")));
            }
        }
        match aggregate(&errs) {
            Some(message) => Err(SelectorError::InvalidRequirement(message)),
            None => Ok(Requirement { key, operator, values }),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values in the order given (the string parser gives them sorted and de-duplicated).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn has_value(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }

    /// Whether labels, looked up by `get`, satisfy this requirement.
    fn matches_with<'a>(&self, get: &impl Fn(&str) -> Option<&'a str>) -> bool {
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                get(&self.key).is_some_and(|v| self.has_value(v))
            }
            Operator::NotIn | Operator::NotEquals => get(&self.key).is_none_or(|v| !self.has_value(v)),
            Operator::Exists => get(&self.key).is_some(),
            Operator::DoesNotExist => get(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(Ok(have)) = get(&self.key).map(str::parse::<i64>) else {
                    return false;
                };
                let [want] = self.values.as_slice() else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan { have > want } else { have < want }
            }
        }
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(&|k: &str| labels.get(k).map(String::as_str))
    }
}

impl fmt::Display for Requirement {
    /// apimachinery's `Requirement.String()`: `!k`, `k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
    /// `k notin (a,b)`, `k>1`, `k<1`, with several values sorted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let (op, parens) = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => ("=", false),
            Operator::DoubleEquals => ("==", false),
            Operator::NotEquals => ("!=", false),
            Operator::In => (" in ", true),
            Operator::NotIn => (" notin ", true),
            Operator::GreaterThan => (">", false),
            Operator::LessThan => ("<", false),
        };
        f.write_str(op)?;
        if parens {
            f.write_str("(")?;
        }
        if let [only] = self.values.as_slice() {
            f.write_str(only)?;
        } else {
            let mut sorted: Vec<&str> = self.values.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            f.write_str(&sorted.join(","))?;
        }
        if parens {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: the AND of its requirements, kept sorted by key. The empty selector
/// matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// The string form of `?labelSelector=` (`a=b,c in (x,y),!d,e>3`), with apimachinery's
    /// grammar and error messages. The empty string selects everything.
    pub fn parse(selector: &str) -> Result<LabelSelector, SelectorError> {
        let requirements = label_parser::parse(selector).map_err(SelectorError::InvalidLabelSelector)?;
        Ok(LabelSelector::from_requirements(requirements))
    }

    /// A selector from requirements (apimachinery's `Selector.Add`): sorted by key, stably.
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> LabelSelector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector { requirements }
    }

    /// From a `metav1.LabelSelector` JSON object (`{matchLabels, matchExpressions}`), as
    /// apimachinery's `LabelSelectorAsSelector` converts it. `{}` selects everything. A `null`
    /// selector selects nothing in Kubernetes; that is for the caller to decide, so `null` (like
    /// any non-object) is an error here.
    pub fn from_json(selector: &Value) -> Result<LabelSelector, SelectorError> {
        let Value::Object(fields) = selector else {
            return Err(decode_error("", "v1.LabelSelector", selector));
        };
        let mut requirements = Vec::new();
        match fields.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(match_labels)) => {
                for (key, value) in match_labels {
                    let Value::String(value) = value else {
                        return Err(decode_error("LabelSelector.matchLabels", "string", value));
                    };
                    requirements.push(Requirement::new(key.clone(), Operator::Equals, vec![value.clone()])?);
                }
            }
            Some(other) => return Err(decode_error("LabelSelector.matchLabels", "map[string]string", other)),
        }
        match fields.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(expressions)) => {
                for expression in expressions {
                    requirements.push(requirement_from_json(expression)?);
                }
            }
            Some(other) => {
                return Err(decode_error("LabelSelector.matchExpressions", "[]v1.LabelSelectorRequirement", other));
            }
        }
        Ok(LabelSelector::from_requirements(requirements))
    }

    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// True when the selector does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let get = |k: &str| labels.get(k).map(String::as_str);
        self.requirements.iter().all(|r| r.matches_with(&get))
    }

    /// Matches an object's `metadata.labels` JSON; absent, `null` or a non-object is no labels,
    /// and non-string label values count as absent.
    pub fn matches_json(&self, labels: Option<&Value>) -> bool {
        let map = labels.and_then(Value::as_object);
        let get = |k: &str| map.and_then(|m| m.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| r.matches_with(&get))
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// apimachinery's `RequiresExactMatch`: the value the selector pins `label` to with `=`,
    /// `==` or a one-value `in`, judged on the first requirement for that key.
    pub fn requires_exact_match(&self, label: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == label)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [only]) => Some(only),
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    /// apimachinery's `String()`: requirements (sorted by key) joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// One `matchExpressions[]` entry. Absent fields take Go's zero values, so a missing key or
/// operator is reported by the same checks as an empty one.
fn requirement_from_json(expression: &Value) -> Result<Requirement, SelectorError> {
    let Value::Object(fields) = expression else {
        return Err(decode_error("", "v1.LabelSelectorRequirement", expression));
    };
    let string_field = |name: &str| -> Result<String, SelectorError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(decode_error(&format!("LabelSelectorRequirement.{name}"), "string", other)),
        }
    };
    let key = string_field("key")?;
    let operator = string_field("operator")?;
    let values = match fields.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(decode_error("LabelSelectorRequirement.values", "string", other)),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(decode_error("LabelSelectorRequirement.values", "[]string", other)),
    };
    let operator = match operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        _ => return Err(SelectorError::InvalidOperator(operator)),
    };
    Requirement::new(key, operator, values)
}

/// The text Go's `encoding/json` gives when a value has the wrong JSON type.
fn decode_error(field: &str, go_type: &str, value: &Value) -> SelectorError {
    let json_type = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if field.is_empty() {
        SelectorError::Decode(format!("json: cannot unmarshal {json_type} into Go value of type {go_type}"))
    } else {
        SelectorError::Decode(format!(
            "json: cannot unmarshal {json_type} into Go struct field {field} of type {go_type}"
        ))
    }
}
