//! The peapod column: a real `peapod server` WITH its in-process node agent (its own data dir,
//! pod CIDR and bridge), driven over the Kubernetes API as kubectl would.
//!
//! - startup: one watch on the namespace's pods is open before the first create; per pod, the
//!   time from sending the create request to the first watch event showing `phase: Running`
//!   (the Kubernetes pod startup SLO), pods created one after the other;
//! - burst: `burst` pods created by `clients` concurrent connections until the watch has seen
//!   every one Running;
//! - memory: with the burst running, the Pss of the `peapod shim` processes of this server
//!   (with any helper of theirs in the host PID namespace, never the containers) plus the
//!   growth of the server's own Pss since before the first pod, per pod;
//! - delete: every pod deleted with `gracePeriodSeconds: 0`, until the API lists none AND the
//!   host has none of their shims, network namespace files or veths on the bridge.
//!
//! It owns the server process, its temporary data dir, the bridge and iptables rules the
//! agent sets up for the benchmark's CIDR, and the pods' netns files: all are removed at the
//! end, even on failure (pods deleted through the API first, then by force). It never touches
//! another server's pods, shims or bridge.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;

use super::{
    Burst, Figures, Outcome, Plan, Process, command_output, field_sum, processes, pss_kib, pss_sum, same_namespace_tree,
};
use crate::cluster::Endpoint;
use crate::http::Connection;
use crate::objects::ListHead;
use crate::server::Launch;
use crate::stats::Summary;

const NAMESPACE: &str = "default";
const NODE_NAME: &str = "peapod-bench";
/// Where the agent bind-mounts pod network namespaces (`crates/peapod/src/agent.rs`).
const NETNS_DIR: &str = "/run/peapod/netns";
/// The OCI runtime state dir of the agent, for the forced cleanup of a failed run.
const RUNTIME_ROOT: &str = "/run/peapod/runtime";
/// How often deletion progress is checked (each check lists pods and may scan /proc).
const POLL: Duration = Duration::from_millis(20);
/// Memory is read this long after the last pod turned Running, once start-up work settled.
pub const SETTLE: Duration = Duration::from_secs(2);

pub async fn run(launch: &Launch, plan: &Plan) -> Outcome {
    match supports_agent(&launch.binary).await {
        Ok(true) => {}
        Ok(false) => {
            return Outcome::Skipped(format!(
                "{} has no node agent yet (`peapod server --help` lists no --kubelet-port)",
                launch.binary.display()
            ));
        }
        Err(error) => return Outcome::Failed(format!("{error:#}")),
    }
    if Path::new("/sys/class/net").join(&plan.args.bridge_name).exists() {
        return Outcome::Failed(format!(
            "the bridge {} already exists (an earlier run's? `ip link delete {}`), or pass --bridge-name",
            plan.args.bridge_name, plan.args.bridge_name
        ));
    }
    let dir = match tempfile::Builder::new().prefix("peapod-bench-pods-").tempdir() {
        Ok(dir) => dir,
        Err(error) => return Outcome::Failed(format!("create a temporary directory: {error}")),
    };
    let mut run = Run { dir: dir.path().to_path_buf(), uids: Arc::new(Mutex::new(Vec::new())), server: None };
    let outcome = match run.measure(launch, plan).await {
        Ok(figures) => Outcome::Measured(figures),
        Err(error) => Outcome::Failed(format!("{error:#}\nlast server log lines:\n{}", super::tail(&run.log(), 20))),
    };
    let leftovers = run.teardown(plan).await;
    drop(dir);
    match outcome {
        Outcome::Measured(mut figures) => {
            figures.notes.extend(leftovers.into_iter().map(|problem| format!("CLEANUP: {problem}")));
            Outcome::Measured(figures)
        }
        Outcome::Failed(error) if !leftovers.is_empty() => {
            Outcome::Failed(format!("{error}\ncleanup: {}", leftovers.join("; ")))
        }
        other => other,
    }
}

async fn supports_agent(binary: &Path) -> anyhow::Result<bool> {
    if !binary.is_file() {
        bail!("{} does not exist: build it (cargo build -p peapod) or pass --peapod-bin", binary.display());
    }
    let help = command_output(&binary.to_string_lossy(), &["server", "--help"], &[]).await?;
    Ok(help.contains("--kubelet-port"))
}

