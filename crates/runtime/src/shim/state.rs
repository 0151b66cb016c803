//! The shim's files in the pod directory: one JSON record per container, written atomically
//! (temporary file, fsync, rename, fsync of the directory) so that a crash of the shim or the
//! machine never leaves a torn record or loses an exit code that was reported. It owns the
//! file names; it does not decide what goes into a record.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::protocol::ContainerInfo;

pub(crate) const CONTAINERS_DIR: &str = "containers";

pub(crate) fn record_file(dir: &Path, id: &str) -> PathBuf {
    dir.join(CONTAINERS_DIR).join(format!("{id}.json"))
}

/// Where the runtime writes the init pid (`--pid-file`).
pub(crate) fn pid_file(dir: &Path, id: &str) -> PathBuf {
    dir.join(CONTAINERS_DIR).join(format!("{id}.pid"))
}

/// The `--console-socket` of a `create` with a terminal. One path serves every container
/// because creates run one at a time; it stays short because socket paths are limited to
/// 108 bytes.
pub(crate) fn console_socket(dir: &Path) -> PathBuf {
    dir.join("console.sock")
}

pub(crate) fn save(dir: &Path, info: &ContainerInfo) -> io::Result<()> {
    let path = record_file(dir, &info.id);
    let tmp = path.with_extension("json.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(info).map_err(io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    File::open(dir.join(CONTAINERS_DIR))?.sync_all()
}

/// Every readable record; unreadable ones are reported and skipped (a record is only ever
/// replaced by rename, so a bad one was not written by the shim).
pub(crate) fn load_all(dir: &Path) -> Vec<ContainerInfo> {
    let Ok(entries) = std::fs::read_dir(dir.join(CONTAINERS_DIR)) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<ContainerInfo>(&b).map_err(|e| e.to_string()))
        {
            Ok(info) => out.push(info),
            Err(e) => tracing::warn!(path = %path.display(), "skipping container record: {e}"),
        }
    }
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    out
}

pub(crate) fn remove(dir: &Path, id: &str) {
    let _ = std::fs::remove_file(record_file(dir, id));
    let _ = std::fs::remove_file(pid_file(dir, id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shim::protocol::Status;

    #[test]
    fn save_load_remove() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(CONTAINERS_DIR)).unwrap();
        let info = ContainerInfo {
            id: "c1".into(),
            bundle: "/b".into(),
            log_path: "/l".into(),
            stdin: false,
            tty: false,
            pid: Some(42),
            status: Status::Exited,
            exit_code: Some(3),
            created_at: "2026-01-01T00:00:00.000000000Z".into(),
            started_at: None,
            finished_at: None,
            log_max_size: 10,
            log_max_files: 2,
        };
        save(dir.path(), &info).unwrap();
        std::fs::write(dir.path().join(CONTAINERS_DIR).join("junk.json"), b"{").unwrap();
        assert_eq!(load_all(dir.path()), vec![info]);
        remove(dir.path(), "c1");
        assert!(!record_file(dir.path(), "c1").exists());
    }
}
