//! Pods (`printPod`): Name, Ready, Status, Restarts, Age | wide: IP, Node, Nominated Node,
//! Readiness Gates; plus the `Completed` row condition of finished pods.
//!
//! STATUS is kube-apiserver's aggregate: the pod reason or phase, then `SchedulingGated`, then
//! init containers (`Init:x/y`, `Init:<reason>`, `Init:Signal:N`, `Init:ExitCode:N`), then app
//! containers from last to first (waiting reason, terminated reason, `Signal:N`, `ExitCode:N`),
//! `Completed` turned back into `Running`/`NotReady` while a container still runs, and finally
//! `Terminating` (or `Unknown` for `NodeLost`) once `deletionTimestamp` is set.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::fields::{
    age, array, boolean, get, int, name, object, opt_boolean, string, timestamp, translate_timestamp_since,
};
use super::{AGE_COLUMN, Column, NAME_COLUMN};

/// `v1.PodStatus{}.SwaggerDoc()["podIP"]`.
const POD_IP_DESCRIPTION: &str =
    "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.";
/// `v1.PodSpec{}.SwaggerDoc()["nodeName"]`.
const NODE_NAME_DESCRIPTION: &str = "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename";
/// `v1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]`.
const NOMINATED_NODE_DESCRIPTION: &str = "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.";
/// `v1.PodSpec{}.SwaggerDoc()["readinessGates"]`.
const READINESS_GATES_DESCRIPTION: &str = "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates";

pub(super) const COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column {
        name: "Ready",
        type_: "string",
        format: "",
        description: "The aggregate readiness state of this pod for accepting traffic.",
        priority: 0,
    },
    Column {
        name: "Status",
        type_: "string",
        format: "",
        description: "The aggregate status of the containers in this pod.",
        priority: 0,
    },
    Column {
        name: "Restarts",
        type_: "string",
        format: "",
        description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        priority: 0,
    },
    AGE_COLUMN,
    Column { name: "IP", type_: "string", format: "", description: POD_IP_DESCRIPTION, priority: 1 },
    Column { name: "Node", type_: "string", format: "", description: NODE_NAME_DESCRIPTION, priority: 1 },
    Column {
        name: "Nominated Node",
        type_: "string",
        format: "",
        description: NOMINATED_NODE_DESCRIPTION,
        priority: 1,
    },
    Column {
        name: "Readiness Gates",
        type_: "string",
        format: "",
        description: READINESS_GATES_DESCRIPTION,
        priority: 1,
    },
];

/// `node.NodeUnreachablePodReason`.
const NODE_UNREACHABLE_POD_REASON: &str = "NodeLost";
/// `v1.PodReasonSchedulingGated`.
const POD_REASON_SCHEDULING_GATED: &str = "SchedulingGated";

/// `podSuccessConditions` / `podFailedConditions`.
pub(super) fn conditions(pod: &Value) -> Option<Value> {
    match string(pod, &["status", "phase"]) {
        "Succeeded" => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }])),
        "Failed" => Some(json!([{
            "type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed.",
        }])),
        _ => None,
    }
}

/// The later of two restart times (Go: `if last.Before(&t) { last = t }`, where the zero time
/// is before everything and nothing is before the zero time).
fn later(last: Option<Timestamp>, t: Option<Timestamp>) -> Option<Timestamp> {
    match (last, t) {
        (Some(l), Some(t)) if l < t => Some(t),
        (None, Some(t)) => Some(t),
        (l, _) => l,
    }
}

/// `lastState.terminated.finishedAt` of a container status.
fn last_finished_at(status: &Value) -> Option<Timestamp> {
    object(status, &["lastState", "terminated"]).and_then(|t| timestamp(t, &["finishedAt"]))
}

/// `Signal:N` or `ExitCode:N` for a terminated state without a reason.
fn exit_description(terminated: &Value) -> String {
    let signal = int(terminated, &["signal"]);
    if signal != 0 { format!("Signal:{signal}") } else { format!("ExitCode:{}", int(terminated, &["exitCode"])) }
}

