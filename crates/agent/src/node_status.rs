//! The agent's Node object: registration (create, or take over an existing Node of the same
//! name) and the periodic status report: capacity and allocatable (as the kubelet computes
//! them: allocatable = capacity minus the hard eviction thresholds), addresses, nodeInfo,
//! the images the node holds, daemonEndpoints and the conditions Ready, MemoryPressure,
//! DiskPressure and PIDPressure with the kubelet's reasons and messages.
//!
//! It owns the Node's status and its registration metadata only. Taints belong to the node
//! lifecycle controller, the Lease to [`crate::node_lease`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use client::{Api, Patch};
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

use crate::agent::AgentConfig;
use crate::runtime::Runtime;

/// `nodeInfo.kubeletVersion`: the Kubernetes version peapod serves, marked as peapod's.
pub const KUBELET_VERSION: &str = "v1.33.0-peapod";
/// The kubelet's default hard eviction threshold `memory.available<100Mi`.
const MEMORY_EVICTION_BYTES: i64 = 100 * 1024 * 1024;
/// `nodefs.available<10%`.
const NODEFS_EVICTION_PERCENT: f64 = 10.0;
/// `nodefs.inodesFree<5%`.
const INODES_EVICTION_PERCENT: f64 = 5.0;

#[derive(Debug, thiserror::Error)]
pub enum NodeStatusError {
    #[error("register node {node}: {source}")]
    Register {
        node: String,
        #[source]
        source: client::Error,
    },
    #[error("update the status of node {node}: {source}")]
    Update {
        node: String,
        #[source]
        source: client::Error,
    },
}

/// What the host tells about itself, read once at start (and the pressure figures on every
/// report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub ephemeral_storage_bytes: i64,
    pub kernel_version: String,
    pub os_image: String,
    pub machine_id: String,
    pub system_uuid: String,
    pub boot_id: String,
    pub architecture: String,
    pub hostname: String,
}

/// Capacity and allocatable, in the units the kubelet reports them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub ephemeral_storage_bytes: i64,
    pub pods: u32,
}

impl Resources {
    fn to_json(self) -> Value {
        json!({
            "cpu": format_cpu(self.cpu_millis),
            "memory": format_binary(self.memory_bytes),
            "ephemeral-storage": format_binary(self.ephemeral_storage_bytes),
            "pods": self.pods.to_string(),
        })
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A `/proc/meminfo` field in bytes.
pub fn meminfo_bytes(meminfo: &str, field: &str) -> Option<i64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kib: i64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// `PRETTY_NAME` of an os-release file.
pub fn os_pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.strip_prefix("PRETTY_NAME=")?;
        Some(value.trim().trim_matches('"').to_string())
    })
}

fn kubernetes_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        "x86" => "386".into(),
        "powerpc64" => "ppc64le".into(),
        other => other.into(),
    }
}

/// `(available, total)` bytes and `(free, total)` inodes of the filesystem holding `path`.
fn filesystem_usage(path: &Path) -> Option<((u64, u64), (u64, u64))> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    let block = stat.fragment_size() as u64;
    let bytes = (stat.blocks_available() as u64 * block, stat.blocks() as u64 * block);
    let inodes = (stat.files_available() as u64, stat.files() as u64);
    Some((bytes, inodes))
}

impl HostInfo {
    /// Reads the host (`/proc`, `/etc`, statvfs of the data dir).
    pub fn detect(data_dir: &Path) -> HostInfo {
        let cpus = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .map(|info| info.lines().filter(|l| l.starts_with("processor")).count())
            .filter(|&n| n > 0)
            .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(1);
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|info| meminfo_bytes(&info, "MemTotal"))
            .unwrap_or(0);
        let storage = filesystem_usage(data_dir).map(|((_, total), _)| total as i64).unwrap_or(0);
        let machine_id = read_trimmed("/etc/machine-id").unwrap_or_default();
        HostInfo {
            cpu_millis: cpus as i64 * 1000,
            memory_bytes: memory,
            ephemeral_storage_bytes: storage,
            kernel_version: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default(),
            os_image: std::fs::read_to_string("/etc/os-release")
                .ok()
                .and_then(|r| os_pretty_name(&r))
                .unwrap_or_else(|| "Linux".into()),
            system_uuid: read_trimmed("/sys/class/dmi/id/product_uuid").unwrap_or_else(|| machine_id.clone()),
            machine_id,
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            architecture: kubernetes_arch(),
            hostname: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "localhost".into()),
        }
    }
}

