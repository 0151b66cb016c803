//! Safe unpack of one image layer (a tar, optionally gzip- or zstd-compressed) into a
//! directory, with OCI whiteouts turned into overlayfs whiteouts (a 0/0 character device for
//! `.wh.<name>`, the `trusted.overlay.opaque=y` xattr for `.wh..wh..opq`).
//!
//! The one rule: nothing is ever written outside `dest`. Entry names with `..` or absolute
//! paths are refused; parent directories are resolved component by component without trusting
//! the filesystem: a symlink inside the layer is followed only while it stays inside `dest`
//! (an absolute target or one climbing out is refused); the final component is never followed
//! (an existing entry is replaced, and files are created with `O_EXCL|O_NOFOLLOW`); hard links
//! must name an entry inside `dest`. The decompressed stream is hashed and checked against the
//! config's diff ID. This module does not know about the store: the caller chooses `dest`.

use super::digest::HashingReader;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The OCI whiteout prefix.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The OCI opaque-directory marker.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// Symlinks followed while resolving one path (Linux's own limit is 40).
const MAX_SYMLINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry {0:?}: path escapes the layer root")]
    Escape(String),
    #[error("layer entry {0:?}: absolute paths are not allowed")]
    Absolute(String),
    #[error("layer entry {0:?}: hard link target {1:?} is not inside the layer")]
    HardLinkOutside(String, String),
    #[error("layer entry {0:?}: invalid whiteout")]
    BadWhiteout(String),
    #[error("layer entry {0:?}: too many levels of symbolic links")]
    SymlinkLoop(String),
    #[error("layer entry {entry:?}: {source}")]
    Entry {
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("reading layer: {0}")]
    Read(#[source] io::Error),
    #[error("layer diff ID mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: String, actual: String },
}

type Result<T> = std::result::Result<T, UnpackError>;

/// What an unpack did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    /// Digest and length of the uncompressed tar stream.
    pub diff_id: String,
    pub uncompressed_size: u64,
}

/// The compression of a layer, told by its first bytes (media types lie often enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Wraps a layer stream in the decompressor its magic bytes call for.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut br = BufReader::with_capacity(256 * 1024, r);
    let head = br.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok((Compression::Gzip, Box::new(flate2::bufread::MultiGzDecoder::new(br))))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let dec = ruzstd::decoding::StreamingDecoder::new(br).map_err(io::Error::other)?;
        Ok((Compression::Zstd, Box::new(dec)))
    } else {
        Ok((Compression::None, Box::new(br)))
    }
}

/// Options of an unpack; `privileged` (running as root) enables ownership, device nodes,
/// whiteout devices and xattrs.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    pub privileged: bool,
    /// When set, the uncompressed stream must hash to it.
    pub expected_diff_id: Option<String>,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        Self { privileged: nix::unistd::geteuid().is_root(), expected_diff_id: None }
    }
}

struct DirMeta {
    path: PathBuf,
    mode: u32,
    mtime: i64,
}

/// Unpacks a (possibly compressed) layer into `dest`, which must exist.
pub fn unpack_layer<R: Read>(layer: R, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    let (_, plain) = decompress(layer).map_err(UnpackError::Read)?;
    let mut hashing = HashingReader::new(plain);
    let mut stats = UnpackStats::default();
    let mut dirs: Vec<DirMeta> = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries().map_err(UnpackError::Read)? {
            let mut entry = entry.map_err(UnpackError::Read)?;
            stats.entries += 1;
            apply_entry(&mut entry, dest, opts, &mut dirs)?;
        }
    }
    let (diff_id, len) = hashing.finish().map_err(UnpackError::Read)?;
    if let Some(exp) = &opts.expected_diff_id
        && *exp != diff_id
    {
        return Err(UnpackError::DiffIdMismatch { expected: exp.clone(), actual: diff_id });
    }
    // Directory modes and times last: children changed the times, and a read-only directory
    // would have blocked its children for a non-root unpack.
    for d in dirs.iter().rev() {
        let name = d.path.display().to_string();
        fs::set_permissions(&d.path, fs::Permissions::from_mode(d.mode))
            .map_err(|source| UnpackError::Entry { entry: name.clone(), source })?;
        let t = filetime::FileTime::from_unix_time(d.mtime, 0);
        filetime::set_symlink_file_times(&d.path, t, t).map_err(|source| UnpackError::Entry { entry: name, source })?;
    }
    stats.diff_id = diff_id;
    stats.uncompressed_size = len;
    Ok(stats)
}

