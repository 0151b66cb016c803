//! RuntimeClasses (`printRuntimeClass`): Name, Handler, Age.

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, name, string};
use super::{AGE_COLUMN, Column, NAME_COLUMN};

/// `nodev1.RuntimeClass{}.SwaggerDoc()["handler"]`.
const HANDLER_DESCRIPTION: &str = "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class. The possible values are specific to the node & CRI configuration.  It is assumed that all handlers are available on every node, and handlers of the same name are equivalent on every node. For example, a handler called \"runc\" might specify that the runc OCI runtime (using native Linux containers) will be used to run the containers in a pod. The Handler must be lowercase, conform to the DNS Label (RFC 1123) requirements, and is immutable.";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Handler", type_: "string", format: "", description: HANDLER_DESCRIPTION, priority: 0 },
    AGE_COLUMN,
];

pub(super) fn cells(class: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(class), Value::String(string(class, &["handler"]).to_string()), age(class, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn runtime_class_rows() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let class = json!({"metadata": {"name": "sandboxed", "creationTimestamp": "2024-05-01T11:58:30Z"},
                           "handler": "runsc", "overhead": {"podFixed": {"cpu": "250m"}}});
        assert_eq!(cells(&class, now), vec![json!("sandboxed"), json!("runsc"), json!("90s")]);
        assert_eq!(cells(&json!({"metadata": {"name": "x"}}), now)[1], json!(""));
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names, vec!["Name", "Handler", "Age"]);
    }
}
