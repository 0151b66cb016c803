//! Pulls that go wrong, against a real `docker-registry` on loopback: the bearer-token dance
//! (the registry in `auth: token:` mode trusting an in-test token server, anonymous and basic
//! auth, a wrong password), a blob whose bytes do not match its digest, 503s and connections cut
//! mid-blob through a fault-injecting proxy (retried with backoff, resumed with `Range`), and a
//! pull aborted midway then pulled again. Needs root and scripts/install-test-deps.sh's packages.

mod common;

use common::servers::{FaultProxy, TOKEN_SERVICE, TokenServer};
use common::{
    assert_blobs_verify, count, oci_layout, random_bytes, root_or_skip, rt, skopeo_push, start_registry,
    start_registry_with, tar_of,
};
use runtime::image::ImageStore;
use runtime::image::digest::digest_of;
use runtime::image::pull::{PullError, PullOptions, Puller};
use runtime::image::registries::{Credentials, Registries};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Uncompressed layers of incompressible data, `size` bytes each.
fn random_layers(n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let data = random_bytes(size, 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
            tar_of(&[("data/", b""), (&format!("data/layer{i}.bin"), &data)])
        })
        .collect()
}

fn mirror_yaml(domain: &str, endpoint_port: u16) -> String {
    format!("mirrors:\n  \"{domain}\":\n    endpoint: [\"http://127.0.0.1:{endpoint_port}\"]\n")
}

fn open_store(dir: &Path) -> ImageStore {
    ImageStore::open(&dir.join("data")).unwrap()
}

#[test]
fn bearer_token_dance() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rt = rt();
    let ts = TokenServer::start(&rt, tmp.path());
    // Pushed through an open registry; served by one on the same storage that demands tokens.
    let open = start_registry(tmp.path(), None);
    let layers = vec![tar_of(&[("hello", b"world")])];
    let layout = oci_layout(tmp.path(), &layers, true, false);
    skopeo_push(&layout.dir, &format!("{}/public/app:v1", open.host()), &[]);
    skopeo_push(&layout.dir, &format!("{}/private/app:v1", open.host()), &[]);
    let reg = start_registry_with(tmp.path(), Some(&open.storage), &ts.registry_auth());
    let host = reg.host();
    let store = open_store(tmp.path());
    let puller = Puller::new(store.clone(), Registries::parse(&mirror_yaml(&host, reg.port)).unwrap());

    // Anonymous: the registry's challenge leads to the realm, which issues a token without
    // credentials, for the scope the challenge named.
    let img = rt.block_on(puller.pull(&format!("{host}/public/app:v1"), &PullOptions::default())).unwrap();
    assert_eq!(img.layers[0].diff_id, digest_of(&layers[0]));
    let reqs = ts.requests();
    assert_eq!(reqs.len(), 1, "one token for the manifest and blobs of one repository: {reqs:?}");
    assert_eq!(reqs[0].0, None, "anonymous token request");
    assert!(reqs[0].1.contains(&format!("service={TOKEN_SERVICE}")), "{}", reqs[0].1);
    assert!(reqs[0].1.contains("scope=repository%3Apublic%2Fapp%3Apull"), "{}", reqs[0].1);

    // A private repository with no credentials: the anonymous token grants nothing.
    let private = format!("{host}/private/app:v1");
    let err = rt.block_on(puller.pull(&private, &PullOptions::default())).unwrap_err();
    assert!(matches!(err, PullError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("no credentials configured"), "{err}");

    // A wrong password: the token server's refusal is reported.
    let creds = |password: &str| PullOptions {
        credentials: Some(Credentials { username: "user".into(), password: password.into() }),
        progress: None,
    };
    let err = rt.block_on(puller.pull(&private, &creds("wrong"))).unwrap_err();
    assert!(matches!(err, PullError::Unauthorized { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("token request") && msg.contains("401"), "{msg}");
    assert!(msg.contains("incorrect username or password"), "{msg}");
    assert!(msg.contains(&private), "names the image: {msg}");
    assert_eq!(store.list().unwrap().len(), 1, "failed pulls name nothing");

    // The right password, sent as basic auth to the realm.
    let img = rt.block_on(puller.pull(&private, &creds("s3cret"))).unwrap();
    assert_eq!(img.name, private);
    let last = ts.requests().pop().unwrap();
    use base64::Engine as _;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("user:s3cret"));
    assert_eq!(last.0.as_deref(), Some(basic.as_str()));
    assert!(last.1.contains("scope=repository%3Aprivate%2Fapp%3Apull"), "{}", last.1);

    // Credentials from registries.yaml work the same way.
    let yaml = format!(
        "{}configs:\n  \"{host}\":\n    auth:\n      username: user\n      password: s3cret\n",
        mirror_yaml(&host, reg.port)
    );
    let store2 = ImageStore::open(&tmp.path().join("data2")).unwrap();
    let p2 = Puller::new(store2.clone(), Registries::parse(&yaml).unwrap());
    rt.block_on(p2.pull(&private, &PullOptions::default())).unwrap();
    assert_eq!(store2.list().unwrap().len(), 1);
}

#[test]
fn blob_not_matching_its_digest_is_refused() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = start_registry(tmp.path(), None);
    let host = reg.host();
    let layers = random_layers(3, 256 << 10);
    let layout = oci_layout(tmp.path(), &layers, true, false);
    let r = format!("{host}/test/corrupt:v1");
    skopeo_push(&layout.dir, &r, &[]);
    // The registry now serves other bytes of the same length under the middle layer's digest.
    let bad = &layout.layer_digests[1];
    let data_path = reg.blob_data(bad);
    let good = std::fs::read(&data_path).unwrap();
    std::fs::write(&data_path, good.iter().map(|b| b ^ 0x5a).collect::<Vec<u8>>()).unwrap();

    let store = open_store(tmp.path());
    let puller = Puller::new(store.clone(), Registries::parse(&mirror_yaml(&host, reg.port)).unwrap());
    let rt = rt();
    let err = rt.block_on(puller.pull(&r, &PullOptions::default())).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(bad.as_str()) && msg.contains("does not match its digest"), "{msg}");
    let PullError::AllEndpointsFailed { last, .. } = &err else { panic!("{err:?}") };
    assert!(matches!(**last, PullError::BlobDigestMismatch { ref expected, .. } if expected == bad), "{last:?}");
    // Nothing partial: no name, no temp file, no blob under the bad digest; whatever else was
    // committed is whole and verified.
    assert!(store.list().unwrap().is_empty());
    assert!(!store.has_blob(bad));
    assert_eq!(count(&store.tmp_dir()), 0);
    assert_blobs_verify(store.root());

    // With the registry fixed, the same pull succeeds.
    std::fs::write(&data_path, &good).unwrap();
    let img = rt.block_on(puller.pull(&r, &PullOptions::default())).unwrap();
    assert_eq!(img.layers.len(), 3);
    assert_eq!(assert_blobs_verify(store.root()), 3 + 2, "three layers, config and manifest");
}

