//! Acceptance of issue 5 with real containers: the real `kubectl` (1.33, and 1.32 for the
//! tutorial session) against `peapod server` with its in-process node agent, crun/runc,
//! per-pod shims and the bridge network. Covers the tutorial session verbatim, a two-container
//! pod sharing localhost and an emptyDir, `kubectl exec` (exit codes, `-i`, `-it` on a pty),
//! OOMKilled, liveness and readiness probes, CrashLoopBackOff's growing delays, a deployment
//! whose killed container is restarted, `kill -9` of the server with pods running, volumes
//! (configMap/secret updates reaching running pods, memory emptyDir, subPath, downward API),
//! the node-managed files and hostNetwork, termination messages, `kubectl attach -it` resizing,
//! and that deleting pods leaves nothing behind (processes, mounts, cgroups, netns, veths, IPs).
//!
//! Needs root (CI is root) and the quick-start images (`testkit::quickstart_images`); skips
//! when not root. One server with an agent is shared by the tests, each in its own namespace;
//! the `kill -9` test runs its own server so the shared one is never disturbed. Every test
//! deletes the pods it created and checks what they leave behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::{Kubectl, Output, Server, ServerOptions, Table};

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipping: needs root (containers, network namespaces, cgroups)");
    false
}

fn agent_server() -> anyhow::Result<Server> {
    let (busybox, nginx) = testkit::quickstart_images()?;
    Server::start_with(ServerOptions { agent: true, import_images: vec![busybox, nginx], ..Default::default() })
}

/// The server the tests share (statics are not dropped: its wrapper stops it at exit).
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| match agent_server() {
        Ok(server) => server,
        Err(error) => panic!("start peapod server with its agent: {error:#}"),
    })
}

/// One test's namespace on a server, and kubectl aimed at it.
struct Ns<'a> {
    server: &'a Server,
    name: String,
    /// Whether dropping it deletes the namespace.
    owned: bool,
}

