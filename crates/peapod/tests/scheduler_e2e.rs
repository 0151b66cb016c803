//! Acceptance: the scheduler inside a real `peapod server --disable-agent`, with nodes from a
//! real `peapod sim-nodes` process, driven by the real kubectl: pods are bound and spread and
//! run on the simulated nodes; a pod too big for every node stays Pending with kube-scheduler's
//! `FailedScheduling` message in `kubectl describe` until a big enough node joins; nodeSelector,
//! taints and tolerations; hostPort conflicts. Each test has its own server (nodes are
//! cluster-wide, and messages count them).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use testkit::{Server, eventually};

const SETTLE: Duration = Duration::from_secs(30);

fn pods(server: &Server, namespace: &str) -> Vec<Value> {
    let out = server.kubectl(&["get", "pods", "-n", namespace, "-o", "json"]);
    out.assert_success();
    out.json()["items"].as_array().cloned().unwrap_or_default()
}

fn pod(server: &Server, namespace: &str, name: &str) -> Value {
    let out = server.kubectl(&["get", "pod", name, "-n", namespace, "-o", "json"]);
    out.assert_success();
    out.json()
}

fn field<'a>(pod: &'a Value, pointer: &str) -> &'a str {
    pod.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn condition<'a>(pod: &'a Value, type_: &str) -> Option<&'a Value> {
    pod.pointer("/status/conditions")?.as_array()?.iter().find(|c| c["type"] == type_)
}

fn create_namespace(server: &Server, name: &str) {
    server.kubectl(&["create", "namespace", name]).assert_success();
}

fn apply(server: &Server, namespace: &str, manifest: &str) {
    server.kubectl_stdin(testkit::Kubectl::V1_33, &["apply", "-n", namespace, "-f", "-"], manifest).assert_success();
}

/// A pod manifest; `extra_spec` is YAML indented for the pod spec.
fn pod_manifest(name: &str, cpu: &str, extra_spec: &str, container_extra: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
{extra_spec}  containers:
  - name: app
    image: nginx
    resources:
      requests:
        cpu: {cpu}
{container_extra}---
"
    )
}

fn all_running(server: &Server, namespace: &str, count: usize) -> bool {
    let pods = pods(server, namespace);
    pods.len() == count && pods.iter().all(|p| field(p, "/status/phase") == "Running")
}

#[test]
fn pods_are_scheduled_spread_and_run_on_simulated_nodes() {
    let server = Server::start().expect("server");
    let _nodes = server.sim_nodes("spread", 3, &["--cpu", "4", "--memory", "8Gi"]);
    let nodes = server.kubectl(&["get", "nodes", "-o", "json"]);
    nodes.assert_success();
    let items = nodes.json()["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{nodes}");
    for node in &items {
        let ready =
            node["status"]["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == "Ready")).cloned();
        assert_eq!(ready.map(|c| c["status"].clone()), Some(Value::from("True")), "{node}");
        assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.33.0");
    }
    // Every node heartbeats through its Lease.
    let leases = server.kubectl(&["get", "leases", "-n", "kube-node-lease", "-o", "json"]);
    leases.assert_success();
    let lease_names: BTreeSet<String> = leases.json()["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
        .collect();
    assert_eq!(lease_names, BTreeSet::from(["spread-0000".into(), "spread-0001".into(), "spread-0002".into()]));

    let namespace = "spread";
    create_namespace(&server, namespace);
    let manifest: String = (0..6).map(|i| pod_manifest(&format!("web-{i}"), "500m", "", "")).collect();
    apply(&server, namespace, &manifest);
    assert!(eventually(SETTLE, || all_running(&server, namespace, 6)), "pods: {:#?}", pods(&server, namespace));
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for pod in pods(&server, namespace) {
        *per_node.entry(field(&pod, "/spec/nodeName").to_string()).or_default() += 1;
        assert!(!field(&pod, "/status/podIP").is_empty(), "{pod}");
        assert_eq!(condition(&pod, "Ready").map(|c| c["status"].clone()), Some(Value::from("True")));
        assert_eq!(condition(&pod, "PodScheduled").map(|c| c["status"].clone()), Some(Value::from("True")));
    }
    // LeastAllocated spreads equal pods evenly over equal nodes.
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), vec![2, 2, 2], "{per_node:?}");

    let node = field(&pod(&server, namespace, "web-0"), "/spec/nodeName").to_string();
    let describe = server.kubectl(&["describe", "pod", "web-0", "-n", namespace]);
    describe.assert_success();
    let wanted = format!("Successfully assigned {namespace}/web-0 to {node}");
    assert!(
        describe
            .stdout
            .lines()
            .any(|l| l.contains("Scheduled") && l.contains("default-scheduler") && l.contains(&wanted)),
        "{describe}"
    );
    assert!(
        describe.stdout.lines().any(|l| l.starts_with("Status:") && l.trim_end().ends_with("Running")),
        "{describe}"
    );

    // Deleting a pod: the simulated kubelet finishes the deletion.
    server.kubectl(&["delete", "pod", "web-0", "-n", namespace, "--wait=true", "--timeout=20s"]).assert_success();
    assert!(eventually(SETTLE, || pods(&server, namespace).len() == 5));
}

