//! `runtimeClassName` through the node agent, against a real `peapod server` (scheduler on,
//! controllers off) with the in-memory runtime of `agent::fake`: the class's `handler` reaches
//! the sandbox (CRI's `runtime_handler`), and a missing class or a handler the runtime does
//! not have fails the sandbox as the kubelet does (`FailedCreatePodSandBox`, the pod stays
//! Pending, retried until it works).
//!
//! Build the server first: `cargo build -p peapod` (same CARGO_TARGET_DIR).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use agent::fake::{FakeNetwork, FakeRuntime};
use agent::{Agent, AgentConfig, AgentError};
use client::{Api, ApiResource, Client, DeleteParams, ListParams};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn server() -> &'static testkit::Server {
    static SERVER: OnceLock<testkit::Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let options = testkit::ServerOptions {
            extra_args: vec!["--disable-controller-manager".into()],
            ..testkit::ServerOptions::default()
        };
        match testkit::Server::start_with(options) {
            Ok(server) => server,
            Err(error) => panic!("start peapod server: {error:#}"),
        }
    })
}

fn client() -> Client {
    Client::from_kubeconfig(server().kubeconfig()).expect("client from the server's kubeconfig")
}

fn runtime_classes() -> Api<Value> {
    let info = api::resources::find("node.k8s.io", "v1", "runtimeclasses").expect("runtimeclasses are served");
    Api::with_resource(client(), ApiResource::from_info(info), None)
}

async fn create_runtime_class(name: &str, handler: &str) {
    let class = json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                       "metadata": {"name": name}, "handler": handler});
    runtime_classes().create(&class).await.expect("create runtime class");
}

struct TestAgent {
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), AgentError>>,
}

impl TestAgent {
    fn start(node: &str, runtime: Arc<FakeRuntime>, dir: &tempfile::TempDir) -> TestAgent {
        let mut config = AgentConfig::new(node, dir.path().join("agent"), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        config.relist_period = Duration::from_millis(200);
        config.status_update_period = Duration::from_millis(500);
        let (tx, rx) = oneshot::channel::<()>();
        let agent = Agent::new(config, client(), runtime, Arc::new(FakeNetwork::new()));
        let task = tokio::spawn(agent.run(async move {
            let _ = rx.await;
        }));
        TestAgent { shutdown: Some(tx), task }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "agent did not stop cleanly: {result:?}");
    }
}

struct Setup {
    namespace: String,
    node: String,
    runtime: Arc<FakeRuntime>,
    dir: tempfile::TempDir,
}

async fn setup(prefix: &str) -> Setup {
    let _ = server();
    let namespace = testkit::unique_name(prefix);
    let namespaces: Api<Namespace> = Api::all(client());
    let object: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}})).expect("namespace");
    namespaces.create(&object).await.expect("create namespace");
    let runtime = Arc::new(FakeRuntime::new());
    runtime.add_image("busybox");
    Setup { node: format!("node-{namespace}"), namespace, runtime, dir: tempfile::tempdir().expect("temp dir") }
}

impl Setup {
    fn agent(&self) -> TestAgent {
        TestAgent::start(&self.node, self.runtime.clone(), &self.dir)
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(client(), &self.namespace)
    }

