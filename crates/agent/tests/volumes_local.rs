//! Volumes that need no API: emptyDir (disk and tmpfs), hostPath type checks, subPath
//! resolution and escapes, the AtomicWriter layout, teardown and list.
//!
//! The tmpfs cases need root (CI is root); without it they report that they skip.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use agent::volumes::atomic_writer::{FileProjection, Payload, WriteOutcome, write};
use agent::volumes::empty_dir::{disk_usage, has_size_limit, size_limit_exceeded};
use agent::volumes::host_path::check_type;
use agent::volumes::mounts::{is_mount_point, mount_points_under};
use agent::volumes::subpath::{expand_sub_path_expr, resolve};
use agent::volumes::{PodVolumes, VolumeManager};
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::json;

fn offline_client() -> client::Client {
    // Nothing here reaches the API; a client to a closed port proves it.
    client::Client::new(client::Config::new("http://127.0.0.1:1", None, None)).expect("client")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn pod(uid: &str, volumes: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "uid": uid},
        "spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "64Mi"}}}], "volumes": volumes},
    }))
    .expect("pod")
}

fn container(mounts: serde_json::Value, env: serde_json::Value) -> Container {
    serde_json::from_value(json!({"name": "app", "volumeMounts": mounts, "env": env})).expect("container")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

#[tokio::test]
async fn empty_dir_on_disk_and_in_memory() {
    let data = tempfile::tempdir().expect("tempdir");
    let manager = VolumeManager::new(offline_client(), data.path().join("pods"));
    let p = pod(
        "uid-empty",
        json!([{"name": "scratch", "emptyDir": {}}, {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}]),
    );
    let volumes = manager.setup(&p).await.expect("setup");
    let pod_dir = data.path().join("pods/uid-empty");
    assert_eq!(volumes.pod_dir(), Some(pod_dir.as_path()));
    let scratch = volumes.path_of("scratch").expect("scratch");
    assert_eq!(scratch, pod_dir.join("volumes/kubernetes.io~empty-dir/scratch"));
    assert_eq!(mode(scratch), 0o777);
    assert!(volumes.read_only.is_empty());
    let cache = volumes.path_of("cache").expect("cache").to_path_buf();
    if is_root() {
        assert!(is_mount_point(&cache), "medium: Memory is a tmpfs");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let line = mountinfo.lines().find(|l| l.contains(cache.to_str().expect("utf8"))).expect("mount line");
        assert!(line.contains("size=16384k"), "sizeLimit bounds the tmpfs: {line}");
    } else {
        eprintln!("skipping the tmpfs checks: not root");
    }
    // Setup is idempotent: a second call keeps the same mount and contents.
    std::fs::write(scratch.join("kept"), "x").expect("write");
    let again = manager.setup(&p).await.expect("setup again");
    assert!(again.path_of("scratch").expect("scratch").join("kept").exists());
    if is_root() {
        assert_eq!(mount_points_under(&cache).expect("mounts").len(), 1, "no second tmpfs stacked");
    }

    assert_eq!(manager.list().await.expect("list"), vec!["uid-empty".to_string()]);
    manager.teardown("uid-empty").await.expect("teardown");
    assert!(!pod_dir.exists());
    assert!(mount_points_under(&pod_dir).expect("mounts").is_empty(), "no mount left behind");
    assert!(manager.list().await.expect("list").is_empty());
    manager.teardown("uid-empty").await.expect("teardown of an absent pod is fine");
    assert!(manager.teardown("../etc").await.is_err(), "a uid cannot name another directory");
}

#[tokio::test]
async fn empty_dir_usage_against_size_limit() {
    let data = tempfile::tempdir().expect("tempdir");
    let manager = VolumeManager::new(offline_client(), data.path().join("pods"));
    let p = pod(
        "uid-limit",
        json!([{"name": "small", "emptyDir": {"sizeLimit": "64Ki"}}, {"name": "free", "emptyDir": {}},
               {"name": "zero", "emptyDir": {"sizeLimit": "0"}}]),
    );
    assert!(has_size_limit(&p));
    assert!(!has_size_limit(&pod("uid-none", json!([{"name": "free", "emptyDir": {}}]))));
    let volumes = manager.setup(&p).await.expect("setup");
    let small = volumes.path_of("small").expect("small").to_path_buf();
    let base = disk_usage(&small);
    // Allocated blocks count, as `du` counts them; a hard link once; a symlink is not followed.
    std::fs::write(small.join("a"), vec![1u8; 32 * 1024]).expect("write");
    std::fs::hard_link(small.join("a"), small.join("b")).expect("hard link");
    std::fs::create_dir(small.join("sub")).expect("mkdir");
    symlink(volumes.path_of("free").expect("free"), small.join("sub/outside")).expect("symlink");
    std::fs::write(volumes.path_of("free").expect("free").join("big"), vec![1u8; 1 << 20]).expect("write");
    std::fs::write(volumes.path_of("zero").expect("zero").join("big"), vec![1u8; 1 << 20]).expect("write");
    let used = disk_usage(&small);
    assert!(used >= base + 32 * 1024 && used < base + 64 * 1024, "used {used} (empty: {base})");
    assert_eq!(size_limit_exceeded(&p, &volumes), None, "within 64Ki; no limit; a 0 limit is none");

    std::fs::write(small.join("sub/c"), vec![1u8; 40 * 1024]).expect("write");
    assert_eq!(
        size_limit_exceeded(&p, &volumes).as_deref(),
        Some("Usage of EmptyDir volume \"small\" exceeds the limit \"64Ki\". ")
    );
    assert_eq!(disk_usage(&data.path().join("absent")), 0);
    manager.teardown("uid-limit").await.expect("teardown");
}

#[test]
fn host_path_types() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").expect("write");
    let missing = dir.path().join("new/dir");
    check_type(&missing, "DirectoryOrCreate").expect("created");
    assert!(missing.is_dir());
    assert_eq!(mode(&missing), 0o755);
    check_type(dir.path(), "Directory").expect("a directory");
    assert_eq!(
        check_type(&file, "Directory").expect_err("not a dir"),
        format!("hostPath type check failed: {} is not a directory", file.display())
    );
    assert_eq!(
        check_type(dir.path(), "File").expect_err("not a file"),
        format!("hostPath type check failed: {} is not a file", dir.path().display())
    );
    let new_file = dir.path().join("sub/created.txt");
    check_type(&new_file, "FileOrCreate").expect("created");
    assert!(new_file.is_file());
    assert_eq!(mode(&new_file), 0o644);
    check_type(&file, "File").expect("a file");
    check_type(&dir.path().join("nothing"), "").expect("no check without a type");
    assert!(check_type(&file, "Socket").expect_err("socket").ends_with("is not a socket file"));
    assert!(check_type(&file, "CharDevice").expect_err("char").ends_with("is not a character device"));
    check_type(Path::new("/dev/null"), "CharDevice").expect("/dev/null is a character device");
    assert!(check_type(&file, "BlockDevice").expect_err("block").ends_with("is not a block device"));
    assert_eq!(check_type(&file, "Weird").expect_err("type"), "Weird is an invalid volume type");
    let socket_path = dir.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket_path).expect("bind");
    check_type(&socket_path, "Socket").expect("a socket");
}

