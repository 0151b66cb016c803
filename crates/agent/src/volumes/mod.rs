//! Pod volumes on the node: emptyDir (disk, and `medium: Memory` on tmpfs with `sizeLimit`),
//! hostPath, configMap, secret (on tmpfs), downwardAPI and projected, under
//! `DATA_DIR/agent/pods/<uid>/volumes/<plugin>/<name>`; `subPath` resolution; resync of
//! configMap/secret/downwardAPI contents into running pods (atomic `..data` symlink swap, as
//! the kubelet's AtomicWriter does).
//!
//! It owns those directories and nothing else: it must not create containers or touch the
//! pod's status.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::runtime::Mount;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{0}")]
    Invalid(String),
}

/// The host directories of one pod's volumes, once set up.
#[derive(Debug, Clone, Default)]
pub struct PodVolumes {
    pub volumes: Vec<(String, PathBuf)>,
}

impl PodVolumes {
    /// The bind mounts for one container's `volumeMounts` (with `subPath` resolved and
    /// checked to stay inside the volume).
    pub fn mounts_for(&self, container: &Container) -> Result<Vec<Mount>, VolumeError> {
        match container.volume_mounts.as_deref() {
            None | Some([]) => Ok(Vec::new()),
            Some(_) => Err(VolumeError::Invalid("volume mounts: not implemented yet".into())),
        }
    }
}

pub struct VolumeManager {
    client: client::Client,
    pods_dir: PathBuf,
}

impl VolumeManager {
    /// `pods_dir` is `DATA_DIR/agent/pods`.
    pub fn new(client: client::Client, pods_dir: PathBuf) -> Self {
        Self { client, pods_dir }
    }

    /// Creates (idempotently) every volume of the pod and fills configMap/secret/downwardAPI/
    /// projected contents.
    pub async fn setup(&self, pod: &Pod) -> Result<PodVolumes, VolumeError> {
        let _ = (&self.client, &self.pods_dir);
        match pod.spec.as_ref().and_then(|spec| spec.volumes.as_deref()) {
            None | Some([]) => Ok(PodVolumes::default()),
            Some(_) => Err(VolumeError::Invalid("volumes: not implemented yet".into())),
        }
    }

    /// Rewrites configMap/secret/downwardAPI/projected contents that changed (called
    /// periodically for running pods).
    pub async fn resync(&self, pod: &Pod) -> Result<(), VolumeError> {
        let _ = pod;
        Ok(())
    }

    /// Unmounts and removes every volume directory of the pod (absent is fine).
    pub async fn teardown(&self, pod_uid: &str) -> Result<(), VolumeError> {
        let _ = pod_uid;
        Ok(())
    }

    /// Pod UIDs that have volume directories, for orphan cleanup at start.
    pub async fn list(&self) -> Result<Vec<String>, VolumeError> {
        Ok(Vec::new())
    }
}