impl<'a> Ns<'a> {
    fn create(server: &'a Server, prefix: &str) -> Ns<'a> {
        let name = testkit::unique_name(prefix);
        server.kubectl(&["create", "namespace", &name]).assert_success();
        Ns { server, name, owned: true }
    }

    /// An existing namespace, kept when this is dropped.
    fn attach(server: &'a Server, name: &str) -> Ns<'a> {
        Ns { server, name: name.to_string(), owned: false }
    }

    fn args<'b>(&'b self, args: &[&'b str]) -> Vec<&'b str> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        all
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.server.kubectl(&self.args(args))
    }

    fn kubectl_as(&self, version: Kubectl, args: &[&str]) -> Output {
        self.server.kubectl_as(version, &self.args(args))
    }

    fn kubectl_stdin(&self, version: Kubectl, args: &[&str], stdin: &str) -> Output {
        self.server.kubectl_stdin(version, &self.args(args), stdin)
    }

    /// `kubectl apply -f -` of a manifest given as JSON (kubectl reads JSON as YAML).
    fn apply(&self, manifest: &Value) {
        self.kubectl_stdin(Kubectl::V1_33, &["apply", "-f", "-"], &manifest.to_string()).assert_success();
    }

    fn pod(&self, name: &str) -> Option<Value> {
        let out = self.kubectl(&["get", "pod", name, "-o", "json"]);
        if out.success() {
            Some(out.json())
        } else {
            assert!(out.stderr.contains("NotFound"), "get pod {name}: {out}");
            None
        }
    }

    /// Polls the pod until `check` holds; panics with the last state (and the server log's
    /// tail) after `timeout`.
    #[track_caller]
    fn wait_pod(&self, name: &str, timeout: Duration, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let pod = self.pod(name);
            if let Some(pod) = &pod
                && check(pod)
            {
                return pod.clone();
            }
            if started.elapsed() > timeout {
                panic!("pod {}/{name}: {what} not reached in {timeout:?}; last: {pod:#?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The STATUS column of `kubectl get pods NAME`.
    fn status_column(&self, name: &str) -> String {
        let out = self.kubectl(&["get", "pods", name]);
        out.assert_success();
        Table::parse(&out.stdout).cell(name, "STATUS").to_string()
    }

    #[track_caller]
    fn wait_status_column(&self, name: &str, timeout: Duration, expected: &str) {
        let mut last = String::new();
        let reached = testkit::eventually(timeout, || {
            last = self.status_column(name);
            last == expected
        });
        assert!(reached, "kubectl get pods {name}: STATUS {last:?}, expected {expected:?}");
    }

    fn events(&self) -> Vec<Value> {
        let list = self.server.get_json(&["events", "-n", &self.name]);
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// Reasons of the events about object `name`.
    fn event_reasons(&self, name: &str) -> BTreeSet<String> {
        self.events()
            .iter()
            .filter(|event| event["involvedObject"]["name"] == name)
            .filter_map(|event| event["reason"].as_str().map(str::to_string))
            .collect()
    }

    /// Deletes pods (short grace, waiting) and checks each left nothing behind.
    fn delete_pods(&self, pods: &[(&str, String)]) {
        let mut args = vec!["delete", "pod", "--grace-period=1"];
        args.extend(pods.iter().map(|(name, _)| *name));
        self.kubectl(&args).assert_success();
        for (name, uid) in pods {
            assert!(self.pod(name).is_none(), "pod {name} still exists after kubectl delete");
            assert_pod_left_nothing(self.server, uid);
        }
    }
}

impl Drop for Ns<'_> {
    fn drop(&mut self) {
        // Containers outlive the server by design: a failed test must still delete its pods
        // (and wait for the agent to remove them) before the server stops.
        if std::thread::panicking() {
            let _ = self.kubectl(&["delete", "pods", "--all", "--grace-period=1", "--timeout=40s"]);
        }
        if !self.owned {
            return;
        }
        let _ = self.server.kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

fn uid(pod: &Value) -> String {
    pod["metadata"]["uid"].as_str().expect("pod uid").to_string()
}

fn container_status<'v>(pod: &'v Value, container: &str) -> Option<&'v Value> {
    pod["status"]["containerStatuses"].as_array()?.iter().find(|status| status["name"] == container)
}

fn is_running(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["status"]["containerStatuses"]
            .as_array()
            .is_some_and(|all| !all.is_empty() && all.iter().all(|status| status["state"]["running"].is_object()))
}

fn condition(pod: &Value, kind: &str) -> Option<String> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == kind)
        .and_then(|condition| condition["status"].as_str().map(str::to_string))
}

fn restart_count(pod: &Value, container: &str) -> i64 {
    container_status(pod, container).and_then(|status| status["restartCount"].as_i64()).unwrap_or(0)
}

fn pod_ip(pod: &Value) -> String {
    pod["status"]["podIP"].as_str().expect("pod IP").to_string()
}

fn curl(url: &str) -> Option<String> {
    let output = Command::new("curl").args(["-s", "--max-time", "3", url]).output().expect("run curl");
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// GET `url` from the host, retried for a few seconds (a server may take a moment to listen);
/// panics with the host's view of the route to the pod when it never answers.
#[track_caller]
fn http_get(server: &Server, url: &str) -> String {
    let mut body = None;
    if testkit::eventually(Duration::from_secs(10), || {
        body = curl(url);
        body.is_some()
    }) && let Some(body) = body
    {
        return body;
    }
    let host = url.trim_start_matches("http://").split([':', '/']).next().unwrap_or_default().to_string();
    let run = |args: &[&str]| {
        let output = Command::new(args[0]).args(&args[1..]).output();
        output
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
            .unwrap_or_default()
    };
    let bridge = format!("pp{}", server.port());
    panic!(
        "{url} does not answer from the host\nip neigh: {}\nip route get: {}\nbridge ports: {}\nfdb: {}",
        run(&["ip", "neigh", "show", &host]),
        run(&["ip", "route", "get", &host]),
        run(&["ls", &format!("/sys/class/net/{bridge}/brif")]),
        run(&["bridge", "fdb", "show", "br", &bridge]),
    );
}

/// `(pid, ppid)` of every process, with its cmdline (NULs as spaces).
fn processes() -> Vec<(i32, i32, String)> {
    let mut all = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return all };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse().ok())
            .unwrap_or(0);
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        all.push((pid, ppid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
    }
    all
}

/// The host pid of a container's first process: the child of the pod's shim whose cgroup is
/// the container's (`.../pod<uid>/<container id>`).
fn container_pid(pod: &Value, container: &str) -> i32 {
    let status = container_status(pod, container).expect("container status");
    let id = status["containerID"].as_str().and_then(|id| id.split_once("://")).expect("containerID").1.to_string();
    let all = processes();
    let found = all.iter().find(|(pid, ppid, _)| {
        let in_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .is_ok_and(|cgroups| cgroups.lines().any(|line| line.ends_with(&format!("/{id}"))));
        let parent_is_shim = all.iter().any(|(p, _, cmd)| p == ppid && cmd.contains(" shim "));
        in_cgroup && parent_is_shim
    });
    match found {
        Some((pid, _, _)) => *pid,
        None => panic!("no host process for container {container} ({id})"),
    }
}

/// What a deleted pod may not leave behind: its shim, mounts, cgroups, network namespace, host
/// veth and IP record. Polls a little: the agent finishes the teardown after the API object is gone.
#[track_caller]
fn assert_pod_left_nothing(server: &Server, uid: &str) {
    let leftovers = || {
        let mut found = Vec::new();
        let sandbox = format!("sandboxes/{uid}");
        for (pid, _, cmd) in processes() {
            if cmd.contains(&sandbox) {
                found.push(format!("process {pid}: {cmd}"));
            }
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        found.extend(mountinfo.lines().filter(|line| line.contains(uid)).map(|line| format!("mount {line}")));
        if let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") {
            for controller in controllers.flatten() {
                let cgroup = controller.path().join("peapod").join(format!("pod{uid}"));
                if cgroup.exists() {
                    found.push(format!("cgroup {}", cgroup.display()));
                }
            }
        }
        let veth = Path::new("/sys/class/net").join(net::host_veth_name(uid));
        if veth.exists() {
            found.push(format!("veth {}", veth.display()));
        }
        let netns = Path::new("/run/peapod/netns").join(uid);
        if netns.exists() {
            found.push(format!("netns {}", netns.display()));
        }
        for (ip, owner) in ip_records(server) {
            if owner == uid {
                found.push(format!("IP record {ip}"));
            }
        }
        found
    };
    let mut last = Vec::new();
    let clean = testkit::eventually(Duration::from_secs(10), || {
        last = leftovers();
        last.is_empty()
    });
    assert!(clean, "pod {uid} left behind: {last:#?}");
}

/// `DATA_DIR/agent/net/<ip>` files: `(ip, pod uid)`.
fn ip_records(server: &Server) -> BTreeMap<String, String> {
    let dir = server.dir().join("agent/net");
    let Ok(entries) = std::fs::read_dir(&dir) else { return BTreeMap::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.parse::<std::net::Ipv4Addr>().ok()?;
            Some((name, std::fs::read_to_string(entry.path()).unwrap_or_default().trim().to_string()))
        })
        .collect()
}

/// After every pod of `server` is deleted: no shim of its data dir, no mount under it, no
/// veth on its bridge, no IP record.
#[track_caller]
fn assert_node_empty(server: &Server) {
    let dir = server.dir().to_string_lossy().into_owned();
    let bridge = format!("pp{}", server.port());
    let leftovers = || {
        let mut found = Vec::new();
        for (pid, _, cmd) in processes() {
            if cmd.contains(&dir) && cmd.contains(" shim ") {
                found.push(format!("process {pid}: {cmd}"));
            }
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        found.extend(mountinfo.lines().filter(|line| line.contains(&dir)).map(|line| format!("mount {line}")));
        if let Ok(ports) = std::fs::read_dir(format!("/sys/class/net/{bridge}/brif")) {
            found.extend(ports.flatten().map(|port| format!("veth {}", port.file_name().to_string_lossy())));
        }
        found.extend(ip_records(server).into_iter().map(|(ip, uid)| format!("IP record {ip} of {uid}")));
        found
    };
    let mut last = Vec::new();
    let clean = testkit::eventually(Duration::from_secs(10), || {
        last = leftovers();
        last.is_empty()
    });
    assert!(clean, "server {dir} left behind: {last:#?}");
}

const BUSYBOX_MANIFEST: &str = "apiVersion: v1
kind: Pod
metadata:
  name: busybox
spec:
  restartPolicy: Never
  containers:
  - name: busybox
    image: busybox
    args: [\"echo\", \"Hello World\"]
";

/// The tutorial session, verbatim (in the test's namespace).
fn tutorial_session(version: Kubectl) {
    let server = server();
    let ns = Ns::create(server, &format!("tutorial-{}", version.minor()));

    ns.kubectl_as(version, &["run", "busybox", "--image=busybox", "--restart=Never", "--", "echo", "Hello World"])
        .assert_success()
        .assert_stdout("pod/busybox created\n");
    ns.wait_status_column("busybox", Duration::from_secs(30), "Completed");
    let out = ns.kubectl_as(version, &["get", "pods", "busybox"]);
    let table = Table::parse(&out.stdout);
    assert_eq!(table.headers, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], "{out}");
    assert_eq!(table.cell("busybox", "READY"), "0/1", "{out}");
    assert_eq!(table.cell("busybox", "RESTARTS"), "0", "{out}");
    ns.kubectl_as(version, &["logs", "busybox"]).assert_success().assert_stdout("Hello World\n");
    let mut describe = String::new();
    let events_seen = testkit::eventually(Duration::from_secs(10), || {
        describe = ns.kubectl_as(version, &["describe", "pod", "busybox"]).assert_success().stdout.clone();
        let events = describe.split_once("\nEvents:").map(|(_, events)| events).unwrap_or("");
        ["Scheduled", "Pulled", "Created", "Started"]
            .iter()
            .all(|reason| events.lines().any(|line| line.split_whitespace().nth(1) == Some(reason)))
    });
    assert!(events_seen, "describe lacks Scheduled/Pulled/Created/Started events:\n{describe}");
    assert!(
        describe.lines().any(|line| line.split_whitespace().eq(["Status:", "Succeeded"])),
        "describe does not show Status: Succeeded:\n{describe}"
    );
    let completed = ns.pod("busybox").expect("pod");
    let terminated = &container_status(&completed, "busybox").expect("status")["state"]["terminated"];
    assert_eq!(terminated["exitCode"], 0, "{completed:#}");
    assert_eq!(terminated["reason"], "Completed", "{completed:#}");
    assert!(terminated["finishedAt"].is_string(), "{completed:#}");
    let first_uid = uid(&completed);
    ns.kubectl_as(version, &["delete", "pod", "busybox"]).assert_success().assert_stdout("pod \"busybox\" deleted\n");
    assert!(ns.pod("busybox").is_none());
    assert_pod_left_nothing(server, &first_uid);

    // The same pod from a manifest.
    ns.kubectl_stdin(version, &["apply", "-f", "-"], BUSYBOX_MANIFEST)
        .assert_success()
        .assert_stdout("pod/busybox created\n");
    ns.wait_status_column("busybox", Duration::from_secs(30), "Completed");
    ns.kubectl_as(version, &["logs", "busybox"]).assert_success().assert_stdout("Hello World\n");
    let second_uid = uid(&ns.pod("busybox").expect("pod"));
    ns.kubectl_stdin(version, &["delete", "-f", "-"], BUSYBOX_MANIFEST)
        .assert_success()
        .assert_stdout("pod \"busybox\" deleted\n");
    assert!(ns.pod("busybox").is_none());
    assert_pod_left_nothing(server, &second_uid);

    // nginx: Running, and its pod IP answers HTTP on port 80 from the host.
    ns.kubectl_as(version, &["run", "nginx", "--image", "nginx"]).assert_success().assert_stdout("pod/nginx created\n");
    ns.wait_status_column("nginx", Duration::from_secs(30), "Running");
    let pod = ns
        .wait_pod("nginx", Duration::from_secs(10), "Ready", |pod| condition(pod, "Ready").as_deref() == Some("True"));
    let url = format!("http://{}:80/", pod_ip(&pod));
    let body = http_get(server, &url);
    assert!(body.contains("Welcome to nginx!"), "{url} answered {body:?}");
    ns.kubectl_as(version, &["delete", "pod", "nginx"]).assert_success().assert_stdout("pod \"nginx\" deleted\n");
    assert_pod_left_nothing(server, &uid(&pod));

    // Checked last, so that a failure here does not hide the rest of the session.
    let terminated = &container_status(&completed, "busybox").expect("status")["state"]["terminated"];
    assert!(terminated["startedAt"].is_string(), "the Completed container has no startedAt: {completed:#}");
}

#[test]
fn tutorial_session_kubectl_1_33() {
    if is_root() {
        tutorial_session(Kubectl::V1_33);
    }
}

#[test]
fn tutorial_session_kubectl_1_32() {
    if is_root() {
        tutorial_session(Kubectl::V1_32);
    }
}

#[test]
fn two_containers_share_localhost_and_an_empty_dir() {
    if !is_root() {
        return;
    }
    let ns = Ns::create(server(), "pair");
    let mount = json!([{"name": "www", "mountPath": "/www"}]);
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": "www", "emptyDir": {}}],
            "containers": [
                {"name": "httpd", "image": "busybox", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                 "volumeMounts": mount},
                {"name": "fetcher", "image": "busybox", "volumeMounts": mount, "command": ["sh", "-c",
                    "echo served-by-httpd > /www/index.html; \
                     until wget -q -O /www/fetched.txt http://localhost:8080/index.html; do sleep 0.2; done; \
                     exec sleep 3600"]}
            ]
        }
    }));
    let pod = ns.wait_pod("web", Duration::from_secs(30), "Running", is_running);
    // The fetcher got the page from the web server over localhost and wrote it into the shared
    // volume: the web server's container sees the file, and serves it.
    let mut out = None;
    let fetched = testkit::eventually(Duration::from_secs(15), || {
        let result = ns.kubectl(&["exec", "web", "-c", "httpd", "--", "cat", "/www/fetched.txt"]);
        let ok = result.success() && result.stdout == "served-by-httpd\n";
        out = Some(result);
        ok
    });
    assert!(fetched, "fetched.txt never arrived: {out:?}");
    let url = format!("http://{}:8080/fetched.txt", pod_ip(&pod));
    assert_eq!(http_get(ns.server, &url), "served-by-httpd\n", "{url}");
    ns.delete_pods(&[("web", uid(&pod))]);
}

