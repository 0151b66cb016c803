//! Shared fixture of the integration tests: a BridgeNetwork on a private bridge, CIDR and temp
//! directories, and a drop guard that removes everything it created even when a test fails.
//! Also helpers that run code inside a pod's network namespace (a thread that `setns`es).

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use net::{BridgeNetwork, NetConfig};
use nix::mount::MntFlags;
use nix::sched::CloneFlags;

pub struct Fixture {
    pub bridge: String,
    pub cidr: String,
    pub config: NetConfig,
    /// Holds the state and netns directories; dropped last, after the unmounts.
    dir: Option<tempfile::TempDir>,
}

impl Fixture {
    /// `short` names the bridge (`ppt<short>`) and the pods; `third_octet` picks 10.201.N.0/prefix.
    pub fn new(short: &str, third_octet: u8, prefix: u8, masquerade: bool) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = if prefix == 29 { 8 } else { 0 };
        let cidr = format!("10.201.{third_octet}.{base}/{prefix}");
        let bridge = format!("ppt{short}");
        let config = NetConfig {
            bridge_name: bridge.clone(),
            pod_cidr: cidr.clone(),
            state_dir: dir.path().join("state"),
            netns_dir: dir.path().join("netns"),
            masquerade,
        };
        Fixture { bridge, cidr, config, dir: Some(dir) }
    }

    pub async fn network(&self) -> BridgeNetwork {
        BridgeNetwork::new(self.config.clone()).await.expect("BridgeNetwork::new")
    }

    pub fn netns_dir(&self) -> PathBuf {
        self.config.netns_dir.clone()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.config.state_dir.clone()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Unmount every namespace file first: a mounted file cannot be deleted with its directory.
        if let Ok(entries) = std::fs::read_dir(&self.config.netns_dir) {
            for entry in entries.flatten() {
                let _ = nix::mount::umount2(&entry.path(), MntFlags::MNT_DETACH);
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).output();
        let rule = ["-t", "nat", "POSTROUTING", "-s", &self.cidr, "!", "-o", &self.bridge, "-j", "MASQUERADE"];
        for _ in 0..4 {
            let deleted = Command::new("iptables")
                .args(["-w", rule[0], rule[1], "-D"])
                .args(&rule[2..])
                .output()
                .is_ok_and(|out| out.status.success());
            if !deleted {
                break;
            }
        }
        drop(self.dir.take());
    }
}

/// Runs `f` on a fresh thread inside the network namespace at `netns`.
pub fn in_netns<T: Send + 'static>(netns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = File::open(netns).expect("open netns");
    std::thread::spawn(move || {
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}

/// A listener on `ip:0` (inside `netns` if given) that answers one connection with `reply`.
/// Returns the bound address and the thread that serves it.
pub fn serve_once(netns: Option<&Path>, ip: IpAddr, reply: &'static str) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let bind = move || TcpListener::bind((ip, 0)).expect("bind");
    // The socket stays in the namespace it was created in, whichever thread accepts.
    let listener = match netns {
        Some(path) => in_netns(path, bind),
        None => bind(),
    };
    let addr = listener.local_addr().expect("local addr");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream.write_all(reply.as_bytes()).expect("write");
    });
    (addr, server)
}

/// Connects to `addr` (from inside `netns` if given) and returns what the server sent.
pub fn fetch(netns: Option<&Path>, addr: SocketAddr) -> std::io::Result<String> {
    let connect = move || -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    };
    match netns {
        Some(path) => in_netns(path, connect),
        None => connect(),
    }
}

/// Whether the interface exists in the host namespace.
pub fn host_link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Waits up to 5 s for `cond`; namespace destruction (which removes the veth) is asynchronous.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}
