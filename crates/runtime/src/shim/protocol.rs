//! The shim's wire types (JSON lines over `DIR/shim.sock`, described in [`crate::shim`]) and
//! the persisted container record. Pure data: no IO here.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Create(CreateContainer),
    Start {
        id: String,
    },
    Kill {
        id: String,
        signal: i32,
    },
    Delete {
        id: String,
    },
    State,
    Subscribe,
    Shutdown,
    Attach {
        id: String,
        stream: AttachStream,
        #[serde(default)]
        close_stdin: bool,
    },
    /// Sets the terminal size of a container created with `tty` (an attached client's resize).
    Resize {
        id: String,
        width: u16,
        height: u16,
    },
}

/// Which of a container's streams an `attach` connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachStream {
    Stdin,
    Stdout,
    Stderr,
}

/// What `create` needs: an OCI bundle the agent wrote, and where the logs go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateContainer {
    /// The runtime's container id: `[A-Za-z0-9_.+-]`, at most 128 bytes, not starting with `.`.
    pub id: String,
    /// Absolute path of the bundle directory (holding `config.json`).
    pub bundle: PathBuf,
    /// Absolute path of the CRI log file.
    pub log_path: PathBuf,
    /// Keep a stdin pipe open to the container (for attach).
    #[serde(default)]
    pub stdin: bool,
    /// The bundle asks for a terminal (`process.terminal`); output then comes from a pty.
    #[serde(default)]
    pub tty: bool,
    /// Rotate the log once it would pass this many bytes (default 10 MiB, the kubelet's).
    #[serde(default)]
    pub log_max_size: Option<u64>,
    /// Log files kept, the current one included (default 5, the kubelet's).
    #[serde(default)]
    pub log_max_files: Option<u32>,
}

/// A container's lifecycle state as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Created,
    Running,
    Exited,
}

/// Everything the shim knows about one container; also the content of
/// `DIR/containers/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub id: String,
    pub bundle: PathBuf,
    pub log_path: PathBuf,
    pub stdin: bool,
    pub tty: bool,
    /// The container's init process on the host (kept after exit, for the record).
    pub pid: Option<u32>,
    pub status: Status,
    /// Exit status, or 128 + signal number when a signal killed it; 255 when unknown (the
    /// shim that watched it died).
    pub exit_code: Option<i32>,
    /// RFC 3339 UTC with nine fraction digits.
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub log_max_size: u64,
    pub log_max_files: u32,
}

/// One exit, as pushed to subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitEvent {
    pub id: String,
    pub pid: Option<u32>,
    pub exit_code: i32,
    pub finished_at: String,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No container with that id.
    NotFound,
    /// A container with that id exists already.
    AlreadyExists,
    /// The request is malformed or names an impossible action (start of a running container).
    Invalid,
    /// The OCI runtime or the system refused.
    Runtime,
}

/// One response line (or, on a subscribed connection, one event line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok,
    Container(ContainerInfo),
    State { shim_pid: u32, containers: Vec<ContainerInfo> },
    Subscribed,
    Attached,
    Exit(ExitEvent),
    Error { kind: ErrorKind, message: String },
}