/// The node's capacity: the host's figures unless the configuration overrides them.
pub fn capacity(config: &AgentConfig, host: &HostInfo) -> Resources {
    Resources {
        cpu_millis: config.cpu_millis.unwrap_or(host.cpu_millis),
        memory_bytes: config.memory_bytes.unwrap_or(host.memory_bytes),
        ephemeral_storage_bytes: config.ephemeral_storage_bytes.unwrap_or(host.ephemeral_storage_bytes),
        pods: config.max_pods,
    }
}

/// Allocatable as the kubelet computes it without reservations: capacity minus the hard
/// eviction thresholds (`memory.available<100Mi`, `nodefs.available<10%`).
pub fn allocatable(capacity: Resources) -> Resources {
    Resources {
        memory_bytes: (capacity.memory_bytes - MEMORY_EVICTION_BYTES).max(0),
        ephemeral_storage_bytes: capacity.ephemeral_storage_bytes - capacity.ephemeral_storage_bytes / 10,
        ..capacity
    }
}

/// CPU as a quantity: whole cores as `4`, else millicores (`1500m`).
pub fn format_cpu(millis: i64) -> String {
    if millis % 1000 == 0 { (millis / 1000).to_string() } else { format!("{millis}m") }
}

/// Bytes in the canonical binary-SI form of a Quantity (`16318484Ki`, `2Gi`, `1000`).
pub fn format_binary(bytes: i64) -> String {
    const SUFFIXES: [(&str, i64); 5] =
        [("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)];
    if bytes == 0 {
        return "0".into();
    }
    for (suffix, unit) in SUFFIXES {
        if bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// The pressure conditions' inputs, measured now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

impl Pressure {
    pub fn measure(data_dir: &Path) -> Pressure {
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|info| meminfo_bytes(&info, "MemAvailable"))
            .is_some_and(|available| available < MEMORY_EVICTION_BYTES);
        let disk = filesystem_usage(data_dir).is_some_and(|((available, total), (free, inodes))| {
            let percent = |part: u64, whole: u64| if whole == 0 { 100.0 } else { part as f64 * 100.0 / whole as f64 };
            percent(available, total) < NODEFS_EVICTION_PERCENT || percent(free, inodes) < INODES_EVICTION_PERCENT
        });
        // The kubelet has no default PID eviction threshold.
        Pressure { memory, disk, pid: false }
    }
}

/// One node condition as the kubelet writes it.
fn condition(type_: &str, status: bool, reasons: [(&str, &str); 2]) -> (String, &'static str, String, String) {
    let (reason, message) = if status { reasons[0] } else { reasons[1] };
    (type_.to_string(), if status { "True" } else { "False" }, reason.to_string(), message.to_string())
}

/// Builds the Node's status, keeping `lastTransitionTime` of conditions that did not change.
pub struct NodeStatusBuilder {
    pub config: AgentConfig,
    pub host: HostInfo,
    pub runtime: Arc<dyn Runtime>,
    pub pod_cidr: String,
    started: jiff::Timestamp,
    transitions: BTreeMap<String, (String, jiff::Timestamp)>,
}

impl NodeStatusBuilder {
    pub fn new(config: AgentConfig, host: HostInfo, runtime: Arc<dyn Runtime>, pod_cidr: String) -> Self {
        NodeStatusBuilder {
            config,
            host,
            runtime,
            pod_cidr,
            started: jiff::Timestamp::now(),
            transitions: BTreeMap::new(),
        }
    }

    pub fn capacity(&self) -> Resources {
        capacity(&self.config, &self.host)
    }

    /// The status without the heartbeat times (for change detection) and with them.
    pub async fn status(&mut self, pressure: Pressure) -> Value {
        let capacity = self.capacity();
        // The runtime answering is the readiness check (the kubelet's runtime status check).
        let (images, runtime_ok) = match self.runtime.list_images().await {
            Ok(images) => (images, true),
            Err(error) => {
                tracing::warn!(%error, "the container runtime does not answer; reporting the node not ready");
                (Vec::new(), false)
            }
        };
        let images: Vec<Value> = images
            .iter()
            .map(|image| {
                let mut names: Vec<&str> = image.repo_digest.iter().map(String::as_str).collect();
                names.extend(image.names.iter().map(String::as_str));
                json!({"names": names, "sizeBytes": image.size_bytes})
            })
            .collect();
        let conditions = [
            condition(
                "MemoryPressure",
                pressure.memory,
                [
                    ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
                    ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ],
            ),
            condition(
                "DiskPressure",
                pressure.disk,
                [
                    ("KubeletHasDiskPressure", "kubelet has disk pressure"),
                    ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ],
            ),
            condition(
                "PIDPressure",
                pressure.pid,
                [
                    ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
                    ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ],
            ),
            condition(
                "Ready",
                runtime_ok,
                [("KubeletReady", "kubelet is posting ready status"), ("KubeletNotReady", "container runtime is down")],
            ),
        ];
        let now = jiff::Timestamp::now();
        let conditions: Vec<Value> = conditions
            .into_iter()
            .map(|(type_, status, reason, message)| {
                let since = match self.transitions.get(&type_) {
                    Some((previous, since)) if previous == status => *since,
                    Some(_) => now,
                    None => self.started,
                };
                self.transitions.insert(type_.clone(), (status.to_string(), since));
                json!({
                    "type": type_, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": format_time(now), "lastTransitionTime": format_time(since),
                })
            })
            .collect();
        let host = &self.host;
        json!({
            "capacity": capacity.to_json(),
            "allocatable": allocatable(capacity).to_json(),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": self.config.node_ip.to_string()},
                {"type": "Hostname", "address": self.config.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.config.kubelet_port}},
            "nodeInfo": {
                "machineID": host.machine_id,
                "systemUUID": host.system_uuid,
                "bootID": host.boot_id,
                "kernelVersion": host.kernel_version,
                "osImage": host.os_image,
                "containerRuntimeVersion": self.runtime.runtime_version(),
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": host.architecture,
            },
            "images": images,
        })
    }

    /// The whole Node for registration.
    pub fn node_object(&self, status: Value) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.config.node_name,
                "labels": node_labels(&self.config.node_name, &self.host.architecture),
                "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]},
            "status": status,
        })
    }
}