#[test]
fn a_pod_too_big_for_every_node_waits_for_a_big_enough_node() {
    let server = Server::start().expect("server");
    let _small = server.sim_nodes("small", 3, &["--cpu", "2"]);
    server.kubectl(&["taint", "node", "small-0002", "dedicated=gpu:NoSchedule"]).assert_success();
    let namespace = "big";
    create_namespace(&server, namespace);
    apply(&server, namespace, &pod_manifest("huge", "8", "", ""));
    let expected = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. \
                    preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption \
                    victims found for incoming pod.";
    let unschedulable = || {
        let pod = pod(&server, namespace, "huge");
        condition(&pod, "PodScheduled").is_some_and(|c| {
            c["status"] == "False" && c["reason"] == "Unschedulable" && c["message"].as_str() == Some(expected)
        })
    };
    assert!(eventually(SETTLE, unschedulable), "{:#}", pod(&server, namespace, "huge"));
    let pending = pod(&server, namespace, "huge");
    assert_eq!(field(&pending, "/status/phase"), "Pending");
    assert_eq!(field(&pending, "/spec/nodeName"), "");
    let describe = || server.kubectl(&["describe", "pod", "huge", "-n", namespace]).stdout;
    assert!(
        eventually(SETTLE, || describe().lines().any(|l| l.contains("Warning")
            && l.contains("FailedScheduling")
            && l.contains("default-scheduler")
            && l.contains(expected))),
        "{}",
        describe()
    );
    // The events API shows it too.
    let events = server.kubectl(&[
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "reason=FailedScheduling",
        "-o",
        "json",
    ]);
    events.assert_success();
    assert!(events.stdout.contains("FailedScheduling"), "{events}");

    // A node with room joins: the pod is scheduled there and runs.
    let _big = server.sim_nodes("big", 1, &["--cpu", "16"]);
    let running = || {
        let pod = pod(&server, namespace, "huge");
        field(&pod, "/spec/nodeName") == "big-0000" && field(&pod, "/status/phase") == "Running"
    };
    assert!(eventually(SETTLE, running), "{:#}", pod(&server, namespace, "huge"));
    assert!(describe().contains("Successfully assigned big/huge to big-0000"), "{}", describe());
}

