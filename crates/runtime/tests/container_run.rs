//! Containers run for real through crun or runc (whichever `OciRuntime::detect` picks, and
//! runc too for the basics): output through a pipe, user and groups, capabilities, read-only
//! root, masked /proc paths, an OOM kill under a 20Mi limit, CPU limits in the cgroup files,
//! exec with and without a TTY, and the start-up cost against a bare `crun run`.
//! Needs root and busybox-static (a busybox root filesystem is made from /bin/busybox); skips
//! only when not root. Every container, cgroup and directory is removed even on failure.

use agent::runtime::{ContainerConfig, ContainerResources, ImageInfo, PodResources, SeccompProfile, SecurityConfig};
use runtime::container::cgroups::Cgroups;
use runtime::container::oci_runtime::ContainerStdio;
use runtime::container::runtime_spec::Spec;
use runtime::container::{
    ContainerError, ExecStdio, OciRuntime, ResolvedUser, SandboxInfo, build_spec, resolve_user, write_bundle,
};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const APPLETS: &[&str] = &[
    "sh", "echo", "id", "grep", "cat", "true", "touch", "dd", "sleep", "tty", "stty", "wc", "head", "stat", "ls",
    "printf", "unshare",
];

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipping: needs root (namespaces, cgroups, an OCI runtime)");
    false
}

/// A busybox root filesystem with an `app` user (1000) in `wheel` (10).
fn make_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    if std::fs::hard_link("/bin/busybox", root.join("bin/busybox")).is_err() {
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    }
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nwheel:x:10:app\napp:x:1000:\n").unwrap();
    root
}

