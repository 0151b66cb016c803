//! Starts a real `peapod server` for the client's integration tests: a free loopback port,
//! a temporary data dir, killed when dropped.
//!
//! The binary is not built here (a nested `cargo build` would wait on the lock `cargo test`
//! holds): build it first with `cargo build -p peapod` in the same target dir. It is found
//! at `$PEAPOD_BIN`, or as `peapod` next to the test executable's `deps/` directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use client::{Client, Config};

/// How long a server may take to answer `/readyz` with `ok`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub fn peapod_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PEAPOD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> -> target/debug/peapod
    let candidate = exe.parent().and_then(Path::parent).map(|dir| dir.join("peapod")).expect("target dir");
    assert!(
        candidate.exists(),
        "{} is missing: run `cargo build -p peapod` (same CARGO_TARGET_DIR) before these tests, or set PEAPOD_BIN",
        candidate.display()
    );
    candidate
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Which store the server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datastore {
    /// `memory://`: nothing survives a restart.
    Memory,
    /// The default embedded SQLite store in the data dir.
    Sqlite,
}

pub struct TestServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    pub datastore: Datastore,
}

impl TestServer {
    pub async fn start(datastore: Datastore) -> TestServer {
        let dir = tempfile::tempdir().expect("temp data dir");
        let mut server = TestServer { child: None, dir, port: free_port(), datastore };
        server.launch().await;
        server
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig.yaml")
    }

    pub fn client(&self) -> Client {
        Client::from_kubeconfig(self.kubeconfig()).expect("client from kubeconfig")
    }

    pub fn config(&self) -> Config {
        Config::from_kubeconfig(self.kubeconfig()).expect("kubeconfig")
    }

    /// `kill -9`, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data dir and port.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let mut command = Command::new(peapod_binary());
        command
            .arg("server")
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg("--https-port")
            .arg(self.port.to_string())
            .arg("--bind-address")
            .arg("127.0.0.1")
            .arg("--disable-agent")
            // These tests exercise the client against the API alone: a scheduler writing pod
            // status (no nodes here) would race the tests' own compare-and-swap writes.
            .arg("--disable-scheduler")
            .arg("--disable-controller-manager")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        if self.datastore == Datastore::Memory {
            command.arg("--datastore-endpoint").arg("memory://");
        }
        let started = Instant::now();
        // The port was free when chosen; right after a kill the old socket may linger.
        let mut child = command.spawn().expect("spawn peapod server");
        loop {
            if let Some(status) = child.try_wait().expect("server status") {
                panic!("peapod server exited with {status} before ready:\n{}", self.log());
            }
            if self.kubeconfig().exists() && self.ready().await {
                break;
            }
            assert!(started.elapsed() < START_TIMEOUT, "server not ready after {START_TIMEOUT:?}:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.child = Some(child);
    }

    async fn ready(&self) -> bool {
        let Ok(client) = Client::from_kubeconfig(self.kubeconfig()) else { return false };
        matches!(client.request_bytes(http::Method::GET, "/readyz", None).await, Ok(body) if &body[..] == b"ok")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
