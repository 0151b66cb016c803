//! The controllers, each a level-triggered reconciler in its own file, wired here onto
//! shared informers (one watch and cache per kind, as client-go's shared informer factory):
//!
//! - `replicaset`: pods to match `spec.replicas`;
//! - `deployment`: ReplicaSets per pod template, rolling updates, revisions, conditions;
//! - `garbage_collector`: ownerReferences (background, foreground, orphan);
//! - `namespace`: empties a terminating namespace, then finalizes it;
//! - `node_lifecycle`: node heartbeats through Leases, unreachable taints, evictions;
//! - `podgc`: pods of vanished nodes and surplus terminated pods.
//!
//! This module owns wiring and start-up only; the decisions live in the controllers' files.

mod controller_ref;
mod deployment;
mod deployment_util;
mod garbage_collector;
mod namespace;
mod node_lifecycle;
mod podgc;
mod pods;
mod replicaset;

use std::time::Duration;

use client::{Api, watcher};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use tokio_util::sync::CancellationToken;

use crate::runner::{self, Informer};

/// client-go's default resync for workload controllers is longer; a short one here bounds
/// how long a lost event can delay convergence.
const RESYNC: Duration = Duration::from_secs(30);

/// Runs every controller until `shutdown`.
pub async fn run(client: client::Client, config: crate::ControlConfig, shutdown: CancellationToken) {
    let mut pods = Informer::new(Api::<Pod>::all(client.clone()), watcher::Config::default());
    pods.add_index(pods::CONTROLLER_INDEX, pods::controller_index());
    pods.add_index(pods::NODE_INDEX, pods::node_index());
    let mut replicasets = Informer::new(Api::<ReplicaSet>::all(client.clone()), watcher::Config::default());
    let mut deployments = Informer::new(Api::<Deployment>::all(client.clone()), watcher::Config::default());
    let mut nodes = Informer::new(Api::<Node>::all(client.clone()), watcher::Config::default());
    let mut namespaces = Informer::new(Api::<Namespace>::all(client.clone()), watcher::Config::default());
    let mut leases = Informer::new(
        Api::<Lease>::namespaced(client.clone(), node_lifecycle::LEASE_NAMESPACE),
        watcher::Config::default(),
    );

    let rs = replicaset::ReplicaSetController::new(client.clone(), &mut pods, &mut replicasets);
    let deploy = deployment::DeploymentController::new(client.clone(), &mut pods, &mut replicasets, &mut deployments);
    let ns = namespace::NamespaceController::new(client.clone(), &mut namespaces);
    let nodelc =
        node_lifecycle::NodeLifecycleController::new(client.clone(), &config, &mut nodes, &mut leases, &mut pods);

    let (pods_store, nodes_store) = (pods.store(), nodes.store());
    let mut tasks = vec![
        runner::resync(replicasets.store(), rs.queue.clone(), RESYNC, shutdown.clone()),
        runner::resync(deployments.store(), deploy.queue.clone(), RESYNC, shutdown.clone()),
        runner::resync(namespaces.store(), ns.queue.clone(), RESYNC, shutdown.clone()),
        runner::resync(nodes.store(), nodelc.queue.clone(), config.pod_eviction_check_interval, shutdown.clone()),
    ];
    for informer_task in [
        pods.spawn(shutdown.clone()),
        replicasets.spawn(shutdown.clone()),
        deployments.spawn(shutdown.clone()),
        nodes.spawn(shutdown.clone()),
        namespaces.spawn(shutdown.clone()),
        leases.spawn(shutdown.clone()),
    ] {
        tasks.push(informer_task);
    }
    tasks.push(tokio::spawn(podgc::run(client.clone(), config.clone(), pods_store, nodes_store, shutdown.clone())));
    tasks.push(tokio::spawn(garbage_collector::run(client.clone(), shutdown.clone())));

    let rs_workers =
        runner::run_workers("replicaset", rs.queue.clone(), 5, move |key| rs.clone().reconcile(key), shutdown.clone());
    let deploy_workers = runner::run_workers(
        "deployment",
        deploy.queue.clone(),
        5,
        move |key| deploy.clone().reconcile(key),
        shutdown.clone(),
    );
    let ns_workers =
        runner::run_workers("namespace", ns.queue.clone(), 2, move |key| ns.clone().reconcile(key), shutdown.clone());
    let node_workers = runner::run_workers(
        "node-lifecycle",
        nodelc.queue.clone(),
        2,
        move |key| nodelc.clone().reconcile(key),
        shutdown.clone(),
    );
    tokio::join!(rs_workers, deploy_workers, ns_workers, node_workers);
    for task in tasks {
        let _ = task.await;
    }
}
