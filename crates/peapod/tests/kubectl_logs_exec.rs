//! Acceptance: `kubectl logs`, `kubectl exec` (plain, `-i`, `-it` through a pty) and
//! `kubectl attach` end to end, for kubectl 1.33 and 1.32: a real `peapod server` proxies
//! `pods/log`, `pods/exec` and `pods/attach` to the agent's streaming server, which runs here
//! in-process on loopback with a fake runtime (commands run as real host processes, so output
//! and exit codes are real) and a fake locator pointing at CRI log files this test writes.
//!
//! The Node object the test creates has InternalIP 127.0.0.1 and the agent server's port as
//! `status.daemonEndpoints.kubeletEndpoint.Port`; its pods are bound to it by `spec.nodeName`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use agent::runtime::{
    ContainerConfig, ContainerEvent, ContainerStatus, ExecOutput, ExecStreams, ImageInfo, RegistryAuth, Result,
    Runtime, RuntimeError, SandboxConfig, TerminalSize,
};
use agent::server::{ContainerLocator, LocatedContainer};
use async_trait::async_trait;
use serde_json::json;
use testkit::{Kubectl, Request, Server, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The token the server presents to agents (`--token`) and the agent accepts.
const TOKEN: &str = "streaming-test-join-token";
const NODE: &str = "stream-node";
const VERSIONS: [Kubectl; 2] = [Kubectl::V1_33, Kubectl::V1_32];

/// Runs commands on the host as if they ran in the container; records terminal sizes.
struct HostRuntime {
    events: tokio::sync::broadcast::Sender<ContainerEvent>,
    resizes: Arc<Mutex<Vec<TerminalSize>>>,
}

fn unused<T>() -> Result<T> {
    Err(RuntimeError::Other("not used by this test".into()))
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[async_trait]
impl Runtime for HostRuntime {
    fn runtime_version(&self) -> String {
        "fake://0".into()
    }
    async fn image_status(&self, _: &str) -> Result<Option<ImageInfo>> {
        unused()
    }
    async fn pull_image(&self, _: &str, _: &[RegistryAuth]) -> Result<ImageInfo> {
        unused()
    }
    async fn list_images(&self) -> Result<Vec<ImageInfo>> {
        unused()
    }
    async fn run_pod_sandbox(&self, _: &SandboxConfig) -> Result<()> {
        unused()
    }
    async fn stop_pod_sandbox(&self, _: &str) -> Result<()> {
        unused()
    }
    async fn remove_pod_sandbox(&self, _: &str) -> Result<()> {
        unused()
    }
    async fn list_pod_sandboxes(&self) -> Result<Vec<String>> {
        unused()
    }
    async fn remove_pod_logs(&self, _: &str) -> Result<()> {
        unused()
    }
    async fn create_container(&self, _: &str, _: &ContainerConfig) -> Result<String> {
        unused()
    }
    async fn start_container(&self, _: &str) -> Result<()> {
        unused()
    }
    async fn stop_container(&self, _: &str, _: Duration) -> Result<()> {
        unused()
    }
    async fn remove_container(&self, _: &str) -> Result<()> {
        unused()
    }
    async fn list_containers(&self, _: &str) -> Result<Vec<ContainerStatus>> {
        unused()
    }
    fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<ContainerEvent> {
        self.events.subscribe()
    }
    async fn exec_sync(&self, _: &str, _: &[String], _: Duration) -> Result<ExecOutput> {
        unused()
    }

    async fn exec(&self, _container_id: &str, command: &[String], mut streams: ExecStreams) -> Result<i32> {
        // A terminal: `script` gives the command a real pty on the host, as a container's would.
        let argv: Vec<String> = if streams.tty {
            let line = command.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ");
            vec!["script".into(), "-qec".into(), line, "/dev/null".into()]
        } else {
            command.to_vec()
        };
        let (program, args) = argv.split_first().ok_or_else(|| RuntimeError::Other("empty command".into()))?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(if streams.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RuntimeError::Other(format!("start {program}: {e}")))?;
        if let Some(mut resize) = streams.resize.take() {
            let resizes = self.resizes.clone();
            tokio::spawn(async move {
                while let Some(size) = resize.recv().await {
                    resizes.lock().unwrap().push(size);
                }
            });
        }
        let stdin_task = match (streams.stdin.take(), child.stdin.take()) {
            (Some(mut from), Some(mut to)) => Some(tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from, &mut to).await;
                // Dropping `to` closes the command's input.
            })),
            _ => None,
        };
        async fn copy_out(
            from: Option<impl tokio::io::AsyncRead + Unpin>,
            to: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
        ) {
            let Some(mut from) = from else { return };
            let mut buffer = [0u8; 8192];
            let mut to = to;
            loop {
                match from.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Some(writer) = to.as_mut()
                            && writer.write_all(&buffer[..n]).await.is_err()
                        {
                            to = None;
                        }
                    }
                }
            }
            if let Some(mut writer) = to {
                let _ = writer.shutdown().await;
            }
        }
        let stdout = copy_out(child.stdout.take(), streams.stdout.take());
        let stderr = copy_out(child.stderr.take(), streams.stderr.take());
        let (_, _, status) = tokio::join!(stdout, stderr, child.wait());
        if let Some(task) = stdin_task {
            task.abort();
        }
        let status = status.map_err(|e| RuntimeError::Other(e.to_string()))?;
        Ok(status.code().unwrap_or(128 + 9))
    }

    async fn attach(&self, _container_id: &str, mut streams: ExecStreams) -> Result<()> {
        // The "main process" echoes its input back, upper-cased, until the input ends.
        let (Some(mut input), Some(mut output)) = (streams.stdin.take(), streams.stdout.take()) else {
            if let Some(mut output) = streams.stdout.take() {
                let _ = output.write_all(b"attached without input\n").await;
            }
            return Ok(());
        };
        let mut text = Vec::new();
        let _ = input.read_to_end(&mut text).await;
        let _ = output.write_all(&text.to_ascii_uppercase()).await;
        Ok(())
    }
}