#[test]
fn node_selectors_taints_and_tolerations_steer_pods() {
    let server = Server::start().expect("server");
    let _nodes = server.sim_nodes("steer", 3, &[]);
    server.kubectl(&["label", "node", "steer-0000", "disk=ssd"]).assert_success();
    server.kubectl(&["taint", "node", "steer-0002", "dedicated=gpu:NoSchedule"]).assert_success();
    let namespace = "steer";
    create_namespace(&server, namespace);
    let selector = "  nodeSelector:\n    disk: ssd\n";
    let tolerate_gpu = "  nodeSelector:\n    kubernetes.io/hostname: steer-0002\n  tolerations:\n  - key: dedicated\n    operator: Equal\n    value: gpu\n    effect: NoSchedule\n";
    let nowhere = "  nodeSelector:\n    disk: tape\n";
    let mut manifest = pod_manifest("ssd", "100m", selector, "");
    manifest.push_str(&pod_manifest("gpu", "100m", tolerate_gpu, ""));
    manifest.push_str(&pod_manifest("nowhere", "100m", nowhere, ""));
    for i in 0..6 {
        manifest.push_str(&pod_manifest(&format!("plain-{i}"), "100m", "", ""));
    }
    apply(&server, namespace, &manifest);
    let settled = || {
        let pods = pods(&server, namespace);
        pods.iter().filter(|p| field(p, "/status/phase") == "Running").count() == 8
    };
    assert!(eventually(SETTLE, settled), "{:#?}", pods(&server, namespace));
    for pod in pods(&server, namespace) {
        let name = field(&pod, "/metadata/name");
        let node = field(&pod, "/spec/nodeName");
        match name {
            "ssd" => assert_eq!(node, "steer-0000"),
            "gpu" => assert_eq!(node, "steer-0002"),
            "nowhere" => assert_eq!(node, ""),
            // The tainted node takes no pod without the toleration.
            _ => assert!(node == "steer-0000" || node == "steer-0001", "{name} on {node}"),
        }
    }
    let expected = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match \
                    Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for \
                    scheduling.";
    let nowhere_message = || {
        condition(&pod(&server, namespace, "nowhere"), "PodScheduled")
            .and_then(|c| c["message"].as_str().map(str::to_string))
    };
    assert!(eventually(SETTLE, || nowhere_message().as_deref() == Some(expected)), "{:?}", nowhere_message());
    // Labelling a node to match re-queues the pending pod.
    server.kubectl(&["label", "node", "steer-0001", "disk=tape"]).assert_success();
    let placed = || field(&pod(&server, namespace, "nowhere"), "/spec/nodeName") == "steer-0001";
    assert!(eventually(SETTLE, placed), "{:#}", pod(&server, namespace, "nowhere"));
}

#[test]
fn host_ports_conflict_until_the_holder_leaves() {
    let server = Server::start().expect("server");
    let _nodes = server.sim_nodes("ports", 2, &[]);
    let namespace = "ports";
    create_namespace(&server, namespace);
    let port = "    ports:\n    - containerPort: 80\n      hostPort: 8080\n";
    let manifest: String = (0..3).map(|i| pod_manifest(&format!("hp-{i}"), "100m", "", port)).collect();
    apply(&server, namespace, &manifest);
    let expected = "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. preemption: \
                    0/2 nodes are available: 2 No preemption victims found for incoming pod.";
    let state = || {
        let pods = pods(&server, namespace);
        let running: Vec<(String, String)> = pods
            .iter()
            .filter(|p| field(p, "/status/phase") == "Running")
            .map(|p| (field(p, "/metadata/name").to_string(), field(p, "/spec/nodeName").to_string()))
            .collect();
        let pending: Vec<String> = pods
            .iter()
            .filter(|p| condition(p, "PodScheduled").is_some_and(|c| c["message"].as_str() == Some(expected)))
            .map(|p| field(p, "/metadata/name").to_string())
            .collect();
        (running, pending)
    };
    assert!(
        eventually(SETTLE, || {
            let (r, p) = state();
            r.len() == 2 && p.len() == 1
        }),
        "{:?}",
        state()
    );
    let (running, pending) = state();
    assert_ne!(running[0].1, running[1].1, "one host port 8080 per node: {running:?}");
    // The holder goes: its port is free and the pending pod takes it.
    server.kubectl(&["delete", "pod", &running[0].0, "-n", namespace, "--wait=true", "--timeout=20s"]).assert_success();
    let waiting = pending[0].clone();
    let placed = || field(&pod(&server, namespace, &waiting), "/status/phase") == "Running";
    assert!(eventually(SETTLE, placed), "{:#}", pod(&server, namespace, &waiting));
    assert_eq!(field(&pod(&server, namespace, &waiting), "/spec/nodeName"), running[0].1);
}

#[test]
fn stopped_sim_nodes_stop_renewing_their_leases() {
    let server = Server::start().expect("server");
    let nodes = server.sim_nodes("stale", 1, &["--lease-interval", "1"]);
    let renew_time = || {
        let out = server.kubectl(&[
            "get",
            "lease",
            "stale-0000",
            "-n",
            "kube-node-lease",
            "-o",
            "jsonpath={.spec.renewTime}",
        ]);
        out.assert_success();
        out.stdout
    };
    let first = renew_time();
    assert!(eventually(Duration::from_secs(10), || renew_time() != first), "lease not renewed");
    let (_, _, _) = nodes.finish(Duration::ZERO);
    std::thread::sleep(Duration::from_millis(1500));
    let stopped = renew_time();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(renew_time(), stopped, "a stopped sim-nodes process must not renew");
}
