//! The OCI runtime binary (crun or runc) and thin async wrappers over the CLI both share:
//! `create`, `start`, `kill`, `delete`, `state` (exec lives in `exec`).
//!
//! Detection prefers crun (about twice as fast to start a container as runc here). crun 1.8
//! refuses hybrid cgroup hosts whose cgroup2 hierarchy still holds a controller ("cgroups in
//! hybrid mode not supported"); on such hosts the controller left in cgroup2 is normally
//! `hugetlb`, and mounting a v1 `hugetlb` hierarchy at `/sys/fs/cgroup/hugetlb` (what systemd
//! does) moves it out. The probe inspects the mounts and `cgroup.controllers` instead of
//! running a throwaway container: that is the exact condition crun checks, it costs two file
//! reads instead of a 20 ms container start, and it needs no root filesystem. If crun is
//! missing or still refuses, runc (which runs hybrid hosts as they are) is used.

use super::runtime_spec::Spec;
use super::seccomp::{BPF_ANNOTATION, BpfCache};
use super::{ContainerError, io_err};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The cgroup mount crun's hybrid check looks at.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Where a runtime binary is looked for (the agent's environment is not consulted).
const SEARCH_DIRS: &[&str] = &["/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin", "/bin", "/sbin"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRuntime {
    pub binary: PathBuf,
    /// `crun` or `runc`.
    pub name: String,
    /// As `--version` prints it, e.g. `1.8.1`.
    pub version: String,
    /// The runtime's state directory (`--root`).
    pub root: PathBuf,
}

/// `state` output (the runtime-spec state, plus what crun/runc add).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeState {
    #[serde(default)]
    pub oci_version: String,
    pub id: String,
    /// `creating`, `created`, `running`, `stopped` (`paused` for runc).
    pub status: String,
    #[serde(default)]
    pub pid: i64,
    #[serde(default)]
    pub bundle: String,
}

/// The stdio the container's process gets (it inherits the runtime's `create`).
pub struct ContainerStdio {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

impl Default for ContainerStdio {
    fn default() -> Self {
        ContainerStdio { stdin: Stdio::null(), stdout: Stdio::null(), stderr: Stdio::null() }
    }
}

/// What the hybrid check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HybridCheck {
    /// Pure v1 or v2, or a hybrid whose cgroup2 holds no controller: crun runs.
    Fine,
    /// cgroup2 at `unified` holds these controllers: crun 1.8 refuses.
    Refused(Vec<String>),
}

/// crun's condition: `root` is a v1 layout with a cgroup2 mount at `unified` that still has
/// controllers.
pub(crate) fn hybrid_check(cgroup_root: &Path) -> HybridCheck {
    if cgroup_root.join("cgroup.controllers").is_file() {
        return HybridCheck::Fine;
    }
    match std::fs::read_to_string(cgroup_root.join("unified/cgroup.controllers")) {
        Ok(text) if !text.trim().is_empty() => {
            HybridCheck::Refused(text.split_whitespace().map(String::from).collect())
        }
        _ => HybridCheck::Fine,
    }
}

/// Whether `mountinfo` (the text of `/proc/self/mountinfo`) has a mount at `mount_point`.
pub(crate) fn is_mounted(mountinfo: &str, mount_point: &Path) -> bool {
    let want = mount_point.to_string_lossy();
    mountinfo.lines().any(|l| l.split_whitespace().nth(4) == Some(want.as_ref()))
}

