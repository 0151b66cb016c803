//! configMap, secret, downwardAPI and projected volumes against a real peapod API server:
//! contents, items and modes, optional and missing sources, updates reaching the volume on
//! resync (through the same paths a running container holds), tmpfs for secrets, teardown.
//!
//! Needs the `peapod` binary (see `config_generate.rs`). The tmpfs checks need root.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use agent::volumes::VolumeManager;
use agent::volumes::mounts::{is_mount_point, mount_points_under};
use agent::volumes::projected::PLACEHOLDER_TOKEN;
use client::{Api, Patch};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use serde_json::json;

async fn cluster() -> (client::Client, String) {
    let server = tokio::task::spawn_blocking(testkit::shared).await.expect("start server");
    let client = client::Client::from_kubeconfig(server.kubeconfig()).expect("client");
    let namespace = testkit::unique_name("agentvol");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}})).expect("namespace");
    Api::<Namespace>::all(client.clone()).create(&ns).await.expect("create namespace");
    (client, namespace)
}

fn pod(namespace: &str, volumes: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "reader", "namespace": namespace, "uid": format!("uid-{namespace}"),
                     "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "say \"hi\""}},
        "spec": {
            "containers": [{"name": "app", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}],
            "volumes": volumes,
        },
    }))
    .expect("pod")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[tokio::test]
async fn config_map_volume_contents_and_updates() {
    let (client, ns) = cluster().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "site"},
        "data": {"index.html": "v1", "app.conf": "listen 80"},
        "binaryData": {"logo.bin": "AAEC"},
    }))
    .expect("cm");
    config_maps.create(&cm).await.expect("create");
    let data = tempfile::tempdir().expect("tempdir");
    let manager = VolumeManager::new(client.clone(), data.path().join("pods"));
    let p = pod(
        &ns,
        json!([
            {"name": "all", "configMap": {"name": "site"}},
            {"name": "some", "configMap": {"name": "site", "defaultMode": 0o600,
                "items": [{"key": "app.conf", "path": "conf/nginx.conf", "mode": 0o640}, {"key": "index.html", "path": "index"}]}},
        ]),
    );
    let volumes = manager.setup(&p).await.expect("setup");
    let all = volumes.path_of("all").expect("all").to_path_buf();
    assert!(all.ends_with("volumes/kubernetes.io~configmap/all"));
    assert!(volumes.read_only.contains("all") && volumes.read_only.contains("some"), "configMap volumes are read-only");
    assert_eq!(read(&all.join("index.html")), "v1");
    assert_eq!(read(&all.join("app.conf")), "listen 80");
    assert_eq!(std::fs::read(all.join("logo.bin")).expect("binary"), vec![0u8, 1, 2]);
    assert_eq!(mode(&all.join("index.html")), 0o644, "defaultMode 0644");
    assert!(std::fs::symlink_metadata(all.join("..data")).expect("..data").is_symlink());
    let some = volumes.path_of("some").expect("some").to_path_buf();
    assert_eq!(read(&some.join("conf/nginx.conf")), "listen 80");
    assert_eq!(mode(&some.join("conf/nginx.conf")), 0o640);
    assert_eq!(read(&some.join("index")), "v1");
    assert_eq!(mode(&some.join("index")), 0o600);
    assert!(!some.join("logo.bin").exists(), "only the listed items");

    // A subPath mount resolves to the file itself (and so, as in Kubernetes, keeps its
    // contents across updates).
    let container = serde_json::from_value(json!({"name": "app", "volumeMounts": [
        {"name": "all", "mountPath": "/usr/share/nginx/html"},
        {"name": "all", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
    ]}))
    .expect("container");
    let mounts = volumes.mounts_for(&container).expect("mounts");
    assert!(mounts.iter().all(|m| m.read_only));
    assert!(mounts[1].host_path.starts_with(all.canonicalize().expect("canonical")));
    assert_eq!(read(&mounts[1].host_path), "listen 80");

    // An update reaches the volume on resync, through the same paths.
    config_maps
        .patch("site", &Patch::Merge(json!({"data": {"index.html": "v2", "app.conf": null, "new.txt": "fresh"}})))
        .await
        .expect("patch");
    // The "some" volume lists the removed key: its update fails (and is reported) while the
    // other volume is still updated.
    assert_eq!(
        manager.resync(&p).await.expect_err("items reference the removed key").to_string(),
        "MountVolume.SetUp failed for volume \"some\" : configmap references non-existent config key: app.conf",
    );
    assert_eq!(read(&all.join("index.html")), "v2");
    assert_eq!(read(&all.join("new.txt")), "fresh");
    assert!(std::fs::symlink_metadata(all.join("app.conf")).is_err(), "a removed key disappears");
    assert_eq!(read(&some.join("conf/nginx.conf")), "listen 80", "a failed update keeps the last good contents");

    manager.teardown(p.metadata.uid.as_deref().expect("uid")).await.expect("teardown");
    assert!(!all.exists());
}