/// The state of one run, kept outside `measure` so that teardown can undo what a failed
/// measurement left.
struct Run {
    dir: PathBuf,
    /// The uid of every pod created, to find their netns files.
    uids: Arc<Mutex<Vec<String>>>,
    server: Option<Server>,
}

struct Server {
    child: tokio::process::Child,
    pid: u32,
    endpoint: Endpoint,
}

impl Run {
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    async fn measure(&mut self, launch: &Launch, plan: &Plan) -> anyhow::Result<Figures> {
        let data = self.data_dir();
        let script = plan.repo.join("scripts/build-images.sh");
        eprintln!("peapod: {} --import {}...", script.display(), data.display());
        let images_log = self.dir.join("images.log");
        let log = std::fs::File::create(&images_log).context("create the image log")?;
        let status = tokio::process::Command::new("bash")
            .arg(&script)
            .arg("--import")
            .arg(&data)
            .env("PEAPOD", &launch.binary)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("image log")?)
            .stderr(log)
            .status()
            .await
            .with_context(|| format!("run {}", script.display()))?;
        if !status.success() {
            bail!("{} failed ({status}):\n{}", script.display(), super::tail(&images_log, 15));
        }

        self.server = Some(spawn(launch, plan, &data, &self.log(), plan.wait).await?);
        let Some(server) = self.server.as_ref() else { bail!("the server did not start") };
        let endpoint = server.endpoint.clone();
        let server_pid = server.pid;
        let mut admin = Connection::open(&endpoint, true).await?;
        let node_ready = wait_node_ready(&mut admin, plan.wait).await?;
        eprintln!("peapod: node Ready {} after the server", crate::stats::duration(node_ready));
        tokio::time::sleep(SETTLE).await;
        let server_before = pss_kib(server_pid).context("read the server's Pss")?;

        let watch = PodWatch::start(&endpoint).await?;
        let mut notes = Vec::new();

        eprintln!("peapod: {} sequential pods...", plan.args.sequential);
        let sequential: Vec<String> = (0..plan.args.sequential).map(|i| format!("seq-{i:03}")).collect();
        let mut samples = Vec::with_capacity(sequential.len());
        for name in &sequential {
            let sent = Instant::now();
            let uid = create(&mut admin, name).await?;
            self.uids.lock().unwrap_or_else(|e| e.into_inner()).push(uid);
            let running = watch.wait_running(std::slice::from_ref(name), plan.wait).await?;
            samples.push(running.saturating_duration_since(sent));
        }
        self.delete_all(&endpoint, plan, &sequential).await?;

