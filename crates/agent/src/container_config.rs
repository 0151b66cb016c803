//! Turns one container of a pod spec into the runtime's [`ContainerConfig`]: Kubernetes'
//! command/args rules over the image's entrypoint/cmd, the environment (values, `fieldRef`,
//! `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef`, `envFrom`, service variables), volume
//! mounts with `subPath`, the node-managed `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`
//! and termination message file, resources (cpu shares/quota, memory limit, OOM score from the
//! QoS class) and the merged pod/container securityContext.
//!
//! It reads ConfigMaps, Secrets and Services through the client and writes the pod's managed
//! files under the pod directory; it must not start or stop anything. An error here is the
//! container's `CreateContainerConfigError` and names what is missing.
//!
//! For the pod workers: the termination message of a container instance is at
//! [`termination_message_path`] (`<pod dir>/containers/<name>/<attempt>`), created empty here
//! and bind-mounted at `terminationMessagePath`; read it with [`read_termination_message`] after
//! the container exits. `terminationMessagePolicy: FallbackToLogsOnError` (the log tail when the
//! file is empty and the container failed) is theirs to apply.

pub mod command;
pub mod downward;
pub mod env;
pub mod etc_files;
pub mod expansion;
pub mod quantity;
pub mod resources;
pub mod security;
pub mod sources;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod};

pub use etc_files::{MAX_TERMINATION_MESSAGE_BYTES, read_termination_message};

use crate::runtime::{ContainerConfig, ImageInfo, Mount};
use crate::volumes::PodVolumes;
use downward::PodAddresses;
use env::{EnvContext, EnvList};
use resources::NodeAllocatable;

/// A container config could not be built: shown to users as the `CreateContainerConfigError`
/// waiting reason's message (e.g. `configmap "app-config" not found`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

/// What [`generate`] needs beyond the pod and container.
pub struct ContainerContext<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub image: &'a ImageInfo,
    pub attempt: u32,
    pub pod_ip: Option<IpAddr>,
    pub node_name: &'a str,
    pub host_ip: Option<IpAddr>,
    pub volumes: &'a PodVolumes,
    pub log_path: PathBuf,
    /// For `resourceFieldRef` of an unset limit and the Burstable OOM score.
    pub node_allocatable_cpu_millis: i64,
    pub node_allocatable_memory_bytes: i64,
}

/// The default `terminationMessagePath`.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// Where the node keeps the termination message of `container_name`'s instance `attempt`
/// (`None` when the volumes were not set up by a [`crate::volumes::VolumeManager`], as with
/// `PodVolumes::default()`, or the container has no `terminationMessagePath`).
pub fn termination_message_path(volumes: &PodVolumes, container: &Container, attempt: u32) -> Option<PathBuf> {
    let path = container.termination_message_path.as_deref().unwrap_or(DEFAULT_TERMINATION_MESSAGE_PATH);
    if path.is_empty() {
        return None;
    }
    Some(etc_files::termination_message_file(volumes.pod_dir()?, &container.name, attempt))
}

pub async fn generate(client: &client::Client, ctx: ContainerContext<'_>) -> Result<ContainerConfig, ConfigError> {
    let invalid = ConfigError::Invalid;
    let pod = ctx.pod;
    let container = ctx.container;
    let spec = pod.spec.as_ref().ok_or_else(|| invalid("pod has no spec".to_string()))?;
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let addresses = PodAddresses::new(pod, ctx.pod_ip, ctx.host_ip);
    let node = NodeAllocatable {
        cpu_millis: ctx.node_allocatable_cpu_millis,
        memory_bytes: ctx.node_allocatable_memory_bytes,
        ephemeral_storage_bytes: node_ephemeral_storage(ctx.volumes.pod_dir()),
    };

    let services = sources::services_for_env(client, namespace, spec.enable_service_links.unwrap_or(true))
        .await
        .map_err(invalid)?;
    let env_context = EnvContext { pod, container, addresses: &addresses, node };
    let container_env = env::container_env(client, &env_context, &services).await.map_err(invalid)?;

    let image_config = &ctx.image.config;
    let args = command::argv(
        image_config,
        container.command.as_deref().unwrap_or(&[]),
        container.args.as_deref().unwrap_or(&[]),
        &container_env,
    );
    if args.is_empty() {
        return Err(invalid(format!("no command specified for container {:?}", container.name)));
    }

    // The image's env first, then the container's; a later definition replaces an earlier one.
    let mut env = EnvList::default();
    for entry in &image_config.env {
        match entry.split_once('=') {
            Some((name, value)) => env.set(name.to_string(), value.to_string()),
            None => env.set(entry.clone(), String::new()),
        }
    }
    for (name, value) in &container_env {
        env.set(name.clone(), value.clone());
    }

    let security = security::security_config(pod, container, image_config).map_err(invalid)?;
    let resources = resources::container_resources(pod, container, ctx.node_allocatable_memory_bytes);

    let mut mounts = ctx.volumes.mounts_for_env(container, &container_env).map_err(|e| invalid(e.to_string()))?;
    if let Some(pod_dir) = ctx.volumes.pod_dir() {
        let managed = managed_mounts(pod, container, ctx.attempt, pod_dir, &addresses)
            .map_err(|e| invalid(format!("failed to prepare the pod's managed files: {e}")))?;
        mounts.extend(managed);
    }

    let working_dir =
        container.working_dir.clone().filter(|d| !d.is_empty()).or_else(|| image_config.working_dir.clone());
    Ok(ContainerConfig {
        name: container.name.clone(),
        attempt: ctx.attempt,
        image_ref: container.image.clone().unwrap_or_default(),
        image: ctx.image.clone(),
        args,
        env: env.into_vec(),
        working_dir,
        tty: container.tty.unwrap_or(false),
        stdin: container.stdin.unwrap_or(false),
        stdin_once: container.stdin_once.unwrap_or(false),
        mounts,
        resources,
        security,
        log_path: ctx.log_path,
        stop_signal: image_config.stop_signal.clone(),
    })
}

