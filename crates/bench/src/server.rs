//! Starting, probing and stopping one real `peapod server` process on a free loopback port.
//!
//! The process is always stopped (SIGTERM, then SIGKILL after a grace period) when the
//! `ServerProcess` is dropped, so a failing measurement never leaves a server behind. The
//! data directory belongs to the caller (a `tempfile::TempDir` that removes itself).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use crate::cluster::Endpoint;
use crate::http::Connection;

/// How often `/readyz` is polled while waiting for start-up.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("find a free port: {0}")]
    Port(std::io::Error),
    #[error("start {binary}: {source}")]
    Spawn { binary: PathBuf, source: std::io::Error },
    #[error("the server exited during start-up ({status}); last log lines:\n{log}")]
    Exited { status: String, log: String },
    #[error("the server was not ready within {timeout:?}; last log lines:\n{log}")]
    NotReady { timeout: Duration, log: String },
    #[error("read {path}: {source}")]
    Proc { path: String, source: std::io::Error },
    #[error("{path} has no {field} line")]
    ProcField { path: String, field: &'static str },
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("signal the server: {0}")]
    Signal(nix::Error),
}

/// Command-line settings shared by every start.
#[derive(Clone, Debug)]
pub struct Launch {
    pub binary: PathBuf,
    /// Passed through as `--datastore-endpoint` when set (the default store is SQLite).
    pub datastore_endpoint: Option<String>,
    /// More `peapod server` arguments (e.g. `--disable-scheduler`).
    pub extra_args: Vec<String>,
}

pub struct ServerProcess {
    child: tokio::process::Child,
    pid: nix::unistd::Pid,
    address: SocketAddr,
    data_dir: PathBuf,
    log_path: PathBuf,
    spawned_at: Instant,
}

