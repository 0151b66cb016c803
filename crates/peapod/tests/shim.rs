//! The per-pod shim (`peapod shim`) with a real OCI runtime: container output reaches the CRI
//! log, exit codes come back through `state` and `subscribe`, the pod's containers share the
//! shim's hostname and IPC namespace, a new client re-adopts a running container, logs rotate
//! without losing lines, and `shutdown` leaves no process behind.
//!
//! Needs root, busybox-static (`/bin/busybox`) and crun or runc (crun unless it refuses this
//! host, as crates/runtime/tests/quickstart_images.rs chooses). Skips only when not root.
//! Every test removes its processes, bundles and runtime state, even when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use runtime::shim::{AttachStream, CreateContainer, ExitEvent, ShimClient, ShimError, Status};
use tokio::sync::mpsc;

const APPLETS: &[&str] =
    &["sh", "echo", "cat", "sleep", "readlink", "hostname", "seq", "printf", "true", "test", "[", "ls", "head"];

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipping: needs root (namespaces, OCI runtime)");
    false
}

/// One test's world: a directory with a busybox rootfs, bundles, pod directories and the
/// OCI runtime's state. Dropping it kills and deletes whatever is left.
struct Env {
    dir: PathBuf,
    rootfs: PathBuf,
    runtime: &'static str,
    runtime_root: PathBuf,
    shim_pids: Vec<u32>,
}

