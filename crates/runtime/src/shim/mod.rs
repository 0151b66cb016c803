//! The per-pod shim: `peapod shim`, one small process per pod that holds the pod's sandbox
//! (IPC and UTS namespaces), its containers' stdio, logs and exit codes, so that the agent
//! can die (`kill -9`, upgrade) and re-adopt everything when it comes back.
//!
//! This module owns the shim process ([`main`]), its wire protocol ([`Request`],
//! [`Response`]), the CRI log writer and the agent's client ([`ShimClient`]). It must not
//! decide *what* runs (bundles are written by the agent) and never talks to the API server.
//!
//! # The process
//!
//! `peapod shim --pod-dir DIR --runtime-binary /usr/bin/crun --runtime-root ROOT [--hostname NAME]`
//! (the agent starts it through [`ShimClient::spawn`]). It
//! - moves stdin to `/dev/null` and stdout/stderr to `DIR/shim.log`, starts a new session
//!   (`setsid`), so that the agent's death, terminal or process group do not reach it;
//! - takes an exclusive `flock` on `DIR/shim.pid` and writes its pid there (one shim per
//!   directory);
//! - becomes a child subreaper (`PR_SET_CHILD_SUBREAPER`): container inits are reparented to
//!   it when the runtime's `create` exits, and it reaps them (exit code = status, or 128 +
//!   signal);
//! - unshares an IPC and a UTS namespace and sets the hostname: the pod's containers join
//!   `/proc/<shim pid>/ns/ipc` and `/proc/<shim pid>/ns/uts` (the agent writes those paths
//!   into each `config.json`; it must not set `hostname` there);
//! - serves `DIR/shim.sock` from a single-threaded epoll loop until `shutdown`, SIGTERM or
//!   SIGINT (all three kill and delete every container first).
//!
//! Files in `DIR`: `shim.sock`, `shim.pid`, `shim.log`, `console.sock` (briefly, during a
//! `create` with a terminal), `containers/<id>.json` (the [`ContainerInfo`] record, replaced
//! atomically at every change, fsynced) and `containers/<id>.pid` (the runtime's pid file).
//! A shim started on a directory that holds records keeps the exited ones; containers that
//! were created or running lost their watcher: they are deleted from the runtime and reported
//! exited with code 255.
//!
//! # Protocol
//!
//! JSON lines on `DIR/shim.sock`: one request line, one response line, in order. Requests
//! are objects tagged by `op`:
//!
//! | request | response |
//! | --- | --- |
//! | `{"op":"create","id":"c1","bundle":"/abs/bundle","log_path":"/abs/0.log","stdin":false,"tty":false,"log_max_size":null,"log_max_files":null}` | `{"container":{...ContainerInfo}}` |
//! | `{"op":"start","id":"c1"}` | `{"container":{...}}` |
//! | `{"op":"kill","id":"c1","signal":15}` (a no-op once exited) | `"ok"` |
//! | `{"op":"delete","id":"c1"}` (SIGKILL if needed, `<runtime> delete --force`, forget) | `"ok"` |
//! | `{"op":"state"}` | `{"state":{"shim_pid":123,"containers":[...]}}` |
//! | `{"op":"subscribe"}` | `"subscribed"`, then one `{"exit":{"id":"c1","pid":456,"exit_code":0,"finished_at":"..."}}` per container exit, for as long as the connection stays open |
//! | `{"op":"attach","id":"c1","stream":"stdout"\|"stderr"\|"stdin","close_stdin":false}` | `"attached"`, then the connection is that raw stream (see below) |
//! | `{"op":"resize","id":"c1","width":100,"height":30}` (a `tty` container's terminal, `TIOCSWINSZ`) | `"ok"` |
//! | `{"op":"shutdown"}` | `"ok"` once every container is killed and deleted; then the shim exits |
//!
//! Any request can instead get `{"error":{"kind":"not_found"|"already_exists"|"invalid"|"runtime","message":"..."}}`.
//! A [`ContainerInfo`] is `{"id","bundle","log_path","stdin","tty","pid","status":"created"|"running"|"exited","exit_code","created_at","started_at","finished_at","log_max_size","log_max_files"}`
//! with timestamps in RFC 3339 UTC with nine fraction digits. To miss no exit, subscribe
//! first, then read `state`. `create` runs `<runtime> --root ROOT create --bundle B
//! --pid-file DIR/containers/<id>.pid [--console-socket DIR/console.sock] <id>`; `start` runs
//! `<runtime> start <id>`; `kill` signals the init directly (it is the shim's unreaped child,
//! so its pid cannot be reused).
//!
//! Attach (`kubectl attach`, `kubectl run -i`): one connection per stream. After
//! `"attached"`, an output connection receives the bytes the container writes from then on,
//! raw (a terminal's output is `stdout`; the log gets them too), and is closed when the
//! stream ends; a client that lets 1 MiB pile up is dropped. A `stdin` connection (only for
//! containers created with `stdin: true`, one at a time) carries bytes to the container's
//! stdin, with back-pressure: a full pipe stops the shim reading the connection. While no
//! one is attached the shim holds stdin open, so the container's reads block rather than see
//! end of file; with `close_stdin` (`stdinOnce`) the end of the attachment closes it.
//!
//! # Logs
//!
//! The shim copies the container's stdout and stderr (or its terminal, as `stdout`) to
//! `log_path` in the CRI format containerd writes: `2016-10-06T00:17:09.669794202Z stdout F
//! message` (the time in UTC, Go's RFC3339Nano: trailing zeros of the fraction dropped);
//! lines longer than 16 KiB become `P` entries of 16 KiB and a final `F`; a stream ending
//! without a newline ends with a `P` entry. Output written before a container exits is in the
//! log before its exit is reported.
//!
//! Rotation by size, with the kubelet's defaults (`containerLogMaxSize` 10 MiB,
//! `containerLogMaxFiles` 5) or the `log_max_size`/`log_max_files` of `create`: before an
//! entry that would take `LOG` past the maximum, `LOG.{n-1}` is removed, `LOG.{i}` renamed to
//! `LOG.{i+1}`, `LOG` renamed to `LOG.1` and a new `LOG` created. So the files, oldest first,
//! are `LOG.{n-1}` .. `LOG.1`, `LOG` ([`log_files`] lists them); entries are never split
//! across files. A follower that reads its open file to the end and then reopens `LOG` when
//! the path names another inode loses no line.

