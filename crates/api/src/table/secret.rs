//! Secrets (`printSecret`): Name, Type, Data (number of keys, an integer cell), Age.
//!
//! `stringData` keys count too: kube-apiserver's v1-to-internal conversion merges them into
//! `data` before printing (stored objects never carry `stringData`).

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, map_keys, name, string};
use super::{AGE_COLUMN, Column, NAME_COLUMN};

/// `v1.Secret{}.SwaggerDoc()["type"]`.
const TYPE_DESCRIPTION: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
/// `v1.Secret{}.SwaggerDoc()["data"]`.
const DATA_DESCRIPTION: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Type", type_: "string", format: "", description: TYPE_DESCRIPTION, priority: 0 },
    Column { name: "Data", type_: "string", format: "", description: DATA_DESCRIPTION, priority: 0 },
    AGE_COLUMN,
];

pub(super) fn cells(secret: &Value, now: Timestamp) -> Vec<Value> {
    let mut keys = map_keys(secret, &["data"]);
    keys.extend(map_keys(secret, &["stringData"]));
    keys.sort_unstable();
    keys.dedup();
    vec![name(secret), Value::String(string(secret, &["type"]).to_string()), Value::from(keys.len()), age(secret, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_rows() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let s = json!({"metadata": {"name": "tls", "creationTimestamp": "2024-05-01T09:00:00Z"},
                       "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(cells(&s, now), vec![json!("tls"), json!("kubernetes.io/tls"), json!(2), json!("3h")]);
        let merged = json!({"metadata": {"name": "m"}, "type": "Opaque",
                            "data": {"a": "eA=="}, "stringData": {"a": "x", "b": "y"}});
        assert_eq!(cells(&merged, now)[2], json!(2));
        assert_eq!(cells(&json!({}), now), vec![json!(""), json!(""), json!(0), json!("<unknown>")]);
    }
}