/// Splits an entry name into normal components, refusing `..` and absolute paths.
fn clean_components(name: &str, raw: &Path) -> Result<Vec<OsString>> {
    let mut out = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(s) => out.push(s.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => return Err(UnpackError::Escape(name.to_string())),
            Component::RootDir | Component::Prefix(_) => return Err(UnpackError::Absolute(name.to_string())),
        }
    }
    Ok(out)
}

/// Resolves `comps` (already clean) under `root`, following symlinks found in `root` only
/// while they stay inside it. Missing directories are created (0755) when `create` is set.
/// Returns the host path of the resolved location (its last component is not followed when
/// `follow_last` is false).
fn resolve_in_root(root: &Path, comps: &[OsString], follow_last: bool, create: bool, name: &str) -> Result<PathBuf> {
    let mut stack: Vec<OsString> = Vec::new();
    let mut queue: VecDeque<(OsString, bool)> =
        comps.iter().enumerate().map(|(i, c)| (c.clone(), i + 1 == comps.len())).collect();
    let mut links = 0;
    let io = |source| UnpackError::Entry { entry: name.to_string(), source };
    while let Some((c, is_last)) = queue.pop_front() {
        if c == OsStr::new("..") {
            if stack.pop().is_none() {
                return Err(UnpackError::Escape(name.to_string()));
            }
            continue;
        }
        if c == OsStr::new(".") || c.is_empty() {
            continue;
        }
        let mut here = root.to_path_buf();
        here.extend(&stack);
        here.push(&c);
        if is_last && !follow_last {
            stack.push(c);
            break;
        }
        match fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(UnpackError::SymlinkLoop(name.to_string()));
                }
                let target = fs::read_link(&here).map_err(io)?;
                if target.is_absolute() {
                    return Err(UnpackError::Escape(name.to_string()));
                }
                // The target's components replace this one, relative to its directory; the last
                // of them inherits whether this component was the last.
                let tcomps: Vec<OsString> = target
                    .components()
                    .map(|tc| match tc {
                        Component::ParentDir => OsString::from(".."),
                        Component::Normal(s) => s.to_os_string(),
                        _ => OsString::from("."),
                    })
                    .collect();
                let n = tcomps.len();
                for (i, tc) in tcomps.into_iter().enumerate().rev() {
                    queue.push_front((tc, is_last && i + 1 == n));
                }
            }
            Ok(m) => {
                if !is_last && !m.is_dir() {
                    return Err(io(io::Error::new(io::ErrorKind::NotADirectory, "parent is not a directory")));
                }
                stack.push(c);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if create {
                    fs::DirBuilder::new().mode(0o755).create(&here).map_err(io)?;
                }
                stack.push(c);
            }
            Err(e) => return Err(io(e)),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&stack);
    Ok(out)
}

use std::os::unix::fs::DirBuilderExt;

