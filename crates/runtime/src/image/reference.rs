//! Image references as Kubernetes users write them, normalised exactly as Docker and containerd
//! do (the `docker/distribution/reference` grammar with `ParseNormalizedNamed` + `TagNameOnly`).
//!
//! `busybox` → `docker.io/library/busybox:latest`; `localhost:5000/x` keeps its registry;
//! `name:tag@sha256:…` keeps both (the digest wins when pulling). Invalid references are errors,
//! never panics. This module only parses: it does no IO.

use std::fmt;

/// The registry a reference without a domain belongs to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's legacy name, rewritten to [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag a reference without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";
/// `NameTotalLengthMax` in the distribution grammar.
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a reference string was rejected; the messages follow the distribution package's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: repository name must have at least one component")]
    NameEmpty,
    #[error("invalid reference format: repository name (must be lowercase): {0:?}")]
    NameContainsUppercase(String),
    #[error("invalid reference format: {0:?}")]
    InvalidFormat(String),
    #[error("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters: {0:?}")]
    NameTooLong(String),
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
    #[error("invalid tag format: {0:?}")]
    InvalidTag(String),
    #[error("invalid digest format: {0:?}")]
    InvalidDigest(String),
}

/// A fully qualified image reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host, with port if any (`docker.io`, `localhost:5000`, `[::1]:5000`).
    pub domain: String,
    /// Repository path inside the registry (`library/busybox`).
    pub path: String,
    /// Tag; `None` only when a digest is given without a tag.
    pub tag: Option<String>,
    /// Content digest (`sha256:<64 hex>`), when pinned.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalises a reference as `docker pull`/containerd's CRI do.
    pub fn parse_normalized(s: &str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::NameEmpty);
        }
        if is_hex64(s) {
            return Err(ReferenceError::HexIdentifier(s.to_string()));
        }
        // Split off the digest first: '@' cannot appear elsewhere.
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                validate_digest(d)?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'; a ':' before it is a port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                let tag = &rest[i + 1..];
                if !is_valid_tag(tag) {
                    return Err(ReferenceError::InvalidTag(tag.to_string()));
                }
                (&rest[..i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::NameEmpty);
        }
        let (domain, path) = split_domain(name);
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::NameContainsUppercase(s.to_string()));
        }
        validate_domain(&domain).map_err(|_| ReferenceError::InvalidFormat(s.to_string()))?;
        validate_path(&path).map_err(|_| ReferenceError::InvalidFormat(s.to_string()))?;
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong(s.to_string()));
        }
        // TagNameOnly: a bare name gets `latest`; a digest-only reference stays digest-only.
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            _ => tag,
        };
        Ok(Reference { domain, path, tag, digest })
    }

    /// `domain/path`, the repository name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The same reference without its digest (`name:tag`), when it has a tag.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }

    /// `name@digest` for a given manifest digest (how CRI lists "repo digests").
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{digest}", self.name())
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn object(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or(DEFAULT_TAG)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse_normalized(s)
    }
}

/// `splitDockerDomain`: the first component is a domain when it has a '.' or ':', is
/// `localhost`, or has an uppercase letter (which a path component cannot).
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !path.contains('/') {
        path = format!("{OFFICIAL_REPO_PREFIX}{path}");
    }
    (domain, path)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `tag := [\w][\w.-]{0,127}`
fn is_valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty() && b.len() <= 128 && word(b[0]) && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `digest := algorithm ":" encoded` with `algorithm := [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*`
/// and `encoded := [0-9a-fA-F]{32,}`; sha256 must be exactly 64 lowercase hex digits (go-digest).
pub fn validate_digest(d: &str) -> Result<(), ReferenceError> {
    let err = || ReferenceError::InvalidDigest(d.to_string());
    let (alg, enc) = d.split_once(':').ok_or_else(err)?;
    let mut comps = alg.split(['-', '_', '+', '.']);
    let alg_ok = comps.all(|c| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|x| x.is_ascii_alphanumeric())
    });
    if !alg_ok || enc.len() < 32 || !enc.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err());
    }
    match alg {
        "sha256" if enc.len() != 64 || enc.bytes().any(|b| b.is_ascii_uppercase()) => Err(err()),
        "sha512" if enc.len() != 128 || enc.bytes().any(|b| b.is_ascii_uppercase()) => Err(err()),
        _ => Ok(()),
    }
}

/// `domain := domain-name | "[" ipv6 "]"` then an optional `:port`, where
/// `domain-component := [a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn validate_domain(d: &str) -> Result<(), ()> {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or(())?;
        if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err(());
        }
        match after {
            "" => return Ok(()),
            p => (None, p.strip_prefix(':').ok_or(())?),
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (Some(h), p),
            None => (Some(d), ""),
        }
    };
    if let Some(host) = host {
        for comp in host.split('.') {
            let b = comp.as_bytes();
            let ok = !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
            if !ok {
                return Err(());
            }
        }
    }
    if d.contains(':') && !d.starts_with('[') && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit())) {
        return Err(());
    }
    if d.starts_with('[') && !port.bytes().all(|b| b.is_ascii_digit()) || d.starts_with('[') && port.is_empty() {
        return Err(());
    }
    Ok(())
}

