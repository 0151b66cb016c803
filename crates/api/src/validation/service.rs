//! Service validation (ValidateService, ValidateServiceUpdate). Cluster IP allocation and the
//! dual-stack field consistency are the apiserver's (allocator's) business; here only the
//! shape is checked: ports, types, affinity, traffic policies, and clusterIP immutability.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::fields::{arr_of, at, child, int_of, opt_str, str_of, string_list, string_map};
use super::names;
use super::object_meta::{validate_labels, validate_object_meta, validate_object_meta_update};
use crate::FieldError;

/// The message of apimachinery's IsValidIP.
pub const INVALID_IP: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

fn is_headless(spec: &Value) -> bool {
    string_list(spec, "clusterIPs").first().copied().or_else(|| opt_str(spec, "clusterIP")) == Some("None")
}

fn port_num(value: i64, path: &str) -> Vec<FieldError> {
    names::is_valid_port_num(value).into_iter().map(|m| FieldError::invalid(path, value, m)).collect()
}

fn validate_service_port(port: &Value, require_name: bool, seen: &mut BTreeSet<String>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_of(port, "name");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else if !name.is_empty() {
        errs.extend(
            names::is_dns1123_label(name).into_iter().map(|m| FieldError::invalid(format!("{path}.name"), name, m)),
        );
        if !seen.insert(name.to_string()) {
            errs.push(FieldError::duplicate(format!("{path}.name"), name));
        }
    }
    errs.extend(port_num(int_of(port, "port"), &format!("{path}.port")));
    let protocol = str_of(port, "protocol");
    if protocol.is_empty() {
        errs.push(FieldError::required(format!("{path}.protocol"), ""));
    } else if !PROTOCOLS.contains(&protocol) {
        errs.push(FieldError::not_supported(format!("{path}.protocol"), protocol, PROTOCOLS));
    }
    let target_path = format!("{path}.targetPort");
    match port.get("targetPort") {
        Some(Value::String(s)) => errs
            .extend(names::is_valid_port_name(s).into_iter().map(|m| FieldError::invalid(&target_path, s.as_str(), m))),
        Some(v) => errs.extend(port_num(v.as_i64().unwrap_or(0), &target_path)),
        None => errs.extend(port_num(0, &target_path)),
    }
    if let Some(app_protocol) = opt_str(port, "appProtocol") {
        errs.extend(
            names::is_qualified_name(app_protocol)
                .into_iter()
                .map(|m| FieldError::invalid(format!("{path}.appProtocol"), app_protocol, m)),
        );
    }
    errs
}

