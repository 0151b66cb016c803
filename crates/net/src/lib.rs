//! The pod network of a node: one Linux bridge (`peapod0`) holding the gateway address of the
//! node's pod CIDR, and per pod a network namespace bind-mounted at `<netns_dir>/<pod_uid>`, a
//! veth pair (host end on the bridge, `eth0` in the pod), the lowest free IP of the CIDR and a
//! default route via the gateway. Optionally, one MASQUERADE rule lets pods reach beyond the node.
//!
//! Everything per pod goes over netlink (`rtnetlink`); nothing forks per pod. `iptables` is
//! forked only at start-up. [`BridgeNetwork`] implements the agent's [`Network`] trait; this
//! crate knows nothing about Pods beyond their UID and never talks to the API server.
//!
//! Modules: `cidr` (address arithmetic), `ipam` (allocations on disk), `netns` (namespace
//! files), `bridge`, `veth`, `pod_interface` (inside the pod), `neighbour` (the host's ARP entry
//! of a reused address), `masquerade` (iptables).

mod bridge;
mod cidr;
mod error;
mod ipam;
mod link;
mod masquerade;
mod neighbour;
mod netns;
mod pod_interface;
mod uid;
mod veth;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Mutex;

use agent::network::{Network, NetworkError, PodNetworkConfig, PodNetworkStatus};
use async_trait::async_trait;
use tokio::task::JoinHandle;

pub use cidr::PodCidr;
pub use error::NetError;
pub use veth::{POD_INTERFACE, host_veth_name};

use ipam::Ipam;
use netns::PodNetns;
use uid::check_pod_uid;

/// Where and how the node's pod network lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// The node bridge, e.g. `peapod0`.
    pub bridge_name: String,
    /// The node's `spec.podCIDR`, e.g. `10.42.0.0/24`; the bridge gets its first address.
    pub pod_cidr: String,
    /// IPAM records, one file per allocated IP (e.g. `DATA_DIR/agent/net`).
    pub state_dir: PathBuf,
    /// Pod network namespace files (e.g. `/run/peapod/netns`).
    pub netns_dir: PathBuf,
    /// Source-NAT pod traffic that leaves the node through anything but the bridge.
    pub masquerade: bool,
}

impl NetConfig {
    /// The defaults of a node: bridge `peapod0`, CIDR `10.42.0.0/24`, masquerade on.
    pub fn new(state_dir: impl Into<PathBuf>, netns_dir: impl Into<PathBuf>) -> Self {
        NetConfig {
            bridge_name: "peapod0".to_string(),
            pod_cidr: "10.42.0.0/24".to_string(),
            state_dir: state_dir.into(),
            netns_dir: netns_dir.into(),
            masquerade: true,
        }
    }
}

/// The bridge-based pod network. Create one per node with [`BridgeNetwork::new`] inside a
/// tokio runtime; a new instance over the same directories picks up existing pods.
pub struct BridgeNetwork {
    config: NetConfig,
    cidr: PodCidr,
    /// Netlink in the host namespace.
    host: rtnetlink::Handle,
    host_connection: JoinHandle<()>,
    bridge_index: u32,
    ipam: Mutex<Ipam>,
    /// Serializes setup/teardown so two calls for one pod never race on its namespace file;
    /// each call takes a few milliseconds, and the kernel serializes link changes anyway.
    ops: tokio::sync::Mutex<()>,
}

impl BridgeNetwork {
    /// Validates the config, loads IPAM state, makes sure the bridge is up with the gateway
    /// address, turns on IPv4 forwarding and installs the iptables rules.
    pub async fn new(config: NetConfig) -> Result<BridgeNetwork, NetError> {
        let name = &config.bridge_name;
        if name.is_empty() || name.len() > 15 || name.contains('/') || name.contains(char::is_whitespace) {
            return Err(NetError::InvalidBridgeName(name.clone()));
        }
        let cidr = PodCidr::parse(&config.pod_cidr)?;
        let ipam = Ipam::open(cidr, &config.state_dir)?;
        std::fs::create_dir_all(&config.netns_dir).map_err(|source| NetError::Netns {
            path: config.netns_dir.clone(),
            op: "create directory",
            source,
        })?;
        let (connection, host, _) = rtnetlink::new_connection().map_err(NetError::NetlinkSocket)?;
        let host_connection = tokio::spawn(connection);
        let bridge_index = bridge::ensure(&host, &config.bridge_name, &cidr).await?;
        bridge::enable_ip_forward()?;
        if config.masquerade {
            masquerade::ensure_masquerade(&cidr, &config.bridge_name).await?;
        }
        if config.masquerade || masquerade::available().await {
            masquerade::ensure_forward(&config.bridge_name).await?;
        }
        Ok(BridgeNetwork {
            config,
            cidr,
            host,
            host_connection,
            bridge_index,
            ipam: Mutex::new(ipam),
            ops: tokio::sync::Mutex::new(()),
        })
    }

    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// The bridge's (and every pod's gateway) address.
    pub fn gateway(&self) -> IpAddr {
        IpAddr::V4(self.cidr.gateway())
    }