/// The well-known labels the kubelet sets on its Node.
pub fn node_labels(node_name: &str, arch: &str) -> Value {
    json!({
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": node_name,
        "kubernetes.io/os": "linux",
    })
}

/// RFC 3339 with second precision, as `metav1.Time` serializes.
pub fn format_time(time: jiff::Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Creates the Node, or takes over an existing one (labels, a missing podCIDR), then writes
/// its status. Returns the Node's UID (for the Lease's owner reference).
pub async fn register(
    client: &client::Client,
    builder: &NodeStatusBuilder,
    status: Value,
) -> Result<String, NodeStatusError> {
    let name = builder.config.node_name.clone();
    let error = |source| NodeStatusError::Register { node: name.clone(), source };
    let nodes: Api<Value> = Api::with_resource(client.clone(), client::ApiResource::of::<Node>(), None);
    let object = builder.node_object(status.clone());
    let existing = match nodes.create(&object).await {
        Ok(created) => created,
        Err(e) if e.is_already_exists() => {
            let existing = nodes.get(&name).await.map_err(error)?;
            let mut patch = json!({"metadata": {"labels": object["metadata"]["labels"], "annotations": object["metadata"]["annotations"]}});
            // podCIDR is immutable once set.
            if existing.pointer("/spec/podCIDR").and_then(Value::as_str).is_none_or(str::is_empty) {
                patch["spec"] = object["spec"].clone();
            }
            nodes.patch(&name, &Patch::Merge(patch)).await.map_err(error)?
        }
        Err(e) => return Err(error(e)),
    };
    // The create may drop the status (it is a subresource): write it.
    nodes.patch_status(&name, &Patch::Merge(json!({"status": status}))).await.map_err(error)?;
    Ok(existing.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string())
}

/// Writes the status (a merge patch: lists such as conditions and images are replaced).
pub async fn update(client: &client::Client, node_name: &str, status: &Value) -> Result<(), NodeStatusError> {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch_status(node_name, &Patch::Merge(json!({"status": status})))
        .await
        .map(|_| ())
        .map_err(|source| NodeStatusError::Update { node: node_name.to_string(), source })
}

/// The status with the heartbeat times removed: what must differ for an early report.
pub fn without_heartbeats(status: &Value) -> Value {
    let mut status = status.clone();
    if let Some(conditions) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for condition in conditions {
            if let Some(map) = condition.as_object_mut() {
                map.remove("lastHeartbeatTime");
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_canonical() {
        assert_eq!(format_cpu(4000), "4");
        assert_eq!(format_cpu(1500), "1500m");
        assert_eq!(format_binary(16_709_976_064), "16318336Ki");
        assert_eq!(format_binary(2 << 30), "2Gi");
        assert_eq!(format_binary(1000), "1000");
    }

    #[test]
    fn allocatable_subtracts_the_eviction_thresholds() {
        let capacity = Resources { cpu_millis: 2000, memory_bytes: 4 << 30, ephemeral_storage_bytes: 1000, pods: 110 };
        let allocatable = allocatable(capacity);
        assert_eq!(allocatable.memory_bytes, (4 << 30) - (100 << 20));
        assert_eq!(allocatable.ephemeral_storage_bytes, 900);
        assert_eq!(allocatable.cpu_millis, 2000);
        assert_eq!(allocatable.pods, 110);
    }

    #[tokio::test]
    async fn ready_follows_the_runtime_and_keeps_transition_times() {
        use std::net::{IpAddr, Ipv4Addr};
        let runtime = Arc::new(crate::fake::FakeRuntime::new());
        runtime.add_image("nginx:1.27");
        let mut config = AgentConfig::new("n1", "/tmp", IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)));
        config.cpu_millis = Some(2000);
        let host = HostInfo::detect(Path::new("/tmp"));
        let mut builder = NodeStatusBuilder::new(config, host, runtime.clone(), "10.42.0.0/24".into());
        let calm = Pressure { memory: false, disk: false, pid: false };
        let status = builder.status(calm).await;
        let ready = |status: &Value| {
            status["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "Ready")).cloned()
        };
        let first = ready(&status).expect("Ready");
        assert_eq!((first["status"].as_str(), first["reason"].as_str()), (Some("True"), Some("KubeletReady")));
        assert_eq!(status["capacity"]["cpu"], "2");
        assert_eq!(status["images"][0]["names"][1], "docker.io/library/nginx:1.27");
        assert_eq!(status["nodeInfo"]["containerRuntimeVersion"], "fake://0.1.0");
        let again = builder.status(calm).await;
        assert_eq!(without_heartbeats(&again), without_heartbeats(&status), "nothing changed");

        runtime.set_down(true);
        let down = ready(&builder.status(calm).await).expect("Ready");
        assert_eq!((down["status"].as_str(), down["reason"].as_str()), (Some("False"), Some("KubeletNotReady")));
        let pressured = builder.status(Pressure { memory: true, disk: true, pid: false }).await;
        let reasons: Vec<&str> =
            pressured["conditions"].as_array().into_iter().flatten().filter_map(|c| c["reason"].as_str()).collect();
        assert!(reasons.contains(&"KubeletHasInsufficientMemory") && reasons.contains(&"KubeletHasDiskPressure"));
        let node = builder.node_object(pressured);
        assert_eq!(node["spec"]["podCIDR"], "10.42.0.0/24");
        assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], "n1");
        let _: Node = serde_json::from_value(node).expect("a valid Node");
    }

    #[test]
    fn host_files_parse() {
        let meminfo = "MemTotal:       16318484 kB\nMemFree:         1000 kB\nMemAvailable:    2048 kB\n";
        assert_eq!(meminfo_bytes(meminfo, "MemTotal"), Some(16_318_484 * 1024));
        assert_eq!(meminfo_bytes(meminfo, "MemAvailable"), Some(2048 * 1024));
        assert_eq!(meminfo_bytes(meminfo, "Missing"), None);
        let os_release = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(os_pretty_name(os_release).as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
    }
}
