//! The client against a real `peapod server`: typed CRUD, error classification, paging,
//! selectors, subresources and raw watches.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use client::{Api, ApiResource, DeleteParams, ListParams, Patch, Preconditions, WatchEvent, WatchParams};
use common::{Datastore, TestServer};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Binding, ConfigMap, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

fn config_map(name: &str, labels: &[(&str, &str)], data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..ObjectMeta::default()
        },
        data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..ConfigMap::default()
    }
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_map_round_trip_and_errors() {
    let server = TestServer::start(Datastore::Memory).await;
    let client = server.client();
    assert_eq!(client.default_namespace(), "default");
    let config_maps: Api<ConfigMap> = Api::default_namespaced(client.clone());

    let created = config_maps.create(&config_map("settings", &[("tier", "a")], &[("k", "v1")])).await.expect("create");
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    assert!(created.metadata.uid.is_some());
    let first_version = created.metadata.resource_version.clone().expect("resourceVersion");

    let fetched = config_maps.get("settings").await.expect("get");
    assert_eq!(fetched.data, created.data);
    assert_eq!(fetched.metadata.resource_version, created.metadata.resource_version);

    // Creating it again: 409 AlreadyExists, which is not a Conflict.
    let again = config_maps.create(&config_map("settings", &[], &[])).await.expect_err("duplicate create");
    assert!(again.is_already_exists(), "{again}");
    assert!(!again.is_conflict());
    assert_eq!(again.status().map(|s| s.code), Some(409));

    // Replace with the current resourceVersion succeeds and bumps it.
    let mut changed = fetched.clone();
    changed.data = Some(BTreeMap::from([("k".to_string(), "v2".to_string())]));
    let replaced = config_maps.replace("settings", &changed).await.expect("replace");
    assert_ne!(replaced.metadata.resource_version.as_deref(), Some(first_version.as_str()));
    assert_eq!(replaced.data.as_ref().and_then(|d| d.get("k")).map(String::as_str), Some("v2"));

    // Replace with the stale version: 409 Conflict.
    let stale = config_maps.replace("settings", &fetched).await.expect_err("stale replace");
    assert!(stale.is_conflict(), "{stale}");

    // The three patch formats.
    let merged = config_maps.patch("settings", &Patch::Merge(json!({"data": {"m": "1"}}))).await.expect("merge patch");
    assert_eq!(merged.data.as_ref().map(|d| d.len()), Some(2));
    let strategic = config_maps
        .patch("settings", &Patch::Strategic(json!({"metadata": {"labels": {"tier": "b"}}})))
        .await
        .expect("strategic patch");
    assert_eq!(strategic.metadata.labels.as_ref().and_then(|l| l.get("tier")).map(String::as_str), Some("b"));
    let json_patched = config_maps
        .patch("settings", &Patch::Json(json!([{"op": "remove", "path": "/data/m"}])))
        .await
        .expect("json patch");
    assert_eq!(json_patched.data.as_ref().map(|d| d.len()), Some(1));

    // Delete with a failing precondition: 409, and the object stays.
    let precondition = DeleteParams {
        preconditions: Some(Preconditions { uid: Some("not-the-uid".into()), resource_version: None }),
        ..DeleteParams::default()
    };
    let refused = config_maps.delete("settings", &precondition).await.expect_err("precondition");
    assert!(refused.is_conflict(), "{refused}");
    assert!(config_maps.get_opt("settings").await.expect("get_opt").is_some());

    let deleted = config_maps.delete("settings", &DeleteParams::default()).await.expect("delete");
    if let Some(last) = deleted {
        assert_eq!(last.metadata.name.as_deref(), Some("settings"));
    }
    let missing = config_maps.get("settings").await.expect_err("deleted");
    assert!(missing.is_not_found(), "{missing}");
    assert!(config_maps.get_opt("settings").await.expect("get_opt").is_none());
    let missing_delete = config_maps.delete("settings", &DeleteParams::default()).await.expect_err("delete twice");
    assert!(missing_delete.is_not_found());
    let missing_patch = config_maps.patch("nope", &Patch::Merge(json!({}))).await.expect_err("patch missing");
    assert!(missing_patch.is_not_found());

    // A namespace that does not exist.
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "no-such-namespace");
    let error = elsewhere.create(&config_map("x", &[], &[])).await.expect_err("missing namespace");
    assert!(error.is_not_found(), "{error}");

    // TLS was verified against the kubeconfig's CA, and ALPN chose HTTP/2.
    let readyz = http::Request::get(format!("{}/readyz", client.server()))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let response = client.send(readyz).await.expect("readyz");
    assert_eq!(response.version(), http::Version::HTTP_2);

    // A request with a wrong token is turned away with a Status.
    let mut anonymous = server.config();
    anonymous.token = Some("wrong-token".into());
    let anonymous: Api<ConfigMap> = Api::default_namespaced(client::Client::new(anonymous).expect("client"));
    let denied = anonymous.list(&ListParams::default()).await.expect_err("bad token");
    assert_eq!(denied.status().map(|s| s.code), Some(401), "{denied}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_status_binding_and_untyped_access() {
    let server = TestServer::start(Datastore::Memory).await;
    let client = server.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let created = pods.create(&pod("web-0")).await.expect("create pod");
    assert_eq!(created.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Pending"));

    // An invalid pod: 422 Invalid.
    let invalid: Pod =
        serde_json::from_value(json!({"metadata": {"name": "bad"}, "spec": {"containers": []}})).expect("pod");
    let error = pods.create(&invalid).await.expect_err("invalid pod");
    assert!(error.is_invalid(), "{error}");

    // Binding assigns the node.
    let binding = Binding {
        metadata: ObjectMeta { name: Some("web-0".into()), ..ObjectMeta::default() },
        target: ObjectReference {
            kind: Some("Node".into()),
            name: Some("node-a".into()),
            ..ObjectReference::default()
        },
    };
    let _: Value = pods.create_subresource("binding", "web-0", &binding).await.expect("bind");
    let bound = pods.get("web-0").await.expect("get");
    assert_eq!(bound.spec.as_ref().and_then(|s| s.node_name.as_deref()), Some("node-a"));
    // Binding twice is a conflict.
    let rebind = pods.create_subresource::<_, Value>("binding", "web-0", &binding).await.expect_err("rebind");
    assert!(rebind.is_conflict(), "{rebind}");

    // Status writes: only the status changes.
    let mut running = bound.clone();
    if let Some(status) = running.status.as_mut() {
        status.phase = Some("Running".into());
    }
    // pods/status ignores spec changes (Kubernetes resets spec, deletionTimestamp and
    // ownerReferences on status writes; labels may change there).
    if let Some(spec) = running.spec.as_mut() {
        spec.active_deadline_seconds = Some(5);
    }
    let after = pods.replace_status("web-0", &running).await.expect("replace status");
    assert_eq!(after.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Running"));
    assert_eq!(after.spec.as_ref().and_then(|s| s.active_deadline_seconds), None);
    let patched = pods
        .patch_status("web-0", &Patch::Merge(json!({"status": {"podIP": "10.42.0.7"}})))
        .await
        .expect("patch status");
    assert_eq!(patched.status.as_ref().and_then(|s| s.pod_ip.as_deref()), Some("10.42.0.7"));

    // The same pod, untyped.
    let untyped: Api<Value> = Api::with_resource(client.clone(), ApiResource::of::<Pod>(), Some("default"));
    let value = untyped.get("web-0").await.expect("untyped get");
    assert_eq!(value["kind"], "Pod");
    assert_eq!(value["status"]["phase"], "Running");
    let listed = untyped.list(&ListParams::default()).await.expect("untyped list");
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0]["apiVersion"], "v1");

    // Cluster-scoped: nodes.
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "node-a"}})).expect("node");
    nodes.create(&node).await.expect("create node");
    assert_eq!(nodes.get("node-a").await.expect("get node").metadata.namespace, None);

    let gone = pods.delete("web-0", &DeleteParams::immediate()).await.expect("delete");
    assert!(gone.is_some_and(|p| p.metadata.name.as_deref() == Some("web-0")));
    tokio::time::timeout(Duration::from_secs(10), async {
        while pods.get_opt("web-0").await.expect("get").is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("pod deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_scale_subresource() {
    let server = TestServer::start(Datastore::Memory).await;
    let deployments: Api<Deployment> = Api::namespaced(server.client(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        }
    }))
    .expect("deployment");
    deployments.create(&deployment).await.expect("create");
    let scale = deployments.get_scale("web").await.expect("get scale");
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let scaled =
        deployments.patch_scale("web", &Patch::Merge(json!({"spec": {"replicas": 5}}))).await.expect("patch scale");
    assert_eq!(scaled.spec.as_ref().and_then(|s| s.replicas), Some(5));
    let fetched = deployments.get("web").await.expect("get");
    assert_eq!(fetched.spec.as_ref().and_then(|s| s.replicas), Some(5));
    let missing = deployments.get_scale("nope").await.expect_err("missing");
    assert!(missing.is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_and_selectors() {
    let server = TestServer::start(Datastore::Memory).await;
    let client = server.client();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        config_maps.create(&config_map(&format!("cm-{i}"), &[("tier", tier)], &[])).await.expect("create");
    }
    // kube-root-ca.crt or similar bootstrap objects may exist: count ours by label.
    let ours = ListParams::default().labels("tier");

    // Pages of 3: 3 + 3 + 1, one consistent snapshot.
    let first = config_maps.list(&ours.clone().limit(3)).await.expect("page 1");
    assert_eq!(first.items.len(), 3);
    let token = first.metadata.continue_token.clone().expect("continue token");
    // A change between pages is not seen by the paged list.
    config_maps.create(&config_map("cm-late", &[("tier", "odd")], &[])).await.expect("create late");
    let second = config_maps.list(&ours.clone().limit(3).continue_token(token)).await.expect("page 2");
    assert_eq!(second.items.len(), 3);
    let token = second.metadata.continue_token.clone().expect("continue token 2");
    let third = config_maps.list(&ours.clone().limit(3).continue_token(token)).await.expect("page 3");
    assert_eq!(third.items.len(), 1);
    assert!(third.metadata.continue_token.as_deref().is_none_or(str::is_empty));
    let mut names: Vec<String> =
        [first.items, second.items, third.items].concat().into_iter().filter_map(|c| c.metadata.name).collect();
    names.sort();
    assert_eq!(names, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());

    let everything = config_maps.list_all(&ours.clone().limit(2)).await.expect("list_all");
    assert_eq!(everything.items.len(), 8);

    // Label selectors.
    let even = config_maps.list(&ListParams::default().labels("tier=even")).await.expect("even");
    assert_eq!(even.items.len(), 4);
    let not_even = config_maps.list(&ListParams::default().labels("tier,tier notin (even)")).await.expect("odd");
    assert_eq!(not_even.items.len(), 4);
    let set = config_maps.list(&ListParams::default().labels("tier in (even,odd)")).await.expect("set");
    assert_eq!(set.items.len(), 8);
    let bad = config_maps.list(&ListParams::default().labels("tier in (")).await.expect_err("bad selector");
    assert_eq!(bad.status().map(|s| s.code), Some(400), "{bad}");

    // Field selectors.
    let by_name = config_maps.list(&ListParams::default().fields("metadata.name=cm-3")).await.expect("by name");
    assert_eq!(by_name.items.len(), 1);
    let pods: Api<Pod> = Api::all(client.clone());
    Api::<Pod>::namespaced(client.clone(), "default").create(&pod("p")).await.expect("pod");
    let unscheduled = pods.list(&ListParams::default().fields("spec.nodeName=")).await.expect("unscheduled");
    assert_eq!(unscheduled.items.len(), 1);
    let scheduled = pods.list(&ListParams::default().fields("spec.nodeName!=")).await.expect("scheduled");
    assert!(scheduled.items.is_empty());
    assert!(pods.list(&ListParams::default().fields("spec.nosuchfield=x")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_added_modified_deleted_in_order() {
    let server = TestServer::start(Datastore::Memory).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let listed = config_maps.list(&ListParams::default()).await.expect("list");
    let from = listed.metadata.resource_version.expect("list resourceVersion");

    let mut events = config_maps.watch(&WatchParams::default().at(from).labels("app=w")).await.expect("watch");
    config_maps.create(&config_map("watched", &[("app", "w")], &[])).await.expect("create");
    config_maps.create(&config_map("filtered-out", &[("app", "other")], &[])).await.expect("create other");
    config_maps.patch("watched", &Patch::Merge(json!({"data": {"a": "b"}}))).await.expect("patch");
    config_maps.delete("watched", &DeleteParams::default()).await.expect("delete");

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("event in time")
            .expect("stream open")
            .expect("event");
        match event {
            WatchEvent::Added(cm) => seen.push(("ADDED", cm)),
            WatchEvent::Modified(cm) => seen.push(("MODIFIED", cm)),
            WatchEvent::Deleted(cm) => seen.push(("DELETED", cm)),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(status) => panic!("watch error {status}"),
        }
    }
    let kinds: Vec<&str> = seen.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    assert!(seen.iter().all(|(_, cm)| cm.metadata.name.as_deref() == Some("watched")));
    let versions: Vec<u64> = seen
        .iter()
        .map(|(_, cm)| cm.metadata.resource_version.as_deref().and_then(|v| v.parse().ok()).expect("rv"))
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert_eq!(seen[1].1.data.as_ref().and_then(|d| d.get("a")).map(String::as_str), Some("b"));

    // A bad selector fails at open, with the server's Status.
    let error = config_maps.watch(&WatchParams::default().labels("a in (")).await.err().expect("bad selector");
    assert_eq!(error.status().map(|s| s.code), Some(400));

    // The server ends a watch at its timeout; the stream then ends.
    let mut short = config_maps.watch(&WatchParams::default().timeout(1).at("1")).await.expect("watch");
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = short.next().await {
            event.expect("event");
        }
    })
    .await;
    assert!(ended.is_ok(), "watch did not end at its timeout");
}

/// A metadata-only `Api` (what the garbage collector watches through) gets, lists and
/// watches `PartialObjectMetadata`: the metadata, and neither spec nor data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_only_gets_lists_and_watches() {
    let server = TestServer::start(Datastore::Memory).await;
    let typed: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let metadata: Api<Value> =
        Api::with_resource(server.client(), ApiResource::of::<ConfigMap>(), Some("default")).metadata_only();
    typed.create(&config_map("first", &[("app", "m")], &[("big", "value")])).await.expect("create");
    let is_metadata_of = |object: &Value, name: &str| {
        object["kind"] == "PartialObjectMetadata"
            && object["apiVersion"] == "meta.k8s.io/v1"
            && object["metadata"]["name"] == name
            && object["metadata"]["labels"]["app"] == "m"
            && object["metadata"]["uid"].is_string()
            && object.get("data").is_none()
    };

    let got = metadata.get("first").await.expect("get");
    assert!(is_metadata_of(&got, "first"), "{got:#}");
    let listed = metadata.list(&ListParams::default()).await.expect("list");
    assert_eq!(listed.items.len(), 1);
    assert!(is_metadata_of(&listed.items[0], "first"), "{:#}", listed.items[0]);

    let from = listed.metadata.resource_version.expect("list resourceVersion");
    let mut events = metadata.watch(&WatchParams::default().at(from)).await.expect("watch");
    typed.create(&config_map("second", &[("app", "m")], &[("big", "value")])).await.expect("create");
    let event = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("event in time")
        .expect("stream open")
        .expect("event");
    match event {
        WatchEvent::Added(object) => assert!(is_metadata_of(&object, "second"), "{object:#}"),
        other => panic!("expected ADDED, got {other:?}"),
    }
}

