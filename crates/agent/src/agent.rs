//! The agent itself: its configuration, start-up (register the Node and its Lease, clean up
//! what belongs to pods that no longer exist, adopt the rest) and its loops (lease heartbeat,
//! node status, the pod watch feeding the pod workers, runtime events, the periodic relist).
//!
//! It wires the pieces together and owns no pod: every pod's lifecycle belongs to its pod
//! worker ([`crate::pod_workers`]). Stopping the agent leaves containers running; a new agent
//! adopts them.

use std::collections::HashSet;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use client::{Api, ListParams};
use k8s_openapi::api::core::v1::Pod;
use tokio::sync::mpsc;

use crate::container_locator::PodIndex;
use crate::crash_loop_backoff::Backoff;
use crate::events::EventRecorder;
use crate::network::Network;
use crate::node_status::{self, HostInfo, NodeStatusBuilder, Pressure};
use crate::pod_workers::PodWorkers;
use crate::prober_manager::ProberManager;
use crate::runtime::Runtime;
use crate::server::ContainerLocator;
use crate::volumes::VolumeManager;
use crate::{node_lease, node_status::allocatable};

/// How the agent runs. [`AgentConfig::new`] gives the kubelet's defaults.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub node_name: String,
    /// `DATA_DIR/agent`: pod volumes under `pods/`, container logs under `logs/`.
    pub data_dir: PathBuf,
    /// The node's `InternalIP` and every pod's `hostIP`.
    pub node_ip: IpAddr,
    /// `daemonEndpoints.kubeletEndpoint.Port`: where the logs/exec server listens.
    pub kubelet_port: u16,
    /// `spec.podCIDR`; default: the network's.
    pub pod_cidr: Option<String>,
    /// Capacity overrides (tests); default: the host's.
    pub cpu_millis: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub ephemeral_storage_bytes: Option<i64>,
    pub max_pods: u32,
    /// How often the node status is reported when nothing changed.
    pub status_update_period: Duration,
    /// `leaseDurationSeconds` of the node Lease; it is renewed every quarter of it (10 s).
    pub lease_duration_seconds: i32,
    /// The periodic resync of every pod with the runtime (PLEG's relist).
    pub relist_period: Duration,
    /// CrashLoopBackOff and ImagePullBackOff: first delay and cap (10 s and 300 s).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How often emptyDir usage is measured against `sizeLimit` (the kubelet's eviction
    /// manager monitors every 10 s).
    pub eviction_monitoring_period: Duration,
}

impl AgentConfig {
    pub fn new(node_name: impl Into<String>, data_dir: impl Into<PathBuf>, node_ip: IpAddr) -> Self {
        AgentConfig {
            node_name: node_name.into(),
            data_dir: data_dir.into(),
            node_ip,
            kubelet_port: 10250,
            pod_cidr: None,
            cpu_millis: None,
            memory_bytes: None,
            ephemeral_storage_bytes: None,
            max_pods: 110,
            status_update_period: Duration::from_secs(10),
            lease_duration_seconds: 40,
            relist_period: Duration::from_secs(1),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            eviction_monitoring_period: Duration::from_secs(10),
        }
    }

    /// The node lease renewal interval: a quarter of its duration, as the kubelet does.
    pub fn lease_renew_interval(&self) -> Duration {
        Duration::from_millis((self.lease_duration_seconds.max(1) as u64 * 1000) / 4)
    }