#[test]
fn exec_exit_codes_stdin_and_tty() {
    if !is_root() {
        return;
    }
    let server = server();
    let ns = Ns::create(server, "exec");
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shell"},
        "spec": {"terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "shell", "image": "busybox", "command": ["sleep", "3600"]}]}
    }));
    let pod = ns.wait_pod("shell", Duration::from_secs(30), "Running", is_running);

    ns.kubectl(&["exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 0"])
        .assert_success()
        .assert_stdout("out\n")
        .assert_stderr_contains("err");
    let out = ns.kubectl(&["exec", "shell", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.code(), 3, "{out}");
    let out = ns.kubectl(&["exec", "shell", "--", "false"]);
    assert_eq!(out.code(), 1, "{out}");
    let out = ns.kubectl_stdin(Kubectl::V1_33, &["exec", "-i", "shell", "--", "cat"], "line one\nline two\n");
    out.assert_success().assert_stdout("line one\nline two\n");
    let out = ns.kubectl_stdin(
        Kubectl::V1_33,
        &["exec", "-i", "shell", "--", "sh", "-c", "read x; echo got-$x; exit 5"],
        "abc\n",
    );
    assert_eq!(out.code(), 5, "{out}");
    assert_eq!(out.stdout, "got-abc\n", "{out}");
    let out = ns.kubectl_as(Kubectl::V1_32, &["exec", "shell", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.code(), 7, "{out}");

    // -it through a pty of `script`, sized 30x100 by stty before kubectl reads it. The agent
    // starts the command on a terminal of the size kubectl sent first (`process.consoleSize`),
    // so the command's very first look at it already sees 30x100, never 0x0.
    let kubectl = Kubectl::V1_33.path();
    let line = format!(
        "stty rows 30 cols 100; {} -n {} exec -it shell -- sh -c 'stty size; tty; exit 4'",
        kubectl.display(),
        ns.name
    );
    let home = server.dir().join("home-kubectl-1.33");
    let output = Command::new("timeout")
        .args(["60", "script", "-qec", &line, "/dev/null"])
        .env("HOME", &home)
        .env("KUBECONFIG", server.kubeconfig())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    // (`script` echoes the end of its empty input as `^@` somewhere in the output.)
    let text = String::from_utf8_lossy(&output.stdout).replace('\r', "").replace("^@", "");
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    assert!(lines.iter().any(|line| line.starts_with("/dev/pts/")), "no pty in the container: {text:?}");
    assert!(lines.contains(&"30 100"), "terminal size not passed: {text:?}");
    // `script -e` returns the child's exit code: kubectl's, which is the remote one.
    assert_eq!(output.status.code(), Some(4), "{text:?} {}", String::from_utf8_lossy(&output.stderr));

    ns.delete_pods(&[("shell", uid(&pod))]);
}

#[test]
fn a_container_over_its_memory_limit_is_oom_killed_and_restarted() {
    if !is_root() {
        return;
    }
    let ns = Ns::create(server(), "oom");
    let pod = |name: &str, policy: &str| {
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, "restartPolicy": policy,
                     "containers": [{"name": "hog", "image": "busybox",
                                     "command": ["sh", "-c", "x=a; while true; do x=$x$x; done"],
                                     "resources": {"limits": {"memory": "20Mi"}}}]}
        })
    };
    ns.apply(&pod("always", "Always"));
    ns.apply(&pod("never", "Never"));
    let always = ns.wait_pod("always", Duration::from_secs(40), "restarted after an OOM kill", |pod| {
        restart_count(pod, "hog") >= 1
            && container_status(pod, "hog")
                .is_some_and(|status| status["lastState"]["terminated"]["reason"] == "OOMKilled")
    });
    let last = &container_status(&always, "hog").expect("status")["lastState"]["terminated"];
    assert_eq!(last["exitCode"], 137, "{always:#}");
    let never = ns.wait_pod("never", Duration::from_secs(30), "Failed", |pod| pod["status"]["phase"] == "Failed");
    let terminated = &container_status(&never, "hog").expect("status")["state"]["terminated"];
    assert_eq!(terminated["reason"], "OOMKilled", "{never:#}");
    assert_eq!(terminated["exitCode"], 137, "{never:#}");
    assert_eq!(restart_count(&never, "hog"), 0, "{never:#}");
    assert_eq!(ns.status_column("never"), "OOMKilled");
    ns.delete_pods(&[("always", uid(&always)), ("never", uid(&never))]);
}

