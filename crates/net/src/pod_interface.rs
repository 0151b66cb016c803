//! Configuration inside the pod's namespace, over a netlink socket opened in it (see `netns`):
//! `lo` up, `eth0` up with the pod IP, default route via the bridge's gateway. Every step is
//! idempotent (address and route use replace), so setup can be re-run on a live pod.

use std::net::{IpAddr, Ipv4Addr};

use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use crate::cidr::PodCidr;
use crate::error::NetError;
use crate::link::find_link;
use crate::veth::POD_INTERFACE;

/// Loopback's index in every network namespace: it is registered first.
const LOOPBACK_INDEX: u32 = 1;

/// Brings up `lo` and `eth0`, puts `ip/prefix` on `eth0`, routes 0.0.0.0/0 via the gateway.
pub(crate) async fn configure(pod: &Handle, eth0_index: u32, ip: Ipv4Addr, cidr: &PodCidr) -> Result<(), NetError> {
    for (index, name) in [(LOOPBACK_INDEX, "lo"), (eth0_index, POD_INTERFACE)] {
        pod.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("set {name} up in the pod"), e))?;
    }
    pod.address()
        .add(eth0_index, IpAddr::V4(ip), cidr.prefix())
        .replace()
        .execute()
        .await
        .map_err(|e| NetError::netlink(format!("add {ip}/{} to {POD_INTERFACE}", cidr.prefix()), e))?;
    let default_route =
        RouteMessageBuilder::<Ipv4Addr>::new().gateway(cidr.gateway()).output_interface(eth0_index).build();
    pod.route()
        .add(default_route)
        .replace()
        .execute()
        .await
        .map_err(|e| NetError::netlink(format!("add default route via {}", cidr.gateway()), e))
}

/// The ifindex of the pod's `eth0`, or None if the pair is missing.
pub(crate) async fn eth0_index(pod: &Handle) -> Result<Option<u32>, NetError> {
    Ok(find_link(pod, POD_INTERFACE).await?.map(|link| link.header.index))
}