fn config(args: &[&str]) -> ContainerConfig {
    ContainerConfig {
        name: "c".into(),
        attempt: 0,
        image_ref: "busybox".into(),
        image: ImageInfo::default(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        working_dir: None,
        tty: false,
        stdin: false,
        stdin_once: false,
        mounts: vec![],
        resources: ContainerResources { cpu_shares: 2, cpu_period: 100_000, ..Default::default() },
        security: SecurityConfig { allow_privilege_escalation: true, ..Default::default() },
        log_path: PathBuf::from("/dev/null"),
        stop_signal: None,
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// One pod: a runtime state dir, a pod cgroup, containers; all removed on drop.
struct Pod {
    rt: OciRuntime,
    cg: Cgroups,
    uid: String,
    dir: tempfile::TempDir,
    rootfs: PathBuf,
    containers: Vec<String>,
}

impl Pod {
    fn new(rt: Option<OciRuntime>, resources: PodResources) -> Pod {
        // Containers are reparented to us when the runtime's create exits: be their reaper, as
        // the per-pod shim is, so that their exit codes can be read.
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rt = rt.unwrap_or_else(|| OciRuntime::detect(None, dir.path().join("state")).unwrap());
        let rt = OciRuntime { root: dir.path().join("state"), ..rt };
        std::fs::create_dir_all(&rt.root).unwrap();
        let cg = Cgroups::detect(Path::new("/sys/fs/cgroup")).unwrap();
        let uid = format!("t{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let rootfs = make_rootfs(dir.path());
        let pod = Pod { rt, cg, uid, dir, rootfs, containers: vec![] };
        pod.cg.create_pod_cgroup(&pod.uid, &resources).unwrap();
        pod
    }

    fn sandbox(&self) -> SandboxInfo {
        SandboxInfo { hostname: "pod".into(), ..Default::default() }
    }

    fn cgroups_path(&self, id: &str) -> String {
        Cgroups::container_cgroups_path(&self.uid, id).unwrap()
    }

    /// Creates and starts a container whose stdout/stderr are pipes; returns the init pid and
    /// the read ends.
    async fn start(
        &mut self,
        id: &str,
        c: &ContainerConfig,
        user: ResolvedUser,
    ) -> (i32, std::fs::File, std::fs::File) {
        let spec = build_spec(&self.sandbox(), c, &self.rootfs, user, &self.cgroups_path(id), 20_000).unwrap();
        self.start_spec(id, &spec).await
    }

    async fn start_spec(&mut self, id: &str, spec: &Spec) -> (i32, std::fs::File, std::fs::File) {
        self.containers.push(id.to_string());
        let bundle = self.dir.path().join(format!("bundle-{id}"));
        write_bundle(&bundle, spec).unwrap();
        let (out_r, out_w) = std::io::pipe().unwrap();
        let (err_r, err_w) = std::io::pipe().unwrap();
        let pid_file = bundle.join("pid");
        let stdio = ContainerStdio { stdin: Stdio::null(), stdout: Stdio::from(out_w), stderr: Stdio::from(err_w) };
        self.rt.create(id, &bundle, &pid_file, stdio).await.unwrap();
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        self.rt.start(id).await.unwrap();
        (
            pid,
            std::fs::File::from(std::os::fd::OwnedFd::from(out_r)),
            std::fs::File::from(std::os::fd::OwnedFd::from(err_r)),
        )
    }

    /// Runs a container to completion: (exit code, stdout, stderr). The container is deleted
    /// after `inspect` looked at it.
    async fn run(&mut self, id: &str, c: &ContainerConfig, user: ResolvedUser) -> (i32, String, String) {
        let spec = build_spec(&self.sandbox(), c, &self.rootfs, user, &self.cgroups_path(id), 20_000).unwrap();
        self.run_spec(id, &spec).await
    }

    async fn run_spec(&mut self, id: &str, spec: &Spec) -> (i32, String, String) {
        let (pid, mut out, mut err) = self.start_spec(id, spec).await;
        let code = wait_pid(pid).await;
        let (mut o, mut e) = (String::new(), String::new());
        out.read_to_string(&mut o).unwrap();
        err.read_to_string(&mut e).unwrap();
        (code, o, e)
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        for id in &self.containers {
            let _ = self.rt.command().args(["kill", id, "KILL"]).output();
            let _ = self.rt.command().args(["delete", "--force", id]).output();
        }
        // A container's cgroup can linger a moment after its last process died.
        for _ in 0..50 {
            if self.cg.remove_pod_cgroup(&self.uid).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Err(e) = self.cg.remove_pod_cgroup(&self.uid) {
            eprintln!("pod cgroup left behind: {e}");
        }
    }
}

async fn wait_pid(pid: i32) -> i32 {
    use nix::sys::wait::{WaitStatus, waitpid};
    tokio::task::spawn_blocking(move || match waitpid(nix::unistd::Pid::from_raw(pid), None) {
        Ok(WaitStatus::Exited(_, code)) => code,
        Ok(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
        other => panic!("waitpid {pid}: {other:?}"),
    })
    .await
    .unwrap()
}

fn root_user() -> ResolvedUser {
    ResolvedUser { uid: 0, gid: 0, additional_gids: vec![0] }
}

/// Parses `CapEff:\t000001ffffffffff` lines into a map.
fn cap_masks(status: &str) -> std::collections::BTreeMap<String, u64> {
    status
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), u64::from_str_radix(v.trim(), 16).ok()?))
        })
        .collect()
}

fn mask_of(caps: &[&str]) -> u64 {
    let all = runtime::container::spec::ALL_CAPABILITIES;
    caps.iter().map(|c| 1u64 << all.iter().position(|x| x == c).unwrap()).fold(0, |a, b| a | b)
}

#[tokio::test]
async fn echo_prints_through_a_pipe_with_every_runtime() {
    if !is_root() {
        return;
    }
    let mut runtimes = vec![None];
    if let Ok(runc) =
        OciRuntime::with_binary(PathBuf::from("/usr/sbin/runc"), std::env::temp_dir().join("peapod-runc-probe"))
    {
        runtimes.push(Some(runc));
    }
    for rt in runtimes {
        let mut pod = Pod::new(rt, PodResources::default());
        let (code, out, err) = pod.run("echo", &config(&["echo", "hello", "world"]), root_user()).await;
        assert_eq!((code, out.as_str()), (0, "hello world\n"), "{}: stderr {err}", pod.rt.name);
        let st = pod.rt.state("echo").await.unwrap();
        assert_eq!(st.status, "stopped");
        pod.rt.delete("echo", false).await.unwrap();
        assert!(matches!(pod.rt.state("echo").await, Err(ContainerError::Runtime { .. })));
        assert!(pod.rt.runtime_version().starts_with(&format!("{}://", pod.rt.name)));

        // A missing executable fails create, with the runtime's own message.
        let id = "missing";
        pod.containers.push(id.into());
        let spec = build_spec(
            &pod.sandbox(),
            &config(&["/no/such/binary"]),
            &pod.rootfs,
            root_user(),
            &pod.cgroups_path(id),
            20_000,
        )
        .unwrap();
        let bundle = pod.dir.path().join("bundle-missing");
        write_bundle(&bundle, &spec).unwrap();
        let err = pod.rt.create(id, &bundle, &bundle.join("pid"), ContainerStdio::default()).await.unwrap_err();
        match &err {
            ContainerError::Runtime { op, stderr, .. } => {
                assert_eq!(op, "create");
                assert!(stderr.contains("/no/such/binary"), "{err}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn user_and_groups_apply() {
    if !is_root() {
        return;
    }
    let mut pod = Pod::new(None, PodResources::default());
    let user = resolve_user(&pod.rootfs, Some("app"), None, None, &[2000]).unwrap();
    let (code, out, err) = pod.run("id", &config(&["id"]), user).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("uid=1000(app) gid=1000(app)"), "{out}");
    for g in ["10(wheel)", "1000(app)", "2000"] {
        assert!(out.contains(g), "{g} missing: {out}");
    }
    // runAsUser/runAsGroup override the image's user.
    let user = resolve_user(&pod.rootfs, Some("app"), Some(4242), Some(4343), &[]).unwrap();
    let (_, out, _) = pod.run("id2", &config(&["id"]), user).await;
    assert!(out.starts_with("uid=4242 gid=4343"), "{out}");
}

#[tokio::test]
async fn capabilities_default_add_drop() {
    if !is_root() {
        return;
    }
    let mut pod = Pod::new(None, PodResources::default());
    let default_mask = mask_of(runtime::container::spec::DEFAULT_CAPABILITIES);
    assert_eq!(default_mask, 0xa80425fb, "Docker's default set");
    let (_, out, err) = pod.run("caps1", &config(&["grep", "Cap", "/proc/self/status"]), root_user()).await;
    let m = cap_masks(&out);
    assert_eq!(m.get("CapBnd"), Some(&default_mask), "{out}{err}");
    assert_eq!(m.get("CapEff"), Some(&default_mask));

    let mut c = config(&["grep", "Cap", "/proc/self/status"]);
    c.security.capabilities_add = vec!["NET_ADMIN".into()];
    c.security.capabilities_drop = vec!["CHOWN".into()];
    let (_, out, _) = pod.run("caps2", &c, root_user()).await;
    let want = (default_mask | mask_of(&["CAP_NET_ADMIN"])) & !mask_of(&["CAP_CHOWN"]);
    assert_eq!(cap_masks(&out).get("CapEff"), Some(&want), "{out}");

    c.security.capabilities_add = vec!["NET_BIND_SERVICE".into()];
    c.security.capabilities_drop = vec!["ALL".into()];
    let (_, out, _) = pod.run("caps3", &c, root_user()).await;
    assert_eq!(cap_masks(&out).get("CapBnd"), Some(&mask_of(&["CAP_NET_BIND_SERVICE"])), "{out}");
}

#[tokio::test]
async fn read_only_root_and_masked_paths() {
    if !is_root() {
        return;
    }
    let mut pod = Pod::new(None, PodResources::default());
    let mut c = config(&["touch", "/newfile"]);
    c.security.read_only_root_filesystem = true;
    let (code, _, err) = pod.run("ro", &c, root_user()).await;
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
    // Writable otherwise.
    let (code, _, err) = pod.run("rw", &config(&["touch", "/newfile"]), root_user()).await;
    assert_eq!(code, 0, "{err}");

    // Masked files are /dev/null binds (char 1:3), masked directories empty; /proc/sys is
    // read-only. /proc/kcore is checked where the kernel has one (this machine's has not).
    let files: Vec<&str> =
        ["/proc/kcore", "/proc/keys", "/proc/timer_list"].into_iter().filter(|f| Path::new(f).exists()).collect();
    assert!(!files.is_empty());
    let script = format!(
        "for f in {}; do stat -c %t:%T $f; done; ls -A /sys/firmware | wc -l; \
         echo 1 > /proc/sys/kernel/ns_last_pid && echo sys-writable || echo sys-ro",
        files.join(" ")
    );
    let mut want: Vec<&str> = files.iter().map(|_| "1:3").collect();
    want.extend(["0", "sys-ro"]);
    let mut c = config(&["sh", "-c", &script]);
    let (_, out, err) = pod.run("masked", &c, root_user()).await;
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), want, "{out}{err}");
    // procMount: Unmasked leaves them alone.
    c.security.unmasked_proc = true;
    let (_, out, err) = pod.run("unmasked", &c, root_user()).await;
    let got: Vec<&str> = out.split_whitespace().collect();
    assert!(!got.contains(&"1:3"), "{out}{err}");
    // /proc/sys is no longer a read-only mount (the write may still lack a capability).
    assert!(!err.contains("Read-only file system"), "{out}{err}");
    assert_ne!(got.iter().rev().nth(1), Some(&"0"), "/sys/firmware is not emptied: {out}");
}

#[tokio::test]
async fn memory_limit_oom_kills() {
    if !is_root() {
        return;
    }
    let mut pod = Pod::new(None, PodResources { memory_limit_bytes: Some(64 << 20), ..Default::default() });
    let mut c = config(&["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
    c.resources.memory_limit_bytes = Some(20 << 20);
    let (code, _, err) = pod.run("oom", &c, root_user()).await;
    assert_eq!(code, 137, "killed by SIGKILL: {err}");
    // Read before delete: the runtime removes the container's cgroup.
    assert!(pod.cg.oom_killed(&pod.cgroups_path("oom")).unwrap());
    pod.rt.delete("oom", true).await.unwrap();

    let (code, _, err) =
        pod.run("fits", &config(&["dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=1"]), root_user()).await;
    assert_eq!(code, 0, "{err}");
    assert!(!pod.cg.oom_killed(&pod.cgroups_path("fits")).unwrap());
    let pod_limit = std::fs::read_to_string(
        pod.cg.path("memory", &Cgroups::pod_cgroup(&pod.uid).unwrap()).join("memory.limit_in_bytes"),
    );
    if pod.cg.mode != runtime::container::cgroups::CgroupMode::Unified {
        assert_eq!(pod_limit.unwrap().trim(), (64u64 << 20).to_string());
    }
}

#[tokio::test]
async fn cpu_limits_land_in_the_cgroup() {
    if !is_root() {
        return;
    }
    let mut pod = Pod::new(
        None,
        PodResources {
            cpu_shares: Some(1024),
            cpu_quota: Some(100_000),
            cpu_period: Some(100_000),
            memory_limit_bytes: None,
        },
    );
    if pod.cg.mode == runtime::container::cgroups::CgroupMode::Unified {
        eprintln!("skipping v1 file checks on a cgroup v2 host");
        return;
    }
    let mut c = config(&["sleep", "1000"]);
    c.resources.cpu_shares = 512;
    c.resources.cpu_quota = Some(50_000);
    pod.start("cpu", &c, root_user()).await;
    let dir = pod.cg.path("cpu", &pod.cgroups_path("cpu"));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap().trim().to_string();
    assert_eq!(read("cpu.shares"), "512");
    assert_eq!(read("cpu.cfs_quota_us"), "50000");
    assert_eq!(read("cpu.cfs_period_us"), "100000");
    let pod_dir = pod.cg.path("cpu", &Cgroups::pod_cgroup(&pod.uid).unwrap());
    assert_eq!(std::fs::read_to_string(pod_dir.join("cpu.shares")).unwrap().trim(), "1024");
    assert_eq!(std::fs::read_to_string(pod_dir.join("cpu.cfs_quota_us")).unwrap().trim(), "100000");
    assert!(pod.cg.memory_usage(&pod.cgroups_path("cpu")).unwrap() > 0);
    // Removing the pod cgroup while a container runs in it fails.
    assert!(pod.cg.remove_pod_cgroup(&pod.uid).is_err());
    pod.rt.kill("cpu", "KILL", true).await.unwrap();
}

#[tokio::test]
async fn exec_sync_and_tty_exec() {
    if !is_root() {
        return;
    }
    let mut pod = Pod::new(None, PodResources::default());
    let mut c = config(&["sleep", "1000"]);
    c.env = vec![("FROM_SPEC".into(), "yes".into())];
    pod.start("long", &c, root_user()).await;
    assert_eq!(pod.rt.state("long").await.unwrap().status, "running");

    let argv: Vec<String> =
        ["sh", "-c", "echo out $FROM_SPEC $EXTRA; echo err >&2; exit 3"].iter().map(|s| s.to_string()).collect();
    let (code, out, err) =
        pod.rt.exec_sync("long", &argv, &[("EXTRA".into(), "x".into())], Duration::from_secs(10)).await.unwrap();
    assert_eq!((code, out.as_slice(), err.as_slice()), (3, &b"out yes x\n"[..], &b"err\n"[..]));

    // A command that outlives its timeout is killed.
    let t = Instant::now();
    let slow: Vec<String> = vec!["sleep".into(), "30".into()];
    let r = pod.rt.exec_sync("long", &slow, &[], Duration::from_millis(500)).await;
    assert!(matches!(r, Err(ContainerError::Timeout(_))), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // A missing binary is a non-zero exit, not a hang.
    let missing: Vec<String> = vec!["/no/such/binary".into()];
    let (code, _, _) = pod.rt.exec_sync("long", &missing, &[], Duration::from_secs(10)).await.unwrap();
    assert_ne!(code, 0);

    // Streaming without a TTY: pipes.
    let cat: Vec<String> = vec!["cat".into()];
    let mut p = pod.rt.exec_streaming("long", &cat, &[], false, true).await.unwrap();
    let Some(ExecStdio::Pipes { stdin: Some(mut stdin), mut stdout, .. }) = p.stdio.take() else { panic!("pipes") };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stdin.write_all(b"ping\n").await.unwrap();
    drop(stdin);
    let mut echoed = String::new();
    stdout.read_to_string(&mut echoed).await.unwrap();
    assert_eq!(echoed, "ping\n");
    assert_eq!(p.wait().await.unwrap(), 0);

    // With a TTY: a pty, resizable.
    let script: Vec<String> = ["sh", "-c", "sleep 0.5; tty; stty size; exit 7"].iter().map(|s| s.to_string()).collect();
    let mut p = pod.rt.exec_streaming("long", &script, &[], true, true).await.unwrap();
    p.resize_handle().unwrap().unwrap().resize(100, 40).unwrap();
    let Some(ExecStdio::Tty { master }) = p.stdio.take() else { panic!("tty") };
    let output = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::from(master);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        // EIO once the last slave closes.
        while let Ok(n) = f.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
    .await
    .unwrap();
    assert_eq!(p.wait().await.unwrap(), 7);
    assert!(output.contains("/dev/pts/"), "{output:?}");
    assert!(output.contains("40 100"), "{output:?}");
    pod.rt.kill("long", "KILL", false).await.unwrap();
}

#[tokio::test]
async fn runtime_default_seccomp_applies_compiled_or_cached() {
    if !is_root() {
        return;
    }
    let mut pod = Pod::new(None, PodResources::default());
    // unshare(CLONE_NEWUSER) needs no capability: only the filter stops it.
    let script = "grep Seccomp: /proc/self/status; unshare -U true 2>/dev/null && echo userns-ok || echo userns-denied";
    let mut c = config(&["sh", "-c", script]);
    c.security.seccomp = SeccompProfile::RuntimeDefault;
    for id in ["sc1", "sc2"] {
        let mut spec = build_spec(&pod.sandbox(), &c, &pod.rootfs, root_user(), &pod.cgroups_path(id), 20_000).unwrap();
        let cached = pod.rt.use_cached_seccomp(&mut spec);
        if pod.rt.name == "crun" {
            // The second container reuses the filter crun compiled for the first.
            assert_eq!(cached, id == "sc2");
        }
        let (code, out, err) = pod.run_spec(id, &spec).await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            ["Seccomp:", "2", "userns-denied"],
            "filter mode: {out}"
        );
        pod.rt.remember_seccomp(id, &spec);
    }
    // Unconfined has no filter.
    let (_, out, _) = pod.run("sc3", &config(&["sh", "-c", script]), root_user()).await;
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["Seccomp:", "0", "userns-ok"]);
}

#[tokio::test]
async fn startup_cost_against_a_bare_run() {
    if !is_root() {
        return;
    }
    let mut pod = Pod::new(None, PodResources::default());
    const N: u32 = 5;
    let spec =
        build_spec(&pod.sandbox(), &config(&["true"]), &pod.rootfs, root_user(), &pod.cgroups_path("bare"), 20_000)
            .unwrap();
    let bundle = pod.dir.path().join("bundle-bare");
    write_bundle(&bundle, &spec).unwrap();
    let t = Instant::now();
    for i in 0..N {
        let id = format!("bare{i}");
        let out = pod.rt.command().args(["run", "--bundle"]).arg(&bundle).arg(&id).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        pod.rt.command().args(["delete", "--force", &id]).output().unwrap();
    }
    let mut report = vec![format!("{} run of /bin/true + delete: {:?}", pod.rt.name, t.elapsed() / N)];
    for (tag, seccomp, cache) in [
        ("unconfined", SeccompProfile::Unconfined, false),
        ("RuntimeDefault, compiled by the runtime", SeccompProfile::RuntimeDefault, false),
        ("RuntimeDefault, cached BPF", SeccompProfile::RuntimeDefault, true),
    ] {
        let mut c = config(&["true"]);
        c.security.seccomp = seccomp;
        let t = Instant::now();
        for i in 0..N {
            let id = format!("{}{i}", tag.len() + cache as usize);
            let mut spec =
                build_spec(&pod.sandbox(), &c, &pod.rootfs, root_user(), &pod.cgroups_path(&id), 20_000).unwrap();
            if cache {
                pod.rt.use_cached_seccomp(&mut spec);
            }
            let (code, _, err) = pod.run_spec(&id, &spec).await;
            assert_eq!(code, 0, "{err}");
            if cache {
                pod.rt.remember_seccomp(&id, &spec);
            }
            pod.rt.delete(&id, false).await.unwrap();
        }
        report.push(format!("build_spec + create + start + wait + delete ({tag}): {:?}", t.elapsed() / N));
    }
    eprintln!("{}", report.join("\n"));
}
