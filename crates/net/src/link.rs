//! Small netlink link lookups shared by the bridge, veth and pod-interface code. No policy.

use futures::TryStreamExt;
use nix::errno::Errno;
use rtnetlink::Handle;
use rtnetlink::packet_route::link::LinkMessage;

use crate::error::{NetError, errno};

/// The link called `name` in `handle`'s namespace, or None.
pub(crate) async fn find_link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, NetError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(Errno::ENODEV) => Ok(None),
        Err(e) => Err(NetError::netlink(format!("get link {name}"), e)),
    }
}