        eprintln!("peapod: {} pods at once ({} clients)...", plan.args.burst, plan.clients);
        let burst: Vec<String> = (0..plan.args.burst).map(|i| format!("burst-{i:03}")).collect();
        let mut connections = Vec::with_capacity(plan.clients);
        for _ in 0..plan.clients {
            connections.push(Connection::open(&endpoint, true).await?);
        }
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let names = Arc::new(burst.clone());
        let mut tasks = Vec::new();
        for mut connection in connections {
            let (next, names, uids) = (next.clone(), names.clone(), self.uids.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(index) else { return anyhow::Ok(()) };
                    let uid = create(&mut connection, name).await?;
                    uids.lock().unwrap_or_else(|e| e.into_inner()).push(uid);
                }
            }));
        }
        for task in tasks {
            task.await.context("a create task panicked")??;
        }
        let last_running = watch.wait_running(&burst, plan.wait).await?;
        let elapsed = last_running.saturating_duration_since(started);

        tokio::time::sleep(SETTLE).await;
        let all = processes();
        let shims = self.shims(&all);
        let helpers: Vec<Process> = shims.iter().flat_map(|shim| same_namespace_tree(shim, &all)).collect();
        let shim_kib = pss_sum(&helpers);
        let shim_anon_kib = field_sum(&helpers, "Pss_Anon");
        let server_after = pss_kib(server_pid).context("read the server's Pss")?;
        // The shims map the server's binary: its shared pages are split between more
        // processes, so the server's own Pss shrinks as shims start. The total of the server
        // and the shims is what grew.
        let overhead = (server_after + shim_kib).saturating_sub(server_before);
        let pods = burst.len() as f64;
        notes.push(format!(
            "startup: create request sent to the first watch event with phase Running (watch opened before \
             the creates), {} pods one after the other; burst: {} clients",
            sequential.len(),
            plan.clients
        ));
        notes.push(format!(
            "memory: growth of the Pss of all peapod processes (the server with its in-process agent, plus {} \
             `peapod shim` processes with their helpers in the host PID namespace: {} processes; containers \
             excluded), from before the first pod to {} s after the {} pods ran: server {:.1} -> {:.1} MiB, shims \
             {:.1} MiB ({:.2} MiB each, of which {:.2} MiB anonymous; they share the server's binary, whose \
             pages Pss splits between them), \
             divided by {} pods. The growth includes what the {} sequential pods left in the server. Kernel \
             memory (netns, veths, cgroups, mounts) is not counted on either side",
            shims.len(),
            helpers.len(),
            SETTLE.as_secs(),
            burst.len(),
            server_before as f64 / 1024.0,
            server_after as f64 / 1024.0,
            shim_kib as f64 / 1024.0,
            shim_kib as f64 / 1024.0 / shims.len().max(1) as f64,
            shim_anon_kib as f64 / 1024.0 / shims.len().max(1) as f64,
            burst.len(),
            sequential.len(),
        ));
        if shims.len() != burst.len() {
            notes.push(format!("found {} shims for {} pods", shims.len(), burst.len()));
        }

        eprintln!("peapod: deleting the {} pods...", burst.len());
        let started = Instant::now();
        self.delete_all(&endpoint, plan, &burst).await?;
        let delete = started.elapsed();
        notes.push(format!(
            "delete: {} DELETEs (gracePeriodSeconds 0, {} clients) until the API lists no pod and the host has \
             no shim, netns file or veth of theirs",
            burst.len(),
            plan.clients
        ));
        if let Some(error) = watch.failure() {
            notes.push(format!("watch: {error}"));
        }
        Ok(Figures {
            startup: Summary::of(&mut samples),
            burst: Some(Burst { pods: burst.len(), elapsed }),
            overhead_kib_per_pod: Some(overhead as f64 / pods),
            delete: Some(delete),
            notes,
        })
    }

    /// The `peapod shim` processes of this server's pods (their `--pod-dir` is in its data dir).
    fn shims(&self, all: &[Process]) -> Vec<Process> {
        let data = self.data_dir().to_string_lossy().into_owned();
        all.iter()
            .filter(|p| p.state != 'Z')
            .filter(|p| p.cmdline.get(1).is_some_and(|arg| arg == "shim"))
            .filter(|p| p.cmdline.iter().any(|arg| arg.starts_with(&data)))
            .cloned()
            .collect()
    }

    /// What is left on the host of this server's pods: shims, netns files, veths on the bridge.
    fn host_leftovers(&self, bridge: &str) -> Vec<String> {
        let mut left = Vec::new();
        let shims = self.shims(&processes()).len();
        if shims > 0 {
            left.push(format!("{shims} shim processes"));
        }
        let uids = self.uids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let netns = uids.iter().filter(|uid| Path::new(NETNS_DIR).join(uid).exists()).count();
        if netns > 0 {
            left.push(format!("{netns} netns files in {NETNS_DIR}"));
        }
        let veths = std::fs::read_dir(format!("/sys/class/net/{bridge}/brif")).map(|d| d.count()).unwrap_or(0);
        if veths > 0 {
            left.push(format!("{veths} veths on {bridge}"));
        }
        left
    }

    /// Deletes `names` with grace 0 over `clients` connections, then waits until the API
    /// lists none of them and the host holds nothing of them.
    async fn delete_all(&self, endpoint: &Endpoint, plan: &Plan, names: &[String]) -> anyhow::Result<()> {
        let next = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(names.to_vec());
        let mut tasks = Vec::new();
        for _ in 0..plan.clients.min(names.len()).max(1) {
            let mut connection = Connection::open(endpoint, true).await?;
            let (next, names) = (next.clone(), shared.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(index) else { return anyhow::Ok(()) };
                    delete(&mut connection, name).await?;
                }
            }));
        }
        for task in tasks {
            task.await.context("a delete task panicked")??;
        }
        let mut admin = Connection::open(endpoint, true).await?;
        let deadline = Instant::now() + plan.wait;
        loop {
            let listed = pod_count(&mut admin).await?;
            // The host is scanned only once the API is empty: reading /proc takes CPU the
            // server needs.
            let left = if listed == 0 { self.host_leftovers(&plan.args.bridge_name) } else { Vec::new() };
            if listed == 0 && left.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let left = self.host_leftovers(&plan.args.bridge_name);
                bail!("{:?} after the deletes: {listed} pods listed, {}", plan.wait, left.join(", "));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Undoes everything: pods through the API, the server, then by force what is left
    /// (shims and their containers, mounts, netns files, the bridge, the iptables rules).
    /// Returns what could not be removed.
    async fn teardown(&mut self, plan: &Plan) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(mut server) = self.server.take()
            && matches!(server.child.try_wait(), Ok(None))
        {
            let names = match Connection::open(&server.endpoint, true).await {
                Ok(mut admin) => pod_names(&mut admin).await.unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            // Pods gone from the API may still be torn down on the host by the agent: wait for
            // it rather than leave the work to the forced cleanup below.
            if !names.is_empty() || !self.host_leftovers(&plan.args.bridge_name).is_empty() {
                let short = Plan { wait: Duration::from_secs(60), ..plan.clone() };
                if let Err(error) = self.delete_all(&server.endpoint, &short, &names).await {
                    problems.push(format!("deleting the pods left: {error:#}"));
                }
            }
            if let Ok(pid) = i32::try_from(server.pid) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(15), server.child.wait()).await.is_err() {
                problems.push("the server ignored SIGTERM for 15 s: killed".into());
                let _ = server.child.kill().await;
            }
        }
        problems.extend(self.force_cleanup(plan).await);
        problems
    }

    async fn force_cleanup(&self, plan: &Plan) -> Vec<String> {
        let mut problems = Vec::new();
        let all = processes();
        let shims = self.shims(&all);
        if !shims.is_empty() {
            problems.push(format!("{} shims were left running: killed with their containers", shims.len()));
            let mut doomed: Vec<u32> = Vec::new();
            for shim in &shims {
                doomed.extend(descendants(shim.pid, &all));
            }
            for pid in doomed {
                if let Ok(pid) = i32::try_from(pid) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
            }
            // The containers' OCI state, named by the agent's metadata in the data dir.
            for id in container_ids(&self.data_dir()) {
                for runtime in ["crun", "runc"] {
                    let _ = command_output(runtime, &["--root", RUNTIME_ROOT, "delete", "--force", &id], &[]).await;
                }
            }
        }
        let uids = self.uids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let netns: Vec<PathBuf> =
            uids.iter().map(|uid| Path::new(NETNS_DIR).join(uid)).filter(|path| path.exists()).collect();
        let dir = self.dir.to_string_lossy().into_owned();
        let mounts: Vec<String> = mount_points()
            .into_iter()
            .filter(|point| point.starts_with(&dir) || netns.iter().any(|path| Path::new(point) == path))
            .collect();
        if !mounts.is_empty() {
            problems.push(format!("{} mounts were left: unmounted", mounts.len()));
        }
        // Deepest first, so that nested mounts go before their parents.
        for point in mounts.iter().rev() {
            let _ = command_output("umount", &["--lazy", point], &[]).await;
        }
        for path in &netns {
            let _ = std::fs::remove_file(path);
        }
        let bridge = plan.args.bridge_name.as_str();
        if Path::new("/sys/class/net").join(bridge).exists()
            && let Err(error) = command_output("ip", &["link", "delete", bridge], &[]).await
        {
            problems.push(format!("removing the bridge: {error:#}"));
        }
        // The agent's rules for this CIDR and bridge (`crates/net/src/masquerade.rs`); absent
        // ones fail `-D`, which is fine.
        let cidr = plan.args.pod_cidr.as_str();
        let _ = command_output(
            "iptables",
            &["-w", "-t", "nat", "-D", "POSTROUTING", "-s", cidr, "!", "-o", bridge, "-j", "MASQUERADE"],
            &[],
        )
        .await;
        for direction in ["-i", "-o"] {
            let _ = command_output(
                "iptables",
                &["-w", "-t", "filter", "-D", "FORWARD", direction, bridge, "-j", "ACCEPT"],
                &[],
            )
            .await;
        }
        problems
    }
}

