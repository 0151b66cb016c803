//! Container logs in the CRI format, exactly as containerd writes them, with size-based
//! rotation. It owns the bytes from a container's stdout/stderr to the log file; it does not
//! read logs back (the agent's log reader does, following the naming documented in
//! [`crate::shim`]) and it never allocates per line: each stream has one fixed buffer of
//! [`MAX_LINE`] bytes and the entry is assembled in one caller-owned buffer.
//!
//! Format, one entry per line: `<RFC3339Nano UTC> <stdout|stderr> <F|P> <content>\n`. As in
//! containerd (`internal/cri/io/logger.go`, `redirectLogs`), a line longer than
//! [`MAX_LINE`] bytes is cut into `P` (partial) entries of exactly [`MAX_LINE`] bytes followed
//! by the rest as `F`; a stream that ends without a newline ends with a `P` entry; only `\n`
//! is removed (a `\r` stays in the content).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::time::append_rfc3339;

/// containerd's default `max_container_log_line_size` (16 KiB).
pub(crate) const MAX_LINE: usize = 16 * 1024;
/// The kubelet's default `containerLogMaxSize`.
pub const DEFAULT_LOG_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// The kubelet's default `containerLogMaxFiles` (the current file included).
pub const DEFAULT_LOG_MAX_FILES: u32 = 5;

/// Which stream an entry came from; the word written in the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    Stdout,
    Stderr,
}

impl StreamKind {
    fn tag(self) -> &'static [u8] {
        match self {
            StreamKind::Stdout => b"stdout",
            StreamKind::Stderr => b"stderr",
        }
    }
}

/// Cuts a byte stream into log entries: the pending (not yet terminated) part of the current
/// line lives in a fixed buffer.
pub(crate) struct LineSplitter {
    buf: Box<[u8]>,
    len: usize,
}

impl LineSplitter {
    pub(crate) fn new(max_line: usize) -> Self {
        LineSplitter { buf: vec![0; max_line.max(1)].into_boxed_slice(), len: 0 }
    }

    /// Feeds bytes read from the stream; `emit(partial, content)` is called once per entry.
    pub(crate) fn feed(&mut self, mut data: &[u8], emit: &mut dyn FnMut(bool, &[u8])) {
        while !data.is_empty() {
            let (segment, newline) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => (&data[..i], true),
                None => (data, false),
            };
            let mut rest = segment;
            while !rest.is_empty() {
                // A full buffer is flushed as partial only once a byte beyond it arrives, so
                // that a line of exactly the maximum length stays one `F` entry.
                if self.len == self.buf.len() {
                    emit(true, &self.buf[..self.len]);
                    self.len = 0;
                }
                let n = rest.len().min(self.buf.len() - self.len);
                self.buf[self.len..self.len + n].copy_from_slice(&rest[..n]);
                self.len += n;
                rest = &rest[n..];
            }
            if newline {
                emit(false, &self.buf[..self.len]);
                self.len = 0;
                data = &data[segment.len() + 1..];
            } else {
                data = &[];
            }
        }
    }

    /// The stream ended: what is left becomes a partial entry.
    pub(crate) fn finish(&mut self, emit: &mut dyn FnMut(bool, &[u8])) {
        if self.len > 0 {
            emit(true, &self.buf[..self.len]);
            self.len = 0;
        }
    }
}

/// Appends one CRI log entry (with its newline) to `out`.
pub(crate) fn format_entry(out: &mut Vec<u8>, now: SystemTime, stream: StreamKind, partial: bool, content: &[u8]) {
    out.clear();
    append_rfc3339(out, now, true);
    out.push(b' ');
    out.extend_from_slice(stream.tag());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// A container's log file, rotated by size.
///
/// Rotation renames `LOG` to `LOG.1` (after shifting `LOG.1`..`LOG.{n-2}` up by one and
/// removing `LOG.{n-1}`) and opens a new `LOG`, so at most `max_files` files exist and an
/// entry is never split across two files.
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
}

