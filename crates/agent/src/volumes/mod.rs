//! Pod volumes on the node: emptyDir (disk, and `medium: Memory` on tmpfs with `sizeLimit`),
//! hostPath, configMap, secret (on tmpfs), downwardAPI and projected, under
//! `DATA_DIR/agent/pods/<uid>/volumes/<plugin>/<name>`; `subPath` resolution; resync of
//! configMap/secret/downwardAPI contents into running pods (atomic `..data` symlink swap, as
//! the kubelet's AtomicWriter does).
//!
//! It owns those directories and nothing else: it must not create containers or touch the
//! pod's status. One file per volume plugin; [`atomic_writer`] and [`subpath`] are shared.

pub mod atomic_writer;
pub mod config_map;
pub mod downward_api;
pub mod empty_dir;
pub mod host_path;
pub mod mounts;
pub mod projected;
pub mod secret;
pub mod subpath;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod, Volume};

use crate::container_config::resources::NodeAllocatable;
use crate::runtime::Mount;
use atomic_writer::Payload;

/// A volume could not be set up or mounted. The message is the kubelet's, e.g.
/// `MountVolume.SetUp failed for volume "config" : configmap "app" not found` (the
/// `FailedMount` event) or `cannot find volume "data" to mount into container "app"`.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{0}")]
    Invalid(String),
}

fn setup_failed(volume: &str, message: impl std::fmt::Display) -> VolumeError {
    VolumeError::Invalid(format!("MountVolume.SetUp failed for volume {volume:?} : {message}"))
}

/// The host directories of one pod's volumes, once set up.
#[derive(Debug, Clone, Default)]
pub struct PodVolumes {
    /// Volume name → its directory (or file, for a hostPath) on the node.
    pub volumes: Vec<(String, PathBuf)>,
    /// `DATA_DIR/agent/pods/<uid>`: where the pod's managed files (`/etc/hosts`, termination
    /// messages, ...) go. `None` for a value not made by [`VolumeManager::setup`] (fakes).
    pub pod_dir: Option<PathBuf>,
    /// Volumes every container sees read-only whatever its `volumeMounts` say (configMap,
    /// secret, downwardAPI and projected, as the kubelet mounts them since 1.10).
    pub read_only: BTreeSet<String>,
}

impl PodVolumes {
    pub fn pod_dir(&self) -> Option<&Path> {
        self.pod_dir.as_deref()
    }

    /// The node path of a volume.
    pub fn path_of(&self, volume: &str) -> Option<&Path> {
        self.volumes.iter().find(|(name, _)| name == volume).map(|(_, path)| path.as_path())
    }

    /// The bind mounts for one container's `volumeMounts` (with `subPath` resolved and
    /// checked to stay inside the volume). `subPathExpr` is expanded against the container's
    /// literal `env` values only; [`PodVolumes::mounts_for_env`] takes the resolved env.
    pub fn mounts_for(&self, container: &Container) -> Result<Vec<Mount>, VolumeError> {
        let env: Vec<(String, String)> = container
            .env
            .iter()
            .flatten()
            .map(|var| (var.name.clone(), var.value.clone().unwrap_or_default()))
            .collect();
        self.mounts_for_env(container, &env)
    }

    /// [`PodVolumes::mounts_for`] with the container's resolved environment for
    /// `subPathExpr` (`ExpandContainerVolumeMounts`: a reference to an unset or empty variable
    /// is an error).
    pub fn mounts_for_env(&self, container: &Container, env: &[(String, String)]) -> Result<Vec<Mount>, VolumeError> {
        let mut mounts = Vec::new();
        for volume_mount in container.volume_mounts.iter().flatten() {
            let Some(volume_path) = self.path_of(&volume_mount.name) else {
                return Err(VolumeError::Invalid(format!(
                    "cannot find volume {:?} to mount into container {:?}",
                    volume_mount.name, container.name
                )));
            };
            let sub_path = match (volume_mount.sub_path.as_deref(), volume_mount.sub_path_expr.as_deref()) {
                (Some(path), _) if !path.is_empty() => Some(path.to_string()),
                (_, Some(expr)) if !expr.is_empty() => {
                    Some(subpath::expand_sub_path_expr(expr, env).map_err(VolumeError::Invalid)?)
                }
                _ => None,
            };
            let host_path = match sub_path {
                Some(sub_path) => subpath::resolve(volume_path, &sub_path).map_err(VolumeError::Invalid)?,
                None => volume_path.to_path_buf(),
            };
            mounts.push(Mount {
                container_path: volume_mount.mount_path.clone(),
                host_path,
                read_only: volume_mount.read_only.unwrap_or(false) || self.read_only.contains(&volume_mount.name),
            });
        }
        Ok(mounts)
    }
}

