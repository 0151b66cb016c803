//! `peapod image pull|ls` as a user runs them, against a Debian `docker-registry` on loopback
//! holding images pushed with `skopeo`: a pull SIGKILLed midway then pulled again (the store
//! stays consistent), the progress output without a terminal (per-blob lines and a summary on
//! stderr, the image ID on stdout) and on a pseudo-terminal (`script`: the bar redrawn in
//! place), and a failed pull's exit status. Needs root and scripts/install-test-deps.sh's
//! packages; skips otherwise.

use runtime::image::digest::digest_of;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PEAPOD: &str = env!("CARGO_BIN_EXE_peapod");

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

fn can_run() -> bool {
    let ok = nix::unistd::geteuid().is_root()
        && ["docker-registry", "skopeo"]
            .iter()
            .all(|b| Command::new("which").arg(b).output().is_ok_and(|o| o.status.success()));
    if !ok {
        eprintln!("skipping: needs root, docker-registry and skopeo");
    }
    ok
}

fn start_registry(dir: &Path) -> Registry {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = dir.join("registry.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}/storage\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reg = Registry { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    reg
}

/// Pushes an image of `layers` layers of `size` incompressible bytes each to `dest` (uncompressed
/// layers, as a registry may well hold them).
fn push_image(dir: &Path, dest: &str, layers: usize, size: usize) {
    let layout = dir.join(format!("layout-{layers}-{size}"));
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> String {
        let d = digest_of(data);
        std::fs::write(blobs.join(&d[7..]), data).unwrap();
        d
    };
    let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ size as u64;
    let (mut descs, mut diff_ids) = (Vec::new(), Vec::new());
    for i in 0..layers {
        let mut data = vec![0u8; size];
        for chunk in data.chunks_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
        }
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(size as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("layer{i}.bin"), &data[..]).unwrap();
        let t = b.into_inner().unwrap();
        let d = put(&t);
        descs.push(serde_json::json!({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":d,"size":t.len()}));
        diff_ids.push(d);
    }
    let cfg = serde_json::to_vec(&serde_json::json!({"architecture":"amd64","os":"linux","config":{},
        "rootfs":{"type":"layers","diff_ids":diff_ids}}))
    .unwrap();
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":put(&cfg),"size":cfg.len()},"layers":descs}))
    .unwrap();
    let md = put(&m);
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "digest":md,"size":m.len(),"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}))
        .unwrap(),
    )
    .unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
}

/// A data dir whose registries.yaml sends `host` to the loopback registry over plain HTTP.
fn data_dir(dir: &Path, host: &str) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("registries.yaml"),
        format!("mirrors:\n  \"{host}\":\n    endpoint: [\"http://{host}\"]\n"),
    )
    .unwrap();
    data
}

