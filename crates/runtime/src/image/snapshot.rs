//! Layer snapshots and per-container root filesystems.
//!
//! Each layer is unpacked once into `snapshots/<diff-id hex>/` (independent of its parents, as
//! Docker's overlay2 does), by unpacking into `tmp/` and renaming, so a snapshot directory that
//! exists is complete. A container's rootfs is an overlayfs mount of its image's snapshots
//! (topmost first) under `containers/<id>/merged`, with `upper/` and `work/` beside it and a
//! `layers.json` written before the mount so the sweep never removes a snapshot in use.
//!
//! The mount(2) data argument is limited to one page: when the absolute lowerdir list does not
//! fit, the layers are passed as `/proc/self/fd/N` of `O_PATH` descriptors, which overlayfs
//! resolves at mount time (no chdir, so it is safe in a multi-threaded agent).

use super::store::{ContainerLayers, ImageRecord, ImageStore, Result, StoreError, io_err, remove_tree, unique_name};
use super::unpack::{UnpackOptions, unpack_layer};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Errors beyond the store's own.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unpacking layer {digest}: {source}")]
    Unpack {
        digest: String,
        #[source]
        source: super::unpack::UnpackError,
    },
    #[error("mounting overlay at {target}: {source}")]
    Mount {
        target: String,
        #[source]
        source: nix::Error,
    },
    #[error("invalid container id {0:?}")]
    InvalidContainerId(String),
}

/// Path of the snapshot of a diff ID.
fn snapshot_path(store: &ImageStore, diff_id: &str) -> Result<PathBuf> {
    let hex = super::digest::sha256_hex(diff_id).ok_or_else(|| StoreError::InvalidDigest(diff_id.to_string()))?;
    Ok(store.snapshots_dir().join(hex))
}

impl ImageStore {
    /// Unpacks every layer of an image not unpacked yet; returns the snapshot directories,
    /// bottom layer first. Layers shared with other images are unpacked once.
    pub fn ensure_unpacked(&self, image: &ImageRecord) -> std::result::Result<Vec<PathBuf>, SnapshotError> {
        let _content = self.content_lock()?;
        let mut out = Vec::with_capacity(image.layers.len());
        for layer in &image.layers {
            let dest = snapshot_path(self, &layer.diff_id)?;
            if !dest.exists() {
                self.unpack_one(&layer.digest, &layer.diff_id, &dest)?;
            }
            out.push(dest);
        }
        Ok(out)
    }