    /// Deletes the bridge and this network's iptables rules (tests, node cleanup). Pods'
    /// namespaces and IPAM records are left alone: tear pods down first.
    pub async fn remove_bridge(&self) -> Result<(), NetError> {
        bridge::delete(&self.host, &self.config.bridge_name).await?;
        if self.config.masquerade || masquerade::available().await {
            masquerade::remove_all(&self.cidr, &self.config.bridge_name).await?;
        }
        Ok(())
    }

    /// The pod's network namespace file.
    pub fn netns_path(&self, pod_uid: &str) -> PathBuf {
        self.config.netns_dir.join(pod_uid)
    }

    fn ipam(&self) -> std::sync::MutexGuard<'_, Ipam> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing the whole network, so keep going with the data.
        self.ipam.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn setup_pod(&self, pod_uid: &str) -> Result<PodNetworkStatus, NetError> {
        check_pod_uid(pod_uid)?;
        let _serial = self.ops.lock().await;
        let (ip, allocated) = self.ipam().allocate(pod_uid)?;
        let path = self.netns_path(pod_uid);
        let mut created_netns = false;
        let result = async {
            let (netns, connection) = netns::open_or_create(path.clone()).await?;
            created_netns = netns.created;
            tokio::select! {
                result = self.connect_pod(pod_uid, ip, &netns) => result,
                () = connection => Err(NetError::NetlinkSocket(std::io::Error::other(
                    "the netlink connection inside the pod namespace closed",
                ))),
            }
        }
        .await;
        if result.is_err() {
            // Undo only what this call created: a re-run on a live pod must not break it.
            if created_netns && let Err(e) = netns::remove(&path) {
                tracing::warn!(pod_uid, error = %e, "rolling back the pod network namespace");
            }
            if allocated && let Err(e) = self.ipam().release(pod_uid) {
                tracing::warn!(pod_uid, error = %e, "rolling back the pod IP");
            }
        }
        result
    }

    /// Creates or repairs the veth pair and configures the pod side; idempotent.
    async fn connect_pod(&self, pod_uid: &str, ip: Ipv4Addr, netns: &PodNetns) -> Result<PodNetworkStatus, NetError> {
        let host_name = host_veth_name(pod_uid);
        let existing_eth0 = if netns.created { None } else { pod_interface::eth0_index(&netns.handle).await? };
        let eth0 = match existing_eth0 {
            Some(index) => {
                veth::attach(&self.host, &host_name, self.bridge_index).await?;
                index
            }
            None => {
                if !netns.created {
                    veth::delete_stale(&self.host, &host_name).await?;
                }
                veth::create(&self.host, &host_name, self.bridge_index, netns).await?;
                pod_interface::eth0_index(&netns.handle)
                    .await?
                    .ok_or_else(|| NetError::LinkNotFound(format!("{POD_INTERFACE} in {}", netns.path.display())))?
            }
        };
        pod_interface::configure(&netns.handle, eth0, ip, &self.cidr).await?;
        if netns.created
            && let Err(e) = neighbour::forget(&self.host, self.bridge_index, ip).await
        {
            // The pod works; only the host may reach it late, as it would without this.
            tracing::warn!(pod_uid, %ip, error = %e, "forgetting the previous owner of the pod IP");
        }
        Ok(PodNetworkStatus { netns_path: netns.path.clone(), ip: IpAddr::V4(ip) })
    }

    async fn teardown_pod(&self, pod_uid: &str) -> Result<(), NetError> {
        check_pod_uid(pod_uid)?;
        let _serial = self.ops.lock().await;
        veth::take_down(&self.host, &host_veth_name(pod_uid)).await?;
        // Namespace first: once it is gone the IP can no longer be in use by this pod.
        netns::remove(&self.netns_path(pod_uid))?;
        self.ipam().release(pod_uid)?;
        Ok(())
    }

    /// The pods this network holds an address for. Only the IPAM records of this network's
    /// own state directory count: the netns directory is host-wide (`/run/peapod/netns`) and
    /// may hold the namespaces of another agent's pods (another server on the same host, a test
    /// server), which the orphan cleanup of this agent must never tear down. No namespace of
    /// ours exists without its record: setup allocates the address before it creates the
    /// namespace, and teardown removes the namespace before it releases the address.
    fn list_pods(&self) -> Result<Vec<String>, NetError> {
        let mut uids: Vec<String> = self.ipam().pod_uids().map(str::to_string).collect();
        uids.sort();
        uids.dedup();
        Ok(uids)
    }
}

impl Drop for BridgeNetwork {
    fn drop(&mut self) {
        self.host_connection.abort();
    }
}

#[async_trait]
impl Network for BridgeNetwork {
    async fn setup(&self, pod: &PodNetworkConfig) -> Result<PodNetworkStatus, NetworkError> {
        let started = std::time::Instant::now();
        let status = self.setup_pod(&pod.pod_uid).await?;
        tracing::debug!(pod_uid = %pod.pod_uid, namespace = %pod.namespace, name = %pod.name, ip = %status.ip,
            elapsed = ?started.elapsed(), "pod network set up");
        Ok(status)
    }

    async fn teardown(&self, pod_uid: &str) -> Result<(), NetworkError> {
        Ok(self.teardown_pod(pod_uid).await?)
    }

    async fn list(&self) -> Result<Vec<String>, NetworkError> {
        Ok(self.list_pods()?)
    }

    fn pod_cidr(&self) -> String {
        self.cidr.to_string()
    }
}
