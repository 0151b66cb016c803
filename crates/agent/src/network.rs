//! The pod network as the agent sees it: one network namespace and one IP per pod. The real
//! implementation (bridge, veth pairs, IPAM over netlink) is the `net` crate, wired in by the
//! binary; tests use a fake. Nothing in this file does IO.

use std::net::IpAddr;
use std::path::PathBuf;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The node's pod CIDR has no free address.
    #[error("no IP addresses available in range set {0}")]
    Exhausted(String),
    #[error("{0}")]
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetworkConfig {
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetworkStatus {
    /// A bind-mounted network namespace file the containers join.
    pub netns_path: PathBuf,
    pub ip: IpAddr,
}

#[async_trait]
pub trait Network: Send + Sync + 'static {
    /// Creates (or finds, idempotently) the pod's network namespace with `lo` up and an IP on
    /// the node bridge.
    async fn setup(&self, pod: &PodNetworkConfig) -> Result<PodNetworkStatus, NetworkError>;
    /// Releases the pod's IP and namespace (absent is fine); never waits on veth deletion.
    async fn teardown(&self, pod_uid: &str) -> Result<(), NetworkError>;
    /// Pod UIDs that hold a namespace or an IP, for orphan cleanup at start.
    async fn list(&self) -> Result<Vec<String>, NetworkError>;
    /// The node's pod CIDR (`spec.podCIDR`).
    fn pod_cidr(&self) -> String;
}