#[tokio::test]
async fn missing_and_optional_sources() {
    let (client, ns) = cluster().await;
    let data = tempfile::tempdir().expect("tempdir");
    let manager = VolumeManager::new(client.clone(), data.path().join("pods"));
    let p = pod(&ns, json!([{"name": "cfg", "configMap": {"name": "absent"}}]));
    assert_eq!(
        manager.setup(&p).await.expect_err("missing").to_string(),
        "MountVolume.SetUp failed for volume \"cfg\" : configmap \"absent\" not found"
    );
    let p = pod(&ns, json!([{"name": "creds", "secret": {"secretName": "absent"}}]));
    assert_eq!(
        manager.setup(&p).await.expect_err("missing").to_string(),
        "MountVolume.SetUp failed for volume \"creds\" : secret \"absent\" not found"
    );
    let p = pod(
        &ns,
        json!([
            {"name": "cfg", "configMap": {"name": "absent", "optional": true}},
            {"name": "creds", "secret": {"secretName": "absent", "optional": true}},
        ]),
    );
    let volumes = manager.setup(&p).await.expect("optional sources");
    let cfg = volumes.path_of("cfg").expect("cfg");
    let visible: Vec<_> = std::fs::read_dir(cfg)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
        .filter(|name| !name.starts_with(".."))
        .collect();
    assert!(visible.is_empty(), "an absent optional ConfigMap gives an empty volume: {visible:?}");

    // Created later: the next resync fills it.
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "absent"}, "data": {"late": "yes"}})).expect("cm");
    Api::<ConfigMap>::namespaced(client.clone(), &ns).create(&cm).await.expect("create");
    manager.resync(&p).await.expect("resync");
    assert_eq!(read(&cfg.join("late")), "yes");
    manager.teardown(p.metadata.uid.as_deref().expect("uid")).await.expect("teardown");
}

#[tokio::test]
async fn secret_volume_on_tmpfs() {
    let (client, ns) = cluster().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "tls"}, "stringData": {"tls.key": "KEY", "tls.crt": "CRT"}}),
    )
    .expect("secret");
    secrets.create(&secret).await.expect("create");
    let data = tempfile::tempdir().expect("tempdir");
    let manager = VolumeManager::new(client.clone(), data.path().join("pods"));
    let p = pod(
        &ns,
        json!([{"name": "tls", "secret": {"secretName": "tls", "defaultMode": 0o400, "items": [{"key": "tls.key", "path": "private/key.pem"}]}}]),
    );
    let volumes = manager.setup(&p).await.expect("setup");
    let dir = volumes.path_of("tls").expect("tls").to_path_buf();
    assert!(dir.ends_with("volumes/kubernetes.io~secret/tls"));
    assert_eq!(read(&dir.join("private/key.pem")), "KEY");
    assert_eq!(mode(&dir.join("private/key.pem")), 0o400);
    assert!(!dir.join("tls.crt").exists());
    if is_root() {
        assert!(is_mount_point(&dir), "secret volumes live on tmpfs");
    } else {
        eprintln!("skipping the tmpfs check: not root");
    }
    secrets.patch("tls", &Patch::Merge(json!({"stringData": {"tls.key": "ROTATED"}}))).await.expect("rotate");
    manager.resync(&p).await.expect("resync");
    assert_eq!(read(&dir.join("private/key.pem")), "ROTATED");

    let pod_dir = volumes.pod_dir().expect("pod dir").to_path_buf();
    manager.teardown(p.metadata.uid.as_deref().expect("uid")).await.expect("teardown");
    assert!(mount_points_under(&pod_dir).expect("mountinfo").is_empty(), "tmpfs unmounted");
    assert!(!pod_dir.exists());
}