#[test]
fn retries_503_and_resumes_cut_downloads() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = start_registry(tmp.path(), None);
    let host = reg.host();
    let layers = random_layers(3, 1 << 20);
    let layout = oci_layout(tmp.path(), &layers, true, false);
    let r = format!("{host}/test/flaky:v1");
    skopeo_push(&layout.dir, &r, &[]);
    let rt = rt();
    let proxy = FaultProxy::start(&rt, reg.port);
    proxy.faults.fail_first.store(3, Ordering::SeqCst);
    proxy.faults.cut_blobs.lock().unwrap().extend(layout.layer_digests.iter().cloned());

    let store = open_store(tmp.path());
    let puller = Puller::new(store.clone(), Registries::parse(&mirror_yaml(&host, proxy.port)).unwrap());
    let started = Instant::now();
    let img = rt.block_on(puller.pull(&r, &PullOptions::default())).unwrap();
    let took = started.elapsed();
    let diff_ids: Vec<String> = img.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, layers.iter().map(|l| digest_of(l)).collect::<Vec<_>>());

    let seen = proxy.seen();
    // Three 503s, retried with growing pauses (0.4 s + 0.8 s + 1.6 s).
    assert!(seen[..3].iter().all(|s| s.status == 503), "{seen:#?}");
    assert!(seen[3].status == 200, "{seen:#?}");
    assert!(took >= Duration::from_millis(2800), "backoff: {took:?}");
    // Each layer: cut halfway once, then resumed from where it broke off.
    for (d, layer) in layout.layer_digests.iter().zip(&img.layers) {
        let of: Vec<_> = seen.iter().filter(|s| s.path.ends_with(d.as_str())).collect();
        assert!(of.iter().any(|s| s.cut), "{d} was cut: {of:#?}");
        let resumed = of.iter().find(|s| s.range.is_some()).unwrap_or_else(|| panic!("{d} not resumed: {of:#?}"));
        assert_eq!(resumed.status, 206, "{resumed:?}");
        assert_eq!(resumed.range.as_deref(), Some(format!("bytes={}-", layer.size / 2).as_str()));
    }
    assert_eq!(count(&store.tmp_dir()), 0);
    assert_blobs_verify(store.root());
    let snaps = store.ensure_unpacked(&img).unwrap();
    assert_eq!(std::fs::metadata(snaps[2].join("data/layer2.bin")).unwrap().len(), 1 << 20);
}

