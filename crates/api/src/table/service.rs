//! Services (`printService`): Name, Type, Cluster-IP, External-IP, Port(s), Age | wide:
//! Selector.
//!
//! External-IP depends on the type: `spec.externalIPs` or `<none>` for ClusterIP and NodePort,
//! load-balancer ingress IPs/hostnames (sorted, deduplicated; unclipped since kube-apiserver
//! prints wide) plus external IPs or `<pending>` for LoadBalancer, `spec.externalName` for
//! ExternalName, `<unknown>` otherwise.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, array, format_labels, int, name, string};
use super::{AGE_COLUMN, Column, NAME_COLUMN};

/// `v1.ServiceSpec{}.SwaggerDoc()[...]`.
const TYPE_DESCRIPTION: &str = "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
const CLUSTER_IP_DESCRIPTION: &str = "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const EXTERNAL_IPS_DESCRIPTION: &str = "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.";
const PORTS_DESCRIPTION: &str = "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const SELECTOR_DESCRIPTION: &str = "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Type", type_: "string", format: "", description: TYPE_DESCRIPTION, priority: 0 },
    Column { name: "Cluster-IP", type_: "string", format: "", description: CLUSTER_IP_DESCRIPTION, priority: 0 },
    Column { name: "External-IP", type_: "string", format: "", description: EXTERNAL_IPS_DESCRIPTION, priority: 0 },
    Column { name: "Port(s)", type_: "string", format: "", description: PORTS_DESCRIPTION, priority: 0 },
    AGE_COLUMN,
    Column { name: "Selector", type_: "string", format: "", description: SELECTOR_DESCRIPTION, priority: 1 },
];

pub(super) fn cells(svc: &Value, now: Timestamp) -> Vec<Value> {
    let ports = port_string(array(svc, &["spec", "ports"]));
    vec![
        name(svc),
        Value::String(string(svc, &["spec", "type"]).to_string()),
        Value::String(cluster_ip(svc)),
        Value::String(external_ip(svc)),
        Value::String(if ports.is_empty() { "<none>".to_string() } else { ports }),
        age(svc, now),
        Value::String(format_labels(svc, &["spec", "selector"])),
    ]
}

/// The first of `spec.clusterIPs`; v1 `clusterIP` stands in when the list is empty, as the
/// v1-to-internal conversion does.
fn cluster_ip(svc: &Value) -> String {
    let ip = match array(svc, &["spec", "clusterIPs"]).first() {
        Some(first) => first.as_str().unwrap_or(""),
        None => string(svc, &["spec", "clusterIP"]),
    };
    let listed = !array(svc, &["spec", "clusterIPs"]).is_empty();
    if ip.is_empty() && !listed { "<none>".to_string() } else { ip.to_string() }
}

fn strings(v: &[Value]) -> Vec<&str> {
    v.iter().map(|s| s.as_str().unwrap_or("")).collect()
}

/// `getServiceExternalIP` with `wide = true`.
fn external_ip(svc: &Value) -> String {
    let external_ips = strings(array(svc, &["spec", "externalIPs"]));
    match string(svc, &["spec", "type"]) {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(svc);
            if !external_ips.is_empty() {
                let mut results: Vec<&str> = if lb.is_empty() { Vec::new() } else { lb.split(',').collect() };
                results.extend(external_ips);
                return results.join(",");
            }
            if lb.is_empty() { "<pending>".to_string() } else { lb }
        }
        "ExternalName" => string(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// `loadBalancerStatusStringer`: the sorted set of ingress IPs (or hostnames when no IP).
fn load_balancer_ingress(svc: &Value) -> String {
    let mut set = BTreeSet::new();
    for ingress in array(svc, &["status", "loadBalancer", "ingress"]) {
        let ip = string(ingress, &["ip"]);
        let hostname = string(ingress, &["hostname"]);
        if !ip.is_empty() {
            set.insert(ip);
        } else if !hostname.is_empty() {
            set.insert(hostname);
        }
    }
    set.into_iter().collect::<Vec<_>>().join(",")
}

/// `makePortString`: `port/protocol`, or `port:nodePort/protocol`.
fn port_string(ports: &[Value]) -> String {
    ports
        .iter()
        .map(|p| {
            let port = int(p, &["port"]);
            let protocol = string(p, &["protocol"]);
            let node_port = int(p, &["nodePort"]);
            if node_port > 0 { format!("{port}:{node_port}/{protocol}") } else { format!("{port}/{protocol}") }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn cluster_ip_service() {
        let svc = json!({"metadata": {"name": "kubernetes", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}});
        assert_eq!(
            cells(&svc, now()),
            vec![
                json!("kubernetes"),
                json!("ClusterIP"),
                json!("10.96.0.1"),
                json!("<none>"),
                json!("443/TCP"),
                json!("60m"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn node_port_with_selector_and_external_ips() {
        let svc = json!({"metadata": {"name": "web"},
            "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10", "fd00::10"], "externalIPs": ["1.2.3.4", "5.6.7.8"],
                     "selector": {"tier": "fe", "app": "web"},
                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}});
        let c = cells(&svc, now());
        assert_eq!(c[2], json!("10.96.0.10"));
        assert_eq!(c[3], json!("1.2.3.4,5.6.7.8"));
        assert_eq!(c[4], json!("80:30080/TCP,53/UDP"));
        assert_eq!(c[6], json!("app=web,tier=fe"));
    }

    #[test]
    fn external_ip_by_type() {
        let lb = |ingress: Value, external: Value| {
            external_ip(&json!({"spec": {"type": "LoadBalancer", "externalIPs": external},
                                "status": {"loadBalancer": {"ingress": ingress}}}))
        };
        assert_eq!(lb(json!([]), json!([])), "<pending>");
        assert_eq!(
            lb(
                json!([{"ip": "9.9.9.9"}, {"hostname": "lb.example.com"}, {"ip": "1.1.1.1"}, {"ip": "1.1.1.1"}]),
                json!([])
            ),
            "1.1.1.1,9.9.9.9,lb.example.com"
        );
        assert_eq!(lb(json!([{"ip": "9.9.9.9"}]), json!(["2.2.2.2"])), "9.9.9.9,2.2.2.2");
        assert_eq!(lb(json!([]), json!(["2.2.2.2"])), "2.2.2.2");
        assert_eq!(
            external_ip(&json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}})),
            "db.example.com"
        );
        assert_eq!(external_ip(&json!({"spec": {"type": "Weird"}})), "<unknown>");
        assert_eq!(external_ip(&json!({"spec": {}})), "<unknown>");
    }

    #[test]
    fn headless_and_missing_cluster_ip() {
        assert_eq!(cluster_ip(&json!({"spec": {"clusterIP": "None", "clusterIPs": ["None"]}})), "None");
        assert_eq!(cluster_ip(&json!({"spec": {"type": "ExternalName"}})), "<none>");
        assert_eq!(cluster_ip(&json!({"spec": {"clusterIP": "10.0.0.5"}})), "10.0.0.5");
        let c = cells(&json!({"metadata": {"name": "x"}, "spec": {"type": "ClusterIP"}}), now());
        assert_eq!(c[4], json!("<none>"));
    }
}
