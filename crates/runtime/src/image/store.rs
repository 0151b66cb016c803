//! The content-addressed image store under `DATA_DIR/agent/images`.
//!
//! Layout (every file appears by an atomic rename, after fsync, so a crash at any point leaves
//! either the old state or the new one, plus garbage in `tmp/` that the next sweep removes):
//!
//! ```text
//! blobs/sha256/<hex>        manifests, indexes, configs and compressed layers, byte for byte
//! snapshots/<diff-id hex>/  one unpacked layer each (shared by every image that has it)
//! containers/<id>/          per-container overlay: layers.json, upper/, work/, merged/
//! names.json                name index: full reference → ImageRecord (manifest digest, layers…)
//! import/                   tarballs imported when the agent starts (the k3s air-gap rule)
//! tmp/                      ingests and unpacks in progress
//! gc.lock, names.lock       flock(2) files
//! ```
//!
//! Reference counts are derived, never stored: a blob or snapshot is live while a name in
//! `names.json` or a container's `layers.json` reaches it. Writers of content hold `gc.lock`
//! shared; the sweep holds it exclusively, so it never deletes content an import or pull is
//! about to name. This module does no network IO and no unpacking.

use super::digest::{self, Hasher, sha256_hex};
use super::oci::{self, Descriptor, ImageConfig, Index, Manifest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch { digest: String, expected: u64, actual: u64 },
    #[error("invalid digest {0:?} (only sha256:<64 lowercase hex> is accepted)")]
    InvalidDigest(String),
    #[error("blob {0} not found in the store")]
    BlobNotFound(String),
    #[error("image {0:?} not found")]
    ImageNotFound(String),
    #[error("invalid document {what}: {source}")]
    InvalidDocument {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("image {0} has no manifest for {plat}", plat = format!("{}/{}", oci::PLATFORM_OS, oci::PLATFORM_ARCH))]
    NoMatchingPlatform(String),
    #[error("image config {config} has {diff_ids} diff IDs but the manifest has {layers} layers")]
    LayerCountMismatch { config: String, diff_ids: usize, layers: usize },
    #[error("image {name:?} is in use by container(s) {containers:?}")]
    InUse { name: String, containers: Vec<String> },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Wraps an io::Error with what was being done.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// A layer of a resolved image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the blob as stored (compressed).
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: String,
}

/// One named image: what `names.json` maps a full reference to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Full normalised reference, `docker.io/library/busybox:latest` (or `name@digest`).
    pub name: String,
    /// Digest the name points to: a manifest or an index (what a registry calls the image digest).
    pub target: String,
    /// The platform manifest actually used (equal to `target` unless it is an index).
    pub manifest: String,
    /// The config digest: the image ID `crictl images` shows.
    pub config: String,
    pub layers: Vec<LayerRecord>,
    /// Sum of the manifest's config and layer sizes (compressed), as containerd reports.
    pub size: u64,
    /// Unix seconds when the name was (re)written.
    pub created: u64,
    /// Unix seconds when a container last used the image (for image GC, oldest first).
    pub last_used: u64,
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique name for a temporary file or directory (pid, time and a counter).
pub(crate) fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), TMP_COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// fsyncs a directory so a rename inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An flock(2) held until dropped.
pub struct StoreLock {
    _lock: nix::fcntl::Flock<File>,
}

