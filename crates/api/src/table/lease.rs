//! Leases (`printLease`): Name, Holder (`spec.holderIdentity`, empty when unset), Age.

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, name, string};
use super::{AGE_COLUMN, Column, NAME_COLUMN};

/// `coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]`.
const HOLDER_DESCRIPTION: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Holder", type_: "string", format: "", description: HOLDER_DESCRIPTION, priority: 0 },
    AGE_COLUMN,
];

pub(super) fn cells(lease: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(lease), Value::String(string(lease, &["spec", "holderIdentity"]).to_string()), age(lease, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lease_rows() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let l = json!({"metadata": {"name": "node1", "creationTimestamp": "2024-04-01T12:00:00Z"},
                       "spec": {"holderIdentity": "node1", "leaseDurationSeconds": 40}});
        assert_eq!(cells(&l, now), vec![json!("node1"), json!("node1"), json!("30d")]);
        assert_eq!(cells(&json!({"metadata": {"name": "x"}, "spec": {}}), now)[1], json!(""));
    }
}
