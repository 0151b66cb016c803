//! sha256 digests: hashing, hex encoding and validation of `sha256:<64 lowercase hex>` strings.
//! Only sha256 is accepted for content (what every registry and `docker save` produce).

use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// The `sha256:` prefix of every content digest this store accepts.
pub const SHA256_PREFIX: &str = "sha256:";

/// Returns the 64-hex part of a `sha256:` digest, or `None` when it is not one.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix(SHA256_PREFIX)?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then_some(hex)
}

/// Lowercase hex of bytes (sha2 0.11 output has no `LowerHex`).
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// The `sha256:…` digest of a byte slice.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("{SHA256_PREFIX}{}", to_hex(&Sha256::digest(bytes)))
}

/// An incremental sha256 that also counts bytes.
#[derive(Default, Clone)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.len += data.len() as u64;
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// `sha256:<hex>` of everything fed so far.
    pub fn finish(self) -> String {
        format!("{SHA256_PREFIX}{}", to_hex(&self.inner.finalize()))
    }
}

/// A reader that hashes what passes through it (for the diff ID of a decompressed layer).
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, hasher: Hasher::new() }
    }
    /// Reads the rest of the stream (tar padding after the end-of-archive blocks counts) and
    /// returns the digest and length.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let len = self.hasher.len();
        Ok((self.hasher.finish(), len))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes what passes through it.
pub struct HashingWriter<W> {
    pub inner: W,
    pub hasher: Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(digest_of(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert!(sha256_hex(&digest_of(b"x")).is_some());
        assert!(sha256_hex("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855").is_none());
        assert!(sha256_hex("sha256:../../etc/passwd").is_none());
        assert!(sha256_hex("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").is_none());
    }

    #[test]
    fn hashing_reader_counts_everything() {
        let (d, n) = HashingReader::new(&b"hello"[..]).finish().unwrap();
        assert_eq!(d, digest_of(b"hello"));
        assert_eq!(n, 5);
    }
}