impl Env {
    fn new(name: &str) -> Env {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = PathBuf::from(format!(
            "/tmp/peapod-shim-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = dir.join("rootfs");
        make_rootfs(&rootfs);
        let runtime = oci_runtime(&rootfs);
        let runtime_root = dir.join("runtime-root");
        std::fs::create_dir_all(&runtime_root).unwrap();
        std::fs::create_dir_all(dir.join("shared")).unwrap();
        Env { dir, rootfs, runtime, runtime_root, shim_pids: Vec::new() }
    }

    fn pod_dir(&self, pod: &str) -> PathBuf {
        self.dir.join("pods").join(pod)
    }

    async fn spawn_shim(&mut self, pod: &str, hostname: Option<&str>) -> ShimClient {
        let shim = ShimClient::spawn(
            Path::new(env!("CARGO_BIN_EXE_peapod")),
            &["shim"],
            &self.pod_dir(pod),
            &which(self.runtime),
            &self.runtime_root,
            hostname,
        )
        .await
        .unwrap();
        self.shim_pids.push(shim.pid());
        shim
    }

    /// A bundle running `args` in the shim's IPC and UTS namespaces, with `DIR/shared`
    /// mounted at `/shared`.
    fn bundle(&self, id: &str, shim_pid: u32, args: &[&str], terminal: bool) -> PathBuf {
        let bundle = self.dir.join("bundles").join(id);
        std::fs::create_dir_all(&bundle).unwrap();
        let caps =
            serde_json::json!(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"]);
        let spec = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": terminal, "user": {"uid": 0, "gid": 0}, "args": args,
                "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "noNewPrivileges": true
            },
            "root": {"path": self.rootfs, "readonly": true},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/shared", "type": "bind", "source": self.dir.join("shared"), "options": ["rbind", "rw"]}
            ],
            "linux": {
                "namespaces": [
                    {"type": "pid"},
                    {"type": "mount"},
                    {"type": "network"},
                    {"type": "ipc", "path": format!("/proc/{shim_pid}/ns/ipc")},
                    {"type": "uts", "path": format!("/proc/{shim_pid}/ns/uts")}
                ],
                "maskedPaths": ["/proc/kcore"],
                "readonlyPaths": ["/proc/sys"]
            }
        });
        std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        bundle
    }

    fn create_spec(&self, shim: &ShimClient, id: &str, args: &[&str]) -> CreateContainer {
        CreateContainer {
            id: id.to_string(),
            bundle: self.bundle(id, shim.pid(), args, false),
            log_path: self.dir.join("logs").join(id).join("0.log"),
            stdin: false,
            tty: false,
            log_max_size: None,
            log_max_files: None,
        }
    }

    fn runtime_cmd(&self) -> Command {
        let mut cmd = Command::new(self.runtime);
        cmd.arg("--root").arg(&self.runtime_root);
        cmd
    }

    /// Container ids the runtime still knows in this test's state directory.
    fn runtime_containers(&self) -> Vec<String> {
        let out = self.runtime_cmd().args(["list", "-q"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.runtime_containers() {
            let _ = self.runtime_cmd().args(["kill", &id, "KILL"]).output();
            std::thread::sleep(Duration::from_millis(100));
            let _ = self.runtime_cmd().args(["delete", "-f", &id]).output();
        }
        for pid in &self.shim_pids {
            if alive(*pid) {
                let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn which(binary: &str) -> PathBuf {
    let out = Command::new("sh").arg("-c").arg(format!("command -v {binary}")).output().unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A root filesystem holding only busybox (static) and its applets.
fn make_rootfs(rootfs: &Path) {
    for d in ["bin", "proc", "dev", "sys", "tmp", "shared"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("/bin/busybox (busybox-static)");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
}

/// crun unless it refuses this host (cgroup v1/v2 hybrid), else runc; probed once.
/// `PEAPOD_TEST_OCI_RUNTIME=runc` forces one (to test both where both work).
fn oci_runtime(rootfs: &Path) -> &'static str {
    static CHOICE: OnceLock<&'static str> = OnceLock::new();
    CHOICE.get_or_init(|| {
        match std::env::var("PEAPOD_TEST_OCI_RUNTIME").as_deref() {
            Ok("crun") => return "crun",
            Ok("runc") => return "runc",
            _ => {}
        }
        let dir = rootfs.parent().unwrap().join("probe");
        let state = dir.join("state");
        std::fs::create_dir_all(&state).unwrap();
        let spec = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["true"], "env": ["PATH=/bin"], "cwd": "/"},
            "root": {"path": rootfs, "readonly": true},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]}
        });
        std::fs::write(dir.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
        let id = format!("probe-{}", std::process::id());
        for rt in ["crun", "runc"] {
            let Ok(out) =
                Command::new(rt).arg("--root").arg(&state).args(["run", "--bundle"]).arg(&dir).arg(&id).output()
            else {
                continue;
            };
            let _ = Command::new(rt).arg("--root").arg(&state).args(["delete", "-f", &id]).output();
            if out.status.success() {
                let _ = std::fs::remove_dir_all(&dir);
                return rt;
            }
            eprintln!("{rt} cannot run here: {}", String::from_utf8_lossy(&out.stderr));
        }
        panic!("neither crun nor runc can run containers here (scripts/install-test-deps.sh installs them)");
    })
}

fn alive(pid: u32) -> bool {
    // A zombie is as good as gone: it runs nothing and holds no resources but its pid.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} still alive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next_exit(rx: &mut mpsc::Receiver<ExitEvent>) -> ExitEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no exit event in time")
        .expect("subscription closed")
}

/// One parsed CRI log entry: (stream, tag, content).
fn parse_entry(line: &str) -> (String, String, String) {
    let mut parts = line.splitn(4, ' ');
    let ts = parts.next().unwrap();
    // 2016-10-06T00:17:09.669794202Z: RFC3339Nano in UTC, fraction without trailing zeros.
    let b = ts.as_bytes();
    assert!(b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':', "{line}");
    assert!(ts.ends_with('Z'), "{line}");
    if ts.len() > 20 {
        let frac = &ts[20..ts.len() - 1];
        assert_eq!(&ts[19..20], ".", "{line}");
        assert!(!frac.is_empty() && frac.len() <= 9 && frac.bytes().all(|c| c.is_ascii_digit()), "{line}");
        assert!(!frac.ends_with('0'), "trailing zero in {line}");
    }
    let stream = parts.next().unwrap().to_string();
    let tag = parts.next().unwrap().to_string();
    (stream, tag, parts.next().unwrap_or("").to_string())
}

fn read_entries(path: &Path) -> Vec<(String, String, String)> {
    // Not `lines()`: it would strip a `\r` that belongs to the content.
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_terminator('\n').map(parse_entry).collect()
}

/// The stdout contents of a finished container's log.
fn stdout_lines(path: &Path) -> Vec<String> {
    read_entries(path).into_iter().filter(|(s, _, _)| s == "stdout").map(|(_, _, c)| c).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_exit_codes_reach_state_and_subscribers() {
    if !is_root() {
        return;
    }
    let mut env = Env::new("exit");
    let shim = env.spawn_shim("pod", None).await;
    let mut exits = shim.subscribe().await.unwrap();

    let out = env.create_spec(&shim, "exit-out", &["sh", "-c", "echo hello; echo oops >&2; echo; printf tail"]);
    let t = Instant::now();
    let info = shim.create(&out).await.unwrap();
    let created = t.elapsed();
    assert_eq!(info.status, Status::Created);
    assert!(info.pid.is_some_and(|p| p > 1));
    // Without sizes in the request, the kubelet's rotation: 10 MiB, 5 files.
    assert_eq!((info.log_max_size, info.log_max_files), (10 * 1024 * 1024, 5));
    let started = shim.start("exit-out").await.unwrap();
    eprintln!("create {created:?}, create+start {:?} ({})", t.elapsed(), env.runtime);
    assert_eq!(started.status, Status::Running);
    let ev = next_exit(&mut exits).await;
    assert_eq!((ev.id.as_str(), ev.exit_code), ("exit-out", 0));

    // The output was logged before the exit was announced.
    let entries = read_entries(&out.log_path);
    let expect = |s: &str, t: &str, c: &str| (s.to_string(), t.to_string(), c.to_string());
    let stdout: Vec<_> = entries.iter().filter(|e| e.0 == "stdout").cloned().collect();
    assert_eq!(stdout, vec![expect("stdout", "F", "hello"), expect("stdout", "F", ""), expect("stdout", "P", "tail")]);
    assert!(entries.contains(&expect("stderr", "F", "oops")), "{entries:?}");

    let three = env.create_spec(&shim, "exit-three", &["sh", "-c", "exit 3"]);
    shim.create(&three).await.unwrap();
    shim.start("exit-three").await.unwrap();
    let ev = next_exit(&mut exits).await;
    assert_eq!((ev.id.as_str(), ev.exit_code), ("exit-three", 3));

    let sleeper = env.create_spec(&shim, "exit-killed", &["sleep", "1000"]);
    shim.create(&sleeper).await.unwrap();
    shim.start("exit-killed").await.unwrap();
    shim.kill("exit-killed", Signal::SIGKILL).await.unwrap();
    let ev = next_exit(&mut exits).await;
    assert_eq!((ev.id.as_str(), ev.exit_code), ("exit-killed", 137));
    // Signalling an exited container is not an error (CRI StopContainer is idempotent).
    shim.kill("exit-killed", Signal::SIGTERM).await.unwrap();

    let state = shim.state().await.unwrap();
    let codes: Vec<_> = state.iter().map(|c| (c.id.as_str(), c.status, c.exit_code)).collect();
    assert_eq!(
        codes,
        vec![
            ("exit-out", Status::Exited, Some(0)),
            ("exit-three", Status::Exited, Some(3)),
            ("exit-killed", Status::Exited, Some(137))
        ]
    );
    for c in &state {
        let (started, finished) = (c.started_at.as_deref().unwrap(), c.finished_at.as_deref().unwrap());
        assert!(c.created_at.as_str() <= started && started <= finished, "{c:?}");
        assert_eq!(c.created_at.len(), "2026-01-01T00:00:00.000000000Z".len());
    }
    // The records on disk say the same, for a shim that would have to start over.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.pod_dir("pod").join("containers/exit-three.json")).unwrap()).unwrap();
    assert_eq!(record["exit_code"], 3);
    assert_eq!(record["status"], "exited");

    shim.delete("exit-three").await.unwrap();
    assert!(matches!(shim.delete("exit-three").await, Err(ShimError::NotFound(_))));
    assert!(!env.pod_dir("pod").join("containers/exit-three.json").exists());
    assert_eq!(shim.state().await.unwrap().len(), 2);
    shim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_pod_share_hostname_and_ipc_namespace() {
    if !is_root() {
        return;
    }
    let mut env = Env::new("ns");
    let shim = env.spawn_shim("pod", Some("pod-a")).await;
    let mut exits = shim.subscribe().await.unwrap();
    let script = "hostname; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts";
    let mut outputs = Vec::new();
    for id in ["ns-one", "ns-two"] {
        let spec = env.create_spec(&shim, id, &["sh", "-c", script]);
        shim.create(&spec).await.unwrap();
        shim.start(id).await.unwrap();
        assert_eq!(next_exit(&mut exits).await.exit_code, 0);
        outputs.push(stdout_lines(&spec.log_path));
    }
    let shim_ipc = std::fs::read_link(format!("/proc/{}/ns/ipc", shim.pid())).unwrap();
    let shim_uts = std::fs::read_link(format!("/proc/{}/ns/uts", shim.pid())).unwrap();
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    assert_ne!(shim_ipc, host_ipc, "the shim has a namespace of its own");
    let expected = vec!["pod-a".to_string(), shim_ipc.display().to_string(), shim_uts.display().to_string()];
    assert_eq!(outputs[0], expected);
    assert_eq!(outputs[1], expected);
    shim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_re_adopts_running_containers_and_their_exit_codes() {
    if !is_root() {
        return;
    }
    let mut env = Env::new("adopt");
    let pod = env.pod_dir("pod");
    let (shim_pid, log_path) = {
        let shim = env.spawn_shim("pod", None).await;
        let script = "echo before; while [ ! -e /shared/go ]; do sleep 0.05; done; echo after; exit 7";
        let spec = env.create_spec(&shim, "adopt-waiter", &["sh", "-c", script]);
        shim.create(&spec).await.unwrap();
        shim.start("adopt-waiter").await.unwrap();
        let idle = env.create_spec(&shim, "adopt-idle", &["sleep", "1000"]);
        shim.create(&idle).await.unwrap();
        shim.start("adopt-idle").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", shim.pid())).unwrap();
        let field = |name: &str| -> u64 {
            rollup
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap()
        };
        eprintln!(
            "shim memory with 2 running containers: Rss {} kB, Pss {} kB, Private_Dirty {} kB, Private_Clean {} kB, \
             Anonymous {} kB",
            field("Rss:"),
            field("Pss:"),
            field("Private_Dirty:"),
            field("Private_Clean:"),
            field("Anonymous:")
        );
        // Anonymous memory is what each shim costs on its own: the binary's file pages are
        // shared with the agent and the other shims (Private_Clean counts them too when no
        // other process maps them, and freshly linked pages still dirty in the page cache
        // count as Private_Dirty). Most of it is the relocated RELRO of the (debug) binary.
        let anon = field("Anonymous:");
        assert!(anon < 4 * 1024, "shim anonymous memory {anon} kB");
        (shim.pid(), spec.log_path)
        // The client (the "agent") goes away here.
    };
    assert!(alive(shim_pid));
    let shim = ShimClient::connect(&pod).await.unwrap();
    assert_eq!(shim.pid(), shim_pid);
    let mut exits = shim.subscribe().await.unwrap();
    let state = shim.state().await.unwrap();
    let waiter = state.iter().find(|c| c.id == "adopt-waiter").unwrap();
    assert_eq!((waiter.status, waiter.exit_code), (Status::Running, None));
    assert!(waiter.pid.is_some_and(alive));

    std::fs::write(env.dir.join("shared/go"), b"").unwrap();
    let ev = next_exit(&mut exits).await;
    assert_eq!((ev.id.as_str(), ev.exit_code), ("adopt-waiter", 7));
    assert_eq!(stdout_lines(&log_path), vec!["before", "after"]);
    drop(shim);

    // Exits that happen while no client is connected are kept too.
    let idle_pid = {
        let shim = ShimClient::connect(&pod).await.unwrap();
        let state = shim.state().await.unwrap();
        state.iter().find(|c| c.id == "adopt-idle").and_then(|c| c.pid).unwrap()
    };
    // SIGKILL: the init of a pid namespace ignores signals it has no handler for.
    kill(Pid::from_raw(idle_pid as i32), Signal::SIGKILL).unwrap();
    wait_gone(idle_pid).await;
    let shim = ShimClient::connect(&pod).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = shim.state().await.unwrap();
        let idle = state.iter().find(|c| c.id == "adopt-idle").unwrap();
        if idle.status == Status::Exited {
            assert_eq!(idle.exit_code, Some(128 + 9));
            break;
        }
        assert!(Instant::now() < deadline, "exit not recorded: {idle:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_rotate_by_size_without_losing_lines() {
    if !is_root() {
        return;
    }
    let mut env = Env::new("rotate");
    let shim = env.spawn_shim("pod", None).await;
    let mut exits = shim.subscribe().await.unwrap();
    const LINES: usize = 3000;
    const MAX: u64 = 8 * 1024;
    let seq = format!("seq 1 {LINES}");
    // One container keeps every file, the other only the last three.
    let mut all = env.create_spec(&shim, "rotate-all", &["sh", "-c", &seq]);
    all.log_max_size = Some(MAX);
    all.log_max_files = Some(100);
    let mut few = env.create_spec(&shim, "rotate-few", &["sh", "-c", &seq]);
    few.log_max_size = Some(MAX);
    few.log_max_files = Some(3);
    for spec in [&all, &few] {
        shim.create(spec).await.unwrap();
        shim.start(&spec.id).await.unwrap();
    }
    for _ in 0..2 {
        assert_eq!(next_exit(&mut exits).await.exit_code, 0);
    }

    let numbers = |files: &[PathBuf]| -> Vec<usize> {
        files.iter().flat_map(|f| stdout_lines(f)).map(|l| l.parse::<usize>().unwrap()).collect()
    };
    let files = runtime::shim::log_files(&all.log_path, 100);
    assert!(files.len() > 5, "{files:?}");
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= MAX, "{f:?} is larger than the maximum");
    }
    assert_eq!(numbers(&files), (1..=LINES).collect::<Vec<_>>(), "every line, in order, once");

    let files = runtime::shim::log_files(&few.log_path, 3);
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["0.log.2", "0.log.1", "0.log"]);
    let dir_entries = std::fs::read_dir(few.log_path.parent().unwrap()).unwrap().count();
    assert_eq!(dir_entries, 3, "older files are removed");
    let kept = numbers(&files);
    // The newest lines, contiguous up to the last one.
    assert_eq!(kept.last(), Some(&LINES));
    assert_eq!(kept, (kept[0]..=LINES).collect::<Vec<_>>());
    shim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_container_logs_its_pty_output() {
    if !is_root() {
        return;
    }
    let mut env = Env::new("tty");
    let shim = env.spawn_shim("pod", None).await;
    let mut exits = shim.subscribe().await.unwrap();
    let mut spec = env.create_spec(&shim, "tty-one", &["sh", "-c", "test -t 1 && echo on a tty"]);
    spec.bundle = env.bundle("tty-one", shim.pid(), &["sh", "-c", "test -t 1 && echo on a tty"], true);
    spec.tty = true;
    shim.create(&spec).await.unwrap();
    shim.start("tty-one").await.unwrap();
    assert_eq!(next_exit(&mut exits).await.exit_code, 0);
    // The terminal turns "\n" into "\r\n"; CRI keeps the "\r".
    let deadline = Instant::now() + Duration::from_secs(5);
    while stdout_lines(&spec.log_path).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stdout_lines(&spec.log_path), vec!["on a tty\r"]);
    shim.shutdown().await.unwrap();
}

/// `resize` sets the size of a terminal container's pty (`kubectl attach -it` resizing);
/// containers without a terminal, and unknown ones, get errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_sets_the_terminal_size_of_a_tty_container() {
    if !is_root() {
        return;
    }
    let mut env = Env::new("resize");
    let shim = env.spawn_shim("pod", None).await;
    let script = ["sh", "-c", "while :; do stty size; sleep 0.1; done"];
    let mut spec = env.create_spec(&shim, "tty-size", &script);
    spec.bundle = env.bundle("tty-size", shim.pid(), &script, true);
    spec.tty = true;
    shim.create(&spec).await.unwrap();
    shim.start("tty-size").await.unwrap();
    shim.resize("tty-size", 100, 30).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !stdout_lines(&spec.log_path).iter().any(|line| line == "30 100\r") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines = stdout_lines(&spec.log_path);
    assert!(lines.iter().any(|line| line == "30 100\r"), "{lines:?}");

    let plain = env.create_spec(&shim, "no-tty", &["sleep", "1000"]);
    shim.create(&plain).await.unwrap();
    assert!(matches!(shim.resize("no-tty", 100, 30).await, Err(ShimError::Invalid(_))));
    assert!(matches!(shim.resize("missing", 100, 30).await, Err(ShimError::NotFound(_))));
    shim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_errors_and_one_shim_serves_a_pod() {
    if !is_root() {
        return;
    }
    let mut env = Env::new("errors");
    let shim = env.spawn_shim("pod", None).await;
    let again = ShimClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_peapod")),
        &["shim"],
        &env.pod_dir("pod"),
        &which(env.runtime),
        &env.runtime_root,
        None,
    )
    .await;
    assert!(matches!(again, Err(ShimError::AlreadyRunning(_))), "{:?}", again.err());

    let spec = env.create_spec(&shim, "err-one", &["sleep", "1000"]);
    shim.create(&spec).await.unwrap();
    assert!(matches!(shim.create(&spec).await, Err(ShimError::AlreadyExists(_))));
    assert!(matches!(shim.start("missing").await, Err(ShimError::NotFound(_))));
    assert!(matches!(shim.kill("missing", Signal::SIGKILL).await, Err(ShimError::NotFound(_))));
    let mut bad = spec.clone();
    bad.id = "../escape".into();
    assert!(matches!(shim.create(&bad).await, Err(ShimError::Invalid(_))));
    let mut relative = env.create_spec(&shim, "err-rel", &["true"]);
    relative.log_path = "relative.log".into();
    assert!(matches!(shim.create(&relative).await, Err(ShimError::Invalid(_))));
    let mut no_bundle = env.create_spec(&shim, "err-nobundle", &["true"]);
    no_bundle.bundle = env.dir.join("no-such-bundle");
    match shim.create(&no_bundle).await {
        Err(ShimError::Runtime(message)) => assert!(!message.is_empty()),
        other => panic!("expected a runtime error, got {other:?}"),
    }
    // A failed create leaves nothing behind.
    assert_eq!(shim.state().await.unwrap().len(), 1);
    assert_eq!(env.runtime_containers(), vec!["err-one".to_string()]);
    // An id the runtime holds already (its state directory exists, not made by this
    // shim) is refused and left alone.
    let foreign = env.runtime_root.join("err-foreign");
    std::fs::create_dir(&foreign).unwrap();
    let clash = env.create_spec(&shim, "err-foreign", &["true"]);
    assert!(matches!(shim.create(&clash).await, Err(ShimError::AlreadyExists(_))));
    assert!(foreign.is_dir());
    std::fs::remove_dir(&foreign).unwrap();
    // A created container cannot be started twice.
    shim.start("err-one").await.unwrap();
    assert!(matches!(shim.start("err-one").await, Err(ShimError::Invalid(_))));
    // A malformed line gets an error and the connection keeps working.
    let mut raw = tokio::net::UnixStream::connect(env.pod_dir("pod").join("shim.sock")).await.unwrap();
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    raw.write_all(b"{\"op\":\"explode\"}\nnot json\n{\"op\":\"state\"}\n").await.unwrap();
    let mut lines = tokio::io::BufReader::new(raw).lines();
    for _ in 0..2 {
        let line = lines.next_line().await.unwrap().unwrap();
        assert!(line.contains("\"invalid\""), "{line}");
    }
    assert!(lines.next_line().await.unwrap().unwrap().starts_with("{\"state\""));
    shim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_process_behind() {
    if !is_root() {
        return;
    }
    let mut env = Env::new("shutdown");
    let shim = env.spawn_shim("pod", None).await;
    let mut pids = vec![shim.pid()];
    for id in ["down-one", "down-two"] {
        let spec = env.create_spec(&shim, id, &["sleep", "1000"]);
        pids.extend(shim.create(&spec).await.unwrap().pid);
        shim.start(id).await.unwrap();
    }
    // A created but never started container goes too.
    let spec = env.create_spec(&shim, "down-created", &["sleep", "1000"]);
    pids.extend(shim.create(&spec).await.unwrap().pid);
    assert_eq!(pids.len(), 4);
    assert!(pids.iter().all(|p| alive(*p)));
    let pod = env.pod_dir("pod");
    shim.shutdown().await.unwrap();
    for pid in pids {
        wait_gone(pid).await;
    }
    assert_eq!(env.runtime_containers(), Vec::<String>::new());
    assert!(!pod.join("shim.sock").exists());
    assert!(matches!(ShimClient::connect(&pod).await, Err(ShimError::Io(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_shim_keeps_exit_codes_and_reports_lost_containers() {
    if !is_root() {
        return;
    }
    let mut env = Env::new("restart");
    let shim = env.spawn_shim("pod", None).await;
    // Its own session: the agent's process group and terminal do not reach it.
    let sid = nix::unistd::getsid(Some(Pid::from_raw(shim.pid() as i32))).unwrap();
    assert_eq!(sid.as_raw() as u32, shim.pid());
    let mut exits = shim.subscribe().await.unwrap();
    let done = env.create_spec(&shim, "restart-done", &["sh", "-c", "exit 5"]);
    shim.create(&done).await.unwrap();
    shim.start("restart-done").await.unwrap();
    assert_eq!(next_exit(&mut exits).await.exit_code, 5);
    let lost = env.create_spec(&shim, "restart-lost", &["sleep", "1000"]);
    let lost_pid = shim.create(&lost).await.unwrap().pid.unwrap();
    shim.start("restart-lost").await.unwrap();

    // The shim itself dies: exit codes it reported are on disk; the running container lost
    // its stdio and its watcher.
    let old = shim.pid();
    kill(Pid::from_raw(old as i32), Signal::SIGKILL).unwrap();
    wait_gone(old).await;
    drop(shim);
    let shim = env.spawn_shim("pod", None).await;
    assert_ne!(shim.pid(), old);
    let state = shim.state().await.unwrap();
    let codes: Vec<_> = state.iter().map(|c| (c.id.as_str(), c.status, c.exit_code)).collect();
    assert_eq!(codes, vec![("restart-done", Status::Exited, Some(5)), ("restart-lost", Status::Exited, Some(255))]);
    wait_gone(lost_pid).await;
    // The lost one is deleted from the runtime; the exited one stays until `delete`.
    assert_eq!(env.runtime_containers(), vec!["restart-done".to_string()]);
    shim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_carries_stdin_and_output() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if !is_root() {
        return;
    }
    let mut env = Env::new("attach");
    let shim = env.spawn_shim("pod", None).await;
    let mut exits = shim.subscribe().await.unwrap();
    let mut spec = env.create_spec(&shim, "attach-cat", &["cat"]);
    spec.stdin = true;
    shim.create(&spec).await.unwrap();
    shim.start("attach-cat").await.unwrap();
    let mut stdout = shim.attach("attach-cat", AttachStream::Stdout, false).await.unwrap();
    let mut stdin = shim.attach("attach-cat", AttachStream::Stdin, true).await.unwrap();
    // One stdin attachment at a time; none for a container created without stdin.
    assert!(matches!(shim.attach("attach-cat", AttachStream::Stdin, false).await, Err(ShimError::Invalid(_))));
    stdin.write_all(b"ping\npong\n").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < 10 {
        let n = tokio::time::timeout(Duration::from_secs(10), stdout.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "stdout ended early: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"ping\npong\n");
    // stdinOnce: closing the attachment is the end of the container's input, so cat exits.
    drop(stdin);
    let ev = next_exit(&mut exits).await;
    assert_eq!((ev.id.as_str(), ev.exit_code), ("attach-cat", 0));
    let n = tokio::time::timeout(Duration::from_secs(10), stdout.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(n, 0, "the output attachment ends with the stream");
    assert_eq!(stdout_lines(&spec.log_path), vec!["ping", "pong"]);

    // A container that never reads its stdin: the writer is held back, the shim is not.
    let mut stuck = env.create_spec(&shim, "attach-stuck", &["sleep", "1000"]);
    stuck.stdin = true;
    shim.create(&stuck).await.unwrap();
    shim.start("attach-stuck").await.unwrap();
    let mut stuck_in = shim.attach("attach-stuck", AttachStream::Stdin, false).await.unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..32 {
            if stuck_in.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!writer.is_finished(), "2 MiB cannot fit in the pipe and socket buffers");
    let t = Instant::now();
    assert_eq!(shim.state().await.unwrap().len(), 2);
    assert!(t.elapsed() < Duration::from_secs(2), "the shim stalled on a full stdin pipe");
    writer.abort();

    let plain = env.create_spec(&shim, "attach-plain", &["sleep", "1000"]);
    shim.create(&plain).await.unwrap();
    assert!(matches!(shim.attach("attach-plain", AttachStream::Stdin, false).await, Err(ShimError::Invalid(_))));
    assert!(matches!(shim.attach("missing", AttachStream::Stdout, false).await, Err(ShimError::NotFound(_))));
    shim.shutdown().await.unwrap();
}
