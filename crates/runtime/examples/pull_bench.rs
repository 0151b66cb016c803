//! Benchmark: pull + unpack of a ~100 MiB five-layer image from a loopback `docker-registry`,
//! peapod against `skopeo copy` to an OCI layout + `umoci unpack`, in the same run; and the
//! import time of the busybox quick-start tarball. Needs root and the packages of
//! scripts/install-test-deps.sh. Run: `cargo run -p runtime --example pull_bench`.

use runtime::image::ImageStore;
use runtime::image::build::{BuildSpec, build_oci_archive};
use runtime::image::digest::digest_of;
use runtime::image::pull::{PullOptions, Puller};
use runtime::image::registries::Registries;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const LAYERS: usize = 5;
const LAYER_BYTES: usize = 20 << 20;

fn main() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let cfg = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}/storage\nhttp:\n  addr: 127.0.0.1:{port}\n",
        dir.display()
    );
    std::fs::write(dir.join("registry.yml"), cfg)?;
    let mut registry = Command::new("docker-registry").arg("serve").arg(dir.join("registry.yml")).spawn()?;
    let result = run(dir, port);
    let _ = registry.kill();
    let _ = registry.wait();
    result
}

fn run(dir: &Path, port: u16) -> anyhow::Result<()> {
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let host = format!("127.0.0.1:{port}");
    // A layout of LAYERS uncompressed layers of pseudo-random data (incompressible, like
    // binaries); skopeo gzips them on push.
    let layout = dir.join("src-layout");
    std::fs::create_dir_all(layout.join("blobs/sha256"))?;
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..LAYERS {
        let mut data = vec![0u8; LAYER_BYTES];
        for chunk in data.chunks_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
        }
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("data/layer{i}.bin"), &data[..])?;
        let t = b.into_inner()?;
        let d = digest_of(&t);
        std::fs::write(layout.join("blobs/sha256").join(&d[7..]), &t)?;
        descs.push(serde_json::json!({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":d,"size":t.len()}));
        diff_ids.push(d);
    }
    let cfg = serde_json::to_vec(
        &serde_json::json!({"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":diff_ids}}),
    )?;
    let cd = digest_of(&cfg);
    std::fs::write(layout.join("blobs/sha256").join(&cd[7..]), &cfg)?;
    let m = serde_json::to_vec(
        &serde_json::json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":cd,"size":cfg.len()},"layers":descs}),
    )?;
    let md = digest_of(&m);
    std::fs::write(layout.join("blobs/sha256").join(&md[7..]), &m)?;
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"manifests":[
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":md,"size":m.len(),"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}))?,
    )?;
    let st = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false", "--dest-compress"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{host}/bench/big:v1"))
        .status()?;
    anyhow::ensure!(st.success(), "skopeo push failed");

    // peapod: pull + unpack.
    let store = ImageStore::open(&dir.join("peapod"))?;
    let yaml = format!("mirrors:\n  \"{host}\":\n    endpoint: [\"http://{host}\"]\n");
    let puller = Puller::new(store.clone(), Registries::parse(&yaml).map_err(anyhow::Error::msg)?);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let t = Instant::now();
    let img = rt.block_on(puller.pull(&format!("{host}/bench/big:v1"), &PullOptions::default()))?;
    let t_pull = t.elapsed();
    store.ensure_unpacked(&img)?;
    let peapod = t.elapsed();

    // skopeo copy + umoci unpack.
    let t = Instant::now();
    let st = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{host}/bench/big:v1"))
        .arg(format!("oci:{}/skopeo-layout:v1", dir.display()))
        .status()?;
    anyhow::ensure!(st.success(), "skopeo pull failed");
    let t_skopeo = t.elapsed();
    let st = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}/skopeo-layout:v1", dir.display()))
        .arg(dir.join("umoci-bundle"))
        .status()?;
    anyhow::ensure!(st.success(), "umoci unpack failed");
    let other = t.elapsed();
    let total: u64 = img.layers.iter().map(|l| l.size).sum();
    println!("image: {LAYERS} layers, {:.1} MiB compressed", total as f64 / (1 << 20) as f64);
    println!("peapod pull {:>8.3} s, pull+unpack {:>8.3} s", t_pull.as_secs_f64(), peapod.as_secs_f64());
    println!("skopeo copy {:>8.3} s, +umoci unpack {:>8.3} s", t_skopeo.as_secs_f64(), other.as_secs_f64());
    println!("ratio peapod/(skopeo+umoci) = {:.2}", peapod.as_secs_f64() / other.as_secs_f64());

    // Import of the busybox quick-start tarball.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let st = Command::new("bash")
        .arg(repo.join("images/stage.sh"))
        .arg(dir.join("rootfs"))
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(st.success(), "stage.sh failed");
    let spec: BuildSpec = serde_json::from_slice(&std::fs::read(repo.join("images/busybox.json"))?)?;
    let tar = dir.join("busybox.tar");
    build_oci_archive(&dir.join("rootfs/busybox"), &spec, &tar)?;
    let mut best = Duration::MAX;
    let mut best_unpack = Duration::MAX;
    for i in 0..5 {
        let s = ImageStore::open(&dir.join(format!("import-{i}")))?;
        let t = Instant::now();
        let imgs = s.import_file(&tar)?;
        best = best.min(t.elapsed());
        s.ensure_unpacked(&imgs[0])?;
        best_unpack = best_unpack.min(t.elapsed());
    }
    println!(
        "busybox tarball {:.2} MB: import {:.1} ms, import+unpack {:.1} ms (best of 5)",
        std::fs::metadata(&tar)?.len() as f64 / 1e6,
        best.as_secs_f64() * 1e3,
        best_unpack.as_secs_f64() * 1e3
    );
    Ok(())
}
