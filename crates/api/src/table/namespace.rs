//! Namespaces (`printNamespace`): Name, Status (the phase), Age.

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, name, string};
use super::{AGE_COLUMN, Column, NAME_COLUMN};

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Status", type_: "string", format: "", description: "The status of the namespace", priority: 0 },
    AGE_COLUMN,
];

pub(super) fn cells(ns: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(ns), Value::String(string(ns, &["status", "phase"]).to_string()), age(ns, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn namespace_rows() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": "2024-04-29T12:00:00Z"},
                        "status": {"phase": "Active"}});
        assert_eq!(cells(&ns, now), vec![json!("default"), json!("Active"), json!("2d")]);
        let terminating = json!({"metadata": {"name": "old"}, "status": {"phase": "Terminating"}});
        assert_eq!(cells(&terminating, now), vec![json!("old"), json!("Terminating"), json!("<unknown>")]);
        assert_eq!(cells(&json!({"metadata": {"name": "new"}}), now)[1], json!(""));
    }
}
