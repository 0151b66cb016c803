//! Resolves who a container's process runs as: the image's `USER` (`name`, `uid`,
//! `name:group`, `uid:gid`) and the pod's `runAsUser`/`runAsGroup`/`supplementalGroups`,
//! looked up in the root filesystem's `/etc/passwd` and `/etc/group` the way containerd does.
//!
//! The files belong to the image, so they are untrusted: they are found by resolving
//! symlinks *inside* the root filesystem (an absolute link target is taken relative to the
//! rootfs, `..` never climbs above it) and read with a size cap. This module never writes.

use super::{ContainerError, io_err};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// The numeric identity the runtime spec carries (`process.user`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// The primary gid first, then the groups listing the user by name, then the pod's
    /// supplemental groups, without duplicates (what `id` shows as `groups=`).
    pub additional_gids: Vec<u32>,
}

/// Files bigger than this are not account databases.
const MAX_DB_BYTES: u64 = 4 << 20;
const MAX_SYMLINKS: usize = 40;

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves the user. `run_as_user`/`run_as_group` override the image's user and group;
/// a user *name* that the image's passwd lacks is an error (as in Docker and containerd), a
/// numeric uid without an entry runs with gid 0.
pub fn resolve_user(
    rootfs: &Path,
    image_user: Option<&str>,
    run_as_user: Option<i64>,
    run_as_group: Option<i64>,
    supplemental_groups: &[i64],
) -> Result<ResolvedUser, ContainerError> {
    let image_user = image_user.map(str::trim).filter(|u| !u.is_empty());
    let (user_part, group_part) = match (run_as_user, image_user) {
        (Some(uid), _) => (Some(id_to_string(uid, "runAsUser")?), None),
        (None, Some(u)) => match u.split_once(':') {
            Some((user, group)) => (Some(user.to_string()), Some(group.to_string()).filter(|g| !g.is_empty())),
            None => (Some(u.to_string()), None),
        },
        (None, None) => (None, None),
    };
    let passwd = read_db(rootfs, "etc/passwd")?.map(|t| parse_passwd(&t)).unwrap_or_default();
    let groups = read_db(rootfs, "etc/group")?.map(|t| parse_group(&t)).unwrap_or_default();

    // The user: numeric, or a name that must exist.
    let (uid, mut gid, name) = match user_part.as_deref().filter(|u| !u.is_empty()) {
        None => match passwd.iter().find(|p| p.uid == 0) {
            Some(p) => (0, p.gid, Some(p.name.clone())),
            None => (0, 0, None),
        },
        Some(u) => match u.parse::<u32>() {
            Ok(uid) => match passwd.iter().find(|p| p.uid == uid) {
                Some(p) => (uid, p.gid, Some(p.name.clone())),
                None => (uid, 0, None),
            },
            Err(_) => match passwd.iter().find(|p| p.name == u) {
                Some(p) => (p.uid, p.gid, Some(p.name.clone())),
                None => return Err(ContainerError::UserNotFound(u.to_string())),
            },
        },
    };
    if let Some(g) = group_part.as_deref() {
        gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => match groups.iter().find(|e| e.name == g) {
                Some(e) => e.gid,
                None => return Err(ContainerError::GroupNotFound(g.to_string())),
            },
        };
    }
    if let Some(g) = run_as_group {
        gid = u32::try_from(g).map_err(|_| ContainerError::Invalid(format!("runAsGroup {g} is out of range")))?;
    }

    let mut additional_gids = vec![gid];
    if let Some(name) = &name {
        for g in &groups {
            if g.members.iter().any(|m| m == name) && !additional_gids.contains(&g.gid) {
                additional_gids.push(g.gid);
            }
        }
    }
    for &g in supplemental_groups {
        let g =
            u32::try_from(g).map_err(|_| ContainerError::Invalid(format!("supplemental group {g} is out of range")))?;
        if !additional_gids.contains(&g) {
            additional_gids.push(g);
        }
    }
    Ok(ResolvedUser { uid, gid, additional_gids })
}

fn id_to_string(id: i64, field: &str) -> Result<String, ContainerError> {
    u32::try_from(id)
        .map(|v| v.to_string())
        .map_err(|_| ContainerError::Invalid(format!("{field} {id} is out of range")))
}

/// Reads `rel` (e.g. `etc/passwd`) inside `rootfs`; `None` when it does not exist.
fn read_db(rootfs: &Path, rel: &str) -> Result<Option<String>, ContainerError> {
    let Some(path) = resolve_in_root(rootfs, Path::new(rel))? else {
        return Ok(None);
    };
    // The last component is not a symlink (resolve_in_root followed them); O_NOFOLLOW makes
    // a swap between the check and the open fail instead of escaping.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(io_err(format!("open {}", path.display())))?;
    if !file.metadata().map_err(io_err(format!("stat {}", path.display())))?.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.take(MAX_DB_BYTES).read_to_end(&mut bytes).map_err(io_err(format!("read {}", path.display())))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Resolves `rel` under `root` as if `root` were `/`: symlinks are followed with their
/// targets re-rooted, `..` stops at `root`. `None` when a component does not exist.
pub(crate) fn resolve_in_root(root: &Path, rel: &Path) -> Result<Option<PathBuf>, ContainerError> {
    let mut pending: Vec<PathBuf> = Vec::new();
    push_components(&mut pending, rel);
    let mut resolved: Vec<PathBuf> = Vec::new();
    let mut links = 0usize;
    while let Some(comp) = pending.pop() {
        if comp.as_os_str() == ".." {
            resolved.pop();
            continue;
        }
        let mut here = root.to_path_buf();
        here.extend(&resolved);
        here.push(&comp);
        match fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ContainerError::Invalid(format!("too many symlinks resolving {}", rel.display())));
                }
                let target = fs::read_link(&here).map_err(io_err(format!("readlink {}", here.display())))?;
                if target.is_absolute() {
                    resolved.clear();
                }
                push_components(&mut pending, &target);
            }
            Ok(_) => resolved.push(comp),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(format!("stat {}", here.display()))(e)),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(Some(out))
}

