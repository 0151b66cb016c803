//! apps/v1 Deployment and ReplicaSet defaults (SetDefaults_Deployment, SetDefaults_ReplicaSet),
//! plus the pod template's spec defaults.

use serde_json::{Map, Value};

use super::pod::default_pod_spec;
use super::{ensure_object, is_unset, set_default, with_object};

fn default_template(spec: &mut Map<String, Value>) {
    with_object(spec, "template", |template| ensure_object(template, "spec", default_pod_spec));
}

/// SetDefaults_Deployment: replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10,
/// progressDeadlineSeconds 600.
pub fn default_deployment(deployment: &mut Map<String, Value>) {
    ensure_object(deployment, "spec", |spec| {
        set_default(spec, "replicas", 1);
        ensure_object(spec, "strategy", |strategy| {
            set_default(strategy, "type", "RollingUpdate");
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                ensure_object(strategy, "rollingUpdate", |rolling| {
                    // An IntOrString is unset only when absent or null; 0 is a value.
                    for field in ["maxUnavailable", "maxSurge"] {
                        if rolling.get(field).is_none_or(Value::is_null) {
                            rolling.insert(field.to_string(), Value::from("25%"));
                        }
                    }
                });
            }
        });
        set_default(spec, "revisionHistoryLimit", 10);
        set_default(spec, "progressDeadlineSeconds", 600);
        default_template(spec);
    });
}

/// SetDefaults_ReplicaSet: replicas 1.
pub fn default_replicaset(rs: &mut Map<String, Value>) {
    ensure_object(rs, "spec", |spec| {
        if is_unset(spec, "replicas") {
            spec.insert("replicas".to_string(), Value::from(1));
        }
        default_template(spec);
    });
}
