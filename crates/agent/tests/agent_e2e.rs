//! The node agent against a real `peapod server` (scheduler on, controllers off), with the
//! in-memory runtime and network of `agent::fake`: no root needed. Each test runs its own
//! agent on its own node and pins its pods there with a nodeSelector, so tests sharing the
//! server do not see each other's pods.
//!
//! Build the server first: `cargo build -p peapod` (same CARGO_TARGET_DIR).

use std::time::{Duration, Instant};

use agent::fake::Behavior;
use agent::runtime::ContainerState;
use client::{Api, DeleteParams};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_registers_ready_with_capacity_and_a_lease() {
    let setup = setup("agent-node").await;
    let agent = setup
        .agent(|config| {
            config.cpu_millis = Some(4000);
            config.memory_bytes = Some(8 << 30);
            config.kubelet_port = 10777;
        })
        .await;
    let nodes: Api<Node> = Api::all(client());
    let started = Instant::now();
    let node = loop {
        if let Some(node) = nodes.get_opt(&setup.node).await.expect("get node") {
            let value = serde_json::to_value(&node).expect("json");
            if condition(&value, "Ready")["status"] == "True" {
                break value;
            }
        }
        assert!(started.elapsed() < LONG, "node never became Ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let status = &node["status"];
    assert_eq!(status["capacity"]["cpu"], "4");
    assert_eq!(status["capacity"]["memory"], "8Gi");
    assert_eq!(status["capacity"]["pods"], "110");
    assert_eq!(status["allocatable"]["memory"], "8092Mi", "capacity minus the 100Mi eviction threshold");
    assert!(status["capacity"]["ephemeral-storage"].is_string());
    let ready = condition(&node, "Ready").clone();
    assert_eq!(ready["reason"], "KubeletReady");
    assert_eq!(ready["message"], "kubelet is posting ready status");
    assert_eq!(condition(&node, "MemoryPressure")["reason"], "KubeletHasSufficientMemory");
    // This host may really be short of disk (the kubelet's nodefs.available<10%): only check
    // that the reason matches the status.
    let disk = condition(&node, "DiskPressure");
    let expected = if disk["status"] == "True" { "KubeletHasDiskPressure" } else { "KubeletHasNoDiskPressure" };
    assert_eq!(disk["reason"], expected);
    assert_eq!(condition(&node, "PIDPressure")["reason"], "KubeletHasSufficientPID");
    assert_eq!(status["nodeInfo"]["containerRuntimeVersion"], "fake://0.1.0");
    assert_eq!(status["nodeInfo"]["kubeletVersion"], "v1.33.0-peapod");
    assert_eq!(status["nodeInfo"]["operatingSystem"], "linux");
    assert_eq!(status["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10777);
    assert_eq!(node["spec"]["podCIDR"], "10.88.0.0/24");
    assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], setup.node.as_str());
    let addresses = status["addresses"].as_array().cloned().unwrap_or_default();
    assert!(addresses.contains(&json!({"type": "InternalIP", "address": "127.0.0.1"})), "{addresses:?}");
    let images = status["images"].as_array().cloned().unwrap_or_default();
    assert!(
        images
            .iter()
            .any(|i| i["names"].as_array().is_some_and(|n| n.contains(&json!("docker.io/library/busybox:latest")))),
        "{images:?}"
    );

    let leases: Api<Lease> = Api::namespaced(client(), "kube-node-lease");
    // The Lease is created right after the Node: wait for it.
    let started = Instant::now();
    let lease = loop {
        if let Some(lease) = leases.get_opt(&setup.node).await.expect("get lease") {
            break lease;
        }
        assert!(started.elapsed() < LONG, "no node lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let spec = lease.spec.expect("lease spec");
    assert_eq!(spec.holder_identity.as_deref(), Some(setup.node.as_str()));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    assert!(spec.renew_time.is_some());
    agent.stop().await;
}

/// The heartbeat: `renewTime` moves forward every quarter of the lease duration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_lease_is_renewed() {
    let setup = setup("agent-lease").await;
    let agent = setup.agent(|config| config.lease_duration_seconds = 2).await;
    let leases: Api<Lease> = Api::namespaced(client(), "kube-node-lease");
    let renew_time = || async {
        let lease = leases.get_opt(&setup.node).await.expect("get lease");
        lease.and_then(|lease| lease.spec).and_then(|spec| spec.renew_time).map(|time| time.0)
    };
    let started = Instant::now();
    let first = loop {
        if let Some(time) = renew_time().await {
            break time;
        }
        assert!(started.elapsed() < LONG, "no node lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let started = Instant::now();
    loop {
        if renew_time().await.is_some_and(|time| time > first) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "renewTime stayed at {first}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_pod_that_exits_0_succeeds_with_kubelet_events() {
    let setup = setup("agent-complete").await;
    setup.runtime.set_behavior("busybox", Behavior::exit_after(Duration::from_millis(200), 0));
    let agent = setup.agent(|_| {}).await;
    let uid = setup
        .create_pod(
            "busybox",
            json!({"restartPolicy": "Never", "containers": [{"name": "busybox", "image": "busybox", "args": ["echo", "Hello World"]}]}),
        )
        .await;
    let pod = setup.wait_pod("busybox", LONG, |p| phase(p) == "Succeeded").await;
    let container = &pod["status"]["containerStatuses"][0];
    assert_eq!(container["state"]["terminated"]["reason"], "Completed");
    assert_eq!(container["state"]["terminated"]["exitCode"], 0);
    assert!(container["containerID"].as_str().is_some_and(|id| id.starts_with("fake://")), "{container}");
    assert_eq!(container["ready"], false);
    assert_eq!(container["restartCount"], 0);
    assert_eq!(pod["status"]["podIP"], "10.88.0.2");
    assert_eq!(pod["status"]["hostIP"], "127.0.0.1");
    assert_eq!(pod["status"]["qosClass"], "BestEffort");
    assert_eq!(condition(&pod, "Ready")["reason"], "PodCompleted");
    assert_eq!(condition(&pod, "PodScheduled")["status"], "True");

    let events = setup
        .wait_events(LONG, |events| {
            ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
                .iter()
                .all(|reason| events.iter().any(|e| e.reason.as_deref() == Some(*reason)))
        })
        .await;
    assert!(has_event(&events, "Created", "Created container: busybox"));
    assert!(has_event(&events, "Started", "Started container busybox"));
    assert!(has_event(&events, "Pulling", "Pulling image \"busybox\""));
    let pulled = events.iter().find(|e| e.reason.as_deref() == Some("Pulled")).and_then(|e| e.message.clone());
    let pulled = pulled.unwrap_or_default();
    assert!(
        pulled.starts_with("Successfully pulled image \"busybox\" in ")
            && pulled.ends_with("Image size: 4500000 bytes."),
        "{pulled}"
    );
    let started = events.iter().find(|e| e.reason.as_deref() == Some("Started")).expect("Started event");
    assert_eq!(started.involved_object.field_path.as_deref(), Some("spec.containers{busybox}"));
    assert_eq!(started.source.as_ref().and_then(|s| s.component.as_deref()), Some("kubelet"));
    assert_eq!(started.source.as_ref().and_then(|s| s.host.as_deref()), Some(setup.node.as_str()));

    // The finished pod keeps its containers (for logs) but not its sandbox or IP.
    let sandboxes = setup.runtime.sandboxes();
    assert!(sandboxes.contains(&(uid.clone(), true)), "sandbox stopped: {sandboxes:?}");
    assert!(!setup.network.allocations().contains_key(&uid));
    assert_eq!(setup.runtime.containers(&uid).len(), 1);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_container_goes_to_crash_loop_back_off_with_doubling_delays() {
    let setup = setup("agent-crash").await;
    setup.runtime.set_behavior("web", Behavior::exit_after(Duration::from_millis(50), 1));
    let agent = setup.agent(|_| {}).await;
    let uid = setup.create_pod("web", json!({"containers": [{"name": "web", "image": "busybox"}]})).await;
    let mut messages = Vec::new();
    let started = Instant::now();
    // The last pod seen while the container waited in back-off, and the last one seen.
    let (mut backing_off, mut last) = (Value::Null, Value::Null);
    while started.elapsed() < Duration::from_secs(25) {
        if let Some(pod) = setup.pod_json("web").await {
            let waiting = &pod["status"]["containerStatuses"][0]["state"]["waiting"];
            if waiting["reason"] == "CrashLoopBackOff"
                && let Some(message) = waiting["message"].as_str()
            {
                if !messages.contains(&message.to_string()) {
                    messages.push(message.to_string());
                }
                backing_off = pod.clone();
            }
            let restarts = pod["status"]["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0);
            last = pod;
            if restarts >= 4 && messages.len() >= 3 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let pod_label = format!("web_{}({uid})", setup.namespace);
    for delay in ["300ms", "600ms", "1.2s"] {
        let expected = format!("back-off {delay} restarting failed container=web pod={pod_label}");
        assert!(messages.contains(&expected), "missing {expected:?} in {messages:#?}; last {last:#}");
    }
    assert!(last["status"]["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0) >= 4, "{last:#}");
    let container = &backing_off["status"]["containerStatuses"][0];
    assert_eq!(container["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(container["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(container["ready"], false);
    assert_eq!(phase(&backing_off), "Running");
    assert_eq!(condition(&backing_off, "Ready")["message"], "containers with unready status: [web]");
    // Restart counts are the runtime's attempts.
    let attempts: Vec<u32> = setup.runtime.containers(&uid).iter().map(|c| c.attempt).collect();
    assert!(attempts.contains(&0) && attempts.contains(&4), "{attempts:?}");
    let events = setup
        .wait_events(LONG, |events| {
            has_event(events, "BackOff", &format!("Back-off restarting failed container web in pod {pod_label}"))
        })
        .await;
    let created = events.iter().find(|e| e.reason.as_deref() == Some("Created")).expect("Created event");
    assert!(created.count.unwrap_or(0) >= 2, "repeated events are aggregated: {created:?}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_run_in_order_before_app_containers() {
    let setup = setup("agent-init").await;
    setup.runtime.set_behavior("init-a", Behavior::exit_after(Duration::from_millis(150), 0));
    setup.runtime.set_behavior("init-b", Behavior::exit_after(Duration::from_millis(150), 0));
    let agent = setup.agent(|_| {}).await;
    let uid = setup
        .create_pod(
            "web",
            json!({
                "initContainers": [{"name": "init-a", "image": "busybox"}, {"name": "init-b", "image": "busybox"}],
                "containers": [{"name": "web", "image": "busybox"}, {"name": "side", "image": "busybox"}],
            }),
        )
        .await;
    let pending =
        setup.wait_pod("web", LONG, |p| p["status"]["initContainerStatuses"][0]["state"]["running"].is_object()).await;
    assert_eq!(phase(&pending), "Pending");
    assert_eq!(pending["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing");
    assert_eq!(condition(&pending, "Initialized")["reason"], "ContainersNotInitialized");
    let pod = setup.wait_pod("web", LONG, |p| phase(p) == "Running" && condition(p, "Ready")["status"] == "True").await;
    assert_eq!(condition(&pod, "Initialized")["status"], "True");
    for i in 0..2 {
        assert_eq!(pod["status"]["initContainerStatuses"][i]["state"]["terminated"]["reason"], "Completed");
    }
    let containers = setup.runtime.containers(&uid);
    let find = |name: &str| containers.iter().find(|c| c.name == name).cloned().expect(name);
    let (a, b, web, side) = (find("init-a"), find("init-b"), find("web"), find("side"));
    assert!(a.finished_at <= Some(b.created_at), "init-b started after init-a finished");
    assert!(b.finished_at <= Some(web.created_at), "app containers start after the init containers");
    assert!(b.finished_at <= Some(side.created_at));
    assert_eq!(web.state, ContainerState::Running);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_runs_the_grace_period_then_removes_everything() {
    let setup = setup("agent-delete").await;
    setup.runtime.set_behavior("web", Behavior::ignore_sigterm());
    let agent = setup.agent(|_| {}).await;
    let uid = setup
        .create_pod(
            "web",
            json!({"terminationGracePeriodSeconds": 3, "containers": [{"name": "web", "image": "busybox"}]}),
        )
        .await;
    setup.wait_pod("web", LONG, |p| phase(p) == "Running").await;
    let deleted_at = Instant::now();
    setup.pods().delete("web", &DeleteParams::default()).await.expect("delete");
    let terminating = setup.pod_json("web").await.expect("still there while terminating");
    assert!(terminating["metadata"]["deletionTimestamp"].is_string());
    while setup.pod_json("web").await.is_some() {
        assert!(deleted_at.elapsed() < LONG, "pod was never removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = deleted_at.elapsed();
    assert!(took >= Duration::from_millis(2500), "the grace period was not honoured: {took:?}");
    let stops = setup.runtime.stops();
    assert!(stops.iter().any(|(name, grace)| name == "web" && *grace > Duration::from_secs(2)), "{stops:?}");
    assert!(setup.runtime.containers(&uid).is_empty());
    assert!(!setup.runtime.sandboxes().iter().any(|(u, _)| u == &uid));
    assert!(!setup.network.allocations().contains_key(&uid));
    assert!(setup.runtime.removed_logs().contains(&uid));
    setup.wait_events(LONG, |events| has_event(events, "Killing", "Stopping container web")).await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_agent_adopts_running_containers_and_cleans_up_deleted_pods() {
    let setup = setup("agent-adopt").await;
    let agent = setup.agent(|_| {}).await;
    let kept = setup.create_pod("kept", json!({"containers": [{"name": "web", "image": "busybox"}]})).await;
    let gone = setup.create_pod("gone", json!({"containers": [{"name": "web", "image": "busybox"}]})).await;
    for name in ["kept", "gone"] {
        setup.wait_pod(name, LONG, |p| condition(p, "Ready")["status"] == "True").await;
    }
    let before = setup.runtime.containers(&kept);
    assert_eq!(before.len(), 1);
    agent.stop().await;

    // While the agent is down: one pod is force-deleted, the other keeps running.
    setup.pods().delete("gone", &DeleteParams::immediate()).await.expect("force delete");
    assert!(setup.pod_json("gone").await.is_none());
    assert_eq!(setup.runtime.containers(&gone).len(), 1, "nothing cleans up without an agent");

    let agent = setup.agent(|_| {}).await;
    let started = Instant::now();
    while !setup.runtime.containers(&gone).is_empty() || setup.network.allocations().contains_key(&gone) {
        assert!(started.elapsed() < LONG, "the deleted pod's leftovers were not removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!setup.runtime.sandboxes().iter().any(|(uid, _)| uid == &gone));
    // A few relists later the adopted container is still the same, never restarted.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = setup.runtime.containers(&kept);
    assert_eq!(after, before, "the running container was adopted as it was");
    let pod = setup.pod_json("kept").await.expect("kept pod");
    assert_eq!(phase(&pod), "Running");
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(condition(&pod, "Ready")["status"], "True");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_probe_flips_ready() {
    let setup = setup("agent-ready").await;
    setup.runtime.set_exec_exit_code("web", 1);
    let agent = setup.agent(|_| {}).await;
    setup
        .create_pod(
            "web",
            json!({"containers": [{"name": "web", "image": "busybox", "readinessProbe": {
                "exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1
            }}]}),
        )
        .await;
    let pod = setup.wait_pod("web", LONG, |p| phase(p) == "Running").await;
    assert_eq!(condition(&pod, "Ready")["status"], "False");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pod = setup.pod_json("web").await.expect("pod");
    assert_eq!(condition(&pod, "Ready")["message"], "containers with unready status: [web]", "{pod:#}");
    assert_eq!(pod["status"]["containerStatuses"][0]["ready"], false);
    setup.wait_events(LONG, |events| events.iter().any(|e| e.reason.as_deref() == Some("Unhealthy"))).await;

    setup.runtime.set_exec_exit_code("web", 0);
    let pod = setup.wait_pod("web", LONG, |p| condition(p, "Ready")["status"] == "True").await;
    assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
    assert_eq!(condition(&pod, "ContainersReady")["status"], "True");
    let execs = setup.runtime.execs();
    assert!(execs.iter().any(|(name, command)| name == "web" && command == &["cat", "/tmp/ready"]), "{execs:?}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_pulls_back_off() {
    let setup = setup("agent-pull").await;
    setup.runtime.fail_pulls_of("nosuch:1.0", "manifest unknown");
    let agent = setup.agent(|_| {}).await;
    setup.create_pod("web", json!({"containers": [{"name": "web", "image": "nosuch:1.0"}]})).await;
    let pod = setup
        .wait_pod("web", LONG, |p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
        })
        .await;
    assert_eq!(phase(&pod), "Pending");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "Back-off pulling image \"nosuch:1.0\""
    );
    let events = setup
        .wait_events(LONG, |events| {
            has_event(events, "Failed", "Failed to pull image \"nosuch:1.0\": manifest unknown")
        })
        .await;
    assert!(has_event(&events, "Failed", "Error: ErrImagePull"));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_liveness_probe_restarts_the_container() {
    let setup = setup("agent-live").await;
    setup.runtime.set_exec_exit_code("web", 1);
    let agent = setup.agent(|_| {}).await;
    let uid = setup
        .create_pod(
            "web",
            json!({"terminationGracePeriodSeconds": 1, "containers": [{"name": "web", "image": "busybox", "livenessProbe": {
                "exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 2
            }}]}),
        )
        .await;
    let pod = setup
        .wait_pod("web", LONG, |p| p["status"]["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0) >= 1)
        .await;
    // SIGTERM'd by the kubelet: exit 143, an error.
    assert_eq!(pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 143);
    let events = setup
        .wait_events(LONG, |events| {
            has_event(events, "Killing", "Container web failed liveness probe, will be restarted")
        })
        .await;
    assert!(events.iter().any(|e| e.reason.as_deref() == Some("Unhealthy")
        && e.message.as_deref().is_some_and(|m| m.starts_with("Liveness probe failed"))));
    assert!(setup.runtime.containers(&uid).iter().any(|c| c.attempt == 1));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_deadline_fails_the_pod_and_oom_kills_are_reported() {
    let setup = setup("agent-deadline").await;
    setup.runtime.set_behavior("oom", Behavior::oom_after(Duration::from_millis(100)));
    let agent = setup.agent(|_| {}).await;
    setup
        .create_pod("slow", json!({"activeDeadlineSeconds": 2, "containers": [{"name": "web", "image": "busybox"}]}))
        .await;
    setup
        .create_pod("oom", json!({"restartPolicy": "Never", "containers": [{"name": "oom", "image": "busybox"}]}))
        .await;
    let oom = setup.wait_pod("oom", LONG, |p| phase(p) == "Failed").await;
    let terminated = &oom["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(terminated["reason"], "OOMKilled");
    assert_eq!(terminated["exitCode"], 137);

    let slow = setup.wait_pod("slow", LONG, |p| phase(p) == "Failed").await;
    assert_eq!(slow["status"]["reason"], "DeadlineExceeded");
    assert_eq!(slow["status"]["message"], "Pod was active on the node longer than the specified deadline");
    assert!(slow["status"]["containerStatuses"][0]["state"]["terminated"].is_object(), "{slow:#}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_start_before_later_init_containers_and_stop_when_the_job_is_done() {
    let setup = setup("agent-sidecar").await;
    setup.runtime.set_behavior("setup", Behavior::exit_after(Duration::from_millis(100), 0));
    setup.runtime.set_behavior("job", Behavior::exit_after(Duration::from_millis(300), 0));
    let agent = setup.agent(|_| {}).await;
    let uid = setup
        .create_pod(
            "job",
            json!({
                "restartPolicy": "Never",
                "initContainers": [
                    {"name": "proxy", "image": "busybox", "restartPolicy": "Always"},
                    {"name": "setup", "image": "busybox"},
                ],
                "containers": [{"name": "job", "image": "busybox"}],
            }),
        )
        .await;
    let pod = setup.wait_pod("job", LONG, |p| phase(p) == "Succeeded").await;
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
    let containers = setup.runtime.containers(&uid);
    let find = |name: &str| containers.iter().find(|c| c.name == name).cloned().expect(name);
    let (proxy, init, job) = (find("proxy"), find("setup"), find("job"));
    assert!(proxy.started_at <= Some(init.created_at), "the sidecar started before the next init container");
    assert!(init.finished_at <= Some(job.created_at));
    // The sidecar does not keep the pod alive, and is stopped once the job is done.
    assert_eq!(proxy.state, ContainerState::Exited);
    assert!(proxy.finished_at >= job.finished_at);
    assert!(setup.runtime.stops().iter().any(|(name, _)| name == "proxy"));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_init_container_fails_a_never_pod() {
    let setup = setup("agent-initfail").await;
    setup.runtime.set_behavior("setup", Behavior::exit_after(Duration::from_millis(50), 3));
    let agent = setup.agent(|_| {}).await;
    let uid = setup
        .create_pod(
            "web",
            json!({
                "restartPolicy": "Never",
                "initContainers": [{"name": "setup", "image": "busybox"}],
                "containers": [{"name": "web", "image": "busybox"}],
            }),
        )
        .await;
    let pod = setup.wait_pod("web", LONG, |p| phase(p) == "Failed").await;
    assert_eq!(pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"], 3);
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing");
    assert!(!setup.runtime.containers(&uid).iter().any(|c| c.name == "web"), "app containers never started");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_held_by_the_node_runs_when_the_registry_is_unreachable() {
    let setup = setup("agent-offline").await;
    setup.runtime.fail_pulls_of("busybox", "dial tcp: lookup registry-1.docker.io: no such host");
    setup.runtime.set_behavior("web", Behavior::exit_after(Duration::from_millis(100), 0));
    let agent = setup.agent(|_| {}).await;
    setup
        .create_pod("web", json!({"restartPolicy": "Never", "containers": [{"name": "web", "image": "busybox"}]}))
        .await;
    setup.wait_pod("web", LONG, |p| phase(p) == "Succeeded").await;
    let events = setup
        .wait_events(LONG, |events| {
            has_event(events, "Pulled", "Container image \"busybox\" already present on machine")
        })
        .await;
    assert!(!events.iter().any(|e| e.reason.as_deref() == Some("Failed")), "no pull failure is reported");
    assert_eq!(setup.runtime.pulls(), vec!["busybox".to_string()], "the pull was tried first (policy Always)");
    // A moment later the unreachable registry is not asked again.
    setup
        .create_pod("again", json!({"restartPolicy": "Never", "containers": [{"name": "web", "image": "busybox"}]}))
        .await;
    setup.wait_pod("again", LONG, |p| phase(p) == "Succeeded").await;
    assert_eq!(setup.runtime.pulls().len(), 1);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_hooks_run_and_a_failed_post_start_kills_the_container() {
    let setup = setup("agent-hooks").await;
    setup.runtime.set_exec_exit_code("bad", 1);
    let agent = setup.agent(|_| {}).await;
    setup
        .create_pod(
            "web",
            json!({"terminationGracePeriodSeconds": 5, "containers": [{"name": "web", "image": "busybox", "lifecycle": {
                "postStart": {"exec": {"command": ["touch", "/started"]}},
                "preStop": {"exec": {"command": ["nginx", "-s", "quit"]}},
            }}]}),
        )
        .await;
    let bad = setup
        .create_pod(
            "bad",
            json!({"restartPolicy": "Never", "containers": [{"name": "bad", "image": "busybox", "lifecycle": {
                "postStart": {"exec": {"command": ["false"]}},
            }}]}),
        )
        .await;
    setup.wait_pod("web", LONG, |p| condition(p, "Ready")["status"] == "True").await;
    let execs = setup.runtime.execs();
    assert!(execs.contains(&("web".to_string(), vec!["touch".to_string(), "/started".to_string()])), "{execs:?}");

    setup.pods().delete("web", &DeleteParams::default()).await.expect("delete");
    let started = Instant::now();
    while setup.pod_json("web").await.is_some() {
        assert!(started.elapsed() < LONG, "pod was never removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let execs = setup.runtime.execs();
    let quit = vec!["nginx".to_string(), "-s".to_string(), "quit".to_string()];
    assert!(execs.contains(&("web".to_string(), quit)), "preStop ran: {execs:?}");

    let pod = setup.wait_pod("bad", LONG, |p| phase(p) == "Failed").await;
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 143, "{pod:#}");
    setup.wait_events(LONG, |events| has_event(events, "FailedPostStartHook", "PostStartHook failed")).await;
    assert_eq!(setup.runtime.containers(&bad).len(), 1, "restartPolicy Never: not restarted");
    agent.stop().await;
}

/// An emptyDir on disk over its `sizeLimit` gets the pod evicted, as the kubelet's eviction
/// manager does: Failed with reason Evicted, an `Evicted` warning, the containers stopped.
/// Within the limit nothing happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_dir_over_its_size_limit_evicts_the_pod() {
    let setup = setup("agent-evict").await;
    let agent = setup.agent(|config| config.eviction_monitoring_period = Duration::from_millis(200)).await;
    let uid = setup
        .create_pod(
            "filler",
            json!({
                "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Mi"}}, {"name": "free", "emptyDir": {}}],
                "containers": [{"name": "web", "image": "busybox",
                                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
            }),
        )
        .await;
    setup.wait_pod("filler", LONG, |p| phase(p) == "Running").await;
    let volumes = setup.dir.path().join("agent/pods").join(&uid).join("volumes/kubernetes.io~empty-dir");
    // Within the limit, and a volume without one may hold anything.
    std::fs::write(volumes.join("scratch/half"), vec![7u8; 512 * 1024]).expect("write half");
    std::fs::write(volumes.join("free/big"), vec![7u8; 4 << 20]).expect("write big");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pod = setup.pod_json("filler").await.expect("pod");
    assert_eq!(phase(&pod), "Running", "{pod:#}");

    std::fs::write(volumes.join("scratch/more"), vec![7u8; 1 << 20]).expect("write more");
    let pod = setup.wait_pod("filler", LONG, |p| phase(p) == "Failed").await;
    let message = "Usage of EmptyDir volume \"scratch\" exceeds the limit \"1Mi\". ";
    assert_eq!(pod["status"]["reason"], "Evicted", "{pod:#}");
    assert_eq!(pod["status"]["message"], message, "{pod:#}");
    assert!(pod["status"]["containerStatuses"][0]["state"]["terminated"].is_object(), "{pod:#}");
    setup.wait_events(LONG, |events| has_event(events, "Evicted", message)).await;
    assert!(setup.runtime.stops().iter().any(|(name, _)| name == "web"), "the container was stopped");
    // The object stays, Failed, for its controller to replace.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(phase(&setup.pod_json("filler").await.expect("the evicted pod stays")), "Failed");
    agent.stop().await;
}

/// startupProbe: until it succeeds the container is not `started`, not ready, and its
/// liveness probe does not run; once it succeeds readiness takes over. A startup probe that
/// keeps failing kills the container, which is restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_probe_gates_the_other_probes_and_its_failure_restarts_the_container() {
    let setup = setup("agent-startup").await;
    setup.runtime.set_exec_exit_code("slow", 1);
    setup.runtime.set_exec_exit_code("stuck", 1);
    let agent = setup.agent(|_| {}).await;
    let probe =
        |threshold: i32| json!({"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": threshold});
    setup
        .create_pod(
            "slow",
            json!({"terminationGracePeriodSeconds": 1, "containers": [{"name": "slow", "image": "busybox",
                "startupProbe": probe(100), "livenessProbe": probe(1), "readinessProbe": probe(1)}]}),
        )
        .await;
    let stuck_uid = setup
        .create_pod(
            "stuck",
            json!({"terminationGracePeriodSeconds": 1, "containers": [{"name": "stuck", "image": "busybox",
                "startupProbe": probe(2)}]}),
        )
        .await;

    setup.wait_pod("slow", LONG, |p| phase(p) == "Running").await;
    // Several periods with every probe failing: only the startup probe counts.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let pod = setup.pod_json("slow").await.expect("pod");
    let status = &pod["status"]["containerStatuses"][0];
    assert_eq!(status["started"], false, "{pod:#}");
    assert_eq!(status["ready"], false, "{pod:#}");
    assert_eq!(status["restartCount"], 0, "the liveness probe ran before startup: {pod:#}");
    setup.runtime.set_exec_exit_code("slow", 0);
    let pod = setup.wait_pod("slow", LONG, |p| condition(p, "Ready")["status"] == "True").await;
    assert_eq!(pod["status"]["containerStatuses"][0]["started"], true, "{pod:#}");

    let pod = setup
        .wait_pod("stuck", LONG, |p| p["status"]["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0) >= 1)
        .await;
    assert_eq!(pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 143, "{pod:#}");
    let events = setup
        .wait_events(LONG, |events| {
            has_event(events, "Killing", "Container stuck failed startup probe, will be restarted")
        })
        .await;
    assert!(events.iter().any(|e| e.reason.as_deref() == Some("Unhealthy")
        && e.message.as_deref().is_some_and(|m| m.starts_with("Startup probe failed"))));
    assert!(!has_event(&events, "Killing", "Container slow failed liveness probe, will be restarted"));
    assert!(setup.runtime.containers(&stuck_uid).iter().any(|c| c.attempt == 1));
    agent.stop().await;
}

/// A missing configMap of an env var: CreateContainerConfigError with the kubelet's message
/// and a `Failed` event, until the configMap exists. restartPolicy OnFailure restarts a
/// failed container and leaves one that exited 0 Completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_wait_for_their_source_and_on_failure_restarts_only_failures() {
    let setup = setup("agent-cfgerr").await;
    setup.runtime.set_behavior("ok", Behavior::exit_after(Duration::from_millis(100), 0));
    setup.runtime.set_behavior("bad", Behavior::exit_after(Duration::from_millis(100), 1));
    let agent = setup.agent(|_| {}).await;
    setup
        .create_pod(
            "config",
            json!({"containers": [{"name": "web", "image": "busybox", "env": [
                {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}}
            ]}]}),
        )
        .await;
    let pod = setup
        .wait_pod("config", LONG, |p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CreateContainerConfigError"
        })
        .await;
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "configmap \"settings\" not found"
    );
    assert_eq!(phase(&pod), "Pending");
    setup.wait_events(LONG, |events| has_event(events, "Failed", "Error: configmap \"settings\" not found")).await;
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client(), &setup.namespace);
    let settings = serde_json::from_value(json!({"metadata": {"name": "settings"}, "data": {"greeting": "hi"}}))
        .expect("configmap");
    config_maps.create(&settings).await.expect("create configmap");
    setup.wait_pod("config", LONG, |p| phase(p) == "Running").await;

    setup
        .create_pod(
            "onfailure",
            json!({"restartPolicy": "OnFailure", "containers": [
                {"name": "ok", "image": "busybox"}, {"name": "bad", "image": "busybox"}
            ]}),
        )
        .await;
    let pod = setup
        .wait_pod("onfailure", LONG, |p| {
            p["status"]["containerStatuses"].as_array().is_some_and(|all| {
                all.iter().any(|c| c["name"] == "bad" && c["restartCount"].as_u64().unwrap_or(0) >= 1)
            })
        })
        .await;
    let ok = pod["status"]["containerStatuses"].as_array().and_then(|all| all.iter().find(|c| c["name"] == "ok"));
    let ok = ok.expect("status of ok");
    assert_eq!(ok["restartCount"], 0, "{pod:#}");
    assert_eq!(ok["state"]["terminated"]["reason"], "Completed", "{pod:#}");
    assert_eq!(phase(&pod), "Running", "a container is still to be restarted: {pod:#}");
    agent.stop().await;
}

/// imagePullPolicy: Never runs only what the node holds (ErrImageNeverPull otherwise),
/// IfNotPresent does not pull a present image, Always pulls it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pull_policies() {
    let setup = setup("agent-policy").await;
    let agent = setup.agent(|_| {}).await;
    let pod = |name: &str, image: &str, policy: &str| {
        let container = json!({"name": name, "image": image, "imagePullPolicy": policy});
        json!({"containers": [container]})
    };
    setup.create_pod("never", pod("never", "absent:1", "Never")).await;
    setup.create_pod("present", pod("present", "busybox", "IfNotPresent")).await;
    let never = setup
        .wait_pod("never", LONG, |p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ErrImageNeverPull"
        })
        .await;
    let message = "Container image \"absent:1\" is not present with pull policy of Never";
    assert_eq!(never["status"]["containerStatuses"][0]["state"]["waiting"]["message"], message);
    setup.wait_events(LONG, |events| has_event(events, "ErrImageNeverPull", message)).await;
    setup.wait_pod("present", LONG, |p| phase(p) == "Running").await;
    setup
        .wait_events(LONG, |events| {
            has_event(events, "Pulled", "Container image \"busybox\" already present on machine")
        })
        .await;
    assert!(setup.runtime.pulls().is_empty(), "pulled: {:?}", setup.runtime.pulls());

    setup.create_pod("always", pod("always", "busybox", "Always")).await;
    setup.wait_pod("always", LONG, |p| phase(p) == "Running").await;
    assert_eq!(setup.runtime.pulls(), vec!["busybox".to_string()]);
    assert!(!setup.runtime.pulls().contains(&"absent:1".to_string()));
    agent.stop().await;
}
