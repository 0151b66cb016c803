//! The container runtime as the agent sees it: a trait shaped after CRI's RuntimeService and
//! ImageService, so that readers who know the kubelet recognise every call.
//!
//! The agent decides *what* runs (Kubernetes semantics: command/args rules, env, volumes,
//! restart policy, probes); the runtime decides *how* (OCI bundles, the per-pod shim,
//! cgroups, overlay root filesystems). The real implementation is wired in by the binary from
//! the `runtime` crate; tests use a fake. Nothing in this file does IO.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, mpsc};

/// Errors of a runtime call. The variants the pod workers turn into container reasons are
/// explicit (`ErrImagePull`, `CreateContainerError`, ...); everything else is `Other`.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The image is not present and the policy forbids pulling (`ErrImageNeverPull`).
    #[error("image {0:?} is not present with pull policy of Never")]
    ImageNeverPull(String),
    /// Pulling failed (`ErrImagePull`, then `ImagePullBackOff`); the message is shown to users.
    #[error("{0}")]
    ImagePull(String),
    /// The container could not be created (`CreateContainerError`).
    #[error("{0}")]
    CreateContainer(String),
    /// The container could not be started (`RunContainerError` / `StartError`).
    #[error("{0}")]
    StartContainer(String),
    /// No such sandbox or container.
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// An image's runtime-relevant configuration (the OCI image config's `config` object).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `KEY=value` entries, in image order.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    /// `user`, `uid`, `user:group` or `uid:gid`, as in the image config; resolved by the runtime.
    pub user: Option<String>,
    pub stop_signal: Option<String>,
}

/// An image held by the node's store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// The config digest, `sha256:...` (what `containerStatuses[].imageID` shows as `sha256:...`).
    pub id: String,
    /// Fully qualified names, e.g. `docker.io/library/busybox:latest`.
    pub names: Vec<String>,
    /// `docker.io/library/busybox@sha256:<manifest digest>`, when known.
    pub repo_digest: Option<String>,
    pub size_bytes: u64,
    pub config: ImageConfig,
}

/// Credentials for a registry, from `imagePullSecrets` (`kubernetes.io/dockerconfigjson`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    /// The registry host as written in the secret (`https://index.docker.io/v1/`, `ghcr.io`, ...).
    pub server: String,
    pub username: String,
    pub password: String,
}

/// The pod-level sandbox: what all containers of a pod share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    /// The UTS hostname of every container (pod name, or `spec.hostname`).
    pub hostname: String,
    /// The pod's network namespace, from [`crate::network::Network::setup`]; `None` means
    /// `hostNetwork: true`.
    pub netns_path: Option<PathBuf>,
    /// Pod-level cgroup limits (sum of container limits + overhead, when every container has one).
    pub resources: PodResources,
    /// Where the pod's container logs go (`DATA_DIR/agent/logs/<ns>_<name>_<uid>`).
    pub log_directory: PathBuf,
    /// The `handler` of the pod's RuntimeClass (CRI's `runtime_handler`): which configured OCI
    /// runtime runs the pod's containers; `None` for the runtime's default.
    pub runtime_handler: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodResources {
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub memory_limit_bytes: Option<i64>,
}

/// A bind mount into a container, already resolved to a host path (volumes and `subPath`
/// are the agent's business).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub container_path: String,
    pub host_path: PathBuf,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerResources {
    /// cgroup v1 `cpu.shares` (v2 weight derived from it), from the CPU request (minimum 2).
    pub cpu_shares: u64,
    /// `cpu.cfs_quota_us` from the CPU limit, with `cpu_period` (100000).
    pub cpu_quota: Option<i64>,
    pub cpu_period: u64,
    pub memory_limit_bytes: Option<i64>,
    /// From the pod's QoS class (`pkg/kubelet/qos/policy.go`).
    pub oom_score_adj: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SeccompProfile {
    #[default]
    Unconfined,
    RuntimeDefault,
    /// A profile file on the node (`localhostProfile`, relative to the agent's seccomp dir).
    Localhost(PathBuf),
}

/// The effective security settings of a container (pod and container securityContext merged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    pub privileged: bool,
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub supplemental_groups: Vec<i64>,
    /// Capability names as Kubernetes writes them (`NET_ADMIN`, or `ALL` in drop).
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    pub read_only_root_filesystem: bool,
    /// `allowPrivilegeEscalation` (default true; `no_new_privileges` is its negation).
    pub allow_privilege_escalation: bool,
    pub seccomp: SeccompProfile,
    /// `procMount: Unmasked` turns off the masked and read-only `/proc` paths.
    pub unmasked_proc: bool,
    pub sysctls: BTreeMap<String, String>,
}