/// Removes whatever is at `p` (not following a symlink there).
fn remove_existing(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn apply_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    root: &Path,
    opts: &UnpackOptions,
    dirs: &mut Vec<DirMeta>,
) -> Result<()> {
    let raw = entry.path().map_err(UnpackError::Read)?.into_owned();
    let name = raw.display().to_string();
    let comps = clean_components(&name, &raw)?;
    let Some(last) = comps.last().cloned() else {
        // "./" itself: the layer root's own metadata is not applied.
        return Ok(());
    };
    let io = |source| UnpackError::Entry { entry: name.clone(), source };
    let parent_comps = &comps[..comps.len() - 1];
    let last_bytes = last.as_bytes();

    // Whiteouts.
    if let Some(rest) = last_bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        let parent = resolve_in_root(root, parent_comps, true, true, &name)?;
        if last_bytes == WHITEOUT_OPAQUE.as_bytes() {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&parent)
                .or_else(|e| if e.kind() == io::ErrorKind::AlreadyExists { Ok(()) } else { Err(e) })
                .map_err(io)?;
            if !fs::symlink_metadata(&parent).map_err(io)?.is_dir() {
                return Err(UnpackError::BadWhiteout(name));
            }
            if opts.privileged {
                xattr::set(&parent, "trusted.overlay.opaque", b"y").map_err(io)?;
            }
            return Ok(());
        }
        if rest.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            // Other `.wh..wh.` names are AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`): ignored.
            return Ok(());
        }
        if rest.is_empty() || rest == b"." || rest == b".." || rest.contains(&b'/') {
            return Err(UnpackError::BadWhiteout(name));
        }
        let target = parent.join(OsStr::from_bytes(rest));
        remove_existing(&target).map_err(io)?;
        if opts.privileged {
            nix::sys::stat::mknod(
                &target,
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::empty(),
                nix::sys::stat::makedev(0, 0),
            )
            .map_err(|e| io(e.into()))?;
        }
        return Ok(());
    }

    let parent = resolve_in_root(root, parent_comps, true, true, &name)?;
    let target = parent.join(&last);
    let header = entry.header();
    let kind = header.entry_type();
    // Empty numeric fields read as 0, as Go's archive/tar (and so Docker and containerd) do.
    let mode = header.mode().unwrap_or(0) & 0o7777;
    let uid = header.uid().unwrap_or(0);
    let gid = header.gid().unwrap_or(0);
    let mtime = header.mtime().unwrap_or(0) as i64;

    let existing = fs::symlink_metadata(&target).ok();
    if kind.is_dir() {
        match existing {
            Some(m) if m.is_dir() => {}
            Some(_) => {
                remove_existing(&target).map_err(io)?;
                fs::DirBuilder::new().mode(0o700).create(&target).map_err(io)?;
            }
            None => fs::DirBuilder::new().mode(0o700).create(&target).map_err(io)?,
        }
        if opts.privileged {
            std::os::unix::fs::lchown(&target, Some(uid as u32), Some(gid as u32)).map_err(io)?;
        }
        apply_xattrs(entry, &target, opts).map_err(io)?;
        dirs.push(DirMeta { path: target, mode, mtime });
        return Ok(());
    }
    if existing.is_some() {
        remove_existing(&target).map_err(io)?;
    }
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&target)
                .map_err(io)?;
            io::copy(entry, &mut f).map_err(io)?;
        }
        tar::EntryType::Symlink => {
            let link = entry.link_name().map_err(io)?.ok_or_else(|| io(io::Error::other("symlink without target")))?;
            std::os::unix::fs::symlink(&link, &target).map_err(io)?;
        }
        tar::EntryType::Link => {
            let link =
                entry.link_name().map_err(io)?.ok_or_else(|| io(io::Error::other("hard link without target")))?;
            let lname = link.display().to_string();
            let outside = || UnpackError::HardLinkOutside(name.clone(), lname.clone());
            let lcomps = clean_components(&lname, &link).map_err(|_| outside())?;
            if lcomps.is_empty() {
                return Err(outside());
            }
            let (lparent, llast) = lcomps.split_at(lcomps.len() - 1);
            let src = resolve_in_root(root, lparent, true, false, &name)
                .map_err(|e| if matches!(e, UnpackError::Escape(_)) { outside() } else { e })?
                .join(&llast[0]);
            let m = fs::symlink_metadata(&src).map_err(|_| outside())?;
            if m.is_dir() {
                return Err(outside());
            }
            // linkat(2) without AT_SYMLINK_FOLLOW: a symlink source is linked, not followed.
            fs::hard_link(&src, &target).map_err(io)?;
            // A hard link shares the inode: its metadata is the source's.
            return Ok(());
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            use nix::sys::stat::{Mode, SFlag, makedev, mknod};
            let flag = match kind {
                tar::EntryType::Char => SFlag::S_IFCHR,
                tar::EntryType::Block => SFlag::S_IFBLK,
                _ => SFlag::S_IFIFO,
            };
            if flag != SFlag::S_IFIFO && !opts.privileged {
                return Ok(()); // device nodes need root; an unprivileged unpack skips them.
            }
            let major = header.device_major().map_err(io)?.unwrap_or(0);
            let minor = header.device_minor().map_err(io)?.unwrap_or(0);
            mknod(&target, flag, Mode::from_bits_truncate(0o600), makedev(major.into(), minor.into()))
                .map_err(|e| io(e.into()))?;
        }
        // Metadata-only entry types (PAX/GNU headers are consumed by the tar reader).
        _ => return Ok(()),
    }
    if opts.privileged {
        std::os::unix::fs::lchown(&target, Some(uid as u32), Some(gid as u32)).map_err(io)?;
    }
    if kind != tar::EntryType::Symlink {
        // After chown, which clears set-id bits.
        fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io)?;
        apply_xattrs(entry, &target, opts).map_err(io)?;
    }
    let t = filetime::FileTime::from_unix_time(mtime, 0);
    filetime::set_symlink_file_times(&target, t, t).map_err(io)?;
    Ok(())
}