#[tokio::test]
async fn host_path_volume_errors_name_the_volume() {
    let data = tempfile::tempdir().expect("tempdir");
    let manager = VolumeManager::new(offline_client(), data.path().join("pods"));
    let p = pod("uid-hp", json!([{"name": "host", "hostPath": {"path": "/definitely/not/here", "type": "Directory"}}]));
    let error = manager.setup(&p).await.expect_err("missing directory");
    assert_eq!(
        error.to_string(),
        "MountVolume.SetUp failed for volume \"host\" : hostPath type check failed: /definitely/not/here is not a directory"
    );
    let p = pod("uid-hp2", json!([{"name": "host", "hostPath": {"path": data.path().to_str().expect("utf8")}}]));
    let volumes = manager.setup(&p).await.expect("setup");
    assert_eq!(volumes.path_of("host"), Some(data.path()));
    manager.teardown("uid-hp2").await.expect("teardown");
    assert!(data.path().exists(), "teardown never touches a hostPath");
}

#[test]
fn sub_paths() {
    let volume = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(volume.path().join("file.conf"), "x").expect("write");
    let base = volume.path().canonicalize().expect("canonical");
    assert_eq!(resolve(volume.path(), "file.conf").expect("file"), base.join("file.conf"));
    // Missing: created as a directory.
    assert_eq!(resolve(volume.path(), "a/b").expect("created"), base.join("a/b"));
    assert!(base.join("a/b").is_dir());
    // Escapes are refused: `..`, absolute paths, and symlinks leading out.
    assert!(resolve(volume.path(), "../x").expect_err("dotdot").contains("must not contain '..'"));
    assert!(resolve(volume.path(), "/etc").expect_err("absolute").contains("must not be an absolute path"));
    symlink(outside.path(), volume.path().join("escape")).expect("symlink");
    let error = resolve(volume.path(), "escape").expect_err("symlink out");
    assert!(error.contains("not within volume path"), "{error}");
    assert!(resolve(volume.path(), "escape/new").is_err());
    assert!(!outside.path().join("new").exists(), "nothing was created outside the volume");
    symlink("/etc/passwd", volume.path().join("passwd")).expect("symlink");
    assert!(resolve(volume.path(), "passwd").is_err());
    // A symlink that stays inside is fine and resolved.
    symlink("file.conf", volume.path().join("alias")).expect("symlink");
    assert_eq!(resolve(volume.path(), "alias").expect("inside"), base.join("file.conf"));
}

