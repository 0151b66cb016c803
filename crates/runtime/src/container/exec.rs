//! Running a further process in a running container (`kubectl exec`, exec probes, lifecycle
//! hooks): `<runtime> exec --process process.json [--tty --console-socket S] id`.
//!
//! The process document is the container's own `process` (from its bundle's `config.json`,
//! found through `state`) with the new argv, terminal flag and extra environment, so an exec
//! runs as the same user, with the same capabilities, rlimits and `noNewPrivileges` as the
//! container, as containerd does.

use super::console::{ConsoleSocket, set_window_size};
use super::oci_runtime::OciRuntime;
use super::runtime_spec::{ConsoleSize, Process, Spec};
use super::{ContainerError, io_err};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

/// How long the runtime may take to hand over a terminal.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a terminal already sent may take to be read once the runtime has exited.
const MASTER_AFTER_EXIT: Duration = Duration::from_secs(1);

/// The streams of a running exec.
pub enum ExecStdio {
    Pipes {
        stdin: Option<ChildStdin>,
        stdout: ChildStdout,
        stderr: ChildStderr,
    },
    /// The pty master: read it for the output, write it for the input.
    Tty {
        master: OwnedFd,
    },
}

/// A process started by [`OciRuntime::exec_streaming`].
pub struct ExecProcess {
    child: Child,
    pub stdio: Option<ExecStdio>,
    /// Kept until the process is dropped: the runtime reads the process document late.
    _files: ExecFiles,
    pid_file: PathBuf,
}

/// Resizes the exec's terminal; independent of the [`ExecProcess`] so that a task
/// forwarding resize events can own it.
pub struct ResizeHandle {
    master: OwnedFd,
}

impl ResizeHandle {
    pub fn resize(&self, width: u16, height: u16) -> Result<(), ContainerError> {
        set_window_size(&self.master, width, height)
    }
}

impl ExecProcess {
    /// A handle to resize the terminal (`None` without a TTY).
    pub fn resize_handle(&self) -> Result<Option<ResizeHandle>, ContainerError> {
        match &self.stdio {
            Some(ExecStdio::Tty { master }) => {
                let master = master.as_fd().try_clone_to_owned().map_err(io_err("dup terminal"))?;
                Ok(Some(ResizeHandle { master }))
            }
            _ => Ok(None),
        }
    }

    /// Waits for the process and returns its exit code (128 + signal when killed).
    pub async fn wait(&mut self) -> Result<i32, ContainerError> {
        let status = self.child.wait().await.map_err(io_err("wait for exec"))?;
        Ok(exit_code(status))
    }

    /// The exec'd process's pid on the host, once the runtime has written it.
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(&self.pid_file).ok().and_then(|s| s.trim().parse().ok())
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(-1)
}

/// The per-exec files (process document, pid file), removed on drop.
struct ExecFiles {
    dir: PathBuf,
}

impl Drop for ExecFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static EXEC_SEQ: AtomicU64 = AtomicU64::new(0);

impl OciRuntime {
    /// The container's `process` from its bundle, the template every exec starts from.
    pub async fn container_process(&self, id: &str) -> Result<Process, ContainerError> {
        let state = self.state(id).await?;
        let path = Path::new(&state.bundle).join("config.json");
        let bytes = tokio::fs::read(&path).await.map_err(io_err(format!("read {}", path.display())))?;
        let spec: Spec = serde_json::from_slice(&bytes)
            .map_err(|source| ContainerError::Json { context: format!("parse {}", path.display()), source })?;
        Ok(spec.process)
    }

    /// Writes the exec's process document into a fresh directory under the state root.
    async fn prepare_exec(
        &self,
        id: &str,
        argv: &[String],
        env: &[(String, String)],
        tty: bool,
        console_size: Option<ConsoleSize>,
    ) -> Result<(ExecFiles, PathBuf, PathBuf), ContainerError> {
        if argv.is_empty() {
            return Err(ContainerError::Invalid("exec needs a command".into()));
        }
        let mut process = self.container_process(id).await?;
        process.args = argv.to_vec();
        process.terminal = tty;
        process.console_size = if tty { console_size.filter(|size| size.height > 0 && size.width > 0) } else { None };
        for (k, v) in env {
            let prefix = format!("{k}=");
            process.env.retain(|e| !e.starts_with(&prefix));
            process.env.push(format!("{k}={v}"));
        }
        let n = EXEC_SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = self.root.join(format!("exec-{}-{n}", std::process::id()));
        tokio::fs::create_dir_all(&dir).await.map_err(io_err(format!("create {}", dir.display())))?;
        let files = ExecFiles { dir: dir.clone() };
        let doc = dir.join("process.json");
        let bytes = serde_json::to_vec(&process)
            .map_err(|source| ContainerError::Json { context: "encode process.json".into(), source })?;
        tokio::fs::write(&doc, bytes).await.map_err(io_err(format!("write {}", doc.display())))?;
        Ok((files, doc, dir.join("pid")))
    }

