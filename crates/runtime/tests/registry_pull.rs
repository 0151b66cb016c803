//! Pulls from a real registry (Debian's `docker-registry`, on loopback) holding images pushed
//! with `skopeo`: by tag, by digest, a multi-arch index, gzip and zstd layers, whiteouts and
//! an opaque directory, a docker.io name resolved through a mirror, basic auth (htpasswd) with
//! good, wrong and missing credentials. Needs root and scripts/install-test-deps.sh's packages.

use runtime::image::digest::digest_of;
use runtime::image::pull::{PullError, PullOptions, Puller};
use runtime::image::registries::{Credentials, Registries};
use runtime::image::{ImageStore, oci};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Registry {
    child: Child,
    port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_registry(dir: &Path, htpasswd: Option<&Path>) -> Registry {
    let port = free_port();
    let storage = dir.join(format!("storage-{port}"));
    std::fs::create_dir_all(&storage).unwrap();
    let mut cfg = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
        storage.display()
    );
    if let Some(h) = htpasswd {
        cfg.push_str(&format!("auth:\n  htpasswd:\n    realm: peapod-test\n    path: {}\n", h.display()));
    }
    let cfg_path = dir.join(format!("registry-{port}.yml"));
    std::fs::write(&cfg_path, cfg).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("registry-{port}.log"))).unwrap())
        .spawn()
        .expect("docker-registry (scripts/install-test-deps.sh installs it)");
    let reg = Registry { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    reg
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, d) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(if p.ends_with('/') { tar::EntryType::Directory } else { tar::EntryType::Regular });
        b.append_data(&mut h, p, *d).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// Writes an OCI layout directory. `layers` are uncompressed tars; with `multi`, the tag names
/// an index holding an amd64 and an arm64 manifest. Returns the layout dir.
fn oci_layout(dir: &Path, layers: &[Vec<u8>], gz: bool, multi: bool) -> PathBuf {
    let layout = dir.join(format!("layout-{}", &digest_of(&[gz as u8, multi as u8])[7..15]));
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let put = |data: &[u8]| -> String {
        let d = digest_of(data);
        std::fs::write(layout.join("blobs/sha256").join(&d[7..]), data).unwrap();
        d
    };
    let diff_ids: Vec<String> = layers.iter().map(|l| digest_of(l)).collect();
    let descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let data = if gz { gzip(l) } else { l.clone() };
            let mt = if gz { oci::MEDIA_OCI_LAYER_GZIP } else { oci::MEDIA_OCI_LAYER };
            serde_json::json!({"mediaType": mt, "digest": put(&data), "size": data.len()})
        })
        .collect();
    let manifest_for = |arch: &str| -> (String, usize) {
        let cfg = serde_json::to_vec(&serde_json::json!({"architecture":arch,"os":"linux","config":{"Cmd":["sh"]},
            "rootfs":{"type":"layers","diff_ids":diff_ids}}))
        .unwrap();
        let m = serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"mediaType":oci::MEDIA_OCI_MANIFEST,
            "config":{"mediaType":oci::MEDIA_OCI_CONFIG,"digest":put(&cfg),"size":cfg.len()},"layers":descs}))
        .unwrap();
        (put(&m), m.len())
    };
    let (md, ml) = manifest_for("amd64");
    let top = if multi {
        let (ad, al) = manifest_for("arm64");
        let idx = serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"mediaType":oci::MEDIA_OCI_INDEX,"manifests":[
            {"mediaType":oci::MEDIA_OCI_MANIFEST,"digest":ad,"size":al,"platform":{"os":"linux","architecture":"arm64"}},
            {"mediaType":oci::MEDIA_OCI_MANIFEST,"digest":md,"size":ml,"platform":{"os":"linux","architecture":"amd64"}}]}))
        .unwrap();
        serde_json::json!({"mediaType":oci::MEDIA_OCI_INDEX,"digest":put(&idx),"size":idx.len(),
            "annotations":{"org.opencontainers.image.ref.name":"v1"}})
    } else {
        serde_json::json!({"mediaType":oci::MEDIA_OCI_MANIFEST,"digest":md,"size":ml,
            "annotations":{"org.opencontainers.image.ref.name":"v1"}})
    };
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"manifests":[top]})).unwrap(),
    )
    .unwrap();
    layout
}

fn skopeo_push(layout: &Path, dest: &str, extra: &[&str]) {
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .args(extra)
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .expect("skopeo (scripts/install-test-deps.sh installs it)");
    assert!(out.status.success(), "skopeo copy to {dest}: {}", String::from_utf8_lossy(&out.stderr));
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn pulls_from_local_registry() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: needs root (and the registry packages)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = start_registry(tmp.path(), None);
    let host = format!("127.0.0.1:{}", reg.port);
    let base =
        tar_of(&[("etc/", b""), ("etc/motd", b"base"), ("var/", b""), ("var/cache/", b""), ("var/cache/a", b"a")]);
    let top = tar_of(&[("etc/.wh.motd", b""), ("var/cache/.wh..wh..opq", b""), ("var/cache/b", b"b")]);
    let layers = vec![base, top];
    skopeo_push(&oci_layout(tmp.path(), &layers, true, false), &format!("{host}/library/ws:v1"), &[]);
    skopeo_push(&oci_layout(tmp.path(), &layers, true, true), &format!("{host}/library/multi:v1"), &["--all"]);
    skopeo_push(
        &oci_layout(tmp.path(), &layers, false, false),
        &format!("{host}/library/zst:v1"),
        &["--dest-compress-format", "zstd", "--dest-compress"],
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
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: needs root (and the registry packages)");
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
        &oci_layout(tmp.path(), &layers, true, false),
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
