//! Pod-level cgroups and the cgroup facts the runtime reads back: which cgroup version the
//! node runs (v1, v2, or the v1/v2 hybrid where the controllers are v1), the pod's
//! `peapod/pod<uid>` cgroup with the pod's limits (`PodResources`), and per-container OOM
//! kills and memory usage.
//!
//! Container cgroups themselves are created, limited and removed by the OCI runtime from the
//! spec's `cgroupsPath` (always below the pod's); this module only makes their parent and
//! removes it once they are gone. Everything takes the cgroup root (normally
//! `/sys/fs/cgroup`) so that tests can run against a fake tree.

use super::{ContainerError, io_err};
use agent::runtime::PodResources;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The directory every pod cgroup lives in, below each hierarchy's root.
pub const PEAPOD_CGROUP: &str = "peapod";

/// v1 controllers peapod puts a pod cgroup under, when the host mounts them.
const V1_CONTROLLERS: &[&str] =
    &["cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio", "hugetlb", "net_cls", "net_prio"];

/// Controllers enabled for the pod subtree on cgroup v2.
const V2_CONTROLLERS: &[&str] = &["cpu", "cpuset", "memory", "pids", "io", "hugetlb"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// cgroup v1 only.
    Legacy,
    /// v1 controllers plus a cgroup2 hierarchy at `unified` (systemd's hybrid layout); the
    /// controllers, and so the limits, are v1's.
    Hybrid,
    /// cgroup v2 only, mounted at the root.
    Unified,
}

/// A node's cgroup tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroups {
    pub root: PathBuf,
    pub mode: CgroupMode,
}

impl Cgroups {
    /// Looks at `root` (normally `/sys/fs/cgroup`): a `cgroup.controllers` file there is v2;
    /// v1 controller directories are v1, hybrid when `unified/cgroup.controllers` exists too.
    pub fn detect(root: &Path) -> Result<Cgroups, ContainerError> {
        let mode = if root.join("cgroup.controllers").is_file() {
            CgroupMode::Unified
        } else if V1_CONTROLLERS.iter().any(|c| root.join(c).join("cgroup.procs").is_file()) {
            if root.join("unified/cgroup.controllers").is_file() { CgroupMode::Hybrid } else { CgroupMode::Legacy }
        } else {
            return Err(ContainerError::Cgroup {
                path: root.to_path_buf(),
                message: "no cgroup v1 or v2 hierarchy".into(),
            });
        };
        Ok(Cgroups { root: root.to_path_buf(), mode })
    }

    /// `peapod/pod<uid>`, the pod cgroup relative to each hierarchy's root.
    pub fn pod_cgroup(pod_uid: &str) -> Result<String, ContainerError> {
        check_component(pod_uid, "pod uid")?;
        Ok(format!("{PEAPOD_CGROUP}/pod{pod_uid}"))
    }

    /// The `cgroupsPath` of a container's spec: `/peapod/pod<uid>/<container id>` (absolute,
    /// so crun and runc take it relative to each hierarchy's root, not to their own cgroup).
    pub fn container_cgroups_path(pod_uid: &str, container_id: &str) -> Result<String, ContainerError> {
        check_component(container_id, "container id")?;
        Ok(format!("/{}/{container_id}", Self::pod_cgroup(pod_uid)?))
    }

    /// The directories a relative cgroup path names, one per hierarchy holding controllers.
    fn dirs(&self, rel: &str) -> Vec<PathBuf> {
        let rel = rel.trim_start_matches('/');
        match self.mode {
            CgroupMode::Unified => vec![self.root.join(rel)],
            CgroupMode::Legacy | CgroupMode::Hybrid => {
                let mut out: Vec<PathBuf> = Vec::new();
                for c in self.v1_controllers() {
                    let d = self.root.join(c).join(rel);
                    // `cpu` and `cpuacct` are often one hierarchy behind two names.
                    if !out.iter().any(|o| same_dir(o, &d)) {
                        out.push(d);
                    }
                }
                out
            }
        }
    }

