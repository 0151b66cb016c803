//! The kubelet's AtomicWriter: the files of a configMap, secret, downwardAPI or projected
//! volume are written into a fresh timestamped directory (`..2024_01_02_15_04_05.123456789`),
//! then the `..data` symlink is switched to it by an atomic rename, and each user-visible top
//! level name is a symlink through `..data` (`key -> ..data/key`). A reader therefore sees
//! either the old or the new set of files, never a mix, and running containers see updates.
//!
//! It owns the contents of one volume directory and nothing outside it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

const DATA_DIR_NAME: &str = "..data";
const NEW_DATA_DIR_NAME: &str = "..data_tmp";
const MAX_FILE_NAME_LENGTH: usize = 255;
const MAX_PATH_LENGTH: usize = 4096;

/// One file of the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Relative path → file.
pub type Payload = BTreeMap<String, FileProjection>;

/// `validatePath`: relative, no `..` element, no element starting with `..` (those names are
/// the writer's own), within the length limits.
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("invalid path: must not be empty".to_string());
    }
    if path.len() > MAX_PATH_LENGTH {
        return Err(format!("invalid path: must be less than or equal to {MAX_PATH_LENGTH} characters"));
    }
    if Path::new(path).is_absolute() {
        return Err(format!("invalid path: must be relative path: {path}"));
    }
    for element in path.split('/') {
        if element.len() > MAX_FILE_NAME_LENGTH {
            return Err(format!(
                "invalid path: filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} characters"
            ));
        }
        if element == ".." {
            return Err(format!("invalid path: must not contain '..': {path}"));
        }
        if element.starts_with("..") {
            return Err(format!("invalid path: must not start with '..': {path}"));
        }
    }
    Ok(())
}

/// Cleans a path (`a//b/./c` → `a/b/c`) after validation.
fn clean(path: &str) -> String {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn top_level(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// What a write changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Unchanged,
    Written,
}

/// Writes `payload` into `target` (which must exist), atomically replacing the previous
/// contents. `fs_group` makes the files group-owned and group-readable, as the kubelet's
/// `SetVolumeOwnership` does for read-only volumes.
pub fn write(target: &Path, payload: &Payload, fs_group: Option<i64>) -> io::Result<WriteOutcome> {
    let mut clean_payload = Payload::new();
    for (path, file) in payload {
        validate_path(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        clean_payload.insert(clean(path), file.clone());
    }

    let data_link = target.join(DATA_DIR_NAME);
    let old_ts_name = std::fs::read_link(&data_link).ok();
    let old_ts_dir = old_ts_name.as_ref().map(|name| target.join(name));

    if let Some(old) = &old_ts_dir
        && !should_write(target, old, &clean_payload, fs_group)?
    {
        return Ok(WriteOutcome::Unchanged);
    }

    let old_files: BTreeSet<String> = match &old_ts_dir {
        Some(dir) => list_files(dir)?.into_iter().collect(),
        None => BTreeSet::new(),
    };

    let ts_dir = new_timestamp_dir(target)?;
    let ts_name = ts_dir.file_name().map(PathBuf::from).unwrap_or_default();
    write_payload(&ts_dir, &clean_payload)?;
    if let Some(gid) = fs_group {
        set_group_ownership(&ts_dir, gid)?;
    }

    let new_link = target.join(NEW_DATA_DIR_NAME);
    match std::fs::remove_file(&new_link) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    symlink(&ts_name, &new_link)?;
    std::fs::rename(&new_link, &data_link)?;

    // User-visible names: one symlink per top-level element, through `..data`.
    let new_top: BTreeSet<&str> = clean_payload.keys().map(|p| top_level(p)).collect();
    for name in &new_top {
        let visible = target.join(name);
        if std::fs::symlink_metadata(&visible).is_err() {
            symlink(Path::new(DATA_DIR_NAME).join(name), &visible)?;
        }
    }
    for old in &old_files {
        let name = top_level(old);
        if !new_top.contains(name) {
            match std::fs::remove_file(target.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    if let Some(old) = old_ts_dir
        && old != ts_dir
    {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(WriteOutcome::Written)
}

/// Whether the payload differs from what `..data` shows (contents, modes, the set of files),
/// or a user-visible link is missing.
fn should_write(target: &Path, old_ts_dir: &Path, payload: &Payload, fs_group: Option<i64>) -> io::Result<bool> {
    let existing = match list_files(old_ts_dir) {
        Ok(files) => files,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    if existing.len() != payload.len() {
        return Ok(true);
    }
    for (path, file) in payload {
        let full = old_ts_dir.join(path);
        let Ok(metadata) = std::fs::symlink_metadata(&full) else { return Ok(true) };
        let expected_mode = if fs_group.is_some() { file.mode | 0o440 } else { file.mode };
        if !metadata.is_file() || metadata.permissions().mode() & 0o7777 != expected_mode & 0o7777 {
            return Ok(true);
        }
        if std::fs::read(&full)? != file.data {
            return Ok(true);
        }
        if std::fs::symlink_metadata(target.join(top_level(path))).is_err() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every regular file under `dir`, relative to it.
fn list_files(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        for entry in std::fs::read_dir(dir.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if let Some(text) = path.to_str() {
                out.push(text.to_string());
            }
        }
    }
    Ok(out)
}

fn new_timestamp_dir(target: &Path) -> io::Result<PathBuf> {
    let now = jiff::Timestamp::now();
    let base = now.strftime("..%Y_%m_%d_%H_%M_%S.").to_string();
    // A unique suffix, as MkdirTemp adds one.
    for attempt in 0u32..1000 {
        let name = format!("{base}{}{attempt}", now.subsec_nanosecond());
        let dir = target.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free timestamped directory name"))
}

fn write_payload(dir: &Path, payload: &Payload) -> io::Result<()> {
    for (path, file) in payload {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, &file.data)?;
        // Explicitly, so the umask does not narrow the requested mode.
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(file.mode & 0o7777))?;
    }
    Ok(())
}

/// `SetVolumeOwnership` for a read-only volume: group `gid`, group-readable files, setgid
/// group-searchable directories.
pub fn set_group_ownership(root: &Path, gid: i64) -> io::Result<()> {
    let gid = u32::try_from(gid).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "invalid fsGroup"))?;
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let metadata = std::fs::symlink_metadata(&path)?;
        std::os::unix::fs::lchown(&path, None, Some(gid))?;
        if metadata.is_symlink() {
            continue;
        }
        let mut mode = metadata.permissions().mode() & 0o7777;
        if metadata.is_dir() {
            mode |= 0o440 | 0o110 | 0o2000;
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        } else {
            mode |= 0o440;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}