#[test]
fn sub_path_expr() {
    let env = vec![("POD_NAME".to_string(), "web-1".to_string()), ("EMPTY".to_string(), String::new())];
    assert_eq!(expand_sub_path_expr("logs/$(POD_NAME)", &env).expect("expanded"), "logs/web-1");
    assert_eq!(expand_sub_path_expr("$(NOPE)/$(EMPTY)", &env).expect_err("missing"), "missing value for EMPTY, NOPE");
}

#[tokio::test]
async fn mounts_for_container() {
    let data = tempfile::tempdir().expect("tempdir");
    let manager = VolumeManager::new(offline_client(), data.path().join("pods"));
    let p = pod("uid-mounts", json!([{"name": "scratch", "emptyDir": {}}]));
    let volumes = manager.setup(&p).await.expect("setup");
    let scratch = volumes.path_of("scratch").expect("scratch").canonicalize().expect("canonical");
    let c = container(
        json!([
            {"name": "scratch", "mountPath": "/data"},
            {"name": "scratch", "mountPath": "/logs", "subPathExpr": "logs/$(POD)", "readOnly": true},
            {"name": "scratch", "mountPath": "/cfg", "subPath": "cfg"},
        ]),
        json!([{"name": "POD", "value": "p"}]),
    );
    let mounts = volumes.mounts_for(&c).expect("mounts");
    assert_eq!(mounts.len(), 3);
    assert_eq!((mounts[0].container_path.as_str(), mounts[0].read_only), ("/data", false));
    assert_eq!(mounts[1].host_path, scratch.join("logs/p"));
    assert!(mounts[1].read_only);
    assert_eq!(mounts[2].host_path, scratch.join("cfg"));

    let unknown = container(json!([{"name": "nope", "mountPath": "/x"}]), json!([]));
    assert_eq!(
        volumes.mounts_for(&unknown).expect_err("unknown").to_string(),
        "cannot find volume \"nope\" to mount into container \"app\""
    );
    assert!(PodVolumes::default().mounts_for(&container(json!([]), json!([]))).expect("none").is_empty());
    manager.teardown("uid-mounts").await.expect("teardown");
}

fn file(data: &str, mode: u32) -> FileProjection {
    FileProjection { data: data.as_bytes().to_vec(), mode }
}