    fn v1_controllers(&self) -> Vec<&'static str> {
        V1_CONTROLLERS.iter().copied().filter(|c| self.root.join(c).join("cgroup.procs").is_file()).collect()
    }

    /// The directory of one controller's file for `rel` (`memory`, `cpu`, ...).
    fn controller_dir(&self, controller: &str, rel: &str) -> PathBuf {
        let rel = rel.trim_start_matches('/');
        match self.mode {
            CgroupMode::Unified => self.root.join(rel),
            CgroupMode::Legacy | CgroupMode::Hybrid => self.root.join(controller).join(rel),
        }
    }

    /// Creates the pod's cgroup (idempotent) and writes its limits: the pod's processes, i.e.
    /// its containers' cgroups below it, can never use more than the sum the kubelet computes.
    pub fn create_pod_cgroup(&self, pod_uid: &str, resources: &PodResources) -> Result<PathBuf, ContainerError> {
        let rel = Self::pod_cgroup(pod_uid)?;
        match self.mode {
            CgroupMode::Unified => {
                let parent = self.root.join(PEAPOD_CGROUP);
                mkdir(&parent)?;
                // Controllers must be enabled in every ancestor's subtree_control to be usable below.
                enable_v2_controllers(&self.root)?;
                enable_v2_controllers(&parent)?;
                let dir = self.root.join(&rel);
                mkdir(&dir)?;
                if let Some(shares) = resources.cpu_shares {
                    write(&dir, "cpu.weight", &cpu_weight_from_shares(shares).to_string())?;
                }
                if let Some(quota) = resources.cpu_quota.filter(|q| *q > 0) {
                    let period = resources.cpu_period.filter(|p| *p > 0).unwrap_or(100_000);
                    write(&dir, "cpu.max", &format!("{quota} {period}"))?;
                }
                if let Some(limit) = resources.memory_limit_bytes.filter(|m| *m > 0) {
                    write(&dir, "memory.max", &limit.to_string())?;
                }
            }
            CgroupMode::Legacy | CgroupMode::Hybrid => {
                for c in self.v1_controllers() {
                    let base = self.root.join(c);
                    let mut here = base.clone();
                    for comp in rel.split('/') {
                        here.push(comp);
                        mkdir(&here)?;
                        if c == "cpuset" {
                            // A new cpuset cgroup starts with no CPUs and no memory nodes, and
                            // no task can join it until they are copied from the parent.
                            inherit_cpuset(&here)?;
                        }
                    }
                }
                let cpu = self.controller_dir("cpu", &rel);
                if let Some(shares) = resources.cpu_shares {
                    write(&cpu, "cpu.shares", &shares.max(2).to_string())?;
                }
                if let Some(quota) = resources.cpu_quota.filter(|q| *q > 0) {
                    let period = resources.cpu_period.filter(|p| *p > 0).unwrap_or(100_000);
                    // The period first: a quota is validated against the current period.
                    write(&cpu, "cpu.cfs_period_us", &period.to_string())?;
                    write(&cpu, "cpu.cfs_quota_us", &quota.to_string())?;
                }
                if let Some(limit) = resources.memory_limit_bytes.filter(|m| *m > 0) {
                    write(&self.controller_dir("memory", &rel), "memory.limit_in_bytes", &limit.to_string())?;
                }
            }
        }
        Ok(self.controller_dir("memory", &rel))
    }

    /// Removes the pod's cgroup in every hierarchy: its (empty) descendants first, deepest
    /// first. A cgroup that still holds processes fails with `EBUSY`, reported as an error;
    /// an absent one is fine, so removal is idempotent.
    ///
    /// On v1 and hybrid trees that includes the hierarchies without peapod's controllers
    /// (`name=systemd`, hybrid's `unified`, `net_cls`, ...): the OCI runtime creates the
    /// container cgroups, and so their `peapod/pod<uid>` parents, in every mounted hierarchy,
    /// and deletes only the container's own directory.
    pub fn remove_pod_cgroup(&self, pod_uid: &str) -> Result<(), ContainerError> {
        let rel = Self::pod_cgroup(pod_uid)?;
        let mut dirs = self.dirs(&rel);
        if matches!(self.mode, CgroupMode::Legacy | CgroupMode::Hybrid)
            && let Ok(hierarchies) = fs::read_dir(&self.root)
        {
            for hierarchy in hierarchies.flatten() {
                let dir = hierarchy.path().join(&rel);
                if dir.is_dir() && !dirs.iter().any(|known| same_dir(known, &dir)) {
                    dirs.push(dir);
                }
            }
        }
        for dir in dirs {
            remove_tree(&dir)?;
        }
        Ok(())
    }

    /// Whether the kernel OOM-killed a process of `cgroup` (relative path, e.g. a container's
    /// `cgroupsPath`). v2: `oom_kill` in `memory.events`; v1: `oom_kill` in
    /// `memory.oom_control` (kernel 4.13+), else `memory.failcnt` > 0 with `under_oom`.
    /// Read it before the runtime deletes the container, which removes its cgroup.
    pub fn oom_killed(&self, cgroup: &str) -> Result<bool, ContainerError> {
        let dir = self.controller_dir("memory", cgroup);
        match self.mode {
            CgroupMode::Unified => Ok(read_keyed(&dir, "memory.events", "oom_kill")?.unwrap_or(0) > 0),
            CgroupMode::Legacy | CgroupMode::Hybrid => {
                if let Some(kills) = read_keyed(&dir, "memory.oom_control", "oom_kill")? {
                    return Ok(kills > 0);
                }
                let failcnt = read_number(&dir, "memory.failcnt")?;
                let under_oom = read_keyed(&dir, "memory.oom_control", "under_oom")?.unwrap_or(0);
                Ok(failcnt > 0 && under_oom > 0)
            }
        }
    }

    /// Bytes of memory charged to `cgroup` now (`memory.current` / `memory.usage_in_bytes`).
    pub fn memory_usage(&self, cgroup: &str) -> Result<u64, ContainerError> {
        let dir = self.controller_dir("memory", cgroup);
        match self.mode {
            CgroupMode::Unified => read_number(&dir, "memory.current"),
            CgroupMode::Legacy | CgroupMode::Hybrid => read_number(&dir, "memory.usage_in_bytes"),
        }
    }

    /// The directory holding `controller`'s files for `cgroup` (for callers and tests that
    /// read other files, e.g. `cpu.shares`).
    pub fn path(&self, controller: &str, cgroup: &str) -> PathBuf {
        self.controller_dir(controller, cgroup)
    }
}

