//! Simulated nodes, as kwok does for Kubernetes: N Node objects with capacity, conditions and
//! node info, heartbeats through Leases in `kube-node-lease` (and, less often, node status),
//! and the pod lifecycle a kubelet would play for pods bound to them — Running and Ready at
//! once, or a configurable share Failed or Succeeded — without any container.
//!
//! Scales to thousands of nodes in one process: one pod watch shared by all nodes, lease
//! renewals spread evenly over the interval, and a bounded number of API writes in flight.
//! To the control plane the nodes are indistinguishable from real ones; stopping one's
//! heartbeats ([`SimNodes::pause_heartbeats`]) or the whole process makes them go stale.
//!
//! Owns only what a kubelet owns: its Node, its Lease, and the status and final deletion of
//! the pods bound to it. It never schedules or creates pods.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use client::watcher::{self, Event};
use client::{Api, DeleteParams, Patch, Preconditions};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The namespace of node heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The annotation marking a simulated node (kwok uses `kwok.x-k8s.io/node: fake`).
pub const SIM_NODE_ANNOTATION: &str = "peapod.io/sim-node";

/// How the simulated nodes look and behave.
#[derive(Clone, Debug)]
pub struct SimNodesConfig {
    /// Nodes are named `<prefix>-<index>` (index zero-padded to 4 digits).
    pub name_prefix: String,
    pub count: usize,
    /// The capacity (and allocatable) of each node.
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    pub ephemeral_storage: String,
    /// Share (0..=1) of pods that fail (phase Failed, exit code 1).
    pub fail_share: f64,
    /// Share (0..=1) of pods that complete (phase Succeeded, exit code 0).
    pub complete_share: f64,
    /// Lease renewal period (the kubelet's 10 s).
    pub lease_interval: Duration,
    /// `leaseDurationSeconds` of the Leases (the kubelet's 40).
    pub lease_duration_seconds: i32,
    /// Node status heartbeat period (the kubelet reports unchanged status every 5 min; kwok
    /// more often).
    pub status_interval: Duration,
    /// API writes in flight at once.
    pub parallelism: usize,
    /// Extra labels for every node.
    pub labels: BTreeMap<String, String>,
}

