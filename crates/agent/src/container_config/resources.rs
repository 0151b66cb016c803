//! Container resources as the kubelet computes them for the runtime: cgroup v1 `cpu.shares`
//! from the CPU request (`MilliCPUToShares`), the CFS quota from the CPU limit
//! (`MilliCPUToQuota`, period 100000 µs), the memory limit, the OOM score adjustment of
//! `pkg/kubelet/qos/policy.go`, and the values `resourceFieldRef` exposes (with the node's
//! allocatable standing in for an unset limit, and the division rounded up).
//!
//! Pure arithmetic over the pod spec; it must not touch cgroups (that is the runtime's job).

use k8s_openapi::api::core::v1::{Container, Pod, ResourceFieldSelector};

use super::quantity::Quantity;
use crate::runtime::ContainerResources;

pub const MIN_SHARES: u64 = 2;
pub const MAX_SHARES: u64 = 262_144;
pub const SHARES_PER_CPU: i64 = 1024;
pub const QUOTA_PERIOD: u64 = 100_000;
pub const MIN_QUOTA_PERIOD: i64 = 1000;

/// Guaranteed and node-critical pods.
pub const GUARANTEED_OOM_SCORE_ADJ: i32 = -997;
pub const BEST_EFFORT_OOM_SCORE_ADJ: i32 = 1000;

/// `MilliCPUToShares`.
pub fn milli_cpu_to_shares(milli_cpu: i64) -> u64 {
    if milli_cpu <= 0 {
        return MIN_SHARES;
    }
    let shares = milli_cpu.saturating_mul(SHARES_PER_CPU) / 1000;
    u64::try_from(shares).unwrap_or(MIN_SHARES).clamp(MIN_SHARES, MAX_SHARES)
}

/// `MilliCPUToQuota`: `None` for no limit.
pub fn milli_cpu_to_quota(milli_cpu: i64, period: u64) -> Option<i64> {
    if milli_cpu <= 0 {
        return None;
    }
    let period = i64::try_from(period).unwrap_or(i64::MAX);
    Some((milli_cpu.saturating_mul(period) / 1000).max(MIN_QUOTA_PERIOD))
}

/// A resource of the container's `requests` or `limits`, parsed (`None` when unset or
/// unparsable; validation has refused the latter already).
pub fn request(container: &Container, resource: &str) -> Option<Quantity> {
    let resources = container.resources.as_ref()?;
    resources.requests.as_ref()?.get(resource).and_then(|q| Quantity::parse(&q.0))
}

pub fn limit(container: &Container, resource: &str) -> Option<Quantity> {
    let resources = container.resources.as_ref()?;
    resources.limits.as_ref()?.get(resource).and_then(|q| Quantity::parse(&q.0))
}

/// The request, or the limit when only a limit is set (the API's defaulting of requests from
/// limits, applied here again so pods created without it behave the same).
pub fn effective_request(container: &Container, resource: &str) -> Option<Quantity> {
    request(container, resource).or_else(|| limit(container, resource))
}

/// cpu shares, quota and memory limit (`calculateLinuxResources`), plus the OOM score.
pub fn container_resources(pod: &Pod, container: &Container, node_memory_bytes: i64) -> ContainerResources {
    let cpu_request = request(container, "cpu").unwrap_or_default();
    let cpu_limit = limit(container, "cpu").unwrap_or_default();
    let memory_limit = limit(container, "memory").unwrap_or_default();
    // No request but a limit: the shares follow the limit.
    let cpu_shares = if cpu_request.is_zero() && !cpu_limit.is_zero() {
        milli_cpu_to_shares(cpu_limit.milli_value())
    } else {
        milli_cpu_to_shares(cpu_request.milli_value())
    };
    let cpu_quota = if cpu_limit.is_zero() { None } else { milli_cpu_to_quota(cpu_limit.milli_value(), QUOTA_PERIOD) };
    ContainerResources {
        cpu_shares,
        cpu_quota,
        cpu_period: QUOTA_PERIOD,
        memory_limit_bytes: (!memory_limit.is_zero()).then(|| memory_limit.value()),
        oom_score_adj: oom_score_adj(pod, container, node_memory_bytes),
    }
}

/// The pod's QoS class (`Guaranteed`, `Burstable`, `BestEffort`), as `api::qos` computes it.
pub fn qos_class(pod: &Pod) -> &'static str {
    match pod.spec.as_ref().map(serde_json::to_value) {
        Some(Ok(spec)) => api::qos::pod_qos_class(&spec),
        _ => "BestEffort",
    }
}

