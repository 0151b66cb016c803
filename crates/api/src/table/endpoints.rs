//! Endpoints (`printEndpoints` with `formatEndpoints(…, nil)`): Name, Endpoints, Age.
//!
//! The Endpoints cell lists at most three `ip:port` pairs (bare IPs for subsets without ports)
//! then `+ N more...`; `<none>` when there are no subsets at all.

use jiff::Timestamp;
use serde_json::Value;

use super::fields::{age, array, int, name, string};
use super::{AGE_COLUMN, Column, NAME_COLUMN};

/// `v1.Endpoints{}.SwaggerDoc()["subsets"]`.
const SUBSETS_DESCRIPTION: &str = "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column { name: "Endpoints", type_: "string", format: "", description: SUBSETS_DESCRIPTION, priority: 0 },
    AGE_COLUMN,
];

pub(super) fn cells(ep: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(ep), Value::String(format_endpoints(ep)), age(ep, now)]
}

const MAX: usize = 3;

fn format_endpoints(ep: &Value) -> String {
    let subsets = array(ep, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for subset in subsets {
        let addresses = array(subset, &["addresses"]);
        let ports = array(subset, &["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for address in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(string(address, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for address in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(string(address, &["ip"]), int(port, &["port"])));
            }
        }
    }
    let joined = list.join(",");
    if more { format!("{joined} + {} more...", count.saturating_sub(MAX)) } else { joined }
}

/// Go's `net.JoinHostPort`: brackets around hosts containing a colon (IPv6).
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fmt(subsets: Value) -> String {
        format_endpoints(&json!({"subsets": subsets}))
    }

    #[test]
    fn endpoints_cells() {
        assert_eq!(format_endpoints(&json!({})), "<none>");
        assert_eq!(fmt(json!([])), "<none>");
        assert_eq!(fmt(json!([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}])), "10.0.0.1:80");
        assert_eq!(fmt(json!([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}])), "[fd00::1]:80");
        assert_eq!(fmt(json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}])), "10.0.0.1,10.0.0.2");
        assert_eq!(fmt(json!([{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}])), "");
        assert_eq!(
            fmt(
                json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]}])
            ),
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
        );
        assert_eq!(
            fmt(json!([
                {"addresses": [{"ip": "1.1.1.1"}, {"ip": "2.2.2.2"}, {"ip": "3.3.3.3"}], "ports": [{"port": 1}]},
                {"addresses": [{"ip": "4.4.4.4"}, {"ip": "5.5.5.5"}]}
            ])),
            "1.1.1.1:1,2.2.2.2:1,3.3.3.3:1 + 2 more..."
        );
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            cells(&json!({"metadata": {"name": "kubernetes"}}), now),
            vec![json!("kubernetes"), json!("<none>"), json!("<unknown>")]
        );
    }
}
