//! In-memory [`Runtime`] and [`Network`] for tests: containers are records whose behaviour a
//! test scripts (exit with a code after a delay, run until stopped, be OOM-killed, ignore
//! SIGTERM), images are names (pulls can be made to fail), pod IPs come from a counter. No
//! process, mount or namespace is ever created, so the agent is tested without root.
//!
//! Timing uses tokio's clock; exits are announced on [`Runtime::subscribe_events`] as the
//! real runtime does. It must stay free of any behaviour the agent could depend on that the
//! real runtime does not have.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::broadcast;

use crate::network::{Network, NetworkError, PodNetworkConfig, PodNetworkStatus};
use crate::runtime::{
    ContainerConfig, ContainerEvent, ContainerState, ContainerStatus, ExecOutput, ExecStreams, ImageInfo, RegistryAuth,
    Result, Runtime, RuntimeError, SandboxConfig,
};

/// How a fake container behaves once started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    /// Exits by itself after the delay with the code; `None`: runs until stopped.
    pub exit: Option<(Duration, i32)>,
    /// The exit is the kernel's OOM kill (reason `OOMKilled`, code 137).
    pub oom: bool,
    /// The exit code when stopped with SIGTERM; `None`: it ignores SIGTERM and is killed
    /// (137) when the grace period ends.
    pub on_sigterm: Option<i32>,
    /// `start_container` fails with this message.
    pub fail_start: Option<String>,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior { exit: None, oom: false, on_sigterm: Some(143), fail_start: None }
    }
}

impl Behavior {
    /// Runs until stopped; exits 143 on SIGTERM.
    pub fn run_forever() -> Self {
        Behavior::default()
    }

    pub fn exit_after(delay: Duration, code: i32) -> Self {
        Behavior { exit: Some((delay, code)), ..Behavior::default() }
    }

    pub fn oom_after(delay: Duration) -> Self {
        Behavior { exit: Some((delay, 137)), oom: true, ..Behavior::default() }
    }

    /// Runs until stopped and ignores SIGTERM: only the end of the grace period stops it.
    pub fn ignore_sigterm() -> Self {
        Behavior { on_sigterm: None, ..Behavior::default() }
    }
}

struct FakeContainer {
    pod_uid: String,
    status: ContainerStatus,
    behavior: Behavior,
    /// Bumped on every start and exit so that a scheduled exit of an earlier run is ignored.
    run: u64,
}

#[derive(Default)]
struct State {
    images: BTreeMap<String, ImageInfo>,
    failing_pulls: HashMap<String, String>,
    pulls: Vec<String>,
    sandboxes: BTreeMap<String, (SandboxConfig, bool)>,
    /// RuntimeClass handlers configured besides the default ([`FakeRuntime::add_handler`]).
    handlers: BTreeSet<String>,
    containers: BTreeMap<String, FakeContainer>,
    behaviors: HashMap<String, Behavior>,
    exec_exit_codes: HashMap<String, i32>,
    execs: Vec<(String, Vec<String>)>,
    stops: Vec<(String, Duration)>,
    removed_logs: Vec<String>,
    next_id: u64,
    down: bool,
}

/// The in-memory runtime. Clone the `Arc` to share it between agent incarnations (an agent
/// restart keeps the runtime's containers, as the real per-pod shims do).
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<ContainerEvent>,
    version: String,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

/// `busybox` → `docker.io/library/busybox:latest`, as the image store names images.
pub fn normalize_image(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let name = if digest.is_none() && !last.contains(':') { format!("{name}:latest") } else { name.to_string() };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let name = match (has_registry, name.contains('/')) {
        (true, _) => name,
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    };
    match digest {
        Some(digest) => format!("{name}@{digest}"),
        None => name,
    }
}

