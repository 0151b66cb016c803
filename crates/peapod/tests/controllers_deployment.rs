//! Acceptance: the workload controllers inside a real `peapod server --disable-agent`, with
//! nodes from a real `peapod sim-nodes` process (which plays the kubelet), driven by the real
//! kubectl: Deployments create ReplicaSets and pods, scale, replace deleted pods, roll out
//! without dropping below `replicas - maxUnavailable` ready pods, undo, report `rollout
//! status`; deletion cascades (background and orphan); namespace deletion empties the
//! namespace; a server killed mid-rollout converges after a restart.

use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{Server, ServerOptions, eventually};

const SETTLE: Duration = Duration::from_secs(60);

fn items(server: &Server, kind: &str, namespace: &str) -> Vec<Value> {
    server.get_json(&[kind, "-n", namespace])["items"].as_array().cloned().unwrap_or_default()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn terminating(object: &Value) -> bool {
    object["metadata"]["deletionTimestamp"].is_string()
}

/// Pods not being deleted.
fn active_pods(server: &Server, namespace: &str) -> Vec<Value> {
    items(server, "pods", namespace).into_iter().filter(|p| !terminating(p)).collect()
}

fn ready_running(server: &Server, namespace: &str) -> usize {
    active_pods(server, namespace).iter().filter(|p| p["status"]["phase"] == "Running" && is_ready(p)).count()
}

#[track_caller]
fn wait(what: &str, timeout: Duration, server: &Server, mut predicate: impl FnMut() -> bool) {
    if !eventually(timeout, &mut predicate) {
        panic!("timed out waiting for {what}\nserver log tail:\n{}", tail(&server.log(), 60));
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn deployment(server: &Server, namespace: &str, name: &str) -> Value {
    server.get_json(&["deployment", name, "-n", namespace])
}

fn converged(server: &Server, namespace: &str, name: &str, replicas: i64) -> bool {
    let d = deployment(server, namespace, name);
    let status = &d["status"];
    d["metadata"]["generation"] == status["observedGeneration"]
        && status["updatedReplicas"] == replicas
        && status["availableReplicas"] == replicas
        && status["replicas"] == replicas
        && ready_running(server, namespace) == replicas as usize
        && active_pods(server, namespace).len() == replicas as usize
}

fn pod_images(server: &Server, namespace: &str) -> Vec<String> {
    active_pods(server, namespace)
        .iter()
        .filter_map(|p| p["spec"]["containers"][0]["image"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn deployment_scales_replaces_rolls_out_undoes_and_cascades() {
    let server = Server::start().expect("server");
    let _nodes = server.sim_nodes("node", 3, &["--lease-interval", "1"]);
    let ns = server.fresh_namespace("deploy");
    server.kubectl(&["create", "deployment", "web", "--image=nginx", "--replicas=3", "-n", &ns]).assert_success();
    wait("3 running pods", SETTLE, &server, || converged(&server, &ns, "web", 3));

    // The ReplicaSet: named after the template hash, labelled, owned, revision 1.
    let rss = items(&server, "replicasets", &ns);
    assert_eq!(rss.len(), 1, "{rss:#?}");
    let rs = &rss[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"].as_str().expect("hash label").to_string();
    assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
    assert!(hash.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{hash}");
    assert_eq!(rs["spec"]["selector"]["matchLabels"]["pod-template-hash"], hash);
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"], "3");
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"], "4");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(rs["status"]["readyReplicas"], 3);
    for pod in active_pods(&server, &ns) {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        assert!(name.starts_with(&format!("web-{hash}-")) && name.len() == format!("web-{hash}-").len() + 5, "{name}");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], true);
        assert!(pod["spec"]["nodeName"].as_str().is_some_and(|n| n.starts_with("node-")));
    }
    let d = deployment(&server, &ns, "web");
    let conditions = d["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let condition = |t: &str| conditions.iter().find(|c| c["type"] == t).cloned().unwrap_or(Value::Null);
    assert_eq!(condition("Available")["reason"], "MinimumReplicasAvailable");
    assert_eq!(condition("Progressing")["reason"], "NewReplicaSetAvailable");
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");

    // Scale up and down through the scale subresource.
    server.kubectl(&["scale", "deployment", "web", "--replicas=5", "-n", &ns]).assert_success();
    wait("5 pods", SETTLE, &server, || converged(&server, &ns, "web", 5));
    server.kubectl(&["scale", "deployment", "web", "--replicas=1", "-n", &ns]).assert_success();
    wait("1 pod", SETTLE, &server, || converged(&server, &ns, "web", 1));

    // A deleted pod is replaced.
    server.kubectl(&["scale", "deployment", "web", "--replicas=4", "-n", &ns]).assert_success();
    wait("4 pods", SETTLE, &server, || converged(&server, &ns, "web", 4));
    let victim = active_pods(&server, &ns)[0]["metadata"]["name"].as_str().expect("name").to_string();
    server.kubectl(&["delete", "pod", &victim, "-n", &ns, "--wait=false"]).assert_success();
    wait("a replacement", SETTLE, &server, || {
        let pods = active_pods(&server, &ns);
        pods.len() == 4
            && pods.iter().all(|p| p["metadata"]["name"] != victim.as_str())
            && ready_running(&server, &ns) == 4
    });

    // A rolling update never drops below replicas - maxUnavailable (4 - 1) ready pods.
    server.kubectl(&["set", "image", "deployment/web", "nginx=nginx:2", "-n", &ns]).assert_success();
    let started = Instant::now();
    let mut min_ready = usize::MAX;
    let mut samples = 0;
    loop {
        let ready = ready_running(&server, &ns);
        min_ready = min_ready.min(ready);
        samples += 1;
        let images = pod_images(&server, &ns);
        if images.len() == 4 && images.iter().all(|i| i == "nginx:2") && converged(&server, &ns, "web", 4) {
            break;
        }
        assert!(started.elapsed() < SETTLE, "rollout did not finish:\n{}", tail(&server.log(), 60));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(min_ready >= 3, "ready pods dropped to {min_ready} during the rollout ({samples} samples)");
    let status = server.kubectl(&["rollout", "status", "deployment/web", "-n", &ns, "--timeout=60s"]);
    status.assert_success();
    status.assert_stdout_contains("successfully rolled out");
    let rss = items(&server, "replicasets", &ns);
    assert_eq!(rss.len(), 2);
    let revision =
        |rs: &Value| rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str().map(str::to_string);
    let new_rs =
        rss.iter().find(|rs| rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2").expect("new rs");
    assert_eq!(revision(new_rs).as_deref(), Some("2"));
    let old_rs =
        rss.iter().find(|rs| rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx").expect("old rs");
    assert_eq!(old_rs["spec"]["replicas"], 0);
    let history = server.kubectl(&["rollout", "history", "deployment/web", "-n", &ns]);
    history.assert_success();
    assert!(history.stdout.contains('1') && history.stdout.contains('2'), "{}", history.stdout);

    // Undo goes back to the first template; the old RS is re-used at revision 3.
    server.kubectl(&["rollout", "undo", "deployment/web", "-n", &ns]).assert_success();
    wait("the undo", SETTLE, &server, || {
        let images = pod_images(&server, &ns);
        images.len() == 4 && images.iter().all(|i| i == "nginx") && converged(&server, &ns, "web", 4)
    });
    server.kubectl(&["rollout", "status", "deployment/web", "-n", &ns, "--timeout=60s"]).assert_success();
    let rss = items(&server, "replicasets", &ns);
    assert_eq!(rss.len(), 2, "the old RS is re-used, not duplicated");
    let reused = rss.iter().find(|rs| rs["metadata"]["name"] == old_rs["metadata"]["name"]).expect("re-used rs");
    assert_eq!(revision(reused).as_deref(), Some("3"));
    assert_eq!(reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"], "1");

    // Restart: a template annotation change is a new rollout.
    server.kubectl(&["rollout", "restart", "deployment/web", "-n", &ns]).assert_success();
    wait("the restart rollout", SETTLE, &server, || {
        items(&server, "replicasets", &ns).len() == 3 && converged(&server, &ns, "web", 4)
    });

    // Background cascade: the ReplicaSets and pods go with the deployment.
    server.kubectl(&["delete", "deployment", "web", "-n", &ns]).assert_success();
    wait("RSs and pods gone", SETTLE, &server, || {
        items(&server, "replicasets", &ns).is_empty() && active_pods(&server, &ns).is_empty()
    });
}

#[test]
fn orphan_cascade_keeps_replicasets_and_pods_and_namespace_deletion_empties_it() {
    let server = Server::start().expect("server");
    let _nodes = server.sim_nodes("node", 2, &["--lease-interval", "1"]);
    let ns = server.fresh_namespace("orphan");
    server.kubectl(&["create", "deployment", "keep", "--image=nginx", "--replicas=2", "-n", &ns]).assert_success();
    wait("2 pods", SETTLE, &server, || converged(&server, &ns, "keep", 2));
    let pods_before: Vec<Value> = active_pods(&server, &ns).iter().map(|p| p["metadata"]["uid"].clone()).collect();
    server.kubectl(&["delete", "deployment", "keep", "-n", &ns, "--cascade=orphan"]).assert_success();
    wait("the deployment gone", SETTLE, &server, || {
        server.kubectl(&["get", "deployment", "keep", "-n", &ns]).stderr.contains("NotFound")
    });
    std::thread::sleep(Duration::from_secs(2));
    let rss = items(&server, "replicasets", &ns);
    assert_eq!(rss.len(), 1, "the ReplicaSet stays");
    assert!(rss[0]["metadata"]["ownerReferences"].is_null(), "orphaned: {:#}", rss[0]["metadata"]);
    let pods_after: Vec<Value> = active_pods(&server, &ns).iter().map(|p| p["metadata"]["uid"].clone()).collect();
    assert_eq!(pods_after.len(), 2);
    assert!(pods_after.iter().all(|uid| pods_before.contains(uid)), "the same pods stay");

    // Foreground: the RS waits for its pods.
    let rs_name = rss[0]["metadata"]["name"].as_str().expect("name").to_string();
    server
        .kubectl(&["delete", "replicaset", &rs_name, "-n", &ns, "--cascade=foreground", "--wait=false"])
        .assert_success();
    wait("foreground deletion", SETTLE, &server, || {
        items(&server, "replicasets", &ns).is_empty() && items(&server, "pods", &ns).is_empty()
    });

    // Namespace deletion removes deployments, replicasets and pods, then the namespace.
    let doomed = server.fresh_namespace("doomed");
    server.kubectl(&["create", "deployment", "a", "--image=nginx", "--replicas=2", "-n", &doomed]).assert_success();
    server.kubectl(&["create", "configmap", "c", "--from-literal=k=v", "-n", &doomed]).assert_success();
    wait("2 pods", SETTLE, &server, || converged(&server, &doomed, "a", 2));
    server.kubectl(&["delete", "namespace", &doomed, "--wait=false"]).assert_success();
    wait("the namespace gone", SETTLE, &server, || {
        server.kubectl(&["get", "namespace", &doomed]).stderr.contains("NotFound")
    });
    let leftovers = server.kubectl(&["get", "deployments,replicasets,pods", "-A", "-o", "json"]);
    leftovers.assert_success();
    let leftovers = leftovers.json();
    assert!(
        leftovers["items"].as_array().is_some_and(|i| i.iter().all(|o| o["metadata"]["namespace"] != doomed.as_str())),
        "objects of the deleted namespace remain"
    );
}

#[test]
fn a_server_killed_mid_rollout_converges_after_restart() {
    let mut server = Server::start_with(ServerOptions::default()).expect("server");
    let mut nodes = server.sim_nodes("node", 3, &["--lease-interval", "1"]);
    let ns = server.fresh_namespace("restart");
    server.kubectl(&["create", "deployment", "web", "--image=nginx", "--replicas=6", "-n", &ns]).assert_success();
    wait("6 pods", SETTLE, &server, || converged(&server, &ns, "web", 6));
    server.kubectl(&["set", "image", "deployment/web", "nginx=nginx:2", "-n", &ns]).assert_success();
    // Mid-rollout: the new RS exists but the old one still has pods.
    wait("the rollout to start", SETTLE, &server, || items(&server, "replicasets", &ns).len() == 2);
    server.kill9();
    drop(nodes);
    server.restart().expect("restart");
    nodes = server.sim_nodes("node", 3, &["--lease-interval", "1"]);
    wait("the rollout to finish after the restart", Duration::from_secs(120), &server, || {
        let images = pod_images(&server, &ns);
        images.len() == 6 && images.iter().all(|i| i == "nginx:2") && converged(&server, &ns, "web", 6)
    });
    let rss = items(&server, "replicasets", &ns);
    assert_eq!(rss.len(), 2, "no duplicate ReplicaSets after the restart: {rss:#?}");
    server.kubectl(&["rollout", "status", "deployment/web", "-n", &ns, "--timeout=60s"]).assert_success();
    drop(nodes);
}

/// client-go's event correlation, as `kubectl get events` shows it: a ReplicaSet creating 40
/// pods records 9 `SuccessfulCreate` Events, then one combined Event whose count grows until
/// the burst of 25 writes per object is spent (the rest are dropped, as Kubernetes does).
#[test]
fn a_replicaset_creating_many_pods_records_combined_events() {
    let server = Server::start().expect("server");
    let ns = server.fresh_namespace("events");
    server.kubectl(&["create", "deployment", "many", "--image=nginx", "--replicas=40", "-n", &ns]).assert_success();
    wait("40 pods", SETTLE, &server, || items(&server, "pods", &ns).len() == 40);
    let created = || -> Vec<Value> {
        let events = server.get_json(&["events", "-n", &ns, "--field-selector", "reason=SuccessfulCreate"]);
        events["items"].as_array().cloned().unwrap_or_default()
    };
    wait("the combined event's count to reach 16", SETTLE, &server, || created().iter().any(|e| e["count"] == 16));
    std::thread::sleep(Duration::from_secs(1));
    let events = created();
    let (combined, single): (Vec<&Value>, Vec<&Value>) = events.iter().partition(|e| {
        e["message"].as_str().is_some_and(|m| m.starts_with("(combined from similar events): Created pod: many-"))
    });
    assert_eq!(single.len(), 9, "{events:#?}");
    assert!(single.iter().all(|e| e["count"] == 1 && e["involvedObject"]["kind"] == "ReplicaSet"), "{single:#?}");
    assert_eq!(combined.len(), 1, "{events:#?}");
    assert_eq!(combined[0]["count"], 16, "25 writes: 9 events, then the combined one created and patched 15 times");
    assert_ne!(combined[0]["firstTimestamp"], Value::Null);
}
