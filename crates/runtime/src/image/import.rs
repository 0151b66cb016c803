//! Import of image tarballs: `docker save` archives (the legacy layout with `manifest.json`
//! and `<id>/layer.tar`, and Docker 25+'s OCI-based one) and OCI image layouts (`oci-layout`,
//! `index.json`, `blobs/sha256/…`), plain or gzip/zstd-compressed, read in one streaming pass.
//!
//! Every `blobs/sha256/<hex>` entry is verified against its name while it is written; legacy
//! layers are hashed on the way in. Names are normalised like a pull's (`busybox:latest` →
//! `docker.io/library/busybox:latest`) and only written once all content is stored.

use super::digest::{self, sha256_hex};
use super::oci::{self, Descriptor, DockerArchiveEntry, Index, Manifest};
use super::reference::Reference;
use super::store::{ImageRecord, ImageStore, StoreError};
use super::unpack::{Compression, decompress};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Largest metadata file (manifest.json, index.json, configs) read into memory.
const MAX_METADATA: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading archive: {0}")]
    Read(#[source] io::Error),
    #[error("not an image archive: neither index.json (OCI layout) nor manifest.json (docker save) found")]
    UnknownFormat,
    #[error("archive entry {0:?} is missing")]
    Missing(String),
    #[error("invalid {what}: {source}")]
    Invalid {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid image name {name:?}: {source}")]
    Name {
        name: String,
        #[source]
        source: super::reference::ReferenceError,
    },
    #[error("archive has no image names (no RepoTags or io.containerd.image.name / ref.name annotations)")]
    NoNames,
}

/// Normalises an entry path: no leading `./`, no `..` (those are simply never matched).
fn entry_key(p: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Joins a link target to the directory of the link (`a/layer.tar -> ../b/layer.tar`).
fn join_link(link_path: &str, target: &Path) -> Option<String> {
    let mut parts: Vec<String> = link_path.split('/').map(String::from).collect();
    parts.pop();
    for c in target.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

#[derive(Default)]
struct Scanned {
    /// Metadata files by path.
    small: HashMap<String, Vec<u8>>,
    /// Other files, stored as blobs: path → digest.
    blobs: HashMap<String, String>,
    /// Symlinks and hard links: path → target path.
    links: HashMap<String, String>,
}

impl Scanned {
    fn resolve(&self, path: &str) -> String {
        let mut p = path.to_string();
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        p
    }
    fn small(&self, path: &str) -> Option<&Vec<u8>> {
        self.small.get(&self.resolve(path))
    }
    /// Digest of a stored file (a layer), by archive path.
    fn blob(&self, path: &str) -> Option<String> {
        let p = self.resolve(path);
        if let Some(hex) = p.strip_prefix("blobs/sha256/") {
            return Some(format!("sha256:{hex}"));
        }
        self.blobs.get(&p).cloned()
    }
}

impl ImageStore {
    /// Imports one tarball file; returns the images it named.
    pub fn import_file(&self, path: &Path) -> Result<Vec<ImageRecord>, ImportError> {
        let f = File::open(path).map_err(ImportError::Read)?;
        self.import_reader(f)
    }

    /// Imports an image archive from a stream.
    pub fn import_reader(&self, r: impl Read) -> Result<Vec<ImageRecord>, ImportError> {
        let _content = self.content_lock()?;
        let scanned = self.scan(r)?;
        let mut named: Vec<(String, String)> = Vec::new();
        if let Some(idx) = scanned.small("index.json") {
            let index: Index = serde_json::from_slice(idx)
                .map_err(|source| ImportError::Invalid { what: "index.json".into(), source })?;
            // Docker 25+ archives carry RepoTags in manifest.json too, in the same order.
            let repo_tags: Vec<Vec<String>> = scanned
                .small("manifest.json")
                .and_then(|b| serde_json::from_slice::<Vec<DockerArchiveEntry>>(b).ok())
                .map(|v| v.into_iter().map(|e| e.repo_tags.unwrap_or_default()).collect())
                .unwrap_or_default();
            for (i, d) in index.manifests.iter().enumerate() {
                if !self.has_blob(&d.digest) {
                    return Err(ImportError::Missing(format!("blobs/{}", d.digest.replace(':', "/"))));
                }
                let mut names = descriptor_names(d);
                if names.is_empty() {
                    names = repo_tags.get(i).cloned().unwrap_or_default();
                }
                for n in names {
                    named.push((normalize(&n)?, d.digest.clone()));
                }
            }
        } else if let Some(m) = scanned.small("manifest.json") {
            let entries: Vec<DockerArchiveEntry> = serde_json::from_slice(m)
                .map_err(|source| ImportError::Invalid { what: "manifest.json".into(), source })?;
            for e in entries {
                let target = self.legacy_manifest(&scanned, &e)?;
                for n in e.repo_tags.unwrap_or_default() {
                    named.push((normalize(&n)?, target.clone()));
                }
            }
        } else {
            return Err(ImportError::UnknownFormat);
        }
        if named.is_empty() {
            return Err(ImportError::NoNames);
        }
        let mut out = Vec::new();
        for (name, target) in named {
            out.push(self.tag(&name, &target)?);
        }
        Ok(out)
    }

    /// One pass over the archive: blobs into the store, metadata into memory.
    fn scan(&self, r: impl Read) -> Result<Scanned, ImportError> {
        let (_, plain) = decompress(r).map_err(ImportError::Read)?;
        let mut archive = tar::Archive::new(plain);
        let mut s = Scanned::default();
        for entry in archive.entries().map_err(ImportError::Read)? {
            let mut entry = entry.map_err(ImportError::Read)?;
            let path = entry.path().map_err(ImportError::Read)?.into_owned();
            let Some(key) = entry_key(&path) else { continue };
            match entry.header().entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Some(t) = entry.link_name().map_err(ImportError::Read)? {
                        let joined = if entry.header().entry_type() == tar::EntryType::Link {
                            entry_key(&t)
                        } else {
                            join_link(&key, &t)
                        };
                        if let Some(j) = joined {
                            s.links.insert(key, j);
                        }
                    }
                    continue;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {}
                _ => continue,
            }
            let size = entry.header().size().map_err(ImportError::Read)?;
            if let Some(hex) = key.strip_prefix("blobs/sha256/") {
                let expected = format!("sha256:{hex}");
                if sha256_hex(&expected).is_none() {
                    continue;
                }
                if self.has_blob(&expected) {
                    // Already stored (a shared layer): skip without rewriting. Keep small ones
                    // readable for the metadata parse below.
                } else {
                    self.write_blob_from(Some(&expected), &mut entry)?;
                }
                continue;
            }
            let base = key.rsplit('/').next().unwrap_or("");
            let is_meta = key.ends_with(".json") || key == "oci-layout" || key == "repositories";
            if is_meta && size <= MAX_METADATA {
                let mut v = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut v).map_err(ImportError::Read)?;
                s.small.insert(key, v);
            } else if base == "json" || base == "VERSION" {
                // Legacy per-layer metadata, unused.
            } else {
                let (d, _) = self.write_blob_from(None, &mut entry)?;
                s.blobs.insert(key, d);
            }
        }
        Ok(s)
    }

    /// Builds (and stores) a Docker schema 2 manifest for a legacy `docker save` entry.
    fn legacy_manifest(&self, s: &Scanned, e: &DockerArchiveEntry) -> Result<String, ImportError> {
        let config = match s.small(&e.config) {
            Some(b) => b.clone(),
            None => match s.blob(&e.config) {
                Some(d) => self.read_blob(&d)?,
                None => return Err(ImportError::Missing(e.config.clone())),
            },
        };
        let config_digest = self.write_blob(None, &config)?;
        let mut layers = Vec::with_capacity(e.layers.len());
        for l in &e.layers {
            let d = s.blob(l).ok_or_else(|| ImportError::Missing(l.clone()))?;
            let size = self.blob_size(&d)?;
            let mut head = [0u8; 4];
            let n = self.open_blob(&d)?.read(&mut head).map_err(ImportError::Read)?;
            let media = match decompress(&head[..n]).map(|(c, _)| c) {
                Ok(Compression::Gzip) => oci::MEDIA_DOCKER_LAYER_GZIP,
                Ok(Compression::Zstd) => oci::MEDIA_OCI_LAYER_ZSTD,
                _ => oci::MEDIA_DOCKER_LAYER,
            };
            layers.push(Descriptor {
                media_type: media.to_string(),
                digest: d,
                size,
                platform: None,
                annotations: BTreeMap::new(),
            });
        }
        let m = Manifest {
            schema_version: 2,
            media_type: Some(oci::MEDIA_DOCKER_MANIFEST.to_string()),
            config: Descriptor {
                media_type: oci::MEDIA_DOCKER_CONFIG.to_string(),
                digest: config_digest,
                size: config.len() as u64,
                platform: None,
                annotations: BTreeMap::new(),
            },
            layers,
            annotations: BTreeMap::new(),
        };
        let body = serde_json::to_vec(&m).map_err(|source| ImportError::Invalid { what: "manifest".into(), source })?;
        Ok(self.write_blob(Some(&digest::digest_of(&body)), &body)?)
    }

    /// Imports every `*.tar`, `*.tar.gz`, `*.tgz`, `*.tar.zst` in `import/` (the k3s air-gap
    /// convention), in name order. The agent calls this at start-up; one bad file does not stop
    /// the others.
    pub fn import_startup_dir(&self) -> Vec<(PathBuf, Result<Vec<ImageRecord>, ImportError>)> {
        let mut files: Vec<PathBuf> = match fs::read_dir(self.import_dir()) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    p.is_file() && [".tar", ".tar.gz", ".tgz", ".tar.zst"].iter().any(|s| n.ends_with(s))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let r = self.import_file(&p);
                match &r {
                    Ok(imgs) => tracing::info!(file = %p.display(), images = imgs.len(), "imported image archive"),
                    Err(e) => tracing::warn!(file = %p.display(), error = %e, "image archive import failed"),
                }
                (p, r)
            })
            .collect()
    }
}