/// cgroup v1 `cpu.shares` (2..262144) to v2 `cpu.weight` (1..10000), the conversion runc,
/// crun and the kubelet share.
pub fn cpu_weight_from_shares(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

fn check_component(s: &str, what: &str) -> Result<(), ContainerError> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err(ContainerError::Invalid(format!("invalid {what} {s:?}")));
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

fn mkdir(dir: &Path) -> Result<(), ContainerError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(format!("mkdir {}", dir.display()))(e)),
    }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), ContainerError> {
    let p = dir.join(file);
    fs::write(&p, value)
        .map_err(|e| ContainerError::Cgroup { path: p.clone(), message: format!("write {value:?}: {e}") })
}

fn read_file(dir: &Path, file: &str) -> Result<String, ContainerError> {
    let p = dir.join(file);
    fs::read_to_string(&p).map_err(|e| ContainerError::Cgroup { path: p.clone(), message: format!("read: {e}") })
}

fn read_number(dir: &Path, file: &str) -> Result<u64, ContainerError> {
    let text = read_file(dir, file)?;
    text.trim().parse().map_err(|_| ContainerError::Cgroup {
        path: dir.join(file),
        message: format!("not a number: {:?}", text.trim()),
    })
}

/// The value of `key` in a flat-keyed file (`key value` per line); `None` if the key is absent.
fn read_keyed(dir: &Path, file: &str, key: &str) -> Result<Option<u64>, ContainerError> {
    let text = read_file(dir, file)?;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if it.next() == Some(key) {
            return Ok(it.next().and_then(|v| v.parse().ok()));
        }
    }
    Ok(None)
}

