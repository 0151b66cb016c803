//! A pod's status computed from what the runtime reports, the way the kubelet's
//! `generateAPIPodStatus` does: the phase (Pending/Running/Succeeded/Failed, sticky once
//! terminal), container statuses with their state, lastState, restartCount (the runtime's
//! `attempt`), ready and started, and the conditions PodReadyToStartContainers, Initialized,
//! ContainersReady and Ready (PodScheduled and foreign conditions are kept as they are).
//!
//! Pure: no IO, no clock (the caller passes `now`). Writing the result is the
//! [`crate::status_manager`]'s business.

use std::collections::HashMap;
use std::net::IpAddr;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

use crate::node_status::format_time;
use crate::prober_manager::ContainerProbes;
use crate::runtime::{ContainerState, ContainerStatus};

pub const PENDING: &str = "Pending";
pub const RUNNING: &str = "Running";
pub const SUCCEEDED: &str = "Succeeded";
pub const FAILED: &str = "Failed";

/// A waiting reason the pod worker decided (`CrashLoopBackOff`, `ErrImagePull`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: Option<String>,
}

impl Waiting {
    pub fn new(reason: &str, message: impl Into<String>) -> Self {
        Waiting { reason: reason.to_string(), message: Some(message.into()) }
    }
}

/// The newest instance of each container name, and the one before it.
pub fn instances(containers: &[ContainerStatus]) -> HashMap<&str, (&ContainerStatus, Option<&ContainerStatus>)> {
    let mut by_name: HashMap<&str, Vec<&ContainerStatus>> = HashMap::new();
    for container in containers {
        by_name.entry(container.name.as_str()).or_default().push(container);
    }
    by_name
        .into_iter()
        .filter_map(|(name, mut list)| {
            list.sort_by_key(|c| std::cmp::Reverse((c.attempt, c.created_at)));
            let latest = *list.first()?;
            Some((name, (latest, list.get(1).copied())))
        })
        .collect()
}

pub fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

pub fn restart_policy(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always")
}

/// Whether the pod's init containers are done: every regular one exited 0 and every sidecar
/// started, or an app container already exists (the pod was initialized before).
pub fn is_initialized(
    pod: &Pod,
    containers: &[ContainerStatus],
    probes: &dyn Fn(&ContainerStatus, &Container) -> ContainerProbes,
) -> bool {
    incomplete_init_containers(pod, containers, probes).is_empty()
}

fn incomplete_init_containers(
    pod: &Pod,
    containers: &[ContainerStatus],
    probes: &dyn Fn(&ContainerStatus, &Container) -> ContainerProbes,
) -> Vec<String> {
    let Some(spec) = pod.spec.as_ref() else { return Vec::new() };
    let instances = instances(containers);
    if spec.containers.iter().any(|c| instances.contains_key(c.name.as_str())) {
        return Vec::new();
    }
    spec.init_containers
        .iter()
        .flatten()
        .filter(|c| match instances.get(c.name.as_str()) {
            None => true,
            Some((latest, _)) if is_sidecar(c) => {
                !(latest.state == ContainerState::Running && probes(latest, c).started)
            }
            Some((latest, _)) => !(latest.state == ContainerState::Exited && latest.exit_code == Some(0)),
        })
        .map(|c| c.name.clone())
        .collect()
}

/// Everything the status is computed from.
pub struct StatusInput<'a> {
    pub pod: &'a Pod,
    pub containers: &'a [ContainerStatus],
    pub waiting: &'a HashMap<String, Waiting>,
    /// Probe results of a running container instance.
    pub probes: &'a dyn Fn(&ContainerStatus, &Container) -> ContainerProbes,
    /// `crun` in `crun://<id>`.
    pub runtime_prefix: &'a str,
    pub host_ip: IpAddr,
    pub pod_ip: Option<IpAddr>,
    pub start_time: Timestamp,
    /// The sandbox (and network) exist and were not stopped.
    pub sandbox_ready: bool,
    /// The pod is being terminated (deleted, or past its deadline): a stopped pod ends
    /// Succeeded or Failed whatever its restart policy.
    pub terminating: bool,
    /// A phase with reason and message decided by the agent (`DeadlineExceeded`, `Evicted`).
    pub forced: Option<(&'a str, &'a str, &'a str)>,
    /// Termination messages of exited container instances, by container id.
    pub messages: &'a HashMap<String, String>,
    /// The status this agent wrote last: its condition transition times are more recent
    /// than those of a pod object the watch has not caught up on yet.
    pub previous: Option<&'a Value>,
    pub now: Timestamp,
}

