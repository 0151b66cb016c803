//! Tolerant accessors over `serde_json::Value` for the validators: a missing field, `null` or a
//! value of the wrong JSON type reads as the Go zero value, so that validation never panics on
//! odd input and treats protobuf-dropped zero values like Kubernetes does.

use serde_json::{Map, Value};

static EMPTY: Vec<Value> = Vec::new();

/// The string at `key`, or "" (Go's zero value).
pub fn str_of<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The string at `key` when present and not null (a `*string` in Go).
pub fn opt_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// The integer at `key` when present (a `*int` in Go).
pub fn opt_int(obj: &Value, key: &str) -> Option<i64> {
    obj.get(key).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

/// The integer at `key`, or 0.
pub fn int_of(obj: &Value, key: &str) -> i64 {
    opt_int(obj, key).unwrap_or(0)
}

pub fn bool_of(obj: &Value, key: &str) -> bool {
    obj.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at `key`, or an empty slice.
pub fn arr_of<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(EMPTY.as_slice())
}

/// The object at `key` when present.
pub fn obj_of<'a>(obj: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    obj.get(key).and_then(Value::as_object)
}

/// The child value at `key` when present and not null.
pub fn child<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// A `map[string]string` (labels, annotations, selectors), sorted by key as serde_json keeps
/// them; non-string values read as "".
pub fn string_map<'a>(obj: &'a Value, key: &str) -> Vec<(&'a str, &'a str)> {
    obj_of(obj, key)
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))).collect())
        .unwrap_or_default()
}

/// The strings of a `[]string`; non-strings read as "".
pub fn string_list<'a>(obj: &'a Value, key: &str) -> Vec<&'a str> {
    arr_of(obj, key).iter().map(|v| v.as_str().unwrap_or("")).collect()
}

/// The `metadata` object, or `null`.
pub fn metadata(obj: &Value) -> &Value {
    obj.get("metadata").unwrap_or(&Value::Null)
}

/// `child` of `obj`, or `null`, for chained reads.
pub fn at<'a>(obj: &'a Value, key: &str) -> &'a Value {
    obj.get(key).unwrap_or(&Value::Null)
}
