//! The node bridge: created if absent, brought up, given the gateway address (first address of
//! the pod CIDR), and IPv4 forwarding switched on. Also deletes it (tests, cleanup). Host
//! namespace only, over netlink; no iptables here (see `masquerade`).

use std::net::{IpAddr, Ipv4Addr};

use nix::errno::Errno;
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec};

use crate::cidr::PodCidr;
use crate::error::{NetError, errno};
use crate::link::find_link;

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Makes sure `name` is an up bridge holding the gateway address; returns its ifindex.
pub(crate) async fn ensure(handle: &Handle, name: &str, cidr: &PodCidr) -> Result<u32, NetError> {
    let link = match find_link(handle, name).await? {
        Some(link) => link,
        None => {
            // A fixed MAC: otherwise the bridge takes the lowest MAC of its ports and changes
            // it as pods come and go, leaving stale gateway entries in the pods' ARP caches.
            let add = handle.link().add(LinkBridge::new(name).address(bridge_mac(cidr.gateway())).build());
            match add.execute().await {
                // EEXIST: created concurrently by someone else; use theirs.
                Err(e) if errno(&e) != Some(Errno::EEXIST) => {
                    return Err(NetError::netlink(format!("create bridge {name}"), e));
                }
                _ => {}
            }
            find_link(handle, name).await?.ok_or_else(|| NetError::LinkNotFound(name.to_string()))?
        }
    };
    if !is_bridge(&link) {
        return Err(NetError::NotABridge(name.to_string()));
    }
    let index = link.header.index;
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| NetError::netlink(format!("set {name} up"), e))?;
    // replace: the address may already be there from an earlier start.
    handle
        .address()
        .add(index, IpAddr::V4(cidr.gateway()), cidr.prefix())
        .replace()
        .execute()
        .await
        .map_err(|e| NetError::netlink(format!("add {}/{} to {name}", cidr.gateway(), cidr.prefix()), e))?;
    Ok(index)
}

/// Deletes the bridge; absent is fine. Its ports are released, not deleted.
pub(crate) async fn delete(handle: &Handle, name: &str) -> Result<(), NetError> {
    let Some(link) = find_link(handle, name).await? else { return Ok(()) };
    match handle.link().del(link.header.index).execute().await {
        Err(e) if errno(&e) != Some(Errno::ENODEV) => Err(NetError::netlink(format!("delete {name}"), e)),
        _ => Ok(()),
    }
}

/// Pods reach anything beyond the node only if the node routes for them.
pub(crate) fn enable_ip_forward() -> Result<(), NetError> {
    let err = |source| NetError::Sysctl { path: IP_FORWARD, source };
    if std::fs::read_to_string(IP_FORWARD).map_err(err)?.trim() == "1" {
        return Ok(());
    }
    std::fs::write(IP_FORWARD, "1").map_err(err)
}

fn is_bridge(link: &LinkMessage) -> bool {
    link.attributes.iter().any(|attr| match attr {
        LinkAttribute::LinkInfo(infos) => infos.iter().any(|info| matches!(info, LinkInfo::Kind(InfoKind::Bridge))),
        _ => false,
    })
}

/// A locally administered unicast MAC derived from the gateway, so it is stable across restarts.
fn bridge_mac(gateway: Ipv4Addr) -> Vec<u8> {
    let [a, b, c, d] = gateway.octets();
    vec![0x02, 0x50, a, b, c, d]
}
