//! Builds the runtime-spec `config.json` of one container from the agent's
//! [`ContainerConfig`], as containerd's CRI plugin does for the kubelet: the Docker default
//! capability set with `add`/`drop` (and `ALL`), the default mounts, containerd's masked and
//! read-only `/proc` paths, namespaces shared with the pod sandbox, resources with a
//! `cgroupsPath`, rlimits, sysctls and the seccomp profile.
//!
//! Everything here is pure except reading a `Localhost` seccomp profile and, for privileged
//! containers, listing the host's `/dev`. It never runs the OCI runtime.

use super::runtime_spec::{
    Capabilities, Cpu, Device, DeviceCgroup, Linux, Memory, Mount, Namespace, OCI_VERSION, Process, Resources, Rlimit,
    Root, Spec, User,
};
use super::{ContainerError, ResolvedUser, io_err, seccomp};
use agent::runtime::{ContainerConfig, SeccompProfile};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What the containers of one pod share, as the sandbox (the per-pod shim) holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxInfo {
    /// The pod's hostname (the UTS name containers see).
    pub hostname: String,
    /// The pod's network namespace; `None` is `hostNetwork: true`, which also means the host's
    /// UTS namespace (as in Kubernetes) unless `uts_ns_path` says otherwise.
    pub netns_path: Option<PathBuf>,
    /// `/proc/<shim pid>/ns/ipc`; `None` gives the container its own IPC namespace.
    pub ipc_ns_path: Option<PathBuf>,
    /// `/proc/<shim pid>/ns/uts`; `None` gives the container its own (with `hostname`).
    pub uts_ns_path: Option<PathBuf>,
    /// The pod's `/dev/shm` on the host, bind-mounted into every container; `None` gives each
    /// container its own tmpfs.
    pub shm_path: Option<PathBuf>,
}

/// Docker's (and containerd's) default capability set.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
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
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux defines, in number order (`CAP_CHOWN` = 0 ...
/// `CAP_CHECKPOINT_RESTORE` = 40).
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// containerd's default masked paths (`oci.populateDefaultUnixSpec`).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/scsi",
];

/// containerd's default read-only paths.
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

pub const DEFAULT_PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The open-files limit containers get when the agent's own hard limit allows it (containerd
/// under systemd's `LimitNOFILE=infinity`).
pub const DEFAULT_NOFILE: u64 = 1_048_576;

