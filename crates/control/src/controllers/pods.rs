//! Pod facts the workload controllers share (Kubernetes' `podutil` and `controller_utils`):
//! active, ready, available, and the deletion ranking of `ActivePodsWithRanks`.
//!
//! Pure functions over pods; the current time is passed in. No API calls here.

use std::cmp::Ordering;
use std::sync::Arc;

use client::reflector::{IndexFunc, Store};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use super::controller_ref;

/// The pod cache index by controller: `<namespace>/<controller uid>`, and `<namespace>/` for
/// pods with no controller (client-go's `controllerUIDIndex` with its orphan key).
pub const CONTROLLER_INDEX: &str = "controller";
/// The pod cache index by `spec.nodeName` (bound pods only).
pub const NODE_INDEX: &str = "node";

pub fn controller_index() -> IndexFunc<Pod> {
    Arc::new(|pod: &Pod| {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let uid = controller_ref::controller_of(&pod.metadata).map(|r| r.uid.as_str()).unwrap_or_default();
        vec![format!("{namespace}/{uid}")]
    })
}

pub fn node_index() -> IndexFunc<Pod> {
    Arc::new(|pod: &Pod| Some(node_name(pod)).filter(|n| !n.is_empty()).map(str::to_string).into_iter().collect())
}

/// The cached pods controlled by the object with `uid` in `namespace`.
pub fn controlled_by(pods: &Store<Pod>, namespace: &str, uid: &str) -> Vec<Arc<Pod>> {
    pods.by_index(CONTROLLER_INDEX, &format!("{namespace}/{uid}"))
}

/// The cached pods of `namespace` that have no controller.
pub fn orphans(pods: &Store<Pod>, namespace: &str) -> Vec<Arc<Pod>> {
    pods.by_index(CONTROLLER_INDEX, &format!("{namespace}/"))
}

/// The cached pods bound to `node`.
pub fn on_node(pods: &Store<Pod>, node: &str) -> Vec<Arc<Pod>> {
    pods.by_index(NODE_INDEX, node)
}

/// Not finished and not being deleted (`controller.IsPodActive`).
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
    phase != "Succeeded" && phase != "Failed" && pod.metadata.deletion_timestamp.is_none()
}

/// `Succeeded` or `Failed`.
pub fn is_terminated(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

pub fn node_name(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("")
}

/// The `Ready` condition's status is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

fn ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

/// When the pod last became ready (the `Ready` condition's transition time), if it is ready.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let condition = ready_condition(pod).filter(|c| c.status == "True")?;
    condition.last_transition_time.as_ref().map(|t| t.0)
}

/// Ready for at least `min_ready_seconds` (`podutil.IsPodAvailable`).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    match ready_since(pod) {
        Some(since) => since + jiff::SignedDuration::from_secs(i64::from(min_ready_seconds)) <= now,
        None => false,
    }
}

/// When a ready pod becomes available (for requeues), if it is not yet.
pub fn available_at(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Option<Timestamp> {
    let since = ready_since(pod)?;
    let at = since + jiff::SignedDuration::from_secs(i64::from(min_ready_seconds.max(0)));
    (at > now).then_some(at)
}

fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|statuses| statuses.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

/// The `controller.kubernetes.io/pod-deletion-cost` annotation (0 when absent or invalid).
fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("controller.kubernetes.io/pod-deletion-cost"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Pending < Unknown < Running (`podPhaseToOrdinal`).
fn phase_ordinal(pod: &Pod) -> u8 {
    match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

/// `floor(log2(now - t))`, or -1 when `t` is not in the past: times in the same power-of-two
/// bucket rank equal (the LogarithmicScaleDown feature, on by default).
fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let nanos = now.as_nanosecond() - t.as_nanosecond();
    if nanos <= 0 { -1 } else { i64::from(127 - (nanos as u128).leading_zeros() as i32) }
}

/// `afterOrZero`: a missing time first, then the later time first.
fn after_or_zero(a: Option<Timestamp>, b: Option<Timestamp>) -> bool {
    match (a, b) {
        (None, _) | (_, None) => a.is_none(),
        (Some(a), Some(b)) => a > b,
    }
}

/// A pod with what the ranking needs. `rank` is how many related active pods share its node.
pub struct Ranked<'a> {
    pub pod: &'a Pod,
    pub rank: usize,
}

/// Whether `a` should be deleted before `b` (`ActivePodsWithRanks.Less`).
pub fn delete_first(a: &Ranked<'_>, b: &Ranked<'_>, now: Timestamp) -> bool {
    let (pa, pb) = (a.pod, b.pod);
    // 1. Unassigned < assigned.
    let (na, nb) = (node_name(pa), node_name(pb));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return na.is_empty();
    }
    // 2. Pending < Unknown < Running.
    if phase_ordinal(pa) != phase_ordinal(pb) {
        return phase_ordinal(pa) < phase_ordinal(pb);
    }
    // 3. Not ready < ready.
    if is_ready(pa) != is_ready(pb) {
        return !is_ready(pa);
    }
    // 4. Lower pod-deletion-cost < higher.
    if deletion_cost(pa) != deletion_cost(pb) {
        return deletion_cost(pa) < deletion_cost(pb);
    }
    // 5. Doubled up (more related pods on the node) < not.
    if a.rank != b.rank {
        return a.rank > b.rank;
    }
    let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    // 6. Ready for less time < more time.
    if is_ready(pa) && is_ready(pb) {
        let (ta, tb) = (ready_since(pa), ready_since(pb));
        if ta != tb {
            return match (ta, tb) {
                (Some(ta), Some(tb)) => {
                    let diff = log_rank(ta, now) - log_rank(tb, now);
                    if diff == 0 { uid(pa) < uid(pb) } else { diff < 0 }
                }
                _ => after_or_zero(ta, tb),
            };
        }
    }
    // 7. More container restarts < fewer.
    if max_restarts(pa) != max_restarts(pb) {
        return max_restarts(pa) > max_restarts(pb);
    }
    // 8. Newer < older.
    let (ca, cb) =
        (pa.metadata.creation_timestamp.as_ref().map(|t| t.0), pb.metadata.creation_timestamp.as_ref().map(|t| t.0));
    if ca != cb {
        return match (ca, cb) {
            (Some(ca), Some(cb)) => {
                let diff = log_rank(ca, now) - log_rank(cb, now);
                if diff == 0 { uid(pa) < uid(pb) } else { diff < 0 }
            }
            _ => after_or_zero(ca, cb),
        };
    }
    false
}