/// The phase, as `getPhase` computes it. A terminated pod always ends Succeeded or Failed:
/// one whose containers never all stopped with success (or never ran) is Failed.
pub fn phase(input: &StatusInput<'_>) -> &'static str {
    let phase = live_phase(input);
    if input.terminating && !matches!(phase, SUCCEEDED | FAILED) { FAILED } else { phase }
}

fn live_phase(input: &StatusInput<'_>) -> &'static str {
    let pod = input.pod;
    let old = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    // Terminal phases never change.
    match old {
        Some(SUCCEEDED) => return SUCCEEDED,
        Some(FAILED) => return FAILED,
        _ => {}
    }
    if let Some((phase, _, _)) = input.forced {
        return if phase == SUCCEEDED { SUCCEEDED } else { FAILED };
    }
    let Some(spec) = pod.spec.as_ref() else { return PENDING };
    let instances = instances(input.containers);
    let policy = restart_policy(pod);
    let failed_init = spec.init_containers.iter().flatten().any(|c| {
        !is_sidecar(c)
            && instances.get(c.name.as_str()).is_some_and(|(latest, _)| {
                latest.state == ContainerState::Exited && latest.exit_code.is_some_and(|code| code != 0)
            })
    });
    if failed_init && policy == "Never" {
        return FAILED;
    }
    if !is_initialized(pod, input.containers, input.probes) {
        return PENDING;
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for container in &spec.containers {
        match instances.get(container.name.as_str()) {
            None => waiting += 1,
            Some((latest, _)) => match latest.state {
                ContainerState::Running => running += 1,
                ContainerState::Exited => {
                    stopped += 1;
                    if latest.exit_code == Some(0) {
                        succeeded += 1;
                    }
                }
                ContainerState::Created | ContainerState::Unknown => waiting += 1,
            },
        }
    }
    let total = spec.containers.len();
    if waiting > 0 {
        return PENDING;
    }
    if running > 0 {
        return RUNNING;
    }
    if stopped == total && total > 0 {
        if input.terminating {
            return if succeeded == total { SUCCEEDED } else { FAILED };
        }
        return match policy {
            "Always" => RUNNING,
            "OnFailure" if succeeded == total => SUCCEEDED,
            "OnFailure" => RUNNING,
            _ if succeeded == total => SUCCEEDED,
            _ => FAILED,
        };
    }
    PENDING
}

fn terminated(container: &ContainerStatus, prefix: &str, messages: &HashMap<String, String>) -> Value {
    let exit_code = container.exit_code.unwrap_or(0);
    let reason = container.reason.clone().unwrap_or_else(|| if exit_code == 0 { "Completed" } else { "Error" }.into());
    let mut state = json!({
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": container.started_at.map(format_time),
        "finishedAt": container.finished_at.map(format_time),
        "containerID": format!("{prefix}://{}", container.id),
    });
    if let Some(message) = messages.get(&container.id) {
        state["message"] = json!(message);
    }
    json!({ "terminated": state })
}

fn waiting_state(waiting: &Waiting) -> Value {
    let mut state = json!({"reason": waiting.reason});
    if let Some(message) = &waiting.message {
        state["message"] = json!(message);
    }
    json!({ "waiting": state })
}

/// One entry of `containerStatuses` / `initContainerStatuses`, and whether it is ready.
fn container_status(input: &StatusInput<'_>, container: &Container, init: bool, default_reason: &str) -> (Value, bool) {
    let instances = instances(input.containers);
    let entry = instances.get(container.name.as_str());
    let pending_reason = input.waiting.get(&container.name);
    let default_waiting = Waiting { reason: default_reason.to_string(), message: None };
    let prefix = input.runtime_prefix;
    let (state, last_state, ready, started) = match entry {
        None => (waiting_state(pending_reason.unwrap_or(&default_waiting)), json!({}), false, false),
        Some((latest, previous)) => {
            let messages = input.messages;
            let last = previous
                .filter(|p| p.state == ContainerState::Exited)
                .map_or(json!({}), |p| terminated(p, prefix, messages));
            match latest.state {
                ContainerState::Running => {
                    let probes = (input.probes)(latest, container);
                    let ready = if init && !is_sidecar(container) { false } else { probes.ready && probes.started };
                    let started_at = latest.started_at.map(format_time);
                    (json!({"running": {"startedAt": started_at}}), last, ready, probes.started)
                }
                ContainerState::Exited => match pending_reason {
                    Some(waiting) => (waiting_state(waiting), terminated(latest, prefix, messages), false, false),
                    None => {
                        let ready = init && !is_sidecar(container) && latest.exit_code == Some(0);
                        (terminated(latest, prefix, messages), last, ready, false)
                    }
                },
                ContainerState::Created | ContainerState::Unknown => {
                    let waiting = Waiting { reason: "ContainerCreating".into(), message: None };
                    (waiting_state(pending_reason.unwrap_or(&waiting)), last, false, false)
                }
            }
        }
    };
    let mut status = json!({
        "name": container.name,
        "state": state,
        "lastState": last_state,
        "ready": ready,
        "restartCount": entry.map_or(0, |(latest, _)| latest.attempt),
        "image": container.image.clone().unwrap_or_default(),
        "imageID": entry.map_or(String::new(), |(latest, _)| latest.image_id.clone()),
        "started": started,
    });
    if let Some((latest, _)) = entry {
        status["containerID"] = json!(format!("{prefix}://{}", latest.id));
    }
    (status, ready)
}

/// `[a b]`, as Go prints a string slice.
fn go_list(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

/// The whole `status` object to write.
pub fn compute(input: &StatusInput<'_>) -> Value {
    let pod = input.pod;
    let spec = pod.spec.clone().unwrap_or_default();
    let old = pod.status.clone().unwrap_or_default();
    let phase = phase(input);
    let has_init = spec.init_containers.as_ref().is_some_and(|c| !c.is_empty());
    let default_reason = if has_init { "PodInitializing" } else { "ContainerCreating" };

    let mut unready = Vec::new();
    let init_statuses: Vec<Value> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            let (status, ready) = container_status(input, c, true, default_reason);
            if is_sidecar(c) && !ready {
                unready.push(c.name.clone());
            }
            status
        })
        .collect();
    let statuses: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            let (status, ready) = container_status(input, c, false, default_reason);
            if !ready {
                unready.push(c.name.clone());
            }
            status
        })
        .collect();

    let incomplete = incomplete_init_containers(pod, input.containers, input.probes);
    let old_conditions = old.conditions.clone().unwrap_or_default();
    let previous_conditions = input.previous.and_then(|p| p.get("conditions")).and_then(Value::as_array);
    let condition = |type_: &str, status: bool, reason: Option<&str>, message: Option<String>| {
        let status = if status { "True" } else { "False" };
        let written = previous_conditions
            .and_then(|conditions| conditions.iter().find(|c| c["type"] == type_))
            .and_then(|c| (c["status"] == status).then(|| c["lastTransitionTime"].as_str()).flatten())
            .map(str::to_string);
        let since = written.unwrap_or_else(|| {
            old_conditions
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .and_then(|c| c.last_transition_time.as_ref())
                .map_or_else(|| format_time(input.now), |t| format_time(t.0))
        });
        let mut condition = json!({
            "type": type_, "status": status, "lastProbeTime": null, "lastTransitionTime": since,
        });
        if let Some(reason) = reason {
            condition["reason"] = json!(reason);
        }
        if let Some(message) = message {
            condition["message"] = json!(message);
        }
        condition
    };
    let containers_ready = unready.is_empty();
    let (ready_reason, ready_message) = match (containers_ready, phase) {
        (true, _) => (None, None),
        (false, SUCCEEDED) => (Some("PodCompleted"), None),
        (false, _) => {
            (Some("ContainersNotReady"), Some(format!("containers with unready status: {}", go_list(&unready))))
        }
    };
    let gates_failure = spec.readiness_gates.iter().flatten().find_map(|gate| {
        match old_conditions.iter().find(|c| c.type_ == gate.condition_type) {
            None => {
                Some(format!("corresponding condition of pod readiness gate {:?} does not exist.", gate.condition_type))
            }
            Some(c) if c.status != "True" => Some(format!(
                "the status of pod readiness gate {:?} is not \"True\", but {}",
                gate.condition_type, c.status
            )),
            Some(_) => None,
        }
    });
    let ready = match (&gates_failure, containers_ready) {
        (Some(message), true) => condition("Ready", false, Some("ReadinessGatesNotReady"), Some(message.clone())),
        _ => condition("Ready", containers_ready, ready_reason, ready_message.clone()),
    };
    let initialized = if incomplete.is_empty() {
        condition("Initialized", true, None, None)
    } else {
        let message = format!("containers with incomplete status: {}", go_list(&incomplete));
        condition("Initialized", false, Some("ContainersNotInitialized"), Some(message))
    };
    let mut conditions = vec![
        condition("PodReadyToStartContainers", input.sandbox_ready, None, None),
        initialized,
        ready,
        condition("ContainersReady", containers_ready, ready_reason, ready_message),
    ];
    const OURS: [&str; 4] = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"];
    for kept in old_conditions.iter().filter(|c| !OURS.contains(&c.type_.as_str())) {
        conditions.push(serde_json::to_value(kept).unwrap_or(Value::Null));
    }

    let host_ip = input.host_ip.to_string();
    let host_network = spec.host_network == Some(true);
    let pod_ip = if host_network { Some(input.host_ip) } else { input.pod_ip };
    let qos = api::qos::pod_qos_class(&serde_json::to_value(&spec).unwrap_or(Value::Null));
    let start_time = old.start_time.as_ref().map_or(input.start_time, |t| t.0);
    let (reason, message) = match (input.forced, old.reason.clone()) {
        (Some((_, reason, message)), _) => (json!(reason), json!(message)),
        (None, Some(reason)) => (json!(reason), json!(old.message.clone())),
        (None, None) => (Value::Null, Value::Null),
    };
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip.map(|ip| ip.to_string()),
        "podIPs": pod_ip.map(|ip| json!([{"ip": ip.to_string()}])),
        "startTime": format_time(start_time),
        "qosClass": qos,
        "containerStatuses": statuses,
        "reason": reason,
        "message": message,
    });
    if has_init {
        status["initContainerStatuses"] = json!(init_statuses);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::path::PathBuf;

    fn pod(spec: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": spec,
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}
            ]},
        }))
        .expect("pod")
    }

    fn container(name: &str, attempt: u32, state: ContainerState, exit_code: Option<i32>) -> ContainerStatus {
        let at = Timestamp::from_second(1_700_000_000 + i64::from(attempt)).expect("time");
        ContainerStatus {
            id: format!("{name}-{attempt}"),
            name: name.into(),
            attempt,
            state,
            created_at: at,
            started_at: Some(at),
            finished_at: (state == ContainerState::Exited).then_some(at),
            exit_code,
            reason: None,
            image_ref: "busybox".into(),
            image_id: "docker.io/library/busybox@sha256:abc".into(),
            log_path: PathBuf::from("/tmp/x.log"),
            pid: None,
        }
    }

    fn all_ok(_: &ContainerStatus, _: &Container) -> ContainerProbes {
        ContainerProbes { ready: true, started: true, liveness_failed: false, startup_failed: false }
    }

    fn input<'a>(
        pod: &'a Pod,
        containers: &'a [ContainerStatus],
        waiting: &'a HashMap<String, Waiting>,
    ) -> StatusInput<'a> {
        static NO_MESSAGES: std::sync::LazyLock<HashMap<String, String>> = std::sync::LazyLock::new(HashMap::new);
        StatusInput {
            messages: &NO_MESSAGES,
            pod,
            containers,
            waiting,
            probes: &all_ok,
            runtime_prefix: "crun",
            host_ip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)),
            pod_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 88, 0, 2))),
            start_time: Timestamp::from_second(1_700_000_000).expect("time"),
            sandbox_ready: true,
            terminating: false,
            forced: None,
            previous: None,
            now: Timestamp::from_second(1_700_000_100).expect("time"),
        }
    }

    fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
        status["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == type_)).unwrap_or(&Value::Null)
    }

    #[test]
    fn completed_never_pod_is_succeeded() {
        let pod = pod(json!({"restartPolicy": "Never", "containers": [{"name": "web", "image": "busybox"}]}));
        let containers = [container("web", 0, ContainerState::Exited, Some(0))];
        let waiting = HashMap::new();
        let status = compute(&input(&pod, &containers, &waiting));
        assert_eq!(status["phase"], "Succeeded");
        let web = &status["containerStatuses"][0];
        assert_eq!(web["state"]["terminated"]["reason"], "Completed");
        assert_eq!(web["state"]["terminated"]["containerID"], "crun://web-0");
        assert!(web["state"]["terminated"].get("message").is_none());
        let messages = HashMap::from([("web-0".to_string(), "all done".to_string())]);
        let mut with_message = input(&pod, &containers, &waiting);
        with_message.messages = &messages;
        assert_eq!(compute(&with_message)["containerStatuses"][0]["state"]["terminated"]["message"], "all done");
        assert_eq!(web["ready"], false);
        assert_eq!(condition(&status, "Ready")["reason"], "PodCompleted");
        assert_eq!(condition(&status, "PodScheduled")["status"], "True");
        assert_eq!(status["qosClass"], "BestEffort");
        assert_eq!(status["podIP"], "10.88.0.2");
    }

    #[test]
    fn failing_container_phases_follow_the_restart_policy() {
        let containers = [container("web", 0, ContainerState::Exited, Some(1))];
        let waiting = HashMap::new();
        for (policy, phase) in [("Never", "Failed"), ("OnFailure", "Running"), ("Always", "Running")] {
            let pod = pod(json!({"restartPolicy": policy, "containers": [{"name": "web", "image": "busybox"}]}));
            assert_eq!(compute(&input(&pod, &containers, &waiting))["phase"], phase, "{policy}");
        }
        let pod = pod(json!({"restartPolicy": "Always", "containers": [{"name": "web", "image": "busybox"}]}));
        let mut terminating = input(&pod, &containers, &waiting);
        terminating.terminating = true;
        assert_eq!(compute(&terminating)["phase"], "Failed");
        // Deleted before its containers ever ran.
        let mut never_ran = input(&pod, &[], &waiting);
        never_ran.terminating = true;
        assert_eq!(compute(&never_ran)["phase"], "Failed");
        let succeeded = [container("web", 0, ContainerState::Exited, Some(0))];
        let mut done = input(&pod, &succeeded, &waiting);
        done.terminating = true;
        assert_eq!(compute(&done)["phase"], "Succeeded");
    }

    #[test]
    fn crash_loop_shows_waiting_with_last_state_and_restart_count() {
        let pod = pod(json!({"containers": [{"name": "web", "image": "busybox"}]}));
        let containers = [
            container("web", 0, ContainerState::Exited, Some(1)),
            container("web", 1, ContainerState::Exited, Some(1)),
        ];
        let waiting = HashMap::from([(
            "web".to_string(),
            Waiting::new("CrashLoopBackOff", "back-off 10s restarting failed container=web pod=web_default(u1)"),
        )]);
        let status = compute(&input(&pod, &containers, &waiting));
        assert_eq!(status["phase"], "Running");
        let web = &status["containerStatuses"][0];
        assert_eq!(web["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(web["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(web["lastState"]["terminated"]["reason"], "Error");
        assert_eq!(web["restartCount"], 1);
        assert_eq!(condition(&status, "Ready")["message"], "containers with unready status: [web]");
        assert_eq!(condition(&status, "ContainersReady")["reason"], "ContainersNotReady");
    }

    #[test]
    fn init_containers_gate_the_pod() {
        let pod = pod(json!({
            "restartPolicy": "Never",
            "initContainers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}],
            "containers": [{"name": "web", "image": "busybox"}]
        }));
        let waiting = HashMap::new();
        let running_a = [container("a", 0, ContainerState::Running, None)];
        let status = compute(&input(&pod, &running_a, &waiting));
        assert_eq!(status["phase"], "Pending");
        assert_eq!(condition(&status, "Initialized")["message"], "containers with incomplete status: [a b]");
        assert_eq!(status["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing");
        let failed_a = [container("a", 0, ContainerState::Exited, Some(2))];
        assert_eq!(compute(&input(&pod, &failed_a, &waiting))["phase"], "Failed");
        let done = [
            container("a", 0, ContainerState::Exited, Some(0)),
            container("b", 0, ContainerState::Exited, Some(0)),
            container("web", 0, ContainerState::Running, None),
        ];
        let status = compute(&input(&pod, &done, &waiting));
        assert_eq!(status["phase"], "Running");
        assert_eq!(condition(&status, "Initialized")["status"], "True");
        assert_eq!(status["initContainerStatuses"][1]["ready"], true);
        assert_eq!(condition(&status, "Ready")["status"], "True");
    }

    #[test]
    fn transition_times_are_kept_while_a_condition_holds() {
        let pod = pod(json!({"containers": [{"name": "web", "image": "busybox"}]}));
        let containers = [container("web", 0, ContainerState::Running, None)];
        let waiting = HashMap::new();
        let first = compute(&input(&pod, &containers, &waiting));
        assert_eq!(condition(&first, "Ready")["lastTransitionTime"], "2023-11-14T22:15:00Z");
        assert_eq!(condition(&first, "PodScheduled")["lastTransitionTime"], "2024-01-01T00:00:00Z");
        let mut later = input(&pod, &containers, &waiting);
        later.now = Timestamp::from_second(1_700_000_500).expect("time");
        later.previous = Some(&first);
        let second = compute(&later);
        assert_eq!(second, first, "nothing changed, nothing to write");
        let unready = [container("web", 0, ContainerState::Exited, Some(1))];
        let mut changed = input(&pod, &unready, &waiting);
        changed.now = Timestamp::from_second(1_700_000_500).expect("time");
        changed.previous = Some(&first);
        assert_eq!(condition(&compute(&changed), "Ready")["lastTransitionTime"], "2023-11-14T22:21:40Z");
    }

    #[test]
    fn readiness_gates_and_sticky_phases() {
        let mut p = pod(json!({"containers": [{"name": "web", "image": "busybox"}],
            "readinessGates": [{"conditionType": "example.com/ok"}]}));
        let containers = [container("web", 0, ContainerState::Running, None)];
        let waiting = HashMap::new();
        let status = compute(&input(&p, &containers, &waiting));
        assert_eq!(condition(&status, "ContainersReady")["status"], "True");
        assert_eq!(condition(&status, "Ready")["reason"], "ReadinessGatesNotReady");
        if let Some(status) = p.status.as_mut() {
            status.phase = Some("Failed".into());
        }
        assert_eq!(compute(&input(&p, &containers, &waiting))["phase"], "Failed");
    }
}