/// The kubelet's volume plugin directory names.
pub const EMPTY_DIR_PLUGIN: &str = "kubernetes.io~empty-dir";
pub const CONFIG_MAP_PLUGIN: &str = "kubernetes.io~configmap";
pub const SECRET_PLUGIN: &str = "kubernetes.io~secret";
pub const DOWNWARD_API_PLUGIN: &str = "kubernetes.io~downward-api";
pub const PROJECTED_PLUGIN: &str = "kubernetes.io~projected";

/// What a plugin needs to fill a volume.
pub struct SetupContext<'a> {
    pub client: &'a client::Client,
    pub pod: &'a Pod,
    pub pod_dir: &'a Path,
    pub node: NodeAllocatable,
    pub fs_group: Option<i64>,
}

impl SetupContext<'_> {
    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("default")
    }

    pub fn volume_dir(&self, plugin: &str, name: &str) -> PathBuf {
        self.pod_dir.join("volumes").join(plugin).join(name)
    }
}

pub struct VolumeManager {
    client: client::Client,
    pods_dir: PathBuf,
    node: NodeAllocatable,
}

impl VolumeManager {
    /// `pods_dir` is `DATA_DIR/agent/pods`.
    pub fn new(client: client::Client, pods_dir: PathBuf) -> Self {
        let node = NodeAllocatable {
            cpu_millis: std::thread::available_parallelism()
                .map_or(1000, |n| i64::try_from(n.get()).unwrap_or(1) * 1000),
            memory_bytes: node_memory_bytes(),
            ephemeral_storage_bytes: 0,
        };
        Self { client, pods_dir, node }
    }

    /// The node's allocatable CPU and memory (for downwardAPI `resourceFieldRef` of an unset
    /// limit and the size of memory-backed emptyDirs); defaults to the machine's.
    pub fn with_node_allocatable(mut self, cpu_millis: i64, memory_bytes: i64) -> Self {
        self.node.cpu_millis = cpu_millis;
        self.node.memory_bytes = memory_bytes;
        self
    }

    pub fn pods_dir(&self) -> &Path {
        &self.pods_dir
    }

    /// `DATA_DIR/agent/pods/<uid>`.
    pub fn pod_dir(&self, pod_uid: &str) -> PathBuf {
        self.pods_dir.join(pod_uid)
    }