impl LogFile {
    pub(crate) fn open(path: &Path, max_size: u64, max_files: u32) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile { path: path.to_path_buf(), file, size, max_size: max_size.max(1), max_files: max_files.max(1) })
    }

    /// Writes one whole entry, rotating first when it would take the file past the maximum
    /// size (an entry larger than the maximum goes alone into a fresh file).
    pub(crate) fn write_entry(&mut self, entry: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + entry.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(entry)?;
        self.size += entry.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |i: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{i}"));
            PathBuf::from(name)
        };
        if self.max_files == 1 {
            std::fs::remove_file(&self.path)?;
        } else {
            ignore_missing(std::fs::remove_file(numbered(self.max_files - 1)))?;
            for i in (1..self.max_files - 1).rev() {
                ignore_missing(std::fs::rename(numbered(i), numbered(i + 1)))?;
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(max: usize, chunks: &[&[u8]], finish: bool) -> Vec<(bool, Vec<u8>)> {
        let mut s = LineSplitter::new(max);
        let mut got = Vec::new();
        for c in chunks {
            s.feed(c, &mut |p, b| got.push((p, b.to_vec())));
        }
        if finish {
            s.finish(&mut |p, b| got.push((p, b.to_vec())));
        }
        got
    }

    fn full(s: &str) -> (bool, Vec<u8>) {
        (false, s.as_bytes().to_vec())
    }
    fn part(s: &str) -> (bool, Vec<u8>) {
        (true, s.as_bytes().to_vec())
    }

    #[test]
    fn lines_across_reads_and_empty_lines() {
        assert_eq!(split(16, &[b"hel", b"lo\n\nwor", b"ld\r\n"], true), vec![full("hello"), full(""), full("world\r")]);
    }

    #[test]
    fn long_lines_are_cut_like_containerd() {
        // Exactly the maximum: one full entry.
        assert_eq!(split(4, &[b"abcd\n"], true), vec![full("abcd")]);
        // One byte more: a partial of the maximum, then the rest.
        assert_eq!(split(4, &[b"abcde\n"], true), vec![part("abcd"), full("e")]);
        // Twice the maximum: the second half is the full entry.
        assert_eq!(split(4, &[b"ab", b"cdefgh", b"\n"], true), vec![part("abcd"), full("efgh")]);
        assert_eq!(split(4, &[b"abcdefghij\n"], true), vec![part("abcd"), part("efgh"), full("ij")]);
    }

    #[test]
    fn stream_end_without_newline_is_partial() {
        assert_eq!(split(8, &[b"one\ntwo"], true), vec![full("one"), part("two")]);
        assert_eq!(split(8, &[b"one\ntwo"], false), vec![full("one")]);
        assert_eq!(split(8, &[b"one\n"], true), vec![full("one")]);
    }

    #[test]
    fn entry_format() {
        let mut out = Vec::new();
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_475_713_029, 669_794_202);
        format_entry(&mut out, t, StreamKind::Stderr, true, b"x y");
        assert_eq!(out, b"2016-10-06T00:17:09.669794202Z stderr P x y\n");
    }

    #[test]
    fn rotation_keeps_max_files_and_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/0.log");
        let mut log = LogFile::open(&path, 20, 3).unwrap();
        for i in 0..10 {
            log.write_entry(format!("entry {i:02}\n").as_bytes()).unwrap();
        }
        // 9-byte entries, two per file: 0.log.2 holds 04-05, 0.log.1 06-07, 0.log 08-09.
        let read = |p: &str| std::fs::read_to_string(dir.path().join("c").join(p)).unwrap();
        assert_eq!(read("0.log"), "entry 08\nentry 09\n");
        assert_eq!(read("0.log.1"), "entry 06\nentry 07\n");
        assert_eq!(read("0.log.2"), "entry 04\nentry 05\n");
        assert!(!dir.path().join("c/0.log.3").exists());
        // Reopening continues the current file and its size.
        drop(log);
        let mut log = LogFile::open(&path, 20, 3).unwrap();
        log.write_entry(b"entry 10\n").unwrap();
        assert_eq!(read("0.log"), "entry 10\n");
        assert_eq!(read("0.log.1"), "entry 08\nentry 09\n");
        assert_eq!(read("0.log.2"), "entry 06\nentry 07\n");
    }
}