/// The store. Cheap to clone; all state is on disk.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    /// Opens (creating if needed) the store of a data dir: `DATA_DIR/agent/images`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        Self::open_at(data_dir.join("agent").join("images"))
    }

    /// Opens a store rooted exactly at `root`.
    pub fn open_at(root: PathBuf) -> Result<Self> {
        for sub in ["blobs/sha256", "snapshots", "containers", "import", "tmp"] {
            let d = root.join(sub);
            fs::create_dir_all(&d).map_err(io_err(format!("creating {}", d.display())))?;
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn import_dir(&self) -> PathBuf {
        self.root.join("import")
    }
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    fn lock(&self, file: &str, exclusive: bool) -> Result<StoreLock> {
        let path = self.root.join(file);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        let arg = if exclusive { nix::fcntl::FlockArg::LockExclusive } else { nix::fcntl::FlockArg::LockShared };
        let lock = nix::fcntl::Flock::lock(f, arg)
            .map_err(|(_, e)| StoreError::Io { context: format!("locking {}", path.display()), source: e.into() })?;
        Ok(StoreLock { _lock: lock })
    }

    /// Held (shared) by anything that writes content it will name later; the sweep takes it
    /// exclusively.
    pub fn content_lock(&self) -> Result<StoreLock> {
        self.lock("gc.lock", false)
    }
    pub(crate) fn sweep_lock(&self) -> Result<StoreLock> {
        self.lock("gc.lock", true)
    }

    /// Path of a blob (whether or not it exists). Rejects anything but a sha256 digest, so a
    /// digest from a manifest can never name a path outside `blobs/`.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = sha256_hex(digest).ok_or_else(|| StoreError::InvalidDigest(digest.to_string()))?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.exists())
    }

    pub fn blob_size(&self, digest: &str) -> Result<u64> {
        let p = self.blob_path(digest)?;
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::BlobNotFound(digest.to_string())),
            Err(e) => Err(io_err(format!("stat {}", p.display()))(e)),
        }
    }

    pub fn open_blob(&self, digest: &str) -> Result<File> {
        let p = self.blob_path(digest)?;
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound(digest.to_string()),
            _ => io_err(format!("opening {}", p.display()))(e),
        })
    }

    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.open_blob(digest)?.read_to_end(&mut v).map_err(io_err(format!("reading blob {digest}")))?;
        Ok(v)
    }

    /// Starts writing a blob; nothing is visible until [`Ingest::commit`].
    pub fn ingest(&self) -> Result<Ingest> {
        let path = self.tmp_dir().join(unique_name("ingest"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(format!("creating {}", path.display())))?;
        Ok(Ingest { store: self.clone(), path, file: Some(file), hasher: Hasher::new() })
    }

    /// Writes a blob from a reader; with `expected`, a mismatch is an error and leaves nothing.
    pub fn write_blob_from(&self, expected: Option<&str>, mut r: impl Read) -> Result<(String, u64)> {
        if let Some(d) = expected {
            self.blob_path(d)?;
        }
        let mut ing = self.ingest()?;
        io::copy(&mut r, &mut ing).map_err(io_err("writing blob"))?;
        ing.commit(expected, None)
    }

    pub fn write_blob(&self, expected: Option<&str>, bytes: &[u8]) -> Result<String> {
        if let Some(d) = expected
            && self.has_blob(d)
            && digest::digest_of(bytes) == d
        {
            return Ok(d.to_string());
        }
        Ok(self.write_blob_from(expected, bytes)?.0)
    }

    fn names_path(&self) -> PathBuf {
        self.root.join("names.json")
    }

    fn read_names(&self) -> Result<BTreeMap<String, ImageRecord>> {
        let p = self.names_path();
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|source| StoreError::InvalidDocument { what: p.display().to_string(), source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io_err(format!("reading {}", p.display()))(e)),
        }
    }

    fn write_names(&self, names: &BTreeMap<String, ImageRecord>) -> Result<()> {
        let body = serde_json::to_vec_pretty(names)
            .map_err(|source| StoreError::InvalidDocument { what: "names.json".into(), source })?;
        atomic_write(&self.tmp_dir(), &self.names_path(), &body)
    }

    /// Read-modify-write of the name index under its lock.
    pub fn update_names<T>(&self, f: impl FnOnce(&mut BTreeMap<String, ImageRecord>) -> Result<T>) -> Result<T> {
        let _l = self.lock("names.lock", true)?;
        let mut names = self.read_names()?;
        let out = f(&mut names)?;
        self.write_names(&names)?;
        Ok(out)
    }

    /// All named images, by name.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let _l = self.lock("names.lock", false)?;
        Ok(self.read_names()?.into_values().collect())
    }

    /// Looks an image up by a user's reference (normalised), by `name@digest`, by its config
    /// digest (image ID, full or a unique hex prefix of at least 12), or by manifest digest.
    pub fn get(&self, reference: &str) -> Result<ImageRecord> {
        let names = {
            let _l = self.lock("names.lock", false)?;
            self.read_names()?
        };
        find(&names, reference).cloned().ok_or_else(|| StoreError::ImageNotFound(reference.to_string()))
    }

    /// Reads and parses the config of an image.
    pub fn config(&self, image: &ImageRecord) -> Result<ImageConfig> {
        let b = self.read_blob(&image.config)?;
        serde_json::from_slice(&b).map_err(|source| StoreError::InvalidDocument { what: image.config.clone(), source })
    }

    /// Resolves a stored target (manifest or index) into the record fields for the platform,
    /// checking every referenced blob is present.
    pub fn resolve_target(&self, name: &str, target: &str) -> Result<ImageRecord> {
        let body = self.read_blob(target)?;
        let manifest_digest = if oci::is_index(None, &body) {
            let idx: Index = serde_json::from_slice(&body)
                .map_err(|source| StoreError::InvalidDocument { what: target.to_string(), source })?;
            idx.select_platform().ok_or_else(|| StoreError::NoMatchingPlatform(name.to_string()))?.digest.clone()
        } else {
            target.to_string()
        };
        let mbody = self.read_blob(&manifest_digest)?;
        let m: Manifest = serde_json::from_slice(&mbody)
            .map_err(|source| StoreError::InvalidDocument { what: manifest_digest.clone(), source })?;
        let cbody = self.read_blob(&m.config.digest)?;
        let cfg: ImageConfig = serde_json::from_slice(&cbody)
            .map_err(|source| StoreError::InvalidDocument { what: m.config.digest.clone(), source })?;
        if cfg.rootfs.diff_ids.len() != m.layers.len() {
            return Err(StoreError::LayerCountMismatch {
                config: m.config.digest.clone(),
                diff_ids: cfg.rootfs.diff_ids.len(),
                layers: m.layers.len(),
            });
        }
        let mut layers = Vec::with_capacity(m.layers.len());
        for (l, diff_id) in m.layers.iter().zip(&cfg.rootfs.diff_ids) {
            if !self.has_blob(&l.digest) {
                return Err(StoreError::BlobNotFound(l.digest.clone()));
            }
            sha256_hex(diff_id).ok_or_else(|| StoreError::InvalidDigest(diff_id.clone()))?;
            layers.push(LayerRecord {
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
                diff_id: diff_id.clone(),
            });
        }
        let size = m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>();
        let now = now_secs();
        Ok(ImageRecord {
            name: name.to_string(),
            target: target.to_string(),
            manifest: manifest_digest,
            config: m.config.digest,
            layers,
            size,
            created: now,
            last_used: now,
        })
    }

    /// Points `name` at `target` (already stored), replacing what it pointed to.
    pub fn tag(&self, name: &str, target: &str) -> Result<ImageRecord> {
        let rec = self.resolve_target(name, target)?;
        self.update_names(|names| {
            let mut rec = rec.clone();
            if let Some(old) = names.get(name) {
                rec.last_used = old.last_used.max(rec.last_used);
            }
            names.insert(name.to_string(), rec.clone());
            Ok(rec)
        })
    }

    /// Records that a container started from the image now (image GC removes oldest first).
    pub fn touch(&self, name: &str) -> Result<()> {
        self.update_names(|names| {
            if let Some(r) = names.get_mut(name) {
                r.last_used = now_secs();
            }
            Ok(())
        })
    }

    /// Removes the names a reference matches (an image ID removes every name of that image),
    /// then sweeps unreferenced content. Returns the removed names.
    pub fn remove(&self, reference: &str) -> Result<Vec<String>> {
        let in_use = self.containers_using()?;
        let removed = self.update_names(|names| {
            let rec =
                find(names, reference).cloned().ok_or_else(|| StoreError::ImageNotFound(reference.to_string()))?;
            let by_id = !names.contains_key(reference)
                && crate::image::reference::Reference::parse_normalized(reference)
                    .map_or(true, |r| r.to_string() != rec.name);
            let victims: Vec<String> = if by_id {
                names.values().filter(|r| r.config == rec.config).map(|r| r.name.clone()).collect()
            } else {
                vec![rec.name.clone()]
            };
            // The last name of an image a container uses cannot go (kubelet would not either).
            let remaining_same =
                names.values().filter(|r| r.config == rec.config && !victims.contains(&r.name)).count();
            if remaining_same == 0 {
                let users: Vec<String> =
                    in_use.iter().filter(|(_, cfg)| *cfg == rec.config).map(|(c, _)| c.clone()).collect();
                if !users.is_empty() {
                    return Err(StoreError::InUse { name: rec.name.clone(), containers: users });
                }
            }
            for v in &victims {
                names.remove(v);
            }
            Ok(victims)
        })?;
        self.sweep()?;
        Ok(removed)
    }

    /// Containers with a prepared rootfs, and the config digest of the image each uses.
    pub fn containers_using(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let dir = self.containers_dir();
        for e in fs::read_dir(&dir).map_err(io_err(format!("listing {}", dir.display())))? {
            let e = e.map_err(io_err("listing containers"))?;
            let p = e.path().join("layers.json");
            if let Ok(b) = fs::read(&p)
                && let Ok(l) = serde_json::from_slice::<ContainerLayers>(&b)
            {
                out.push((e.file_name().to_string_lossy().into_owned(), l.image_config));
            }
        }
        Ok(out)
    }

    /// Removes the `tmp/` entries of writers that no longer run (a pull or import killed
    /// midway): every temp name carries its writer's pid (see [`unique_name`]). Entries of live
    /// processes, this one included, are left alone, so this is safe while others ingest; a
    /// reused pid only delays the cleanup until the sweep. Returns how many were removed.
    pub fn remove_stale_tmp(&self) -> Result<usize> {
        let dir = self.tmp_dir();
        let mut removed = 0;
        for e in fs::read_dir(&dir).map_err(io_err(format!("listing {}", dir.display())))?.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(tmp_owner) else { continue };
            if pid == std::process::id() || pid_alive(pid) {
                continue;
            }
            remove_tree(&e.path())?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Mark and sweep: deletes blobs and snapshots no name or container reaches, and every
    /// leftover in `tmp/`. Holds the content lock exclusively.
    pub fn sweep(&self) -> Result<SweepStats> {
        let _g = self.sweep_lock()?;
        let names = {
            let _l = self.lock("names.lock", false)?;
            self.read_names()?
        };
        let mut live_blobs = HashSet::new();
        let mut live_snaps = HashSet::new();
        for r in names.values() {
            live_blobs.insert(r.target.clone());
            live_blobs.insert(r.manifest.clone());
            live_blobs.insert(r.config.clone());
            // Every manifest of an index stays with it, and their blobs if present.
            if r.target != r.manifest
                && let Ok(b) = self.read_blob(&r.target)
                && let Ok(idx) = serde_json::from_slice::<Index>(&b)
            {
                for d in idx.manifests {
                    live_blobs.insert(d.digest.clone());
                    if let Ok(mb) = self.read_blob(&d.digest)
                        && let Ok(m) = serde_json::from_slice::<Manifest>(&mb)
                    {
                        live_blobs.insert(m.config.digest);
                        live_blobs.extend(m.layers.into_iter().map(|l| l.digest));
                    }
                }
            }
            for l in &r.layers {
                live_blobs.insert(l.digest.clone());
                live_snaps.insert(l.diff_id.clone());
            }
        }
        let cdir = self.containers_dir();
        for e in fs::read_dir(&cdir).map_err(io_err("listing containers"))?.flatten() {
            if let Ok(b) = fs::read(e.path().join("layers.json"))
                && let Ok(l) = serde_json::from_slice::<ContainerLayers>(&b)
            {
                live_snaps.extend(l.diff_ids);
            }
        }
        let mut stats = SweepStats::default();
        let bdir = self.root.join("blobs/sha256");
        for e in fs::read_dir(&bdir).map_err(io_err("listing blobs"))?.flatten() {
            let d = format!("sha256:{}", e.file_name().to_string_lossy());
            if !live_blobs.contains(&d) {
                stats.bytes += e.metadata().map_or(0, |m| m.len());
                fs::remove_file(e.path()).map_err(io_err(format!("removing {}", e.path().display())))?;
                stats.blobs += 1;
            }
        }
        for e in fs::read_dir(self.snapshots_dir()).map_err(io_err("listing snapshots"))?.flatten() {
            let d = format!("sha256:{}", e.file_name().to_string_lossy());
            if !live_snaps.contains(&d) {
                remove_tree(&e.path())?;
                stats.snapshots += 1;
            }
        }
        // Under the exclusive lock nobody is ingesting: whatever is in tmp/ is a crash leftover.
        for e in fs::read_dir(self.tmp_dir()).map_err(io_err("listing tmp"))?.flatten() {
            remove_tree(&e.path())?;
        }
        Ok(stats)
    }
}

