//! Overlay root filesystems over layer snapshots (needs root: mounts). Skips when not root.

use runtime::image::ImageStore;
use runtime::image::digest::digest_of;
use runtime::image::oci;
use std::fs;
use std::path::Path;

fn root_or_skip() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: mounting overlayfs needs root");
        return false;
    }
    true
}

fn entry(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, data).unwrap();
}

/// Stores an image of `layers` (each a list of (path, content)); returns its name.
fn put_image(store: &ImageStore, name: &str, layers: &[Vec<(String, Vec<u8>)>]) -> String {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for files in layers {
        let mut b = tar::Builder::new(Vec::new());
        for (p, d) in files {
            entry(&mut b, p, d);
        }
        let t = b.into_inner().unwrap();
        diff_ids.push(digest_of(&t));
        store.write_blob(None, &t).unwrap();
        descs.push(serde_json::json!({"mediaType": oci::MEDIA_OCI_LAYER, "digest": digest_of(&t), "size": t.len()}));
    }
    let cfg = serde_json::to_vec(&serde_json::json!({"architecture":"amd64","os":"linux","config":{},
        "rootfs":{"type":"layers","diff_ids":diff_ids}}))
    .unwrap();
    store.write_blob(None, &cfg).unwrap();
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"mediaType":oci::MEDIA_OCI_MANIFEST,
        "config":{"mediaType":oci::MEDIA_OCI_CONFIG,"digest":digest_of(&cfg),"size":cfg.len()},"layers":descs}))
    .unwrap();
    let md = store.write_blob(None, &m).unwrap();
    store.tag(name, &md).unwrap();
    name.to_string()
}

fn mounted(p: &Path) -> bool {
    runtime::image::snapshot::is_mountpoint(p)
}

#[test]
fn overlay_rootfs_with_whiteouts_and_shared_layers() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path()).unwrap();
    let base = vec![("etc/motd".to_string(), b"base".to_vec()), ("var/cache/a".to_string(), b"a".to_vec())];
    let top = vec![
        ("etc/.wh.motd".to_string(), Vec::new()),
        ("var/cache/.wh..wh..opq".to_string(), Vec::new()),
        ("var/cache/b".to_string(), b"b".to_vec()),
    ];
    let a = put_image(&store, "docker.io/library/a:latest", &[base.clone(), top]);
    let b = put_image(&store, "docker.io/library/b:latest", &[base]);
    let ia = store.get(&a).unwrap();
    let ib = store.get(&b).unwrap();
    let merged = store.prepare_rootfs("c1", &ia).unwrap();
    let merged_b = store.prepare_rootfs("c2", &ib).unwrap();
    let result = std::panic::catch_unwind(|| {
        assert!(!merged.join("etc/motd").exists(), "whiteout hides the lower file");
        assert!(!merged.join("var/cache/a").exists(), "opaque dir hides lower entries");
        assert_eq!(fs::read(merged.join("var/cache/b")).unwrap(), b"b");
        assert_eq!(fs::read(merged_b.join("etc/motd")).unwrap(), b"base");
        // Writes go to the container's upper dir, not the shared snapshot.
        fs::write(merged_b.join("etc/motd"), b"changed").unwrap();
        let snaps = fs::read_dir(store.snapshots_dir()).unwrap().count();
        assert_eq!(snaps, 2, "the shared base layer is unpacked once");
        let lower = store.ensure_unpacked(&ib).unwrap();
        assert_eq!(fs::read(lower[0].join("etc/motd")).unwrap(), b"base");
        // rm of an image in use is refused; the snapshots stay.
        assert!(store.remove("b").is_err());
    });
    store.remove_rootfs("c1").unwrap();
    store.remove_rootfs("c2").unwrap();
    assert!(!mounted(&merged) && !merged.exists());
    result.unwrap();
    store.remove("a").unwrap();
    store.remove("b").unwrap();
    assert_eq!(fs::read_dir(store.snapshots_dir()).unwrap().count(), 0);
}

#[test]
fn overlay_with_many_layers_exceeding_mount_page() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A long data dir makes the absolute lowerdir list exceed one page well before 100 layers.
    let deep = tmp.path().join("a-rather-long-directory-name-to-push-the-mount-options-over-the-page-limit");
    let store = ImageStore::open(&deep).unwrap();
    let layers: Vec<Vec<(String, Vec<u8>)>> = (0..100)
        .map(|i| vec![(format!("layer{i}"), format!("{i}").into_bytes()), ("top".into(), format!("{i}").into_bytes())])
        .collect();
    let name = put_image(&store, "docker.io/library/many:latest", &layers);
    let img = store.get(&name).unwrap();
    let merged = store.prepare_rootfs("many", &img).unwrap();
    let result = std::panic::catch_unwind(|| {
        assert_eq!(fs::read(merged.join("layer0")).unwrap(), b"0");
        assert_eq!(fs::read(merged.join("layer99")).unwrap(), b"99");
        assert_eq!(fs::read(merged.join("top")).unwrap(), b"99", "the last layer is on top");
    });
    store.remove_rootfs("many").unwrap();
    assert!(!mounted(&merged));
    result.unwrap();
}