impl ServerProcess {
    /// Execs `peapod server --data-dir <data_dir> --disable-agent` on a free loopback port.
    /// The server's log goes to `<data_dir>/../<name>.log` so it is kept out of the data dir
    /// being measured but removed with the temporary tree.
    pub fn spawn(launch: &Launch, data_dir: &Path, log_path: &Path) -> Result<Self, ServerError> {
        let port = free_port()?;
        let log = std::fs::File::create(log_path)
            .map_err(|source| ServerError::Spawn { binary: log_path.to_path_buf(), source })?;
        let mut command = tokio::process::Command::new(&launch.binary);
        command
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--bind-address")
            .arg("127.0.0.1")
            .arg("--https-port")
            .arg(port.to_string())
            .arg("--disable-agent");
        if let Some(endpoint) = &launch.datastore_endpoint {
            command.arg("--datastore-endpoint").arg(endpoint);
        }
        command.args(&launch.extra_args);
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).kill_on_drop(true);
        let spawned_at = Instant::now();
        let child = command.spawn().map_err(|source| ServerError::Spawn { binary: launch.binary.clone(), source })?;
        let raw_pid = child.id().and_then(|id| i32::try_from(id).ok()).unwrap_or(0);
        Ok(ServerProcess {
            child,
            pid: nix::unistd::Pid::from_raw(raw_pid),
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            data_dir: data_dir.to_path_buf(),
            log_path: log_path.to_path_buf(),
            spawned_at,
        })
    }

    /// Polls `/readyz` every 2 ms until it answers `200 ok`; returns the time since exec.
    ///
    /// The cluster CA only exists once the server has generated it (fresh data dir), so the
    /// probe connects as soon as `kubeconfig.yaml` exists and verifies the server against the
    /// CA in it, never skipping verification. The server writes the kubeconfig just before it
    /// turns ready, so this adds no delay to what is measured.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, ServerError> {
        let kubeconfig = self.kubeconfig_path();
        let mut connection: Option<Connection> = None;
        loop {
            if self.spawned_at.elapsed() > timeout {
                return Err(ServerError::NotReady { timeout, log: self.log_tail() });
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ServerError::Exited { status: status.to_string(), log: self.log_tail() });
            }
            if connection.is_none() && kubeconfig.exists() {
                // A kubeconfig that fails to parse is being replaced: try again next poll.
                if let Ok(endpoint) = Endpoint::from_kubeconfig(&kubeconfig, self.address) {
                    connection = Connection::open(&endpoint, false).await.ok();
                }
            }
            if let Some(open) = connection.as_mut() {
                match open.send(Method::GET, "/readyz", None).await {
                    Ok(response) if response.status == StatusCode::OK && response.body.as_ref() == b"ok" => {
                        return Ok(self.spawned_at.elapsed());
                    }
                    Ok(_) => {}
                    Err(_) => connection = None,
                }
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    pub fn kubeconfig_path(&self) -> PathBuf {
        self.data_dir.join("kubeconfig.yaml")
    }

    /// The address and credentials of this (ready) server.
    pub fn endpoint(&self) -> Result<Endpoint, ServerError> {
        Ok(Endpoint::from_kubeconfig(&self.kubeconfig_path(), self.address)?)
    }

    /// Resident memory now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> Result<u64, ServerError> {
        self.status_field("VmRSS")
    }

    /// Peak resident memory since start (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64, ServerError> {
        self.status_field("VmHWM")
    }

    fn status_field(&self, field: &'static str) -> Result<u64, ServerError> {
        let path = format!("/proc/{}/status", self.pid);
        let text = std::fs::read_to_string(&path).map_err(|source| ServerError::Proc { path: path.clone(), source })?;
        text.lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or(ServerError::ProcField { path, field })
    }

    /// SIGTERM, then SIGKILL if the server has not exited within `grace`. Returns how long
    /// the clean shutdown took (or `None` when it had to be killed).
    pub async fn stop(mut self, grace: Duration) -> Result<Option<Duration>, ServerError> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Ok(Some(Duration::ZERO));
        }
        let asked = Instant::now();
        nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGTERM).map_err(ServerError::Signal)?;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(_) => Ok(Some(asked.elapsed())),
            Err(_) => {
                let _ = self.child.kill().await;
                Ok(None)
            }
        }
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// A port the kernel just handed out on loopback. Released before the server binds it; the
/// window is tiny and a collision shows up as a clear start-up error.
fn free_port() -> Result<u16, ServerError> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(ServerError::Port)?;
    Ok(listener.local_addr().map_err(ServerError::Port)?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_binary_that_exits_at_once_is_reported_with_its_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        // `false` ignores its arguments and exits 1: the shape of a server that fails to start.
        let launch = Launch { binary: PathBuf::from("false"), datastore_endpoint: None, extra_args: Vec::new() };
        let mut server = ServerProcess::spawn(&launch, dir.path(), &dir.path().join("log")).expect("spawn");
        let error = server.wait_ready(Duration::from_secs(10)).await.expect_err("must fail");
        assert!(matches!(error, ServerError::Exited { .. }), "{error}");
    }

    #[tokio::test]
    async fn a_missing_binary_is_a_spawn_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let launch =
            Launch { binary: dir.path().join("no-such-peapod"), datastore_endpoint: None, extra_args: Vec::new() };
        let error = ServerProcess::spawn(&launch, dir.path(), &dir.path().join("log")).err().expect("must fail");
        assert!(matches!(error, ServerError::Spawn { .. }));
    }

    #[tokio::test]
    async fn rss_is_read_from_proc_and_stop_ends_the_process() {
        let dir = tempfile::tempdir().expect("temp dir");
        // `sleep` ignores nothing: give it a script that sleeps regardless of arguments.
        let script = dir.path().join("fake-server");
        std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").expect("write");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let launch = Launch { binary: script, datastore_endpoint: None, extra_args: Vec::new() };
        let server = ServerProcess::spawn(&launch, dir.path(), &dir.path().join("log")).expect("spawn");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(server.rss_kib().expect("VmRSS") > 0);
        assert!(server.peak_rss_kib().expect("VmHWM") >= server.rss_kib().expect("VmRSS"));
        let pid = server.pid;
        let stopped = server.stop(Duration::from_secs(5)).await.expect("stop");
        assert!(stopped.is_some(), "sleep exits on SIGTERM");
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
