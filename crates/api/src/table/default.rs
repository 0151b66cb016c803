//! The generic table of `k8s.io/apiserver/pkg/registry/rest/table.go` (`defaultTableConvertor`),
//! used for every resource without a kind-specific printer: `Name` and `Created At` (type
//! `date`, the creation time in RFC 3339, UTC).

use serde_json::Value;

use super::fields::{name, rfc3339, timestamp};
use super::{CREATION_TIMESTAMP_DESCRIPTION, Column, NAME_COLUMN};

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Created At", type_: "date", format: "", description: CREATION_TIMESTAMP_DESCRIPTION, priority: 0 },
];

pub(super) fn cells(object: &Value) -> Vec<Value> {
    vec![name(object), Value::String(rfc3339(timestamp(object, &["metadata", "creationTimestamp"])))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn name_and_created_at() {
        let obj = json!({"metadata": {"name": "x", "creationTimestamp": "2024-01-02T03:04:05Z"}});
        assert_eq!(cells(&obj), vec![json!("x"), json!("2024-01-02T03:04:05Z")]);
        assert_eq!(cells(&json!({})), vec![json!(""), json!("0001-01-01T00:00:00Z")]);
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Created At"]);
        assert_eq!(COLUMNS[1].type_, "date");
    }
}
