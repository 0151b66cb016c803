//! The records [`super::NodeRuntime`] keeps beside each shim: `sandbox.json` (what the sandbox
//! was created with, read back by `create_container` after an agent restart) and
//! `meta/<container id>.json` (a container's Kubernetes identity and, once seen, its exit),
//! each written atomically (temporary file, fsync, rename).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use agent::runtime::{ContainerConfig, ContainerState, ContainerStatus, Result, RuntimeError, SandboxConfig};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::shim::{ContainerInfo, Status};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SandboxRecord {
    pub hostname: String,
    pub netns_path: Option<PathBuf>,
    pub log_directory: PathBuf,
    /// The RuntimeClass handler whose OCI runtime runs the pod (absent in records written
    /// before handlers existed: the default runtime).
    #[serde(default)]
    pub runtime_handler: Option<String>,
}

impl SandboxRecord {
    pub fn from_config(config: &SandboxConfig) -> Self {
        SandboxRecord {
            hostname: config.hostname.clone(),
            netns_path: config.netns_path.clone(),
            log_directory: config.log_directory.clone(),
            runtime_handler: config.runtime_handler.clone(),
        }
    }

    pub fn write(&self, pod_dir: &Path) -> Result<()> {
        write_json(&pod_dir.join("sandbox.json"), self)
    }

    pub fn read(pod_dir: &Path) -> Result<Self> {
        read_json(&pod_dir.join("sandbox.json"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ContainerMeta {
    pub id: String,
    pub name: String,
    pub attempt: u32,
    pub image_ref: String,
    pub image_id: String,
    pub log_path: PathBuf,
    pub stop_signal: Option<String>,
    pub created_at: Timestamp,
    /// Recorded at start, so that an exited container keeps it once its shim is gone.
    #[serde(default)]
    pub started_at: Option<String>,
    pub exit_code: Option<i32>,
    pub finished_at: Option<String>,
    pub oom_killed: bool,
}

impl ContainerMeta {
    pub fn new(id: &str, config: &ContainerConfig) -> Self {
        ContainerMeta {
            id: id.to_string(),
            name: config.name.clone(),
            attempt: config.attempt,
            image_ref: config.image_ref.clone(),
            image_id: config.image.id.clone(),
            log_path: config.log_path.clone(),
            stop_signal: config.stop_signal.clone().or_else(|| config.image.config.stop_signal.clone()),
            created_at: Timestamp::now(),
            started_at: None,
            exit_code: None,
            finished_at: None,
            oom_killed: false,
        }
    }

    pub fn write(&self, meta_dir: &Path) -> Result<()> {
        write_json(&meta_dir.join(format!("{}.json", self.id)), self)
    }

    pub fn read(meta_dir: &Path, id: &str) -> Result<Self> {
        read_json(&meta_dir.join(format!("{id}.json")))
    }

    /// Read, change, write, with no other update in this process in between (the exit
    /// watcher and `start_container` would otherwise lose each other's fields).
    pub fn update(meta_dir: &Path, id: &str, change: impl FnOnce(&mut Self)) -> Result<()> {
        static UPDATES: Mutex<()> = Mutex::new(());
        let _serialized = UPDATES.lock().unwrap_or_else(|e| e.into_inner());
        let mut meta = Self::read(meta_dir, id)?;
        change(&mut meta);
        meta.write(meta_dir)
    }

    /// Every record of a pod (unreadable ones are skipped: a crash between create and write
    /// leaves at most a temporary file).
    pub fn list(meta_dir: &Path) -> Vec<Self> {
        let Ok(entries) = std::fs::read_dir(meta_dir) else { return Vec::new() };
        let mut metas: Vec<Self> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| read_json(&e.path()).ok())
            .collect();
        metas.sort_by_key(|meta| meta.created_at);
        metas
    }

    /// The agent's view: the shim's live record when the shim still knows the container, the
    /// recorded exit otherwise.
    pub fn status(&self, live: Option<&ContainerInfo>) -> ContainerStatus {
        let (state, started_at, finished_at, exit_code, pid) = match live {
            Some(info) => (
                super::container_state(info.status),
                info.started_at.as_deref().and_then(parse_time),
                info.finished_at.as_deref().and_then(parse_time),
                info.exit_code,
                info.pid.filter(|_| info.status == Status::Running),
            ),
            None => {
                let state = if self.exit_code.is_some() { ContainerState::Exited } else { ContainerState::Unknown };
                let started_at = self.started_at.as_deref().and_then(parse_time);
                (state, started_at, self.finished_at.as_deref().and_then(parse_time), self.exit_code, None)
            }
        };
        let reason = (state == ContainerState::Exited && self.oom_killed).then(|| "OOMKilled".to_string());
        ContainerStatus {
            id: self.id.clone(),
            name: self.name.clone(),
            attempt: self.attempt,
            state,
            created_at: self.created_at,
            started_at,
            finished_at,
            exit_code,
            reason,
            image_ref: self.image_ref.clone(),
            image_id: self.image_id.clone(),
            log_path: self.log_path.clone(),
            pid,
        }
    }
}

fn parse_time(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let body = serde_json::to_vec(value).map_err(super::other)?;
    let dir = path.parent().ok_or_else(|| RuntimeError::Other(format!("{} has no parent", path.display())))?;
    std::fs::create_dir_all(dir).map_err(super::other)?;
    crate::image::store::atomic_write(dir, path, &body).map_err(super::other)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let body = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RuntimeError::NotFound(path.display().to_string()),
        _ => super::other(e),
    })?;
    serde_json::from_slice(&body).map_err(|e| RuntimeError::Other(format!("{}: {e}", path.display())))
}
