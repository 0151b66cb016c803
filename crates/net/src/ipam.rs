//! Host-local IPAM: hands out the lowest free address of the pod CIDR to a pod UID and keeps
//! the allocation on disk as one file per IP (`<state_dir>/<ip>`, content = the pod UID), the
//! same layout as the CNI host-local plugin, so a restarted agent keeps every pod's address.
//! Files appear atomically and exclusively (written under a temporary name, then hard-linked to
//! the final name, which fails if the IP is taken). This module does file IO only; no netlink.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cidr::PodCidr;
use crate::error::NetError;

/// Prefix of temporary files; never a valid IP file name, so loading skips them.
const TMP_PREFIX: &str = ".tmp-";

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The allocations of one pod CIDR, mirrored in memory and on disk.
#[derive(Debug)]
pub(crate) struct Ipam {
    cidr: PodCidr,
    dir: PathBuf,
    by_ip: BTreeMap<Ipv4Addr, String>,
    by_uid: HashMap<String, Ipv4Addr>,
}

impl Ipam {
    /// Creates `dir` if needed and loads the allocations in it. Files named after an address
    /// outside `cidr` are left alone (and do not reserve anything); empty records (a crash
    /// before the content reached the disk) and stale temporary files are removed.
    pub(crate) fn open(cidr: PodCidr, dir: &Path) -> Result<Self, NetError> {
        let state_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| NetError::State { path, source }
        };
        fs::create_dir_all(dir).map_err(state_err(dir))?;
        let mut ipam = Ipam { cidr, dir: dir.to_path_buf(), by_ip: BTreeMap::new(), by_uid: HashMap::new() };
        for entry in fs::read_dir(dir).map_err(state_err(dir))? {
            let entry = entry.map_err(state_err(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                remove_if_present(&entry.path())?;
                continue;
            }
            let Ok(ip) = name.parse::<Ipv4Addr>() else { continue };
            if !cidr.contains(ip) {
                continue;
            }
            let uid = fs::read_to_string(entry.path()).map_err(state_err(&entry.path()))?;
            let uid = uid.trim();
            if uid.is_empty() {
                remove_if_present(&entry.path())?;
                continue;
            }
            ipam.record(ip, uid.to_string());
        }
        Ok(ipam)
    }

    /// The pod's address, if it holds one.
    pub(crate) fn get(&self, pod_uid: &str) -> Option<Ipv4Addr> {
        self.by_uid.get(pod_uid).copied()
    }

    /// Returns the pod's address, allocating the lowest free one if it has none. The boolean
    /// says whether this call allocated it (so a failed setup can roll back only its own work).
    pub(crate) fn allocate(&mut self, pod_uid: &str) -> Result<(Ipv4Addr, bool), NetError> {
        if let Some(ip) = self.get(pod_uid) {
            return Ok((ip, false));
        }
        let candidates: Vec<Ipv4Addr> = self.cidr.pod_addresses().filter(|ip| !self.by_ip.contains_key(ip)).collect();
        for ip in candidates {
            match self.write_record(ip, pod_uid) {
                Ok(()) => {
                    self.record(ip, pod_uid.to_string());
                    return Ok((ip, true));
                }
                // Another agent on the same directory took it first: learn its owner, go on.
                Err(NetError::State { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(self.dir.join(ip.to_string())).unwrap_or_default();
                    self.record(ip, owner.trim().to_string());
                }
                Err(err) => return Err(err),
            }
        }
        Err(NetError::Exhausted(self.cidr.to_string()))
    }

    /// Frees every address the pod holds; absent is fine. Returns the freed addresses.
    pub(crate) fn release(&mut self, pod_uid: &str) -> Result<Vec<Ipv4Addr>, NetError> {
        let ips: Vec<Ipv4Addr> = self.by_ip.iter().filter(|(_, uid)| *uid == pod_uid).map(|(ip, _)| *ip).collect();
        for ip in &ips {
            remove_if_present(&self.dir.join(ip.to_string()))?;
            self.by_ip.remove(ip);
        }
        self.by_uid.remove(pod_uid);
        Ok(ips)
    }

    /// Pod UIDs holding an address.
    pub(crate) fn pod_uids(&self) -> impl Iterator<Item = &str> {
        self.by_uid.keys().map(String::as_str)
    }

    fn record(&mut self, ip: Ipv4Addr, uid: String) {
        // With duplicate records for one UID (never written by us), the lowest IP wins; the
        // others stay reserved until release() removes them all.
        let lowest = self.by_uid.get(&uid).is_none_or(|held| ip < *held);
        if lowest && !uid.is_empty() {
            self.by_uid.insert(uid.clone(), ip);
        }
        self.by_ip.insert(ip, uid);
    }

    /// Writes `<dir>/<ip>` containing `pod_uid`; fails with `AlreadyExists` if the IP is taken.
    fn write_record(&self, ip: Ipv4Addr, pod_uid: &str) -> Result<(), NetError> {
        let target = self.dir.join(ip.to_string());
        let tmp = self.dir.join(format!(
            "{TMP_PREFIX}{ip}-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(pod_uid.as_bytes())?;
            // A hard link, unlike rename, refuses to replace an existing record.
            fs::hard_link(&tmp, &target)
        })();
        let cleanup = remove_if_present(&tmp);
        result.map_err(|source| NetError::State { path: target, source })?;
        cleanup
    }
}

fn remove_if_present(path: &Path) -> Result<(), NetError> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            Err(NetError::State { path: path.to_path_buf(), source: err })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipam(dir: &Path, cidr: &str) -> Ipam {
        Ipam::open(PodCidr::parse(cidr).expect("cidr"), dir).expect("open")
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().expect("ip")
    }