mod client;
mod log;
mod protocol;
mod server;
mod state;
mod time;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use client::{CALL_TIMEOUT, START_TIMEOUT, ShimClient};
pub use log::{DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE};
pub use protocol::{AttachStream, ContainerInfo, CreateContainer, ErrorKind, ExitEvent, Request, Response, Status};
pub use server::ShimArgs;

/// Errors of the shim and of its client.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("shim I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("a shim already serves {0}")]
    AlreadyRunning(PathBuf),
    #[error("shim did not start: {0}")]
    Spawn(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Invalid(String),
    /// The OCI runtime (or the system) refused; the message is the runtime's.
    #[error("{0}")]
    Runtime(String),
    #[error("shim protocol: {0}")]
    Protocol(String),
    #[error("the shim closed the connection")]
    Closed,
    #[error("the shim did not answer within {0:?}")]
    Timeout(Duration),
}

/// The `peapod shim` process. Must be called before the process starts any thread: it
/// changes namespaces and the signal mask, which apply to one thread only.
pub fn main(args: ShimArgs) -> Result<(), ShimError> {
    server::run(args)
}

/// The existing log files of a container, oldest first, the current `log_path` last.
pub fn log_files(log_path: &Path, max_files: u32) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..max_files.max(1))
        .rev()
        .map(|i| {
            let mut name = log_path.as_os_str().to_owned();
            name.push(format!(".{i}"));
            PathBuf::from(name)
        })
        .filter(|p| p.exists())
        .collect();
    if log_path.exists() {
        files.push(log_path.to_path_buf());
    }
    files
}
