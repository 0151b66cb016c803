//! Field selectors (`?fieldSelector=`): parsing with apimachinery's escaping rules, the check
//! that every field is one the resource supports, and matching against objects.
//!
//! Which fields a resource supports, and what value each has on an object, live in
//! `field_sets.rs`; this file knows only the selector syntax and its evaluation.

use std::fmt;

use serde_json::Value;

pub use super::field_sets::{field_value, supported_fields};

use super::error::SelectorError;
use super::field_sets::{canonical_field, has_own_conversion};
use crate::ResourceInfo;

/// One `field=value` or `field!=value` term (`==` is the same as `=`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    field: String,
    value: String,
    not_equals: bool,
}

impl Term {
    fn matches(&self, info: &ResourceInfo, object: &Value) -> bool {
        // A field the resource does not compute reads as "" (Go's `fields.Set.Get`).
        let field = canonical_field(info, &self.field).unwrap_or(&self.field);
        let have = field_value(info, object, field).unwrap_or_default();
        (have == self.value) != self.not_equals
    }
}

/// A field selector: the AND of its terms, kept in apimachinery's order (terms sorted as
/// strings). The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<Term>,
}

impl FieldSelector {
    /// apimachinery's `fields.ParseSelector`: terms `f=v`, `f==v`, `f!=v` joined by commas.
    /// In values, `\,`, `\=` and `\\` stand for `,`, `=` and `\`; any other escape, or a bare
    /// `=` in a value, is an error. Empty terms are skipped.
    pub fn parse(selector: &str) -> Result<FieldSelector, SelectorError> {
        let mut parts = split_terms(selector);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let Some((field, operator, value)) = split_term(part) else {
                return Err(SelectorError::InvalidFieldTerm { selector: selector.to_string(), term: part.to_string() });
            };
            terms.push(Term { field: field.to_string(), value: unescape_value(value)?, not_equals: operator == "!=" });
        }
        Ok(FieldSelector { terms })
    }

    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Ok if kube-apiserver's field label conversion for the resource accepts every field;
    /// otherwise the error for the first one it refuses, worded as kube-apiserver words it.
    pub fn check_supported(&self, info: &ResourceInfo) -> Result<(), SelectorError> {
        for term in &self.terms {
            if canonical_field(info, &term.field).is_none() {
                return Err(if has_own_conversion(info) {
                    SelectorError::FieldLabelNotSupported(term.field.clone())
                } else {
                    SelectorError::UnknownFieldSelector(term.field.clone())
                });
            }
        }
        Ok(())
    }

    pub fn matches(&self, info: &ResourceInfo, object: &Value) -> bool {
        self.terms.iter().all(|t| t.matches(info, object))
    }

    /// The value the selector pins `field` to with `=`/`==`, if any (apimachinery's
    /// `RequiresExactMatch`: the first such term).
    pub fn exact_value(&self, field: &str) -> Option<&str> {
        self.terms.iter().find(|t| !t.not_equals && t.field == field).map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    /// apimachinery's `String()`: `f=v` and `f!=v` terms, values escaped, joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let operator = if t.not_equals { "!=" } else { "=" };
            write!(f, "{}{operator}{}", t.field, escape_value(&t.value))?;
        }
        Ok(())
    }
}

/// apimachinery's `EscapeValue`: `\`, `,` and `=` get a backslash.
pub(crate) fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits on commas not preceded by a backslash (a backslash protects whatever follows it).
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// The first operator in the term, trying `!=`, `==`, `=` at each position.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for operator in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(operator) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

/// apimachinery's `UnescapeValue`.
fn unescape_value(value: &str) -> Result<String, SelectorError> {
    if !value.contains(['\\', ',', '=']) {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len());
    let mut in_slash = false;
    for c in value.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::InvalidEscapeSequence(format!("\\{c}")));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(SelectorError::UnescapedCharacter(c)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::InvalidEscapeSequence("\\".to_string()));
    }
    Ok(out)
}