#[test]
fn a_failing_liveness_probe_restarts_the_container() {
    if !is_root() {
        return;
    }
    let ns = Ns::create(server(), "live");
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "live"},
        "spec": {"terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "app", "image": "busybox",
                                 "command": ["sh", "-c", "touch /tmp/healthy; sleep 3; rm /tmp/healthy; exec sleep 3600"],
                                 "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]},
                                                   "periodSeconds": 1, "failureThreshold": 1}}]}
    }));
    let pod = ns.wait_pod("live", Duration::from_secs(40), "restarted by its liveness probe", |pod| {
        restart_count(pod, "app") >= 1 && is_running(pod)
    });
    let reasons = ns.event_reasons("live");
    assert!(reasons.contains("Unhealthy") && reasons.contains("Killing"), "events: {reasons:?}");
    let killing = ns.events().into_iter().find(|event| event["reason"] == "Killing").expect("Killing event");
    assert!(
        killing["message"].as_str().is_some_and(|message| message.contains("failed liveness probe")),
        "{killing:#}"
    );
    ns.delete_pods(&[("live", uid(&pod))]);
}

#[test]
fn a_pod_is_ready_only_after_its_readiness_probe_passes() {
    if !is_root() {
        return;
    }
    let ns = Ns::create(server(), "ready");
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ready"},
        "spec": {"terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "app", "image": "busybox",
                                 "command": ["sh", "-c", "sleep 5; touch /tmp/ready; exec sleep 3600"],
                                 "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}}]}
    }));
    let running = ns.wait_pod("ready", Duration::from_secs(30), "Running", is_running);
    let started = Instant::now();
    assert_eq!(condition(&running, "Ready").as_deref(), Some("False"), "{running:#}");
    assert_eq!(condition(&running, "ContainersReady").as_deref(), Some("False"), "{running:#}");
    assert_eq!(container_status(&running, "app").expect("status")["ready"], false);
    let out = ns.kubectl(&["get", "pods", "ready"]);
    assert_eq!(Table::parse(&out.stdout).cell("ready", "READY"), "0/1", "{out}");
    let ready = ns
        .wait_pod("ready", Duration::from_secs(20), "Ready", |pod| condition(pod, "Ready").as_deref() == Some("True"));
    // The file appears 5 s after the container started; the condition changed only then.
    let time = |value: &Value| value.as_str().and_then(|text| text.parse::<jiff::Timestamp>().ok());
    let started_at = time(&container_status(&ready, "app").expect("status")["state"]["running"]["startedAt"]);
    let ready_at = ready["status"]["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|condition| condition["type"] == "Ready"))
        .and_then(|condition| time(&condition["lastTransitionTime"]));
    let (Some(started_at), Some(ready_at)) = (started_at, ready_at) else { panic!("timestamps: {ready:#}") };
    let delay = ready_at.duration_since(started_at);
    assert!(delay >= jiff::SignedDuration::from_secs(4), "Ready {delay:?} after the container started: {ready:#}");
    assert!(started.elapsed() >= Duration::from_secs(2), "Ready {:?} after Running was seen", started.elapsed());
    assert_eq!(container_status(&ready, "app").expect("status")["ready"], true);
    ns.delete_pods(&[("ready", uid(&ready))]);
}

