//! The quick-start images (images/stage.sh + `build_oci_archive`, as scripts/build-images.sh
//! makes them) import, unpack, and run as OCI bundles: busybox `echo hello` prints, nginx
//! answers HTTP on port 80 inside a network namespace this test creates.
//! Needs root, busybox-static, nginx, crun or runc, iproute2 and curl
//! (scripts/install-test-deps.sh). Skips only when not root.

use runtime::image::ImageStore;
use runtime::image::build::{BuildSpec, build_oci_archive};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// Builds both images the way scripts/build-images.sh does, into `dir`.
fn build_images(dir: &Path) -> (PathBuf, PathBuf) {
    let stage = dir.join("rootfs");
    let out = run(Command::new("bash").arg(repo().join("images/stage.sh")).arg(&stage));
    assert!(out.status.success(), "stage.sh: {}", String::from_utf8_lossy(&out.stderr));
    let mut tars = Vec::new();
    for name in ["busybox", "nginx"] {
        let spec: BuildSpec =
            serde_json::from_slice(&std::fs::read(repo().join(format!("images/{name}.json"))).unwrap()).unwrap();
        let tar = dir.join(format!("{name}.tar"));
        build_oci_archive(&stage.join(name), &spec, &tar).unwrap();
        tars.push(tar);
    }
    (tars[0].clone(), tars[1].clone())
}

/// The OCI runtime to use: crun unless it refuses this host (cgroup v1/v2 hybrid), else runc.
fn oci_runtime(state: &Path, bundle: &Path) -> &'static str {
    for rt in ["crun", "runc"] {
        if Command::new(rt).arg("--version").output().is_ok_and(|o| o.status.success()) {
            // Probe: `crun` 1.8 fails on hybrid hosts at create time; try a throwaway run.
            let out = run(Command::new(rt).arg("--root").arg(state).args(["run", "--bundle"]).arg(bundle).arg("probe"));
            let _ = Command::new(rt).arg("--root").arg(state).args(["delete", "-f", "probe"]).output();
            if out.status.success() {
                return rt;
            }
            eprintln!("{rt} cannot run here: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    panic!("neither crun nor runc can run containers here (scripts/install-test-deps.sh installs them)");
}

/// A minimal runtime spec (what the agent's bundle writer will produce, in spirit).
fn write_bundle(bundle: &Path, rootfs: &Path, args: &[String], env: &[String], netns: Option<&str>) {
    std::fs::create_dir_all(bundle).unwrap();
    let caps = serde_json::json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    let mut namespaces = vec![
        serde_json::json!({"type":"pid"}),
        serde_json::json!({"type":"ipc"}),
        serde_json::json!({"type":"uts"}),
        serde_json::json!({"type":"mount"}),
    ];
    namespaces.push(match netns {
        Some(p) => serde_json::json!({"type":"network","path":p}),
        None => serde_json::json!({"type":"network"}),
    });
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false, "user": {"uid": 0, "gid": 0}, "args": args, "env": env, "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": "test",
        "mounts": [
            {"destination":"/proc","type":"proc","source":"proc"},
            {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
            {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]},
            {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
            {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]}
        ],
        "linux": {"namespaces": namespaces, "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]}
    });
    std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
}

/// Removes what the test created even when an assertion fails.
struct Cleanup {
    store: ImageStore,
    runtime: Option<(&'static str, PathBuf)>,
    containers: Vec<String>,
    netns: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some((rt, state)) = &self.runtime {
            for c in &self.containers {
                let _ = Command::new(rt).arg("--root").arg(state).args(["kill", c, "KILL"]).output();
                std::thread::sleep(Duration::from_millis(100));
                let _ = Command::new(rt).arg("--root").arg(state).args(["delete", "-f", c]).output();
            }
        }
        for c in &self.containers {
            let _ = self.store.remove_rootfs(c);
        }
        if let Some(ns) = &self.netns {
            let _ = Command::new("ip").args(["netns", "delete", ns]).output();
        }
    }
}

#[test]
fn busybox_and_nginx_run_as_oci_bundles() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: needs root (mounts, namespaces, OCI runtime)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (busybox_tar, nginx_tar) = build_images(tmp.path());
    let store = ImageStore::open(&tmp.path().join("data")).unwrap();
    let t = Instant::now();
    let bb = store.import_file(&busybox_tar).unwrap();
    eprintln!("busybox import: {:?}", t.elapsed());
    let ngx = store.import_file(&nginx_tar).unwrap();
    assert_eq!(bb[0].name, "docker.io/library/busybox:latest");
    assert_eq!(ngx[0].name, "docker.io/library/nginx:latest");
    let bb_cfg = store.config(&bb[0]).unwrap().config;
    assert_eq!(bb_cfg.cmd, Some(vec!["sh".to_string()]));
    let env = bb_cfg.env.clone().unwrap();
    assert_eq!(env, vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()]);

    let state = tmp.path().join("runtime-state");
    let ns = format!("peapod-test-{}", std::process::id());
    let mut cleanup = Cleanup { store: store.clone(), runtime: None, containers: vec![], netns: None };

    // busybox: echo hello.
    cleanup.containers.push("bb".into());
    let rootfs = store.prepare_rootfs("bb", &bb[0]).unwrap();
    let bundle = tmp.path().join("bundle-bb");
    write_bundle(&bundle, &rootfs, &["true".into()], &env, None);
    let rt = oci_runtime(&state, &bundle);
    cleanup.runtime = Some((rt, state.clone()));
    write_bundle(&bundle, &rootfs, &["echo".into(), "hello".into()], &env, None);
    let out = run(Command::new(rt).arg("--root").arg(&state).args(["run", "--bundle"]).arg(&bundle).arg("bb"));
    assert!(out.status.success(), "{rt} run busybox: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    let _ = Command::new(rt).arg("--root").arg(&state).args(["delete", "-f", "bb"]).output();

    // nginx in a network namespace of ours.
    let out = run(Command::new("ip").args(["netns", "add", &ns]));
    assert!(out.status.success(), "ip netns add: {}", String::from_utf8_lossy(&out.stderr));
    cleanup.netns = Some(ns.clone());
    assert!(run(Command::new("ip").args(["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])).status.success());
    cleanup.containers.push("ngx".into());
    let rootfs = store.prepare_rootfs("ngx", &ngx[0]).unwrap();
    let ncfg = store.config(&ngx[0]).unwrap().config;
    let bundle = tmp.path().join("bundle-ngx");
    let nsp = format!("/var/run/netns/{ns}");
    write_bundle(&bundle, &rootfs, &ncfg.cmd.clone().unwrap(), &ncfg.env.clone().unwrap(), Some(&nsp));
    let log = std::fs::File::create(tmp.path().join("nginx.log")).unwrap();
    let out = run(Command::new(rt)
        .arg("--root")
        .arg(&state)
        .args(["run", "-d", "--bundle"])
        .arg(&bundle)
        .arg("ngx")
        .stdout(log.try_clone().unwrap())
        .stderr(log));
    assert!(
        out.status.success(),
        "{rt} run -d nginx failed: {}",
        std::fs::read_to_string(tmp.path().join("nginx.log")).unwrap_or_default()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let out = run(Command::new("ip").args([
            "netns",
            "exec",
            &ns,
            "curl",
            "-sf",
            "--max-time",
            "2",
            "http://127.0.0.1:80/",
        ]));
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "nginx did not answer: {}",
            std::fs::read_to_string(tmp.path().join("nginx.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body.contains("Welcome to nginx!"), "{body}");
    drop(cleanup);
    assert!(!Path::new(&nsp).exists());
}
