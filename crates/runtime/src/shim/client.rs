//! The agent's side of the shim protocol: start a shim, connect to one that survived an
//! agent restart, and make calls. Async (tokio); one request at a time per client
//! connection, exits on a connection of their own. It must not interpret container state
//! (that is the agent's) and holds nothing the shim does not also persist.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, mpsc};

use super::ShimError;
use super::protocol::{AttachStream, ContainerInfo, CreateContainer, ErrorKind, ExitEvent, Request, Response};

/// A call the shim does not answer within this time fails with [`ShimError::Timeout`] (the
/// longest legitimate one is `create` of a slow runtime or `shutdown` of many containers).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`ShimClient::spawn`] waits for a new shim's socket to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Conn {
    async fn open(pod_dir: &Path) -> Result<Conn, ShimError> {
        let stream = UnixStream::connect(pod_dir.join("shim.sock")).await?;
        let (r, w) = stream.into_split();
        Ok(Conn { reader: BufReader::new(r), writer: w })
    }

    async fn call(&mut self, request: &Request) -> Result<Response, ShimError> {
        let mut line = serde_json::to_vec(request).map_err(|e| ShimError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.writer.write_all(&line).await?;
        self.read().await
    }

    async fn read(&mut self) -> Result<Response, ShimError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).await? == 0 {
            return Err(ShimError::Closed);
        }
        let response: Response =
            serde_json::from_str(&line).map_err(|e| ShimError::Protocol(format!("{e}: {}", line.trim())))?;
        match response {
            Response::Error { kind, message } => Err(match kind {
                ErrorKind::NotFound => ShimError::NotFound(message),
                ErrorKind::AlreadyExists => ShimError::AlreadyExists(message),
                ErrorKind::Invalid => ShimError::Invalid(message),
                ErrorKind::Runtime => ShimError::Runtime(message),
            }),
            other => Ok(other),
        }
    }
}

/// A connection to one pod's shim.
pub struct ShimClient {
    pod_dir: PathBuf,
    pid: u32,
    /// `None` after a failed call: the next call reconnects instead of reading a stale answer.
    conn: Mutex<Option<Conn>>,
}

impl ShimClient {
    /// Starts `exe args_prefix... --pod-dir DIR --runtime-binary B --runtime-root R
    /// [--hostname H]` and returns once that process answers on `DIR/shim.sock`. Fails with
    /// [`ShimError::AlreadyRunning`] when a shim already serves `pod_dir` (use
    /// [`ShimClient::connect`]).
    pub async fn spawn(
        exe: &Path,
        args_prefix: &[&str],
        pod_dir: &Path,
        runtime_binary: &Path,
        runtime_root: &Path,
        hostname: Option<&str>,
    ) -> Result<ShimClient, ShimError> {
        if ShimClient::connect(pod_dir).await.is_ok() {
            return Err(ShimError::AlreadyRunning(pod_dir.to_path_buf()));
        }
        // One mkdir, too short for a blocking thread of its own.
        std::fs::create_dir_all(pod_dir)?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(args_prefix)
            .arg("--pod-dir")
            .arg(pod_dir)
            .arg("--runtime-binary")
            .arg(runtime_binary)
            .arg("--runtime-root")
            .arg(runtime_root);
        if let Some(h) = hostname {
            cmd.arg("--hostname").arg(h);
        }
        // stderr until the shim moves it to DIR/shim.log: flag errors and early failures.
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(false);
        let mut child = cmd.spawn().map_err(|e| ShimError::Spawn(format!("{}: {e}", exe.display())))?;
        let child_pid = child.id().unwrap_or(0);
        let mut stderr = child.stderr.take();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                let mut early = String::new();
                if let Some(s) = stderr.as_mut() {
                    let _ = s.take(64 * 1024).read_to_string(&mut early).await;
                }
                let log = std::fs::read_to_string(pod_dir.join("shim.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(ShimError::Spawn(format!("exited with {status}: {} {}", early.trim(), tail.join("\n"))));
            }
            // The pid check makes sure the answer comes from this shim, not a dying one.
            if let Ok(client) = ShimClient::connect(pod_dir).await
                && client.pid == child_pid
            {
                // The shim is this process's child until it dies: reap it then.
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
                return Ok(client);
            }
            if Instant::now() > deadline {
                let _ = child.start_kill();
                return Err(ShimError::Timeout(START_TIMEOUT));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Connects to the shim serving `pod_dir` (after an agent restart: re-adoption).
    pub async fn connect(pod_dir: &Path) -> Result<ShimClient, ShimError> {
        let mut conn = Conn::open(pod_dir).await?;
        let pid = match tokio::time::timeout(CALL_TIMEOUT, conn.call(&Request::State)).await {
            Ok(Ok(Response::State { shim_pid, .. })) => shim_pid,
            Ok(Ok(other)) => return Err(unexpected(&other)),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(ShimError::Timeout(CALL_TIMEOUT)),
        };
        Ok(ShimClient { pod_dir: pod_dir.to_path_buf(), pid, conn: Mutex::new(Some(conn)) })
    }

    /// The shim's process id (its `/proc/<pid>/ns/ipc` and `/ns/uts` are the pod's).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn pod_dir(&self) -> &Path {
        &self.pod_dir
    }

    async fn call(&self, request: &Request) -> Result<Response, ShimError> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            *guard = Some(Conn::open(&self.pod_dir).await?);
        }
        let Some(conn) = guard.as_mut() else { return Err(ShimError::Closed) };
        let result = match tokio::time::timeout(CALL_TIMEOUT, conn.call(request)).await {
            Ok(r) => r,
            Err(_) => Err(ShimError::Timeout(CALL_TIMEOUT)),
        };
        // Request errors leave the connection in step; transport errors do not.
        if matches!(result, Err(ShimError::Io(_) | ShimError::Closed | ShimError::Timeout(_) | ShimError::Protocol(_)))
        {
            *guard = None;
        }
        result
    }

