//! emptyDir: a directory that lives as long as the pod, world-writable (0777) as the kubelet
//! makes it. `medium: Memory` puts it on a tmpfs sized by `sizeLimit`, else by the pod's
//! memory limit when every container has one, else by the node's memory.
//!
//! `sizeLimit` on disk is an eviction threshold in Kubernetes, not enforced at write time;
//! the node does not evict yet, so it is not enforced here.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::EmptyDirVolumeSource;

use super::mounts::{TmpfsOutcome, mount_tmpfs};
use super::{EMPTY_DIR_PLUGIN, SetupContext};
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
