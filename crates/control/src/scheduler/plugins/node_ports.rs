//! NodePorts: a pod asking for a `hostPort` fits only nodes where no counted pod holds the
//! same protocol and port on an overlapping address.

use crate::scheduler::framework::{Code, FilterPlugin, FilterResult, NodeInfo, PodInfo, Rejection};

pub const NAME: &str = "NodePorts";
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub struct NodePorts;

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> FilterResult {
        let clash = pod.host_ports.iter().any(|wanted| node.used_ports.iter().any(|used| used.conflicts_with(wanted)));
        if clash { Err(Rejection::new(NAME, Code::Unschedulable, ERR_REASON)) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ContainerPort;

    use super::*;
    use crate::scheduler::plugins::testing::{node, pod, pod_spec};

    fn with_port(port: i32, protocol: &str, ip: &str) -> PodInfo {
        let mut spec = pod_spec("", "");
        spec.containers[0].ports = Some(vec![ContainerPort {
            container_port: 8080,
            host_port: Some(port),
            protocol: Some(protocol.into()),
            host_ip: Some(ip.into()).filter(|ip: &String| !ip.is_empty()),
            ..Default::default()
        }]);
        pod(spec)
    }

    #[test]
    fn host_ports_clash_by_protocol_port_and_address() {
        let cases = [
            ("same port", with_port(80, "TCP", ""), with_port(80, "TCP", ""), false),
            ("other port", with_port(80, "TCP", ""), with_port(81, "TCP", ""), true),
            ("other protocol", with_port(80, "TCP", ""), with_port(80, "UDP", ""), true),
            ("distinct addresses", with_port(80, "TCP", "10.0.0.1"), with_port(80, "TCP", "10.0.0.2"), true),
            ("wildcard vs address", with_port(80, "TCP", ""), with_port(80, "TCP", "10.0.0.2"), false),
        ];
        for (name, existing, incoming, fits) in cases {
            let mut node = node("n", "1", "1Gi", "10");
            node.add_pod(&existing);
            assert_eq!(NodePorts.filter(&incoming, &node).is_ok(), fits, "{name}");
            node.remove_pod(&existing);
            assert!(NodePorts.filter(&incoming, &node).is_ok(), "{name}: freed after removal");
        }
        // Pods without host ports always fit.
        let mut busy = node("n", "1", "1Gi", "10");
        busy.add_pod(&with_port(80, "TCP", ""));
        assert!(NodePorts.filter(&pod(pod_spec("", "")), &busy).is_ok());
    }
}