/// What a sweep deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepStats {
    pub blobs: usize,
    pub snapshots: usize,
    pub bytes: u64,
}

/// `containers/<id>/layers.json`: which snapshots a container's rootfs stands on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerLayers {
    pub image: String,
    pub image_config: String,
    pub diff_ids: Vec<String>,
}

/// The writer pid in a [`unique_name`] (`<prefix>-<pid>-<nanos>-<counter>`).
fn tmp_owner(name: &str) -> Option<u32> {
    let mut parts = name.split('-');
    let (_, pid, _, _) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process exists (signal 0); EPERM means it exists but is not ours.
fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else { return true };
    !matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None), Err(nix::errno::Errno::ESRCH))
}

/// Removes a file or a directory tree (never following symlinks); absent is fine.
pub(crate) fn remove_tree(p: &Path) -> Result<()> {
    let r = match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(io_err(format!("removing {}", p.display())))
}

fn find<'a>(names: &'a BTreeMap<String, ImageRecord>, reference: &str) -> Option<&'a ImageRecord> {
    if let Some(r) = names.get(reference) {
        return Some(r);
    }
    if let Ok(r) = crate::image::reference::Reference::parse_normalized(reference) {
        if let Some(rec) = names.get(&r.to_string()) {
            return Some(rec);
        }
        if let Some(d) = &r.digest {
            // `name@digest` (or `name:tag@digest`) matches any name of that repository at that digest.
            if let Some(rec) = names.values().find(|x| {
                (&x.target == d || &x.manifest == d)
                    && crate::image::reference::Reference::parse_normalized(&x.name).is_ok_and(|n| n.name() == r.name())
            }) {
                return Some(rec);
            }
        }
    }
    // Image ID or manifest digest, full or by unique prefix (like `crictl rmi 3f57d9401f8d`).
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    if hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hits: Vec<&ImageRecord> = names
            .values()
            .filter(|x| {
                x.config.strip_prefix("sha256:").is_some_and(|c| c.starts_with(hex))
                    || x.target.strip_prefix("sha256:").is_some_and(|c| c.starts_with(hex))
            })
            .collect();
        let first = hits.first()?;
        if hits.iter().all(|h| h.config == first.config) {
            return Some(first);
        }
    }
    None
}

