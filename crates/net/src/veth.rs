//! The veth pair of a pod: the host end `veth<8 hex>` (named from the pod UID, so teardown and
//! tests can find it without state) enslaved to the bridge and up; the pod end created directly
//! inside the pod's namespace as `eth0` (never in the host namespace, where `eth0` may exist).
//! One netlink request from the host namespace; addresses and routes are in `pod_interface`.

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{Handle, LinkUnspec, LinkVeth};

use crate::error::{NetError, errno};
use crate::link::find_link;
use crate::netns::PodNetns;

/// The pod end's name inside its namespace.
pub const POD_INTERFACE: &str = "eth0";

/// The host end's name for a pod: `veth` + FNV-1a of the whole UID as 8 hex digits (12
/// characters, under the kernel's 15). Hashing the whole UID rather than taking its first
/// characters keeps UIDs that share a prefix apart.
pub fn host_veth_name(pod_uid: &str) -> String {
    let hash = pod_uid.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    format!("veth{hash:08x}")
}

/// Creates the pair: host end `host_name` on the bridge and up, pod end `eth0` in `netns`.
pub(crate) async fn create(
    host: &Handle,
    host_name: &str,
    bridge_index: u32,
    netns: &PodNetns,
) -> Result<(), NetError> {
    let peer = LinkUnspec::new_with_name(POD_INTERFACE).setns_by_fd(netns.file.as_raw_fd()).build();
    let message = LinkVeth::new(host_name, POD_INTERFACE)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .controller(bridge_index)
        .up()
        .build();
    host.link().add(message).execute().await.map_err(|e| {
        NetError::netlink(format!("create veth {host_name} (peer {POD_INTERFACE} in {})", netns.path.display()), e)
    })
}

/// Makes sure an existing host end is on the bridge and up (a re-run of setup after a crash).
pub(crate) async fn attach(host: &Handle, host_name: &str, bridge_index: u32) -> Result<(), NetError> {
    host.link()
        .set(LinkUnspec::new_with_name(host_name).controller(bridge_index).up().build())
        .execute()
        .await
        .map_err(|e| NetError::netlink(format!("attach {host_name} to the bridge"), e))
}

/// Takes a pod's host end down at once (absent is fine), so that nothing is forwarded to or
/// from the pod while its namespace and veth pair are destroyed in the background: the
/// kernel finishes that asynchronously, and meanwhile the old pod could still answer ARP for
/// an address a new pod has already been given.
pub(crate) async fn take_down(host: &Handle, host_name: &str) -> Result<(), NetError> {
    match host.link().set(LinkUnspec::new_with_name(host_name).down().build()).execute().await {
        Err(e) if errno(&e) != Some(Errno::ENODEV) => Err(NetError::netlink(format!("take {host_name} down"), e)),
        _ => Ok(()),
    }
}

/// Deletes a host end whose peer is not in the pod's namespace (left by an interrupted setup),
/// so that `create` can reuse the name; absent is fine.
pub(crate) async fn delete_stale(host: &Handle, host_name: &str) -> Result<(), NetError> {
    let Some(link) = find_link(host, host_name).await? else { return Ok(()) };
    match host.link().del(link.header.index).execute().await {
        Err(e) if errno(&e) != Some(Errno::ENODEV) => Err(NetError::netlink(format!("delete stale {host_name}"), e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_name_is_deterministic_and_short() {
        let a = host_veth_name("0b7f2c5e-1a2b-4c3d-9e8f-0123456789ab");
        assert_eq!(a, host_veth_name("0b7f2c5e-1a2b-4c3d-9e8f-0123456789ab"));
        assert!(a.starts_with("veth") && a.len() == 12 && a.len() <= 15, "{a}");
        // Same first 8 characters, different UID: different names.
        assert_ne!(a, host_veth_name("0b7f2c5e-ffff-4c3d-9e8f-0123456789ab"));
    }
}
