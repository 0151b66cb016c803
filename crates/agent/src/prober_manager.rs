//! Probe scheduling (the kubelet's `prober.Manager`): one task per probe of each running
//! container, honouring `initialDelaySeconds`, `periodSeconds`, `successThreshold` and
//! `failureThreshold`; liveness and readiness wait until the startup probe succeeded. The
//! results (ready, started, and whether a liveness or startup probe asks for a restart) are
//! read by the pod workers, which are pinged on every change and alone act on them (kill,
//! restart, status). Failures are recorded as `Unhealthy` events.
//!
//! A probe run itself is [`crate::probes::run_probe`]; this module never stops containers.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::events::{EventRecorder, WARNING};
use crate::probes::{ProbeResult, run_container_probe};
use crate::runtime::Runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }
}

/// The probe results of one container instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerProbes {
    /// The readiness probe passed (true without one).
    pub ready: bool,
    /// The startup probe passed (true without one).
    pub started: bool,
    /// The liveness probe reached its failure threshold: restart the container.
    pub liveness_failed: bool,
    /// The startup probe reached its failure threshold: restart the container.
    pub startup_failed: bool,
}

impl ContainerProbes {
    /// Before any probe ran: Failure for readiness, not started with a startup probe.
    pub fn initial(container: &Container) -> Self {
        ContainerProbes {
            ready: container.readiness_probe.is_none(),
            started: container.startup_probe.is_none(),
            liveness_failed: false,
            startup_failed: false,
        }
    }
}