impl FakeRuntime {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(1024);
        FakeRuntime { state: Arc::new(Mutex::new(State::default())), events, version: "fake://0.1.0".into() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts an image in the store (as if imported), with a made-up digest and size.
    pub fn add_image(&self, image: &str) -> ImageInfo {
        let name = normalize_image(image);
        let mut state = self.lock();
        let digest = format!("{:064x}", fnv(&name));
        let info = ImageInfo {
            id: format!("sha256:{digest}"),
            names: vec![name.clone()],
            repo_digest: Some(format!("{}@sha256:{digest}", name.rsplit_once(':').map_or(name.as_str(), |(n, _)| n))),
            size_bytes: 4_500_000,
            config: crate::runtime::ImageConfig {
                entrypoint: vec![],
                cmd: vec!["sh".into()],
                env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
                ..Default::default()
            },
        };
        state.images.insert(name, info.clone());
        info
    }

    /// Pulls of this image fail with the message (`ErrImagePull`).
    pub fn fail_pulls_of(&self, image: &str, message: &str) {
        self.lock().failing_pulls.insert(normalize_image(image), message.to_string());
    }

    /// The behaviour of every later start of containers with this name.
    pub fn set_behavior(&self, container_name: &str, behavior: Behavior) {
        self.lock().behaviors.insert(container_name.to_string(), behavior);
    }

    /// The exit code of `exec_sync` in containers with this name (exec probes); default 0.
    pub fn set_exec_exit_code(&self, container_name: &str, code: i32) {
        self.lock().exec_exit_codes.insert(container_name.to_string(), code);
    }

    /// Every container of the pod, as `list_containers` reports them.
    pub fn containers(&self, pod_uid: &str) -> Vec<ContainerStatus> {
        let state = self.lock();
        state.containers.values().filter(|c| c.pod_uid == pod_uid).map(|c| c.status.clone()).collect()
    }

    /// Every container on the node.
    pub fn all_containers(&self) -> Vec<ContainerStatus> {
        self.lock().containers.values().map(|c| c.status.clone()).collect()
    }

    /// Pod UIDs with a sandbox, and whether it was stopped.
    pub fn sandboxes(&self) -> Vec<(String, bool)> {
        self.lock().sandboxes.iter().map(|(uid, (_, stopped))| (uid.clone(), *stopped)).collect()
    }

    /// Configures a RuntimeClass handler: sandboxes asking for any other fail, as a CRI
    /// runtime without that runtime configured does.
    pub fn add_handler(&self, handler: &str) {
        self.lock().handlers.insert(handler.to_string());
    }

    pub fn sandbox_config(&self, pod_uid: &str) -> Option<SandboxConfig> {
        self.lock().sandboxes.get(pod_uid).map(|(config, _)| config.clone())
    }

    /// Images pulled so far, in order.
    pub fn pulls(&self) -> Vec<String> {
        self.lock().pulls.clone()
    }

    /// `stop_container` calls: container name and grace period.
    pub fn stops(&self) -> Vec<(String, Duration)> {
        self.lock().stops.clone()
    }

    /// `exec_sync` calls: container name and command.
    pub fn execs(&self) -> Vec<(String, Vec<String>)> {
        self.lock().execs.clone()
    }

    /// Makes image listing fail, as a runtime that does not answer.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    pub fn removed_logs(&self) -> Vec<String> {
        self.lock().removed_logs.clone()
    }

    /// Makes a running container exit now with the code, as if its process died.
    pub fn kill(&self, container_id: &str, exit_code: i32) {
        let exited = exit(&self.state, container_id, None, exit_code, None);
        if let Some(event) = exited {
            let _ = self.events.send(event);
        }
    }

    fn schedule_exit(&self, id: &str, run: u64, behavior: &Behavior) {
        let Some((delay, code)) = behavior.exit else { return };
        let reason = behavior.oom.then(|| "OOMKilled".to_string());
        let state = self.state.clone();
        let events = self.events.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(event) = exit(&state, &id, Some(run), code, reason) {
                let _ = events.send(event);
            }
        });
    }
}

/// Marks a running container exited; `run` guards against exits scheduled for an earlier run.
fn exit(state: &Mutex<State>, id: &str, run: Option<u64>, code: i32, reason: Option<String>) -> Option<ContainerEvent> {
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let container = state.containers.get_mut(id)?;
    if container.status.state != ContainerState::Running || run.is_some_and(|run| run != container.run) {
        return None;
    }
    container.run += 1;
    container.status.state = ContainerState::Exited;
    container.status.exit_code = Some(code);
    container.status.reason = reason;
    container.status.finished_at = Some(Timestamp::now());
    container.status.pid = None;
    Some(ContainerEvent { pod_uid: container.pod_uid.clone(), container_id: id.to_string() })
}

