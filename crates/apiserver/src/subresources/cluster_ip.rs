//! Cluster IP allocation for services, from the service CIDR (10.43.0.0/16, k3s' default;
//! 10.43.0.1 is the `kubernetes` service). A requested IP is checked; `None` means headless.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::ApiServer;
use crate::error::{ApiError, ApiResult};
use crate::handlers::list_all;

pub const SERVICE_CIDR_BASE: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 0);
const SERVICE_CIDR_SIZE: u32 = 1 << 16;

pub async fn allocate(server: &ApiServer, service: &mut Value) -> ApiResult<()> {
    let service_type = service.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
    if service_type == "ExternalName" {
        return Ok(());
    }
    let requested = service.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("").to_string();
    if requested == "None" {
        service["spec"]["clusterIPs"] = json!(["None"]);
        return Ok(());
    }
    let _allocation = server.cluster_ip_allocation.lock().await;
    let services = api::resources::find("", "v1", "services").expect("services are served");
    let used: HashSet<String> = list_all(server, services)
        .await?
        .iter()
        .filter_map(|s| s.pointer("/spec/clusterIP").and_then(Value::as_str).map(str::to_string))
        .collect();
    let name = crate::objects::name_of(service).to_string();
    let ip = if requested.is_empty() {
        let base = u32::from(SERVICE_CIDR_BASE);
        // Start at a random offset so that concurrent servers rarely race for one address.
        let start = rand::random::<u32>() % (SERVICE_CIDR_SIZE - 2);
        (0..SERVICE_CIDR_SIZE - 2)
            .map(|i| Ipv4Addr::from(base + 2 + (start + i) % (SERVICE_CIDR_SIZE - 2)).to_string())
            .find(|candidate| !used.contains(candidate))
            .ok_or_else(|| ApiError::internal("failed to allocate a service IP: range is full"))?
    } else {
        let parsed: Ipv4Addr = requested.parse().map_err(|_| {
            ApiError::invalid(
                services,
                &name,
                &[api::FieldError::invalid(
                    "spec.clusterIPs[0]",
                    requested.clone(),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )],
            )
        })?;
        let offset = u32::from(parsed).wrapping_sub(u32::from(SERVICE_CIDR_BASE));
        if offset >= SERVICE_CIDR_SIZE {
            return Err(ApiError::invalid(
                services,
                &name,
                &[api::FieldError::invalid(
                    "spec.clusterIPs",
                    requested.clone(),
                    "failed to allocate IP: the provided IP is not in the valid range. The range of valid IPs is 10.43.0.0/16",
                )],
            ));
        }
        if used.contains(&requested) {
            return Err(ApiError::invalid(
                services,
                &name,
                &[api::FieldError::invalid(
                    "spec.clusterIPs",
                    requested.clone(),
                    "failed to allocate IP: provided IP is already allocated",
                )],
            ));
        }
        requested
    };
    service["spec"]["clusterIP"] = json!(ip);
    service["spec"]["clusterIPs"] = json!([ip]);
    Ok(())
}