fn peapod_image(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(PEAPOD);
    c.arg("image").arg("--data-dir").arg(data).args(args).stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> (Output, String, String) {
    let out = c.output().unwrap();
    let (so, se) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    (out, so, se)
}

fn store_dir(data: &Path) -> PathBuf {
    data.join("agent/images")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

/// Every committed blob hashes to its name; returns how many there are.
fn blobs_verify(data: &Path) -> usize {
    let blobs = entries(&store_dir(data).join("blobs/sha256"));
    for b in &blobs {
        let name = format!("sha256:{}", b.file_name().unwrap().to_string_lossy());
        assert_eq!(digest_of(&std::fs::read(b).unwrap()), name, "corrupt blob {}", b.display());
    }
    blobs.len()
}

#[test]
fn killed_pull_then_pull_again() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = start_registry(tmp.path());
    let host = format!("127.0.0.1:{}", reg.port);
    let image = format!("{host}/test/big:v1");
    push_image(tmp.path(), &image, 5, 24 << 20);
    let data = data_dir(tmp.path(), &host);
    let tmp_dir = store_dir(&data).join("tmp");

    // Killed once layer bytes are landing (a temp file past 1 MiB).
    let mut child = peapod_image(&data, &["pull", &image]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let writing =
            entries(&tmp_dir).iter().any(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 1 << 20));
        if writing {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the pull ended before it could be killed");
        assert!(Instant::now() < deadline, "the pull never started writing layers");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc_sigkill()), "killed midway, not finished: {status:?}");
    // What a kill leaves: the dead pull's temp files, and no name.
    assert!(!entries(&tmp_dir).is_empty(), "a SIGKILLed pull leaves its temp files");
    let (out, ls, _) = run(peapod_image(&data, &["ls"]));
    assert!(out.status.success());
    assert!(!ls.contains("test/big"), "{ls}");
    let partial = blobs_verify(&data);
    assert!(partial < 5 + 2, "the pull was midway: {partial} blobs");

    // Pulled again: succeeds, the dead pull's garbage is gone, everything verifies.
    let (out, stdout, stderr) = run(peapod_image(&data, &["pull", &image]));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("Image is up to date for sha256:"), "{stdout}");
    assert!(entries(&tmp_dir).is_empty(), "temp leftovers: {:?}", entries(&tmp_dir));
    assert_eq!(blobs_verify(&data), 5 + 2, "five layers, config and manifest");
    assert_eq!(entries(&store_dir(&data).join("snapshots")).len(), 5, "every layer unpacked");
    let (out, ls, _) = run(peapod_image(&data, &["ls"]));
    assert!(out.status.success());
    let row = ls.lines().find(|l| l.starts_with(&format!("{host}/test/big "))).unwrap_or_else(|| panic!("{ls}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], "v1", "{row}");
    let id = stdout.trim().rsplit(':').next().unwrap();
    assert!(id.starts_with(cols[2]), "IMAGE ID {} of {id}", cols[2]);
}

fn libc_sigkill() -> i32 {
    nix::sys::signal::Signal::SIGKILL as i32
}

#[test]
fn pull_progress_without_a_terminal() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = start_registry(tmp.path());
    let host = format!("127.0.0.1:{}", reg.port);
    let image = format!("{host}/test/small:v1");
    push_image(tmp.path(), &image, 3, 299_008);
    let data = data_dir(tmp.path(), &host);

    let (out, stdout, stderr) = run(peapod_image(&data, &["pull", &image]));
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines[0], format!("Pulling {image}"), "{stderr}");
    assert!(lines[1].starts_with("Resolved: 3 layers, "), "{stderr}");
    let blobs: Vec<&&str> = lines.iter().filter(|l| l.contains(": Pull complete (")).collect();
    assert_eq!(blobs.len(), 4, "three layers and the config: {stderr}");
    assert!(lines.iter().any(|l| l.contains(": Pull complete (301kB) [")), "layer sizes shown: {stderr}");
    assert!(lines.iter().any(|l| l.ends_with("[4/4]")), "{stderr}");
    let summary = lines.last().unwrap();
    assert!(summary.starts_with(&format!("Pulled {image} (sha256:")) && summary.contains("downloaded"), "{stderr}");
    assert!(!stderr.contains('\r'), "no bar redraws without a terminal: {stderr:?}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("Image is up to date for sha256:"), "{stdout}");

    // Again: everything is already there.
    let (out, _, stderr) = run(peapod_image(&data, &["pull", &image]));
    assert!(out.status.success());
    assert_eq!(stderr.matches(": Already exists (").count(), 4, "{stderr}");
    assert!(stderr.contains("0B downloaded"), "{stderr}");

    // A failed pull: non-zero exit, the reason on stderr, nothing on stdout.
    let (out, stdout, stderr) = run(peapod_image(&data, &["pull", &format!("{host}/test/absent:v1")]));
    assert!(!out.status.success());
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("not found"), "{stderr}");
}