#[test]
fn aborted_pull_then_pull_again() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = start_registry(tmp.path(), None);
    let host = reg.host();
    let layers = random_layers(4, 2 << 20);
    let layout = oci_layout(tmp.path(), &layers, true, false);
    let r = format!("{host}/test/big:v1");
    skopeo_push(&layout.dir, &r, &[]);
    let rt = rt();
    let proxy = FaultProxy::start(&rt, reg.port);
    // Slow enough (~3 MB/s per blob) that the pull is surely midway when it is aborted.
    *proxy.faults.throttle.lock().unwrap() = Some(Duration::from_millis(20));

    let store = open_store(tmp.path());
    let puller =
        std::sync::Arc::new(Puller::new(store.clone(), Registries::parse(&mirror_yaml(&host, proxy.port)).unwrap()));
    let p = puller.clone();
    let r2 = r.clone();
    let task = rt.spawn(async move { p.pull(&r2, &PullOptions::default()).await });
    // Wait until layer bytes are being written.
    let deadline = Instant::now() + Duration::from_secs(30);
    let writing = || {
        std::fs::read_dir(store.tmp_dir())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("ingest-") && e.metadata().is_ok_and(|m| m.len() > 0))
    };
    while !writing() {
        assert!(Instant::now() < deadline && !task.is_finished(), "the pull never started writing layers");
        std::thread::sleep(Duration::from_millis(5));
    }
    task.abort();
    let res = rt.block_on(task);
    assert!(res.as_ref().is_err_and(|e| e.is_cancelled()), "aborted midway, not finished: {res:?}");
    // Dropped downloads take their temp files with them; nothing is named.
    assert_eq!(count(&store.tmp_dir()), 0);
    assert!(store.list().unwrap().is_empty());
    let before = assert_blobs_verify(store.root());
    assert!(before < 4 + 1, "the pull was midway: {before} blobs");

    *proxy.faults.throttle.lock().unwrap() = None;
    let img = rt.block_on(puller.pull(&r, &PullOptions::default())).unwrap();
    assert_eq!(store.get(&r).unwrap().config, img.config);
    assert_eq!(count(&store.tmp_dir()), 0);
    assert_eq!(assert_blobs_verify(store.root()), 4 + 2);
    store.ensure_unpacked(&img).unwrap();
}

/// Layers download several at a time; two pulls of one image at once share each download; blob
/// GETs answered with a redirect (as Docker Hub sends to its CDN) are followed.
#[test]
fn concurrent_shared_and_redirected_downloads() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = start_registry(tmp.path(), None);
    let host = reg.host();
    let layers = random_layers(3, 1 << 20);
    let layout = oci_layout(tmp.path(), &layers, true, false);
    let r = format!("{host}/test/shared:v1");
    skopeo_push(&layout.dir, &r, &[]);
    let rt = rt();
    let proxy = FaultProxy::start(&rt, reg.port);
    proxy.faults.redirect_blobs.store(true, Ordering::SeqCst);
    // 1 MiB in 64 KiB pieces 80 ms apart: about 1.3 s per layer, 3.9 s for three one after another.
    *proxy.faults.throttle.lock().unwrap() = Some(Duration::from_millis(80));

    let store = open_store(tmp.path());
    let puller = Puller::new(store.clone(), Registries::parse(&mirror_yaml(&host, proxy.port)).unwrap());
    let opts = PullOptions::default();
    let started = Instant::now();
    let (a, b) = rt.block_on(async { tokio::join!(puller.pull(&r, &opts), puller.pull(&r, &opts)) });
    let took = started.elapsed();
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.config, b.config);
    assert!(took < Duration::from_millis(3000), "layers were not downloaded concurrently: {took:?}");

    let seen = proxy.seen();
    for d in &layout.layer_digests {
        let of: Vec<_> = seen.iter().filter(|s| s.path.ends_with(d.as_str())).collect();
        // One redirect and one download from the CDN path, although two pulls wanted it.
        assert_eq!(of.iter().filter(|s| s.status == 307).count(), 1, "{d}: {of:#?}");
        let fetched: Vec<_> = of.iter().filter(|s| s.status == 200).collect();
        assert_eq!(fetched.len(), 1, "{d} downloaded more than once: {of:#?}");
        assert!(fetched[0].path.starts_with("/cdn/"), "{fetched:?}");
    }
    assert_eq!(count(&store.tmp_dir()), 0);
    assert_blobs_verify(store.root());
    let snaps = store.ensure_unpacked(&a).unwrap();
    assert_eq!(std::fs::metadata(snaps[0].join("data/layer0.bin")).unwrap().len(), 1 << 20);
}