/// Pushes `p`'s normal and `..` components onto the stack so that the first is popped first.
fn push_components(stack: &mut Vec<PathBuf>, p: &Path) {
    let comps: Vec<PathBuf> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) if !s.as_bytes().is_empty() => Some(PathBuf::from(s)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    stack.extend(comps.into_iter().rev());
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let (name, uid, gid) = (f.first()?, f.get(2)?, f.get(3)?);
            Some(PasswdEntry { name: name.to_string(), uid: uid.trim().parse().ok()?, gid: gid.trim().parse().ok()? })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let (name, gid) = (f.first()?, f.get(2)?);
            let members = f
                .get(3)
                .map(|m| m.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
                .unwrap_or_default();
            Some(GroupEntry { name: name.to_string(), gid: gid.trim().parse().ok()?, members })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc")).unwrap();
        fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n# comment\nnginx:x:101:101::/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\nbroken:x:notanumber:1\n",
        )
        .unwrap();
        fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:root,app\nnginx:x:101:\napp:x:1000:\nvideo:x:44:app\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn default_is_root_with_its_groups() {
        let d = rootfs();
        let u = resolve_user(d.path(), None, None, None, &[]).unwrap();
        assert_eq!(u, ResolvedUser { uid: 0, gid: 0, additional_gids: vec![0, 10] });
    }

    #[test]
    fn image_user_by_name_and_number() {
        let d = rootfs();
        let u = resolve_user(d.path(), Some("app"), None, None, &[]).unwrap();
        assert_eq!(u, ResolvedUser { uid: 1000, gid: 1000, additional_gids: vec![1000, 10, 44] });
        let u = resolve_user(d.path(), Some("101"), None, None, &[]).unwrap();
        assert_eq!((u.uid, u.gid), (101, 101));
        // A uid without a passwd entry runs with gid 0 and no extra groups.
        let u = resolve_user(d.path(), Some("4242"), None, None, &[]).unwrap();
        assert_eq!(u, ResolvedUser { uid: 4242, gid: 0, additional_gids: vec![0] });
    }

    #[test]
    fn user_and_group_forms() {
        let d = rootfs();
        let u = resolve_user(d.path(), Some("app:wheel"), None, None, &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        let u = resolve_user(d.path(), Some("5:7"), None, None, &[]).unwrap();
        assert_eq!(u, ResolvedUser { uid: 5, gid: 7, additional_gids: vec![7] });
        assert!(
            matches!(resolve_user(d.path(), Some("nobody"), None, None, &[]), Err(ContainerError::UserNotFound(n)) if n == "nobody")
        );
        assert!(matches!(
            resolve_user(d.path(), Some("app:nogroup"), None, None, &[]),
            Err(ContainerError::GroupNotFound(_))
        ));
    }

    #[test]
    fn run_as_overrides_image_user() {
        let d = rootfs();
        let u = resolve_user(d.path(), Some("nginx"), Some(1000), Some(3000), &[2000, 3000]).unwrap();
        assert_eq!(u, ResolvedUser { uid: 1000, gid: 3000, additional_gids: vec![3000, 10, 44, 2000] });
        assert!(matches!(resolve_user(d.path(), None, Some(-1), None, &[]), Err(ContainerError::Invalid(_))));
        assert!(matches!(resolve_user(d.path(), None, None, None, &[1 << 40]), Err(ContainerError::Invalid(_))));
    }

    #[test]
    fn no_passwd_file_means_numeric_only() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(resolve_user(d.path(), None, None, None, &[]).unwrap().uid, 0);
        assert!(resolve_user(d.path(), Some("app"), None, None, &[]).is_err());
    }

    #[test]
    fn symlinks_never_leave_the_rootfs() {
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(outside.path().join("etc")).unwrap();
        fs::write(outside.path().join("etc/passwd"), "evil:x:0:0::/:/bin/sh\n").unwrap();
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc")).unwrap();
        // An absolute link to the host's file, and a relative one climbing out: both stay inside.
        std::os::unix::fs::symlink(outside.path().join("etc/passwd"), d.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../../etc/hostname", d.path().join("etc/group")).unwrap();
        assert!(matches!(resolve_user(d.path(), Some("evil"), None, None, &[]), Err(ContainerError::UserNotFound(_))));
        assert_eq!(resolve_in_root(d.path(), Path::new("etc/group")).unwrap(), None);
        assert_eq!(resolve_in_root(d.path(), Path::new("etc/passwd")).unwrap(), None);
        // A link inside the rootfs is followed.
        let d2 = rootfs();
        fs::rename(d2.path().join("etc/passwd"), d2.path().join("etc/passwd.real")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd.real", d2.path().join("etc/passwd")).unwrap();
        assert_eq!(resolve_user(d2.path(), Some("app"), None, None, &[]).unwrap().uid, 1000);
        // A loop is an error, not a hang.
        let d3 = tempfile::tempdir().unwrap();
        fs::create_dir_all(d3.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("passwd", d3.path().join("etc/passwd")).unwrap();
        assert!(matches!(resolve_user(d3.path(), None, None, None, &[]), Err(ContainerError::Invalid(_))));
    }
}