/// The server's own components talk over `DATA_DIR/api.sock`: the same API and the same
/// authentication as over TLS, watches included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_over_the_servers_unix_socket() {
    let server = TestServer::start(Datastore::Memory).await;
    let socket = server.data_dir().join("api.sock");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).expect("api.sock").permissions());
    assert_eq!(mode & 0o777, 0o600, "only its owner may open the socket");
    let mut config = server.config();
    config.unix_socket = Some(socket.clone());
    let client = client::Client::new(config.clone()).expect("socket client");
    let config_maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let created = config_maps.create(&config_map("over-socket", &[], &[("k", "v")])).await.expect("create");
    let version = created.metadata.resource_version.clone().expect("resourceVersion");
    let mut events = config_maps.watch(&WatchParams::default().at(version)).await.expect("watch");
    config_maps.patch("over-socket", &Patch::Merge(json!({"data": {"k": "v2"}}))).await.expect("patch over the socket");
    let event = tokio::time::timeout(Duration::from_secs(10), events.next()).await.expect("a watch event in time");
    match event {
        Some(Ok(WatchEvent::Modified(cm))) => {
            assert_eq!(cm.data.and_then(|d| d.get("k").cloned()).as_deref(), Some("v2"))
        }
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    // Seen through TLS too: one API.
    let over_tls: Api<ConfigMap> = Api::default_namespaced(server.client());
    assert_eq!(over_tls.get("over-socket").await.expect("get over TLS").data, Some([("k".into(), "v2".into())].into()));
    // The socket does not bypass authentication.
    config.token = Some("not-a-token".into());
    let stranger: Api<ConfigMap> = Api::default_namespaced(client::Client::new(config).expect("client"));
    let refused = stranger.get("over-socket").await.expect_err("a wrong token is refused");
    assert_eq!(refused.status().map(|s| s.code), Some(401), "{refused}");
}
