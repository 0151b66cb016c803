//! The pure arithmetic and bookkeeping of the Deployment controller (Kubernetes'
//! `deployment/util`): the pod-template hash, maxSurge/maxUnavailable fenceposts, the
//! revision and replicas annotations, conditions, status, and the proportional scaling of
//! ReplicaSets. No API calls and no clock here: callers pass `now`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// `revision-history` is kept under this many characters.
pub const MAX_REV_HISTORY_LENGTH_IN_CHARS: usize = 2000;

pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// `rand.SafeEncodeString`'s alphabet: no vowels (no words), no confusable characters.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-32a.
fn fnv32a(bytes: &[u8], mut hash: u32) -> u32 {
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

const FNV32_OFFSET: u32 = 0x811c_9dc5;

/// JSON with object keys sorted, so the hash does not depend on field order.
fn canonical_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, &serde_json::Value> = map.iter().collect();
            out.push('{');
            for (i, (key, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(value, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `controller.ComputeHash`: FNV-32a of the template (upstream hashes Go's printed struct;
/// we hash its canonical JSON) and, when set, the collision count as 8 little-endian bytes;
/// the decimal value is rendered through the safe-encode alphabet.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let value = serde_json::to_value(template).unwrap_or(serde_json::Value::Null);
    let mut text = String::new();
    canonical_json(&value, &mut text);
    let mut hash = fnv32a(text.as_bytes(), FNV32_OFFSET);
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        hash = fnv32a(&bytes, hash);
    }
    safe_encode(&hash.to_string())
}

/// `rand.SafeEncodeString`.
pub fn safe_encode(text: &str) -> String {
    text.bytes().map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char).collect()
}

/// Templates equal once the `pod-template-hash` label is ignored (`EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    fn strip(t: &PodTemplateSpec) -> PodTemplateSpec {
        let mut t = t.clone();
        let meta = t.metadata.get_or_insert_with(Default::default);
        if let Some(labels) = meta.labels.as_mut() {
            labels.remove(POD_TEMPLATE_HASH);
            if labels.is_empty() {
                meta.labels = None;
            }
        }
        t
    }
    strip(a) == strip(b)
}

/// `intstr.GetScaledValueFromIntOrPercent`: percentages of `total`, rounded up or down.
pub fn scaled_value(value: Option<&IntOrString>, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        None => Ok(0),
        Some(IntOrString::Int(v)) => Ok(*v),
        Some(IntOrString::String(s)) => {
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            let product = percent * i64::from(total);
            let value = if round_up { (product + 99).div_euclid(100) } else { product.div_euclid(100) };
            Ok(i32::try_from(value).unwrap_or(i32::MAX))
        }
    }
}

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn is_rolling_update(d: &Deployment) -> bool {
    strategy_type(d) == "RollingUpdate"
}

pub fn strategy_type(d: &Deployment) -> &str {
    d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate")
}

/// `ResolveFenceposts`: (surge rounded up, unavailable rounded down); both zero becomes
/// unavailable 1, so a rollout can always make progress.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), String> {
    let surge = scaled_value(max_surge, desired, true)?;
    let unavailable = scaled_value(max_unavailable, desired, false)?;
    if surge == 0 && unavailable == 0 {
        return Ok((0, 1));
    }
    Ok((surge, unavailable))
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let rolling = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    // Defaults as the API server sets them: 25% each.
    let default = IntOrString::String("25%".into());
    let surge = rolling.map_or(Some(&default), |r| r.max_surge.as_ref());
    let unavailable = rolling.map_or(Some(&default), |r| r.max_unavailable.as_ref());
    resolve_fenceposts(surge, unavailable, replicas(d)).unwrap_or((0, 1))
}

/// `MaxSurge`: 0 unless RollingUpdate.
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) { 0 } else { fenceposts(d).0 }
}

/// `MaxUnavailable`: 0 unless RollingUpdate with replicas; never more than the replicas.
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling_update(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs_replicas(rs)
}

pub fn status_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

pub fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

pub fn ready_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

/// Sum of `spec.replicas`.
pub fn replica_count(rss: &[&ReplicaSet]) -> i32 {
    rss.iter().map(|rs| rs_replicas(rs)).sum()
}

pub fn available_count(rss: &[&ReplicaSet]) -> i32 {
    rss.iter().map(|rs| available_replicas(rs)).sum()
}

