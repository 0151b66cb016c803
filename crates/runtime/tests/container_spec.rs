//! config.json generation without root: the capability sets Kubernetes' add/drop produce,
//! masked and read-only paths, the RLIMIT_NOFILE clamp, namespaces shared with the sandbox,
//! mounts, environment, resources, seccomp and user resolution feeding the spec.

use agent::runtime::{
    ContainerConfig, ContainerResources, ImageConfig, ImageInfo, Mount, SeccompProfile, SecurityConfig,
};
use runtime::container::runtime_spec::Spec;
use runtime::container::spec::{DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, capabilities};
use runtime::container::{ContainerError, ResolvedUser, SandboxInfo, build_spec, resolve_user, write_bundle};
use std::path::{Path, PathBuf};

fn config() -> ContainerConfig {
    ContainerConfig {
        name: "c".into(),
        attempt: 0,
        image_ref: "busybox".into(),
        image: ImageInfo { config: ImageConfig::default(), ..Default::default() },
        args: vec!["sh".into(), "-c".into(), "true".into()],
        env: vec![],
        working_dir: None,
        tty: false,
        stdin: false,
        stdin_once: false,
        mounts: vec![],
        resources: ContainerResources { cpu_shares: 2, cpu_period: 100_000, ..Default::default() },
        security: SecurityConfig { allow_privilege_escalation: true, ..Default::default() },
        log_path: PathBuf::from("/tmp/log"),
        stop_signal: None,
    }
}

fn sandbox() -> SandboxInfo {
    SandboxInfo {
        hostname: "web-0".into(),
        netns_path: Some("/var/run/netns/pod".into()),
        ipc_ns_path: Some("/proc/42/ns/ipc".into()),
        uts_ns_path: Some("/proc/42/ns/uts".into()),
        shm_path: Some("/run/peapod/pods/u/shm".into()),
    }
}