/// Starts `peapod server` with its agent on a free loopback port and waits for `/readyz`.
async fn spawn(
    launch: &Launch,
    plan: &Plan,
    data: &Path,
    log_path: &Path,
    timeout: Duration,
) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .context("find a free port")?
        .port();
    let log = std::fs::File::create(log_path).context("create the server log")?;
    let mut command = tokio::process::Command::new(&launch.binary);
    command
        .arg("server")
        .arg("--data-dir")
        .arg(data)
        .arg("--bind-address")
        .arg("127.0.0.1")
        .arg("--https-port")
        .arg(port.to_string())
        .args(["--kubelet-port", "0", "--node-name", NODE_NAME])
        .arg("--pod-cidr")
        .arg(&plan.args.pod_cidr)
        .arg("--bridge-name")
        .arg(&plan.args.bridge_name);
    if let Some(endpoint) = &launch.datastore_endpoint {
        command.arg("--datastore-endpoint").arg(endpoint);
    }
    command.args(&launch.extra_args);
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).kill_on_drop(true);
    let mut child = command.spawn().with_context(|| format!("start {}", launch.binary.display()))?;
    let pid = child.id().context("the server exited at once")?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let kubeconfig = data.join("kubeconfig.yaml");
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("the server exited during start-up ({status}):\n{}", super::tail(log_path, 20));
        }
        if Instant::now() > deadline {
            bail!("the server was not ready within {timeout:?}:\n{}", super::tail(log_path, 20));
        }
        if let Ok(endpoint) = Endpoint::from_kubeconfig(&kubeconfig, address)
            && let Ok(mut probe) = Connection::open(&endpoint, false).await
            && let Ok(response) = probe.send(Method::GET, "/readyz", None).await
            && response.status == StatusCode::OK
        {
            return Ok(Server { child, pid, endpoint });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Deserialize)]