/// The spec of one container. `cgroups_path` is the container's cgroup (relative to each
/// hierarchy's root, e.g. `peapod/pod<uid>/<container id>`); `rlimit_nofile_max` is the
/// agent's own hard `RLIMIT_NOFILE`, which the container's may not exceed (raising it needs
/// `CAP_SYS_RESOURCE`).
pub fn build_spec(
    sandbox: &SandboxInfo,
    config: &ContainerConfig,
    rootfs: &Path,
    user: ResolvedUser,
    cgroups_path: &str,
    rlimit_nofile_max: u64,
) -> Result<Spec, ContainerError> {
    let sec = &config.security;
    if config.args.is_empty() {
        return Err(ContainerError::Invalid("no command specified".into()));
    }
    let caps = capabilities(sec.privileged, &sec.capabilities_add, &sec.capabilities_drop)?;
    let seccomp = match (&sec.seccomp, sec.privileged) {
        // containerd leaves privileged containers unconfined, whatever the profile says.
        (_, true) | (SeccompProfile::Unconfined, _) => None,
        (SeccompProfile::RuntimeDefault, false) => Some(seccomp::runtime_default(&caps)),
        (SeccompProfile::Localhost(path), false) => Some(load_localhost_profile(path)?),
    };
    let nofile = DEFAULT_NOFILE.min(rlimit_nofile_max);

    let process = Process {
        terminal: config.tty,
        console_size: None,
        user: User { uid: user.uid, gid: user.gid, additional_gids: user.additional_gids },
        args: config.args.clone(),
        env: environment(&sandbox.hostname, &config.env),
        cwd: config
            .working_dir
            .clone()
            .or_else(|| config.image.config.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".to_string()),
        capabilities: Some(Capabilities { bounding: caps.clone(), effective: caps.clone(), permitted: caps }),
        rlimits: vec![Rlimit { kind: "RLIMIT_NOFILE".into(), hard: nofile, soft: nofile }],
        no_new_privileges: !sec.allow_privilege_escalation,
        oom_score_adj: Some(config.resources.oom_score_adj),
    };

    let mut namespaces = vec![ns("pid", None), ns("mount", None)];
    let mut hostname = None;
    if let Some(p) = &sandbox.netns_path {
        namespaces.push(ns("network", Some(p)));
    }
    namespaces.push(ns("ipc", sandbox.ipc_ns_path.as_deref()));
    match (&sandbox.uts_ns_path, &sandbox.netns_path) {
        (Some(p), _) => namespaces.push(ns("uts", Some(p))),
        (None, Some(_)) => {
            namespaces.push(ns("uts", None));
            hostname = Some(sandbox.hostname.clone());
        }
        // hostNetwork: the host's UTS namespace, whose name must not be changed.
        (None, None) => {}
    }

    let unmasked = sec.privileged || sec.unmasked_proc;
    let r = &config.resources;
    let cpu = Cpu {
        shares: (r.cpu_shares > 0).then_some(r.cpu_shares),
        quota: r.cpu_quota.filter(|q| *q > 0),
        period: r.cpu_quota.filter(|q| *q > 0).map(|_| if r.cpu_period > 0 { r.cpu_period } else { 100_000 }),
    };
    let memory = r.memory_limit_bytes.filter(|m| *m > 0).map(|limit| Memory {
        limit: Some(limit),
        // No swap: memory+swap equals memory (the kubelet's NoSwap).
        swap: Some(limit),
    });
    let linux = Linux {
        namespaces,
        resources: Some(Resources {
            devices: vec![DeviceCgroup { allow: sec.privileged, access: Some("rwm".into()), ..Default::default() }],
            memory,
            cpu: (cpu != Cpu::default()).then_some(cpu),
        }),
        cgroups_path: Some(cgroups_path.to_string()),
        sysctl: sec.sysctls.clone(),
        seccomp,
        masked_paths: if unmasked { vec![] } else { MASKED_PATHS.iter().map(|s| s.to_string()).collect() },
        readonly_paths: if unmasked { vec![] } else { READONLY_PATHS.iter().map(|s| s.to_string()).collect() },
        devices: if sec.privileged { host_devices().to_vec() } else { vec![] },
    };

    Ok(Spec {
        oci_version: OCI_VERSION.to_string(),
        process,
        root: Root { path: rootfs.to_string_lossy().into_owned(), readonly: sec.read_only_root_filesystem },
        hostname,
        mounts: mounts(sandbox, config),
        linux,
        annotations: Default::default(),
    })
}

/// Writes `dir/config.json` (atomically: a reader never sees half a file).
pub fn write_bundle(dir: &Path, spec: &Spec) -> Result<(), ContainerError> {
    fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
    let bytes = serde_json::to_vec(spec)
        .map_err(|source| ContainerError::Json { context: "encode config.json".into(), source })?;
    let tmp = dir.join(".config.json.tmp");
    fs::write(&tmp, bytes).map_err(io_err(format!("write {}", tmp.display())))?;
    let dst = dir.join("config.json");
    fs::rename(&tmp, &dst).map_err(io_err(format!("rename to {}", dst.display())))
}

fn ns(kind: &str, path: Option<&Path>) -> Namespace {
    Namespace { kind: kind.to_string(), path: path.map(|p| p.to_string_lossy().into_owned()) }
}

/// `CAP_`-prefixed, upper-case; `None` for names Linux does not define.
fn normalize_capability(name: &str) -> Option<&'static str> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    ALL_CAPABILITIES.iter().copied().find(|c| *c == full)
}

/// The capability set after Kubernetes' `add`/`drop` over the default set: `ALL` in `add`
/// starts from every capability, `ALL` in `drop` from none, then the named ones are added and
/// dropped (so `drop: [ALL], add: [NET_BIND_SERVICE]` keeps exactly that one).
pub fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<String>, ContainerError> {
    if privileged {
        return Ok(supported_capabilities().iter().map(|s| s.to_string()).collect());
    }
    let is_all = |c: &String| c.trim().eq_ignore_ascii_case("ALL");
    let mut caps: Vec<&'static str> = DEFAULT_CAPABILITIES.to_vec();
    if add.iter().any(is_all) {
        caps = supported_capabilities().to_vec();
    }
    if drop.iter().any(is_all) {
        caps.clear();
    }
    for c in add.iter().filter(|c| !is_all(c)) {
        let cap = normalize_capability(c)
            .ok_or_else(|| ContainerError::Invalid(format!("unknown capability {c:?} to add")))?;
        if !caps.contains(&cap) {
            caps.push(cap);
        }
    }
    for c in drop.iter().filter(|c| !is_all(c)) {
        let cap = normalize_capability(c)
            .ok_or_else(|| ContainerError::Invalid(format!("unknown capability {c:?} to drop")))?;
        caps.retain(|x| *x != cap);
    }
    Ok(caps.into_iter().map(String::from).collect())
}