#[test]
fn crash_loop_back_off_delays_grow() {
    if !is_root() {
        return;
    }
    let ns = Ns::create(server(), "crash");
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crash"},
        "spec": {"terminationGracePeriodSeconds": 1, "restartPolicy": "Always",
                 "containers": [{"name": "app", "image": "busybox", "command": ["sh", "-c", "exit 1"]}]}
    }));
    // When each restart count is first seen. The kubelet restarts at once after the first
    // exit, then waits 10 s, then 20 s (doubling up to 5 minutes).
    let mut seen: BTreeMap<i64, Instant> = BTreeMap::new();
    let mut crash_loop_shown = false;
    let started = Instant::now();
    let mut last = Value::Null;
    while !seen.contains_key(&3) && started.elapsed() < Duration::from_secs(60) {
        if let Some(pod) = ns.pod("crash") {
            let count = restart_count(&pod, "app");
            seen.entry(count).or_insert_with(Instant::now);
            if count >= 1 && !crash_loop_shown {
                let waiting = container_status(&pod, "app").map(|status| status["state"]["waiting"]["reason"].clone());
                if waiting == Some(json!("CrashLoopBackOff")) {
                    crash_loop_shown = ns.status_column("crash") == "CrashLoopBackOff";
                }
            }
            last = pod;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(crash_loop_shown, "kubectl get pods never showed CrashLoopBackOff; last: {last:#}");
    let (Some(first), Some(second), Some(third)) = (seen.get(&1), seen.get(&2), seen.get(&3)) else {
        panic!("restarts seen at {seen:?}; last: {last:#}");
    };
    let (delay1, delay2) = (second.duration_since(*first), third.duration_since(*second));
    assert!(delay1 >= Duration::from_millis(9500) && delay1 < Duration::from_secs(16), "first back-off {delay1:?}");
    assert!(delay2 >= Duration::from_millis(19500) && delay2 < Duration::from_secs(27), "second back-off {delay2:?}");
    let terminated = &container_status(&last, "app").expect("status")["lastState"]["terminated"];
    assert_eq!(terminated["exitCode"], 1, "{last:#}");
    assert_eq!(terminated["reason"], "Error", "{last:#}");
    ns.delete_pods(&[("crash", uid(&last))]);
}

#[test]
fn a_deployment_runs_real_containers_and_a_killed_one_is_restarted() {
    if !is_root() {
        return;
    }
    let ns = Ns::create(server(), "deploy");
    ns.kubectl(&["create", "deployment", "web", "--image=nginx", "--replicas=3"])
        .assert_success()
        .assert_stdout("deployment.apps/web created\n");
    let list = || {
        ns.server.get_json(&["pods", "-n", &ns.name, "-l", "app=web"])["items"].as_array().cloned().unwrap_or_default()
    };
    let mut pods = Vec::new();
    let running = testkit::eventually(Duration::from_secs(60), || {
        pods = list();
        pods.len() == 3 && pods.iter().all(|pod| is_running(pod) && condition(pod, "Ready").as_deref() == Some("True"))
    });
    assert!(running, "3 Running pods expected: {pods:#?}");
    let ips: BTreeSet<String> = pods.iter().map(pod_ip).collect();
    assert_eq!(ips.len(), 3, "pod IPs are not distinct: {ips:?}");
    for ip in &ips {
        let body = http_get(ns.server, &format!("http://{ip}/"));
        assert!(body.contains("Welcome to nginx!"), "{ip}: {body:?}");
    }

    // kill -9 of one container's process from the host: the agent restarts it.
    let victim = pods[0].clone();
    let name = victim["metadata"]["name"].as_str().expect("name").to_string();
    let pid = container_pid(&victim, "nginx");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).expect("kill -9");
    let restarted = ns.wait_pod(&name, Duration::from_secs(30), "restarted", |pod| {
        restart_count(pod, "nginx") == 1 && is_running(pod)
    });
    let last = &container_status(&restarted, "nginx").expect("status")["lastState"]["terminated"];
    assert_eq!(last["exitCode"], 137, "{restarted:#}");
    assert_eq!(last["reason"], "Error", "{restarted:#}");
    let new_pid = container_pid(&restarted, "nginx");
    assert_ne!(new_pid, pid);
    assert_eq!(pod_ip(&restarted), pod_ip(&victim), "the pod keeps its IP across a container restart");
    http_get(ns.server, &format!("http://{}/", pod_ip(&restarted)));

    let uids: Vec<String> = pods.iter().map(uid).collect();
    ns.kubectl(&["delete", "deployment", "web"]).assert_success();
    let gone = testkit::eventually(Duration::from_secs(60), || list().is_empty());
    assert!(gone, "the deployment's pods were not deleted: {:#?}", list());
    for uid in &uids {
        assert_pod_left_nothing(ns.server, uid);
    }
}