struct NodeView {
    #[serde(default)]
    status: NodeStatusView,
}

#[derive(Default, Deserialize)]
struct NodeStatusView {
    #[serde(default)]
    conditions: Vec<ConditionView>,
}

#[derive(Deserialize)]
struct ConditionView {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

fn is_ready(node: &NodeView) -> bool {
    node.status.conditions.iter().any(|c| c.kind == "Ready" && c.status == "True")
}

/// Polls the benchmark's Node until its Ready condition is True; returns the time waited.
async fn wait_node_ready(admin: &mut Connection, timeout: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let path = format!("/api/v1/nodes/{NODE_NAME}");
    loop {
        let response = admin.send(Method::GET, &path, None).await?;
        if response.status == StatusCode::OK {
            let node: NodeView = serde_json::from_slice(&response.body).context("parse the Node")?;
            if is_ready(&node) {
                return Ok(started.elapsed());
            }
        }
        if started.elapsed() > timeout {
            bail!("node {NODE_NAME} was not Ready within {timeout:?} (last answer {})", response.status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The benchmark's pod, the same as the podman side's manifest.
fn pod_body(name: &str) -> Bytes {
    Bytes::from(
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{
                    "name": "main",
                    "image": "docker.io/library/busybox:latest",
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sleep", "3600"]
                }]
            }
        })
        .to_string(),
    )
}

#[derive(Deserialize)]
struct Created {
    metadata: CreatedMeta,
}

#[derive(Deserialize)]
struct CreatedMeta {
    uid: String,
}

/// Creates one pod; returns its uid.
async fn create(connection: &mut Connection, name: &str) -> anyhow::Result<String> {
    let body = connection
        .expect(
            Method::POST,
            &format!("/api/v1/namespaces/{NAMESPACE}/pods"),
            Some(pod_body(name)),
            StatusCode::CREATED,
        )
        .await?;
    let created: Created = serde_json::from_slice(&body).with_context(|| format!("parse the created pod {name}"))?;
    Ok(created.metadata.uid)
}

async fn delete(connection: &mut Connection, name: &str) -> anyhow::Result<()> {
    let options =
        Bytes::from(json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}).to_string());
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods/{name}");
    let response = connection.send(Method::DELETE, &path, Some(options)).await?;
    // 200 with the pod (or its last state), 202 while finalizers run, 404 when already gone.
    if ![StatusCode::OK, StatusCode::ACCEPTED, StatusCode::NOT_FOUND].contains(&response.status) {
        bail!("DELETE {path} answered {}: {}", response.status, String::from_utf8_lossy(&response.body));
    }
    Ok(())
}

