//! Pulls from a real registry (Debian's `docker-registry`, on loopback) holding images pushed
//! with `skopeo`: by tag, by digest, a multi-arch index, gzip and zstd layers, whiteouts and
//! an opaque directory, a docker.io name resolved through a mirror, basic auth (htpasswd) with
//! good, wrong and missing credentials. Needs root and scripts/install-test-deps.sh's packages.

mod common;

use common::{oci_layout, root_or_skip, rt, skopeo_push, start_registry, tar_of};
use runtime::image::digest::digest_of;
use runtime::image::pull::{PullError, PullOptions, Puller};
use runtime::image::registries::{Credentials, Registries};
use runtime::image::{ImageStore, oci};
use std::process::Command;

#[test]
fn pulls_from_local_registry() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = start_registry(tmp.path(), None);
    let host = format!("127.0.0.1:{}", reg.port);
    let base =
        tar_of(&[("etc/", b""), ("etc/motd", b"base"), ("var/", b""), ("var/cache/", b""), ("var/cache/a", b"a")]);
    let top = tar_of(&[("etc/.wh.motd", b""), ("var/cache/.wh..wh..opq", b""), ("var/cache/b", b"b")]);
    let layers = vec![base, top];
    skopeo_push(&oci_layout(tmp.path(), &layers, true, false).dir, &format!("{host}/library/ws:v1"), &[]);
    skopeo_push(&oci_layout(tmp.path(), &layers, true, true).dir, &format!("{host}/library/multi:v1"), &["--all"]);
    skopeo_push(
        &oci_layout(tmp.path(), &layers, false, false).dir,
        &format!("{host}/library/zst:v1"),
        &["--dest-compress-format", "zstd", "--dest-compress"],
    );
    // Docker schema 2: a single manifest and a manifest list (skopeo converts the OCI ones).
    skopeo_push(
        &oci_layout(tmp.path(), &layers, true, false).dir,
        &format!("{host}/library/v2s2:v1"),
        &["--format", "v2s2"],
    );
    skopeo_push(
        &oci_layout(tmp.path(), &layers, true, true).dir,
        &format!("{host}/library/v2list:v1"),
        &["--all", "--format", "v2s2"],
    );

    let yaml = format!(
        "mirrors:\n  \"{host}\":\n    endpoint: [\"http://{host}\"]\n  docker.io:\n    endpoint: [\"http://{host}\"]\n"
    );
    let store = ImageStore::open(&tmp.path().join("data")).unwrap();
    let puller = Puller::new(store.clone(), Registries::parse(&yaml).unwrap());
    let rt = rt();
    let opts = PullOptions::default();

    // By tag, twice at once: both succeed, sharing downloads.
    let r = format!("{host}/library/ws:v1");
    let (a, b) = rt.block_on(async { tokio::join!(puller.pull(&r, &opts), puller.pull(&r, &opts)) });
    let img = a.unwrap();
    assert_eq!(b.unwrap().config, img.config);
    assert_eq!(img.name, r);
    assert_eq!(img.layers.len(), 2);
    assert_eq!(img.layers[0].media_type, oci::MEDIA_OCI_LAYER_GZIP);
    assert_eq!(img.layers[0].diff_id, digest_of(&layers[0]));

    // Whiteouts and the opaque dir through an overlay rootfs.
    let merged = store.prepare_rootfs("ws", &img).unwrap();
    let check = std::panic::catch_unwind(|| {
        assert!(!merged.join("etc/motd").exists());
        assert!(!merged.join("var/cache/a").exists());
        assert_eq!(std::fs::read(merged.join("var/cache/b")).unwrap(), b"b");
    });
    store.remove_rootfs("ws").unwrap();
    check.unwrap();

    // By digest.
    let by_digest = format!("{host}/library/ws@{}", img.target);
    let d = rt.block_on(puller.pull(&by_digest, &opts)).unwrap();
    assert_eq!(d.name, by_digest);
    assert_eq!(store.get(&by_digest).unwrap().config, img.config);
    // A wrong digest is not found (the registry has no such manifest).
    let wrong = format!("{host}/library/ws@{}", digest_of(b"nope"));
    assert!(rt.block_on(puller.pull(&wrong, &opts)).is_err());

    // Multi-arch index: the amd64 manifest is chosen, the name points at the index.
    let m = rt.block_on(puller.pull(&format!("{host}/library/multi:v1"), &opts)).unwrap();
    assert_ne!(m.target, m.manifest);
    assert_eq!(store.config(&m).unwrap().architecture, "amd64");

    // zstd layers.
    let z = rt.block_on(puller.pull(&format!("{host}/library/zst:v1"), &opts)).unwrap();
    assert!(z.layers.iter().all(|l| l.media_type.contains("zstd")), "{:?}", z.layers);
    let snaps = store.ensure_unpacked(&z).unwrap();
    assert_eq!(std::fs::read(snaps[1].join("var/cache/b")).unwrap(), b"b");

    // Docker schema 2 manifests and manifest lists.
    for (name, list) in [("v2s2", false), ("v2list", true)] {
        let d = rt.block_on(puller.pull(&format!("{host}/library/{name}:v1"), &opts)).unwrap();
        assert_eq!(d.layers[0].media_type, oci::MEDIA_DOCKER_LAYER_GZIP, "{name}");
        let body = store.read_blob(&d.target).unwrap();
        let media = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["mediaType"].clone();
        let want = if list { oci::MEDIA_DOCKER_LIST } else { oci::MEDIA_DOCKER_MANIFEST };
        assert_eq!(media, want, "{name}");
        assert_eq!(list, d.target != d.manifest, "{name}");
        assert_eq!(store.config(&d).unwrap().architecture, "amd64");
        let snaps = store.ensure_unpacked(&d).unwrap();
        assert_eq!(std::fs::read(snaps[1].join("var/cache/b")).unwrap(), b"b", "{name}");
    }

    // docker.io names resolve through the mirror.
    let hub = rt.block_on(puller.pull("ws:v1", &opts)).unwrap();
    assert_eq!(hub.name, "docker.io/library/ws:v1");
    assert_eq!(hub.config, img.config);

    // A missing image is a clear error.
    let err = rt.block_on(puller.pull(&format!("{host}/library/absent:v1"), &opts)).unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn pulls_with_basic_auth() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let htpasswd = tmp.path().join("htpasswd");
    let out = Command::new("htpasswd").args(["-Bbn", "user", "s3cret"]).output().expect("htpasswd (apache2-utils)");
    assert!(out.status.success());
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let reg = start_registry(tmp.path(), Some(&htpasswd));
    let host = format!("127.0.0.1:{}", reg.port);
    let layers = vec![tar_of(&[("hello", b"world")])];
    skopeo_push(
        &oci_layout(tmp.path(), &layers, true, false).dir,
        &format!("{host}/private/app:v1"),
        &["--dest-creds", "user:s3cret"],
    );
    let r = format!("{host}/private/app:v1");
    let rt = rt();
    let mirror = format!("mirrors:\n  \"{host}\":\n    endpoint: [\"http://{host}\"]\n");

    // No credentials.
    let store = ImageStore::open(&tmp.path().join("data")).unwrap();
    let p = Puller::new(store.clone(), Registries::parse(&mirror).unwrap());
    let err = rt.block_on(p.pull(&r, &PullOptions::default())).unwrap_err();
    assert!(matches!(err, PullError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("no credentials"), "{err}");
    // Wrong credentials (as a pull secret would pass them).
    let bad = PullOptions {
        credentials: Some(Credentials { username: "user".into(), password: "wrong".into() }),
        progress: None,
    };
    let err = rt.block_on(p.pull(&r, &bad)).unwrap_err();
    assert!(matches!(err, PullError::Unauthorized { .. }) && err.to_string().contains("rejected"), "{err}");
    assert!(store.list().unwrap().is_empty());
    // Credentials from registries.yaml.
    let yaml = format!("{mirror}configs:\n  \"{host}\":\n    auth:\n      username: user\n      password: s3cret\n");
    let p = Puller::new(store.clone(), Registries::parse(&yaml).unwrap());
    let img = rt.block_on(p.pull(&r, &PullOptions::default())).unwrap();
    assert_eq!(img.layers[0].diff_id, digest_of(&layers[0]));
}
