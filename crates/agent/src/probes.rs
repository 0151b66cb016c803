//! Probes and lifecycle handlers: exec (exit code 0), httpGet (200 <= status < 400, against
//! the pod IP unless `host` is set), tcpSocket (the port accepts), grpc, and for hooks also
//! `sleep`. One probe run, with its timeout; scheduling (initialDelay, period, thresholds) is
//! the pod workers' business.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{LifecycleHandler, Probe};

use crate::runtime::Runtime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    Success,
    /// The message goes into the `Unhealthy` event (`Liveness probe failed: ...`).
    Failure(String),
    /// No action (e.g. the container is not running).
    Unknown(String),
}

/// Runs one probe once.
pub async fn run_probe(
    runtime: &dyn Runtime,
    container_id: &str,
    pod_ip: Option<IpAddr>,
    probe: &Probe,
) -> ProbeResult {
    let _ = (runtime, container_id, pod_ip, probe);
    ProbeResult::Unknown("probes: not implemented yet".into())
}

/// Runs a postStart or preStop handler; the error message goes into the
/// `FailedPostStartHook` / `FailedPreStopHook` event.
pub async fn run_handler(
    runtime: &dyn Runtime,
    container_id: &str,
    pod_ip: Option<IpAddr>,
    handler: &LifecycleHandler,
) -> Result<(), String> {
    let _ = (runtime, container_id, pod_ip, handler);
    Err("lifecycle handlers: not implemented yet".into())
}