/// `kill -9` of the whole server with pods running, on a server of its own: the restarted
/// agent adopts the containers (same start times and pids, no restarts), their logs are
/// complete, an exit during the outage is reported; then deleting every pod leaves nothing.
#[test]
fn kill_9_of_the_server_keeps_containers_and_logs() {
    if !is_root() {
        return;
    }
    let mut own = match agent_server() {
        Ok(server) => server,
        Err(error) => panic!("start a second server: {error:#}"),
    };
    let name = testkit::unique_name("kill9");
    own.kubectl(&["create", "namespace", &name]).assert_success();
    let ns = Ns::attach(&own, &name);
    let pod = |pod_name: &str, policy: &str, script: &str| {
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod_name},
            "spec": {"terminationGracePeriodSeconds": 1, "restartPolicy": policy,
                     "containers": [{"name": "app", "image": "busybox", "command": ["sh", "-c", script]}]}
        })
    };
    let apply = |server: &Server, manifest: Value| {
        server
            .kubectl_stdin(Kubectl::V1_33, &["-n", &name, "apply", "-f", "-"], &manifest.to_string())
            .assert_success();
    };
    apply(
        &own,
        pod(
            "counter",
            "Always",
            "i=0; while [ $i -lt 50 ]; do i=$((i+1)); echo line $i; sleep 0.2; done; exec sleep 3600",
        ),
    );
    apply(&own, pod("done", "Never", "echo finished"));
    apply(&own, pod("exiter", "Never", "sleep 4; exit 3"));
    let counter = ns.wait_pod("counter", Duration::from_secs(30), "Running", is_running);
    let exiter = ns.wait_pod("exiter", Duration::from_secs(30), "Running", is_running);
    let done = ns.wait_pod("done", Duration::from_secs(30), "Succeeded", |pod| pod["status"]["phase"] == "Succeeded");
    drop(ns);
    let started_at =
        |pod: &Value| container_status(pod, "app").expect("status")["state"]["running"]["startedAt"].clone();
    let (counter_started, counter_pid) = (started_at(&counter), container_pid(&counter, "app"));
    let exiter_started = started_at(&exiter);
    let logs = own.kubectl(&["-n", &name, "logs", "counter"]);
    assert!(logs.stdout.contains("line 1\n"), "{logs}");

    own.kill9();
    std::thread::sleep(Duration::from_secs(5));
    own.restart().expect("restart the server");
    let ns = Ns::attach(&own, &name);
    assert!(
        std::fs::metadata(format!("/proc/{counter_pid}")).is_ok(),
        "the container process {counter_pid} died with the server"
    );
    let exited = ns.wait_pod("exiter", Duration::from_secs(30), "Failed with exit code 3", |pod| {
        pod["status"]["phase"] == "Failed"
    });
    let terminated = &container_status(&exited, "app").expect("status")["state"]["terminated"];
    assert_eq!(terminated["exitCode"], 3, "{exited:#}");
    assert_eq!(terminated["reason"], "Error", "{exited:#}");
    assert_eq!(restart_count(&exited, "app"), 0, "{exited:#}");

    // The counter prints until about 10 s after it started; wait for its last line.
    let mut logs = String::new();
    let complete = testkit::eventually(Duration::from_secs(20), || {
        logs = ns.kubectl(&["logs", "counter"]).stdout;
        logs.contains("line 50\n")
    });
    assert!(complete, "counter logs incomplete: {logs}");
    let expected: String = (1..=50).map(|i| format!("line {i}\n")).collect();
    assert_eq!(logs, expected, "logs lost or repeated lines across the server restart");
    let counter_now = ns.pod("counter").expect("counter");
    assert!(is_running(&counter_now), "{counter_now:#}");
    assert_eq!(started_at(&counter_now), counter_started, "the container was restarted: {counter_now:#}");
    assert_eq!(restart_count(&counter_now, "app"), 0, "{counter_now:#}");
    assert_eq!(container_pid(&counter_now, "app"), counter_pid, "the container process changed");
    assert_eq!(condition(&counter_now, "Ready").as_deref(), Some("True"), "{counter_now:#}");
    let done_now = ns.pod("done").expect("done");
    assert_eq!(done_now["status"]["phase"], "Succeeded", "{done_now:#}");
    assert_eq!(ns.status_column("done"), "Completed");
    ns.kubectl(&["logs", "done"]).assert_success().assert_stdout("finished\n");

    // The exit that happened while the server was down keeps its start time.
    assert_eq!(terminated["startedAt"], exiter_started, "{exited:#}");

    ns.delete_pods(&[("counter", uid(&counter)), ("done", uid(&done)), ("exiter", uid(&exiter))]);
    assert_node_empty(&own);
}