/// `NewRSNewReplicas`: the size of the new RS for this step of the rollout.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    if !is_rolling_update(d) {
        return replicas(d);
    }
    let current = replica_count(all);
    let max_total = replicas(d) + max_surge(d);
    if current >= max_total {
        return rs_replicas(new_rs);
    }
    let scale_up = (max_total - current).min(replicas(d) - rs_replicas(new_rs));
    rs_replicas(new_rs) + scale_up
}

/// How far old RSs may be scaled down now (`reconcileOldReplicaSets`' `maxScaledDown`).
pub fn max_scaled_down(d: &Deployment, all: &[&ReplicaSet], new_rs: Option<&ReplicaSet>) -> i32 {
    let min_available = replicas(d) - max_unavailable(d);
    let new_unavailable = new_rs.map_or(0, |rs| rs_replicas(rs) - available_replicas(rs));
    replica_count(all) - min_available - new_unavailable
}

pub fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(&rs.metadata, REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn skip_copy(key: &str) -> bool {
    matches!(key, LAST_APPLIED | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS | ROLLBACK_TO)
}

/// `SetReplicasAnnotations`.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_string(), value);
            changed = true;
        }
    }
    changed
}

pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(&rs.metadata, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(&rs.metadata, MAX_REPLICAS) != Some(max.to_string().as_str())
}

/// `setNewReplicaSetAnnotations`: copies the deployment's annotations, sets the revision,
/// records a re-used RS's previous revision in `revision-history` (a rollback), and on
/// creation the replicas annotations. Returns whether anything changed.
pub fn set_new_rs_annotations(d: &Deployment, rs: &mut ReplicaSet, new_revision: i64, exists: bool) -> bool {
    let mut changed = false;
    let annotations = rs.metadata.annotations.get_or_insert_with(Default::default);
    for (key, value) in d.metadata.annotations.iter().flatten() {
        if skip_copy(key) || annotations.get(key) == Some(value) {
            continue;
        }
        annotations.insert(key.clone(), value.clone());
        changed = true;
    }
    let old_revision = annotations.get(REVISION).cloned();
    let old_revision_int = match old_revision.as_deref() {
        None | Some("") => 0,
        Some(text) => match text.parse::<i64>() {
            Ok(value) => value,
            Err(_) => return false,
        },
    };
    if old_revision_int < new_revision {
        annotations.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old) = old_revision.filter(|o| !o.is_empty()) {
            let history = annotations.get(REVISION_HISTORY).cloned().unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY.to_string(), old);
            } else {
                let mut revisions: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_LENGTH_IN_CHARS && start < revisions.len() {
                    total -= revisions[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_LENGTH_IN_CHARS {
                    revisions = revisions.split_off(start);
                    revisions.push(&old);
                    annotations.insert(REVISION_HISTORY.to_string(), revisions.join(","));
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

/// `SetDeploymentRevision`.
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let annotations = d.metadata.annotations.get_or_insert_with(Default::default);
    if annotations.get(REVISION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(REVISION.to_string(), revision.to_string());
    true
}

/// Kubernetes times have second precision.
pub fn now_time(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

pub fn new_condition(type_: &str, status: &str, reason: &str, message: String, now: Timestamp) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(now_time(now)),
        last_transition_time: Some(now_time(now)),
    }
}

pub fn get_condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// `SetDeploymentCondition`: no change for the same status and reason; the transition time
/// survives when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get_condition(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &condition.type_);
    status.conditions.get_or_insert_with(Vec::new).push(condition);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
    }
}

/// `calculateStatus`.
pub fn calculate_status(
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
    now: Timestamp,
) -> DeploymentStatus {
    let available = available_count(all);
    let total = replica_count(all);
    let unavailable = (total - available).max(0);
    let current = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(all.iter().map(|rs| status_replicas(rs)).sum()),
        updated_replicas: Some(new_rs.map_or(0, status_replicas)),
        ready_replicas: Some(all.iter().map(|rs| ready_replicas(rs)).sum()),
        available_replicas: Some(available),
        unavailable_replicas: Some(unavailable),
        collision_count: current.collision_count,
        conditions: current.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        let message = "Deployment has minimum availability.".to_string();
        set_condition(&mut status, new_condition(AVAILABLE, "True", MIN_AVAILABLE, message, now));
    } else {
        let message = "Deployment does not have minimum availability.".to_string();
        set_condition(&mut status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE, message, now));
    }
    status
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// `DeploymentComplete`.
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = replicas(d);
    n(status.updated_replicas) == want
        && n(status.replicas) == want
        && n(status.available_replicas) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// `DeploymentProgressing`: more updated, fewer old, more ready or more available pods.
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    // `progressDeadlineSeconds` defaults to 600; MaxInt32 means "no deadline".
    match d.spec.as_ref().and_then(|s| s.progress_deadline_seconds) {
        Some(i32::MAX) => None,
        Some(seconds) => Some(seconds),
        None => Some(600),
    }
}

