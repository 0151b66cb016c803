//! The crate's error type and its mapping onto the agent's `NetworkError`. Owns no IO.

use std::io;
use std::path::PathBuf;

use agent::network::NetworkError;
use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("invalid pod CIDR {cidr:?}: {reason}")]
    InvalidCidr { cidr: String, reason: &'static str },
    /// A pod UID becomes a file name (IPAM record, netns file), so it must be a plain name.
    #[error("invalid pod uid {0:?}: must be 1-253 characters of [A-Za-z0-9._-] not starting with '.'")]
    InvalidPodUid(String),
    /// The node's pod CIDR has no free address (same text as Kubernetes' host-local IPAM).
    #[error("no IP addresses available in range set {0}")]
    Exhausted(String),
    #[error("IPAM state {path}: {source}")]
    State { path: PathBuf, source: io::Error },
    #[error("network namespace {path}: {op}: {source}")]
    Netns { path: PathBuf, op: &'static str, source: io::Error },
    #[error("netlink {op}: {source}")]
    Netlink { op: String, source: rtnetlink::Error },
    #[error("netlink connection: {0}")]
    NetlinkSocket(io::Error),
    #[error("invalid bridge name {0:?}: must be 1-15 characters without '/' or whitespace")]
    InvalidBridgeName(String),
    #[error("link {0} exists and is not a bridge")]
    NotABridge(String),
    #[error("link {0} not found")]
    LinkNotFound(String),
    #[error("iptables {args}: {reason}")]
    Iptables { args: String, reason: String },
    #[error("sysctl {path}: {source}")]
    Sysctl { path: &'static str, source: io::Error },
    /// The helper thread that enters a network namespace died without answering.
    #[error("network namespace thread for {0} exited without a result")]
    NetnsThread(PathBuf),
}

impl NetError {
    pub(crate) fn netlink(op: impl Into<String>, source: rtnetlink::Error) -> Self {
        NetError::Netlink { op: op.into(), source }
    }
}

impl From<NetError> for NetworkError {
    fn from(err: NetError) -> Self {
        match err {
            NetError::Exhausted(range) => NetworkError::Exhausted(range),
            other => NetworkError::Other(other.to_string()),
        }
    }
}

/// The errno of a netlink error reply, if that is what `err` is.
pub(crate) fn errno(err: &rtnetlink::Error) -> Option<Errno> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => Some(Errno::from_raw(msg.raw_code().abs())),
        _ => None,
    }
}