impl Default for SimNodesConfig {
    fn default() -> Self {
        SimNodesConfig {
            name_prefix: "sim".into(),
            count: 1,
            cpu: "32".into(),
            memory: "256Gi".into(),
            pods: 110,
            ephemeral_storage: "100Gi".into(),
            fail_share: 0.0,
            complete_share: 0.0,
            lease_interval: Duration::from_secs(10),
            lease_duration_seconds: 40,
            status_interval: Duration::from_secs(60),
            parallelism: 32,
            labels: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimNodesError {
    #[error("invalid simulated node configuration: {0}")]
    Config(String),
    #[error("register node {node}: {source}")]
    Register {
        node: String,
        #[source]
        source: client::Error,
    },
}

/// Counters of what the simulated kubelets did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub deleted: u64,
    pub lease_renewals: u64,
    pub write_errors: u64,
}

#[derive(Default)]
struct Counters {
    running: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    deleted: AtomicU64,
    lease_renewals: AtomicU64,
    write_errors: AtomicU64,
}

struct SimNode {
    name: String,
    index: usize,
    node_ip: String,
    /// The next pod IP's host part within the node's /24.
    next_pod_ip: AtomicU32,
}

impl SimNode {
    fn pod_ip(&self) -> String {
        let host = self.next_pod_ip.fetch_add(1, Ordering::Relaxed) % 254 + 1;
        let (a, b) = pod_cidr_octets(self.index);
        format!("10.{a}.{b}.{host}")
    }
}

fn pod_cidr_octets(index: usize) -> (usize, usize) {
    ((index / 256) % 256, index % 256)
}

struct Inner {
    client: client::Client,
    config: SimNodesConfig,
    nodes: Vec<SimNode>,
    by_name: HashMap<String, usize>,
    paused: Mutex<HashSet<String>>,
    /// Pod UIDs whose start or deletion is under way, so repeated watch events do not
    /// repeat the write.
    handled: Mutex<HashSet<String>>,
    counters: Counters,
    writes: Arc<Semaphore>,
    started_at: jiff::Timestamp,
}

impl Inner {
    fn is_paused(&self, name: &str) -> bool {
        self.paused.lock().unwrap_or_else(PoisonError::into_inner).contains(name)
    }
}

/// A running set of simulated nodes. Dropping it (or [`stop`](Self::stop)) stops their
/// heartbeats; the Node objects stay, as when a machine dies.
pub struct SimNodes {
    inner: Arc<Inner>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for SimNodes {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl SimNodes {
    /// Registers the nodes and their Leases, then runs heartbeats and pod lifecycles in
    /// background tasks. A node that already exists is taken over (its status refreshed).
    pub async fn start(client: client::Client, config: SimNodesConfig) -> Result<SimNodes, SimNodesError> {
        let shares = [config.fail_share, config.complete_share];
        if shares.iter().any(|s| !(0.0..=1.0).contains(s)) || config.fail_share + config.complete_share > 1.0 {
            return Err(SimNodesError::Config(
                "fail and complete shares must be within 0..=1 and sum to at most 1".into(),
            ));
        }
        if config.lease_interval.is_zero() || config.status_interval.is_zero() {
            return Err(SimNodesError::Config("heartbeat intervals must be positive".into()));
        }
        let width = if config.count > 10_000 { 6 } else { 4 };
        let nodes: Vec<SimNode> = (0..config.count)
            .map(|index| {
                let ip = index + 1;
                SimNode {
                    name: format!("{}-{index:0width$}", config.name_prefix),
                    index,
                    node_ip: format!("172.{}.{}.{}", 16 + (ip >> 16) % 16, (ip >> 8) % 256, ip % 256),
                    next_pod_ip: AtomicU32::new(0),
                }
            })
            .collect();
        let by_name = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
        let inner = Arc::new(Inner {
            client,
            writes: Arc::new(Semaphore::new(config.parallelism.max(1))),
            config,
            nodes,
            by_name,
            paused: Mutex::new(HashSet::new()),
            handled: Mutex::new(HashSet::new()),
            counters: Counters::default(),
            started_at: jiff::Timestamp::now(),
        });
        let parallelism = inner.config.parallelism.max(1);
        let registered: Vec<Result<(), SimNodesError>> = futures::stream::iter(0..inner.nodes.len())
            .map(|i| {
                let inner = inner.clone();
                async move { register(&inner, i).await }
            })
            .buffer_unordered(parallelism)
            .collect()
            .await;
        registered.into_iter().collect::<Result<Vec<()>, _>>()?;

        let shutdown = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(heartbeat_loop(inner.clone(), Heartbeat::Lease, shutdown.clone())),
            tokio::spawn(heartbeat_loop(inner.clone(), Heartbeat::Status, shutdown.clone())),
            tokio::spawn(pod_loop(inner.clone(), shutdown.clone())),
        ];
        Ok(SimNodes { inner, shutdown, tasks })
    }

    /// The node names, in index order.
    pub fn names(&self) -> Vec<String> {
        self.inner.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Stops one node's lease and status heartbeats and its pod handling, as if its kubelet
    /// died. False for a name that is not ours.
    pub fn pause_heartbeats(&self, name: &str) -> bool {
        if !self.inner.by_name.contains_key(name) {
            return false;
        }
        self.inner.paused.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_string());
        true
    }

    /// Restarts a paused node's heartbeats at once.
    pub fn resume_heartbeats(&self, name: &str) -> bool {
        let Some(&index) = self.inner.by_name.get(name) else { return false };
        self.inner.paused.lock().unwrap_or_else(PoisonError::into_inner).remove(name);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            renew_lease(&inner, index).await;
            report_status(&inner, index).await;
        });
        true
    }

    pub fn stats(&self) -> SimStats {
        let c = &self.inner.counters;
        SimStats {
            running: c.running.load(Ordering::Relaxed),
            succeeded: c.succeeded.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            deleted: c.deleted.load(Ordering::Relaxed),
            lease_renewals: c.lease_renewals.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
        }
    }

    /// Stops every heartbeat and the pod handling, and waits for the tasks to end.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

fn node_object(inner: &Inner, node: &SimNode) -> Value {
    let config = &inner.config;
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "peapod-sim",
    });
    for (key, value) in &config.labels {
        labels[key] = json!(value);
    }
    let (a, b) = pod_cidr_octets(node.index);
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": labels,
            "annotations": {
                SIM_NODE_ANNOTATION: "true",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"podCIDR": format!("10.{a}.{b}.0/24"), "podCIDRs": [format!("10.{a}.{b}.0/24")]},
        "status": node_status(inner, node),
    })
}