    #[test]
    fn allocates_lowest_free_skipping_network_and_gateway() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ipam = ipam(dir.path(), "10.9.0.0/24");
        assert_eq!(ipam.allocate("a").expect("a"), (ip("10.9.0.2"), true));
        assert_eq!(ipam.allocate("b").expect("b"), (ip("10.9.0.3"), true));
        // Same pod again: same address, not newly allocated.
        assert_eq!(ipam.allocate("a").expect("a again"), (ip("10.9.0.2"), false));
        assert_eq!(fs::read_to_string(dir.path().join("10.9.0.2")).expect("record"), "a");
        // A freed address is the lowest free one again.
        assert_eq!(ipam.release("a").expect("release"), vec![ip("10.9.0.2")]);
        assert!(!dir.path().join("10.9.0.2").exists());
        assert_eq!(ipam.allocate("c").expect("c"), (ip("10.9.0.2"), true));
    }

    #[test]
    fn release_of_unknown_pod_is_fine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ipam = ipam(dir.path(), "10.9.0.0/24");
        assert!(ipam.release("nobody").expect("release").is_empty());
    }

    #[test]
    fn exhaustion_of_a_slash_29() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ipam = ipam(dir.path(), "10.9.0.8/29");
        let got: Vec<_> = (0..5).map(|i| ipam.allocate(&format!("p{i}")).expect("alloc").0).collect();
        assert_eq!(got, ["10.9.0.10", "10.9.0.11", "10.9.0.12", "10.9.0.13", "10.9.0.14"].map(ip));
        match ipam.allocate("p5") {
            Err(NetError::Exhausted(range)) => assert_eq!(range, "10.9.0.8/29"),
            other => panic!("expected Exhausted, got {other:?}"),
        }
        // An existing pod still gets its address when the range is full.
        assert_eq!(ipam.allocate("p3").expect("p3").0, ip("10.9.0.13"));
    }

    #[test]
    fn reopen_keeps_allocations_and_cleans_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut first = ipam(dir.path(), "10.9.0.0/24");
            first.allocate("a").expect("a");
            first.allocate("b").expect("b");
        }
        fs::write(dir.path().join(".tmp-10.9.0.4-1-1"), "junk").expect("tmp");
        fs::write(dir.path().join("10.9.0.5"), "").expect("empty record");
        fs::write(dir.path().join("10.8.0.4"), "elsewhere").expect("foreign record");
        fs::write(dir.path().join("notes.txt"), "hello").expect("other file");

        let mut second = ipam(dir.path(), "10.9.0.0/24");
        assert_eq!(second.get("a"), Some(ip("10.9.0.2")));
        assert_eq!(second.get("b"), Some(ip("10.9.0.3")));
        let mut uids: Vec<_> = second.pod_uids().collect();
        uids.sort();
        assert_eq!(uids, ["a", "b"]);
        assert!(!dir.path().join(".tmp-10.9.0.4-1-1").exists());
        assert!(!dir.path().join("10.9.0.5").exists());
        assert!(dir.path().join("10.8.0.4").exists(), "records of another CIDR are left alone");
        assert_eq!(second.allocate("c").expect("c").0, ip("10.9.0.4"));
    }

    #[test]
    fn a_record_written_by_someone_else_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ipam = ipam(dir.path(), "10.9.0.0/24");
        // Appears after open(): allocate must not overwrite it.
        fs::write(dir.path().join("10.9.0.2"), "other-agent").expect("record");
        assert_eq!(ipam.allocate("a").expect("a").0, ip("10.9.0.3"));
        assert_eq!(fs::read_to_string(dir.path().join("10.9.0.2")).expect("record"), "other-agent");
        assert!(ipam.pod_uids().any(|uid| uid == "other-agent"));
    }
}