/// `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` and the termination message file, each
/// unless the container mounts a volume at that path itself.
fn managed_mounts(
    pod: &Pod,
    container: &Container,
    attempt: u32,
    pod_dir: &Path,
    addresses: &PodAddresses,
) -> std::io::Result<Vec<Mount>> {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let user_mounts: Vec<&str> =
        container.volume_mounts.iter().flatten().map(|m| m.mount_path.trim_end_matches('/')).collect();
    let wanted = |path: &str| !user_mounts.contains(&path);
    std::fs::create_dir_all(pod_dir)?;
    let mut mounts = Vec::new();

    let aliases = spec.and_then(|s| s.host_aliases.as_deref()).unwrap_or(&[]);
    let (hostname, domain) = etc_files::pod_hostname_and_domain(pod);
    if wanted("/etc/hosts") && (host_network || !addresses.pod_ips.is_empty()) {
        let contents = if host_network {
            etc_files::host_network_hosts(&std::fs::read_to_string("/etc/hosts").unwrap_or_default(), aliases)
        } else {
            etc_files::managed_hosts(&addresses.pod_ips, &hostname, domain.as_deref(), aliases)
        };
        let path = pod_dir.join("etc-hosts");
        etc_files::write_in_place(&path, contents.as_bytes(), 0o644)?;
        mounts.push(Mount { container_path: "/etc/hosts".to_string(), host_path: path, read_only: false });
    }
    if wanted("/etc/hostname") {
        let name = if host_network {
            std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or(hostname)
        } else {
            hostname
        };
        let path = pod_dir.join("etc-hostname");
        etc_files::write_in_place(&path, format!("{name}\n").as_bytes(), 0o644)?;
        mounts.push(Mount { container_path: "/etc/hostname".to_string(), host_path: path, read_only: false });
    }
    if wanted("/etc/resolv.conf") {
        let node_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let contents = etc_files::pod_dns_config(pod, &node_resolv).render();
        let path = pod_dir.join("resolv.conf");
        etc_files::write_in_place(&path, contents.as_bytes(), 0o644)?;
        mounts.push(Mount { container_path: "/etc/resolv.conf".to_string(), host_path: path, read_only: false });
    }
    let message_path = container.termination_message_path.as_deref().unwrap_or(DEFAULT_TERMINATION_MESSAGE_PATH);
    if !message_path.is_empty() && wanted(message_path.trim_end_matches('/')) {
        let path = etc_files::termination_message_file(pod_dir, &container.name, attempt);
        etc_files::create_termination_message_file(&path)?;
        mounts.push(Mount { container_path: message_path.to_string(), host_path: path, read_only: false });
    }
    Ok(mounts)
}

/// The size of the filesystem holding the pod directories: the node's allocatable ephemeral
/// storage for `resourceFieldRef: limits.ephemeral-storage` without a limit.
fn node_ephemeral_storage(pod_dir: Option<&Path>) -> i64 {
    let path = pod_dir.and_then(Path::parent).filter(|p| p.exists()).unwrap_or(Path::new("/"));
    match nix::sys::statvfs::statvfs(path) {
        Ok(stats) => {
            let bytes = u128::from(stats.blocks()) * u128::from(stats.fragment_size());
            i64::try_from(bytes).unwrap_or(i64::MAX)
        }
        Err(_) => 0,
    }
}