#[test]
fn atomic_writer_layout_and_swap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    let mut payload = Payload::new();
    payload.insert("a.conf".into(), file("one", 0o644));
    payload.insert("nested/b.conf".into(), file("two", 0o400));
    assert_eq!(write(target, &payload, None).expect("write"), WriteOutcome::Written);

    let data_link = std::fs::read_link(target.join("..data")).expect("..data is a symlink");
    let ts_name = data_link.to_str().expect("utf8").to_string();
    assert!(ts_name.starts_with("..") && ts_name.len() > "..2024_01_02_15_04_05.".len(), "{ts_name}");
    assert_eq!(std::fs::read_link(target.join("a.conf")).expect("link"), Path::new("..data/a.conf"));
    assert_eq!(std::fs::read_link(target.join("nested")).expect("link"), Path::new("..data/nested"));
    assert_eq!(std::fs::read_to_string(target.join("a.conf")).expect("read"), "one");
    assert_eq!(std::fs::read_to_string(target.join("nested/b.conf")).expect("read"), "two");
    assert_eq!(mode(&target.join("nested/b.conf")), 0o400);

    // The same payload again: nothing changes.
    assert_eq!(write(target, &payload, None).expect("write"), WriteOutcome::Unchanged);
    assert_eq!(std::fs::read_link(target.join("..data")).expect("link"), data_link);

    // An open file of the old version keeps reading the old contents; new readers see the new.
    let mut old = std::fs::File::open(target.join("a.conf")).expect("open");
    let mut next = Payload::new();
    next.insert("a.conf".into(), file("uno", 0o644));
    next.insert("c.conf".into(), file("three", 0o600));
    assert_eq!(write(target, &next, None).expect("write"), WriteOutcome::Written);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut old, &mut text).expect("read old");
    assert_eq!(text, "one");
    assert_eq!(std::fs::read_to_string(target.join("a.conf")).expect("read"), "uno");
    assert_eq!(std::fs::read_to_string(target.join("c.conf")).expect("read"), "three");
    assert!(std::fs::symlink_metadata(target.join("nested")).is_err(), "removed keys disappear");
    assert!(!target.join(&ts_name).exists(), "the old timestamped directory is removed");
    let entries: Vec<String> = std::fs::read_dir(target)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
        .collect();
    assert_eq!(entries.len(), 4, "..data, one timestamped dir, a.conf, c.conf: {entries:?}");

    // A mode change alone is a change.
    next.insert("c.conf".into(), file("three", 0o644));
    assert_eq!(write(target, &next, None).expect("write"), WriteOutcome::Written);
    assert_eq!(mode(&target.join("c.conf")), 0o644);

    // Paths that would leave the volume or clash with the writer's names are refused.
    for bad in ["../x", "/abs", "..data", "a/../../b", "..hidden"] {
        let mut evil = Payload::new();
        evil.insert(bad.into(), file("x", 0o644));
        assert!(write(target, &evil, None).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn fs_group_owns_empty_dirs() {
    if !is_root() {
        eprintln!("skipping: changing group ownership needs root");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let data = tempfile::tempdir().expect("tempdir");
    let manager = VolumeManager::new(offline_client(), data.path().join("pods"));
    let mut p = pod("uid-fsgroup", json!([{"name": "scratch", "emptyDir": {}}]));
    p.spec.as_mut().expect("spec").security_context =
        Some(serde_json::from_value(json!({"fsGroup": 4321})).expect("security context"));
    let volumes = manager.setup(&p).await.expect("setup");
    let scratch = volumes.path_of("scratch").expect("scratch");
    let metadata = std::fs::metadata(scratch).expect("metadata");
    assert_eq!(metadata.gid(), 4321);
    assert_eq!(metadata.mode() & 0o7777, 0o2777, "setgid, so new files inherit the group");
    manager.teardown("uid-fsgroup").await.expect("teardown");
}

#[test]
fn atomic_writer_with_fs_group() {
    if !is_root() {
        eprintln!("skipping: changing group ownership needs root");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut payload = Payload::new();
    payload.insert("key".into(), file("v", 0o400));
    assert_eq!(write(dir.path(), &payload, Some(4321)).expect("write"), WriteOutcome::Written);
    let metadata = std::fs::metadata(dir.path().join("key")).expect("metadata");
    assert_eq!(metadata.gid(), 4321);
    assert_eq!(metadata.mode() & 0o7777, 0o440, "group-readable, as SetVolumeOwnership makes read-only volumes");
    assert_eq!(write(dir.path(), &payload, Some(4321)).expect("write"), WriteOutcome::Unchanged);
}
