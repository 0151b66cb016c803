//! The harness the agent's tests share: one real `peapod server` per test binary (scheduler
//! on, controllers off), and per test a namespace, a node name, the in-memory runtime and
//! network of `agent::fake`, and an agent run in-process.
#![allow(dead_code)] // each test binary uses its own part

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use agent::fake::{FakeNetwork, FakeRuntime};
use agent::{Agent, AgentConfig, AgentError};
use client::{Api, Client, ListParams};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub fn server() -> &'static testkit::Server {
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

pub fn client() -> Client {
    Client::from_kubeconfig(server().kubeconfig()).expect("client from the server's kubeconfig")
}

pub struct TestAgent {
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), AgentError>>,
    _dir: Arc<tempfile::TempDir>,
}

impl TestAgent {
    pub async fn start(
        node: &str,
        runtime: Arc<FakeRuntime>,
        network: Arc<FakeNetwork>,
        dir: Arc<tempfile::TempDir>,
        tweak: impl FnOnce(&mut AgentConfig),
    ) -> TestAgent {
        let mut config = AgentConfig::new(node, dir.path().join("agent"), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        config.relist_period = Duration::from_millis(200);
        config.status_update_period = Duration::from_millis(500);
        config.backoff_base = Duration::from_millis(300);
        config.backoff_max = Duration::from_millis(2400);
        tweak(&mut config);
        let (tx, rx) = oneshot::channel::<()>();
        let agent = Agent::new(config, client(), runtime, network);
        let task = tokio::spawn(agent.run(async move {
            let _ = rx.await;
        }));
        TestAgent { shutdown: Some(tx), task, _dir: dir }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "agent did not stop cleanly: {result:?}");
    }
}

pub struct Setup {
    pub namespace: String,
    pub node: String,
    pub runtime: Arc<FakeRuntime>,
    pub network: Arc<FakeNetwork>,
    pub dir: Arc<tempfile::TempDir>,
}

pub async fn setup(prefix: &str) -> Setup {
    let _ = server();
    let namespace = testkit::unique_name(prefix);
    let namespaces: Api<Namespace> = Api::all(client());
    let object: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}})).expect("namespace");
    namespaces.create(&object).await.expect("create namespace");
    let runtime = Arc::new(FakeRuntime::new());
    runtime.add_image("busybox");
    Setup {
        node: format!("node-{namespace}"),
        namespace,
        runtime,
        network: Arc::new(FakeNetwork::new()),
        dir: Arc::new(tempfile::tempdir().expect("temp dir")),
    }
}

impl Setup {
    pub async fn agent(&self, tweak: impl FnOnce(&mut AgentConfig)) -> TestAgent {
        TestAgent::start(&self.node, self.runtime.clone(), self.network.clone(), self.dir.clone(), tweak).await
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(client(), &self.namespace)
    }

    /// Creates a pod pinned to this test's node (through the scheduler).
    pub async fn create_pod(&self, name: &str, spec: Value) -> String {
        let mut spec = spec;
        spec["nodeSelector"] = json!({"kubernetes.io/hostname": self.node});
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("pod");
        let created = self.pods().create(&pod).await.expect("create pod");
        created.metadata.uid.expect("uid")
    }

    pub async fn pod_json(&self, name: &str) -> Option<Value> {
        self.pods().get_opt(name).await.expect("get pod").map(|pod| serde_json::to_value(pod).expect("json"))
    }

    /// Polls the pod until `check` holds; panics with the last state after `timeout`.
    pub async fn wait_pod(&self, name: &str, timeout: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let pod = self.pod_json(name).await;
            if let Some(pod) = &pod
                && check(pod)
            {
                return pod.clone();
            }
            assert!(started.elapsed() < timeout, "pod {name} did not reach the expected state; last: {pod:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn events(&self) -> Vec<Event> {
        let events: Api<Event> = Api::namespaced(client(), &self.namespace);
        events.list(&ListParams::default()).await.expect("list events").items
    }

    pub async fn wait_events(&self, timeout: Duration, check: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let started = Instant::now();
        loop {
            let events = self.events().await;
            if check(&events) {
                return events;
            }
            let summary: Vec<_> = events.iter().map(|e| (e.reason.clone(), e.message.clone(), e.count)).collect();
            assert!(started.elapsed() < timeout, "events did not show up; got {summary:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub fn condition<'a>(pod: &'a Value, type_: &str) -> &'a Value {
    pod["status"]["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == type_)).unwrap_or(&Value::Null)
}

pub fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or_default()
}

pub fn has_event(events: &[Event], reason: &str, message: &str) -> bool {
    events.iter().any(|e| e.reason.as_deref() == Some(reason) && e.message.as_deref() == Some(message))
}

pub const LONG: Duration = Duration::from_secs(20);
