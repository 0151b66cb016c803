//! The control plane's reconcilers: the scheduler (`scheduler/`) and the controllers
//! (`controllers/`: replicaset, deployment, garbage collector, namespace, node lifecycle,
//! pod GC), run inside `peapod server` under leader election.
//!
//! Architecture invariants: everything here talks to the API through `client`, exactly as an
//! external process would (so the same code can run elsewhere), and is level-triggered: every
//! reconcile reads the current state and converges from it, tolerating lost events and
//! restarts at any point.

pub mod controllers;
pub mod events;
pub mod runner;
pub mod scheduler;
pub mod sim_nodes;

use std::time::Duration;

/// Timings and knobs of the control plane (the binary maps flags onto it).
#[derive(Clone, Debug)]
pub struct ControlConfig {
    /// Whether this server runs the scheduler (`--disable-scheduler` turns it off).
    pub run_scheduler: bool,
    /// Whether this server runs the controllers (`--disable-controller-manager`).
    pub run_controllers: bool,
    /// A node whose Lease is not renewed for this long becomes `Ready=Unknown`
    /// (kube-controller-manager's `--node-monitor-grace-period`, 40 s).
    pub node_monitor_grace_period: Duration,
    /// The `tolerationSeconds` admission adds for the not-ready/unreachable taints is 300 s;
    /// pods without a toleration are evicted at once. Tests shorten node grace instead.
    pub pod_eviction_check_interval: Duration,
    /// Terminated pods kept before pod GC deletes the oldest (`--terminated-pod-gc-threshold`,
    /// 12500 in Kubernetes).
    pub terminated_pod_gc_threshold: usize,
    /// How often pod GC runs (kube-controller-manager's `gcCheckPeriod`, 20 s).
    pub pod_gc_period: Duration,
    /// How long a pod bound to a missing node waits before pod GC deletes it (upstream's
    /// `quarantineTime`, 40 s), so a node that is only being (re)created is not mistaken.
    pub orphaned_pod_quarantine: Duration,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            run_scheduler: true,
            run_controllers: true,
            node_monitor_grace_period: Duration::from_secs(40),
            pod_eviction_check_interval: Duration::from_secs(5),
            terminated_pod_gc_threshold: 12500,
            pod_gc_period: Duration::from_secs(20),
            orphaned_pod_quarantine: Duration::from_secs(40),
        }
    }
}
