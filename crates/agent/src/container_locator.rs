//! Which runtime container stands for `namespace/pod/container` on this node, for the
//! streaming server's logs, exec and attach ([`crate::server::ContainerLocator`]): an index
//! the pod workers refresh after each pass with the containers the runtime reported and the
//! waiting reasons they decided.
//!
//! It only mirrors what the pod workers saw; it never asks the runtime or the API itself.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use k8s_openapi::api::core::v1::Pod;

use crate::pod_status::{Waiting, instances};
use crate::runtime::{ContainerState, ContainerStatus};
use crate::server::{ContainerLocator, LocatedContainer};

struct IndexedPod {
    uid: String,
    containers: Vec<ContainerStatus>,
    waiting: HashMap<String, String>,
    default_reason: &'static str,
}

/// The pods of this node by namespace and name.
#[derive(Default)]
pub struct PodIndex {
    pods: RwLock<HashMap<(String, String), IndexedPod>>,
}

impl PodIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what a pod worker saw of its pod.
    pub(crate) fn set(&self, pod: &Pod, containers: &[ContainerStatus], waiting: &HashMap<String, Waiting>) {
        let meta = &pod.metadata;
        let (Some(namespace), Some(name), Some(uid)) = (&meta.namespace, &meta.name, &meta.uid) else { return };
        let has_init = pod.spec.as_ref().and_then(|s| s.init_containers.as_ref()).is_some_and(|c| !c.is_empty());
        let entry = IndexedPod {
            uid: uid.clone(),
            containers: containers.to_vec(),
            waiting: waiting.iter().map(|(name, w)| (name.clone(), w.reason.clone())).collect(),
            default_reason: if has_init { "PodInitializing" } else { "ContainerCreating" },
        };
        self.pods.write().unwrap_or_else(PoisonError::into_inner).insert((namespace.clone(), name.clone()), entry);
    }

    /// Forgets a pod (only this UID: a new pod of the same name may already be indexed).
    pub(crate) fn remove(&self, pod: &Pod) {
        let meta = &pod.metadata;
        let (Some(namespace), Some(name)) = (&meta.namespace, &meta.name) else { return };
        let mut pods = self.pods.write().unwrap_or_else(PoisonError::into_inner);
        let key = (namespace.clone(), name.clone());
        if pods.get(&key).is_some_and(|p| Some(&p.uid) == meta.uid.as_ref()) {
            pods.remove(&key);
        }
    }
}

impl ContainerLocator for PodIndex {
    fn locate(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> Option<LocatedContainer> {
        let pods = self.pods.read().unwrap_or_else(PoisonError::into_inner);
        let indexed = pods.get(&(namespace.to_string(), pod.to_string()))?;
        let instances = instances(&indexed.containers);
        let (latest, before) = instances.get(container)?;
        let instance = if previous { (*before)? } else { *latest };
        Some(LocatedContainer {
            container_id: instance.id.clone(),
            log_path: instance.log_path.clone(),
            running: instance.state == ContainerState::Running,
        })
    }

    fn waiting_reason(&self, namespace: &str, pod: &str, container: &str) -> Option<String> {
        let pods = self.pods.read().unwrap_or_else(PoisonError::into_inner);
        let indexed = pods.get(&(namespace.to_string(), pod.to_string()))?;
        Some(indexed.waiting.get(container).cloned().unwrap_or_else(|| indexed.default_reason.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use serde_json::json;
    use std::path::PathBuf;

    fn status(attempt: u32, state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            id: format!("id-{attempt}"),
            name: "web".into(),
            attempt,
            state,
            created_at: Timestamp::from_second(1_700_000_000 + i64::from(attempt)).expect("time"),
            started_at: None,
            finished_at: None,
            exit_code: None,
            reason: None,
            image_ref: "busybox".into(),
            image_id: String::new(),
            log_path: PathBuf::from(format!("/logs/web/{attempt}.log")),
            pid: None,
        }
    }

    #[test]
    fn locates_current_and_previous_instances() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": [{"name": "web"}, {"name": "side"}]}
        }))
        .expect("pod");
        let index = PodIndex::new();
        let waiting = HashMap::from([("side".to_string(), Waiting::new("ImagePullBackOff", "x"))]);
        index.set(&pod, &[status(0, ContainerState::Exited), status(1, ContainerState::Running)], &waiting);
        let current = index.locate("ns", "p", "web", false).expect("current");
        assert_eq!((current.container_id.as_str(), current.running), ("id-1", true));
        assert_eq!(current.log_path, PathBuf::from("/logs/web/1.log"));
        assert_eq!(index.locate("ns", "p", "web", true).map(|c| c.container_id), Some("id-0".into()));
        assert_eq!(index.locate("ns", "p", "side", false), None);
        assert_eq!(index.waiting_reason("ns", "p", "side").as_deref(), Some("ImagePullBackOff"));
        assert_eq!(index.waiting_reason("ns", "p", "web").as_deref(), Some("ContainerCreating"));
        assert_eq!(index.waiting_reason("ns", "other", "web"), None);
        index.remove(&pod);
        assert_eq!(index.locate("ns", "p", "web", false), None);
    }
}