/// `DeploymentTimedOut`.
pub fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else { return false };
    let Some(condition) = get_condition(status, PROGRESSING) else { return false };
    match condition.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => condition
            .last_update_time
            .as_ref()
            .is_some_and(|from| from.0 + jiff::SignedDuration::from_secs(i64::from(deadline)) < now),
    }
}

/// `IsSaturated`: the new RS runs the full size and all of it is available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let desired = annotation(&rs.metadata, DESIRED_REPLICAS).and_then(|v| v.parse::<i32>().ok());
    rs_replicas(rs) == replicas(d) && desired == Some(replicas(d)) && available_replicas(rs) == replicas(d)
}

fn creation(rs: &ReplicaSet) -> (Option<Timestamp>, String) {
    (rs.metadata.creation_timestamp.as_ref().map(|t| t.0), rs.metadata.name.clone().unwrap_or_default())
}

/// Oldest first (`ReplicaSetsByCreationTimestamp`).
pub fn sort_by_creation(rss: &mut [&ReplicaSet]) {
    rss.sort_by_key(|rs| creation(rs));
}

/// Larger first, then newer first (`ReplicaSetsBySizeNewer`).
pub fn sort_by_size_newer(rss: &mut [&ReplicaSet]) {
    rss.sort_by(|a, b| rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| creation(b).cmp(&creation(a))));
}

/// Larger first, then older first (`ReplicaSetsBySizeOlder`).
pub fn sort_by_size_older(rss: &mut [&ReplicaSet]) {
    rss.sort_by(|a, b| rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| creation(a).cmp(&creation(b))));
}

/// `getReplicaSetFraction`: this RS's share of a resize, from its `max-replicas` annotation.
fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if replicas(d) == 0 {
        return -rs_replicas(rs);
    }
    let deployment_replicas = replicas(d) + max_surge(d);
    let annotated = annotation(&rs.metadata, MAX_REPLICAS)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(deployment_replicas) / f64::from(annotated);
    // Go's math.Round: half away from zero, as f64::round.
    size.round() as i32 - rs_replicas(rs)
}

/// `GetProportion`.
fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let f = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 { f.min(allowed) } else { f.max(allowed) }
}

