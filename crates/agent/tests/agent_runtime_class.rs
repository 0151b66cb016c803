//! `runtimeClassName` through the node agent, against a real `peapod server` (scheduler on,
//! controllers off) with the in-memory runtime of `agent::fake`: the class's `handler` reaches
//! the sandbox (CRI's `runtime_handler`), and a missing class or a handler the runtime does
//! not have fails the sandbox as the kubelet does (`FailedCreatePodSandBox`, the pod stays
//! Pending, retried until it works).
//!
//! Build the server first: `cargo build -p peapod` (same CARGO_TARGET_DIR).

use client::{Api, ApiResource, DeleteParams};
use k8s_openapi::api::core::v1::{Event, Pod};
use serde_json::{Value, json};

mod common;

use common::*;

fn runtime_classes() -> Api<Value> {
    let info = api::resources::find("node.k8s.io", "v1", "runtimeclasses").expect("runtimeclasses are served");
    Api::with_resource(client(), ApiResource::from_info(info), None)
}

async fn create_runtime_class(name: &str, handler: &str) {
    let class = json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                       "metadata": {"name": name}, "handler": handler});
    runtime_classes().create(&class).await.expect("create runtime class");
}

/// A long-running pod of the class.
fn sleeper(class: &str) -> Value {
    json!({"runtimeClassName": class,
           "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]})
}

/// Waits for a `FailedCreatePodSandBox` warning of the pod with exactly this message.
async fn wait_sandbox_failure(setup: &Setup, pod: &str, message: &str) {
    let failed = |e: &Event| {
        e.involved_object.name.as_deref() == Some(pod)
            && e.reason.as_deref() == Some("FailedCreatePodSandBox")
            && e.type_.as_deref() == Some("Warning")
            && e.message.as_deref() == Some(message)
    };
    setup.wait_events(LONG, |events| events.iter().any(failed)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_class_handler_reaches_the_sandbox() {
    let setup = setup("rc-handler").await;
    let class = testkit::unique_name("fast");
    create_runtime_class(&class, "fast").await;
    setup.runtime.add_handler("fast");
    let agent = setup.agent(|_| {}).await;
    let uid = setup.create_pod("p", sleeper(&class)).await;
    setup.wait_pod("p", LONG, |pod| phase(pod) == "Running").await;
    let config = setup.runtime.sandbox_config(&uid).expect("sandbox created");
    assert_eq!(config.runtime_handler.as_deref(), Some("fast"));
    // A pod without a class gets the runtime's default handler.
    let plain: Pod = serde_json::from_value(json!({"metadata": {"name": "plain"}, "spec": {
        "nodeSelector": {"kubernetes.io/hostname": setup.node},
        "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]
    }}))
    .expect("pod");
    let plain_uid = setup.pods().create(&plain).await.expect("create pod").metadata.uid.expect("uid");
    setup.wait_pod("plain", LONG, |pod| phase(pod) == "Running").await;
    assert_eq!(setup.runtime.sandbox_config(&plain_uid).expect("sandbox").runtime_handler, None);
    agent.stop().await;
    runtime_classes().delete(&class, &DeleteParams::default()).await.expect("delete class");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_class_fails_the_sandbox_until_it_exists() {
    let setup = setup("rc-missing").await;
    let class = testkit::unique_name("gone");
    // The admission plugin refuses pods of a missing class, so the class goes after the pod
    // is created (as when a class is deleted while its pods wait for a node).
    create_runtime_class(&class, "fast").await;
    let uid = setup.create_pod("p", sleeper(&class)).await;
    runtime_classes().delete(&class, &DeleteParams::default()).await.expect("delete class");
    setup.runtime.add_handler("fast");
    let agent = setup.agent(|_| {}).await;
    let message = format!("Failed to create pod sandbox: runtimeclass.node.k8s.io \"{class}\" not found");
    wait_sandbox_failure(&setup, "p", &message).await;
    let pod = setup.wait_pod("p", LONG, |pod| phase(pod) == "Pending").await;
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating", "{pod:#}");
    assert!(setup.runtime.sandbox_config(&uid).is_none(), "no sandbox without a class");
    // The worker retries: once the class exists, the pod starts.
    create_runtime_class(&class, "fast").await;
    setup.wait_pod("p", LONG, |pod| phase(pod) == "Running").await;
    assert_eq!(setup.runtime.sandbox_config(&uid).expect("sandbox").runtime_handler.as_deref(), Some("fast"));
    agent.stop().await;
    runtime_classes().delete(&class, &DeleteParams::default()).await.expect("delete class");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_handler_fails_the_sandbox() {
    let setup = setup("rc-unknown").await;
    let class = testkit::unique_name("exotic");
    create_runtime_class(&class, "kata").await;
    let agent = setup.agent(|_| {}).await;
    let uid = setup.create_pod("p", sleeper(&class)).await;
    wait_sandbox_failure(&setup, "p", "Failed to create pod sandbox: no runtime for \"kata\" is configured").await;
    let pod = setup.wait_pod("p", LONG, |pod| phase(pod) == "Pending").await;
    assert!(pod["status"]["containerStatuses"][0]["state"]["waiting"].is_object(), "{pod:#}");
    assert!(setup.runtime.sandbox_config(&uid).is_none());
    assert!(setup.runtime.containers(&uid).is_empty());
    agent.stop().await;
    runtime_classes().delete(&class, &DeleteParams::default()).await.expect("delete class");
}