/// PAX `SCHILY.xattr.<name>` records, applied as root (security.capability included).
fn apply_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>, target: &Path, opts: &UnpackOptions) -> io::Result<()> {
    if !opts.privileged {
        return Ok(());
    }
    let Some(exts) = entry.pax_extensions()? else { return Ok(()) };
    for ext in exts {
        let ext = ext?;
        if let Some(key) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
            // The overlay's own xattrs would let a layer forge whiteouts/redirects: skip them.
            if key.starts_with(b"trusted.overlay.") {
                continue;
            }
            xattr::set(target, OsStr::from_bytes(key), ext.value_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    /// Raw-header tar builder: lets tests write names the safe `tar::Builder` API refuses.
    pub(crate) struct RawTar(pub Vec<u8>);

    impl RawTar {
        pub fn new() -> Self {
            RawTar(Vec::new())
        }
        fn header(name: &[u8], kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
            let mut h = tar::Header::new_old();
            {
                let raw = h.as_old_mut();
                raw.name[..name.len()].copy_from_slice(name);
            }
            h.set_entry_type(kind);
            h.set_size(size);
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_000_000);
            h
        }
        fn push(&mut self, mut h: tar::Header, data: &[u8]) {
            h.set_cksum();
            self.0.extend_from_slice(h.as_bytes());
            self.0.extend_from_slice(data);
            let pad = (512 - data.len() % 512) % 512;
            self.0.extend(std::iter::repeat_n(0u8, pad));
        }
        pub fn file(mut self, name: &str, data: &[u8]) -> Self {
            let h = Self::header(name.as_bytes(), tar::EntryType::Regular, data.len() as u64, 0o644);
            self.push(h, data);
            self
        }
        pub fn dir(mut self, name: &str) -> Self {
            let h = Self::header(name.as_bytes(), tar::EntryType::Directory, 0, 0o755);
            self.push(h, &[]);
            self
        }
        pub fn link(mut self, kind: tar::EntryType, name: &str, target: &str) -> Self {
            let mut h = Self::header(name.as_bytes(), kind, 0, 0o777);
            h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
            self.push(h, &[]);
            self
        }
        pub fn finish(mut self) -> Vec<u8> {
            self.0.extend(std::iter::repeat_n(0u8, 1024));
            self.0
        }
    }

    struct Fixture {
        _tmp: tempfile::TempDir,
        outside: PathBuf,
        root: PathBuf,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        let root = tmp.path().join("layer");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), b"keep").unwrap();
        fs::create_dir(&root).unwrap();
        Fixture { _tmp: tmp, outside, root }
    }

    fn unpack(f: &Fixture, tar: &[u8]) -> Result<UnpackStats> {
        unpack_layer(tar, &f.root, &UnpackOptions::default())
    }

    /// Everything under `outside` is exactly as the fixture left it.
    fn assert_outside_untouched(f: &Fixture) {
        let names: Vec<_> = fs::read_dir(&f.outside).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![OsString::from("secret")]);
        assert_eq!(fs::read(f.outside.join("secret")).unwrap(), b"keep");
        let parent: Vec<_> = fs::read_dir(f.root.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(parent.len(), 2, "nothing new beside the layer: {parent:?}");
    }

    #[test]
    fn plain_layer_with_links() {
        let f = fixture();
        let tar = RawTar::new()
            .dir("bin/")
            .file("bin/busybox", b"ELF")
            .link(tar::EntryType::Symlink, "bin/sh", "busybox")
            .link(tar::EntryType::Link, "bin/ls", "bin/busybox")
            .file("./etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
            .finish();
        let st = unpack(&f, &tar).unwrap();
        assert_eq!(st.entries, 5);
        assert_eq!(st.diff_id, super::super::digest::digest_of(&tar));
        assert_eq!(fs::read_link(f.root.join("bin/sh")).unwrap(), Path::new("busybox"));
        let a = fs::metadata(f.root.join("bin/busybox")).unwrap();
        let b = fs::metadata(f.root.join("bin/ls")).unwrap();
        assert_eq!(a.ino(), b.ino());
        assert_eq!(a.mode() & 0o7777, 0o644);
        assert_eq!(a.mtime(), 1_000_000);
        assert_eq!(fs::metadata(f.root.join("bin")).unwrap().mode() & 0o7777, 0o755);
        assert_outside_untouched(&f);
    }

    #[test]
    fn compressed_layers_and_diff_id() {
        use std::io::Write;
        let tar = RawTar::new().file("a", b"1").finish();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = ruzstd::encoding::compress_to_vec(&tar[..], ruzstd::encoding::CompressionLevel::Fastest);
        for data in [&gz, &zst, &tar] {
            let f = fixture();
            let opts = UnpackOptions {
                expected_diff_id: Some(super::super::digest::digest_of(&tar)),
                ..UnpackOptions::default()
            };
            unpack_layer(&data[..], &f.root, &opts).unwrap();
            assert_eq!(fs::read(f.root.join("a")).unwrap(), b"1");
        }
        let f = fixture();
        let opts =
            UnpackOptions { expected_diff_id: Some(super::super::digest::digest_of(b"x")), ..Default::default() };
        assert!(matches!(unpack_layer(&gz[..], &f.root, &opts), Err(UnpackError::DiffIdMismatch { .. })));
    }

    #[test]
    fn refuses_dotdot() {
        let f = fixture();
        let tar = RawTar::new().file("../outside/evil", b"x").finish();
        assert!(matches!(unpack(&f, &tar), Err(UnpackError::Escape(_))));
        let tar = RawTar::new().dir("a/").file("a/../../outside/evil", b"x").finish();
        assert!(matches!(unpack(&f, &tar), Err(UnpackError::Escape(_))));
        assert_outside_untouched(&f);
    }

    #[test]
    fn refuses_absolute() {
        let f = fixture();
        let abs = format!("{}/evil", f.outside.display());
        let tar = RawTar::new().file(&abs, b"x").finish();
        assert!(matches!(unpack(&f, &tar), Err(UnpackError::Absolute(_))));
        assert_outside_untouched(&f);
    }

    #[test]
    fn refuses_write_through_escaping_symlink() {
        // Absolute symlink to the outside dir, then a file through it.
        let f = fixture();
        let abs = f.outside.display().to_string();
        let tar = RawTar::new().link(tar::EntryType::Symlink, "evil", &abs).file("evil/secret", b"pwned").finish();
        assert!(matches!(unpack(&f, &tar), Err(UnpackError::Escape(_))));
        assert_outside_untouched(&f);
        // Relative symlink climbing out.
        let f = fixture();
        let tar = RawTar::new().link(tar::EntryType::Symlink, "evil", "../outside").file("evil/new", b"pwned").finish();
        assert!(matches!(unpack(&f, &tar), Err(UnpackError::Escape(_))));
        assert_outside_untouched(&f);
        // Chained: a -> b/.. style climbing via two links.
        let f = fixture();
        let tar = RawTar::new()
            .dir("d/")
            .link(tar::EntryType::Symlink, "d/up", "..")
            .link(tar::EntryType::Symlink, "x", "d/up/d/up/..")
            .file("x/new", b"pwned")
            .finish();
        assert!(matches!(unpack(&f, &tar), Err(UnpackError::Escape(_))));
        assert_outside_untouched(&f);
        // A symlink loop is an error, not a hang.
        let f = fixture();
        let tar = RawTar::new()
            .link(tar::EntryType::Symlink, "l1", "l2")
            .link(tar::EntryType::Symlink, "l2", "l1")
            .file("l1/x", b"x")
            .finish();
        assert!(matches!(unpack(&f, &tar), Err(UnpackError::SymlinkLoop(_))));
    }

    #[test]
    fn symlink_inside_is_followed_and_final_symlink_replaced() {
        let f = fixture();
        let abs = f.outside.join("secret").display().to_string();
        let tar = RawTar::new()
            .dir("usr/lib/")
            .link(tar::EntryType::Symlink, "lib", "usr/lib")
            .file("lib/libc.so", b"c")
            // A file entry over an existing symlink replaces the link, never writes through it.
            .link(tar::EntryType::Symlink, "trap", &abs)
            .file("trap", b"replaced")
            .finish();
        unpack(&f, &tar).unwrap();
        assert_eq!(fs::read(f.root.join("usr/lib/libc.so")).unwrap(), b"c");
        assert!(fs::symlink_metadata(f.root.join("trap")).unwrap().is_file());
        assert_outside_untouched(&f);
    }

    #[test]
    fn refuses_hard_link_to_outside() {
        let f = fixture();
        let abs = f.outside.join("secret").display().to_string();
        for target in [abs.as_str(), "../outside/secret", "a/../../outside/secret"] {
            let tar = RawTar::new().dir("a/").link(tar::EntryType::Link, "steal", target).finish();
            assert!(matches!(unpack(&f, &tar), Err(UnpackError::HardLinkOutside(..))), "{target}");
        }
        // Through a symlink pointing outside.
        let tar = RawTar::new()
            .link(tar::EntryType::Symlink, "out", "../outside")
            .link(tar::EntryType::Link, "steal", "out/secret")
            .finish();
        assert!(matches!(unpack(&f, &tar), Err(UnpackError::HardLinkOutside(..))));
        assert_eq!(fs::metadata(f.outside.join("secret")).unwrap().nlink(), 1);
        assert_outside_untouched(&f);
    }

    #[test]
    fn whiteouts() {
        let f = fixture();
        // Whiteout of "..", ".", empty: refused.
        for bad in ["dir/.wh...", ".wh..", ".wh."] {
            let tar = RawTar::new().dir("dir/").file(bad, b"").finish();
            assert!(matches!(unpack(&f, &tar), Err(UnpackError::BadWhiteout(_))), "{bad}");
        }
        assert!(f.root.exists());
        assert_outside_untouched(&f);
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping whiteout device checks: not root");
            return;
        }
        let f = fixture();
        let tar = RawTar::new()
            .dir("etc/")
            .file("etc/.wh.motd", b"")
            .dir("var/cache/")
            .file("var/cache/.wh..wh..opq", b"")
            .file("var/cache/kept", b"k")
            .file(".wh..wh.plnk", b"")
            .finish();
        unpack(&f, &tar).unwrap();
        let m = fs::symlink_metadata(f.root.join("etc/motd")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), 0);
        assert_eq!(xattr::get(f.root.join("var/cache"), "trusted.overlay.opaque").unwrap().as_deref(), Some(&b"y"[..]));
        assert!(f.root.join("var/cache/kept").exists());
        assert!(!f.root.join(".wh..wh.plnk").exists());
        // A whiteout through an escaping symlink is refused too.
        let f = fixture();
        let tar = RawTar::new().link(tar::EntryType::Symlink, "o", "../outside").file("o/.wh.secret", b"").finish();
        assert!(matches!(unpack(&f, &tar), Err(UnpackError::Escape(_))));
        assert_outside_untouched(&f);
    }

    #[test]
    fn ownership_and_xattrs_as_root() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: not root");
            return;
        }
        let f = fixture();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(1);
        h.set_mode(0o4755);
        h.set_uid(1000);
        h.set_gid(101);
        b.append_pax_extensions([("SCHILY.xattr.user.test", &b"v"[..])]).unwrap();
        b.append_data(&mut h, "ping", &b"p"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        unpack(&f, &tar).unwrap();
        let m = fs::metadata(f.root.join("ping")).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 101, 0o4755));
        assert_eq!(xattr::get(f.root.join("ping"), "user.test").unwrap().as_deref(), Some(&b"v"[..]));
    }
}
