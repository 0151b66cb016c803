//! The few mount operations volumes need: tmpfs for memory-backed volumes, lazy unmount on
//! teardown, and reading `/proc/self/mountinfo` to know what is mounted under a pod directory.
//!
//! Only tmpfs mounts the agent itself made under its pods directory are touched here; bind
//! mounts into containers are the runtime's.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

/// Mount points under `prefix` (inclusive), deepest first, from `/proc/self/mountinfo`.
pub fn mount_points_under(prefix: &Path) -> io::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut points: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|point| point.starts_with(prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    Ok(points)
}

pub fn is_mount_point(path: &Path) -> bool {
    mount_points_under(path).is_ok_and(|points| points.iter().any(|p| p == path))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(digits) = field.get(i + 1..i + 4)
            && let Ok(value) = u8::from_str_radix(digits, 8)
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

/// What happened when a memory-backed volume was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TmpfsOutcome {
    Mounted,
    AlreadyMounted,
    /// Not root: the directory stays on disk (development and unprivileged test runs only).
    NotPermitted,
}

/// Mounts a tmpfs at `path` (idempotent), `size_bytes` bounding it.
pub fn mount_tmpfs(path: &Path, size_bytes: Option<u64>) -> io::Result<TmpfsOutcome> {
    if is_mount_point(path) {
        return Ok(TmpfsOutcome::AlreadyMounted);
    }
    let options = size_bytes.map(|size| format!("size={size}"));
    match nix::mount::mount(
        Some("tmpfs"),
        path,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        options.as_deref(),
    ) {
        Ok(()) => Ok(TmpfsOutcome::Mounted),
        Err(nix::errno::Errno::EPERM) if !nix::unistd::geteuid().is_root() => Ok(TmpfsOutcome::NotPermitted),
        Err(errno) => Err(io::Error::from(errno)),
    }
}

/// Detaches the mount at `path` (absent is fine).
pub fn unmount(path: &Path) -> io::Result<()> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(errno) => Err(io::Error::from(errno)),
    }
}