/// Volumes and node-managed files in real containers: configMap and secret updates reach the
/// running pod (a `subPath` mount keeps its first contents, as in Kubernetes), a memory-backed
/// emptyDir is a tmpfs of its `sizeLimit`, the downward API; `/etc/hostname`, `/etc/hosts`
/// and the UTS name of a pod, and of a `hostNetwork` pod (the node's); termination messages
/// from the file and, with `FallbackToLogsOnError`, from the log.
#[test]
fn volumes_updates_host_files_and_termination_messages() {
    if !is_root() {
        return;
    }
    let ns = Ns::create(server(), "vols");
    ns.kubectl(&["create", "configmap", "cfg", "--from-literal=greeting=hello"]).assert_success();
    ns.kubectl(&["create", "secret", "generic", "sec", "--from-literal=token=first"]).assert_success();
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "vols", "labels": {"app": "vols"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "volumes": [
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "sec", "secret": {"secretName": "sec"}},
                {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
                {"name": "info", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}
                ]}}
            ],
            "containers": [{"name": "app", "image": "busybox", "command": ["sleep", "3600"], "volumeMounts": [
                {"name": "cfg", "mountPath": "/cfg"},
                {"name": "cfg", "mountPath": "/etc/greeting", "subPath": "greeting"},
                {"name": "sec", "mountPath": "/sec"},
                {"name": "mem", "mountPath": "/mem"},
                {"name": "info", "mountPath": "/info"}
            ]}]
        }
    }));
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hostnet"},
        "spec": {"terminationGracePeriodSeconds": 1, "hostNetwork": true,
                 "containers": [{"name": "app", "image": "busybox", "command": ["sleep", "3600"]}]}
    }));
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "messages"},
        "spec": {"terminationGracePeriodSeconds": 1, "restartPolicy": "Never", "containers": [
            {"name": "file", "image": "busybox", "command": ["sh", "-c", "printf bye > /dev/termination-log; exit 2"]},
            {"name": "logs", "image": "busybox", "terminationMessagePolicy": "FallbackToLogsOnError",
             "command": ["sh", "-c", "echo from the log; exit 1"]}
        ]}
    }));
    let pod = ns.wait_pod("vols", Duration::from_secs(30), "Running", is_running);
    let exec = |pod: &str, script: &str| {
        let out = ns.kubectl(&["exec", pod, "--", "sh", "-c", script]);
        out.assert_success();
        out.stdout.clone()
    };
    assert_eq!(exec("vols", "cat /cfg/greeting /etc/greeting /sec/token"), "hellohellofirst");
    assert_eq!(exec("vols", "cat /info/labels"), "app=\"vols\"");
    let mem = exec("vols", "grep ' /mem ' /proc/mounts");
    assert!(mem.starts_with("tmpfs ") && mem.contains("size=8192k"), "/mem: {mem}");
    // Files the node manages.
    assert_eq!(exec("vols", "cat /etc/hostname; hostname; echo $HOSTNAME"), "vols\nvols\nvols\n");
    let hosts = exec("vols", "cat /etc/hosts");
    assert!(hosts.lines().any(|line| line == format!("{}\tvols", pod_ip(&pod))), "/etc/hosts: {hosts}");
    assert!(exec("vols", "cat /etc/resolv.conf").contains("nameserver "));

    // Updates reach the running pod (the node resyncs every 10 s); the subPath file does not.
    ns.kubectl(&["patch", "configmap", "cfg", "-p", r#"{"data":{"greeting":"bye"}}"#]).assert_success();
    ns.kubectl(&["patch", "secret", "sec", "-p", r#"{"stringData":{"token":"second"}}"#]).assert_success();
    let mut seen = String::new();
    let updated = testkit::eventually(Duration::from_secs(40), || {
        seen = exec("vols", "cat /cfg/greeting /sec/token");
        seen == "byesecond"
    });
    assert!(updated, "the updates did not reach the pod: {seen:?}");
    assert_eq!(exec("vols", "cat /etc/greeting"), "hello", "a subPath mount keeps its contents");

    // hostNetwork: the node's addresses and name.
    let hostnet = ns.wait_pod("hostnet", Duration::from_secs(30), "Running", is_running);
    assert_eq!(hostnet["status"]["podIP"], hostnet["status"]["hostIP"], "{hostnet:#}");
    let node_hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let node_hostname = node_hostname.trim();
    assert_eq!(
        exec("hostnet", "cat /etc/hostname; hostname; echo $HOSTNAME"),
        format!("{0}\n{0}\n{0}\n", node_hostname)
    );
    assert!(!Path::new("/run/peapod/netns").join(uid(&hostnet)).exists(), "a hostNetwork pod got a netns");

    // Termination messages.
    let done = ns.wait_pod("messages", Duration::from_secs(30), "Failed", |pod| pod["status"]["phase"] == "Failed");
    let terminated = |name: &str| container_status(&done, name).expect("status")["state"]["terminated"].clone();
    assert_eq!(terminated("file")["message"], "bye", "{done:#}");
    assert_eq!(terminated("file")["exitCode"], 2, "{done:#}");
    assert_eq!(terminated("logs")["message"], "from the log\n", "{done:#}");

    ns.delete_pods(&[("vols", uid(&pod)), ("hostnet", uid(&hostnet)), ("messages", uid(&done))]);
}

/// `kubectl attach -it` to a container with a terminal: the container's terminal takes the
/// size of kubectl's (30x100 here), as the kubelet resizes it through the runtime.
#[test]
fn attach_with_a_terminal_resizes_the_containers_terminal() {
    if !is_root() {
        return;
    }
    let server = server();
    let ns = Ns::create(server, "attach");
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "term"},
        "spec": {"terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "term", "image": "busybox", "tty": true, "stdin": true,
                                 "command": ["sh", "-c", "while :; do stty size; sleep 0.2; done"]}]}
    }));
    let pod = ns.wait_pod("term", Duration::from_secs(30), "Running", is_running);
    let line = format!("stty rows 30 cols 100; {} -n {} attach -it term", Kubectl::V1_33.path().display(), ns.name);
    let home = server.dir().join("home-kubectl-1.33");
    // kubectl stays attached until the connection ends: `timeout` ends it.
    let output = Command::new("timeout")
        .args(["6", "script", "-qec", &line, "/dev/null"])
        .env("HOME", &home)
        .env("KUBECONFIG", server.kubeconfig())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    let seen = String::from_utf8_lossy(&output.stdout).replace('\r', "");
    let mut logs = String::new();
    let resized = testkit::eventually(Duration::from_secs(5), || {
        logs = ns.kubectl(&["logs", "term"]).stdout.replace('\r', "");
        logs.lines().any(|line| line == "30 100")
    });
    assert!(resized, "the container's terminal never became 30x100; logs: {logs:?}; attach printed {seen:?}");
    assert!(seen.lines().any(|line| line.trim() == "30 100"), "kubectl attach did not stream the output: {seen:?}");
    ns.delete_pods(&[("term", uid(&pod))]);
}