fn fnv(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn runtime_version(&self) -> String {
        self.version.clone()
    }

    async fn image_status(&self, image: &str) -> Result<Option<ImageInfo>> {
        let name = normalize_image(image);
        let state = self.lock();
        Ok(state.images.get(&name).cloned().or_else(|| state.images.values().find(|i| i.id == image).cloned()))
    }

    async fn pull_image(&self, image: &str, _auth: &[RegistryAuth]) -> Result<ImageInfo> {
        let name = normalize_image(image);
        {
            let mut state = self.lock();
            state.pulls.push(image.to_string());
            if let Some(message) = state.failing_pulls.get(&name) {
                return Err(RuntimeError::ImagePull(message.clone()));
            }
        }
        Ok(self.add_image(image))
    }

    async fn list_images(&self) -> Result<Vec<ImageInfo>> {
        let state = self.lock();
        if state.down {
            return Err(RuntimeError::Other("connection refused".into()));
        }
        Ok(state.images.values().cloned().collect())
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<()> {
        let mut state = self.lock();
        if let Some(handler) = &config.runtime_handler
            && !state.handlers.contains(handler)
        {
            return Err(RuntimeError::Other(format!("no runtime for {handler:?} is configured")));
        }
        match state.sandboxes.get_mut(&config.pod_uid) {
            Some((_, stopped)) => *stopped = false,
            None => {
                state.sandboxes.insert(config.pod_uid.clone(), (config.clone(), false));
            }
        }
        Ok(())
    }

    async fn stop_pod_sandbox(&self, pod_uid: &str) -> Result<()> {
        let running: Vec<String> = {
            let mut state = self.lock();
            if let Some((_, stopped)) = state.sandboxes.get_mut(pod_uid) {
                *stopped = true;
            }
            state
                .containers
                .iter()
                .filter(|(_, c)| c.pod_uid == pod_uid && c.status.state == ContainerState::Running)
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in running {
            self.kill(&id, 137);
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, pod_uid: &str) -> Result<()> {
        let mut state = self.lock();
        state.sandboxes.remove(pod_uid);
        state.containers.retain(|_, c| c.pod_uid != pod_uid);
        Ok(())
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<String>> {
        Ok(self.lock().sandboxes.keys().cloned().collect())
    }

    async fn remove_pod_logs(&self, pod_uid: &str) -> Result<()> {
        self.lock().removed_logs.push(pod_uid.to_string());
        Ok(())
    }

    async fn create_container(&self, pod_uid: &str, config: &ContainerConfig) -> Result<String> {
        let mut state = self.lock();
        match state.sandboxes.get(pod_uid) {
            None => return Err(RuntimeError::NotFound(format!("sandbox of pod {pod_uid}"))),
            Some((_, true)) => {
                return Err(RuntimeError::CreateContainer(format!("sandbox of pod {pod_uid} is stopped")));
            }
            Some(_) => {}
        }
        state.next_id += 1;
        let id = format!("{:016x}{:048x}", state.next_id, fnv(pod_uid));
        let behavior = state.behaviors.get(&config.name).cloned().unwrap_or_default();
        let status = ContainerStatus {
            id: id.clone(),
            name: config.name.clone(),
            attempt: config.attempt,
            state: ContainerState::Created,
            created_at: Timestamp::now(),
            started_at: None,
            finished_at: None,
            exit_code: None,
            reason: None,
            image_ref: config.image_ref.clone(),
            image_id: config.image.repo_digest.clone().unwrap_or_else(|| config.image.id.clone()),
            log_path: config.log_path.clone(),
            pid: None,
        };
        state.containers.insert(id.clone(), FakeContainer { pod_uid: pod_uid.to_string(), status, behavior, run: 0 });
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<()> {
        let (run, behavior) = {
            let mut state = self.lock();
            let pid = 1000 + state.next_id as u32;
            let container =
                state.containers.get_mut(container_id).ok_or_else(|| RuntimeError::NotFound(container_id.into()))?;
            if container.status.state != ContainerState::Created {
                return Err(RuntimeError::StartContainer(format!("container {container_id} is not created")));
            }
            if let Some(message) = &container.behavior.fail_start {
                return Err(RuntimeError::StartContainer(message.clone()));
            }
            container.status.state = ContainerState::Running;
            container.status.started_at = Some(Timestamp::now());
            container.status.pid = Some(pid);
            (container.run, container.behavior.clone())
        };
        self.schedule_exit(container_id, run, &behavior);
        Ok(())
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> Result<()> {
        let (name, on_sigterm, running) = {
            let state = self.lock();
            let container =
                state.containers.get(container_id).ok_or_else(|| RuntimeError::NotFound(container_id.into()))?;
            (
                container.status.name.clone(),
                container.behavior.on_sigterm,
                container.status.state == ContainerState::Running,
            )
        };
        self.lock().stops.push((name, grace));
        if !running {
            return Ok(());
        }
        match on_sigterm {
            Some(code) => self.kill(container_id, code),
            None => {
                tokio::time::sleep(grace).await;
                self.kill(container_id, 137);
            }
        }
        Ok(())
    }

    async fn remove_container(&self, container_id: &str) -> Result<()> {
        self.lock().containers.remove(container_id);
        Ok(())
    }

    async fn list_containers(&self, pod_uid: &str) -> Result<Vec<ContainerStatus>> {
        Ok(self.containers(pod_uid))
    }

    fn subscribe_events(&self) -> broadcast::Receiver<ContainerEvent> {
        self.events.subscribe()
    }

    async fn exec_sync(&self, container_id: &str, command: &[String], _timeout: Duration) -> Result<ExecOutput> {
        let mut state = self.lock();
        let container =
            state.containers.get(container_id).ok_or_else(|| RuntimeError::NotFound(container_id.into()))?;
        if container.status.state != ContainerState::Running {
            return Err(RuntimeError::Other(format!("container {container_id} is not running")));
        }
        let name = container.status.name.clone();
        let exit_code = state.exec_exit_codes.get(&name).copied().unwrap_or(0);
        state.execs.push((name, command.to_vec()));
        Ok(ExecOutput { exit_code, stdout: Vec::new(), stderr: Vec::new() })
    }

    async fn exec(&self, _container_id: &str, _command: &[String], _streams: ExecStreams) -> Result<i32> {
        Err(RuntimeError::Other("interactive exec is not supported by the fake runtime".into()))
    }

    async fn attach(&self, _container_id: &str, _streams: ExecStreams) -> Result<()> {
        Err(RuntimeError::Other("attach is not supported by the fake runtime".into()))
    }
}

/// The in-memory pod network: IPs handed out from `10.88.0.0/24` in order.
pub struct FakeNetwork {
    state: Mutex<(HashMap<String, IpAddr>, HashSet<IpAddr>)>,
    cidr: String,
}

impl Default for FakeNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeNetwork {
    pub fn new() -> Self {
        FakeNetwork { state: Mutex::new((HashMap::new(), HashSet::new())), cidr: "10.88.0.0/24".into() }
    }

    /// Pod UIDs holding an IP, with it.
    pub fn allocations(&self) -> HashMap<String, IpAddr> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0.clone()
    }
}

#[async_trait]
impl Network for FakeNetwork {
    async fn setup(&self, pod: &PodNetworkConfig) -> std::result::Result<PodNetworkStatus, NetworkError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let netns_path = PathBuf::from(format!("/run/netns/fake-{}", pod.pod_uid));
        if let Some(ip) = state.0.get(&pod.pod_uid) {
            return Ok(PodNetworkStatus { netns_path, ip: *ip });
        }
        let ip = (2u8..=254)
            .map(|host| IpAddr::V4(Ipv4Addr::new(10, 88, 0, host)))
            .find(|ip| !state.1.contains(ip))
            .ok_or_else(|| NetworkError::Exhausted(self.cidr.clone()))?;
        state.1.insert(ip);
        state.0.insert(pod.pod_uid.clone(), ip);
        Ok(PodNetworkStatus { netns_path, ip })
    }

    async fn teardown(&self, pod_uid: &str) -> std::result::Result<(), NetworkError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(ip) = state.0.remove(pod_uid) {
            state.1.remove(&ip);
        }
        Ok(())
    }

    async fn list(&self) -> std::result::Result<Vec<String>, NetworkError> {
        Ok(self.state.lock().unwrap_or_else(PoisonError::into_inner).0.keys().cloned().collect())
    }

    fn pod_cidr(&self) -> String {
        self.cidr.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_are_normalized_as_the_store_does() {
        assert_eq!(normalize_image("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(normalize_image("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(normalize_image("team/app"), "docker.io/team/app:latest");
        assert_eq!(normalize_image("ghcr.io/a/b:v1"), "ghcr.io/a/b:v1");
        assert_eq!(normalize_image("localhost:5000/x"), "localhost:5000/x:latest");
    }

    #[tokio::test]
    async fn network_hands_out_and_releases_ips() {
        let network = FakeNetwork::new();
        let config =
            |uid: &str| PodNetworkConfig { pod_uid: uid.into(), namespace: "default".into(), name: uid.into() };
        let a = network.setup(&config("a")).await.expect("a");
        let again = network.setup(&config("a")).await.expect("a again");
        assert_eq!(a, again, "setup is idempotent");
        let b = network.setup(&config("b")).await.expect("b");
        assert_ne!(a.ip, b.ip);
        network.teardown("a").await.expect("teardown");
        network.teardown("a").await.expect("teardown of an absent pod");
        assert_eq!(network.list().await.expect("list"), vec!["b".to_string()]);
    }
}