fn build(c: &ContainerConfig) -> Spec {
    build_spec(&sandbox(), c, Path::new("/rootfs"), ResolvedUser::default(), "/peapod/podu/c1", 20_000).unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn default_capabilities_are_dockers() {
    let spec = build(&config());
    let caps = spec.process.capabilities.unwrap();
    assert_eq!(caps.bounding, strings(DEFAULT_CAPABILITIES));
    assert_eq!(caps.effective, caps.bounding);
    assert_eq!(caps.permitted, caps.bounding);
    assert_eq!(caps.bounding.len(), 14);
}

#[test]
fn capability_add_and_drop() {
    let s = |v: &[&str]| strings(v);
    // Kubernetes names have no CAP_ prefix and any case.
    let caps = capabilities(false, &s(&["NET_ADMIN", "sys_time"]), &s(&["MKNOD", "CAP_NET_RAW"])).unwrap();
    assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
    assert!(caps.contains(&"CAP_SYS_TIME".to_string()));
    assert!(!caps.contains(&"CAP_MKNOD".to_string()));
    assert!(!caps.contains(&"CAP_NET_RAW".to_string()));
    assert_eq!(caps.len(), 14);
    // drop ALL then add one keeps exactly that one.
    assert_eq!(capabilities(false, &s(&["NET_BIND_SERVICE"]), &s(&["ALL"])).unwrap(), s(&["CAP_NET_BIND_SERVICE"]));
    assert!(capabilities(false, &[], &s(&["all"])).unwrap().is_empty());
    // add ALL gives every capability, minus the dropped ones.
    let all = capabilities(false, &s(&["ALL"]), &s(&["SYS_ADMIN"])).unwrap();
    assert!(all.len() > 30);
    assert!(all.contains(&"CAP_SYS_MODULE".to_string()));
    assert!(!all.contains(&"CAP_SYS_ADMIN".to_string()));
    // Adding one already present does not duplicate it.
    assert_eq!(capabilities(false, &s(&["CHOWN"]), &[]).unwrap().len(), 14);
    // Unknown names are errors (the runtime would refuse them anyway).
    assert!(matches!(capabilities(false, &s(&["NOT_A_CAP"]), &[]), Err(ContainerError::Invalid(_))));
    assert!(matches!(capabilities(false, &[], &s(&["BOGUS"])), Err(ContainerError::Invalid(_))));
}

#[test]
fn privileged_gets_everything_and_no_masks() {
    let mut c = config();
    c.security.privileged = true;
    c.security.capabilities_drop = vec!["ALL".into()];
    c.security.seccomp = SeccompProfile::RuntimeDefault;
    let spec = build(&c);
    let caps = spec.process.capabilities.unwrap();
    assert!(caps.bounding.contains(&"CAP_SYS_ADMIN".to_string()));
    assert!(caps.bounding.len() >= 38);
    assert!(spec.linux.masked_paths.is_empty());
    assert!(spec.linux.readonly_paths.is_empty());
    assert!(spec.linux.seccomp.is_none(), "privileged containers are unconfined");
    let devices = &spec.linux.resources.as_ref().unwrap().devices;
    assert!(devices[0].allow && devices[0].access.as_deref() == Some("rwm"));
    // The host's device nodes are there (/dev/null at least), /sys and cgroup are writable.
    assert!(spec.linux.devices.iter().any(|d| d.path == "/dev/null" && d.kind == "c" && d.major == 1 && d.minor == 3));
    let sys = spec.mounts.iter().find(|m| m.destination == "/sys").unwrap();
    assert!(!sys.options.contains(&"ro".to_string()));
    let cg = spec.mounts.iter().find(|m| m.destination == "/sys/fs/cgroup").unwrap();
    assert!(!cg.options.contains(&"ro".to_string()));
}

#[test]
fn masked_and_readonly_paths() {
    let spec = build(&config());
    assert_eq!(spec.linux.masked_paths, strings(MASKED_PATHS));
    assert!(spec.linux.masked_paths.contains(&"/proc/kcore".to_string()));
    assert_eq!(spec.linux.readonly_paths, strings(READONLY_PATHS));
    let devices = &spec.linux.resources.as_ref().unwrap().devices;
    assert!(!devices[0].allow, "unprivileged containers start from deny-all devices");
    assert!(spec.linux.devices.is_empty());
    let sys = spec.mounts.iter().find(|m| m.destination == "/sys").unwrap();
    assert!(sys.options.contains(&"ro".to_string()));
    // procMount: Unmasked.
    let mut c = config();
    c.security.unmasked_proc = true;
    let spec = build(&c);
    assert!(spec.linux.masked_paths.is_empty() && spec.linux.readonly_paths.is_empty());
}

#[test]
fn rlimit_nofile_never_exceeds_the_agents_hard_limit() {
    let c = config();
    let spec = build_spec(&sandbox(), &c, Path::new("/r"), ResolvedUser::default(), "/p", 20_000).unwrap();
    let nofile = spec.process.rlimits.iter().find(|r| r.kind == "RLIMIT_NOFILE").unwrap();
    assert_eq!((nofile.soft, nofile.hard), (20_000, 20_000));
    let spec = build_spec(&sandbox(), &c, Path::new("/r"), ResolvedUser::default(), "/p", u64::MAX).unwrap();
    let nofile = spec.process.rlimits.iter().find(|r| r.kind == "RLIMIT_NOFILE").unwrap();
    assert_eq!((nofile.soft, nofile.hard), (1_048_576, 1_048_576));
}

#[test]
fn namespaces_join_the_sandbox() {
    let spec = build(&config());
    let ns: Vec<(String, Option<String>)> =
        spec.linux.namespaces.iter().map(|n| (n.kind.clone(), n.path.clone())).collect();
    assert!(ns.contains(&("pid".into(), None)));
    assert!(ns.contains(&("mount".into(), None)));
    assert!(ns.contains(&("network".into(), Some("/var/run/netns/pod".into()))));
    assert!(ns.contains(&("ipc".into(), Some("/proc/42/ns/ipc".into()))));
    assert!(ns.contains(&("uts".into(), Some("/proc/42/ns/uts".into()))));
    // The joined UTS namespace already carries the hostname.
    assert_eq!(spec.hostname, None);
    assert_eq!(spec.linux.cgroups_path.as_deref(), Some("/peapod/podu/c1"));

    // Own UTS namespace: the hostname is set.
    let mut sb = sandbox();
    sb.uts_ns_path = None;
    sb.ipc_ns_path = None;
    let spec = build_spec(&sb, &config(), Path::new("/r"), ResolvedUser::default(), "/p", 1024).unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("web-0"));
    assert!(spec.linux.namespaces.iter().any(|n| n.kind == "ipc" && n.path.is_none()));
    // hostNetwork: no network namespace, the host's UTS (its name untouched).
    sb.netns_path = None;
    let spec = build_spec(&sb, &config(), Path::new("/r"), ResolvedUser::default(), "/p", 1024).unwrap();
    assert!(!spec.linux.namespaces.iter().any(|n| n.kind == "network" || n.kind == "uts"));
    assert_eq!(spec.hostname, None);
}