/// ValidateService.
pub fn validate_create(service: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(service, true, names::name_is_dns1035_label);
    let spec = at(service, "spec");
    let service_type = str_of(spec, "type");
    let ports = arr_of(spec, "ports");
    if ports.is_empty() && !is_headless(spec) && service_type != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match service_type {
        "LoadBalancer" | "NodePort" if is_headless(spec) => errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            "None",
            format!("may not be set to 'None' for {service_type} services"),
        )),
        "ExternalName" => {
            if !arr_of(spec, "clusterIPs").is_empty() {
                errs.push(FieldError::forbidden("spec.clusterIPs", "may not be set for ExternalName services"));
            }
            if !arr_of(spec, "ipFamilies").is_empty() {
                errs.push(FieldError::forbidden("spec.ipFamilies", "may not be set for ExternalName services"));
            }
            if child(spec, "ipFamilyPolicy").is_some() {
                errs.push(FieldError::forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"));
            }
            // A CNAME may end in a dot to mark it fully qualified.
            let cname = str_of(spec, "externalName").trim_end_matches('.');
            if cname.is_empty() {
                errs.push(FieldError::required("spec.externalName", ""));
            } else {
                errs.extend(
                    names::is_dns1123_subdomain(cname)
                        .into_iter()
                        .map(|m| FieldError::invalid("spec.externalName", cname, m)),
                );
            }
        }
        _ => {}
    }
    let mut seen = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        errs.extend(validate_service_port(port, ports.len() > 1, &mut seen, &format!("spec.ports[{i}]")));
    }
    errs.extend(validate_labels(&string_map(spec, "selector"), "spec.selector"));
    match str_of(spec, "sessionAffinity") {
        "" => errs.push(FieldError::required("spec.sessionAffinity", "")),
        "ClientIP" => {
            let timeout = child(spec, "sessionAffinityConfig")
                .and_then(|c| child(c, "clientIP"))
                .and_then(|c| child(c, "timeoutSeconds"))
                .and_then(Value::as_i64);
            match timeout {
                None => errs
                    .push(FieldError::required("spec.sessionAffinityConfig", "when session affinity type is ClientIP")),
                Some(t) if !(1..=86400).contains(&t) => errs.push(FieldError::invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    t,
                    "must be greater than 0 and less than 86400",
                )),
                _ => {}
            }
        }
        "None" => {
            if child(spec, "sessionAffinityConfig").is_some() {
                errs.push(FieldError::forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errs.push(FieldError::not_supported("spec.sessionAffinity", other, &["ClientIP", "None"])),
    }
    for (i, ip) in string_list(spec, "clusterIPs").iter().enumerate() {
        if *ip != "None" && ip.parse::<std::net::IpAddr>().is_err() {
            errs.push(FieldError::invalid(format!("spec.clusterIPs[{i}]"), *ip, INVALID_IP));
        }
    }
    for (i, ip) in string_list(spec, "externalIPs").iter().enumerate() {
        if ip.parse::<std::net::IpAddr>().is_err() {
            errs.push(FieldError::invalid(format!("spec.externalIPs[{i}]"), *ip, INVALID_IP));
        }
    }
    const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if service_type.is_empty() {
        errs.push(FieldError::required("spec.type", ""));
    } else if !TYPES.contains(&service_type) {
        errs.push(FieldError::not_supported("spec.type", service_type, TYPES));
    }
    let mut node_ports = BTreeSet::new();
    let mut port_keys = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let node_port = int_of(port, "nodePort");
        if service_type == "ClusterIP" && node_port != 0 {
            errs.push(FieldError::forbidden(
                format!("spec.ports[{i}].nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
        let protocol = str_of(port, "protocol");
        if node_port != 0 && !node_ports.insert((protocol, node_port)) {
            errs.push(FieldError::duplicate(format!("spec.ports[{i}].nodePort"), node_port));
        }
        if !port_keys.insert((protocol, int_of(port, "port"))) {
            errs.push(FieldError::duplicate(
                format!("spec.ports[{i}]"),
                json!({"port": int_of(port, "port"), "protocol": protocol}),
            ));
        }
    }
    let externally_accessible = service_type == "LoadBalancer"
        || service_type == "NodePort"
        || (service_type == "ClusterIP" && !arr_of(spec, "externalIPs").is_empty());
    let external_policy = str_of(spec, "externalTrafficPolicy");
    if !externally_accessible {
        if !external_policy.is_empty() {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                external_policy,
                "may only be set for externally-accessible services",
            ));
        }
    } else if external_policy.is_empty() {
        errs.push(FieldError::required("spec.externalTrafficPolicy", ""));
    } else if !matches!(external_policy, "Cluster" | "Local") {
        errs.push(FieldError::not_supported("spec.externalTrafficPolicy", external_policy, &["Cluster", "Local"]));
    }
    match opt_str(spec, "internalTrafficPolicy") {
        None if matches!(service_type, "ClusterIP" | "NodePort" | "LoadBalancer") => {
            errs.push(FieldError::required("spec.internalTrafficPolicy", ""))
        }
        Some(policy) if !matches!(policy, "Cluster" | "Local") => {
            errs.push(FieldError::not_supported("spec.internalTrafficPolicy", policy, &["Cluster", "Local"]))
        }
        _ => {}
    }
    if child(spec, "allocateLoadBalancerNodePorts").is_some() && service_type != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    errs
}

fn cluster_ips(spec: &Value) -> Vec<&str> {
    let ips = string_list(spec, "clusterIPs");
    if ips.is_empty() { opt_str(spec, "clusterIP").filter(|ip| !ip.is_empty()).into_iter().collect() } else { ips }
}

/// ValidateServiceUpdate: the primary cluster IP cannot change (except to/from ExternalName).
pub fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let (new_spec, old_spec) = (at(new, "spec"), at(old, "spec"));
    let external = str_of(new_spec, "type") == "ExternalName" || str_of(old_spec, "type") == "ExternalName";
    let (new_ips, old_ips) = (cluster_ips(new_spec), cluster_ips(old_spec));
    if !external && !old_ips.is_empty() {
        let shown = Value::from(new_ips.iter().map(|s| Value::from(*s)).collect::<Vec<_>>());
        if new_ips.is_empty() {
            errs.push(FieldError::invalid("spec.clusterIPs[0]", shown, "primary clusterIP can not be unset"));
        } else if new_ips.first() != old_ips.first() || (new_ips.len() == old_ips.len() && new_ips != old_ips) {
            errs.push(FieldError::invalid("spec.clusterIPs[0]", shown, "may not change once set"));
        }
    }
    errs.extend(validate_create(new));
    errs
}

/// ValidateServiceStatusUpdate: metadata only (load balancer status is written by controllers).
pub fn validate_status_update(new: &Value, old: &Value) -> Vec<FieldError> {
    validate_object_meta_update(new, old)
}
