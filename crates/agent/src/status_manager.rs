//! Writes pod statuses to the API (the kubelet's status manager): a merge patch of
//! `status`, only when it differs from what was last written, and the final deletion of a
//! terminated pod's object (grace period 0, with a UID precondition so that a new pod of the
//! same name is never deleted by mistake).
//!
//! It computes nothing: statuses come from [`crate::pod_status`].

use client::{Api, DeleteParams, Patch, Preconditions};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("pod {pod} has no namespace, name or uid")]
    Incomplete { pod: String },
    #[error("update the status of pod {pod}: {source}")]
    Update {
        pod: String,
        #[source]
        source: client::Error,
    },
    #[error("delete pod {pod}: {source}")]
    Delete {
        pod: String,
        #[source]
        source: client::Error,
    },
}

fn identity(pod: &Pod) -> Result<(&str, &str, &str), StatusError> {
    let meta = &pod.metadata;
    match (meta.namespace.as_deref(), meta.name.as_deref(), meta.uid.as_deref()) {
        (Some(namespace), Some(name), Some(uid)) => Ok((namespace, name, uid)),
        _ => Err(StatusError::Incomplete { pod: meta.name.clone().unwrap_or_default() }),
    }
}

/// The last status written per pod, so that unchanged statuses cost nothing.
#[derive(Debug, Default)]
pub struct StatusCache {
    last: Option<Value>,
}

impl StatusCache {
    /// Starts from the status the API holds (one extra write at most if it is formatted
    /// differently).
    pub fn from_pod(pod: &Pod) -> Self {
        StatusCache { last: pod.status.as_ref().and_then(|s| serde_json::to_value(s).ok()) }
    }

    /// Writes `status` unless it is what was last written. Returns whether it wrote.
    pub async fn write(&mut self, client: &client::Client, pod: &Pod, status: Value) -> Result<bool, StatusError> {
        if self.last.as_ref() == Some(&status) {
            return Ok(false);
        }
        let (namespace, name, _) = identity(pod)?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        match pods.patch_status(name, &Patch::Merge(json!({ "status": status }))).await {
            Ok(_) => {
                self.last = Some(status);
                Ok(true)
            }
            // Gone: nothing left to report to.
            Err(error) if error.is_not_found() => Ok(false),
            Err(source) => Err(StatusError::Update { pod: format!("{namespace}/{name}"), source }),
        }
    }

    /// The status last written, if any.
    pub fn last(&self) -> Option<&Value> {
        self.last.as_ref()
    }
}

/// Removes the pod object for good once everything of it is gone from the node.
pub async fn delete_pod(client: &client::Client, pod: &Pod) -> Result<(), StatusError> {
    let (namespace, name, uid) = identity(pod)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
        ..DeleteParams::default()
    };
    match pods.delete(name, &params).await {
        Ok(_) => Ok(()),
        // Already gone, or replaced by a new pod of the same name.
        Err(error) if error.is_not_found() || error.is_conflict() => Ok(()),
        Err(source) => Err(StatusError::Delete { pod: format!("{namespace}/{name}"), source }),
    }
}