/// `namespace/pod/container/previous` → where it is.
#[derive(Default)]
struct FakeLocator {
    containers: Mutex<HashMap<(String, String, String, bool), LocatedContainer>>,
    /// How often each pod was looked up (a follower asks while it follows).
    lookups: Mutex<HashMap<String, usize>>,
}

impl FakeLocator {
    fn put(&self, namespace: &str, pod: &str, container: &str, previous: bool, located: LocatedContainer) {
        self.containers.lock().unwrap().insert((namespace.into(), pod.into(), container.into(), previous), located);
    }

    fn set_running(&self, namespace: &str, pod: &str, container: &str, running: bool) {
        if let Some(found) =
            self.containers.lock().unwrap().get_mut(&(namespace.into(), pod.into(), container.into(), false))
        {
            found.running = running;
        }
    }
}

impl ContainerLocator for FakeLocator {
    fn locate(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> Option<LocatedContainer> {
        *self.lookups.lock().unwrap().entry(pod.to_string()).or_default() += 1;
        self.containers.lock().unwrap().get(&(namespace.into(), pod.into(), container.into(), previous)).cloned()
    }

    fn waiting_reason(&self, _: &str, pod: &str, _: &str) -> Option<String> {
        (pod == "pulling").then(|| "ImagePullBackOff".to_string())
    }
}

struct Fixture {
    server: Server,
    locator: Arc<FakeLocator>,
    resizes: Arc<Mutex<Vec<TerminalSize>>>,
    logs: PathBuf,
}

/// One server and one agent for the whole test binary.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let server = Server::start_with(ServerOptions {
            extra_args: vec![
                "--token".into(),
                TOKEN.into(),
                "--disable-scheduler".into(),
                "--disable-controller-manager".into(),
            ],
            ..Default::default()
        })
        .expect("start peapod server");
        let locator = Arc::new(FakeLocator::default());
        let resizes = Arc::new(Mutex::new(Vec::new()));
        let logs = server.dir().join("agent-logs");
        let (port_sender, port_receiver) = std::sync::mpsc::channel();
        {
            let (locator, resizes, tls_dir) = (locator.clone(), resizes.clone(), server.dir().join("agent/tls"));
            std::thread::spawn(move || {
                let runtime =
                    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    port_sender.send(listener.local_addr().unwrap().port()).unwrap();
                    let tls = agent::server::tls::ensure_server_config(&tls_dir, &[]).unwrap();
                    let (events, _) = tokio::sync::broadcast::channel(1);
                    let runtime: Arc<dyn Runtime> = Arc::new(HostRuntime { events, resizes });
                    let shutdown = tokio_util::sync::CancellationToken::new();
                    agent::server::serve(listener, tls, TOKEN.into(), runtime, locator, shutdown).await;
                });
            });
        }
        let port = port_receiver.recv_timeout(Duration::from_secs(10)).expect("agent server port");
        let node = json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            },
        });
        server.post_json("/api/v1/nodes", &node).assert_status(201);
        // Whether or not create kept the status, the status subresource sets it.
        let patch = json!({"status": node["status"]});
        server
            .send(
                &Request::new("PATCH", &format!("/api/v1/nodes/{NODE}/status"))
                    .body("application/merge-patch+json", patch.to_string()),
            )
            .assert_status(200);
        Fixture { server, locator, resizes, logs }
    })
}