#[derive(Deserialize)]
struct PodList {
    #[serde(default)]
    items: Vec<PodView>,
}

async fn pod_names(admin: &mut Connection) -> anyhow::Result<Vec<String>> {
    let body = admin.expect(Method::GET, &format!("/api/v1/namespaces/{NAMESPACE}/pods"), None, StatusCode::OK).await?;
    let list: PodList = serde_json::from_slice(&body).context("parse the pod list")?;
    Ok(list.items.into_iter().map(|pod| pod.metadata.name).collect())
}

async fn pod_count(admin: &mut Connection) -> anyhow::Result<usize> {
    let body = admin.expect(Method::GET, &format!("/api/v1/namespaces/{NAMESPACE}/pods"), None, StatusCode::OK).await?;
    let head: ListHead = serde_json::from_slice(&body).context("parse the pod list")?;
    Ok(head.items.len())
}

/// One watch event, reduced to what the benchmark reads.
#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: PodView,
}

#[derive(Default, Deserialize)]
struct PodView {
    #[serde(default)]
    metadata: PodMeta,
    #[serde(default)]
    status: PodStatusView,
}

#[derive(Default, Deserialize)]
struct PodMeta {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "resourceVersion")]
    resource_version: String,
}

#[derive(Default, Deserialize)]
struct PodStatusView {
    #[serde(default)]
    phase: String,
}

#[derive(Default)]
struct WatchState {
    /// When each pod was first seen Running (the arrival of the chunk carrying the event).
    running_at: HashMap<String, Instant>,
    failure: Option<String>,
}

/// Applies the complete lines of `buffer` to `state`, stamped `arrived`; returns the number
/// of bytes consumed and the last resourceVersion seen.
fn apply_lines(buffer: &[u8], arrived: Instant, state: &mut WatchState) -> (usize, Option<String>) {
    let mut consumed = 0;
    let mut version = None;
    while let Some(end) = buffer[consumed..].iter().position(|b| *b == b'\n') {
        let line = &buffer[consumed..consumed + end];
        consumed += end + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<WatchEvent>(line) {
            Ok(event) if event.kind == "ERROR" => {
                state.failure = Some(format!("ERROR event: {}", String::from_utf8_lossy(line)));
            }
            Ok(event) => {
                let pod = event.object;
                if !pod.metadata.resource_version.is_empty() {
                    version = Some(pod.metadata.resource_version.clone());
                }
                if event.kind != "DELETED" && pod.status.phase == "Running" && !pod.metadata.name.is_empty() {
                    state.running_at.entry(pod.metadata.name).or_insert(arrived);
                }
            }
            Err(error) => state.failure = Some(format!("unparsable watch line ({error})")),
        }
    }
    (consumed, version)
}