    fn unpack_one(&self, digest: &str, diff_id: &str, dest: &Path) -> std::result::Result<(), SnapshotError> {
        let tmp = self.tmp_dir().join(unique_name("unpack"));
        fs::create_dir(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
        let blob = self.open_blob(digest)?;
        let opts = UnpackOptions { expected_diff_id: Some(diff_id.to_string()), ..UnpackOptions::default() };
        if let Err(source) = unpack_layer(blob, &tmp, &opts) {
            let _ = remove_tree(&tmp);
            return Err(SnapshotError::Unpack { digest: digest.to_string(), source });
        }
        // Make the files durable before the rename publishes the snapshot as complete.
        let synced = fs::File::open(&tmp).and_then(|f| nix::unistd::syncfs(&f).map_err(io::Error::from));
        if let Err(e) = synced {
            let _ = remove_tree(&tmp);
            return Err(io_err("syncfs")(e).into());
        }
        match fs::rename(&tmp, dest) {
            Ok(()) => {}
            // Another unpack of the same layer won the race: theirs is as good as ours.
            Err(_) if dest.exists() => {
                let _ = remove_tree(&tmp);
            }
            Err(e) => {
                let _ = remove_tree(&tmp);
                return Err(io_err(format!("renaming into {}", dest.display()))(e).into());
            }
        }
        if let Some(p) = dest.parent() {
            super::store::sync_dir(p).map_err(io_err("fsync snapshots dir"))?;
        }
        Ok(())
    }

    /// Directory of a container's rootfs state.
    pub fn container_dir(&self, container_id: &str) -> std::result::Result<PathBuf, SnapshotError> {
        let ok = !container_id.is_empty()
            && container_id.len() <= 128
            && container_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !container_id.starts_with('.');
        if !ok {
            return Err(SnapshotError::InvalidContainerId(container_id.to_string()));
        }
        Ok(self.containers_dir().join(container_id))
    }

    /// Unpacks the image if needed and mounts a fresh overlay rootfs for a container; returns
    /// the mount point (`containers/<id>/merged`). Idempotent: an existing mount is returned.
    pub fn prepare_rootfs(
        &self,
        container_id: &str,
        image: &ImageRecord,
    ) -> std::result::Result<PathBuf, SnapshotError> {
        let dir = self.container_dir(container_id)?;
        let merged = dir.join("merged");
        if is_mountpoint(&merged) {
            return Ok(merged);
        }
        let layers = self.ensure_unpacked(image)?;
        // Shared with other writers; keeps a sweep from running until layers.json names the
        // snapshots this mount stands on.
        let _content = self.content_lock()?;
        for sub in ["upper", "work", "merged"] {
            fs::create_dir_all(dir.join(sub)).map_err(io_err(format!("creating {}", dir.join(sub).display())))?;
        }
        let record = ContainerLayers {
            image: image.name.clone(),
            image_config: image.config.clone(),
            diff_ids: image.layers.iter().map(|l| l.diff_id.clone()).collect(),
        };
        let body = serde_json::to_vec(&record)
            .map_err(|source| StoreError::InvalidDocument { what: "layers.json".into(), source })?;
        super::store::atomic_write(&self.tmp_dir(), &dir.join("layers.json"), &body)?;
        mount_overlay(&layers, &dir.join("upper"), &dir.join("work"), &merged)?;
        let _ = self.touch(&image.name);
        Ok(merged)
    }

    /// Unmounts and deletes a container's rootfs (absent is fine).
    pub fn remove_rootfs(&self, container_id: &str) -> std::result::Result<(), SnapshotError> {
        let dir = self.container_dir(container_id)?;
        let merged = dir.join("merged");
        if is_mountpoint(&merged) {
            nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH)
                .map_err(|source| SnapshotError::Mount { target: merged.display().to_string(), source })?;
        }
        remove_tree(&dir)?;
        Ok(())
    }
}

/// Whether `p` is a mount point (its device differs from its parent's, or it is listed).
pub fn is_mountpoint(p: &Path) -> bool {
    let Ok(target) = fs::canonicalize(p) else { return false };
    fs::read_to_string("/proc/self/mountinfo").is_ok_and(|s| {
        s.lines().any(|l| {
            l.split(' ').nth(4).is_some_and(|mp| unescape_mountinfo(mp) == target.as_os_str().to_string_lossy())
        })
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// The largest mount(2) data argument the kernel copies (one page, including the NUL).
fn mount_data_max() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().map_or(4096, |v| v as usize) - 1
}

/// Mounts overlayfs with `layers` (bottom first) as lowers.
pub fn mount_overlay(
    layers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> std::result::Result<(), SnapshotError> {
    let merr = |source| SnapshotError::Mount { target: target.display().to_string(), source };
    if layers.is_empty() {
        // overlayfs needs at least one lower directory.
        return Err(merr(nix::Error::EINVAL));
    }
    let escape = |p: &Path| p.display().to_string().replace('\\', "\\\\").replace(':', "\\:").replace(',', "\\,");
    let lowers: Vec<String> = layers.iter().rev().map(|p| escape(p)).collect();
    let mut data = format!("lowerdir={},upperdir={},workdir={}", lowers.join(":"), escape(upper), escape(work));
    // Held until mount(2) returns: the /proc/self/fd paths name them.
    let mut fds: Vec<OwnedFd> = Vec::new();
    if data.len() > mount_data_max() {
        let open = |p: &Path| -> std::result::Result<OwnedFd, SnapshotError> {
            nix::fcntl::open(
                p,
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(merr)
        };
        let mut short = Vec::with_capacity(layers.len());
        for p in layers.iter().rev() {
            let fd = open(p)?;
            short.push(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            fds.push(fd);
        }
        let ufd = open(upper)?;
        let wfd = open(work)?;
        data = format!(
            "lowerdir={},upperdir=/proc/self/fd/{},workdir=/proc/self/fd/{}",
            short.join(":"),
            ufd.as_raw_fd(),
            wfd.as_raw_fd()
        );
        fds.push(ufd);
        fds.push(wfd);
    }
    nix::mount::mount(Some("overlay"), target, Some("overlay"), nix::mount::MsFlags::empty(), Some(data.as_str()))
        .map_err(merr)?;
    drop(fds);
    Ok(())
}
