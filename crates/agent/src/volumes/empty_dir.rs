//! emptyDir: a directory that lives as long as the pod, world-writable (0777) as the kubelet
//! makes it. `medium: Memory` puts it on a tmpfs sized by `sizeLimit`, else by the pod's
//! memory limit when every container has one, else by the node's memory.
//!
//! `sizeLimit` on disk is an eviction threshold in Kubernetes, not enforced at write time:
//! [`size_limit_exceeded`] measures the volumes as the kubelet's eviction manager does
//! (`emptyDirLimitEviction`), and the pod worker evicts the pod when one is over its limit.

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Pod};

use super::mounts::{TmpfsOutcome, mount_tmpfs};
use super::{EMPTY_DIR_PLUGIN, PodVolumes, SetupContext};
use crate::container_config::quantity::Quantity;
use crate::container_config::resources::limit;

pub fn setup(ctx: &SetupContext<'_>, name: &str, source: &EmptyDirVolumeSource) -> Result<PathBuf, String> {
    let dir = ctx.volume_dir(EMPTY_DIR_PLUGIN, name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("failed to create {}: {e}", dir.display()))?;
    match source.medium.as_deref().unwrap_or("") {
        "" => {}
        "Memory" => {
            let size = memory_size(ctx, source);
            match mount_tmpfs(&dir, size).map_err(|e| format!("failed to mount tmpfs at {}: {e}", dir.display()))? {
                TmpfsOutcome::NotPermitted => {
                    tracing::warn!(dir = %dir.display(), "not root: emptyDir medium Memory stays on disk");
                }
                TmpfsOutcome::Mounted | TmpfsOutcome::AlreadyMounted => {}
            }
        }
        other => return Err(format!("emptyDir medium {other:?} is not supported")),
    }
    let mut mode = 0o777;
    if let Some(gid) = ctx.fs_group {
        let gid = u32::try_from(gid).map_err(|_| format!("invalid fsGroup {gid}"))?;
        std::os::unix::fs::chown(&dir, None, Some(gid)).map_err(|e| format!("failed to apply fsGroup: {e}"))?;
        mode |= 0o2000;
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("failed to set permissions of {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The tmpfs size: `sizeLimit`, else the sum of the containers' memory limits when each has
/// one, else the node's memory; the smallest of those that apply.
fn memory_size(ctx: &SetupContext<'_>, source: &EmptyDirVolumeSource) -> Option<u64> {
    let size_limit = source.size_limit.as_ref().and_then(|q| Quantity::parse(&q.0)).map(|q| q.value());
    let pod_limit = ctx.pod.spec.as_ref().and_then(|spec| {
        spec.containers.iter().try_fold(0i64, |sum, c| limit(c, "memory").map(|q| sum.saturating_add(q.value())))
    });
    let node = (ctx.node.memory_bytes > 0).then_some(ctx.node.memory_bytes);
    [size_limit, pod_limit, node].into_iter().flatten().filter(|v| *v > 0).min().and_then(|v| u64::try_from(v).ok())
}

/// Whether the pod has an emptyDir with a positive `sizeLimit` (the only pods worth measuring).
pub fn has_size_limit(pod: &Pod) -> bool {
    size_limits(pod).next().is_some()
}

/// The emptyDirs of the pod with a positive `sizeLimit`: (volume name, limit as written, bytes).
fn size_limits(pod: &Pod) -> impl Iterator<Item = (&str, &str, u64)> {
    pod.spec.as_ref().and_then(|spec| spec.volumes.as_deref()).unwrap_or(&[]).iter().filter_map(|volume| {
        let limit = volume.empty_dir.as_ref()?.size_limit.as_ref()?;
        let bytes = Quantity::parse(&limit.0).map(|q| q.value()).and_then(|v| u64::try_from(v).ok())?;
        (bytes > 0).then_some((volume.name.as_str(), limit.0.as_str(), bytes))
    })
}

/// The eviction message for the first emptyDir whose usage is over its `sizeLimit`, as the
/// kubelet words it (`Usage of EmptyDir volume "data" exceeds the limit "1Mi". `); `None` when
/// every one is within its limit. Walks the volumes: call it off the async threads.
pub fn size_limit_exceeded(pod: &Pod, volumes: &PodVolumes) -> Option<String> {
    for (name, limit, bytes) in size_limits(pod) {
        let Some(path) = volumes.path_of(name) else { continue };
        if disk_usage(path) > bytes {
            return Some(format!("Usage of EmptyDir volume {name:?} exceeds the limit {limit:?}. "));
        }
    }
    None
}

/// Bytes allocated under `root`, as `du` counts them: blocks of every file, directory and
/// symlink (never followed), hard links once, nothing on another filesystem mounted below.
/// What cannot be read counts as empty.
pub fn disk_usage(root: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(root) else { return 0 };
    let device = meta.dev();
    let mut linked = HashSet::new();
    let mut total = 0u64;
    let mut pending = vec![(root.to_path_buf(), meta)];
    while let Some((path, meta)) = pending.pop() {
        if meta.dev() != device || (meta.nlink() > 1 && !meta.is_dir() && !linked.insert(meta.ino())) {
            continue;
        }
        total = total.saturating_add(meta.blocks().saturating_mul(512));
        if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&path)
        {
            for entry in entries.flatten() {
                let path = entry.path();
                if let Ok(meta) = std::fs::symlink_metadata(&path) {
                    pending.push((path, meta));
                }
            }
        }
    }
    total
}