fn enable_v2_controllers(dir: &Path) -> Result<(), ContainerError> {
    let available = read_file(dir, "cgroup.controllers")?;
    let enabled = read_file(dir, "cgroup.subtree_control").unwrap_or_default();
    for c in V2_CONTROLLERS {
        let have = |text: &str| text.split_whitespace().any(|x| x == *c);
        if have(&available) && !have(&enabled) {
            write(dir, "cgroup.subtree_control", &format!("+{c}"))?;
        }
    }
    Ok(())
}

fn inherit_cpuset(dir: &Path) -> Result<(), ContainerError> {
    let Some(parent) = dir.parent() else { return Ok(()) };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read_file(dir, file).map(|v| v.trim().is_empty()).unwrap_or(false) {
            let value = read_file(parent, file)?;
            write(dir, file, value.trim())?;
        }
    }
    Ok(())
}

/// rmdir of `dir` and its subdirectories, deepest first. Only directories are removed: a
/// cgroup's files vanish with it (and on a fake tree in tests the files are removed too).
fn remove_tree(dir: &Path) -> Result<(), ContainerError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("read {}", dir.display()))(e)),
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        // A real cgroup directory lists its control files yet rmdir(2) removes it; a plain
        // directory (a fake tree) needs its files removed first.
        Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => {
            for f in fs::read_dir(dir).map_err(io_err(format!("read {}", dir.display())))?.flatten() {
                if f.file_type().is_ok_and(|t| t.is_file()) {
                    let _ = fs::remove_file(f.path());
                }
            }
            fs::remove_dir(dir)
                .map_err(|e| ContainerError::Cgroup { path: dir.to_path_buf(), message: format!("rmdir: {e}") })
        }
        Err(e) => Err(ContainerError::Cgroup { path: dir.to_path_buf(), message: format!("rmdir: {e}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake cgroup2 root: files a real one has, as plain files.
    fn fake_v2() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n").unwrap();
        fs::write(d.path().join("cgroup.subtree_control"), "").unwrap();
        d
    }

    #[test]
    fn detects_each_mode() {
        let v2 = fake_v2();
        assert_eq!(Cgroups::detect(v2.path()).unwrap().mode, CgroupMode::Unified);
        let v1 = tempfile::tempdir().unwrap();
        fs::create_dir_all(v1.path().join("memory")).unwrap();
        fs::write(v1.path().join("memory/cgroup.procs"), "").unwrap();
        assert_eq!(Cgroups::detect(v1.path()).unwrap().mode, CgroupMode::Legacy);
        fs::create_dir_all(v1.path().join("unified")).unwrap();
        fs::write(v1.path().join("unified/cgroup.controllers"), "").unwrap();
        assert_eq!(Cgroups::detect(v1.path()).unwrap().mode, CgroupMode::Hybrid);
        let empty = tempfile::tempdir().unwrap();
        assert!(Cgroups::detect(empty.path()).is_err());
    }

    #[test]
    fn v2_pod_cgroup_gets_limits_and_controllers() {
        let d = fake_v2();
        let cg = Cgroups::detect(d.path()).unwrap();
        // The kernel would create these in a new cgroup; the fake tree needs them up front.
        fs::create_dir_all(d.path().join("peapod")).unwrap();
        fs::write(d.path().join("peapod/cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        let res = PodResources {
            cpu_shares: Some(1024),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            memory_limit_bytes: Some(64 << 20),
        };
        cg.create_pod_cgroup("u1", &res).unwrap();
        let pod = d.path().join("peapod/podu1");
        assert_eq!(fs::read_to_string(pod.join("cpu.weight")).unwrap(), "39");
        assert_eq!(fs::read_to_string(pod.join("cpu.max")).unwrap(), "50000 100000");
        assert_eq!(fs::read_to_string(pod.join("memory.max")).unwrap(), (64u64 << 20).to_string());
        // subtree_control got the last "+controller" written: on a real tree each write adds one.
        assert!(fs::read_to_string(d.path().join("cgroup.subtree_control")).unwrap().starts_with('+'));
        // Idempotent.
        cg.create_pod_cgroup("u1", &res).unwrap();

        // A container below it, then OOM accounting and usage.
        let c = pod.join("c1");
        fs::create_dir_all(&c).unwrap();
        fs::write(c.join("memory.events"), "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n").unwrap();
        fs::write(c.join("memory.current"), "4096\n").unwrap();
        let rel = Cgroups::container_cgroups_path("u1", "c1").unwrap();
        assert_eq!(rel, "/peapod/podu1/c1");
        assert!(cg.oom_killed(&rel).unwrap());
        assert_eq!(cg.memory_usage(&rel).unwrap(), 4096);
        fs::write(c.join("memory.events"), "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n").unwrap();
        assert!(!cg.oom_killed(&rel).unwrap());

        cg.remove_pod_cgroup("u1").unwrap();
        assert!(!pod.exists());
        cg.remove_pod_cgroup("u1").unwrap();
    }

    #[test]
    fn v1_removal_covers_hierarchies_without_controllers() {
        let d = tempfile::tempdir().unwrap();
        for hierarchy in ["memory", "cpu"] {
            fs::create_dir_all(d.path().join(hierarchy)).unwrap();
            fs::write(d.path().join(hierarchy).join("cgroup.procs"), "").unwrap();
        }
        fs::create_dir_all(d.path().join("unified")).unwrap();
        fs::write(d.path().join("unified/cgroup.controllers"), "").unwrap();
        let cg = Cgroups::detect(d.path()).unwrap();
        assert_eq!(cg.mode, CgroupMode::Hybrid);
        cg.create_pod_cgroup("u3", &PodResources::default()).unwrap();
        // What crun leaves after deleting a container: the pod directory in the named
        // hierarchies it created the container's cgroup in.
        for hierarchy in ["systemd", "unified"] {
            fs::create_dir_all(d.path().join(hierarchy).join("peapod/podu3")).unwrap();
        }
        fs::create_dir_all(d.path().join("systemd/peapod/podother")).unwrap();
        cg.remove_pod_cgroup("u3").unwrap();
        for hierarchy in ["memory", "cpu", "systemd", "unified"] {
            assert!(!d.path().join(hierarchy).join("peapod/podu3").exists(), "{hierarchy}");
        }
        assert!(d.path().join("systemd/peapod/podother").exists(), "another pod's cgroup is kept");
        cg.remove_pod_cgroup("u3").unwrap();
    }

    #[test]
    fn v2_without_limits_writes_none() {
        let d = fake_v2();
        let cg = Cgroups::detect(d.path()).unwrap();
        fs::create_dir_all(d.path().join("peapod")).unwrap();
        fs::write(d.path().join("peapod/cgroup.controllers"), "cpu memory\n").unwrap();
        cg.create_pod_cgroup("u2", &PodResources::default()).unwrap();
        assert!(!d.path().join("peapod/podu2/memory.max").exists());
        assert!(!d.path().join("peapod/podu2/cpu.max").exists());
    }

    #[test]
    fn bad_ids_are_errors() {
        assert!(Cgroups::pod_cgroup("../x").is_err());
        assert!(Cgroups::pod_cgroup("").is_err());
        assert!(Cgroups::container_cgroups_path("u", "a/b").is_err());
        let d = fake_v2();
        let cg = Cgroups::detect(d.path()).unwrap();
        assert!(cg.create_pod_cgroup("..", &PodResources::default()).is_err());
        // Missing accounting files are errors, not "not killed".
        assert!(cg.oom_killed("/peapod/podnone/c").is_err());
    }

    #[test]
    fn shares_to_weight() {
        assert_eq!(cpu_weight_from_shares(2), 1);
        assert_eq!(cpu_weight_from_shares(0), 1);
        assert_eq!(cpu_weight_from_shares(1024), 39);
        assert_eq!(cpu_weight_from_shares(262_144), 10_000);
        assert_eq!(cpu_weight_from_shares(u64::MAX), 10_000);
    }
}