    pub fn pods_dir(&self) -> PathBuf {
        self.data_dir.join("pods")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("create the agent's data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Node(#[from] node_status::NodeStatusError),
}

/// What every pod worker shares.
pub(crate) struct Context {
    pub config: AgentConfig,
    pub client: client::Client,
    pub runtime: Arc<dyn Runtime>,
    pub network: Arc<dyn Network>,
    pub volumes: VolumeManager,
    pub events: EventRecorder,
    pub crash_backoff: Backoff,
    pub image_backoff: Backoff,
    pub probes: ProberManager,
    /// `crun` of `crun://1.8.1`: the scheme of container IDs in statuses.
    pub runtime_prefix: String,
    pub allocatable_cpu_millis: i64,
    pub allocatable_memory_bytes: i64,
    /// What the streaming server looks containers up in.
    pub index: Arc<PodIndex>,
    pub unreachable_images: crate::image_puller::UnreachableImages,
}

pub struct Agent {
    config: AgentConfig,
    client: client::Client,
    runtime: Arc<dyn Runtime>,
    network: Arc<dyn Network>,
    index: Arc<PodIndex>,
}

impl Agent {
    pub fn new(
        config: AgentConfig,
        client: client::Client,
        runtime: Arc<dyn Runtime>,
        network: Arc<dyn Network>,
    ) -> Self {
        Agent { config, client, runtime, network, index: Arc::new(PodIndex::new()) }
    }

    /// Where the streaming server (logs, exec, attach) finds a pod's containers; valid for
    /// the whole life of [`Agent::run`].
    pub fn container_locator(&self) -> Arc<dyn ContainerLocator> {
        self.index.clone()
    }

    /// Runs until `shutdown` completes. Fails only if the node cannot be registered at all
    /// (it retries while the API server is unreachable).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
        let Agent { config, client, runtime, network, index } = self;
        for dir in [config.data_dir.clone(), config.pods_dir(), config.logs_dir()] {
            std::fs::create_dir_all(&dir).map_err(|source| AgentError::DataDir { path: dir.clone(), source })?;
        }
        let host = HostInfo::detect(&config.data_dir);
        let pod_cidr = config.pod_cidr.clone().unwrap_or_else(|| network.pod_cidr());
        let mut builder = NodeStatusBuilder::new(config.clone(), host, runtime.clone(), pod_cidr);
        tokio::pin!(shutdown);
        let node_uid = tokio::select! {
            uid = register_until_done(&client, &mut builder) => uid,
            () = &mut shutdown => return Ok(()),
        };
        let events = EventRecorder::start(client.clone(), config.node_name.clone());
        events.node(&config.node_name, crate::events::NORMAL, "Starting", "Starting kubelet.".into());

        let (resync_tx, resync_rx) = mpsc::unbounded_channel();
        let capacity = builder.capacity();
        let allocatable = allocatable(capacity);
        let runtime_version = runtime.runtime_version();
        let context = Arc::new(Context {
            volumes: VolumeManager::new(client.clone(), config.pods_dir()),
            events: events.clone(),
            crash_backoff: Backoff::new(config.backoff_base, config.backoff_max),
            image_backoff: Backoff::new(config.backoff_base, config.backoff_max),
            probes: ProberManager::new(runtime.clone(), events, resync_tx),
            runtime_prefix: runtime_version.split_once("://").map_or(runtime_version.as_str(), |(p, _)| p).to_string(),
            allocatable_cpu_millis: allocatable.cpu_millis,
            allocatable_memory_bytes: allocatable.memory_bytes,
            index,
            unreachable_images: Default::default(),
            config: config.clone(),
            client: client.clone(),
            runtime,
            network,
        });

        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(lease_loop(client.clone(), config.clone(), node_uid));
        tasks.spawn(node_status_loop(client.clone(), builder));
        let workers = PodWorkers::new(context.clone());
        cleanup_orphans(&context).await;
        tasks.spawn(workers.clone().run(resync_rx));

        shutdown.await;
        tracing::info!(node = %config.node_name, "node agent stopping; containers keep running");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        workers.stop().await;
        Ok(())
    }
}

/// Registers the Node (retrying while the API is unreachable) and its Lease.
async fn register_until_done(client: &client::Client, builder: &mut NodeStatusBuilder) -> String {
    let mut delay = Duration::from_millis(200);
    loop {
        let status = builder.status(Pressure::measure(&builder.config.data_dir)).await;
        match node_status::register(client, builder, status).await {
            Ok(uid) => {
                let config = &builder.config;
                if let Err(error) =
                    node_lease::ensure(client, &config.node_name, &uid, config.lease_duration_seconds).await
                {
                    tracing::warn!(%error, "could not create the node lease; the heartbeat will retry");
                }
                return uid;
            }
            Err(error) => {
                tracing::warn!(%error, "node registration failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(7));
            }
        }
    }
}

async fn lease_loop(client: client::Client, config: AgentConfig, node_uid: String) {
    let mut ticker = tokio::time::interval(config.lease_renew_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match node_lease::renew(&client, &config.node_name, config.lease_duration_seconds).await {
            Ok(()) => {}
            Err(error) if error.is_not_found() => {
                if let Err(error) =
                    node_lease::ensure(&client, &config.node_name, &node_uid, config.lease_duration_seconds).await
                {
                    tracing::warn!(%error, "could not recreate the node lease");
                }
            }
            Err(error) => tracing::warn!(%error, "node lease renewal failed"),
        }
    }
}

/// How often an unchanged node status is reported anyway (the kubelet's
/// `nodeStatusReportFrequency` is 5 minutes; peapod's node controller reads the Lease).
const NODE_STATUS_REPORT_FREQUENCY: Duration = Duration::from_secs(60);

async fn node_status_loop(client: client::Client, mut builder: NodeStatusBuilder) {
    let mut ticker = tokio::time::interval(builder.config.status_update_period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<serde_json::Value> = None;
    let mut last_report = tokio::time::Instant::now();
    loop {
        ticker.tick().await;
        let status = builder.status(Pressure::measure(&builder.config.data_dir)).await;
        let comparable = node_status::without_heartbeats(&status);
        if last.as_ref() == Some(&comparable) && last_report.elapsed() < NODE_STATUS_REPORT_FREQUENCY {
            continue;
        }
        match node_status::update(&client, &builder.config.node_name, &status).await {
            Ok(()) => {
                last = Some(comparable);
                last_report = tokio::time::Instant::now();
            }
            Err(error) => {
                tracing::warn!(%error, "node status update failed");
                // The Node was deleted: register it again.
                let status = builder.status(Pressure::measure(&builder.config.data_dir)).await;
                if let Err(error) = node_status::register(&client, &builder, status).await {
                    tracing::warn!(%error, "node re-registration failed");
                }
            }
        }
    }
}

/// Removes the sandboxes, volumes and networks of pods that are no longer bound to this node
/// in the API (deleted while the agent was down). Pods that still exist are left to their
/// pod workers, which adopt their containers.
async fn cleanup_orphans(context: &Context) {
    let pods: Api<Pod> = Api::all(context.client.clone());
    let params = ListParams::default().fields(format!("spec.nodeName={}", context.config.node_name));
    let existing: HashSet<String> = match pods.list_all(&params).await {
        Ok(list) => list.items.into_iter().filter_map(|p| p.metadata.uid).collect(),
        Err(error) => {
            // Without the list we cannot tell orphans from live pods: remove nothing.
            tracing::warn!(%error, "could not list this node's pods; skipping orphan cleanup");
            return;
        }
    };
    let mut on_node: HashSet<String> = HashSet::new();
    match context.runtime.list_pod_sandboxes().await {
        Ok(uids) => on_node.extend(uids),
        Err(error) => tracing::warn!(%error, "could not list pod sandboxes"),
    }
    match context.network.list().await {
        Ok(uids) => on_node.extend(uids),
        Err(error) => tracing::warn!(%error, "could not list pod networks"),
    }
    match context.volumes.list().await {
        Ok(uids) => on_node.extend(uids),
        Err(error) => tracing::warn!(%error, "could not list pod volumes"),
    }
    for uid in on_node.difference(&existing) {
        tracing::info!(pod_uid = %uid, "removing what is left of a pod deleted while the agent was down");
        crate::pod_sync::teardown(context, uid).await;
    }
}