/// Mounts a v1 `hugetlb` hierarchy at `<root>/hugetlb` unless something is mounted there.
fn mount_hugetlb(cgroup_root: &Path) -> Result<(), ContainerError> {
    use nix::mount::{MsFlags, mount};
    let target = cgroup_root.join("hugetlb");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(io_err("read /proc/self/mountinfo"))?;
    if is_mounted(&mountinfo, &target) {
        return Ok(());
    }
    let created = !target.exists();
    std::fs::create_dir_all(&target).map_err(io_err(format!("mkdir {}", target.display())))?;
    let mounted = mount(
        Some("cgroup"),
        &target,
        Some("cgroup"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("hugetlb"),
    );
    if let Err(e) = mounted {
        // A plain directory left in /sys/fs/cgroup would be taken for a controller hierarchy
        // by crun and runc, which would then make cgroup directories in it.
        if created {
            let _ = std::fs::remove_dir(&target);
        }
        return Err(ContainerError::Cgroup { path: target.clone(), message: format!("mount hugetlb hierarchy: {e}") });
    }
    Ok(())
}

fn find_binary(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    SEARCH_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// `crun version 1.8.1` / `runc version 1.1.5+ds1` -> the third word of the first line.
pub(crate) fn parse_version(output: &str) -> Option<String> {
    let first = output.lines().next()?;
    let mut words = first.split_whitespace();
    let _name = words.next()?;
    (words.next()? == "version").then_some(())?;
    words.next().map(String::from)
}

impl OciRuntime {
    /// Picks the runtime: `preferred` (a name or a path) if given, else crun, else runc.
    /// crun on a hybrid host it refuses gets the `hugetlb` remedy first (see the module docs).
    pub fn detect(preferred: Option<&str>, root: PathBuf) -> Result<OciRuntime, ContainerError> {
        let mut candidates: Vec<&str> = Vec::new();
        if let Some(p) = preferred {
            candidates.push(p);
        }
        for n in ["crun", "runc"] {
            if !candidates.contains(&n) {
                candidates.push(n);
            }
        }
        let mut reasons = Vec::new();
        for candidate in candidates {
            let Some(binary) = find_binary(candidate) else {
                reasons.push(format!("{candidate}: not found"));
                continue;
            };
            let rt = match OciRuntime::with_binary(binary, root.clone()) {
                Ok(rt) => rt,
                Err(e) => {
                    reasons.push(format!("{candidate}: {e}"));
                    continue;
                }
            };
            if rt.name == "crun"
                && let Err(why) = crun_usable(Path::new(CGROUP_ROOT))
            {
                tracing::info!("crun cannot run containers on this host: {why}");
                reasons.push(format!("crun: {why}"));
                continue;
            }
            return Ok(rt);
        }
        Err(ContainerError::NoRuntime(reasons.join("; ")))
    }

    /// A runtime from an explicit binary; `name` is its file name (`crun`, `runc`).
    pub fn with_binary(binary: PathBuf, root: PathBuf) -> Result<OciRuntime, ContainerError> {
        let out = std::process::Command::new(&binary)
            .arg("--version")
            .output()
            .map_err(io_err(format!("run {} --version", binary.display())))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = parse_version(&text).ok_or_else(|| {
            ContainerError::Invalid(format!("{}: unexpected --version output {text:?}", binary.display()))
        })?;
        let name = binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        std::fs::create_dir_all(&root).map_err(io_err(format!("create {}", root.display())))?;
        Ok(OciRuntime { binary, name, version, root })
    }

    /// `nodeInfo.containerRuntimeVersion`: `crun://1.8.1`.
    pub fn runtime_version(&self) -> String {
        format!("{}://{}", self.name, self.version)
    }

    /// `<binary> --root <root>`: every command starts so.
    pub fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c
    }

    fn async_command(&self) -> tokio::process::Command {
        tokio::process::Command::from(self.command())
    }

    /// `create --bundle B --pid-file P id`: the command the per-pod shim also runs itself. The
    /// container's init inherits the command's stdio; it waits for `start`.
    pub fn create_command(&self, id: &str, bundle: &Path, pid_file: &Path) -> std::process::Command {
        let mut c = self.command();
        c.arg("create").arg("--bundle").arg(bundle).arg("--pid-file").arg(pid_file).arg(id);
        c
    }

    /// Creates the container with the given stdio. The runtime's own errors go to
    /// `<bundle>/runtime.log` (its stderr is the container's) and are returned on failure.
    pub async fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        stdio: ContainerStdio,
    ) -> Result<(), ContainerError> {
        let log = bundle.join("runtime.log");
        let _ = std::fs::remove_file(&log);
        let mut c = self.command();
        c.arg("--log").arg(&log);
        c.arg("create").arg("--bundle").arg(bundle).arg("--pid-file").arg(pid_file).arg(id);
        c.stdin(stdio.stdin).stdout(stdio.stdout).stderr(stdio.stderr);
        let status = tokio::process::Command::from(c)
            .kill_on_drop(true)
            .status()
            .await
            .map_err(io_err(format!("run {} create", self.name)))?;
        if status.success() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        Err(ContainerError::Runtime { runtime: self.name.clone(), op: "create".into(), stderr: log_message(&text) })
    }

    /// crun only: when the spec's seccomp profile was compiled by an earlier create in this
    /// process, passes the compiled filter along (see `seccomp`), saving the compile. Returns
    /// whether it did. Call before writing the bundle.
    pub fn use_cached_seccomp(&self, spec: &mut Spec) -> bool {
        if self.name != "crun" {
            return false;
        }
        let Some(profile) = &spec.linux.seccomp else { return false };
        match BpfCache::get(&BpfCache::key(profile, &self.version)) {
            Some(bpf) => {
                spec.annotations.insert(BPF_ANNOTATION.to_string(), bpf);
                true
            }
            None => false,
        }
    }

    /// crun only: after a successful create of `id` from `spec`, keeps the filter crun
    /// compiled (`<root>/<id>/seccomp.bpf`) for later containers with the same profile.
    pub fn remember_seccomp(&self, id: &str, spec: &Spec) {
        if self.name != "crun" || spec.annotations.contains_key(BPF_ANNOTATION) {
            return;
        }
        let Some(profile) = &spec.linux.seccomp else { return };
        let key = BpfCache::key(profile, &self.version);
        if BpfCache::get(&key).is_some() {
            return;
        }
        if let Ok(bpf) = std::fs::read(self.root.join(id).join("seccomp.bpf")) {
            BpfCache::put(&key, &bpf);
        }
    }

    pub async fn start(&self, id: &str) -> Result<(), ContainerError> {
        self.run("start", &["start", id]).await.map(drop)
    }

    /// Sends `signal` (`KILL`, `TERM`, `9`, ...) to the init process, or to every process of
    /// the container with `all`.
    pub async fn kill(&self, id: &str, signal: &str, all: bool) -> Result<(), ContainerError> {
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, signal]);
        self.run("kill", &args).await.map(drop)
    }

    pub async fn delete(&self, id: &str, force: bool) -> Result<(), ContainerError> {
        let args: &[&str] = if force { &["delete", "--force", id] } else { &["delete", id] };
        self.run("delete", args).await.map(drop)
    }

    pub async fn state(&self, id: &str) -> Result<RuntimeState, ContainerError> {
        let out = self.run("state", &["state", id]).await?;
        serde_json::from_slice(&out)
            .map_err(|source| ContainerError::Json { context: format!("{} state {id}", self.name), source })
    }

    /// Runs a command that prints nothing of the container's, returning its stdout.
    async fn run(&self, op: &str, args: &[&str]) -> Result<Vec<u8>, ContainerError> {
        let out = self
            .async_command()
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(io_err(format!("run {} {op}", self.name)))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(ContainerError::Runtime {
                runtime: self.name.clone(),
                op: op.into(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }
}

/// crun usable here, mounting the hugetlb hierarchy if that is what it takes.
fn crun_usable(cgroup_root: &Path) -> Result<(), String> {
    match hybrid_check(cgroup_root) {
        HybridCheck::Fine => Ok(()),
        HybridCheck::Refused(controllers) if controllers.iter().any(|c| c == "hugetlb") => {
            mount_hugetlb(cgroup_root).map_err(|e| e.to_string())?;
            match hybrid_check(cgroup_root) {
                HybridCheck::Fine => Ok(()),
                HybridCheck::Refused(left) => Err(format!("cgroups in hybrid mode: cgroup2 still has {left:?}")),
            }
        }
        HybridCheck::Refused(controllers) => Err(format!("cgroups in hybrid mode: cgroup2 has {controllers:?}")),
    }
}

/// The useful part of a runtime log: crun writes plain lines, runc JSON lines with `msg`.
fn log_message(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v.get("msg").is_some() => {
                if v["level"] == "error" || v["level"] == "fatal" {
                    out.push(v["msg"].as_str().unwrap_or_default().to_string());
                }
            }
            _ => out.push(line.trim().to_string()),
        }
    }
    if out.is_empty() { text.trim().to_string() } else { out.join("; ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("crun version 1.8.1\ncommit: f8a0\n").as_deref(), Some("1.8.1"));
        assert_eq!(parse_version("runc version 1.1.5+ds1\ncommit: x\n").as_deref(), Some("1.1.5+ds1"));
        assert_eq!(parse_version("nonsense"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn hybrid_detection_on_fake_roots() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("unified")).unwrap();
        std::fs::write(d.path().join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
        assert_eq!(hybrid_check(d.path()), HybridCheck::Refused(vec!["hugetlb".into()]));
        std::fs::write(d.path().join("unified/cgroup.controllers"), "\n").unwrap();
        assert_eq!(hybrid_check(d.path()), HybridCheck::Fine);
        // Pure v2.
        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(v2.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        assert_eq!(hybrid_check(v2.path()), HybridCheck::Fine);
        // A hybrid host whose cgroup2 holds more than hugetlb cannot be fixed by mounting it.
        std::fs::write(d.path().join("unified/cgroup.controllers"), "cpu hugetlb\n").unwrap();
        assert_eq!(hybrid_check(d.path()), HybridCheck::Refused(vec!["cpu".into(), "hugetlb".into()]));
    }

    #[test]
    fn mountinfo_lookup() {
        let mi = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n\
                  42 31 0:40 / /sys/fs/cgroup/hugetlb rw - cgroup cgroup rw,hugetlb\n";
        assert!(is_mounted(mi, Path::new("/sys/fs/cgroup/hugetlb")));
        assert!(!is_mounted(mi, Path::new("/sys/fs/cgroup/memory")));
    }

    #[test]
    fn runtime_logs_are_condensed() {
        assert_eq!(log_message("cgroups in hybrid mode not supported\n"), "cgroups in hybrid mode not supported");
        let runc = "{\"level\":\"info\",\"msg\":\"x\"}\n{\"level\":\"error\",\"msg\":\"exec: no such file\"}\n";
        assert_eq!(log_message(runc), "exec: no such file");
    }
}