#[test]
fn mounts_defaults_shm_and_volumes() {
    let mut c = config();
    c.mounts = vec![
        Mount { container_path: "/data/sub".into(), host_path: "/vol/b".into(), read_only: false },
        Mount { container_path: "/data".into(), host_path: "/vol/a".into(), read_only: true },
        Mount { container_path: "/dev/mqueue".into(), host_path: "/vol/mq".into(), read_only: false },
    ];
    let spec = build(&c);
    let dests: Vec<&str> = spec.mounts.iter().map(|m| m.destination.as_str()).collect();
    for d in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/sys", "/sys/fs/cgroup", "/data", "/data/sub"] {
        assert!(dests.contains(&d), "{d} missing from {dests:?}");
    }
    // A volume at a default destination replaces the default.
    assert_eq!(dests.iter().filter(|d| **d == "/dev/mqueue").count(), 1);
    let mq = spec.mounts.iter().find(|m| m.destination == "/dev/mqueue").unwrap();
    assert_eq!(mq.kind, "bind");
    // Parents before children.
    let pos = |d: &str| dests.iter().position(|x| *x == d).unwrap();
    assert!(pos("/data") < pos("/data/sub"));
    let data = spec.mounts.iter().find(|m| m.destination == "/data").unwrap();
    assert_eq!((data.kind.as_str(), data.source.as_str()), ("bind", "/vol/a"));
    assert!(data.options.contains(&"rbind".to_string()) && data.options.contains(&"ro".to_string()));
    let sub = spec.mounts.iter().find(|m| m.destination == "/data/sub").unwrap();
    assert!(sub.options.contains(&"rw".to_string()));
    // The pod's shared /dev/shm.
    let shm = spec.mounts.iter().find(|m| m.destination == "/dev/shm").unwrap();
    assert_eq!((shm.kind.as_str(), shm.source.as_str()), ("bind", "/run/peapod/pods/u/shm"));
    let cg = spec.mounts.iter().find(|m| m.destination == "/sys/fs/cgroup").unwrap();
    assert_eq!(cg.kind, "cgroup");
    assert!(cg.options.contains(&"ro".to_string()));
    // Without a pod shm, a private tmpfs.
    let mut sb = sandbox();
    sb.shm_path = None;
    let spec = build_spec(&sb, &config(), Path::new("/r"), ResolvedUser::default(), "/p", 1024).unwrap();
    let shm = spec.mounts.iter().find(|m| m.destination == "/dev/shm").unwrap();
    assert_eq!(shm.kind, "tmpfs");
}

#[test]
fn process_fields() {
    let mut c = config();
    c.env = vec![("A".into(), "1".into()), ("PATH".into(), "/bin".into()), ("A".into(), "2".into())];
    c.tty = true;
    c.security.allow_privilege_escalation = false;
    c.security.read_only_root_filesystem = true;
    c.resources.oom_score_adj = 1000;
    c.security.sysctls.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
    let user = ResolvedUser { uid: 1000, gid: 3000, additional_gids: vec![3000, 2000] };
    let spec = build_spec(&sandbox(), &c, Path::new("/rootfs"), user, "/p", 1024).unwrap();
    assert_eq!(spec.process.env, strings(&["PATH=/bin", "HOSTNAME=web-0", "A=2"]));
    assert_eq!(spec.process.cwd, "/");
    assert!(spec.process.terminal);
    assert!(spec.process.no_new_privileges);
    assert!(spec.root.readonly);
    assert_eq!(spec.root.path, "/rootfs");
    assert_eq!(spec.process.oom_score_adj, Some(1000));
    assert_eq!((spec.process.user.uid, spec.process.user.gid), (1000, 3000));
    assert_eq!(spec.process.user.additional_gids, vec![3000, 2000]);
    assert_eq!(spec.linux.sysctl.get("net.ipv4.ip_unprivileged_port_start").map(String::as_str), Some("0"));
    // Default PATH when none is given; the working dir from the container, else the image.
    let mut c = config();
    c.image.config.working_dir = Some("/srv".into());
    let spec = build(&c);
    assert_eq!(spec.process.env[0], format!("PATH={}", runtime::container::spec::DEFAULT_PATH_ENV));
    assert_eq!(spec.process.cwd, "/srv");
    assert!(!spec.process.no_new_privileges);
    c.working_dir = Some("/work".into());
    assert_eq!(build(&c).process.cwd, "/work");
    // No command is an error, not a panic.
    c.args.clear();
    assert!(build_spec(&sandbox(), &c, Path::new("/r"), ResolvedUser::default(), "/p", 1024).is_err());
}