    /// `<runtime> create` with the container's stdio held by the shim; the container is
    /// `created` (its init waits for `start`).
    pub async fn create(&self, spec: &CreateContainer) -> Result<ContainerInfo, ShimError> {
        match self.call(&Request::Create(spec.clone())).await? {
            Response::Container(info) => Ok(info),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn start(&self, id: &str) -> Result<ContainerInfo, ShimError> {
        match self.call(&Request::Start { id: id.to_string() }).await? {
            Response::Container(info) => Ok(info),
            other => Err(unexpected(&other)),
        }
    }

    /// Signals the container's init; a no-op once it exited.
    pub async fn kill(&self, id: &str, signal: Signal) -> Result<(), ShimError> {
        self.expect_ok(&Request::Kill { id: id.to_string(), signal: signal as i32 }).await
    }

    /// Sets the terminal size of a container created with `tty`.
    pub async fn resize(&self, id: &str, width: u16, height: u16) -> Result<(), ShimError> {
        self.expect_ok(&Request::Resize { id: id.to_string(), width, height }).await
    }

    /// Kills the container if it still runs, removes it from the runtime and forgets it.
    pub async fn delete(&self, id: &str) -> Result<(), ShimError> {
        self.expect_ok(&Request::Delete { id: id.to_string() }).await
    }

    /// Every container the shim holds, exited ones included, oldest first.
    pub async fn state(&self) -> Result<Vec<ContainerInfo>, ShimError> {
        match self.call(&Request::State).await? {
            Response::State { containers, .. } => Ok(containers),
            other => Err(unexpected(&other)),
        }
    }

    /// Exits from now on, on a connection of their own. Subscribe before reading
    /// [`ShimClient::state`] to miss none. The channel closes when the shim goes away.
    pub async fn subscribe(&self) -> Result<mpsc::Receiver<ExitEvent>, ShimError> {
        let mut conn = Conn::open(&self.pod_dir).await?;
        match tokio::time::timeout(CALL_TIMEOUT, conn.call(&Request::Subscribe)).await {
            Ok(Ok(Response::Subscribed)) => {}
            Ok(Ok(other)) => return Err(unexpected(&other)),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(ShimError::Timeout(CALL_TIMEOUT)),
        }
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Ok(response) = conn.read().await {
                if let Response::Exit(event) = response
                    && tx.send(event).await.is_err()
                {
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// A raw stream of one of the container's streams (`kubectl attach`): its output from
    /// now on (stdout/stderr; a terminal's output is stdout), or its input (stdin, when
    /// created with `stdin`; with `close_stdin` the container's stdin is closed when this
    /// stream is, as `stdinOnce` asks). An output stream ends when the container's does.
    pub async fn attach(&self, id: &str, stream: AttachStream, close_stdin: bool) -> Result<UnixStream, ShimError> {
        let mut sock = UnixStream::connect(self.pod_dir.join("shim.sock")).await?;
        let request = Request::Attach { id: id.to_string(), stream, close_stdin };
        let mut line = serde_json::to_vec(&request).map_err(|e| ShimError::Protocol(e.to_string()))?;
        line.push(b'\n');
        sock.write_all(&line).await?;
        // Byte by byte: whatever follows the answer already belongs to the raw stream.
        let mut answer = Vec::new();
        let read = async {
            loop {
                let b = sock.read_u8().await?;
                if b == b'\n' {
                    return Ok::<_, std::io::Error>(());
                }
                answer.push(b);
                if answer.len() > 64 * 1024 {
                    return Err(std::io::Error::other("answer too long"));
                }
            }
        };
        match tokio::time::timeout(CALL_TIMEOUT, read).await {
            Ok(r) => r?,
            Err(_) => return Err(ShimError::Timeout(CALL_TIMEOUT)),
        }
        let response: Response = serde_json::from_slice(&answer).map_err(|e| ShimError::Protocol(e.to_string()))?;
        match response {
            Response::Attached => Ok(sock),
            Response::Error { kind, message } => Err(match kind {
                ErrorKind::NotFound => ShimError::NotFound(message),
                ErrorKind::AlreadyExists => ShimError::AlreadyExists(message),
                ErrorKind::Invalid => ShimError::Invalid(message),
                ErrorKind::Runtime => ShimError::Runtime(message),
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Kills and deletes every container, then the shim exits; returns once it has closed
    /// the connection.
    pub async fn shutdown(self) -> Result<(), ShimError> {
        self.expect_ok(&Request::Shutdown).await?;
        let mut guard = self.conn.lock().await;
        if let Some(conn) = guard.as_mut() {
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(CALL_TIMEOUT, conn.reader.read_to_end(&mut rest)).await;
        }
        Ok(())
    }

    async fn expect_ok(&self, request: &Request) -> Result<(), ShimError> {
        match self.call(request).await? {
            Response::Ok => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(response: &Response) -> ShimError {
    ShimError::Protocol(format!("unexpected response {response:?}"))
}
