//! The pod-level cgroup limits of a sandbox, as the kubelet's `ResourceConfigForPod`
//! computes them: CPU shares from the sum of the CPU requests (2 for a pod without any),
//! and a CFS quota and memory limit only when every container has that limit. The effective
//! figure of a pod is the larger of its app containers plus sidecars, and of each regular
//! init container (which runs alone) plus the sidecars started before it.
//!
//! Pure arithmetic over the spec; it must not touch cgroups (the runtime applies them).

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::container_config::resources::{
    QUOTA_PERIOD, effective_request, limit, milli_cpu_to_quota, milli_cpu_to_shares,
};
use crate::pod_status::is_sidecar;
use crate::runtime::PodResources;

/// A per-container figure of the pod: `None` when some container lacks it.
fn pod_total(pod: &Pod, figure: impl Fn(&Container) -> Option<i64>) -> Option<i64> {
    let spec = pod.spec.as_ref()?;
    let mut sidecars = 0i64;
    let mut peak = 0i64;
    for init in spec.init_containers.iter().flatten() {
        let value = figure(init)?;
        if is_sidecar(init) {
            sidecars = sidecars.saturating_add(value);
        } else {
            peak = peak.max(sidecars.saturating_add(value));
        }
    }
    let mut apps = sidecars;
    for container in &spec.containers {
        apps = apps.saturating_add(figure(container)?);
    }
    Some(peak.max(apps))
}

pub fn pod_resources(pod: &Pod) -> PodResources {
    let cpu_requests = pod_total(pod, |c| Some(effective_request(c, "cpu").map_or(0, |q| q.milli_value())));
    let cpu_limits = pod_total(pod, |c| limit(c, "cpu").map(|q| q.milli_value()));
    let memory_limits = pod_total(pod, |c| limit(c, "memory").map(|q| q.value()));
    let cpu_quota = cpu_limits.and_then(|millis| milli_cpu_to_quota(millis, QUOTA_PERIOD));
    PodResources {
        cpu_shares: Some(milli_cpu_to_shares(cpu_requests.unwrap_or(0))),
        cpu_period: cpu_quota.map(|_| QUOTA_PERIOD),
        cpu_quota,
        memory_limit_bytes: memory_limits.filter(|&bytes| bytes > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).expect("pod")
    }

    #[test]
    fn best_effort_pods_get_minimum_shares_and_no_limits() {
        let resources = pod_resources(&pod(json!({"containers": [{"name": "a"}]})));
        assert_eq!(resources, PodResources { cpu_shares: Some(2), ..PodResources::default() });
    }

    #[test]
    fn limits_count_only_when_every_container_has_them() {
        let limited = json!({"limits": {"cpu": "500m", "memory": "64Mi"}});
        let resources = pod_resources(&pod(json!({"containers": [
            {"name": "a", "resources": limited},
            {"name": "b", "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "1"}}},
        ]})));
        // Requests: 500m (from the limit) + 250m.
        assert_eq!(resources.cpu_shares, Some(768));
        assert_eq!((resources.cpu_quota, resources.cpu_period), (Some(150_000), Some(100_000)));
        assert_eq!(resources.memory_limit_bytes, None, "b has no memory limit");
    }

    #[test]
    fn init_containers_count_at_their_peak() {
        let resources = pod_resources(&pod(json!({
            "initContainers": [
                {"name": "sidecar", "restartPolicy": "Always", "resources": {"limits": {"memory": "10Mi", "cpu": "100m"}}},
                {"name": "big-init", "resources": {"limits": {"memory": "100Mi", "cpu": "2"}}},
            ],
            "containers": [{"name": "app", "resources": {"limits": {"memory": "20Mi", "cpu": "200m"}}}],
        })));
        assert_eq!(resources.memory_limit_bytes, Some(110 << 20));
        assert_eq!(resources.cpu_quota, Some(210_000));
    }
}