/// Names an index descriptor carries: containerd's full-name annotation, or an OCI ref.name
/// that is a full reference (a bare tag such as `latest` names nothing by itself).
fn descriptor_names(d: &Descriptor) -> Vec<String> {
    if let Some(n) = d.annotations.get(oci::ANNOTATION_CONTAINERD_NAME) {
        return vec![n.clone()];
    }
    match d.annotations.get(oci::ANNOTATION_REF_NAME) {
        Some(n) if n.contains('/') || n.contains(':') => vec![n.clone()],
        _ => Vec::new(),
    }
}

fn normalize(name: &str) -> Result<String, ImportError> {
    Reference::parse_normalized(name)
        .map(|r| r.to_string())
        .map_err(|source| ImportError::Name { name: name.to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    }

    fn layer_tar(file: &str, data: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, file, data);
        b.into_inner().unwrap()
    }

    fn config_for(layers: &[&[u8]]) -> Vec<u8> {
        let ids: Vec<String> = layers.iter().map(|l| digest::digest_of(l)).collect();
        serde_json::to_vec(&serde_json::json!({"architecture":"amd64","os":"linux",
            "config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":ids}}))
        .unwrap()
    }

    fn store() -> (tempfile::TempDir, ImageStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ImageStore::open(d.path()).unwrap();
        (d, s)
    }

    /// A `docker save` archive in the legacy layout, with a symlinked (deduplicated) layer.
    fn docker_archive() -> (Vec<u8>, Vec<u8>) {
        let l1 = layer_tar("bin/sh", b"sh");
        let cfg = config_for(&[&l1, &l1]);
        let cfg_name = format!("{}.json", &digest::digest_of(&cfg)[7..]);
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, &cfg_name, &cfg);
        add(&mut b, "aaa/layer.tar", &l1);
        add(&mut b, "aaa/json", b"{}");
        add(&mut b, "aaa/VERSION", b"1.0");
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "bbb/layer.tar", "../aaa/layer.tar").unwrap();
        let manifest = serde_json::json!([{"Config":cfg_name,"RepoTags":["busybox:latest","localhost:5000/bb:v1"],
            "Layers":["aaa/layer.tar","bbb/layer.tar"]}]);
        add(&mut b, "manifest.json", &serde_json::to_vec(&manifest).unwrap());
        (b.into_inner().unwrap(), cfg)
    }

    #[test]
    fn imports_docker_save_archive() {
        let (_d, s) = store();
        let (tar, cfg) = docker_archive();
        let imgs = s.import_reader(&tar[..]).unwrap();
        let names: Vec<&str> = imgs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["docker.io/library/busybox:latest", "localhost:5000/bb:v1"]);
        let img = s.get("busybox").unwrap();
        assert_eq!(img.config, digest::digest_of(&cfg), "image ID is the config digest, as docker shows");
        assert_eq!(img.layers.len(), 2);
        assert_eq!(img.layers[0].digest, img.layers[1].digest);
        assert_eq!(img.layers[0].media_type, oci::MEDIA_DOCKER_LAYER);
        // Re-importing is idempotent.
        s.import_reader(&tar[..]).unwrap();
        assert_eq!(s.list().unwrap().len(), 2);
        // gzip-compressed archive too.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let (_d2, s2) = store();
        assert_eq!(s2.import_reader(&gz.finish().unwrap()[..]).unwrap().len(), 2);
    }

    /// An OCI layout with a multi-arch index, named by the containerd annotation.
    pub(crate) fn oci_archive(name: &str, corrupt: bool) -> Vec<u8> {
        let l1 = layer_tar("etc/hostname", b"x");
        let cfg = config_for(&[&l1]);
        let m = serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"mediaType":oci::MEDIA_OCI_MANIFEST,
            "config":{"mediaType":oci::MEDIA_OCI_CONFIG,"digest":digest::digest_of(&cfg),"size":cfg.len()},
            "layers":[{"mediaType":oci::MEDIA_OCI_LAYER,"digest":digest::digest_of(&l1),"size":l1.len()}]}))
        .unwrap();
        let inner = serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"mediaType":oci::MEDIA_OCI_INDEX,
            "manifests":[
              {"mediaType":oci::MEDIA_OCI_MANIFEST,"digest":digest::digest_of(b"arm"),"size":3,
               "platform":{"os":"linux","architecture":"arm64"}},
              {"mediaType":oci::MEDIA_OCI_MANIFEST,"digest":digest::digest_of(&m),"size":m.len(),
               "platform":{"os":"linux","architecture":"amd64"}}]}))
        .unwrap();
        let index = serde_json::to_vec(&serde_json::json!({"schemaVersion":2,"manifests":[
            {"mediaType":oci::MEDIA_OCI_INDEX,"digest":digest::digest_of(&inner),"size":inner.len(),
             "annotations":{"io.containerd.image.name":name,"org.opencontainers.image.ref.name":"latest"}}]}))
        .unwrap();
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        add(&mut b, "index.json", &index);
        for blob in [&l1, &cfg, &m, &inner] {
            let d = digest::digest_of(blob);
            let data: &[u8] = if corrupt && blob == &l1 { b"tampered" } else { blob };
            add(&mut b, &format!("blobs/sha256/{}", &d[7..]), data);
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn imports_oci_layout_with_index() {
        let (_d, s) = store();
        let imgs = s.import_reader(&oci_archive("nginx", false)[..]).unwrap();
        assert_eq!(imgs.len(), 1);
        let img = s.get("docker.io/library/nginx:latest").unwrap();
        assert_ne!(img.target, img.manifest, "name points at the index, platform manifest resolved");
        assert_eq!(img.layers.len(), 1);
    }

    #[test]
    fn tampered_blob_refused_and_nothing_named() {
        let (_d, s) = store();
        let err = s.import_reader(&oci_archive("nginx", true)[..]).unwrap_err();
        assert!(matches!(err, ImportError::Store(StoreError::DigestMismatch { .. })), "{err}");
        assert!(s.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn rejects_unknown_and_unnamed() {
        let (_d, s) = store();
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, "hello.txt", b"hi");
        assert!(matches!(s.import_reader(&b.into_inner().unwrap()[..]), Err(ImportError::UnknownFormat)));
        let mut b = tar::Builder::new(Vec::new());
        add(&mut b, "index.json", br#"{"schemaVersion":2,"manifests":[]}"#);
        assert!(matches!(s.import_reader(&b.into_inner().unwrap()[..]), Err(ImportError::NoNames)));
        assert!(s.import_reader(&b"garbage"[..]).is_err());
    }

    #[test]
    fn startup_dir_imports_each_file() {
        let (_d, s) = store();
        fs::write(s.import_dir().join("a.tar"), oci_archive("busybox", false)).unwrap();
        fs::write(s.import_dir().join("b.tar"), b"not a tar").unwrap();
        fs::write(s.import_dir().join("notes.txt"), b"ignored").unwrap();
        let res = s.import_startup_dir();
        assert_eq!(res.len(), 2);
        assert!(res[0].1.is_ok());
        assert!(res[1].1.is_err());
        assert!(s.get("busybox").is_ok());
    }
}
