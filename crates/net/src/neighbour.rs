//! The host's ARP entry for a pod address on the bridge. Addresses are reused (the IPAM hands
//! out the lowest free one), and while the bridge stays up with other pods on it the host keeps
//! the previous pod's MAC for that address as REACHABLE for up to 45 s: the host could not
//! reach the new pod until it expired. Setting up a pod therefore forgets the entry, so the
//! first packet resolves the new MAC (the CNI bridge plugin sends a gratuitous ARP instead).
//! Only the host namespace's neighbour table is touched; never links or addresses.

use std::net::Ipv4Addr;

use nix::errno::Errno;
use rtnetlink::Handle;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};

use crate::error::{NetError, errno};

/// Deletes the host's neighbour entry for `ip` on the bridge; absent is fine.
pub(crate) async fn forget(host: &Handle, bridge_index: u32, ip: Ipv4Addr) -> Result<(), NetError> {
    let mut message = NeighbourMessage::default();
    message.header.family = AddressFamily::Inet;
    message.header.ifindex = bridge_index;
    message.attributes.push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
    match host.neighbours().del(message).execute().await {
        Err(e) if errno(&e) != Some(Errno::ENOENT) => Err(NetError::netlink(format!("forget the neighbour {ip}"), e)),
        _ => Ok(()),
    }
}