fn is_sidecar(pod: &Pod, container: &Container) -> bool {
    pod.spec.as_ref().and_then(|spec| spec.init_containers.as_ref()).is_some_and(|inits| {
        inits.iter().any(|init| init.name == container.name && init.restart_policy.as_deref() == Some("Always"))
    })
}

/// `GetContainerOOMScoreAdjust`.
pub fn oom_score_adj(pod: &Pod, container: &Container, memory_capacity: i64) -> i32 {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.priority_class_name.as_deref()) == Some("system-node-critical") {
        return GUARANTEED_OOM_SCORE_ADJ;
    }
    match qos_class(pod) {
        "Guaranteed" => return GUARANTEED_OOM_SCORE_ADJ,
        "BestEffort" => return BEST_EFFORT_OOM_SCORE_ADJ,
        _ => {}
    }
    if memory_capacity <= 0 {
        return BEST_EFFORT_OOM_SCORE_ADJ - 1;
    }
    let score = |memory_request: i64| -> i64 {
        1000 - i64::try_from(i128::from(memory_request) * 1000 / i128::from(memory_capacity)).unwrap_or(i64::MAX)
    };
    let mut adjust = score(request(container, "memory").map_or(0, |q| q.value()));
    // A sidecar is not killed before the regular containers it serves: it gets at most the
    // score of the regular container with the smallest memory request.
    if is_sidecar(pod, container) {
        let min_regular = spec
            .map(|s| s.containers.iter().map(|c| request(c, "memory").map_or(0, |q| q.value())).min().unwrap_or(0))
            .unwrap_or(0);
        if min_regular != 0 {
            adjust = adjust.min(score(min_regular));
        }
    }
    // Burstable stays above any Guaranteed container and below BestEffort.
    let floor = i64::from(1000 + GUARANTEED_OOM_SCORE_ADJ);
    if adjust < floor {
        return 1000 + GUARANTEED_OOM_SCORE_ADJ;
    }
    if adjust >= i64::from(BEST_EFFORT_OOM_SCORE_ADJ) {
        return BEST_EFFORT_OOM_SCORE_ADJ - 1;
    }
    i32::try_from(adjust).unwrap_or(BEST_EFFORT_OOM_SCORE_ADJ - 1)
}

/// What the node offers for limits a container leaves unset (`defaultPodLimitsForDownwardAPI`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeAllocatable {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub ephemeral_storage_bytes: i64,
}

/// The value of a `resourceFieldRef` for `container` (the env var's own container, or the one
/// `containerName` names), as a decimal string.
pub fn resource_field_value(
    selector: &ResourceFieldSelector,
    pod: &Pod,
    container: &Container,
    node: NodeAllocatable,
) -> Result<String, String> {
    let container = match selector.container_name.as_deref() {
        None | Some("") => container,
        Some(name) => find_container(pod, name).ok_or_else(|| format!("container {name} not found"))?,
    };
    let divisor = match selector.divisor.as_ref().map(|d| Quantity::parse(&d.0)) {
        None => Quantity::from_value(1),
        Some(None) => return Err(format!("invalid divisor for resource {}", selector.resource)),
        Some(Some(d)) if d.is_zero() => Quantity::from_value(1),
        Some(Some(d)) => d,
    };
    let (kind, resource) = selector
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource : {}", selector.resource))?;
    let value = match kind {
        "limits" => limit(container, resource).filter(|q| !q.is_zero()).or_else(|| match resource {
            "cpu" => Some(Quantity::from_milli(node.cpu_millis)),
            "memory" => Some(Quantity::from_value(node.memory_bytes)),
            "ephemeral-storage" => Some(Quantity::from_value(node.ephemeral_storage_bytes)),
            _ => None,
        }),
        "requests" => effective_request(container, resource),
        _ => return Err(format!("unsupported container resource : {}", selector.resource)),
    };
    match resource {
        "cpu" => {
            let milli = value.unwrap_or_default().milli_value();
            Ok(ceil_div(milli, divisor.milli_value()).to_string())
        }
        "memory" | "ephemeral-storage" => Ok(ceil_div(value.unwrap_or_default().value(), divisor.value()).to_string()),
        name if name.starts_with("hugepages-") => {
            Ok(ceil_div(value.unwrap_or_default().value(), divisor.value()).to_string())
        }
        _ => Err(format!("unsupported container resource : {}", selector.resource)),
    }
}

fn ceil_div(value: i64, divisor: i64) -> i64 {
    if divisor == 0 {
        return value;
    }
    let q = value / divisor;
    if value % divisor != 0 && (value > 0) == (divisor > 0) { q + 1 } else { q }
}

pub fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers.iter().chain(spec.init_containers.iter().flatten()).find(|c| c.name == name)
}
