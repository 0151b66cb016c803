//! Deterministic OCI image archives from a root filesystem directory: what
//! `scripts/build-images.sh` uses (through `peapod image build-local`) to make the quick-start
//! images from Debian packages without a network. Same input tree, same bytes out: entries are
//! sorted, times are zero, ownership and modes are taken from the tree as they are.
//!
//! It writes a single-layer image (gzip) as an OCI layout tarball, named by both the
//! `io.containerd.image.name` and `org.opencontainers.image.ref.name` annotations.

use super::digest::digest_of;
use super::oci;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What goes into the image config, read from `images/<name>.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildSpec {
    /// Full reference, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    #[serde(default)]
    pub stop_signal: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid image name {0:?}: {1}")]
    Name(String, super::reference::ReferenceError),
    #[error("encoding json: {0}")]
    Json(#[from] serde_json::Error),
}

fn ioe(context: impl Into<String>) -> impl FnOnce(io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

/// Writes a tar of `rootfs` (deterministic) into a Vec.
pub fn layer_tar(rootfs: &Path) -> Result<Vec<u8>, BuildError> {
    let mut b = tar::Builder::new(Vec::new());
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    walk(rootfs, rootfs, &mut b, &mut inodes)?;
    b.into_inner().map_err(ioe("finishing tar"))
}

fn walk(
    root: &Path,
    dir: &Path,
    b: &mut tar::Builder<Vec<u8>>,
    inodes: &mut HashMap<(u64, u64), String>,
) -> Result<(), BuildError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(ioe(format!("listing {}", dir.display())))?
        .collect::<Result<_, _>>()
        .map_err(ioe("listing"))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = path.strip_prefix(root).map_err(|e| ioe("relative path")(io::Error::other(e)))?;
        let m = fs::symlink_metadata(&path).map_err(ioe(format!("stat {}", path.display())))?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(m.uid().into());
        h.set_gid(m.gid().into());
        h.set_mtime(0);
        h.set_size(0);
        let ft = m.file_type();
        let rel_s = rel.to_string_lossy().into_owned();
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, format!("{rel_s}/"), io::empty()).map_err(ioe(format!("adding {rel_s}")))?;
            walk(root, &path, b, inodes)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(ioe(format!("readlink {}", path.display())))?;
            h.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut h, rel, &target).map_err(ioe(format!("adding {rel_s}")))?;
        } else if ft.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = inodes.get(&(m.dev(), m.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    b.append_link(&mut h, rel, first).map_err(ioe(format!("adding {rel_s}")))?;
                    continue;
                }
                inodes.insert((m.dev(), m.ino()), rel_s.clone());
            }
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(m.len());
            let f = fs::File::open(&path).map_err(ioe(format!("opening {}", path.display())))?;
            b.append_data(&mut h, rel, f).map_err(ioe(format!("adding {rel_s}")))?;
        }
        // Sockets and devices are not part of an image built this way.
    }
    Ok(())
}

/// Builds the OCI layout tarball of `rootfs` + `spec` into `out` (atomically).
pub fn build_oci_archive(rootfs: &Path, spec: &BuildSpec, out: &Path) -> Result<(), BuildError> {
    let r = super::reference::Reference::parse_normalized(&spec.name)
        .map_err(|e| BuildError::Name(spec.name.clone(), e))?;
    let full = r.to_string();
    let tar = layer_tar(rootfs)?;
    let diff_id = digest_of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).map_err(ioe("gzip"))?;
    let layer = gz.finish().map_err(ioe("gzip"))?;
    let mut cfg = serde_json::json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": oci::PLATFORM_ARCH,
        "os": oci::PLATFORM_OS,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "peapod image build-local"}],
    });
    {
        let c = &mut cfg["config"];
        if !spec.env.is_empty() {
            c["Env"] = serde_json::json!(spec.env);
        }
        if let Some(e) = &spec.entrypoint {
            c["Entrypoint"] = serde_json::json!(e);
        }
        if let Some(cmd) = &spec.cmd {
            c["Cmd"] = serde_json::json!(cmd);
        }
        if let Some(w) = &spec.working_dir {
            c["WorkingDir"] = serde_json::json!(w);
        }
        if let Some(s) = &spec.stop_signal {
            c["StopSignal"] = serde_json::json!(s);
        }
        if !spec.exposed_ports.is_empty() {
            let ports: serde_json::Map<String, serde_json::Value> =
                spec.exposed_ports.iter().map(|p| (p.clone(), serde_json::json!({}))).collect();
            c["ExposedPorts"] = serde_json::Value::Object(ports);
        }
    }
    let cfg = serde_json::to_vec(&cfg)?;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci::MEDIA_OCI_MANIFEST,
        "config": {"mediaType": oci::MEDIA_OCI_CONFIG, "digest": digest_of(&cfg), "size": cfg.len()},
        "layers": [{"mediaType": oci::MEDIA_OCI_LAYER_GZIP, "digest": digest_of(&layer), "size": layer.len()}],
    }))?;
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci::MEDIA_OCI_INDEX,
        "manifests": [{
            "mediaType": oci::MEDIA_OCI_MANIFEST, "digest": digest_of(&manifest), "size": manifest.len(),
            "platform": {"architecture": oci::PLATFORM_ARCH, "os": oci::PLATFORM_OS},
            "annotations": {
                oci::ANNOTATION_CONTAINERD_NAME: full,
                oci::ANNOTATION_REF_NAME: r.tag.clone().unwrap_or_else(|| "latest".into()),
            },
        }],
    }))?;
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| -> Result<(), BuildError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).map_err(ioe(format!("adding {path}")))
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add("index.json", &index)?;
    for blob in [&layer, &cfg, &manifest] {
        add(&format!("blobs/sha256/{}", &digest_of(blob)[7..]), blob)?;
    }
    let bytes = b.into_inner().map_err(ioe("finishing archive"))?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(ioe(format!("creating {}", parent.display())))?;
    let tmp = parent.join(format!(".{}.tmp", out.file_name().and_then(|n| n.to_str()).unwrap_or("image")));
    fs::write(&tmp, &bytes).map_err(ioe(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, out).map_err(ioe(format!("renaming to {}", out.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageStore;

    #[test]
    fn deterministic_and_importable() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("rootfs");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("bin/busybox"), b"ELF").unwrap();
        std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
        fs::hard_link(root.join("bin/busybox"), root.join("bin/ls")).unwrap();
        let spec = BuildSpec {
            name: "busybox".into(),
            env: vec!["PATH=/bin".into()],
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        build_oci_archive(&root, &spec, &d.path().join("a.tar")).unwrap();
        build_oci_archive(&root, &spec, &d.path().join("b.tar")).unwrap();
        let a = fs::read(d.path().join("a.tar")).unwrap();
        assert_eq!(a, fs::read(d.path().join("b.tar")).unwrap());

        let s = ImageStore::open(&d.path().join("data")).unwrap();
        let imgs = s.import_reader(&a[..]).unwrap();
        assert_eq!(imgs[0].name, "docker.io/library/busybox:latest");
        let cfg = s.config(&imgs[0]).unwrap();
        assert_eq!(cfg.config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(cfg.config.env, Some(vec!["PATH=/bin".to_string()]));
        let snaps = s.ensure_unpacked(&imgs[0]).unwrap();
        let l = &snaps[0];
        assert_eq!(fs::read_link(l.join("bin/sh")).unwrap(), Path::new("busybox"));
        assert_eq!(fs::metadata(l.join("bin/ls")).unwrap().ino(), fs::metadata(l.join("bin/busybox")).unwrap().ino());
    }
}