/// Creates a pod with these containers, bound to the test node unless `bound` is false.
fn create_pod(namespace: &str, name: &str, containers: &[&str], bound: bool) {
    let containers: Vec<_> =
        containers.iter().map(|c| json!({"name": c, "image": "busybox", "command": ["sleep", "3600"]})).collect();
    let mut spec = json!({"containers": containers});
    if bound {
        spec["nodeName"] = json!(NODE);
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec});
    fixture().server.post_json(&format!("/api/v1/namespaces/{namespace}/pods"), &pod).assert_status(201);
}

fn record(time: jiff::Timestamp, stream: &str, tag: &str, text: &str) -> String {
    format!("{time} {stream} {tag} {text}\n")
}

/// Writes `files` (name → CRI records) under a container directory; returns the directory.
fn write_logs(namespace: &str, pod: &str, container: &str, files: &[(&str, String)]) -> PathBuf {
    let dir = fixture().logs.join(format!("{namespace}_{pod}")).join(container);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn located(path: &Path, running: bool) -> LocatedContainer {
    LocatedContainer { container_id: format!("id-{}", path.display()), log_path: path.to_path_buf(), running }
}

#[test]
fn logs_with_every_option() {
    let f = fixture();
    let namespace = f.server.fresh_namespace("logs");
    create_pod(&namespace, "web", &["app"], true);
    let now = jiff::Timestamp::now();
    let hours_ago = |h: i64| now - jiff::SignedDuration::from_hours(h);
    let t1 = hours_ago(3);
    let t2 = hours_ago(2);
    let t3 = now - jiff::SignedDuration::from_secs(30);
    let t4 = now - jiff::SignedDuration::from_secs(20);
    let dir = write_logs(
        &namespace,
        "web",
        "app",
        &[
            ("0.log", record(t1, "stdout", "F", "previous instance")),
            // The current instance (restart 1): a rotated file, then the current one.
            ("1.log.1", record(t1, "stdout", "F", "old one") + &record(t2, "stderr", "F", "old two")),
            (
                "1.log",
                record(t3, "stdout", "P", "new ")
                    + &record(t3, "stdout", "F", "three")
                    + &record(t4, "stdout", "F", "new four"),
            ),
        ],
    );
    f.locator.put(&namespace, "web", "app", false, located(&dir.join("1.log"), false));
    f.locator.put(&namespace, "web", "app", true, located(&dir.join("0.log"), false));
    let stamp = |t: jiff::Timestamp| agent::server::logs::format_rfc3339_nano(t);

    for version in VERSIONS {
        let logs = |args: &[&str]| {
            let mut all = vec!["logs", "-n", namespace.as_str()];
            all.extend_from_slice(args);
            let out = f.server.kubectl_as(version, &all);
            out.assert_success();
            out.stdout
        };
        assert_eq!(logs(&["web"]), "old one\nold two\nnew three\nnew four\n", "{version}");
        assert_eq!(logs(&["web", "-c", "app"]), "old one\nold two\nnew three\nnew four\n", "{version}");
        assert_eq!(logs(&["web", "--tail=3"]), "old two\nnew three\nnew four\n", "{version}");
        assert_eq!(logs(&["web", "--tail=-1"]), "old one\nold two\nnew three\nnew four\n", "{version}");
        assert_eq!(logs(&["web", "--since=1h"]), "new three\nnew four\n", "{version}");
        let since_time = hours_ago(1).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        assert_eq!(logs(&["web", &format!("--since-time={since_time}")]), "new three\nnew four\n", "{version}");
        assert_eq!(logs(&["web", "--limit-bytes=10"]), "old one\nol", "{version}");
        assert_eq!(
            logs(&["web", "--timestamps", "--tail=2"]),
            format!("{} new three\n{} new four\n", stamp(t3), stamp(t4)),
            "{version}"
        );
        assert_eq!(logs(&["web", "--previous"]), "previous instance\n", "{version}");
        assert_eq!(logs(&["web", "-p", "--timestamps"]), format!("{} previous instance\n", stamp(t1)), "{version}");
    }
}

#[test]
fn log_errors_match_kube_apiserver() {
    let f = fixture();
    let namespace = f.server.fresh_namespace("logerr");
    create_pod(&namespace, "two", &["a", "b"], true);
    create_pod(&namespace, "pending", &["app"], false);
    create_pod(&namespace, "pulling", &["app"], true);
    let base = format!("/api/v1/namespaces/{namespace}/pods");

    let several = f.server.get(&format!("{base}/two/log"));
    let status = several.assert_status_reason(400, "BadRequest");
    assert_eq!(status["message"], "a container name must be specified for pod two, choose one of: [a b]");
    let wrong = f.server.get(&format!("{base}/two/log?container=x"));
    assert_eq!(wrong.assert_status_reason(400, "BadRequest")["message"], "container x is not valid for pod two");
    f.server.get(&format!("{base}/nope/log")).assert_status_reason(404, "NotFound");
    let invalid = f.server.get(&format!("{base}/two/log?container=a&tailLines=-2"));
    let status = invalid.assert_status_reason(422, "Invalid");
    assert!(status["message"].as_str().unwrap_or("").contains("must be greater than or equal to 0"), "{status}");
    let both = f.server.get(&format!("{base}/two/log?container=a&sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z"));
    both.assert_status_reason(422, "Invalid");

    // Not bound to a node yet: an empty log, as kube-apiserver answers.
    let pending = f.server.get(&format!("{base}/pending/log"));
    pending.assert_status(200);
    assert_eq!(pending.text(), "");

    // Bound, but the agent has no instance yet: the kubelet's message, through kubectl.
    for version in VERSIONS {
        let out = f.server.kubectl_as(version, &["logs", "-n", &namespace, "pulling"]);
        out.assert_failure().assert_stderr_contains(
            "Error from server (BadRequest): container \"app\" in pod \"pulling\" is waiting to start: ImagePullBackOff",
        );
        let out = f.server.kubectl_as(version, &["logs", "-n", &namespace, "pulling", "--previous"]);
        out.assert_failure()
            .assert_stderr_contains("previous terminated container \"app\" in pod \"pulling\" not found");
        let out = f.server.kubectl_as(version, &["logs", "-n", &namespace, "two", "-c", "nope"]);
        out.assert_failure();
        assert!(out.stderr.contains("container nope is not valid for pod two"), "{out}");
    }
}

#[test]
fn logs_follow_streams_appended_lines_until_the_container_stops() {
    let f = fixture();
    let namespace = f.server.fresh_namespace("follow");
    for version in VERSIONS {
        let pod = format!("f{}", version.minor());
        create_pod(&namespace, &pod, &["app"], true);
        let start = jiff::Timestamp::now();
        let dir = write_logs(&namespace, &pod, "app", &[("0.log", record(start, "stdout", "F", "before"))]);
        f.locator.put(&namespace, &pod, "app", false, located(&dir.join("0.log"), true));
        let mut follower = f.server.kubectl_background(version, &["logs", "-f", "-n", &namespace, &pod]);
        follower.wait_for_line(Duration::from_secs(20), |l| l == "before");
        let mut file = std::fs::OpenOptions::new().append(true).open(dir.join("0.log")).unwrap();
        file.write_all(record(jiff::Timestamp::now(), "stdout", "F", "appended while following").as_bytes()).unwrap();
        follower.wait_for_line(Duration::from_secs(10), |l| l == "appended while following");
        // The container stops: kubectl's stream ends and it exits 0.
        f.locator.set_running(&namespace, &pod, "app", false);
        let (status, rest, stderr) = follower.finish(Duration::from_secs(10));
        assert!(status.success(), "{version}: kubectl logs -f ended with {status}: {stderr}");
        assert!(rest.is_empty(), "{version}: unexpected lines {rest:?}");
    }
}

#[test]
fn logs_follow_stops_on_the_agent_when_kubectl_goes_away() {
    let f = fixture();
    let namespace = f.server.fresh_namespace("follow-gone");
    create_pod(&namespace, "gone", &["app"], true);
    let dir =
        write_logs(&namespace, "gone", "app", &[("0.log", record(jiff::Timestamp::now(), "stdout", "F", "hello"))]);
    f.locator.put(&namespace, "gone", "app", false, located(&dir.join("0.log"), true));
    let lookups = || f.locator.lookups.lock().unwrap().get("gone").copied().unwrap_or(0);
    let mut follower = f.server.kubectl_background(Kubectl::V1_33, &["logs", "-f", "-n", &namespace, "gone"]);
    follower.wait_for_line(Duration::from_secs(20), |l| l == "hello");
    std::thread::sleep(Duration::from_millis(500));
    assert!(lookups() > 2, "the agent polls the container while following");
    drop(follower);
    // The agent notices within a few polls, then stops asking.
    std::thread::sleep(Duration::from_secs(2));
    let settled = lookups();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lookups(), settled, "the agent still follows a log nobody reads");
}

