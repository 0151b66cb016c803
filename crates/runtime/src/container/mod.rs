//! Containers run by an OCI runtime binary (crun by default, runc as the fallback): the
//! runtime-spec `config.json` a Kubernetes container becomes (`spec`, with the types in
//! `runtime_spec`, the default seccomp profile in `seccomp` and user resolution in `user`), the
//! thin wrappers over the runtime's CLI (`oci_runtime`, `exec`, `console`) and the pod-level
//! cgroups (`cgroups`).
//!
//! This module turns an already-decided [`agent::runtime::ContainerConfig`] into a bundle and
//! runs runtime commands; it does not decide Kubernetes semantics (command/args, env merging,
//! volumes, restart policy: the agent's), nor keep containers alive across agent restarts (the
//! per-pod shim's, which reuses [`OciRuntime::create_command`]).

pub mod cgroups;
pub mod console;
pub mod exec;
pub mod oci_runtime;
pub mod runtime_spec;
pub mod seccomp;
pub mod spec;
pub mod user;

pub use exec::{ExecProcess, ExecStdio, ResizeHandle};
pub use oci_runtime::{OciRuntime, RuntimeState};
pub use spec::{SandboxInfo, build_spec, write_bundle};
pub use user::{ResolvedUser, resolve_user};

use std::path::PathBuf;

/// Errors of this module. `Invalid` is bad input (a container spec that cannot be turned into
/// a bundle: unknown capability, user not in the image, ...) and maps to
/// `CreateContainerError`; `Runtime` carries the OCI runtime's own message.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no usable OCI runtime: {0}")]
    NoRuntime(String),
    /// The OCI runtime binary exited non-zero; `stderr` is its message, trimmed.
    #[error("{runtime} {op} failed: {stderr}")]
    Runtime { runtime: String, op: String, stderr: String },
    #[error("{0}")]
    Invalid(String),
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UserNotFound(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    GroupNotFound(String),
    #[error("cgroup {path}: {message}")]
    Cgroup { path: PathBuf, message: String },
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
}

/// `map_err` helper: an IO error with what was being done.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
    let context = context.into();
    move |source| ContainerError::Io { context, source }
}
