//! Leader election on a `coordination.k8s.io/v1 Lease`, as client-go's `leaderelection`
//! with a `LeaseLock`: several servers run the same components, and only the holder of the
//! lease acts.
//!
//! Every write is a compare-and-swap on the lease's resourceVersion, so two candidates can
//! never both succeed in taking it. Expiry is judged on the local clock from when this
//! candidate last saw the lease change (not from `renewTime`), so clock skew between
//! machines cannot make a candidate steal a live lease. A leader steps down when it has not
//! renewed within `renew_deadline`, which is shorter than `lease_duration`, so it stops
//! acting before anyone else may take over.
//!
//! It decides who leads; it must not start or stop the components themselves (callers
//! watch [`LeaderElector::subscribe`]).

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use tokio::sync::watch;

use crate::api::Api;
use crate::client::Client;
use crate::error::{Error, Result};

/// Timing and identity of one candidate.
#[derive(Clone, Debug)]
pub struct LeaderElectionConfig {
    /// Namespace and name of the Lease (e.g. `kube-system/kube-scheduler`).
    pub namespace: String,
    pub name: String,
    /// Unique per candidate (host name plus a random suffix, as Kubernetes components use).
    pub identity: String,
    /// How long others wait after the last renewal they saw before taking over.
    pub lease_duration: Duration,
    /// How long a leader keeps acting without a successful renewal.
    pub renew_deadline: Duration,
    /// How often candidates try to acquire and leaders renew.
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, identity: impl Into<String>) -> Self {
        LeaderElectionConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// One candidate for a lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    leader: watch::Sender<bool>,
    /// The lease as last seen, and when it was first seen in that state.
    observed: Mutex<Option<(Option<String>, Instant)>>,
}