fn node_status(inner: &Inner, node: &SimNode) -> Value {
    let config = &inner.config;
    let now = Time(jiff::Timestamp::now());
    let since = Time(inner.started_at);
    let resources = json!({
        "cpu": config.cpu,
        "memory": config.memory,
        "pods": config.pods.to_string(),
        "ephemeral-storage": config.ephemeral_storage,
    });
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": type_, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": since,
        })
    };
    json!({
        "capacity": resources,
        "allocatable": resources,
        "phase": "Running",
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": node.node_ip},
            {"type": "Hostname", "address": node.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": format!("{:032x}", node.index),
            "systemUUID": format!("{:032x}", node.index),
            "bootID": format!("{:032x}", node.index),
            "kernelVersion": "6.1.0-sim",
            "osImage": "peapod simulated node",
            "containerRuntimeVersion": "sim://1.0",
            "kubeletVersion": "v1.33.0",
            "kubeProxyVersion": "v1.33.0",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    })
}

async fn register(inner: &Inner, index: usize) -> Result<(), SimNodesError> {
    let node = &inner.nodes[index];
    let nodes: Api<Value> = Api::with_resource(inner.client.clone(), client::ApiResource::of::<Node>(), None);
    let error = |source| SimNodesError::Register { node: node.name.clone(), source };
    match nodes.create(&node_object(inner, node)).await {
        Ok(_) => {}
        Err(e) if e.is_already_exists() => {}
        Err(e) => return Err(error(e)),
    }
    // Status may be reset on create (and is stale on a taken-over node): report it.
    nodes.patch_status(&node.name, &Patch::Merge(json!({"status": node_status(inner, node)}))).await.map_err(error)?;
    let created = nodes.get(&node.name).await.map_err(error)?;
    let uid = created.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string();
    let leases: Api<Lease> = Api::namespaced(inner.client.clone(), NODE_LEASE_NAMESPACE);
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {
            "name": node.name,
            "namespace": NODE_LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": uid}],
        },
        "spec": lease_spec(inner, node),
    }))
    .map_err(|e| error(client::Error::from(e)))?;
    match leases.create(&lease).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_already_exists() => {
            leases.patch(&node.name, &Patch::Merge(json!({"spec": lease_spec(inner, node)}))).await.map_err(error)?;
            Ok(())
        }
        Err(e) => Err(error(e)),
    }
}

fn lease_spec(inner: &Inner, node: &SimNode) -> Value {
    json!({
        "holderIdentity": node.name,
        "leaseDurationSeconds": inner.config.lease_duration_seconds,
        "renewTime": MicroTime(jiff::Timestamp::now()),
    })
}

#[derive(Clone, Copy)]
enum Heartbeat {
    Lease,
    Status,
}

/// One heartbeat per node per interval, spread evenly: node i beats at offset i·interval/N.
async fn heartbeat_loop(inner: Arc<Inner>, kind: Heartbeat, shutdown: CancellationToken) {
    let count = inner.nodes.len();
    if count == 0 {
        return;
    }
    let interval = match kind {
        Heartbeat::Lease => inner.config.lease_interval,
        Heartbeat::Status => inner.config.status_interval,
    };
    let spacing = (interval / count as u32).max(Duration::from_millis(1));
    // With more nodes than milliseconds in the interval, several beat per tick.
    let per_tick = count.div_ceil((interval.as_millis().max(1) as usize).min(count)).max(1);
    let mut ticker = tokio::time::interval(spacing);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0usize;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        for _ in 0..per_tick {
            let index = next;
            next = (next + 1) % count;
            if inner.is_paused(&inner.nodes[index].name) {
                continue;
            }
            let Ok(permit) = inner.writes.clone().acquire_owned().await else { return };
            let inner = inner.clone();
            tokio::spawn(async move {
                match kind {
                    Heartbeat::Lease => renew_lease(&inner, index).await,
                    Heartbeat::Status => report_status(&inner, index).await,
                }
                drop(permit);
            });
        }
    }
}