/// A watch on the namespace's pods, opened before the first create and followed by a task
/// that records when each pod is first seen Running; reopened from the last resourceVersion
/// when the server ends it.
struct PodWatch {
    state: Arc<Mutex<WatchState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PodWatch {
    async fn start(endpoint: &Endpoint) -> anyhow::Result<PodWatch> {
        let mut connection = Connection::open(endpoint, true).await?;
        let list = connection
            .expect(Method::GET, &format!("/api/v1/namespaces/{NAMESPACE}/pods"), None, StatusCode::OK)
            .await?;
        let head: ListHead = serde_json::from_slice(&list).context("parse the pod list")?;
        let mut version = head.metadata.resource_version;
        // The watch is open (its response headers arrived) before this returns.
        let mut body = open_watch(&mut connection, &version).await?;
        let state = Arc::new(Mutex::new(WatchState::default()));
        let shared = state.clone();
        let endpoint = endpoint.clone();
        let task = tokio::spawn(async move {
            // Held for as long as its stream is read.
            let mut _connection = connection;
            let mut buffer: Vec<u8> = Vec::new();
            loop {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        let arrived = Instant::now();
                        let Ok(data) = frame.into_data() else { continue };
                        buffer.extend_from_slice(&data);
                        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                        let (consumed, last) = apply_lines(&buffer, arrived, &mut state);
                        drop(state);
                        buffer.drain(..consumed);
                        if let Some(last) = last {
                            version = last;
                        }
                    }
                    // The server ended the watch (timeout) or the stream broke: reopen.
                    Some(Err(_)) | None => {
                        buffer.clear();
                        let reopened = async {
                            let mut fresh = Connection::open(&endpoint, true).await?;
                            let body = open_watch(&mut fresh, &version).await?;
                            anyhow::Ok((fresh, body))
                        };
                        match reopened.await {
                            Ok((fresh, fresh_body)) => {
                                _connection = fresh;
                                body = fresh_body;
                            }
                            Err(error) => {
                                shared.lock().unwrap_or_else(|e| e.into_inner()).failure =
                                    Some(format!("reopening the watch: {error:#}"));
                                return;
                            }
                        }
                    }
                }
            }
        });
        Ok(PodWatch { state, task })
    }

    /// Waits until every pod of `names` was seen Running; returns when the last one was.
    async fn wait_running(&self, names: &[String], timeout: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let seen: Vec<Instant> = names.iter().filter_map(|name| state.running_at.get(name).copied()).collect();
                if seen.len() == names.len()
                    && let Some(last) = seen.into_iter().max()
                {
                    return Ok(last);
                }
                if Instant::now() > deadline {
                    let missing: Vec<&String> = names.iter().filter(|n| !state.running_at.contains_key(*n)).collect();
                    bail!(
                        "{} pods not Running within {timeout:?} (first: {:?}){}",
                        missing.len(),
                        missing.first(),
                        state.failure.as_ref().map(|f| format!("; watch: {f}")).unwrap_or_default()
                    );
                }
                if self.task.is_finished() {
                    bail!("the watch ended: {}", state.failure.clone().unwrap_or_default());
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn failure(&self) -> Option<String> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).failure.clone()
    }
}

