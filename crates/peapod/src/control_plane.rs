//! Runs the scheduler and the controllers while this server holds the control-plane Lease,
//! so that several servers sharing a store run them once.

use std::sync::Arc;

use client::{LeaderElectionConfig, LeaderElector};
use tokio_util::sync::CancellationToken;

/// The Lease in `kube-system` that elects the server running the control loops.
const LEASE_NAME: &str = "peapod-control-plane";

pub async fn run(
    client: client::Client,
    config: control::ControlConfig,
    identity: String,
    shutdown: CancellationToken,
) {
    let elector =
        match LeaderElector::new(client.clone(), LeaderElectionConfig::new("kube-system", LEASE_NAME, identity)) {
            Ok(elector) => Arc::new(elector),
            Err(error) => {
                tracing::error!("control plane not started: leader election: {error}");
                return;
            }
        };
    let mut leading = elector.subscribe();
    let campaign = {
        let elector = elector.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { elector.run(shutdown.cancelled_owned()).await })
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = leading.wait_for(|is_leader| *is_leader) => if changed.is_err() { break },
        }
        tracing::info!("leading the control plane: starting the scheduler and controllers");
        let term = shutdown.child_token();
        let scheduler = config
            .run_scheduler
            .then(|| tokio::spawn(control::scheduler::run(client.clone(), config.clone(), term.clone())));
        let controllers = config
            .run_controllers
            .then(|| tokio::spawn(control::controllers::run(client.clone(), config.clone(), term.clone())));
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = leading.wait_for(|is_leader| !*is_leader) => tracing::warn!("lost the control-plane lease: stopping the control loops"),
        }
        term.cancel();
        for task in [scheduler, controllers].into_iter().flatten() {
            let _ = task.await;
        }
    }
    let _ = campaign.await;
}