/// Registers a running container for exec and attach.
fn running_pod(namespace: &str, pod: &str) {
    create_pod(namespace, pod, &["app"], true);
    let dir = write_logs(namespace, pod, "app", &[]);
    fixture().locator.put(namespace, pod, "app", false, located(&dir.join("0.log"), true));
}

#[test]
fn exec_returns_output_and_exit_code() {
    let f = fixture();
    let namespace = f.server.fresh_namespace("exec");
    running_pod(&namespace, "sh");
    create_pod(&namespace, "unbound", &["app"], false);
    for version in VERSIONS {
        let out = f.server.kubectl_as(version, &["exec", "-n", &namespace, "sh", "--", "sh", "-c", "echo hi; exit 3"]);
        assert_eq!(out.code(), 3, "{version}: {out}");
        assert_eq!(out.stdout, "hi\n", "{version}");
        out.assert_stderr_contains("command terminated with exit code 3");

        let out =
            f.server.kubectl_as(version, &["exec", "-n", &namespace, "sh", "--", "sh", "-c", "echo out; echo err >&2"]);
        out.assert_success();
        assert_eq!(out.stdout, "out\n", "{version}");
        assert!(out.stderr.contains("err\n"), "{version}: {out}");

        // Exit codes above 255 do not exist; a large output crosses many frames intact.
        let out = f.server.kubectl_as(version, &["exec", "-n", &namespace, "sh", "--", "sh", "-c", "seq 1 20000"]);
        out.assert_success();
        let expected: String = (1..=20000).map(|n| format!("{n}\n")).collect();
        assert!(out.stdout == expected, "{version}: seq output differs ({} bytes)", out.stdout.len());

        let missing = f.server.kubectl_as(version, &["exec", "-n", &namespace, "sh", "--", "/nonexistent/binary"]);
        missing.assert_failure();

        let unbound = f.server.kubectl_as(version, &["exec", "-n", &namespace, "unbound", "--", "true"]);
        unbound.assert_failure().assert_stderr_contains("pod unbound does not have a host assigned");
    }
}

