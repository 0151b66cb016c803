//! Shared by the registry tests: a Debian `docker-registry` on a loopback port, OCI layouts
//! built in memory and pushed with `skopeo`. Each test binary uses a part of it.
#![allow(dead_code)]

pub mod servers;

use runtime::image::digest::digest_of;
use runtime::image::oci;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A running `docker-registry serve`; killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    /// Its filesystem storage root (several registries may share one).
    pub storage: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps a blob's bytes (the filesystem driver's layout).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = &digest["sha256:".len()..];
        self.storage.join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn root_or_skip() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: needs root (and the registry packages)");
        return false;
    }
    true
}

/// Starts a registry on its own storage, optionally behind htpasswd basic auth.
pub fn start_registry(dir: &Path, htpasswd: Option<&Path>) -> Registry {
    let auth = htpasswd
        .map(|h| format!("auth:\n  htpasswd:\n    realm: peapod-test\n    path: {}\n", h.display()))
        .unwrap_or_default();
    start_registry_with(dir, None, &auth)
}

/// Starts a registry on `storage` (a fresh directory when `None`) with an extra top-level
/// YAML section (`auth:` …).
pub fn start_registry_with(dir: &Path, storage: Option<&Path>, extra: &str) -> Registry {
    let port = free_port();
    let storage = storage.map_or_else(|| dir.join(format!("storage-{port}")), Path::to_path_buf);
    std::fs::create_dir_all(&storage).unwrap();
    let cfg = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
        storage.display()
    );
    let cfg_path = dir.join(format!("registry-{port}.yml"));
    std::fs::write(&cfg_path, cfg).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("registry-{port}.log"))).unwrap())
        .spawn()
        .expect("docker-registry (scripts/install-test-deps.sh installs it)");
    let reg = Registry { child, port, storage };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    reg
}

pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
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

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// Incompressible bytes (xorshift), like the binaries of a real layer.
pub fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    seed |= 1;
    let mut data = vec![0u8; len];
    for chunk in data.chunks_mut(8) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
    }
    data
}

/// An OCI layout directory and the digests of its layer blobs as stored.
pub struct Layout {
    pub dir: PathBuf,
    pub layer_digests: Vec<String>,
}

/// Writes an OCI layout directory. `layers` are uncompressed tars; with `multi`, the tag names
/// an index holding an amd64 and an arm64 manifest.
pub fn oci_layout(dir: &Path, layers: &[Vec<u8>], gz: bool, multi: bool) -> Layout {
    let mut key = vec![gz as u8, multi as u8];
    for l in layers {
        key.extend_from_slice(digest_of(l).as_bytes());
    }
    let layout = dir.join(format!("layout-{}", &digest_of(&key)[7..19]));
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let put = |data: &[u8]| -> String {
        let d = digest_of(data);
        std::fs::write(layout.join("blobs/sha256").join(&d[7..]), data).unwrap();
        d
    };
    let diff_ids: Vec<String> = layers.iter().map(|l| digest_of(l)).collect();
    let mut layer_digests = Vec::new();
    let descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let data = if gz { gzip(l) } else { l.clone() };
            let mt = if gz { oci::MEDIA_OCI_LAYER_GZIP } else { oci::MEDIA_OCI_LAYER };
            let d = put(&data);
            layer_digests.push(d.clone());
            serde_json::json!({"mediaType": mt, "digest": d, "size": data.len()})
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
    Layout { dir: layout, layer_digests }
}

/// `skopeo copy oci:LAYOUT:v1 docker://DEST` over plain HTTP.
pub fn skopeo_push(layout: &Path, dest: &str, extra: &[&str]) {
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .args(extra)
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .expect("skopeo (scripts/install-test-deps.sh installs it)");
    assert!(out.status.success(), "skopeo copy to {dest}: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Entries of a directory (0 when it does not exist).
pub fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Every blob in a store hashes to its name: nothing partial or corrupt was committed.
pub fn assert_blobs_verify(store_root: &Path) -> usize {
    let dir = store_root.join("blobs/sha256");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let name = format!("sha256:{}", e.file_name().to_string_lossy());
        let body = std::fs::read(e.path()).unwrap();
        assert_eq!(digest_of(&body), name, "blob {} does not match its name", e.path().display());
        n += 1;
    }
    n
}