async fn renew_lease(inner: &Inner, index: usize) {
    let node = &inner.nodes[index];
    let leases: Api<Lease> = Api::namespaced(inner.client.clone(), NODE_LEASE_NAMESPACE);
    match leases.patch(&node.name, &Patch::Merge(json!({"spec": lease_spec(inner, node)}))).await {
        Ok(_) => {
            inner.counters.lease_renewals.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => {
            inner.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(node = %node.name, %error, "lease renewal failed");
            if error.is_not_found() {
                // Deleted (by the node's garbage collection or a user): register again.
                let _ = register(inner, index).await;
            }
        }
    }
}

async fn report_status(inner: &Inner, index: usize) {
    let node = &inner.nodes[index];
    let nodes: Api<Node> = Api::all(inner.client.clone());
    if let Err(error) = nodes.patch_status(&node.name, &Patch::Merge(json!({"status": node_status(inner, node)}))).await
    {
        inner.counters.write_errors.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(node = %node.name, %error, "node status update failed");
    }
}

/// What the simulated kubelet does with a pod it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Start,
    Delete,
}

/// The one pod watch of all simulated nodes: pods bound to any node, filtered to ours.
async fn pod_loop(inner: Arc<Inner>, shutdown: CancellationToken) {
    let pods: Api<Pod> = Api::all(inner.client.clone());
    let events = watcher::watcher(pods, watcher::Config::default().fields("spec.nodeName!="));
    futures::pin_mut!(events);
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.next() => event,
        };
        let Some(event) = event else { return };
        let pod = match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => pod,
            Ok(Event::Delete(pod)) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    let mut handled = inner.handled.lock().unwrap_or_else(PoisonError::into_inner);
                    handled.remove(&format!("{uid}/{:?}", Action::Start));
                    handled.remove(&format!("{uid}/{:?}", Action::Delete));
                }
                continue;
            }
            Ok(Event::Init | Event::InitDone) => continue,
            Err(error) => {
                tracing::warn!(%error, "sim-nodes: pod watch failed; retrying");
                continue;
            }
        };
        let Some((index, action)) = decide(&inner, &pod) else { continue };
        let Some(uid) = pod.metadata.uid.clone() else { continue };
        {
            let mut handled = inner.handled.lock().unwrap_or_else(PoisonError::into_inner);
            // Keyed by action too: a started pod is later deleted.
            if !handled.insert(format!("{uid}/{action:?}")) {
                continue;
            }
        }
        let Ok(permit) = inner.writes.clone().acquire_owned().await else { return };
        let inner = inner.clone();
        tokio::spawn(async move {
            match action {
                Action::Start => start_pod(&inner, index, &pod).await,
                Action::Delete => delete_pod(&inner, &pod).await,
            }
            drop(permit);
        });
    }
}