    /// `exec --process P [--tty --console-socket S] [--detach] --pid-file F id`.
    pub fn exec_command(
        &self,
        id: &str,
        process_json: &Path,
        console_socket: Option<&Path>,
        detach: bool,
        pid_file: &Path,
    ) -> std::process::Command {
        let mut c = self.command();
        c.arg("exec").arg("--process").arg(process_json).arg("--pid-file").arg(pid_file);
        if let Some(s) = console_socket {
            c.arg("--tty").arg("--console-socket").arg(s);
        }
        if detach {
            c.arg("--detach");
        }
        c.arg(id);
        c
    }

    /// Runs `argv` in the container and collects its output (exec probes, hooks). On timeout
    /// the process is killed and [`ContainerError::Timeout`] returned.
    pub async fn exec_sync(
        &self,
        id: &str,
        argv: &[String],
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<(i32, Vec<u8>, Vec<u8>), ContainerError> {
        let (files, doc, pid_file) = self.prepare_exec(id, argv, env, false, None).await?;
        let mut child = tokio::process::Command::from(self.exec_command(id, &doc, None, false, &pid_file))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(io_err(format!("run {} exec", self.name)))?;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let collect = async {
            let read_out = async {
                if let Some(s) = stdout.as_mut() {
                    let _ = s.read_to_end(&mut out).await;
                }
            };
            let read_err = async {
                if let Some(s) = stderr.as_mut() {
                    let _ = s.read_to_end(&mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
            child.wait().await
        };
        let result = tokio::time::timeout(timeout, collect).await;
        match result {
            Ok(status) => {
                let status = status.map_err(io_err("wait for exec"))?;
                drop(files);
                Ok((exit_code(status), out, err))
            }
            Err(_) => {
                // Killing the runtime's exec would leave the process running in the container:
                // kill the process itself (its pid is in the pid file).
                if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
                drop(files);
                Err(ContainerError::Timeout(timeout))
            }
        }
    }

    /// Starts `argv` in the container with streams: piped stdio without a TTY, the pty master
    /// (received over a console socket) with one. `stdin` says whether the caller will write.
    pub async fn exec_streaming(
        &self,
        id: &str,
        argv: &[String],
        env: &[(String, String)],
        tty: bool,
        stdin: bool,
    ) -> Result<ExecProcess, ContainerError> {
        self.exec_streaming_sized(id, argv, env, tty, stdin, None).await
    }

    /// [`OciRuntime::exec_streaming`] with the terminal's initial size (`process.consoleSize`,
    /// ignored without a TTY or when a dimension is 0): the runtime sizes the pty before the
    /// command starts, where a resize after the start would race with the command reading it.
    pub async fn exec_streaming_sized(
        &self,
        id: &str,
        argv: &[String],
        env: &[(String, String)],
        tty: bool,
        stdin: bool,
        console_size: Option<ConsoleSize>,
    ) -> Result<ExecProcess, ContainerError> {
        let (files, doc, pid_file) = self.prepare_exec(id, argv, env, tty, console_size).await?;
        if !tty {
            let mut child = tokio::process::Command::from(self.exec_command(id, &doc, None, false, &pid_file))
                .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(io_err(format!("run {} exec", self.name)))?;
            let stdio = match (child.stdout.take(), child.stderr.take()) {
                (Some(stdout), Some(stderr)) => ExecStdio::Pipes { stdin: child.stdin.take(), stdout, stderr },
                _ => return Err(ContainerError::Invalid("exec without its pipes".into())),
            };
            return Ok(ExecProcess { child, stdio: Some(stdio), _files: files, pid_file });
        }
        let socket = ConsoleSocket::bind(&files.dir.join("console.sock"))?;
        let mut child =
            tokio::process::Command::from(self.exec_command(id, &doc, Some(socket.path()), false, &pid_file))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(io_err(format!("run {} exec", self.name)))?;
        let receive = socket.receive_master(CONSOLE_TIMEOUT);
        tokio::pin!(receive);
        let master = tokio::select! {
            biased;
            m = &mut receive => m?,
            status = child.wait() => {
                // The runtime sends the terminal before it starts the process, so a quick
                // command (`kubectl exec -it pod -- tty`) can be done, and the runtime gone,
                // before the master is read: it is then waiting in the socket, with the
                // command's output buffered in the pty.
                if let Ok(Ok(master)) = tokio::time::timeout(MASTER_AFTER_EXIT, &mut receive).await {
                    return Ok(ExecProcess { child, stdio: Some(ExecStdio::Tty { master }), _files: files, pid_file });
                }
                // The runtime gave up before handing over a terminal.
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut err).await;
                }
                let code = status.map(exit_code).unwrap_or(-1);
                return Err(ContainerError::Runtime { runtime: self.name.clone(), op: "exec".into(), stderr: format!("exit {code}: {}", err.trim()) });
            }
        };
        Ok(ExecProcess { child, stdio: Some(ExecStdio::Tty { master }), _files: files, pid_file })
    }
}