/// The proportional scaling of `scale()` for a resize during a rollout: the new sizes of
/// the active RSs (by name) and whether it is a scale up.
pub fn proportional_sizes(d: &Deployment, active: &[&ReplicaSet]) -> (Vec<(String, i32)>, bool) {
    let allowed = if replicas(d) > 0 { replicas(d) + max_surge(d) } else { 0 };
    let to_add = allowed - replica_count(active);
    let mut sorted: Vec<&ReplicaSet> = active.to_vec();
    let up = to_add > 0;
    if up {
        sort_by_size_newer(&mut sorted);
    } else {
        sort_by_size_older(&mut sorted);
    }
    let mut added = 0;
    let mut sizes: Vec<(String, i32)> = Vec::new();
    for rs in &sorted {
        let name = rs.metadata.name.clone().unwrap_or_default();
        if to_add != 0 {
            let p = proportion(rs, d, to_add, added);
            sizes.push((name, rs_replicas(rs) + p));
            added += p;
        } else {
            sizes.push((name, rs_replicas(rs)));
        }
    }
    if to_add != 0
        && let Some(first) = sizes.first_mut()
    {
        first.1 = (first.1 + to_add - added).max(0);
    }
    (sizes, up)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus, RollingUpdateDeployment,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn int(v: i32) -> IntOrString {
        IntOrString::Int(v)
    }

    fn pct(v: &str) -> IntOrString {
        IntOrString::String(v.into())
    }

    fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        Deployment {
            metadata: ObjectMeta { name: Some("web".into()), generation: Some(1), ..ObjectMeta::default() },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(surge),
                        max_unavailable: Some(unavailable),
                    }),
                }),
                ..DeploymentSpec::default()
            }),
            status: None,
        }
    }

    fn rs(name: &str, replicas: i32, available: i32, age: i64) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(Timestamp::from_second(1_700_000_000 + age).expect("ts"))),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec { replicas: Some(replicas), ..ReplicaSetSpec::default() }),
            status: Some(ReplicaSetStatus {
                replicas,
                available_replicas: Some(available),
                ready_replicas: Some(available),
                ..ReplicaSetStatus::default()
            }),
        }
    }

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        assert_eq!(resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 10), Ok((3, 2)));
        assert_eq!(resolve_fenceposts(Some(&pct("25%")), Some(&pct("25%")), 3), Ok((1, 0)));
        assert_eq!(resolve_fenceposts(Some(&int(0)), Some(&int(0)), 3), Ok((0, 1)));
        assert_eq!(resolve_fenceposts(Some(&pct("0%")), Some(&pct("10%")), 5), Ok((0, 1)), "0 and 0 -> 1");
        assert_eq!(resolve_fenceposts(Some(&pct("100%")), Some(&int(2)), 5), Ok((5, 2)));
        assert!(resolve_fenceposts(Some(&pct("x%")), None, 5).is_err());
        let d = deployment(3, int(5), int(7));
        assert_eq!(max_unavailable(&d), 3, "never more than replicas");
        assert_eq!(max_surge(&d), 5);
    }

    #[test]
    fn rolling_update_steps() {
        // 3 replicas, surge 1, unavailable 0: the new RS may grow by one pod at a time.
        let d = deployment(3, int(1), int(0));
        let old = rs("old", 3, 3, 0);
        let new = rs("new", 0, 0, 10);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 1);
        let new1 = rs("new", 1, 0, 10);
        assert_eq!(new_rs_new_replicas(&d, &[&old, &new1], &new1), 1, "at maxSurge: wait");
        // Old may shrink only by what is available beyond replicas - maxUnavailable.
        assert_eq!(max_scaled_down(&d, &[&old, &new1], Some(&new1)), 0);
        let new1_ready = rs("new", 1, 1, 10);
        assert_eq!(max_scaled_down(&d, &[&old, &new1_ready], Some(&new1_ready)), 1);
        // Recreate sizes the new RS at once.
        let mut recreate = d.clone();
        recreate.spec.as_mut().expect("spec").strategy =
            Some(DeploymentStrategy { type_: Some("Recreate".into()), rolling_update: None });
        assert_eq!(new_rs_new_replicas(&recreate, &[&old, &new], &new), 3);
        assert_eq!(max_surge(&recreate), 0);
        assert_eq!(max_unavailable(&recreate), 0);
    }

    #[test]
    fn hash_is_stable_safe_and_depends_on_collisions() {
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..ObjectMeta::default()
            }),
            spec: None,
        };
        let a = compute_hash(&template, None);
        assert_eq!(a, compute_hash(&template.clone(), None));
        assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{a}");
        assert!(!a.is_empty() && a.len() <= 10);
        assert_ne!(a, compute_hash(&template, Some(1)));
        assert_ne!(compute_hash(&template, Some(1)), compute_hash(&template, Some(2)));
        let mut other = template.clone();
        other.metadata.as_mut().and_then(|m| m.labels.as_mut()).map(|l| l.insert("v".into(), "2".into()));
        assert_ne!(a, compute_hash(&other, None));
        // The hash label does not make templates differ.
        let mut labelled = template.clone();
        labelled
            .metadata
            .as_mut()
            .and_then(|m| m.labels.as_mut())
            .map(|l| l.insert(POD_TEMPLATE_HASH.into(), a.clone()));
        assert!(equal_ignore_hash(&template, &labelled));
        assert!(!equal_ignore_hash(&template, &other));
        // FNV-32a reference values and the alphabet mapping ('0' is 48, 48 % 27 = 21: '4').
        assert_eq!(fnv32a(b"", FNV32_OFFSET), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a", FNV32_OFFSET), 0xe40c_292c);
        assert_eq!(safe_encode("0123"), "4567");
    }

    #[test]
    fn revision_annotations_and_history() {
        let d = deployment(3, int(1), int(0));
        let mut fresh = rs("web-1", 0, 0, 0);
        assert!(set_new_rs_annotations(&d, &mut fresh, 1, false));
        assert_eq!(annotation(&fresh.metadata, REVISION), Some("1"));
        assert_eq!(annotation(&fresh.metadata, DESIRED_REPLICAS), Some("3"));
        assert_eq!(annotation(&fresh.metadata, MAX_REPLICAS), Some("4"));
        assert_eq!(annotation(&fresh.metadata, REVISION_HISTORY), None);
        assert!(!set_new_rs_annotations(&d, &mut fresh, 1, true), "same revision: nothing to do");
        // A rollback re-uses the RS: revision 1 -> 3, history "1".
        assert!(set_new_rs_annotations(&d, &mut fresh, 3, true));
        assert_eq!(annotation(&fresh.metadata, REVISION), Some("3"));
        assert_eq!(annotation(&fresh.metadata, REVISION_HISTORY), Some("1"));
        assert!(set_new_rs_annotations(&d, &mut fresh, 5, true));
        assert_eq!(annotation(&fresh.metadata, REVISION_HISTORY), Some("1,3"));
    }

    #[test]
    fn conditions_keep_transition_times() {
        let t0 = Timestamp::from_second(1_700_000_000).expect("ts");
        let t1 = Timestamp::from_second(1_700_000_100).expect("ts");
        let mut status = DeploymentStatus::default();
        set_condition(&mut status, new_condition(PROGRESSING, "True", NEW_RS_CREATED, "a".into(), t0));
        set_condition(&mut status, new_condition(PROGRESSING, "True", RS_UPDATED, "b".into(), t1));
        let c = get_condition(&status, PROGRESSING).expect("condition");
        assert_eq!(c.reason.as_deref(), Some(RS_UPDATED));
        assert_eq!(c.last_transition_time, Some(Time(t0)));
        assert_eq!(c.last_update_time, Some(Time(t1)));
        set_condition(&mut status, new_condition(PROGRESSING, "False", TIMED_OUT, "c".into(), t1));
        assert_eq!(get_condition(&status, PROGRESSING).and_then(|c| c.last_transition_time.clone()), Some(Time(t1)));
        assert_eq!(status.conditions.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn status_completion_and_timeouts() {
        let d = deployment(2, int(1), int(0));
        let new = rs("new", 2, 2, 10);
        let now = Timestamp::from_second(1_700_000_000).expect("ts");
        let status = calculate_status(&[&new], Some(&new), &d, now);
        assert_eq!((status.replicas, status.updated_replicas, status.available_replicas), (Some(2), Some(2), Some(2)));
        assert_eq!(status.unavailable_replicas, Some(0));
        assert!(deployment_complete(&d, &status));
        assert_eq!(get_condition(&status, AVAILABLE).and_then(|c| c.reason.as_deref()), Some(MIN_AVAILABLE));
        let old = rs("old", 2, 0, 0);
        let starting = rs("new", 2, 0, 10);
        let status = calculate_status(&[&old, &starting], Some(&starting), &d, now);
        assert_eq!(get_condition(&status, AVAILABLE).map(|c| c.status.as_str()), Some("False"));
        assert!(!deployment_complete(&d, &status));
        let mut progressing = DeploymentStatus::default();
        set_condition(&mut progressing, new_condition(PROGRESSING, "True", RS_UPDATED, String::new(), now));
        assert!(!deployment_timed_out(&d, &progressing, now + jiff::SignedDuration::from_secs(600)));
        assert!(deployment_timed_out(&d, &progressing, now + jiff::SignedDuration::from_secs(601)));
    }

    #[test]
    fn proportional_scaling_during_a_rollout() {
        // 10 replicas, surge 3: old 8 and new 5 (13 = max). Scaled to 20 (max 23): +10
        // spread by each RS's share of the old max (13).
        let mut d = deployment(20, int(3), int(2));
        let mut old = rs("old", 8, 8, 0);
        let mut new = rs("new", 5, 0, 10);
        for r in [&mut old, &mut new] {
            set_replicas_annotations(r, 10, 13);
        }
        d.status = Some(DeploymentStatus { replicas: Some(13), ..DeploymentStatus::default() });
        let (sizes, up) = proportional_sizes(&d, &[&old, &new]);
        assert!(up);
        let total: i32 = sizes.iter().map(|(_, s)| s).sum();
        assert_eq!(total, 23);
        let size = |name: &str| sizes.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
        assert_eq!(size("old"), Some(14)); // 8 * 23 / 13 = 14.15 -> 14
        assert_eq!(size("new"), Some(9)); // 5 * 23 / 13 = 8.8 -> 9
    }
}