impl LeaderElector {
    pub fn new(client: Client, config: LeaderElectionConfig) -> Result<Self> {
        if config.identity.is_empty() {
            return Err(Error::Config("leader election needs an identity".into()));
        }
        if config.lease_duration <= config.renew_deadline || config.renew_deadline <= config.retry_period {
            return Err(Error::Config("leader election needs lease_duration > renew_deadline > retry_period".into()));
        }
        if config.lease_duration.as_secs() < 1 || config.lease_duration.as_secs() > i32::MAX as u64 {
            return Err(Error::Config("lease_duration must be whole seconds, at least 1".into()));
        }
        let api = Api::namespaced(client, &config.namespace);
        Ok(LeaderElector { api, config, leader: watch::Sender::new(false), observed: Mutex::new(None) })
    }

    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    /// Whether this candidate currently leads.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Leadership changes, for components that start and stop with it.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    /// One round: take the lease if it is free or expired, renew it if held. `Ok(false)`
    /// when someone else holds it or won a race for it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = MicroTime(Timestamp::now());
        let identity = &self.config.identity;
        let lease_seconds = self.config.lease_duration.as_secs() as i32;
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(identity.clone()),
                    lease_duration_seconds: Some(lease_seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&lease).await {
                Ok(created) => self.won(&created),
                Err(error) if error.is_already_exists() || error.is_conflict() => self.lost(),
                Err(error) => Err(error),
            };
        };

        let observed_at = self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let held_by_me = holder == Some(identity.as_str());
        if let (Some(_), false) = (holder, held_by_me) {
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs)
                .unwrap_or(self.config.lease_duration);
            if observed_at.elapsed() < duration {
                return self.lost();
            }
        }

        let mut renewed = spec.clone();
        renewed.holder_identity = Some(identity.clone());
        renewed.lease_duration_seconds = Some(lease_seconds);
        renewed.renew_time = Some(now.clone());
        if !held_by_me {
            renewed.acquire_time = Some(now);
            renewed.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        lease.spec = Some(renewed);
        // `lease.metadata.resourceVersion` is the version we judged: a concurrent change
        // makes this a 409.
        match self.api.replace(&self.config.name, &lease).await {
            Ok(updated) => self.won(&updated),
            Err(error) if error.is_conflict() || error.is_not_found() => self.lost(),
            Err(error) => Err(error),
        }
    }

    /// Gives the lease up, if held, so another candidate can take it at once.
    pub async fn release(&self) -> Result<()> {
        let was_leader = self.leader.send_replace(false);
        if !was_leader {
            return Ok(());
        }
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else { return Ok(()) };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        // As client-go: no holder, a one-second lease, transitions kept.
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = Some(now.clone());
        spec.renew_time = Some(now);
        lease.spec = Some(spec);
        match self.api.replace(&self.config.name, &lease).await {
            Ok(_) => Ok(()),
            // Someone else changed it meanwhile: it is not ours to release any more.
            Err(error) if error.is_conflict() || error.is_not_found() => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Campaigns and renews every `retry_period` until `shutdown` completes, then releases
    /// the lease. Leadership is lost when a renewal fails or none succeeded within
    /// `renew_deadline`.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_renewal: Option<Instant> = None;
        loop {
            let attempt = tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew());
            let outcome = tokio::select! {
                _ = &mut shutdown => break,
                outcome = attempt => outcome,
            };
            match outcome {
                Ok(Ok(true)) => last_renewal = Some(Instant::now()),
                Ok(Ok(false)) => last_renewal = None,
                Ok(Err(error)) => {
                    tracing::warn!(lease = %self.config.name, %error, "leader election attempt failed");
                }
                Err(_) => tracing::warn!(lease = %self.config.name, "leader election attempt timed out"),
            }
            if last_renewal.is_some_and(|at| at.elapsed() >= self.config.renew_deadline) {
                tracing::warn!(lease = %self.config.name, "could not renew the lease in time; stepping down");
                self.leader.send_replace(false);
                last_renewal = None;
            }
            // Non-leaders retry with jitter (client-go: up to 1.2x), so candidates spread out.
            let period = if self.is_leader() {
                self.config.retry_period
            } else {
                self.config.retry_period.mul_f64(1.0 + rand::random::<f64>() * 0.2)
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(period) => {}
            }
        }
        if let Err(error) = self.release().await {
            tracing::warn!(lease = %self.config.name, %error, "could not release the lease");
        }
    }

    /// Remembers when the lease was first seen in its current state (its resourceVersion).
    fn observe(&self, lease: &Lease) -> Instant {
        let version = lease.metadata.resource_version.clone();
        let mut observed = self.observed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match observed.as_ref() {
            Some((seen, at)) if *seen == version => *at,
            _ => {
                let now = Instant::now();
                *observed = Some((version, now));
                now
            }
        }
    }

    fn won(&self, lease: &Lease) -> Result<bool> {
        self.observe(lease);
        if !self.leader.send_replace(true) {
            tracing::info!(lease = %self.config.name, identity = %self.config.identity, "became leader");
        }
        Ok(true)
    }

    fn lost(&self) -> Result<bool> {
        if self.leader.send_replace(false) {
            tracing::info!(lease = %self.config.name, identity = %self.config.identity, "lost leadership");
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn rejects_inconsistent_timing() {
        let client = Client::new(Config::new("http://127.0.0.1:1", None, None)).expect("client");
        let mut config = LeaderElectionConfig::new("kube-system", "x", "me");
        assert!(LeaderElector::new(client.clone(), config.clone()).is_ok());
        config.renew_deadline = config.lease_duration;
        assert!(LeaderElector::new(client.clone(), config.clone()).is_err());
        let mut anonymous = LeaderElectionConfig::new("kube-system", "x", "");
        anonymous.retry_period = Duration::from_secs(1);
        assert!(LeaderElector::new(client.clone(), anonymous).is_err());
        let mut sub_second = LeaderElectionConfig::new("kube-system", "x", "me");
        sub_second.lease_duration = Duration::from_millis(900);
        sub_second.renew_deadline = Duration::from_millis(500);
        sub_second.retry_period = Duration::from_millis(100);
        assert!(LeaderElector::new(client, sub_second).is_err());
    }
}