/// Everything needed to create one container of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    pub name: String,
    /// The restart count this container instance stands for (CRI's `attempt`).
    pub attempt: u32,
    /// The image as the pod spec names it, and as resolved in the store.
    pub image_ref: String,
    pub image: ImageInfo,
    /// The final argv after Kubernetes' command/args rules (never empty).
    pub args: Vec<String>,
    /// Final environment, image env first then the container's, later entries winning.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub tty: bool,
    pub stdin: bool,
    pub stdin_once: bool,
    pub mounts: Vec<Mount>,
    pub resources: ContainerResources,
    pub security: SecurityConfig,
    /// Where the container's stdout/stderr go, in the CRI log format.
    pub log_path: PathBuf,
    /// Signal used by `stop_container` before SIGKILL (image `STOPSIGNAL`, default SIGTERM).
    pub stop_signal: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    pub name: String,
    pub attempt: u32,
    pub state: ContainerState,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    /// `OOMKilled` when the kernel killed it for its memory limit; else the pod workers
    /// derive `Completed`/`Error` from the exit code.
    pub reason: Option<String>,
    pub image_ref: String,
    pub image_id: String,
    pub log_path: PathBuf,
    /// The container's init process on the host, while it runs.
    pub pid: Option<u32>,
}

/// A change the runtime noticed (a container exited). The pod workers resync the pod at once
/// instead of waiting for their periodic relist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub pod_uid: String,
    pub container_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    pub width: u16,
    pub height: u16,
}

/// The streams of an interactive exec or attach. Absent streams were not requested.
pub struct ExecStreams {
    pub stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub stdout: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Absent with a TTY (stderr is merged into stdout).
    pub stderr: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    pub tty: bool,
    pub resize: Option<mpsc::Receiver<TerminalSize>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// `nodeInfo.containerRuntimeVersion`, e.g. `crun://1.8.1`.
    fn runtime_version(&self) -> String;

    /// The image if the store holds it (by name, name:tag or digest reference).
    async fn image_status(&self, image: &str) -> Result<Option<ImageInfo>>;
    async fn pull_image(&self, image: &str, auth: &[RegistryAuth]) -> Result<ImageInfo>;
    async fn list_images(&self) -> Result<Vec<ImageInfo>>;

    /// Creates the pod's sandbox (shared IPC/UTS, the shim, the pod cgroup). Idempotent: an
    /// existing sandbox for the same pod is kept.
    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<()>;
    /// Kills every container of the pod (SIGKILL) and stops the shim.
    async fn stop_pod_sandbox(&self, pod_uid: &str) -> Result<()>;
    /// Removes everything the sandbox holds on the node (containers, root filesystems,
    /// cgroups, shim state). Logs stay until [`Runtime::remove_pod_logs`].
    async fn remove_pod_sandbox(&self, pod_uid: &str) -> Result<()>;
    /// Pod UIDs of every sandbox on the node, for re-adoption and orphan cleanup at start.
    async fn list_pod_sandboxes(&self) -> Result<Vec<String>>;
    async fn remove_pod_logs(&self, pod_uid: &str) -> Result<()>;

    /// Creates a container in the pod's sandbox and returns its id.
    async fn create_container(&self, pod_uid: &str, config: &ContainerConfig) -> Result<String>;
    async fn start_container(&self, container_id: &str) -> Result<()>;
    /// Sends the stop signal, then SIGKILL once `grace` has passed; returns when it exited.
    async fn stop_container(&self, container_id: &str, grace: Duration) -> Result<()>;
    async fn remove_container(&self, container_id: &str) -> Result<()>;
    /// Every container of the pod, exited ones included, until removed.
    async fn list_containers(&self, pod_uid: &str) -> Result<Vec<ContainerStatus>>;
    /// Exits and other changes, as they happen.
    fn subscribe_events(&self) -> broadcast::Receiver<ContainerEvent>;

    /// Runs a command in a running container and collects its output (exec probes, hooks).
    async fn exec_sync(&self, container_id: &str, command: &[String], timeout: Duration) -> Result<ExecOutput>;
    /// Runs a command with streams (`kubectl exec`); returns its exit code.
    async fn exec(&self, container_id: &str, command: &[String], streams: ExecStreams) -> Result<i32>;
    /// Attaches to the container's main process stdio (`kubectl attach`).
    async fn attach(&self, container_id: &str, streams: ExecStreams) -> Result<()>;
}