fn decide(inner: &Inner, pod: &Pod) -> Option<(usize, Action)> {
    let node_name = pod.spec.as_ref()?.node_name.as_deref()?;
    let &index = inner.by_name.get(node_name)?;
    if inner.is_paused(node_name) {
        return None;
    }
    if pod.metadata.deletion_timestamp.is_some() {
        return Some((index, Action::Delete));
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    (phase == "Pending").then_some((index, Action::Start))
}

/// FNV-1a of the pod UID as a fraction in 0..1: the same pod always gets the same fate.
fn fate_of(uid: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in uid.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % 1_000_000) as f64 / 1_000_000.0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Outcome {
    Running,
    Succeeded,
    Failed,
}

fn outcome(config: &SimNodesConfig, uid: &str) -> Outcome {
    let fate = fate_of(uid);
    if fate < config.fail_share {
        Outcome::Failed
    } else if fate < config.fail_share + config.complete_share {
        Outcome::Succeeded
    } else {
        Outcome::Running
    }
}

/// The status a kubelet reports once the pod's containers run (or ran).
fn pod_status(node: &SimNode, pod: &Pod, outcome: Outcome, pod_ip: &str) -> Value {
    let now = Time(jiff::Timestamp::now());
    let spec = pod.spec.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let running = outcome == Outcome::Running;
    let ready_condition = |type_: &str| match outcome {
        Outcome::Running => json!({"type": type_, "status": "True", "lastProbeTime": null, "lastTransitionTime": now}),
        Outcome::Succeeded => {
            json!({"type": type_, "status": "False", "reason": "PodCompleted", "lastProbeTime": null, "lastTransitionTime": now})
        }
        Outcome::Failed => {
            json!({"type": type_, "status": "False", "reason": "PodFailed", "lastProbeTime": null, "lastTransitionTime": now})
        }
    };
    let state = |exit_code: i32, reason: &str| {
        json!({"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": now, "finishedAt": now,
            "containerID": format!("sim://{uid}")}})
    };
    let container_statuses: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            let container_state = match outcome {
                Outcome::Running => json!({"running": {"startedAt": now}}),
                Outcome::Succeeded => state(0, "Completed"),
                Outcome::Failed => state(1, "Error"),
            };
            json!({
                "name": c.name,
                "image": c.image.clone().unwrap_or_default(),
                "imageID": format!("sim://{}", c.image.clone().unwrap_or_default()),
                "containerID": format!("sim://{uid}/{}", c.name),
                "ready": running,
                "started": running,
                "restartCount": 0,
                "state": container_state,
                "lastState": {},
            })
        })
        .collect();
    let init_statuses: Vec<Value> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            let container_state =
                if sidecar && running { json!({"running": {"startedAt": now}}) } else { state(0, "Completed") };
            json!({
                "name": c.name,
                "image": c.image.clone().unwrap_or_default(),
                "imageID": format!("sim://{}", c.image.clone().unwrap_or_default()),
                "containerID": format!("sim://{uid}/{}", c.name),
                "ready": !sidecar || running,
                "started": sidecar && running,
                "restartCount": 0,
                "state": container_state,
                "lastState": {},
            })
        })
        .collect();
    let phase = match outcome {
        Outcome::Running => "Running",
        Outcome::Succeeded => "Succeeded",
        Outcome::Failed => "Failed",
    };
    let pod_ip = if spec.host_network == Some(true) { node.node_ip.clone() } else { pod_ip.to_string() };
    let mut status = json!({
        "phase": phase,
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": if running { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
            ready_condition("Ready"),
            ready_condition("ContainersReady"),
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now},
        ],
        "hostIP": node.node_ip,
        "hostIPs": [{"ip": node.node_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": now,
        "containerStatuses": container_statuses,
    });
    if !init_statuses.is_empty() {
        status["initContainerStatuses"] = json!(init_statuses);
    }
    status
}