/// Sorts pods so that those to delete first come first.
pub fn sort_for_deletion(pods: &mut [Ranked<'_>], now: Timestamp) {
    pods.sort_by(|a, b| {
        if delete_first(a, b, now) {
            Ordering::Less
        } else if delete_first(b, a, now) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    pub fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).expect("timestamp")
    }

    pub fn pod(name: &str, node: &str, phase: &str, ready_since: Option<i64>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time(at(0))),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some(node.into()).filter(|n: &String| !n.is_empty()),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: ready_since.map(|t| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(at(t))),
                        ..PodCondition::default()
                    }]
                }),
                ..PodStatus::default()
            }),
        }
    }

    fn order(pods: &[Pod], ranks: &[usize], now: Timestamp) -> Vec<String> {
        let mut ranked: Vec<_> = pods.iter().zip(ranks).map(|(pod, &rank)| Ranked { pod, rank }).collect();
        sort_for_deletion(&mut ranked, now);
        ranked.iter().map(|r| r.pod.metadata.name.clone().unwrap_or_default()).collect()
    }

    #[test]
    fn availability_needs_min_ready_seconds() {
        let p = pod("a", "n1", "Running", Some(100));
        assert!(is_available(&p, 0, at(100)));
        assert!(!is_available(&p, 10, at(105)));
        assert!(is_available(&p, 10, at(110)));
        assert_eq!(available_at(&p, 10, at(105)), Some(at(110)));
        assert!(!is_available(&pod("b", "n1", "Running", None), 0, at(100)));
    }

    #[test]
    fn deletion_ranking_follows_upstream_order() {
        let now = at(10_000);
        let unscheduled = pod("unscheduled", "", "Pending", None);
        let pending = pod("pending", "n1", "Pending", None);
        let running_not_ready = pod("running-not-ready", "n1", "Running", None);
        let ready_recent = pod("ready-recent", "n2", "Running", Some(9_990));
        let ready_old = pod("ready-old", "n3", "Running", Some(10));
        let pods = [ready_old.clone(), ready_recent.clone(), running_not_ready, pending, unscheduled];
        assert_eq!(
            order(&pods, &[1, 1, 1, 1, 1], now),
            ["unscheduled", "pending", "running-not-ready", "ready-recent", "ready-old"]
        );
        // Doubled-up pods go before equally ready ones alone on their node.
        assert_eq!(order(&[ready_old.clone(), ready_recent.clone()], &[1, 2], now), ["ready-recent", "ready-old"]);
        assert_eq!(order(&[ready_recent, ready_old.clone()], &[1, 2], now), ["ready-old", "ready-recent"]);
        // Deletion cost beats everything after readiness.
        let mut cheap = pod("cheap", "n1", "Running", Some(10));
        cheap.metadata.annotations =
            Some([("controller.kubernetes.io/pod-deletion-cost".to_string(), "-5".to_string())].into());
        assert_eq!(order(&[ready_old.clone(), cheap], &[3, 1], now), ["cheap", "ready-old"]);
        // Restarts: more restarts first.
        let mut crashy = pod("crashy", "n1", "Running", Some(10));
        crashy.status.as_mut().expect("status").container_statuses =
            Some(vec![ContainerStatus { restart_count: 4, ..ContainerStatus::default() }]);
        assert_eq!(order(&[ready_old, crashy], &[1, 1], now), ["crashy", "ready-old"]);
    }

    #[test]
    fn log_rank_buckets() {
        assert_eq!(log_rank(at(0), at(0)), -1);
        assert_eq!(log_rank(at(0), at(1)), 29); // 1e9 ns: 2^29 <= 1e9 < 2^30
        assert_eq!(log_rank(at(0), at(2)), 30);
    }
}