/// `path-component := [a-z0-9]+(separator [a-z0-9]+)*` with `separator := [_.]|__|[-]+`,
/// components joined by '/'.
fn validate_path(p: &str) -> Result<(), ()> {
    for comp in p.split('/') {
        let b = comp.as_bytes();
        if b.is_empty() {
            return Err(());
        }
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let mut i = 0;
        let run = |i: &mut usize| {
            let start = *i;
            while *i < b.len() && alnum(b[*i]) {
                *i += 1;
            }
            *i > start
        };
        if !run(&mut i) {
            return Err(());
        }
        while i < b.len() {
            // separator
            match b[i] {
                b'.' => i += 1,
                b'_' => {
                    i += 1;
                    if i < b.len() && b[i] == b'_' {
                        i += 1;
                    }
                }
                b'-' => {
                    while i < b.len() && b[i] == b'-' {
                        i += 1;
                    }
                }
                _ => return Err(()),
            }
            if !run(&mut i) {
                return Err(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn norm(s: &str) -> String {
        Reference::parse_normalized(s).unwrap_or_else(|e| panic!("{s}: {e}")).to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("library/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("docker.io/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("index.docker.io/library/nginx:1"), "docker.io/library/nginx:1");
        assert_eq!(norm("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(norm("localhost/x"), "localhost/x:latest");
        assert_eq!(norm("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(norm("localhost:5000/x:v1"), "localhost:5000/x:v1");
        assert_eq!(norm("127.0.0.1:5000/a/b/c:t"), "127.0.0.1:5000/a/b/c:t");
        assert_eq!(norm("[::1]:5000/x"), "[::1]:5000/x:latest");
        assert_eq!(norm(&format!("ghcr.io/org/app@{D}")), format!("ghcr.io/org/app@{D}"));
        assert_eq!(norm(&format!("busybox:1.36@{D}")), format!("docker.io/library/busybox:1.36@{D}"));
        assert_eq!(norm("quay.io/a.b-c__d---e/f.g:Tag_1.x-y"), "quay.io/a.b-c__d---e/f.g:Tag_1.x-y");
        // A domain component may not hold an underscore.
        assert!(Reference::parse_normalized("a_b.com/x").is_err());
        // A first component with a '.' is a domain even when it looks like a name.
        assert_eq!(norm("foo.bar/baz"), "foo.bar/baz:latest");
        // An uppercase first component is a domain (Docker's rule), the path stays lowercase.
        assert_eq!(norm("Foo/bar"), "Foo/bar:latest");
        // Without a '/', a "host:port" is a name and a tag (Docker reads it the same way).
        assert_eq!(norm("localhost:5000"), "docker.io/library/localhost:5000");
        assert_eq!(norm("localhost"), "docker.io/library/localhost:latest");
        // Already normalised names are unchanged.
        assert_eq!(norm("docker.io/library/busybox:latest"), "docker.io/library/busybox:latest");
    }

    #[test]
    fn parts() {
        let r = Reference::parse_normalized(&format!("localhost:5000/ns/app:v2@{D}")).unwrap();
        assert_eq!(r.domain, "localhost:5000");
        assert_eq!(r.path, "ns/app");
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.object(), D);
        assert_eq!(r.tagged_name().as_deref(), Some("localhost:5000/ns/app:v2"));
        let r = Reference::parse_normalized("busybox").unwrap();
        assert_eq!(r.object(), "latest");
    }

    #[test]
    fn rejects_invalid() {
        let bad = [
            "",
            ":justtag",
            "@sha256:abc",
            "Uppercase",
            "docker.io/Library/busybox",
            "busybox:",
            "busybox:-tag",
            "busybox:tag with space",
            "-busybox",
            "busy--box_",
            "a//b",
            "a/",
            "busybox@sha256:123",
            "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "busybox@md5:",
            "localhost:/x",
            "localhost:abc/x",
            "-domain.com/x",
            "domain-.com/x",
            "a..b/c",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "busy___box",
            "a/b:c:d",
        ];
        for s in bad {
            assert!(Reference::parse_normalized(s).is_err(), "{s:?} should be rejected");
        }
        let long = format!("{}/{}", "a".repeat(200), "b".repeat(60));
        assert!(matches!(Reference::parse_normalized(&long), Err(ReferenceError::NameTooLong(_))));
        let tag129 = format!("busybox:{}", "t".repeat(129));
        assert!(matches!(Reference::parse_normalized(&tag129), Err(ReferenceError::InvalidTag(_))));
        assert!(Reference::parse_normalized(&format!("busybox:{}", "t".repeat(128))).is_ok());
    }

    #[test]
    fn digests() {
        assert!(validate_digest(D).is_ok());
        assert!(validate_digest("sha256:abc").is_err());
        assert!(validate_digest("sha256").is_err());
        assert!(validate_digest("multihash+base58:0123456789abcdef0123456789abcdef").is_ok());
        assert!(validate_digest("1sha:0123456789abcdef0123456789abcdef").is_err());
    }
}
