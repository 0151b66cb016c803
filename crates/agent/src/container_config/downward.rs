//! The Downward API's pod fields (`fieldRef`) for env vars and downwardAPI volume files:
//! `metadata.name`, `namespace`, `uid`, `labels`, `annotations` (whole maps only in volumes,
//! in the kubelet's `k="v"` line format), `metadata.labels['k']`, `spec.nodeName`,
//! `spec.serviceAccountName`, `status.podIP(s)`, `status.hostIP(s)`.
//!
//! Pure: the caller passes the addresses the node knows.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ObjectFieldSelector, Pod};

/// The addresses known at container creation (the pod status may not carry them yet).
#[derive(Debug, Clone, Default)]
pub struct PodAddresses {
    pub pod_ips: Vec<IpAddr>,
    pub host_ips: Vec<IpAddr>,
}

impl PodAddresses {
    /// The addresses the pod status reports, or the node's own view when it has one.
    pub fn new(pod: &Pod, pod_ip: Option<IpAddr>, host_ip: Option<IpAddr>) -> Self {
        let status = pod.status.as_ref();
        let mut pod_ips: Vec<IpAddr> = pod_ip.into_iter().collect();
        for ip in status.and_then(|s| s.pod_ips.as_ref()).into_iter().flatten() {
            if let Ok(ip) = ip.ip.parse::<IpAddr>()
                && !pod_ips.contains(&ip)
            {
                pod_ips.push(ip);
            }
        }
        let mut host_ips: Vec<IpAddr> = host_ip.into_iter().collect();
        for ip in status.and_then(|s| s.host_ips.as_ref()).into_iter().flatten() {
            if let Ok(ip) = ip.ip.parse::<IpAddr>()
                && !host_ips.contains(&ip)
            {
                host_ips.push(ip);
            }
        }
        PodAddresses { pod_ips, host_ips }
    }
}

/// The value of one `fieldRef`. Errors use the kubelet's messages.
pub fn field_value(selector: &ObjectFieldSelector, pod: &Pod, addresses: &PodAddresses) -> Result<String, String> {
    match selector.api_version.as_deref() {
        None | Some("") | Some("v1") => {}
        Some(other) => return Err(format!("unsupported pod version: {other}")),
    }
    let path = selector.field_path.as_str();
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let join = |ips: &[IpAddr]| ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    if let Some((map, key)) = subscript(path) {
        let values = match map {
            "metadata.labels" => meta.labels.as_ref(),
            "metadata.annotations" => meta.annotations.as_ref(),
            _ => return Err(format!("field label not supported: {path}")),
        };
        return Ok(values.and_then(|m| m.get(key)).cloned().unwrap_or_default());
    }
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "spec.terminationGracePeriodSeconds" => {
            spec.and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).to_string()
        }
        "status.podIP" => addresses.pod_ips.first().map(ToString::to_string).unwrap_or_default(),
        "status.podIPs" => join(&addresses.pod_ips),
        "status.hostIP" => addresses.host_ips.first().map(ToString::to_string).unwrap_or_default(),
        "status.hostIPs" => join(&addresses.host_ips),
        _ => return Err(format!("field label not supported: {path}")),
    })
}

/// `metadata.labels['key']` → (`metadata.labels`, `key`).
fn subscript(path: &str) -> Option<(&str, &str)> {
    let (map, rest) = path.split_once("['")?;
    let key = rest.strip_suffix("']")?;
    Some((map, key))
}

/// `fieldpath.FormatMap`: sorted `key="value"` lines, values quoted as Go's `%q` does.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter().flatten().map(|(k, v)| format!("{k}={}", go_quote(v))).collect::<Vec<_>>().join("\n")
}

/// Go's `strconv.Quote` for the characters label and annotation values hold in practice.
fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