#[test]
fn pull_progress_on_a_terminal() {
    if !can_run() || !Command::new("which").arg("script").output().is_ok_and(|o| o.status.success()) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reg = start_registry(tmp.path());
    let host = format!("127.0.0.1:{}", reg.port);
    let image = format!("{host}/test/tty:v1");
    push_image(tmp.path(), &image, 2, 2 << 20);
    let data = data_dir(tmp.path(), &host);
    // util-linux `script` runs the command on a pseudo-terminal and copies what it prints.
    let cmd = format!("{PEAPOD} image --data-dir {} pull {image}", data.display());
    let out = Command::new("script").args(["-qec", &cmd, "/dev/null"]).stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("\r["), "bar redrawn in place: {text:?}");
    assert!(text.contains(&format!("\r[{}] 3/3 blobs, 4.2MB/4.2MB", "#".repeat(30))), "final bar: {text:?}");
    assert!(!text.contains("Pull complete"), "no per-blob lines on a terminal: {text:?}");
    assert!(text.contains("Image is up to date for sha256:"), "{text:?}");
}

/// `peapod image import`, `ls` (`-q`), `rm` as a user runs them on an OCI archive: the import
/// names and unpacks the image, `ls` lists it in `crictl images` columns, `rm` deletes the name
/// and the content only it used, and a missing image or a file that is no image tarball fails.
#[test]
fn import_ls_rm_from_the_command_line() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: unpacking with ownership needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/hello"), b"hello from tiny\n").unwrap();
    let tar = tmp.path().join("tiny.tar");
    let spec = runtime::image::build::BuildSpec {
        name: "docker.io/library/tiny:latest".into(),
        cmd: Some(vec!["sh".into()]),
        ..Default::default()
    };
    runtime::image::build::build_oci_archive(&rootfs, &spec, &tar).unwrap();
    let data = tmp.path().join("data");

    let (out, stdout, stderr) = run(peapod_image(&data, &["import", tar.to_str().unwrap()]));
    assert!(out.status.success(), "import: {stderr}");
    assert!(stdout.starts_with("Imported docker.io/library/tiny:latest (sha256:"), "{stdout}");
    // Unpacked at import: one snapshot holding the file.
    let snaps = entries(&store_dir(&data).join("snapshots"));
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert_eq!(std::fs::read(snaps[0].join("etc/hello")).unwrap(), b"hello from tiny\n");

    let (out, stdout, stderr) = run(peapod_image(&data, &["ls"]));
    assert!(out.status.success(), "ls: {stderr}");
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"], "{stdout}");
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(&lines[1][..2], ["docker.io/library/tiny", "latest"], "{stdout}");
    let id = lines[1][2].to_string();
    assert_eq!(id.len(), 13, "{stdout}");
    let (_, quiet, _) = run(peapod_image(&data, &["ls", "-q"]));
    assert_eq!(quiet, format!("{id}\n"));

    // The user-style name finds the image; its content goes with it.
    let (out, stdout, stderr) = run(peapod_image(&data, &["rm", "tiny"]));
    assert!(out.status.success(), "rm: {stderr}");
    assert_eq!(stdout, "Deleted: docker.io/library/tiny:latest\n");
    assert_eq!(blobs_verify(&data), 0);
    assert!(entries(&store_dir(&data).join("snapshots")).is_empty());
    let (_, stdout, _) = run(peapod_image(&data, &["ls"]));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");

    let (out, _, stderr) = run(peapod_image(&data, &["rm", "tiny"]));
    assert!(!out.status.success());
    assert!(stderr.contains("not found"), "{stderr}");
    let junk = tmp.path().join("junk.tar");
    std::fs::write(&junk, b"this is not a tarball").unwrap();
    let (out, _, stderr) = run(peapod_image(&data, &["import", junk.to_str().unwrap()]));
    assert!(!out.status.success());
    assert!(stderr.contains("junk.tar"), "{stderr}");
    assert_eq!(blobs_verify(&data), 0);
}
