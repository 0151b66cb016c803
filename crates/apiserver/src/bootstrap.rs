//! What exists in every cluster before anyone asks: the namespaces `default`, `kube-system`,
//! `kube-public` and `kube-node-lease`, and the `kubernetes` service in `default`.

use serde_json::json;

use crate::error::ApiResult;
use crate::{ApiServer, write};

pub const DEFAULT_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

pub async fn ensure_defaults(server: &ApiServer) -> ApiResult<()> {
    let now = jiff::Timestamp::now();
    let namespaces = api::resources::find("", "v1", "namespaces").expect("namespaces are served");
    for name in DEFAULT_NAMESPACES {
        let mut namespace = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        });
        create_if_missing(server, namespaces, &mut namespace, now).await?;
    }
    let services = api::resources::find("", "v1", "services").expect("services are served");
    let mut kubernetes = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.43.0.1",
            "clusterIPs": ["10.43.0.1"],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            "sessionAffinity": "None",
        },
    });
    create_if_missing(server, services, &mut kubernetes, now).await
}

async fn create_if_missing(
    server: &ApiServer,
    info: &api::ResourceInfo,
    object: &mut serde_json::Value,
    now: jiff::Timestamp,
) -> ApiResult<()> {
    let name = crate::objects::name_of(object).to_string();
    let namespace = crate::objects::metadata_str(object, "namespace").map(str::to_string);
    if write::read(server, info, namespace.as_deref(), &name).await.is_ok() {
        return Ok(());
    }
    write::prepare_create(info, object, now)?;
    match write::create(server, info, object.clone(), false).await {
        Ok(_) => Ok(()),
        // Another server of the cluster created it first.
        Err(error) if error.reason == "AlreadyExists" => Ok(()),
        Err(error) => Err(error),
    }
}