async fn open_watch(connection: &mut Connection, version: &str) -> anyhow::Result<hyper::body::Incoming> {
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods?watch=true&resourceVersion={version}&timeoutSeconds=1800");
    let response = connection.start(Method::GET, &path, None).await?;
    if response.status() != StatusCode::OK {
        let status = response.status();
        let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        bail!("watch answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(response.into_body())
}

/// `pid` and every process below it.
fn descendants(pid: u32, all: &[Process]) -> Vec<u32> {
    let mut found = vec![pid];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(all.iter().filter(|p| p.ppid == parent && p.pid != parent).map(|p| p.pid));
        index += 1;
    }
    found
}

/// Container ids the agent recorded (`agent/pods/<uid>/meta/<id>.json` in the data dir).
fn container_ids(data: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    let Ok(pods) = std::fs::read_dir(data.join("agent/pods")) else { return ids };
    for pod in pods.flatten() {
        let Ok(metas) = std::fs::read_dir(pod.path().join("meta")) else { continue };
        for meta in metas.flatten() {
            if let Some(id) = meta.file_name().to_str().and_then(|name| name.strip_suffix(".json")) {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

/// Mount points in mount order (`/proc/self/mountinfo` field 5), octal escapes decoded.
fn mount_points() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines().filter_map(|line| line.split(' ').nth(4)).map(unescape_mount).collect()
}

fn unescape_mount(field: &str) -> String {
    let mut out = Vec::with_capacity(field.len());
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(octal) = field.get(i + 1..i + 4)
            && let Ok(value) = u8::from_str_radix(octal, 8)
        {
            out.push(value);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pod_is_the_one_container_busybox_pod_with_grace_zero() {
        let value: serde_json::Value = serde_json::from_slice(&pod_body("seq-001")).expect("json");
        assert_eq!(value["metadata"]["name"], "seq-001");
        assert_eq!(value["spec"]["terminationGracePeriodSeconds"], 0);
        let container = &value["spec"]["containers"][0];
        assert_eq!(container["image"], "docker.io/library/busybox:latest");
        assert_eq!(container["imagePullPolicy"], "IfNotPresent");
        assert_eq!(container["command"], json!(["sleep", "3600"]));
        assert_eq!(value["spec"]["containers"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn running_is_stamped_once_per_pod_and_partial_lines_wait() {
        let mut state = WatchState::default();
        let early = Instant::now();
        let pending = br#"{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"},"status":{"phase":"Pending"}}}"#;
        let running = br#"{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"7"},"status":{"phase":"Running"}}}"#;
        let mut buffer = Vec::new();
        buffer.extend_from_slice(pending);
        buffer.push(b'\n');
        buffer.extend_from_slice(&running[..20]);
        let (consumed, version) = apply_lines(&buffer, early, &mut state);
        assert_eq!(consumed, pending.len() + 1);
        assert_eq!(version.as_deref(), Some("5"));
        assert!(state.running_at.is_empty(), "Pending is not Running");

        let mut rest = running.to_vec();
        rest.push(b'\n');
        let (_, version) = apply_lines(&rest, early, &mut state);
        assert_eq!(version.as_deref(), Some("7"));
        assert_eq!(state.running_at.get("a"), Some(&early));
        // A later Running event (status update) keeps the first stamp.
        let later = early + Duration::from_secs(1);
        apply_lines(&rest, later, &mut state);
        assert_eq!(state.running_at.get("a"), Some(&early));
        assert!(state.failure.is_none());
    }

    #[test]
    fn deleted_and_error_events_do_not_count_as_running() {
        let mut state = WatchState::default();
        let text = concat!(
            r#"{"type":"DELETED","object":{"metadata":{"name":"b","resourceVersion":"9"},"status":{"phase":"Running"}}}"#,
            "\n",
            r#"{"type":"ERROR","object":{"kind":"Status","code":410}}"#,
            "\n"
        );
        apply_lines(text.as_bytes(), Instant::now(), &mut state);
        assert!(state.running_at.is_empty());
        assert!(state.failure.as_deref().is_some_and(|f| f.contains("ERROR")));
    }

    #[test]
    fn node_readiness_reads_the_ready_condition() {
        let ready: NodeView = serde_json::from_str(
            r#"{"status":{"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"}]}}"#,
        )
        .expect("node");
        let not_ready: NodeView =
            serde_json::from_str(r#"{"status":{"conditions":[{"type":"Ready","status":"False"}]}}"#).expect("node");
        let bare: NodeView = serde_json::from_str(r#"{"metadata":{"name":"n"}}"#).expect("node");
        assert!(is_ready(&ready));
        assert!(!is_ready(&not_ready));
        assert!(!is_ready(&bare));
    }

    #[test]
    fn mount_points_decode_octal_escapes() {
        assert_eq!(unescape_mount(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape_mount(r"/plain"), "/plain");
        assert_eq!(unescape_mount(r"/bad\09"), r"/bad\09");
        assert!(mount_points().iter().any(|point| point == "/"));
    }

    #[test]
    fn descendants_include_grandchildren_only_once() {
        let process = |pid, ppid| Process { pid, ppid, state: 'S', comm: "x".into(), cmdline: Vec::new() };
        let all = vec![process(10, 1), process(11, 10), process(12, 11), process(13, 1)];
        assert_eq!(descendants(10, &all), vec![10, 11, 12]);
    }

    #[test]
    fn container_ids_come_from_the_agent_metadata() {
        let dir = tempfile::tempdir().expect("temp dir");
        let meta = dir.path().join("agent/pods/uid-1/meta");
        std::fs::create_dir_all(&meta).expect("mkdir");
        std::fs::write(meta.join("abc123.json"), "{}").expect("write");
        std::fs::write(meta.join("notes.txt"), "").expect("write");
        assert_eq!(container_ids(dir.path()), vec!["abc123".to_string()]);
        assert!(container_ids(&dir.path().join("missing")).is_empty());
    }
}
