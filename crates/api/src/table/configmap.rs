//! ConfigMaps (`printConfigMap`): Name, Data (the number of `data` plus `binaryData` keys, an
//! integer cell), Age.

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, map_len, name};
use super::{AGE_COLUMN, Column, NAME_COLUMN};

/// `v1.ConfigMap{}.SwaggerDoc()["data"]`.
const DATA_DESCRIPTION: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Data", type_: "string", format: "", description: DATA_DESCRIPTION, priority: 0 },
    AGE_COLUMN,
];

pub(super) fn cells(cm: &Value, now: Timestamp) -> Vec<Value> {
    let count = map_len(cm, &["data"]) + map_len(cm, &["binaryData"]);
    vec![name(cm), Value::from(count), age(cm, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configmap_rows() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let cm = json!({"metadata": {"name": "cfg", "creationTimestamp": "2024-05-01T11:59:00Z"},
                        "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(cells(&cm, now), vec![json!("cfg"), json!(3), json!("60s")]);
        assert_eq!(cells(&json!({"metadata": {"name": "e"}}), now)[1], json!(0));
    }
}