    fn context<'a>(&'a self, pod: &'a Pod, pod_dir: &'a Path) -> SetupContext<'a> {
        SetupContext {
            client: &self.client,
            pod,
            pod_dir,
            node: self.node,
            fs_group: pod.spec.as_ref().and_then(|s| s.security_context.as_ref()).and_then(|sc| sc.fs_group),
        }
    }

    fn pod_dir_checked(&self, pod: &Pod) -> Result<PathBuf, VolumeError> {
        let uid = pod.metadata.uid.as_deref().unwrap_or("");
        if uid.is_empty() || uid.contains('/') || uid.starts_with('.') {
            return Err(VolumeError::Invalid(format!("pod has an unusable uid {uid:?}")));
        }
        Ok(self.pod_dir(uid))
    }

    /// Creates (idempotently) every volume of the pod and fills configMap/secret/downwardAPI/
    /// projected contents.
    pub async fn setup(&self, pod: &Pod) -> Result<PodVolumes, VolumeError> {
        let pod_dir = self.pod_dir_checked(pod)?;
        std::fs::create_dir_all(pod_dir.join("volumes"))
            .map_err(|e| VolumeError::Invalid(format!("failed to create {}: {e}", pod_dir.display())))?;
        let ctx = self.context(pod, &pod_dir);
        let mut result = PodVolumes { volumes: Vec::new(), pod_dir: Some(pod_dir.clone()), read_only: BTreeSet::new() };
        for volume in pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or(&[]) {
            let (path, read_only) = self.setup_volume(&ctx, volume).await?;
            if read_only {
                result.read_only.insert(volume.name.clone());
            }
            result.volumes.push((volume.name.clone(), path));
        }
        Ok(result)
    }

    async fn setup_volume(&self, ctx: &SetupContext<'_>, volume: &Volume) -> Result<(PathBuf, bool), VolumeError> {
        let name = volume.name.as_str();
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(VolumeError::Invalid(format!("invalid volume name {name:?}")));
        }
        let failed = |e: String| setup_failed(name, e);
        if let Some(source) = &volume.empty_dir {
            return Ok((empty_dir::setup(ctx, name, source).map_err(failed)?, false));
        }
        if let Some(source) = &volume.host_path {
            return Ok((host_path::setup(source).map_err(failed)?, false));
        }
        let (plugin, payload) = self.payload(ctx, volume).await.map_err(failed)?;
        let dir = ctx.volume_dir(plugin, name);
        // Secrets and what may hold them (downwardAPI, projected) never touch the disk.
        let memory = plugin != CONFIG_MAP_PLUGIN;
        prepare_atomic_dir(&dir, memory).map_err(failed)?;
        atomic_writer::write(&dir, &payload, ctx.fs_group).map_err(|e| failed(e.to_string()))?;
        Ok((dir, true))
    }

    /// The payload of an AtomicWriter volume, or an error for a volume type the node does not
    /// support.
    async fn payload(&self, ctx: &SetupContext<'_>, volume: &Volume) -> Result<(&'static str, Payload), String> {
        if let Some(source) = &volume.config_map {
            return Ok((CONFIG_MAP_PLUGIN, config_map::payload(ctx, source).await?));
        }
        if let Some(source) = &volume.secret {
            return Ok((SECRET_PLUGIN, secret::payload(ctx, source).await?));
        }
        if let Some(source) = &volume.downward_api {
            return Ok((DOWNWARD_API_PLUGIN, downward_api::payload(ctx, source)?));
        }
        if let Some(source) = &volume.projected {
            let dir = ctx.volume_dir(PROJECTED_PLUGIN, &volume.name);
            return Ok((PROJECTED_PLUGIN, projected::payload(ctx, source, &dir).await?));
        }
        Err(format!("volume type of {:?} is not supported on this node", volume.name))
    }

    /// Rewrites configMap/secret/downwardAPI/projected contents that changed (called
    /// periodically for running pods). Volumes not set up yet are left to [`Self::setup`].
    pub async fn resync(&self, pod: &Pod) -> Result<(), VolumeError> {
        let pod_dir = self.pod_dir_checked(pod)?;
        let ctx = self.context(pod, &pod_dir);
        let mut first_error = None;
        for volume in pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or(&[]) {
            if volume.empty_dir.is_some() || volume.host_path.is_some() {
                continue;
            }
            let result = match self.payload(&ctx, volume).await {
                Ok((plugin, payload)) => {
                    let dir = ctx.volume_dir(plugin, &volume.name);
                    if !dir.is_dir() {
                        continue;
                    }
                    atomic_writer::write(&dir, &payload, ctx.fs_group).map(|_| ()).map_err(|e| e.to_string())
                }
                Err(e) => Err(e),
            };
            // Keep going: one broken volume must not freeze the others' updates.
            if let Err(e) = result
                && first_error.is_none()
            {
                first_error = Some(setup_failed(&volume.name, e));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Unmounts and removes every volume directory of the pod (absent is fine).
    pub async fn teardown(&self, pod_uid: &str) -> Result<(), VolumeError> {
        if pod_uid.is_empty() || pod_uid.contains('/') || pod_uid.starts_with('.') {
            return Err(VolumeError::Invalid(format!("invalid pod uid {pod_uid:?}")));
        }
        let pod_dir = self.pod_dir(pod_uid);
        let io = |e: std::io::Error| VolumeError::Invalid(format!("failed to tear down {}: {e}", pod_dir.display()));
        if !pod_dir.exists() {
            return Ok(());
        }
        for point in mounts::mount_points_under(&pod_dir).map_err(io)? {
            mounts::unmount(&point).map_err(io)?;
        }
        // Never recurse into something still mounted: that would delete its contents.
        let left = mounts::mount_points_under(&pod_dir).map_err(io)?;
        if let Some(point) = left.first() {
            return Err(VolumeError::Invalid(format!("{} is still mounted", point.display())));
        }
        match std::fs::remove_dir_all(&pod_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    /// Pod UIDs that have volume directories, for orphan cleanup at start.
    pub async fn list(&self) -> Result<Vec<String>, VolumeError> {
        let entries = match std::fs::read_dir(&self.pods_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(VolumeError::Invalid(format!("failed to list {}: {e}", self.pods_dir.display()))),
        };
        let mut uids = Vec::new();
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir())
                && let Some(name) = entry.file_name().to_str()
            {
                uids.push(name.to_string());
            }
        }
        uids.sort();
        Ok(uids)
    }
}

/// The directory of an AtomicWriter volume, on tmpfs when `memory`.
fn prepare_atomic_dir(dir: &Path, memory: bool) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
    if memory {
        match mounts::mount_tmpfs(dir, None) {
            Ok(mounts::TmpfsOutcome::NotPermitted) => {
                tracing::warn!(dir = %dir.display(), "not root: a memory-backed volume stays on disk");
            }
            Ok(_) => {}
            Err(e) => return Err(format!("failed to mount tmpfs at {}: {e}", dir.display())),
        }
    }
    Ok(())
}

/// `MemTotal` from `/proc/meminfo`, in bytes (0 when unreadable).
pub fn node_memory_bytes() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let rest = line.strip_prefix("MemTotal:")?;
                let kib: i64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
                Some(kib.saturating_mul(1024))
            })
        })
        .unwrap_or(0)
}