#[test]
fn resources_and_cgroups_path() {
    let mut c = config();
    c.resources = ContainerResources {
        cpu_shares: 512,
        cpu_quota: Some(50_000),
        cpu_period: 100_000,
        memory_limit_bytes: Some(20 << 20),
        oom_score_adj: -997,
    };
    let spec = build(&c);
    let r = spec.linux.resources.unwrap();
    let cpu = r.cpu.unwrap();
    assert_eq!((cpu.shares, cpu.quota, cpu.period), (Some(512), Some(50_000), Some(100_000)));
    let mem = r.memory.unwrap();
    assert_eq!((mem.limit, mem.swap), (Some(20 << 20), Some(20 << 20)));
    // No limits: no memory section, no quota.
    let spec = build(&config());
    let r = spec.linux.resources.unwrap();
    assert!(r.memory.is_none());
    assert_eq!(r.cpu.unwrap().quota, None);
}

#[test]
fn seccomp_profiles() {
    let mut c = config();
    assert!(build(&c).linux.seccomp.is_none());
    c.security.seccomp = SeccompProfile::RuntimeDefault;
    let spec = build(&c);
    let sc = spec.linux.seccomp.unwrap();
    assert_eq!(sc["defaultAction"], "SCMP_ACT_ERRNO");
    // Localhost: the file's profile, verbatim; a missing file is an error.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.json");
    std::fs::write(&p, r#"{"defaultAction":"SCMP_ACT_LOG"}"#).unwrap();
    c.security.seccomp = SeccompProfile::Localhost(p);
    assert_eq!(build(&c).linux.seccomp.unwrap()["defaultAction"], "SCMP_ACT_LOG");
    c.security.seccomp = SeccompProfile::Localhost(dir.path().join("absent.json"));
    assert!(build_spec(&sandbox(), &c, Path::new("/r"), ResolvedUser::default(), "/p", 1024).is_err());
}

#[test]
fn bundle_round_trips_and_user_resolution_feeds_it() {
    let rootfs = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(rootfs.path().join("etc")).unwrap();
    std::fs::write(rootfs.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/:/bin/sh\n").unwrap();
    std::fs::write(rootfs.path().join("etc/group"), "root:x:0:\nweb:x:33:\nlogs:x:4:web\n").unwrap();
    let user = resolve_user(rootfs.path(), Some("web"), None, None, &[1234]).unwrap();
    assert_eq!(user, ResolvedUser { uid: 33, gid: 33, additional_gids: vec![33, 4, 1234] });
    let spec = build_spec(&sandbox(), &config(), rootfs.path(), user, "/p", 1024).unwrap();
    let bundle = tempfile::tempdir().unwrap();
    write_bundle(bundle.path(), &spec).unwrap();
    let back: Spec = serde_json::from_slice(&std::fs::read(bundle.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(back, spec);
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.path().join("config.json")).unwrap()).unwrap();
    // Field names as the runtime-spec spells them.
    assert_eq!(raw["ociVersion"], "1.0.2");
    assert_eq!(raw["process"]["user"]["additionalGids"], serde_json::json!([33, 4, 1234]));
    assert_eq!(raw["process"]["noNewPrivileges"], false);
    assert_eq!(raw["linux"]["cgroupsPath"], "/p");
    assert_eq!(raw["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
}
