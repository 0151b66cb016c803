//! The node heartbeat: the Lease `kube-node-lease/<node>` (owned by the Node, so it goes
//! away with it), with `holderIdentity` the node name and `renewTime` bumped every renew
//! interval (the kubelet's 10 s for a 40 s lease). The node lifecycle controller reads it to
//! decide whether the node is alive.
//!
//! It owns the Lease only; the Node's status is [`crate::node_status`]'s.

use client::{Api, Patch};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use serde_json::{Value, json};

pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

fn spec(node_name: &str, duration_seconds: i32) -> Value {
    json!({
        "holderIdentity": node_name,
        "leaseDurationSeconds": duration_seconds,
        "renewTime": MicroTime(jiff::Timestamp::now()),
    })
}

/// Creates the Lease (or renews an existing one).
pub async fn ensure(
    client: &client::Client,
    node_name: &str,
    node_uid: &str,
    duration_seconds: i32,
) -> Result<(), client::Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
    let mut metadata = json!({"name": node_name, "namespace": NODE_LEASE_NAMESPACE});
    if !node_uid.is_empty() {
        metadata["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_uid}]);
    }
    let lease: Lease =
        serde_json::from_value(json!({"metadata": metadata, "spec": spec(node_name, duration_seconds)}))?;
    match leases.create(&lease).await {
        Ok(_) => Ok(()),
        Err(error) if error.is_already_exists() => renew(client, node_name, duration_seconds).await,
        Err(error) => Err(error),
    }
}

/// Bumps `renewTime`.
pub async fn renew(client: &client::Client, node_name: &str, duration_seconds: i32) -> Result<(), client::Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
    leases.patch(node_name, &Patch::Merge(json!({"spec": spec(node_name, duration_seconds)}))).await.map(|_| ())
}