#[test]
fn exec_with_stdin() {
    let f = fixture();
    let namespace = f.server.fresh_namespace("stdin");
    running_pod(&namespace, "cat");
    for version in VERSIONS {
        let out = f.server.kubectl_stdin(
            version,
            &["exec", "-i", "-n", &namespace, "cat", "--", "sh", "-c", "cat; echo done"],
            "piped line one\npiped line two\n",
        );
        out.assert_success();
        // `done` proves the command saw the end of its input (v5's close of channel 0).
        assert_eq!(out.stdout, "piped line one\npiped line two\ndone\n", "{version}");
        let out = f.server.kubectl_stdin(
            version,
            &["exec", "-i", "-n", &namespace, "cat", "--", "sh", "-c", "read x; exit $x"],
            "7\n",
        );
        assert_eq!(out.code(), 7, "{version}: {out}");
    }
}

/// Runs a command line under `script`, which gives it a pty, feeding `input`; returns the
/// exit code and the terminal output.
fn in_pty(command: &Command, input: &str) -> (i32, String) {
    let mut line = shell_quote(&command.get_program().to_string_lossy());
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(&arg.to_string_lossy()));
    }
    // A known terminal size, which kubectl sends on the resize channel.
    let line = format!("stty cols 111 rows 33; {line}");
    let mut pty = Command::new("script");
    pty.args(["-qec", &line, "/dev/null"]).env_clear();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            pty.env(key, value);
        }
    }
    let mut child = pty.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stdout.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    });
    let mut stdin = child.stdin.take().unwrap();
    // Give kubectl time to connect and switch its terminal to raw mode before typing.
    std::thread::sleep(Duration::from_secs(2));
    stdin.write_all(input.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let output = reader.join().unwrap_or_default();
            panic!("`{line}` did not finish; output so far:\n{output}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    (status.code().unwrap_or(-1), reader.join().unwrap())
}

#[test]
fn exec_with_a_terminal() {
    let f = fixture();
    let namespace = f.server.fresh_namespace("tty");
    running_pod(&namespace, "shell");
    for version in VERSIONS {
        f.resizes.lock().unwrap().clear();
        let command = f.server.kubectl_command(version, &["exec", "-it", "-n", &namespace, "shell", "--", "sh"]);
        let (code, output) = in_pty(&command, "echo $((6*7))x\nexit 5\n");
        // The command's answer (not just the echo of what was typed), then its exit code.
        assert!(output.contains("42x"), "{version}: {output:?}");
        assert_eq!(code, 5, "{version}: {output:?}");
        let sizes = f.resizes.lock().unwrap().clone();
        assert!(sizes.contains(&TerminalSize { width: 111, height: 33 }), "{version}: resizes {sizes:?}");
    }
}

#[test]
fn attach_streams_the_main_process() {
    let f = fixture();
    let namespace = f.server.fresh_namespace("attach");
    running_pod(&namespace, "main");
    // kubectl attach checks the pod is Running first.
    let status = json!({"status": {"phase": "Running", "containerStatuses": [{
        "name": "app", "ready": true, "restartCount": 0, "image": "busybox", "imageID": "",
        "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}]}});
    f.server
        .send(
            &Request::new("PATCH", &format!("/api/v1/namespaces/{namespace}/pods/main/status"))
                .body("application/merge-patch+json", status.to_string()),
        )
        .assert_status(200);
    for version in VERSIONS {
        let out = f.server.kubectl_stdin(version, &["attach", "-i", "-n", &namespace, "main"], "shout\n");
        out.assert_success();
        assert!(out.stdout.contains("SHOUT\n"), "{version}: {out}");
    }
}

#[test]
fn agent_rejects_requests_without_its_token() {
    let f = fixture();
    let node = f.server.get(&format!("/api/v1/nodes/{NODE}")).json();
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"].as_u64().unwrap();
    let url = format!("https://127.0.0.1:{port}/containerLogs/default/x/y");
    let code = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(code(&[]), "401");
    assert_eq!(code(&["-H", "Authorization: Bearer wrong"]), "401");
    // With the token: no such container on this agent.
    assert_eq!(code(&["-H", &format!("Authorization: Bearer {TOKEN}")]), "400");
}
