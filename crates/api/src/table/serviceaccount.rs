//! ServiceAccounts (`printServiceAccount`): Name, Secrets (number of `secrets` references, an
//! integer cell), Age. kube-apiserver 1.33 still prints the Secrets column.

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, array, name};
use super::{AGE_COLUMN, Column, NAME_COLUMN};

/// `v1.ServiceAccount{}.SwaggerDoc()["secrets"]`.
const SECRETS_DESCRIPTION: &str = "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Secrets", type_: "string", format: "", description: SECRETS_DESCRIPTION, priority: 0 },
    AGE_COLUMN,
];

pub(super) fn cells(sa: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(sa), Value::from(array(sa, &["secrets"]).len()), age(sa, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serviceaccount_rows() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let sa = json!({"metadata": {"name": "default", "creationTimestamp": "2024-05-01T11:50:00Z"}});
        assert_eq!(cells(&sa, now), vec![json!("default"), json!(0), json!("10m")]);
        let with = json!({"metadata": {"name": "b"}, "secrets": [{"name": "t1"}, {"name": "t2"}]});
        assert_eq!(cells(&with, now)[1], json!(2));
    }
}
