//! Endpoints validation (ValidateEndpoints), light: addresses are IPs, ports are valid and named
//! when there are several.

use serde_json::Value;

use super::fields::{arr_of, int_of, opt_str, str_of};
use super::names;
use super::object_meta::validate_object_meta;
use super::service::INVALID_IP;
use crate::FieldError;

fn validate_address(address: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ip = str_of(address, "ip");
    if ip.parse::<std::net::IpAddr>().is_err() {
        errs.push(FieldError::invalid(format!("{path}.ip"), ip, INVALID_IP));
    }
    let hostname = str_of(address, "hostname");
    if !hostname.is_empty() {
        errs.extend(
            names::is_dns1123_label(hostname)
                .into_iter()
                .map(|m| FieldError::invalid(format!("{path}.hostname"), hostname, m)),
        );
    }
    if let Some(node) = opt_str(address, "nodeName") {
        errs.extend(
            names::name_is_dns_subdomain(node, false)
                .into_iter()
                .map(|m| FieldError::invalid(format!("{path}.nodeName"), node, m)),
        );
    }
    errs
}

/// ValidateEndpoints (create and update).
pub fn validate_create(endpoints: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(endpoints, true, names::name_is_dns_subdomain);
    for (i, subset) in arr_of(endpoints, "subsets").iter().enumerate() {
        let p = format!("subsets[{i}]");
        let (ready, not_ready) = (arr_of(subset, "addresses"), arr_of(subset, "notReadyAddresses"));
        if ready.is_empty() && not_ready.is_empty() {
            errs.push(FieldError::required(&p, "must specify `addresses` or `notReadyAddresses`"));
        }
        for (j, a) in ready.iter().enumerate() {
            errs.extend(validate_address(a, &format!("{p}.addresses[{j}]")));
        }
        for (j, a) in not_ready.iter().enumerate() {
            errs.extend(validate_address(a, &format!("{p}.notReadyAddresses[{j}]")));
        }
        let ports = arr_of(subset, "ports");
        for (j, port) in ports.iter().enumerate() {
            let pp = format!("{p}.ports[{j}]");
            let name = str_of(port, "name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(FieldError::required(format!("{pp}.name"), ""));
            } else if !name.is_empty() {
                errs.extend(
                    names::is_dns1123_label(name)
                        .into_iter()
                        .map(|m| FieldError::invalid(format!("{pp}.name"), name, m)),
                );
            }
            let port_num = int_of(port, "port");
            errs.extend(
                names::is_valid_port_num(port_num)
                    .into_iter()
                    .map(|m| FieldError::invalid(format!("{pp}.port"), port_num, m)),
            );
            let protocol = str_of(port, "protocol");
            if protocol.is_empty() {
                errs.push(FieldError::required(format!("{pp}.protocol"), ""));
            } else if !matches!(protocol, "SCTP" | "TCP" | "UDP") {
                errs.push(FieldError::not_supported(format!("{pp}.protocol"), protocol, &["SCTP", "TCP", "UDP"]));
            }
        }
    }
    errs
}