#[tokio::test]
async fn downward_api_and_projected_volumes() {
    let (client, ns) = cluster().await;
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": "CA"}}))
            .expect("cm");
    Api::<ConfigMap>::namespaced(client.clone(), &ns).create(&cm).await.expect("create cm");
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "extra"}, "stringData": {"k": "v"}})).expect("secret");
    Api::<Secret>::namespaced(client.clone(), &ns).create(&secret).await.expect("create secret");
    let data = tempfile::tempdir().expect("tempdir");
    let manager = VolumeManager::new(client.clone(), data.path().join("pods")).with_node_allocatable(8000, 16 << 30);
    let downward_items = json!([
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o600},
        {"path": "cpu_limit", "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu", "divisor": "1m"}},
        {"path": "mem_limit", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"}},
    ]);
    let mut p = pod(
        &ns,
        json!([
            {"name": "podinfo", "downwardAPI": {"items": downward_items}},
            {"name": "kube-api-access", "projected": {"defaultMode": 0o644, "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                {"secret": {"name": "extra"}},
                {"secret": {"name": "not-there", "optional": true}},
            ]}},
        ]),
    );
    let volumes = manager.setup(&p).await.expect("setup");
    let info = volumes.path_of("podinfo").expect("podinfo").to_path_buf();
    assert_eq!(read(&info.join("labels")), "app=\"web\"\ntier=\"front\"");
    assert_eq!(read(&info.join("annotations")), "note=\"say \\\"hi\\\"\"");
    assert_eq!(read(&info.join("name")), "reader");
    assert_eq!(mode(&info.join("name")), 0o600);
    assert_eq!(read(&info.join("cpu_limit")), "500");
    assert_eq!(read(&info.join("mem_limit")), "64");
    let projected = volumes.path_of("kube-api-access").expect("projected").to_path_buf();
    assert!(projected.ends_with("volumes/kubernetes.io~projected/kube-api-access"));
    assert_eq!(read(&projected.join("ca.crt")), "CA");
    assert_eq!(read(&projected.join("namespace")), ns);
    assert_eq!(read(&projected.join("k")), "v");
    // peapod's API does not mint service account tokens yet: a placeholder is written.
    assert_eq!(read(&projected.join("token")), PLACEHOLDER_TOKEN);
    if is_root() {
        assert!(is_mount_point(&info) && is_mount_point(&projected), "downwardAPI and projected are on tmpfs");
    }

    // Label changes reach the downwardAPI volume on resync.
    p.metadata.labels.as_mut().expect("labels").insert("tier".into(), "back".into());
    manager.resync(&p).await.expect("resync");
    assert_eq!(read(&info.join("labels")), "app=\"web\"\ntier=\"back\"");

    // A missing non-optional projected source fails the volume.
    let broken = pod(&ns, json!([{"name": "p", "projected": {"sources": [{"configMap": {"name": "nope"}}]}}]));
    let mut broken = broken;
    broken.metadata.uid = Some(format!("uid2-{ns}"));
    assert_eq!(
        manager.setup(&broken).await.expect_err("missing").to_string(),
        "MountVolume.SetUp failed for volume \"p\" : configmap \"nope\" not found"
    );
    let mut uids: Vec<String> = manager.list().await.expect("list");
    uids.sort();
    let expected: BTreeMap<_, _> = [(format!("uid-{ns}"), ()), (format!("uid2-{ns}"), ())].into_iter().collect();
    assert_eq!(uids, expected.keys().cloned().collect::<Vec<_>>());
    for uid in uids {
        manager.teardown(&uid).await.expect("teardown");
    }
    assert!(manager.list().await.expect("list").is_empty());
}