    /// Creates a long-running pod of the class, pinned to this test's node.
    async fn create_pod(&self, name: &str, class: &str) -> String {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
            "runtimeClassName": class,
            "nodeSelector": {"kubernetes.io/hostname": self.node},
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]
        }}))
        .expect("pod");
        let created = self.pods().create(&pod).await.expect("create pod");
        created.metadata.uid.expect("uid")
    }

    async fn wait_pod(&self, name: &str, check: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let pod = self.pods().get_opt(name).await.expect("get pod").map(|p| serde_json::to_value(p).expect("json"));
            if let Some(pod) = &pod
                && check(pod)
            {
                return pod.clone();
            }
            assert!(started.elapsed() < LONG, "pod {name} did not reach the expected state; last: {pod:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a `FailedCreatePodSandBox` event of the pod with exactly this message.
    async fn wait_sandbox_failure(&self, pod: &str, message: &str) {
        let events: Api<Event> = Api::namespaced(client(), &self.namespace);
        let started = Instant::now();
        loop {
            let list = events.list(&ListParams::default()).await.expect("list events").items;
            if list.iter().any(|e| {
                e.involved_object.name.as_deref() == Some(pod)
                    && e.reason.as_deref() == Some("FailedCreatePodSandBox")
                    && e.type_.as_deref() == Some("Warning")
                    && e.message.as_deref() == Some(message)
            }) {
                return;
            }
            let seen: Vec<_> = list.iter().map(|e| (e.reason.clone(), e.message.clone())).collect();
            assert!(started.elapsed() < LONG, "no FailedCreatePodSandBox {message:?}; events: {seen:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or_default()
}

const LONG: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_class_handler_reaches_the_sandbox() {
    let setup = setup("rc-handler").await;
    let class = testkit::unique_name("fast");
    create_runtime_class(&class, "fast").await;
    setup.runtime.add_handler("fast");
    let agent = setup.agent();
    let uid = setup.create_pod("p", &class).await;
    setup.wait_pod("p", |pod| phase(pod) == "Running").await;
    let config = setup.runtime.sandbox_config(&uid).expect("sandbox created");
    assert_eq!(config.runtime_handler.as_deref(), Some("fast"));
    // A pod without a class gets the runtime's default handler.
    let plain: Pod = serde_json::from_value(json!({"metadata": {"name": "plain"}, "spec": {
        "nodeSelector": {"kubernetes.io/hostname": setup.node},
        "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]
    }}))
    .expect("pod");
    let plain_uid = setup.pods().create(&plain).await.expect("create pod").metadata.uid.expect("uid");
    setup.wait_pod("plain", |pod| phase(pod) == "Running").await;
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
    let uid = setup.create_pod("p", &class).await;
    runtime_classes().delete(&class, &DeleteParams::default()).await.expect("delete class");
    setup.runtime.add_handler("fast");
    let agent = setup.agent();
    setup
        .wait_sandbox_failure(
            "p",
            &format!("Failed to create pod sandbox: runtimeclass.node.k8s.io \"{class}\" not found"),
        )
        .await;
    let pod = setup.wait_pod("p", |pod| phase(pod) == "Pending").await;
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating", "{pod:#}");
    assert!(setup.runtime.sandbox_config(&uid).is_none(), "no sandbox without a class");
    // The worker retries: once the class exists, the pod starts.
    create_runtime_class(&class, "fast").await;
    setup.wait_pod("p", |pod| phase(pod) == "Running").await;
    assert_eq!(setup.runtime.sandbox_config(&uid).expect("sandbox").runtime_handler.as_deref(), Some("fast"));
    agent.stop().await;
    runtime_classes().delete(&class, &DeleteParams::default()).await.expect("delete class");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_handler_fails_the_sandbox() {
    let setup = setup("rc-unknown").await;
    let class = testkit::unique_name("exotic");
    create_runtime_class(&class, "kata").await;
    let agent = setup.agent();
    let uid = setup.create_pod("p", &class).await;
    setup.wait_sandbox_failure("p", "Failed to create pod sandbox: no runtime for \"kata\" is configured").await;
    let pod = setup.wait_pod("p", |pod| phase(pod) == "Pending").await;
    assert!(pod["status"]["containerStatuses"][0]["state"]["waiting"].is_object(), "{pod:#}");
    assert!(setup.runtime.sandbox_config(&uid).is_none());
    assert!(setup.runtime.containers(&uid).is_empty());
    agent.stop().await;
    runtime_classes().delete(&class, &DeleteParams::default()).await.expect("delete class");
}