async fn start_pod(inner: &Inner, index: usize, pod: &Pod) {
    let node = &inner.nodes[index];
    let (Some(namespace), Some(name), Some(uid)) =
        (pod.metadata.namespace.as_deref(), pod.metadata.name.as_deref(), pod.metadata.uid.as_deref())
    else {
        return;
    };
    let outcome = outcome(&inner.config, uid);
    let status = pod_status(node, pod, outcome, &node.pod_ip());
    let pods: Api<Pod> = Api::namespaced(inner.client.clone(), namespace);
    match pods.patch_status(name, &Patch::Merge(json!({"status": status}))).await {
        Ok(_) => {
            let counter = match outcome {
                Outcome::Running => &inner.counters.running,
                Outcome::Succeeded => &inner.counters.succeeded,
                Outcome::Failed => &inner.counters.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => {
            if !error.is_not_found() {
                inner.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(pod = %format!("{namespace}/{name}"), %error, "pod status update failed");
            }
            // Let a later event retry.
            inner.handled.lock().unwrap_or_else(PoisonError::into_inner).remove(&format!("{uid}/{:?}", Action::Start));
        }
    }
}

/// The kubelet's last word on a terminating pod: containers are gone, delete it for good.
async fn delete_pod(inner: &Inner, pod: &Pod) {
    let (Some(namespace), Some(name), Some(uid)) =
        (pod.metadata.namespace.as_deref(), pod.metadata.name.as_deref(), pod.metadata.uid.as_deref())
    else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(inner.client.clone(), namespace);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
        ..DeleteParams::default()
    };
    match pods.delete(name, &params).await {
        Ok(_) => {
            inner.counters.deleted.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) if error.is_not_found() || error.is_conflict() => {}
        Err(error) => {
            inner.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(pod = %format!("{namespace}/{name}"), %error, "pod deletion failed");
            inner.handled.lock().unwrap_or_else(PoisonError::into_inner).remove(&format!("{uid}/{:?}", Action::Delete));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates_follow_the_shares() {
        let config = SimNodesConfig { fail_share: 0.2, complete_share: 0.3, ..SimNodesConfig::default() };
        let mut counts = HashMap::new();
        for i in 0..10_000 {
            *counts.entry(outcome(&config, &format!("uid-{i}"))).or_insert(0usize) += 1;
        }
        let share = |o| counts.get(&o).copied().unwrap_or(0) as f64 / 10_000.0;
        assert!((share(Outcome::Failed) - 0.2).abs() < 0.03, "{counts:?}");
        assert!((share(Outcome::Succeeded) - 0.3).abs() < 0.03, "{counts:?}");
        assert_eq!(outcome(&config, "same"), outcome(&config, "same"));
        let none = SimNodesConfig::default();
        assert!((0..1000).all(|i| outcome(&none, &format!("u{i}")) == Outcome::Running));
    }

    #[test]
    fn running_status_looks_like_a_kubelets() {
        let node =
            SimNode { name: "sim-0001".into(), index: 1, node_ip: "172.16.0.2".into(), next_pod_ip: AtomicU32::new(0) };
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {
                "containers": [{"name": "app", "image": "nginx"}],
                "initContainers": [{"name": "setup", "image": "busybox"}, {"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]
            }
        }))
        .expect("pod");
        let ip = node.pod_ip();
        assert_eq!(ip, "10.0.1.1");
        let status = pod_status(&node, &pod, Outcome::Running, &ip);
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["podIP"], "10.0.1.1");
        assert_eq!(status["hostIP"], "172.16.0.2");
        let conditions: Vec<(&str, &str)> = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["type"].as_str().unwrap_or(""), c["status"].as_str().unwrap_or("")))
            .collect();
        for wanted in ["Initialized", "Ready", "ContainersReady", "PodScheduled"] {
            assert!(conditions.contains(&(wanted, "True")), "{wanted}: {conditions:?}");
        }
        assert_eq!(status["containerStatuses"][0]["ready"], true);
        assert!(status["containerStatuses"][0]["state"]["running"]["startedAt"].is_string());
        assert_eq!(status["initContainerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
        assert!(status["initContainerStatuses"][1]["state"]["running"].is_object());

        let failed = pod_status(&node, &pod, Outcome::Failed, &ip);
        assert_eq!(failed["phase"], "Failed");
        assert_eq!(failed["containerStatuses"][0]["state"]["terminated"]["exitCode"], 1);
        assert_eq!(failed["containerStatuses"][0]["ready"], false);
        let done = pod_status(&node, &pod, Outcome::Succeeded, &ip);
        assert_eq!(done["phase"], "Succeeded");
        assert_eq!(done["containerStatuses"][0]["state"]["terminated"]["exitCode"], 0);
    }

    #[test]
    fn node_objects_carry_kubelet_fields() {
        let client = client::Client::new(client::Config::new("http://127.0.0.1:1", None, None)).expect("client");
        let config = SimNodesConfig { cpu: "8".into(), memory: "16Gi".into(), pods: 50, ..SimNodesConfig::default() };
        let inner = Inner {
            client,
            writes: Arc::new(Semaphore::new(1)),
            config,
            nodes: vec![],
            by_name: HashMap::new(),
            paused: Mutex::new(HashSet::new()),
            handled: Mutex::new(HashSet::new()),
            counters: Counters::default(),
            started_at: jiff::Timestamp::now(),
        };
        let node = SimNode {
            name: "sim-0300".into(),
            index: 300,
            node_ip: "172.16.1.45".into(),
            next_pod_ip: AtomicU32::new(0),
        };
        let object = node_object(&inner, &node);
        assert_eq!(object["metadata"]["labels"]["kubernetes.io/hostname"], "sim-0300");
        assert_eq!(object["spec"]["podCIDR"], "10.1.44.0/24");
        assert_eq!(object["status"]["allocatable"]["cpu"], "8");
        assert_eq!(object["status"]["capacity"]["pods"], "50");
        assert_eq!(object["status"]["nodeInfo"]["kubeletVersion"], "v1.33.0");
        assert_eq!(object["status"]["nodeInfo"]["containerRuntimeVersion"], "sim://1.0");
        let ready =
            object["status"]["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "Ready")).cloned();
        assert_eq!(ready.map(|c| c["status"].clone()), Some(json!("True")));
        // The object decodes as a Node.
        let _: Node = serde_json::from_value(object).expect("valid Node");
    }
}