/// The first condition of `type` decides (Go ranges and returns on the first match).
fn condition_true(conditions: &[Value], type_: &str) -> bool {
    conditions.iter().find(|c| string(c, &["type"]) == type_).is_some_and(|c| string(c, &["status"]) == "True")
}

pub(super) fn cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let init_containers = array(pod, &["spec", "initContainers"]);
    let conditions = array(pod, &["status", "conditions"]);
    let phase = string(pod, &["status", "phase"]);
    let status_reason = string(pod, &["status", "reason"]);

    let mut restarts: i64 = 0;
    let mut restartable_init_restarts: i64 = 0;
    let mut total_containers = array(pod, &["spec", "containers"]).len();
    let mut ready_containers: usize = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_restartable_init_restart: Option<Timestamp> = None;

    let mut reason = if status_reason.is_empty() { phase.to_string() } else { status_reason.to_string() };
    if conditions
        .iter()
        .any(|c| string(c, &["type"]) == "PodScheduled" && string(c, &["reason"]) == POD_REASON_SCHEDULING_GATED)
    {
        reason = POD_REASON_SCHEDULING_GATED.to_string();
    }

    // Sidecars (init containers with restartPolicy Always) count as containers of the pod.
    // Statuses find their spec by name; Go's map keeps the last container of a name.
    let is_restartable_init = |container_name: &str| {
        init_containers
            .iter()
            .rev()
            .find(|c| string(c, &["name"]) == container_name)
            .is_some_and(|c| string(c, &["restartPolicy"]) == "Always")
    };
    total_containers += init_containers.iter().filter(|c| string(c, &["restartPolicy"]) == "Always").count();

    let mut initializing = false;
    for (i, status) in array(pod, &["status", "initContainerStatuses"]).iter().enumerate() {
        let restart_count = int(status, &["restartCount"]);
        restarts += restart_count;
        last_restart = later(last_restart, last_finished_at(status));
        let restartable = is_restartable_init(string(status, &["name"]));
        if restartable {
            restartable_init_restarts += restart_count;
            last_restartable_init_restart = later(last_restartable_init_restart, last_finished_at(status));
        }
        let terminated = object(status, &["state", "terminated"]);
        let waiting_reason = object(status, &["state", "waiting"]).map(|w| string(w, &["reason"])).unwrap_or("");
        if terminated.is_some_and(|t| int(t, &["exitCode"]) == 0) {
            continue;
        }
        if restartable && opt_boolean(status, &["started"]) == Some(true) {
            if boolean(status, &["ready"]) {
                ready_containers += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            // Initialization failed.
            let t_reason = string(t, &["reason"]);
            if t_reason.is_empty() { format!("Init:{}", exit_description(t)) } else { format!("Init:{t_reason}") }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{}/{}", i, init_containers.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized") {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        for status in array(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int(status, &["restartCount"]);
            last_restart = later(last_restart, last_finished_at(status));
            let waiting_reason = object(status, &["state", "waiting"]).map(|w| string(w, &["reason"])).unwrap_or("");
            let terminated = object(status, &["state", "terminated"]);
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                let t_reason = string(t, &["reason"]);
                reason = if t_reason.is_empty() { exit_description(t) } else { t_reason.to_string() };
            } else if boolean(status, &["ready"]) && object(status, &["state", "running"]).is_some() {
                has_running = true;
                ready_containers += 1;
            }
        }
        // A pod whose last container completed while another still runs is not Completed.
        if reason == "Completed" && has_running {
            reason = if condition_true_any(conditions, "Ready") { "Running" } else { "NotReady" }.to_string();
        }
    }

    let deleting = get(pod, &["metadata", "deletionTimestamp"]).is_some();
    if deleting && status_reason == NODE_UNREACHABLE_POD_REASON {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => {
            format!("{restarts} ({} ago)", translate_timestamp_since(Some(t), now))
        }
        _ => restarts.to_string(),
    };

    vec![
        name(pod),
        Value::String(format!("{ready_containers}/{total_containers}")),
        Value::String(reason),
        Value::String(restarts_cell),
        age(pod, now),
        Value::String(or_none(pod_ip(pod))),
        Value::String(or_none(string(pod, &["spec", "nodeName"]))),
        Value::String(or_none(string(pod, &["status", "nominatedNodeName"]))),
        Value::String(readiness_gates(pod, conditions)),
    ]
}