/// The capabilities this kernel knows (`/proc/sys/kernel/cap_last_cap`), which is what "all"
/// means for privileged containers: runtimes refuse names the kernel lacks.
fn supported_capabilities() -> &'static [&'static str] {
    static CAPS: OnceLock<&'static [&'static str]> = OnceLock::new();
    CAPS.get_or_init(|| {
        let last = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(ALL_CAPABILITIES.len() - 1);
        &ALL_CAPABILITIES[..(last + 1).min(ALL_CAPABILITIES.len())]
    })
}

/// `PATH` (unless given), `HOSTNAME`, then the container's environment; a later entry for the
/// same name replaces an earlier one in place.
fn environment(hostname: &str, env: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<(String, String)> =
        vec![("PATH".into(), DEFAULT_PATH_ENV.into()), ("HOSTNAME".into(), hostname.to_string())];
    for (k, v) in env {
        match out.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn mount(dest: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    Mount {
        destination: dest.into(),
        kind: kind.into(),
        source: source.into(),
        options: options.iter().map(|s| s.to_string()).collect(),
    }
}

/// The default mounts (containerd's, without `/run`), then the pod's volume mounts, which
/// replace a default at the same destination (and all of `/dev`'s when one is `/dev`).
fn mounts(sandbox: &SandboxInfo, config: &ContainerConfig) -> Vec<Mount> {
    let privileged = config.security.privileged;
    let ro_unless_privileged = |opts: &[&str]| {
        let mut o: Vec<&str> = opts.to_vec();
        if !privileged {
            o.push("ro");
        }
        o.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let shm = match &sandbox.shm_path {
        Some(p) => mount("/dev/shm", "bind", &p.to_string_lossy(), &["rbind", "rprivate", "rw"]),
        None => mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
    };
    let defaults = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        shm,
        Mount { options: ro_unless_privileged(&["nosuid", "noexec", "nodev"]), ..mount("/sys", "sysfs", "sysfs", &[]) },
        Mount {
            options: ro_unless_privileged(&["nosuid", "noexec", "nodev", "relatime"]),
            ..mount("/sys/fs/cgroup", "cgroup", "cgroup", &[])
        },
    ];
    let clean = |p: &str| p.trim_end_matches('/').to_string();
    let supplied: Vec<String> = config.mounts.iter().map(|m| clean(&m.container_path)).collect();
    let dev_supplied = supplied.iter().any(|d| d == "/dev");
    let mut out: Vec<Mount> = defaults
        .into_iter()
        .filter(|m| !supplied.contains(&m.destination))
        .filter(|m| !(dev_supplied && m.destination.starts_with("/dev/")))
        .collect();
    let mut user_mounts: Vec<Mount> = config
        .mounts
        .iter()
        .map(|m| {
            let dest = clean(&m.container_path);
            let dest = if dest.is_empty() { "/".to_string() } else { dest };
            Mount {
                destination: dest,
                kind: "bind".into(),
                source: m.host_path.to_string_lossy().into_owned(),
                options: vec!["rbind".into(), "rprivate".into(), if m.read_only { "ro" } else { "rw" }.into()],
            }
        })
        .collect();
    // Parents before children, whatever order the pod spec lists them in (stable otherwise).
    user_mounts.sort_by_key(|m| Path::new(&m.destination).components().count());
    out.extend(user_mounts);
    out
}

fn load_localhost_profile(path: &Path) -> Result<serde_json::Value, ContainerError> {
    let bytes = fs::read(path).map_err(io_err(format!("load seccomp profile {}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|source| ContainerError::Json { context: format!("seccomp profile {}", path.display()), source })
}

/// The host's device nodes, which privileged containers get (containerd's `WithHostDevices`).
/// Listed once per process: device nodes rarely come and go on a node.
fn host_devices() -> &'static [Device] {
    static DEVICES: OnceLock<Vec<Device>> = OnceLock::new();
    DEVICES.get_or_init(|| {
        let mut out = Vec::new();
        walk_devices(Path::new("/dev"), &mut out, 0);
        out
    })
}

fn walk_devices(dir: &Path, out: &mut Vec<Device>, depth: usize) {
    const SKIP: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev", "console"];
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        if depth == 0 && SKIP.iter().any(|s| name == *s) {
            continue;
        }
        let path = e.path();
        let Ok(m) = fs::symlink_metadata(&path) else { continue };
        let ft = m.file_type();
        if ft.is_dir() && depth < 8 {
            walk_devices(&path, out, depth + 1);
        } else if ft.is_char_device() || ft.is_block_device() {
            let rdev = m.rdev();
            out.push(Device {
                path: path.to_string_lossy().into_owned(),
                kind: if ft.is_char_device() { "c" } else { "b" }.into(),
                major: libc::major(rdev) as i64,
                minor: libc::minor(rdev) as i64,
                file_mode: Some(m.mode() & 0o7777),
                uid: Some(m.uid()),
                gid: Some(m.gid()),
            });
        }
    }
}
