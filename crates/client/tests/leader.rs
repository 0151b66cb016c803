//! Leader election between two candidates on one Lease of a real `peapod server`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use client::{Api, LeaderElectionConfig, LeaderElector};
use common::{Datastore, TestServer, eventually};
use k8s_openapi::api::coordination::v1::Lease;

fn config(identity: &str) -> LeaderElectionConfig {
    LeaderElectionConfig {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(200),
        ..LeaderElectionConfig::new("kube-system", "peapod-controllers", identity)
    }
}

async fn holder(leases: &Api<Lease>) -> (Option<String>, i32) {
    let lease = leases.get("peapod-controllers").await.expect("lease");
    let spec = lease.spec.unwrap_or_default();
    (spec.holder_identity.filter(|h| !h.is_empty()), spec.lease_transitions.unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leads_and_the_other_takes_over() {
    let server = TestServer::start(Datastore::Memory).await;
    let client = server.client();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let a = LeaderElector::new(client.clone(), config("a")).expect("elector a");
    let b = LeaderElector::new(client.clone(), config("b")).expect("elector b");

    // Single steps: a creates the lease, b finds it held and live.
    assert!(a.try_acquire_or_renew().await.expect("a acquires"));
    assert!(a.is_leader());
    assert!(!b.try_acquire_or_renew().await.expect("b tries"));
    assert!(!b.is_leader());
    assert_eq!(holder(&leases).await, (Some("a".into()), 0));
    let lease = leases.get("peapod-controllers").await.expect("lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.lease_duration_seconds, Some(2));
    assert!(spec.renew_time.is_some() && spec.acquire_time.is_some());
    // Renewing keeps the holder and moves renewTime.
    assert!(a.try_acquire_or_renew().await.expect("a renews"));
    let renewed = leases.get("peapod-controllers").await.expect("lease").spec.expect("spec");
    assert!(renewed.renew_time.as_ref().map(|t| t.0) > spec.renew_time.as_ref().map(|t| t.0));
    assert_eq!(renewed.acquire_time, spec.acquire_time);

    // Release: b may take it at once, counting a transition.
    a.release().await.expect("release");
    assert!(!a.is_leader());
    assert_eq!(holder(&leases).await.0, None);
    assert!(b.try_acquire_or_renew().await.expect("b acquires"));
    assert_eq!(holder(&leases).await, (Some("b".into()), 1));
    assert!(!a.try_acquire_or_renew().await.expect("a tries"));

    // A stale write loses the compare-and-swap: a lease read before b's renewal cannot be
    // written back.
    let stale = leases.get("peapod-controllers").await.expect("lease");
    assert!(b.try_acquire_or_renew().await.expect("b renews"));
    let conflict = leases.replace("peapod-controllers", &stale).await.expect_err("stale write");
    assert!(conflict.is_conflict(), "{conflict}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_electors_fail_over_on_release_and_on_expiry() {
    let server = TestServer::start(Datastore::Memory).await;
    let client = server.client();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let a = Arc::new(LeaderElector::new(client.clone(), config("a")).expect("elector a"));
    let b = Arc::new(LeaderElector::new(client.clone(), config("b")).expect("elector b"));

    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let run_a = tokio::spawn({
        let a = a.clone();
        async move {
            a.run(async {
                let _ = stopped_a.await;
            })
            .await
        }
    });
    eventually(Duration::from_secs(10), "a to lead", || {
        let a = a.clone();
        async move { a.is_leader().then_some(()) }
    })
    .await;

    let (stop_b, stopped_b) = tokio::sync::oneshot::channel::<()>();
    let mut b_changes = b.subscribe();
    let run_b = tokio::spawn({
        let b = b.clone();
        async move {
            b.run(async {
                let _ = stopped_b.await;
            })
            .await
        }
    });
    // b stays a follower while a renews, well past one lease duration.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(a.is_leader());
    assert!(!b.is_leader());

    // a shuts down and releases: b leads within a few retry periods.
    let _ = stop_a.send(());
    run_a.await.expect("a stopped");
    assert!(!a.is_leader());
    tokio::time::timeout(Duration::from_secs(5), b_changes.wait_for(|leader| *leader))
        .await
        .expect("b leads after the release")
        .expect("b's signal");
    assert_eq!(holder(&leases).await, (Some("b".into()), 1));

    // b dies without releasing (its task is aborted): a fresh candidate takes over only
    // after the lease expires.
    run_b.abort();
    let _ = run_b.await;
    drop(stop_b);
    let c = Arc::new(LeaderElector::new(client.clone(), config("c")).expect("elector c"));
    let started = std::time::Instant::now();
    let (_stop_c, stopped_c) = tokio::sync::oneshot::channel::<()>();
    let run_c = tokio::spawn({
        let c = c.clone();
        async move {
            c.run(async {
                let _ = stopped_c.await;
            })
            .await
        }
    });
    eventually(Duration::from_secs(10), "c to take over the expired lease", || {
        let c = c.clone();
        async move { c.is_leader().then_some(()) }
    })
    .await;
    assert!(started.elapsed() >= Duration::from_secs(2), "took over a live lease after {:?}", started.elapsed());
    assert_eq!(holder(&leases).await, (Some("c".into()), 2));
    run_c.abort();
}
