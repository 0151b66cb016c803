//! Tolerant readers over a JSON object for the printers: a missing, `null` or wrongly typed
//! field reads as Go's zero value (`""`, `0`, `false`, empty list), which is what
//! kube-apiserver's printers see for an unset field after decoding. Never panics.
//!
//! Also the two time helpers every printer shares (`translateTimestampSince` and the
//! `Created At` formatting of the default table).

use jiff::Timestamp;
use serde_json::Value;

use super::duration::human_duration;

/// The value at `path`, unless missing or `null`.
pub(super) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_object()?.get(*key)?;
    }
    if cur.is_null() { None } else { Some(cur) }
}

/// The object at `path` (Go: a non-nil pointer to a struct).
pub(super) fn object<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    get(v, path).filter(|x| x.is_object())
}

/// The string at `path`, `""` when absent.
pub(super) fn string<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `path`, `0` when absent.
pub(super) fn int(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

/// The integer at `path`, `None` when absent (Go: a nil `*int32`).
pub(super) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    let x = get(v, path)?;
    x.as_i64().or_else(|| x.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
}

/// The boolean at `path`, `false` when absent.
pub(super) fn boolean(v: &Value, path: &[&str]) -> bool {
    get(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The boolean at `path`, `None` when absent (Go: a nil `*bool`).
pub(super) fn opt_boolean(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// The array at `path`, empty when absent.
pub(super) fn array<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The number of entries of the map at `path` (0 when absent).
pub(super) fn map_len(v: &Value, path: &[&str]) -> usize {
    get(v, path).and_then(Value::as_object).map_or(0, |m| m.len())
}

/// The keys of the map at `path`.
pub(super) fn map_keys<'a>(v: &'a Value, path: &[&str]) -> Vec<&'a str> {
    get(v, path).and_then(Value::as_object).map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default()
}

/// A `metav1.Time`/`metav1.MicroTime` at `path`; `None` for the zero time (missing, `null`, or
/// unparseable, which kube-apiserver would have rejected on decode).
pub(super) fn timestamp(v: &Value, path: &[&str]) -> Option<Timestamp> {
    get(v, path).and_then(Value::as_str).and_then(|s| s.parse::<Timestamp>().ok())
}

/// `metadata.name`.
pub(super) fn name(v: &Value) -> Value {
    Value::String(string(v, &["metadata", "name"]).to_string())
}

/// `translateTimestampSince`: `HumanDuration(now - t)`, or `<unknown>` for the zero time.
pub(super) fn translate_timestamp_since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

/// The AGE cell: `translateTimestampSince(metadata.creationTimestamp)`.
pub(super) fn age(v: &Value, now: Timestamp) -> Value {
    Value::String(translate_timestamp_since(timestamp(v, &["metadata", "creationTimestamp"]), now))
}

/// Go's `t.UTC().Format(time.RFC3339)` (whole seconds, `Z`); the zero time prints as
/// `0001-01-01T00:00:00Z` as it does in Go.
pub(super) fn rfc3339(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// `labels.FormatLabels`: `k=v` pairs sorted by key, comma separated, `<none>` when empty.
pub(super) fn format_labels(v: &Value, path: &[&str]) -> String {
    let Some(map) = get(v, path).and_then(Value::as_object) else {
        return "<none>".to_string();
    };
    let mut pairs: Vec<(&str, &str)> = map.iter().map(|(k, val)| (k.as_str(), val.as_str().unwrap_or(""))).collect();
    pairs.sort();
    let s = pairs.iter().map(|(k, val)| format!("{k}={val}")).collect::<Vec<_>>().join(",");
    if s.is_empty() { "<none>".to_string() } else { s }
}

/// `layoutContainerCells`: container names and images, each comma separated.
pub(super) fn container_cells(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| string(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| string(c, &["image"])).collect();
    (Value::String(names.join(",")), Value::String(images.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readers_treat_missing_null_and_wrong_types_as_zero() {
        let v = json!({"a": {"s": "x", "n": 3, "null": null, "b": true, "arr": [1], "m": {"k": "v"}}});
        assert_eq!(string(&v, &["a", "s"]), "x");
        assert_eq!(string(&v, &["a", "n"]), "");
        assert_eq!(string(&v, &["a", "missing", "deeper"]), "");
        assert_eq!(int(&v, &["a", "n"]), 3);
        assert_eq!(int(&v, &["a", "s"]), 0);
        assert_eq!(opt_int(&v, &["a", "null"]), None);
        assert!(boolean(&v, &["a", "b"]));
        assert_eq!(array(&v, &["a", "arr"]).len(), 1);
        assert!(array(&v, &["a", "m"]).is_empty());
        assert_eq!(map_len(&v, &["a", "m"]), 1);
        assert!(object(&v, &["a", "null"]).is_none());
    }

    #[test]
    fn timestamps_and_ages() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let v = json!({"metadata": {"creationTimestamp": "2024-05-01T11:55:30Z"}});
        assert_eq!(age(&v, now), json!("4m30s"));
        assert_eq!(age(&json!({"metadata": {}}), now), json!("<unknown>"));
        assert_eq!(age(&json!({"metadata": {"creationTimestamp": "garbage"}}), now), json!("<unknown>"));
        let micro = json!({"t": "2024-05-01T11:59:59.123456Z"});
        assert_eq!(translate_timestamp_since(timestamp(&micro, &["t"]), now), "0s");
        assert_eq!(rfc3339(timestamp(&v, &["metadata", "creationTimestamp"])), "2024-05-01T11:55:30Z");
        let offset = json!({"t": "2024-05-01T13:55:30+02:00"});
        assert_eq!(rfc3339(timestamp(&offset, &["t"])), "2024-05-01T11:55:30Z");
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn format_labels_sorts_and_placeholders() {
        assert_eq!(format_labels(&json!({"s": {"b": "2", "a": "1"}}), &["s"]), "a=1,b=2");
        assert_eq!(format_labels(&json!({"s": {}}), &["s"]), "<none>");
        assert_eq!(format_labels(&json!({}), &["s"]), "<none>");
    }
}