/// `hasPodReadyCondition`: any `Ready=True` condition (unlike `Initialized`, not just the first).
fn condition_true_any(conditions: &[Value], type_: &str) -> bool {
    conditions.iter().any(|c| string(c, &["type"]) == type_ && string(c, &["status"]) == "True")
}

/// The first pod IP; the v1 `podIP` stands in when `podIPs` is empty, as the v1-to-internal
/// conversion does.
fn pod_ip(pod: &Value) -> &str {
    match array(pod, &["status", "podIPs"]).first() {
        Some(first) => string(first, &["ip"]),
        None => string(pod, &["status", "podIP"]),
    }
}

fn or_none(s: &str) -> String {
    if s.is_empty() { "<none>".to_string() } else { s.to_string() }
}

/// `true/total` over `spec.readinessGates`, each judged by the first condition of its type.
fn readiness_gates(pod: &Value, conditions: &[Value]) -> String {
    let gates = array(pod, &["spec", "readinessGates"]);
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let true_conditions =
        gates.iter().filter(|gate| condition_true(conditions, string(gate, &["conditionType"]))).count();
    format!("{true_conditions}/{}", gates.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    /// `now - secs` in RFC 3339.
    fn ago(secs: i64) -> String {
        (now() - jiff::SignedDuration::from_secs(secs)).to_string()
    }

    fn blank_containers(n: usize) -> Value {
        Value::Array(vec![json!({}); n])
    }

    fn terminated_ago(secs: i64) -> Value {
        json!({"terminated": {"finishedAt": ago(secs)}})
    }

    /// Ready, Status, Restarts of a pod (the cells between Name and Age).
    fn summary(pod: &Value) -> (String, String, String) {
        let c = cells(pod, now());
        let s = |i: usize| c[i].as_str().unwrap_or_default().to_string();
        (s(1), s(2), s(3))
    }

    fn pod(containers: usize, init: Value, status: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": blank_containers(containers), "initContainers": init},
               "status": status})
    }

    fn check(cases: Vec<(&str, Value, (&str, &str, &str))>) {
        for (label, p, (ready, status, restarts)) in cases {
            assert_eq!(summary(&p), (ready.to_string(), status.to_string(), restarts.to_string()), "{label}");
        }
    }

    #[test]
    fn print_pod_status_cases() {
        let running = json!({"running": {}});
        check(vec![
            (
                "name, container count, restarts, ready",
                pod(
                    2,
                    json!([]),
                    json!({"phase": "podPhase", "containerStatuses": [
                    {"ready": true, "restartCount": 3, "state": running},
                    {"restartCount": 3}]}),
                ),
                ("1/2", "podPhase", "6"),
            ),
            (
                "container waiting reason overwrites phase",
                pod(
                    2,
                    json!([]),
                    json!({"phase": "podPhase", "containerStatuses": [
                    {"ready": true, "restartCount": 3, "state": running},
                    {"restartCount": 3, "state": {"waiting": {"reason": "ContainerWaitingReason"}}}]}),
                ),
                ("1/2", "ContainerWaitingReason", "6"),
            ),
            (
                "first container wins over later terminated one",
                pod(
                    2,
                    json!([]),
                    json!({"phase": "podPhase", "containerStatuses": [
                    {"restartCount": 3, "state": {"waiting": {"reason": "ContainerWaitingReason"}}},
                    {"restartCount": 3, "state": {"terminated": {"reason": "ContainerTerminatedReason"}}}]}),
                ),
                ("0/2", "ContainerWaitingReason", "6"),
            ),
            (
                "ready without running state is not running",
                pod(
                    2,
                    json!([]),
                    json!({"phase": "podPhase", "containerStatuses": [
                    {"ready": true, "restartCount": 3, "state": running},
                    {"ready": true, "restartCount": 3}]}),
                ),
                ("1/2", "podPhase", "6"),
            ),
            (
                "pod reason beats phase",
                pod(
                    2,
                    json!([]),
                    json!({"reason": "podReason", "phase": "podPhase", "containerStatuses": [
                    {"ready": true, "restartCount": 3, "state": running},
                    {"ready": true, "restartCount": 3}]}),
                ),
                ("1/2", "podReason", "6"),
            ),
            (
                "completed plus running without Ready condition is NotReady",
                pod(
                    2,
                    json!([]),
                    json!({"phase": "Running", "containerStatuses": [
                    {"ready": true, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
                    {"ready": true, "restartCount": 3, "state": running}]}),
                ),
                ("1/2", "NotReady", "6"),
            ),
            (
                "completed plus running with Ready condition is Running",
                pod(
                    2,
                    json!([]),
                    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                    {"ready": true, "restartCount": 3, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
                    {"ready": true, "restartCount": 3, "state": running}]}),
                ),
                ("1/2", "Running", "6"),
            ),
            (
                "init container restarting",
                pod(
                    1,
                    blank_containers(1),
                    json!({"phase": "podPhase",
                    "initContainerStatuses": [{"restartCount": 3, "state": running, "lastState": terminated_ago(10)}],
                    "containerStatuses": [{"restartCount": 0, "state": {"waiting": {}}}]}),
                ),
                ("0/1", "Init:0/1", "3 (10s ago)"),
            ),
            (
                "two init containers, first restarting",
                pod(
                    1,
                    blank_containers(2),
                    json!({"phase": "podPhase",
                    "initContainerStatuses": [
                        {"restartCount": 3, "state": running, "lastState": terminated_ago(10)},
                        {"state": {"waiting": {}}}],
                    "containerStatuses": [{"state": {"waiting": {}}}]}),
                ),
                ("0/1", "Init:0/2", "3 (10s ago)"),
            ),
            (
                "first init completed, second restarting",
                pod(
                    1,
                    blank_containers(2),
                    json!({"phase": "podPhase",
                    "initContainerStatuses": [
                        {"state": {"terminated": {}}},
                        {"restartCount": 3, "state": running, "lastState": terminated_ago(10)}],
                    "containerStatuses": [{"state": {"waiting": {}}}]}),
                ),
                ("0/1", "Init:1/2", "3 (10s ago)"),
            ),
            (
                "init restarts add up, latest restart shown",
                pod(
                    1,
                    blank_containers(2),
                    json!({"phase": "podPhase",
                    "initContainerStatuses": [
                        {"restartCount": 2, "state": {"terminated": {}}, "lastState": terminated_ago(120)},
                        {"restartCount": 3, "state": running, "lastState": terminated_ago(10)}],
                    "containerStatuses": [{"state": {"waiting": {}}}]}),
                ),
                ("0/1", "Init:1/2", "5 (10s ago)"),
            ),
            (
                "initialized pod counts only app container restarts",
                pod(
                    1,
                    blank_containers(1),
                    json!({"phase": "Running",
                    "initContainerStatuses": [
                        {"restartCount": 2, "state": {"terminated": {}}, "lastState": terminated_ago(120)}],
                    "containerStatuses": [
                        {"restartCount": 4, "state": running, "lastState": terminated_ago(20)}]}),
                ),
                ("0/1", "Running", "4 (20s ago)"),
            ),
            (
                "restart 5d ago",
                pod(
                    1,
                    json!([]),
                    json!({"phase": "Running", "containerStatuses": [
                    {"ready": true, "restartCount": 3, "state": running, "lastState": terminated_ago(5 * 86400)}]}),
                ),
                ("1/1", "Running", "3 (5d ago)"),
            ),
            (
                "one never restarted, one 10d ago",
                pod(
                    2,
                    json!([]),
                    json!({"phase": "Running", "containerStatuses": [
                    {"ready": true, "restartCount": 0, "state": running},
                    {"ready": true, "restartCount": 3, "state": running, "lastState": terminated_ago(10 * 86400)}]}),
                ),
                ("2/2", "Running", "3 (10d ago)"),
            ),
            (
                "most recent of two restarts",
                pod(
                    2,
                    json!([]),
                    json!({"phase": "Running", "containerStatuses": [
                    {"ready": true, "restartCount": 6, "state": running, "lastState": terminated_ago(5 * 86400)},
                    {"ready": true, "restartCount": 3, "state": running, "lastState": terminated_ago(20 * 86400)}]}),
                ),
                ("2/2", "Running", "9 (5d ago)"),
            ),
            (
                "scheduling gated",
                pod(
                    2,
                    json!([]),
                    json!({"phase": "podPhase", "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
                ),
                ("0/2", "SchedulingGated", "0"),
            ),
            (
                "succeeded",
                pod(
                    1,
                    json!([]),
                    json!({"phase": "Succeeded", "containerStatuses": [
                    {"restartCount": 0, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}),
                ),
                ("0/1", "Completed", "0"),
            ),
            (
                "failed",
                pod(
                    1,
                    json!([]),
                    json!({"phase": "Failed", "containerStatuses": [
                    {"restartCount": 0, "state": {"terminated": {"reason": "Error", "exitCode": 1}}}]}),
                ),
                ("0/1", "Error", "0"),
            ),
            (
                "terminated without reason shows signal",
                pod(
                    1,
                    json!([]),
                    json!({"phase": "Running", "containerStatuses": [
                    {"state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
                ),
                ("0/1", "Signal:9", "0"),
            ),
            (
                "terminated without reason shows exit code",
                pod(
                    1,
                    json!([]),
                    json!({"phase": "Running", "containerStatuses": [
                    {"state": {"terminated": {"exitCode": 2}}}]}),
                ),
                ("0/1", "ExitCode:2", "0"),
            ),
            (
                "failed init container with reason",
                pod(
                    1,
                    blank_containers(1),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                ),
                ("0/1", "Init:Error", "0"),
            ),
            (
                "failed init container by signal",
                pod(
                    1,
                    blank_containers(1),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
                ),
                ("0/1", "Init:Signal:9", "0"),
            ),
            (
                "failed init container by exit code",
                pod(
                    1,
                    blank_containers(1),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"state": {"terminated": {"exitCode": 3}}}]}),
                ),
                ("0/1", "Init:ExitCode:3", "0"),
            ),
            (
                "waiting init container reason",
                pod(
                    1,
                    blank_containers(2),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
                ),
                ("0/1", "Init:CrashLoopBackOff", "0"),
            ),
            (
                "PodInitializing is not an init reason",
                pod(
                    1,
                    blank_containers(2),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"state": {"terminated": {"exitCode": 0}}},
                    {"state": {"waiting": {"reason": "PodInitializing"}}}]}),
                ),
                ("0/1", "Init:1/2", "0"),
            ),
            (
                "ContainerCreating",
                pod(
                    1,
                    json!([]),
                    json!({"phase": "Pending", "containerStatuses": [
                    {"state": {"waiting": {"reason": "ContainerCreating"}}}]}),
                ),
                ("0/1", "ContainerCreating", "0"),
            ),
            ("no status at all", pod(1, json!([]), json!({"phase": "Pending"})), ("0/1", "Pending", "0")),
        ]);
    }

    #[test]
    fn print_pod_deletion() {
        let deleting = |status: Value| {
            json!({"metadata": {"name": "p", "deletionTimestamp": ago(10)},
                   "spec": {"containers": blank_containers(1)}, "status": status})
        };
        check(vec![
            (
                "succeeded and deleting stays Completed",
                deleting(json!({"phase": "Succeeded", "containerStatuses": [
                    {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]})),
                ("0/1", "Completed", "0"),
            ),
            (
                "running and deleting",
                deleting(json!({"phase": "Running", "containerStatuses": [{"state": {"running": {}}}]})),
                ("0/1", "Terminating", "0"),
            ),
            ("pending and deleting", deleting(json!({"phase": "Pending"})), ("0/1", "Terminating", "0")),
            (
                "node lost and deleting",
                deleting(json!({"phase": "Running", "reason": "NodeLost"})),
                ("0/1", "Unknown", "0"),
            ),
        ]);
    }

    #[test]
    fn print_pod_restartable_init_containers() {
        let sidecars = json!([{"name": "restartable-init-1", "restartPolicy": "Always"},
                              {"name": "restartable-init-2", "restartPolicy": "Always"}]);
        let running = json!({"running": {}});
        check(vec![
            (
                "first sidecar running but not started",
                pod(
                    1,
                    sidecars.clone(),
                    json!({"phase": "Pending",
                    "conditions": [{"type": "Initialized", "status": "False"}],
                    "initContainerStatuses": [
                        {"name": "restartable-init-1", "restartCount": 3, "state": running, "started": false,
                         "lastState": terminated_ago(10)},
                        {"name": "restartable-init-2", "state": {"waiting": {}}, "started": false}],
                    "containerStatuses": [{"state": {"waiting": {}}}]}),
                ),
                ("0/3", "Init:0/2", "3 (10s ago)"),
            ),
            (
                "first sidecar started, second not",
                pod(
                    1,
                    sidecars.clone(),
                    json!({"phase": "Pending",
                    "conditions": [{"type": "Initialized", "status": "False"}],
                    "initContainerStatuses": [
                        {"name": "restartable-init-1", "restartCount": 3, "state": running, "started": true,
                         "lastState": terminated_ago(10)},
                        {"name": "restartable-init-2", "state": running, "started": false}],
                    "containerStatuses": [{"state": {"waiting": {}}}]}),
                ),
                ("0/3", "Init:1/2", "3 (10s ago)"),
            ),
            (
                "both sidecars started, app running",
                pod(
                    1,
                    sidecars.clone(),
                    json!({"phase": "Running",
                    "conditions": [{"type": "Initialized", "status": "True"}],
                    "initContainerStatuses": [
                        {"name": "restartable-init-1", "restartCount": 3, "state": running, "started": true,
                         "lastState": terminated_ago(10)},
                        {"name": "restartable-init-2", "state": running, "started": true}],
                    "containerStatuses": [
                        {"ready": true, "restartCount": 4, "state": running, "lastState": terminated_ago(20)}]}),
                ),
                ("1/3", "Running", "7 (10s ago)"),
            ),
            (
                "ready sidecars count as ready",
                pod(
                    1,
                    sidecars.clone(),
                    json!({"phase": "Running",
                    "conditions": [{"type": "Initialized", "status": "True"}],
                    "initContainerStatuses": [
                        {"name": "restartable-init-1", "ready": true, "state": running, "started": true},
                        {"name": "restartable-init-2", "ready": true, "state": running, "started": true}],
                    "containerStatuses": [{"ready": true, "state": running}]}),
                ),
                ("3/3", "Running", "0"),
            ),
            (
                "sidecars failed, app completed",
                pod(
                    1,
                    sidecars,
                    json!({"phase": "Succeeded",
                    "conditions": [{"type": "Initialized", "status": "True"}],
                    "initContainerStatuses": [
                        {"name": "restartable-init-1", "restartCount": 3, "started": false,
                         "state": {"terminated": {"reason": "Error", "exitCode": 137}},
                         "lastState": terminated_ago(10)},
                        {"name": "restartable-init-2", "started": false,
                         "state": {"terminated": {"reason": "Error", "exitCode": 137}}}],
                    "containerStatuses": [
                        {"restartCount": 4, "state": {"terminated": {"reason": "Completed", "exitCode": 0}},
                         "lastState": terminated_ago(20)}]}),
                ),
                ("0/3", "Completed", "7 (10s ago)"),
            ),
            (
                "statuses for unknown containers",
                json!({"metadata": {"name": "p"}, "spec": {
                    "initContainers": [{"name": "init1", "image": "initimage"},
                                       {"name": "sidecar1", "image": "sidecarimage", "restartPolicy": "Always"}],
                    "containers": [{"name": "container1", "image": "containerimage"}]},
                    "status": {"phase": "Running",
                        "initContainerStatuses": [{"name": "initinvalid"}, {"name": "init1"}, {"name": "sidecar1"}],
                        "containerStatuses": [{"name": "containerinvalid"}, {"name": "container1"}]}}),
                ("0/2", "Init:0/2", "0"),
            ),
        ]);
    }

    #[test]
    fn print_pod_wide_cells() {
        let gates = json!([{"conditionType": "condition1"}, {"conditionType": "condition2"},
                           {"conditionType": "condition3"}]);
        let p = json!({"metadata": {"name": "test1", "creationTimestamp": ago(30)},
            "spec": {"containers": blank_containers(2), "nodeName": "test1", "readinessGates": gates},
            "status": {"phase": "podPhase", "nominatedNodeName": "node1",
                "podIPs": [{"ip": "1.1.1.1"}, {"ip": "2001:db8::"}], "podIP": "1.1.1.1",
                "conditions": [{"type": "condition1", "status": "False"}, {"type": "condition2", "status": "True"}],
                "containerStatuses": [{"ready": true, "restartCount": 3, "state": {"running": {}}},
                                      {"restartCount": 3}]}});
        assert_eq!(
            cells(&p, now()),
            vec![
                json!("test1"),
                json!("1/2"),
                json!("podPhase"),
                json!("6"),
                json!("30s"),
                json!("1.1.1.1"),
                json!("test1"),
                json!("node1"),
                json!("1/3")
            ]
        );
        let bare = json!({"metadata": {"name": "test2"}, "spec": {"containers": blank_containers(1)},
                          "status": {"phase": "Pending"}});
        assert_eq!(
            cells(&bare, now())[4..],
            [json!("<unknown>"), json!("<none>"), json!("<none>"), json!("<none>"), json!("<none>")]
        );
        let legacy_ip = json!({"status": {"podIP": "10.0.0.7"}});
        assert_eq!(cells(&legacy_ip, now())[5], json!("10.0.0.7"));
    }

    #[test]
    fn print_pod_conditions() {
        assert_eq!(
            conditions(&json!({"status": {"phase": "Succeeded"}})),
            Some(json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                         "message": "The pod has completed successfully."}]))
        );
        assert_eq!(
            conditions(&json!({"status": {"phase": "Failed"}})),
            Some(json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]))
        );
        assert_eq!(conditions(&json!({"status": {"phase": "Running"}})), None);
        assert_eq!(conditions(&json!(null)), None);
        // The STATUS cell of a Succeeded pod without terminated containers is the phase.
        let p = pod(
            2,
            json!([]),
            json!({"phase": "Succeeded", "containerStatuses": [
            {"ready": true, "restartCount": 3, "state": {"running": {}}}, {"restartCount": 3}]}),
        );
        assert_eq!(summary(&p), ("1/2".to_string(), "Succeeded".to_string(), "6".to_string()));
    }

    #[test]
    fn column_layout() {
        let names: Vec<(&str, &str, i32)> = COLUMNS.iter().map(|c| (c.name, c.type_, c.priority)).collect();
        assert_eq!(
            names,
            [
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Status", "string", 0),
                ("Restarts", "string", 0),
                ("Age", "string", 0),
                ("IP", "string", 1),
                ("Node", "string", 1),
                ("Nominated Node", "string", 1),
                ("Readiness Gates", "string", 1),
            ]
        );
    }
}