struct Workers {
    pod_uid: String,
    results: Arc<Mutex<ContainerProbes>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub struct ProberManager {
    runtime: Arc<dyn Runtime>,
    events: EventRecorder,
    /// Pod UIDs whose worker must resync because a result changed.
    resync: mpsc::UnboundedSender<String>,
    workers: Mutex<HashMap<String, Workers>>,
}

/// A probe's timing, with the API's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    pub initial_delay: Duration,
    pub period: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl ProbeTiming {
    pub fn of(probe: &Probe) -> Self {
        let seconds = |value: Option<i32>, default: i32| Duration::from_secs(value.unwrap_or(default).max(0) as u64);
        ProbeTiming {
            initial_delay: seconds(probe.initial_delay_seconds, 0),
            period: seconds(probe.period_seconds, 10).max(Duration::from_secs(1)),
            success_threshold: probe.success_threshold.unwrap_or(1).max(1) as u32,
            failure_threshold: probe.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }
}

impl ProberManager {
    pub fn new(runtime: Arc<dyn Runtime>, events: EventRecorder, resync: mpsc::UnboundedSender<String>) -> Self {
        ProberManager { runtime, events, resync, workers: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Workers>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the probes of a running container instance (once per container id).
    pub fn ensure(&self, pod: &Pod, container: &Container, container_id: &str, pod_ip: Option<IpAddr>) {
        let mut workers = self.lock();
        if workers.contains_key(container_id) {
            return;
        }
        let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
        let results = Arc::new(Mutex::new(ContainerProbes::initial(container)));
        let probes = [
            (ProbeKind::Startup, &container.startup_probe),
            (ProbeKind::Liveness, &container.liveness_probe),
            (ProbeKind::Readiness, &container.readiness_probe),
        ];
        let tasks = probes
            .into_iter()
            .filter_map(|(kind, probe)| probe.clone().map(|probe| (kind, probe)))
            .map(|(kind, probe)| {
                let worker = ProbeWorker {
                    kind,
                    probe,
                    runtime: self.runtime.clone(),
                    events: self.events.clone(),
                    resync: self.resync.clone(),
                    results: results.clone(),
                    pod: pod.clone(),
                    container: container.clone(),
                    container_id: container_id.to_string(),
                    pod_ip,
                };
                tokio::spawn(worker.run())
            })
            .collect();
        workers.insert(container_id.to_string(), Workers { pod_uid, results, tasks });
    }

    /// The results of a container instance, if its probes were started.
    pub fn results(&self, container_id: &str) -> Option<ContainerProbes> {
        self.lock().get(container_id).map(|w| *w.results.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Stops the probes of the pod's containers that are not in `running`.
    pub fn retain(&self, pod_uid: &str, running: &HashSet<String>) {
        self.lock().retain(|id, w| w.pod_uid != pod_uid || running.contains(id));
    }

    pub fn remove_pod(&self, pod_uid: &str) {
        self.lock().retain(|_, w| w.pod_uid != pod_uid);
    }
}

struct ProbeWorker {
    kind: ProbeKind,
    probe: Probe,
    runtime: Arc<dyn Runtime>,
    events: EventRecorder,
    resync: mpsc::UnboundedSender<String>,
    results: Arc<Mutex<ContainerProbes>>,
    pod: Pod,
    container: Container,
    container_id: String,
    pod_ip: Option<IpAddr>,
}

impl ProbeWorker {
    fn update(&self, change: impl FnOnce(&mut ContainerProbes)) {
        let changed = {
            let mut results = self.results.lock().unwrap_or_else(PoisonError::into_inner);
            let before = *results;
            change(&mut results);
            *results != before
        };
        if changed {
            let _ = self.resync.send(self.pod.metadata.uid.clone().unwrap_or_default());
        }
    }

    fn started(&self) -> bool {
        self.results.lock().unwrap_or_else(PoisonError::into_inner).started
    }

    async fn run(self) {
        let timing = ProbeTiming::of(&self.probe);
        tokio::time::sleep(timing.initial_delay).await;
        let (mut successes, mut failures) = (0u32, 0u32);
        loop {
            // Liveness and readiness do nothing until the startup probe succeeded.
            if self.kind == ProbeKind::Startup || self.started() {
                let result =
                    run_container_probe(&*self.runtime, &self.container_id, self.pod_ip, &self.container, &self.probe)
                        .await;
                match result {
                    ProbeResult::Success => {
                        successes += 1;
                        failures = 0;
                    }
                    ProbeResult::Failure(message) => {
                        failures += 1;
                        successes = 0;
                        self.events.pod(
                            &self.pod,
                            Some(&self.container.name),
                            WARNING,
                            "Unhealthy",
                            format!("{} probe failed: {message}", self.kind.label()),
                        );
                    }
                    ProbeResult::Unknown(message) => {
                        tracing::debug!(container = %self.container.name, %message, "probe result unknown");
                    }
                }
                let threshold_met = |count: u32, threshold: u32| count >= threshold && count > 0;
                match self.kind {
                    ProbeKind::Readiness => {
                        if threshold_met(successes, timing.success_threshold) {
                            self.update(|r| r.ready = true);
                        } else if threshold_met(failures, timing.failure_threshold) {
                            self.update(|r| r.ready = false);
                        }
                    }
                    ProbeKind::Liveness => {
                        if threshold_met(failures, timing.failure_threshold) {
                            self.update(|r| r.liveness_failed = true);
                            return;
                        }
                    }
                    ProbeKind::Startup => {
                        if successes > 0 {
                            self.update(|r| r.started = true);
                            return;
                        }
                        if threshold_met(failures, timing.failure_threshold) {
                            self.update(|r| r.startup_failed = true);
                            return;
                        }
                    }
                }
            }
            tokio::time::sleep(timing.period).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_defaults_follow_the_api() {
        let timing = ProbeTiming::of(&Probe::default());
        assert_eq!(timing.initial_delay, Duration::ZERO);
        assert_eq!(timing.period, Duration::from_secs(10));
        assert_eq!((timing.success_threshold, timing.failure_threshold), (1, 3));
        let probe = Probe { period_seconds: Some(0), failure_threshold: Some(0), ..Probe::default() };
        let timing = ProbeTiming::of(&probe);
        assert_eq!(timing.period, Duration::from_secs(1));
        assert_eq!(timing.failure_threshold, 1);
    }

    #[test]
    fn initial_results_depend_on_the_probes() {
        let plain = Container { name: "web".into(), ..Container::default() };
        assert_eq!(
            ContainerProbes::initial(&plain),
            ContainerProbes { ready: true, started: true, liveness_failed: false, startup_failed: false }
        );
        let probed =
            Container { readiness_probe: Some(Probe::default()), startup_probe: Some(Probe::default()), ..plain };
        let initial = ContainerProbes::initial(&probed);
        assert!(!initial.ready && !initial.started);
    }
}