/// A `peapod agent` process and what it leaves running: dropping it kills the agent, then
/// `peapod killall` stops its pods and removes its bridge (also when the test fails).
struct JoinedAgent {
    process: Option<testkit::Background>,
    data_dir: std::path::PathBuf,
    cidr: String,
    bridge: String,
}

impl Drop for JoinedAgent {
    fn drop(&mut self) {
        drop(self.process.take());
        let _ = Command::new(testkit::peapod_bin())
            .arg("killall")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--pod-cidr", &self.cidr, "--bridge-name", &self.bridge])
            .status();
    }
}

/// `peapod agent --server URL --token TOKEN` joining a server without its own agent: the node
/// registers and becomes Ready, and a pod the scheduler binds to it runs for real (logs, exec,
/// pod IP from the agent's CIDR); deleting it leaves no shim behind. `peapod killall` then
/// removes the node's bridge.
#[test]
fn a_joined_agent_runs_pods() {
    if !is_root() {
        return;
    }
    let server = match Server::start() {
        Ok(server) => server,
        Err(error) => panic!("start a server without an agent: {error:#}"),
    };
    let (busybox, _) = testkit::quickstart_images().expect("quick-start images");
    let data_dir = server.dir().join("joined-node");
    let import = data_dir.join("agent/images/import");
    std::fs::create_dir_all(&import).expect("create the import dir");
    std::fs::copy(&busybox, import.join(busybox.file_name().expect("tarball name"))).expect("copy busybox");
    let node = testkit::unique_name("joined");
    let port = server.port();
    let (cidr, bridge) = (format!("10.251.{}.0/24", port % 256), format!("pj{port}"));
    // The join token (`DATA_DIR/token`), which the API server presents back to agents; the
    // admin token of the kubeconfig would get the API server's log requests refused.
    let join_token = std::fs::read_to_string(server.dir().join("token")).expect("read the join token");
    let command = || {
        let mut command = Command::new(testkit::peapod_bin());
        command
            .args(["agent", "--server", &server.url(), "--token", join_token.trim()])
            .arg("--ca-file")
            .arg(server.ca_file())
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--node-name", &node, "--pod-cidr", &cidr, "--bridge-name", &bridge, "--kubelet-port", "0"])
            .env("RUST_LOG", "warn");
        command
    };
    let mut agent = JoinedAgent {
        process: Some(testkit::Background::spawn(command())),
        data_dir: data_dir.clone(),
        cidr: cidr.clone(),
        bridge: bridge.clone(),
    };

    let mut last = None;
    let ready = testkit::eventually(Duration::from_secs(60), || {
        let out = server.kubectl(&["get", "node", &node, "-o", "json"]);
        let ready = out.success() && condition(&out.json(), "Ready").as_deref() == Some("True");
        last = Some(out);
        ready
    });
    assert!(ready, "the joined node never became Ready: {last:?}");
    let ns = Ns::create(&server, "joined");
    ns.kubectl(&[
        "run",
        "joined",
        "--image=busybox",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "echo joined-ok; sleep 3600",
    ])
    .assert_success();
    let pod = ns.wait_pod("joined", Duration::from_secs(30), "Running", is_running);
    assert_eq!(pod["spec"]["nodeName"], node.as_str(), "{pod:#}");
    let prefix = cidr.trim_end_matches("0/24");
    assert!(pod_ip(&pod).starts_with(prefix), "pod IP {} outside {cidr}", pod_ip(&pod));
    let mut logs = None;
    let logged = testkit::eventually(Duration::from_secs(10), || {
        let out = ns.kubectl(&["logs", "joined"]);
        let ok = out.stdout == "joined-ok\n";
        logs = Some(out);
        ok
    });
    assert!(logged, "logs through the joined agent: {logs:?}");
    let out = ns.kubectl(&["exec", "joined", "--", "sh", "-c", "hostname; exit 6"]);
    assert_eq!(out.code(), 6, "{out}");
    assert_eq!(out.stdout, "joined\n", "{out}");
    ns.kubectl(&["delete", "pod", "joined", "--grace-period=1"]).assert_success();
    let dir = data_dir.to_string_lossy().into_owned();
    let no_shim = testkit::eventually(Duration::from_secs(10), || {
        !processes().iter().any(|(_, _, cmd)| cmd.contains(&dir) && cmd.contains(" shim "))
    });
    assert!(no_shim, "a shim of the deleted pod is still running");

    // Orphans: a pod removed from the API while its agent is down (kill -9, then a forced
    // delete) is cleaned up by the restarted agent: shim, containers, netns, IP record.
    ns.kubectl(&["run", "orphan", "--image=busybox", "--restart=Never", "--", "sleep", "3600"]).assert_success();
    let orphan = ns.wait_pod("orphan", Duration::from_secs(30), "Running", is_running);
    let orphan_uid = uid(&orphan);
    drop(agent.process.take());
    ns.kubectl(&["delete", "pod", "orphan", "--force", "--grace-period=0"]).assert_success();
    assert!(ns.pod("orphan").is_none());
    let sandbox = format!("sandboxes/{orphan_uid}");
    assert!(
        processes().iter().any(|(_, _, cmd)| cmd.contains(&sandbox)),
        "the orphan's shim should outlive the killed agent"
    );
    agent.process = Some(testkit::Background::spawn(command()));
    let netns = Path::new("/run/peapod/netns").join(&orphan_uid);
    let ip_record_of = |owner: &str| {
        std::fs::read_dir(data_dir.join("agent/net"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| std::fs::read_to_string(entry.path()).is_ok_and(|text| text.trim() == owner))
    };
    let cleaned = testkit::eventually(Duration::from_secs(30), || {
        !processes().iter().any(|(_, _, cmd)| cmd.contains(&sandbox)) && !netns.exists() && !ip_record_of(&orphan_uid)
    });
    assert!(cleaned, "the restarted agent left the orphan's shim, netns or IP record");
    drop(ns);
    drop(agent.process.take());
    drop(agent);
    assert!(!Path::new("/sys/class/net").join(&bridge).exists(), "killall left the bridge {bridge}");
}