/// Writes a file atomically: temp in `tmp_dir` (same filesystem), fsync, rename, fsync dir.
pub fn atomic_write(tmp_dir: &Path, dest: &Path, body: &[u8]) -> Result<()> {
    let tmp = tmp_dir.join(unique_name("write"));
    let res = (|| -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        fs::rename(&tmp, dest)?;
        if let Some(parent) = dest.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(io_err(format!("writing {}", dest.display())))
}

/// A blob being written. Dropped without commit, its temp file is removed.
pub struct Ingest {
    store: ImageStore,
    path: PathBuf,
    file: Option<File>,
    hasher: Hasher,
}

impl Ingest {
    pub fn written(&self) -> u64 {
        self.hasher.len()
    }

    /// Verifies digest (and size, when given), fsyncs and renames into `blobs/`. Returns the
    /// digest and size. On any error nothing is left behind.
    pub fn commit(mut self, expected: Option<&str>, expected_size: Option<u64>) -> Result<(String, u64)> {
        let file = self.file.take();
        let hasher = std::mem::take(&mut self.hasher);
        let size = hasher.len();
        let actual = hasher.finish();
        if let Some(e) = expected
            && e != actual
        {
            return Err(StoreError::DigestMismatch { expected: e.to_string(), actual });
        }
        if let Some(es) = expected_size
            && es != size
        {
            return Err(StoreError::SizeMismatch { digest: actual, expected: es, actual: size });
        }
        let dest = self.store.blob_path(&actual)?;
        if dest.exists() {
            return Ok((actual, size));
        }
        if let Some(f) = file {
            f.sync_all().map_err(io_err("fsync blob"))?;
        }
        fs::rename(&self.path, &dest).map_err(io_err(format!("renaming into {}", dest.display())))?;
        if let Some(parent) = dest.parent() {
            sync_dir(parent).map_err(io_err("fsync blobs dir"))?;
        }
        Ok((actual, size))
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self.file.as_mut().ok_or_else(|| io::Error::other("ingest already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        // After a successful rename the path no longer exists; removing is a no-op then.
        let _ = fs::remove_file(&self.path);
    }
}

/// Convenience for tests and builders: a descriptor of bytes.
pub fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: digest::digest_of(bytes),
        size: bytes.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_store() -> (tempfile::TempDir, ImageStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ImageStore::open(d.path()).unwrap();
        (d, s)
    }

    fn count(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn blob_verified_and_atomic() {
        let (_d, s) = tmp_store();
        let good = digest::digest_of(b"hello");
        assert_eq!(s.write_blob(Some(&good), b"hello").unwrap(), good);
        assert_eq!(s.read_blob(&good).unwrap(), b"hello");
        // Writing again is idempotent.
        assert_eq!(s.write_blob(Some(&good), b"hello").unwrap(), good);

        let wrong = digest::digest_of(b"other");
        let err = s.write_blob(Some(&wrong), b"hello").unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert!(!s.has_blob(&wrong));
        assert_eq!(count(&s.tmp_dir()), 0, "no partial file left");
        assert_eq!(count(&s.root().join("blobs/sha256")), 1);

        // A size mismatch is also refused.
        let mut ing = s.ingest().unwrap();
        ing.write_all(b"abc").unwrap();
        assert!(matches!(ing.commit(None, Some(4)), Err(StoreError::SizeMismatch { .. })));
        assert_eq!(count(&s.tmp_dir()), 0);
        // Digests that are not sha256 hex never become paths.
        assert!(matches!(s.blob_path("sha256:../../x"), Err(StoreError::InvalidDigest(_))));
    }

    #[test]
    fn dropped_ingest_leaves_nothing() {
        let (_d, s) = tmp_store();
        {
            let mut ing = s.ingest().unwrap();
            ing.write_all(b"partial").unwrap();
        }
        assert_eq!(count(&s.tmp_dir()), 0);
    }

    /// Builds a one-layer image in the store and returns its manifest digest.
    fn put_image(s: &ImageStore, layer: &[u8]) -> String {
        let ld = s.write_blob(None, layer).unwrap();
        let cfg = serde_json::json!({"architecture":"amd64","os":"linux","config":{},
            "rootfs":{"type":"layers","diff_ids":[ld]}});
        let cb = serde_json::to_vec(&cfg).unwrap();
        s.write_blob(None, &cb).unwrap();
        let m = Manifest {
            schema_version: 2,
            media_type: Some(oci::MEDIA_OCI_MANIFEST.into()),
            config: descriptor(oci::MEDIA_OCI_CONFIG, &cb),
            layers: vec![descriptor(oci::MEDIA_OCI_LAYER, layer)],
            annotations: BTreeMap::new(),
        };
        s.write_blob(None, &serde_json::to_vec(&m).unwrap()).unwrap()
    }

    #[test]
    fn names_lookup_and_rm_sweeps_unshared_content() {
        let (_d, s) = tmp_store();
        let m1 = put_image(&s, b"layer-one");
        let m2 = put_image(&s, b"layer-two");
        let r1 = s.tag("docker.io/library/busybox:latest", &m1).unwrap();
        s.tag("docker.io/library/busybox:1.36", &m1).unwrap();
        s.tag("docker.io/library/nginx:latest", &m2).unwrap();
        assert_eq!(s.list().unwrap().len(), 3);
        assert_eq!(s.get("busybox").unwrap().target, m1);
        assert_eq!(s.get("busybox:1.36").unwrap().config, r1.config);
        assert_eq!(s.get(&r1.config[7..19]).unwrap().config, r1.config);
        assert_eq!(s.get(&format!("busybox@{m1}")).unwrap().target, m1);
        assert!(matches!(s.get("alpine"), Err(StoreError::ImageNotFound(_))));
        assert_eq!(r1.size, r1.layers[0].size + s.blob_size(&r1.config).unwrap());

        // Removing one of two names keeps the content.
        assert_eq!(s.remove("busybox:1.36").unwrap(), vec!["docker.io/library/busybox:1.36".to_string()]);
        assert!(s.has_blob(&m1));
        s.remove("busybox").unwrap();
        assert!(!s.has_blob(&m1));
        assert!(!s.has_blob(&r1.layers[0].digest));
        assert!(s.has_blob(&m2));
        // By image ID removes every name of it.
        let n = s.get("nginx").unwrap();
        s.tag("localhost:5000/nginx:v1", &m2).unwrap();
        assert_eq!(s.remove(&n.config).unwrap().len(), 2);
        assert!(s.list().unwrap().is_empty());
        assert_eq!(count(&s.root().join("blobs/sha256")), 0);
    }

    #[test]
    fn rm_refuses_image_in_use() {
        let (_d, s) = tmp_store();
        let m = put_image(&s, b"l");
        let r = s.tag("docker.io/library/busybox:latest", &m).unwrap();
        let c = s.containers_dir().join("c1");
        fs::create_dir_all(&c).unwrap();
        let cl = ContainerLayers { image: r.name.clone(), image_config: r.config.clone(), diff_ids: vec![] };
        fs::write(c.join("layers.json"), serde_json::to_vec(&cl).unwrap()).unwrap();
        assert!(matches!(s.remove("busybox"), Err(StoreError::InUse { .. })));
        assert!(s.get("busybox").is_ok());
    }

    #[test]
    fn sweep_clears_crash_leftovers() {
        let (_d, s) = tmp_store();
        fs::write(s.tmp_dir().join("ingest-crashed"), b"x").unwrap();
        fs::create_dir(s.tmp_dir().join("unpack-crashed")).unwrap();
        s.sweep().unwrap();
        assert_eq!(count(&s.tmp_dir()), 0);
    }

    #[test]
    fn stale_tmp_of_dead_writers_only() {
        let (_d, s) = tmp_store();
        // A child that has exited: its pid is free (and not reused within this test).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        fs::write(s.tmp_dir().join(format!("ingest-{dead}-1-0")), b"partial").unwrap();
        fs::create_dir(s.tmp_dir().join(format!("unpack-{dead}-2-1"))).unwrap();
        let mut live = s.ingest().unwrap();
        live.write_all(b"in flight").unwrap();
        fs::write(s.tmp_dir().join("not-a-temp-name"), b"x").unwrap();
        assert_eq!(s.remove_stale_tmp().unwrap(), 2);
        // This process's ingest and names it does not understand stay.
        assert_eq!(count(&s.tmp_dir()), 2);
        let (d, _) = live.commit(None, None).unwrap();
        assert!(s.has_blob(&d));
    }

    #[test]
    fn missing_layer_blob_is_refused() {
        let (_d, s) = tmp_store();
        let m = put_image(&s, b"gone");
        let r = s.resolve_target("x", &m).unwrap();
        fs::remove_file(s.blob_path(&r.layers[0].digest).unwrap()).unwrap();
        assert!(matches!(s.tag("x", &m), Err(StoreError::BlobNotFound(_))));
    }
}
