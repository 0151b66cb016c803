//! The `RuntimeDefault` seccomp profile: the Docker/containerd default profile (deny with
//! EPERM, allow a list of ordinary syscalls, open more syscalls for the capabilities the
//! container holds), in the runtime-spec `linux.seccomp` shape.
//!
//! The capability-independent part is built once per process ([`OnceLock`]) and cloned per
//! container; only the few capability-gated groups are appended per container.
//!
//! crun compiles the JSON profile into BPF with libseccomp on every create (about 40-70 ms
//! here; its own on-disk cache does not take effect in 1.8). It also accepts an already
//! compiled filter in the `run.oci.seccomp_bpf_data` annotation, which skips the compile:
//! [`BpfCache`] keeps, per process, the filter crun compiled the first time a profile was
//! used (it leaves it in its state directory as `seccomp.bpf`). runc ignores the annotation
//! and uses `linux.seccomp`, which stays in the spec either way. Nothing here does IO.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// crun's annotation for a precompiled seccomp filter (base64 of the BPF program).
pub const BPF_ANNOTATION: &str = "run.oci.seccomp_bpf_data";

/// Compiled filters by profile, shared by the whole process.
pub struct BpfCache;

impl BpfCache {
    fn map() -> &'static Mutex<HashMap<String, String>> {
        static MAP: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
        MAP.get_or_init(Default::default)
    }

    /// The cache key of a profile: sha256 of its JSON, with the runtime's version (the
    /// filter is libseccomp's output and could change with it).
    pub fn key(profile: &Value, runtime_version: &str) -> String {
        let mut h = Sha256::new();
        h.update(runtime_version.as_bytes());
        h.update(profile.to_string().as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The base64 filter for `key`, if one was stored.
    pub fn get(key: &str) -> Option<String> {
        Self::map().lock().ok()?.get(key).cloned()
    }

    /// Stores the compiled filter (raw BPF bytes) for `key`; empty input is ignored.
    pub fn put(key: &str, bpf: &[u8]) {
        if bpf.is_empty() || !bpf.len().is_multiple_of(8) {
            return; // Not a whole number of `struct sock_filter`: not a filter.
        }
        if let Ok(mut m) = Self::map().lock() {
            m.insert(key.to_string(), base64::engine::general_purpose::STANDARD.encode(bpf));
        }
    }
}

/// Syscalls every container may make (x86-64 and its 32-bit personalities).
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // x86-64 only.
    "arch_prctl",
    "modify_ldt",
    // ptrace is safe to allow on kernels >= 4.8 (seccomp is re-checked after the tracer).
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
];

/// Syscalls opened by one capability in the bounding set, as the Docker profile gates them.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

const CLONE_NS_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

fn allow(names: &[&str]) -> Value {
    json!({"names": names, "action": "SCMP_ACT_ALLOW"})
}

fn allow_if_arg(name: &str, index: u32, value: u64, op: &str) -> Value {
    json!({"names": [name], "action": "SCMP_ACT_ALLOW", "args": [{"index": index, "value": value, "valueTwo": 0, "op": op}]})
}

/// The capability-independent part, built once.
fn base() -> &'static Value {
    static BASE: OnceLock<Value> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut rules = vec![allow(ALLOWED)];
        // personality(2): only the Linux personalities (PER_LINUX, PER_LINUX32, the query).
        for persona in [0x0u64, 0x0008, 0x20000, 0x20008, 0xffff_ffff] {
            rules.push(allow_if_arg("personality", 0, persona, "SCMP_CMP_EQ"));
        }
        // socket(2): every family but AF_VSOCK (40), as Docker's profile does.
        rules.push(allow_if_arg("socket", 0, 40, "SCMP_CMP_NE"));
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": libc::EPERM,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": rules,
        })
    })
}

/// The default profile for a container whose bounding set is `bounding` (`CAP_*` names).
pub fn runtime_default(bounding: &[String]) -> Value {
    let mut profile = base().clone();
    let has = |cap: &str| bounding.iter().any(|c| c == cap);
    let mut extra: Vec<Value> = Vec::new();
    for (cap, names) in BY_CAPABILITY {
        if has(cap) {
            extra.push(allow(names));
        }
    }
    if !has("CAP_SYS_ADMIN") {
        // clone(2) without namespace flags only; clone3(2) cannot be filtered on its flags
        // (they are behind a pointer), so it fails with ENOSYS and libcs fall back to clone.
        extra.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": CLONE_NS_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}));
        extra.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}));
    }
    if let Some(Value::Array(rules)) = profile.get_mut("syscalls") {
        rules.extend(extra);
    }
    profile
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_with(profile: &Value, action: &str) -> Vec<String> {
        let mut out = Vec::new();
        for rule in profile["syscalls"].as_array().into_iter().flatten() {
            if rule["action"] == action && rule.get("args").is_none() {
                for n in rule["names"].as_array().into_iter().flatten() {
                    out.push(n.as_str().unwrap_or_default().to_string());
                }
            }
        }
        out
    }

    #[test]
    fn default_profile_denies_with_eperm_and_gates_admin_syscalls() {
        let p = runtime_default(&["CAP_CHOWN".to_string()]);
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 1);
        let allowed = names_with(&p, "SCMP_ACT_ALLOW");
        assert!(allowed.contains(&"read".to_string()));
        for denied in ["mount", "unshare", "setns", "reboot", "chroot", "bpf", "kexec_load", "keyctl"] {
            assert!(!allowed.contains(&denied.to_string()), "{denied} allowed");
        }
        // clone3 answers ENOSYS so that glibc falls back to clone.
        let clone3 = p["syscalls"].as_array().unwrap().iter().find(|r| r["names"][0] == "clone3").unwrap();
        assert_eq!(clone3["errnoRet"], 38);
    }

    #[test]
    fn capabilities_open_their_syscalls() {
        let p = runtime_default(&["CAP_SYS_ADMIN".to_string(), "CAP_SYS_CHROOT".to_string()]);
        let allowed = names_with(&p, "SCMP_ACT_ALLOW");
        for name in ["mount", "unshare", "clone", "clone3", "chroot"] {
            assert!(allowed.contains(&name.to_string()), "{name} not allowed");
        }
        assert!(!p["syscalls"].as_array().unwrap().iter().any(|r| r["action"] == "SCMP_ACT_ERRNO"));
    }

    #[test]
    fn bpf_cache_keys_by_profile_and_version() {
        let a = runtime_default(&["CAP_CHOWN".to_string()]);
        let b = runtime_default(&["CAP_SYS_ADMIN".to_string()]);
        let ka = BpfCache::key(&a, "1.8.1");
        assert_eq!(ka, BpfCache::key(&a, "1.8.1"));
        assert_ne!(ka, BpfCache::key(&b, "1.8.1"));
        assert_ne!(ka, BpfCache::key(&a, "1.9"));
        assert_eq!(BpfCache::get(&ka), None);
        BpfCache::put(&ka, &[1, 2, 3]);
        assert_eq!(BpfCache::get(&ka), None, "not a whole number of instructions");
        BpfCache::put(&ka, &[0u8; 16]);
        assert_eq!(BpfCache::get(&ka).as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAA=="));
    }

    #[test]
    fn base_is_shared_between_calls() {
        assert!(std::ptr::eq(base(), base()));
    }
}
