//! Service and Endpoints defaults (SetDefaults_Service, SetDefaults_Endpoints), plus the IP
//! family fields the Service REST storage fills for single-stack IPv4 clusters. The cluster IP
//! itself is allocated by the apiserver, not here.

use serde_json::{Map, Value, json};

use super::{each_object, set_default};

/// DefaultClientIPServiceAffinitySeconds (3 hours).
const DEFAULT_CLIENT_IP_AFFINITY_SECONDS: i64 = 10800;

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// SetDefaults_Service.
pub fn default_service(service: &mut Map<String, Value>) {
    super::ensure_object(service, "spec", |spec| {
        set_default(spec, "sessionAffinity", "None");
        match str_field(spec, "sessionAffinity") {
            "None" => {
                spec.remove("sessionAffinityConfig");
            }
            "ClientIP" => {
                let timeout = spec
                    .get("sessionAffinityConfig")
                    .and_then(|c| c.get("clientIP"))
                    .and_then(|c| c.get("timeoutSeconds"))
                    .filter(|t| !t.is_null());
                if timeout.is_none() {
                    spec.insert(
                        "sessionAffinityConfig".to_string(),
                        json!({"clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_AFFINITY_SECONDS}}),
                    );
                }
            }
            _ => {}
        }
        set_default(spec, "type", "ClusterIP");
        each_object(spec, "ports", |port| {
            set_default(port, "protocol", "TCP");
            let target_unset = match port.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(_) => false,
            };
            if target_unset && let Some(p) = port.get("port").cloned() {
                port.insert("targetPort".to_string(), p);
            }
        });
        let service_type = str_field(spec, "type").to_string();
        let has_external_ips = spec.get("externalIPs").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        let externally_accessible = service_type == "LoadBalancer"
            || service_type == "NodePort"
            || (service_type == "ClusterIP" && has_external_ips);
        if externally_accessible {
            set_default(spec, "externalTrafficPolicy", "Cluster");
        }
        if matches!(service_type.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
            set_default(spec, "internalTrafficPolicy", "Cluster");
            // The REST storage's IP family defaulting, for a single-stack IPv4 cluster.
            set_default(spec, "ipFamilyPolicy", "SingleStack");
            let families_unset = spec.get("ipFamilies").and_then(Value::as_array).is_none_or(Vec::is_empty);
            if families_unset {
                spec.insert("ipFamilies".to_string(), json!(["IPv4"]));
            }
        }
        if service_type == "LoadBalancer" && spec.get("allocateLoadBalancerNodePorts").is_none_or(Value::is_null) {
            spec.insert("allocateLoadBalancerNodePorts".to_string(), Value::Bool(true));
        }
    });
}

/// SetDefaults_Endpoints: port protocol TCP.
pub fn default_endpoints(endpoints: &mut Map<String, Value>) {
    each_object(endpoints, "subsets", |subset| {
        each_object(subset, "ports", |port| set_default(port, "protocol", "TCP"))
    });
}
