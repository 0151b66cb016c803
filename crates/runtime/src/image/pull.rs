//! Registry pulls over the OCI distribution protocol: anonymous, bearer token (the
//! `WWW-Authenticate` dance Docker Hub uses) and basic auth; Docker schema 2 and OCI manifests;
//! indexes and manifest lists (linux/amd64 picked); layers downloaded concurrently, each
//! verified against its digest and size while it is written; two pulls of the same blob share
//! one download; 5xx, 429 and dropped connections are retried with backoff, a blob download
//! resuming where it broke off (`Range`) when the registry allows. A pull killed midway leaves
//! only complete, verified blobs and `tmp/` garbage; the next pull removes that garbage (the
//! dead writer's temp files), reuses the blobs and fetches the rest.
//!
//! Endpoints and credentials come from [`Registries`] (mirrors first); pull-secret credentials
//! from the agent override them. This module writes only through [`ImageStore`].

use super::digest::digest_of;
use super::oci::{self, Index, Manifest};
use super::reference::Reference;
use super::registries::{Credentials, Endpoint, Registries};
use super::store::{ImageRecord, ImageStore, Ingest, StoreError};
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// Layers downloaded at once per pull.
const CONCURRENT_LAYERS: usize = 3;
/// Attempts per request on retryable failures.
const ATTEMPTS: u32 = 5;
/// Redirects followed per request (Go's net/http, which Docker uses, stops after 10).
const MAX_REDIRECTS: u32 = 10;
/// Largest manifest or index accepted (the distribution spec suggests 4 MiB).
const MAX_MANIFEST: usize = 4 << 20;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid image reference: {0}")]
    Reference(#[from] super::reference::ReferenceError),
    #[error("pulling {reference}: unauthorized at {endpoint}: {message}")]
    Unauthorized { reference: String, endpoint: String, message: String },
    #[error("pulling {reference}: not found at {endpoint}")]
    NotFound { reference: String, endpoint: String },
    #[error("{url}: HTTP {status}: {message}")]
    Status { url: String, status: u16, message: String },
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    #[error("blob {url}: content does not match its digest {expected} (got {actual}); refused")]
    BlobDigestMismatch { url: String, expected: String, actual: String },
    #[error("TLS configuration for {host}: {message}")]
    Tls { host: String, message: String },
    #[error("no endpoint could serve {reference}: {last}")]
    AllEndpointsFailed { reference: String, last: Box<PullError> },
}

impl PullError {
    fn retryable(&self) -> bool {
        match self {
            PullError::Status { status, .. } => *status >= 500 || *status == 429,
            PullError::Transport { .. } => true,
            _ => false,
        }
    }
}

/// What a pull reports as it goes (for a progress bar).
#[derive(Debug, Clone)]
pub enum Progress {
    /// The platform manifest is known: `layers` layers plus one config, `total_bytes` in all.
    Resolved { layers: usize, total_bytes: u64 },
    /// Bytes of a blob received so far (restarts from 0 when a retry cannot resume).
    Downloading { digest: String, done: u64, size: u64 },
    /// A blob is in the store; `cached` when it already was.
    LayerDone { digest: String, size: u64, cached: bool },
}

/// Per-pull options.
#[derive(Default, Clone)]
pub struct PullOptions {
    /// Credentials from a pull secret; they win over registries.yaml.
    pub credentials: Option<Credentials>,
    pub progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Blob downloads in flight, by digest: a second pull of the same blob waits for the first.
static INFLIGHT: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);

/// Pulls images into a store.
pub struct Puller {
    store: ImageStore,
    registries: Registries,
    clients: Mutex<HashMap<String, HttpsClient>>,
    /// Bearer tokens by (endpoint, scope).
    tokens: Mutex<HashMap<(String, String), String>>,
}

impl Puller {
    pub fn new(store: ImageStore, registries: Registries) -> Self {
        Self { store, registries, clients: Mutex::default(), tokens: Mutex::default() }
    }

    fn client(&self, ep: &Endpoint) -> Result<HttpsClient, PullError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&ep.host) {
            return Ok(c.clone());
        }
        let tls = tls_config(ep)?;
        let conn = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            // HTTP/1.1 only: over HTTP/2 a TLS alert that arrives after the handshake (a registry
            // refusing a missing client certificate, with TLS 1.3) reached the request only as
            // "channel closed"; over HTTP/1.1 it is "received fatal alert: BadCertificate".
            // Layers download in parallel over several connections either way.
            .enable_http1()
            .build();
        let c: HttpsClient = Client::builder(TokioExecutor::new()).build(conn);
        clients.insert(ep.host.clone(), c.clone());
        Ok(c)
    }

    /// Pulls `reference` (normalised first) and names it in the store.
    pub async fn pull(&self, reference: &str, opts: &PullOptions) -> Result<ImageRecord, PullError> {
        let r = Reference::parse_normalized(reference)?;
        // Temp files of a pull that was killed: nobody will commit them.
        match self.store.remove_stale_tmp() {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "removed temp files of dead writers"),
            Err(e) => tracing::warn!(error = %e, "cleaning the image store's tmp/"),
        }
        let mut last: Option<PullError> = None;
        for ep in self.registries.endpoints(&r.domain) {
            match self.pull_from(&r, &ep, opts).await {
                Ok(rec) => return Ok(rec),
                // A definite answer about credentials is not retried on another endpoint.
                Err(e @ PullError::Unauthorized { .. }) => return Err(e),
                Err(e) => {
                    tracing::debug!(endpoint = %ep.base, error = %e, "pull from endpoint failed");
                    // Report the most telling failure: a registry's answer beats a failed connect.
                    let keep_old = last.as_ref().is_some_and(|l| !matches!(l, PullError::Transport { .. }))
                        && matches!(e, PullError::Transport { .. });
                    if !keep_old {
                        last = Some(e);
                    }
                }
            }
        }
        Err(PullError::AllEndpointsFailed {
            reference: r.to_string(),
            last: Box::new(last.unwrap_or(PullError::Invalid { what: r.to_string(), message: "no endpoints".into() })),
        })
    }

    async fn pull_from(&self, r: &Reference, ep: &Endpoint, opts: &PullOptions) -> Result<ImageRecord, PullError> {
        let creds = opts.credentials.clone().or_else(|| ep.config.auth.as_ref().and_then(|a| a.credentials()));
        let ctx = Ctx { puller: self, ep, r, creds, progress: opts.progress.clone() };
        let (target_body, target_type) = ctx.manifest(r.object()).await?;
        let target = digest_of(&target_body);
        if let Some(d) = &r.digest
            && *d != target
        {
            return Err(StoreError::DigestMismatch { expected: d.clone(), actual: target }.into());
        }
        let _content = self.store.content_lock()?;
        let (manifest_body, manifest_digest) = if oci::is_index(target_type.as_deref(), &target_body) {
            let idx: Index = serde_json::from_slice(&target_body)
                .map_err(|e| PullError::Invalid { what: format!("index {target}"), message: e.to_string() })?;
            let d = idx.select_platform().ok_or_else(|| StoreError::NoMatchingPlatform(r.to_string()))?.digest.clone();
            let (b, _) = ctx.manifest(&d).await?;
            let got = digest_of(&b);
            if got != d {
                return Err(StoreError::DigestMismatch { expected: d, actual: got }.into());
            }
            (b, d)
        } else {
            (target_body.clone(), target.clone())
        };
        let m: Manifest = serde_json::from_slice(&manifest_body)
            .map_err(|e| PullError::Invalid { what: format!("manifest {manifest_digest}"), message: e.to_string() })?;
        if let Some(p) = &opts.progress {
            p(Progress::Resolved { layers: m.layers.len(), total_bytes: m.layers.iter().map(|l| l.size).sum() });
        }
        // Config and layers: concurrently, a few at a time.
        let mut blobs = vec![(m.config.digest.clone(), m.config.size)];
        blobs.extend(m.layers.iter().map(|l| (l.digest.clone(), l.size)));
        // The first failure ends the pull: the other downloads are dropped, and with them their
        // temp files.
        let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_LAYERS));
        futures::future::try_join_all(blobs.iter().map(|(d, size)| {
            let sem = sem.clone();
            let ctx = &ctx;
            async move {
                let _permit =
                    sem.acquire().await.map_err(|e| PullError::Invalid { what: d.clone(), message: e.to_string() })?;
                let cached = ctx.blob(d, *size).await?;
                if let Some(p) = &opts.progress {
                    p(Progress::LayerDone { digest: d.clone(), size: *size, cached });
                }
                Ok::<(), PullError>(())
            }
        }))
        .await?;
        self.store.write_blob(Some(&manifest_digest), &manifest_body)?;
        self.store.write_blob(Some(&target), &target_body)?;
        drop(_content);
        let name = match &r.tag {
            Some(t) => format!("{}:{t}", r.name()),
            None => r.with_digest(&target),
        };
        Ok(self.store.tag(&name, &target)?)
    }
}

/// One pull's view of one endpoint.
struct Ctx<'a> {
    puller: &'a Puller,
    ep: &'a Endpoint,
    r: &'a Reference,
    creds: Option<Credentials>,
    progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
}

/// Removes a blob's entry from [`INFLIGHT`] when its download ends, however it ends (a pull
/// dropped midway included).
struct InflightGuard<'a>(&'a str);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        INFLIGHT.lock().unwrap_or_else(|e| e.into_inner()).remove(self.0);
    }
}

impl Ctx<'_> {
    fn scope(&self) -> String {
        format!("repository:{}:pull", self.r.path)
    }

    /// GET with auth and retries; returns the response for a 2xx. `range_from > 0` asks for
    /// the bytes from that offset on (the answer may still be a whole 200).
    async fn get(
        &self,
        url: &str,
        accept: Option<&str>,
        range_from: u64,
    ) -> Result<http::Response<hyper::body::Incoming>, PullError> {
        let client = self.puller.client(self.ep)?;
        let mut attempt = 0;
        let mut authed_once = false;
        // Registries (Docker Hub among them) answer blob GETs with a redirect to a CDN.
        let mut current = url.to_string();
        let mut redirects = 0;
        loop {
            attempt += 1;
            // Credentials go only to the endpoint itself, never to where it redirects elsewhere.
            let auth = if same_origin(&current, &self.ep.base) { self.auth_header() } else { None };
            let mut req = Request::get(&current);
            if let Some(a) = accept {
                req = req.header(header::ACCEPT, a);
            }
            if let Some(a) = &auth {
                req = req.header(header::AUTHORIZATION, a);
            }
            if range_from > 0 {
                req = req.header(header::RANGE, format!("bytes={range_from}-"));
            }
            let req =
                req.body(Empty::new()).map_err(|e| PullError::Invalid { what: url.into(), message: e.to_string() })?;
            let res = match client.request(req).await {
                Ok(res) => res,
                Err(e) => {
                    let err = PullError::Transport { url: url.into(), message: error_chain(&e) };
                    // A failed connect (refused, TLS mismatch) goes to the next endpoint at once;
                    // a connection dropped mid-request is retried.
                    if !e.is_connect() && attempt < ATTEMPTS {
                        backoff(attempt).await;
                        continue;
                    }
                    return Err(err);
                }
            };
            let status = res.status();
            if status.is_success() {
                return Ok(res);
            }
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                redirects += 1;
                let location = res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok());
                let next = location.and_then(|l| resolve_location(&current, l)).ok_or_else(|| PullError::Invalid {
                    what: url.into(),
                    message: format!("HTTP {status} without a usable Location ({location:?})"),
                })?;
                if redirects > MAX_REDIRECTS {
                    return Err(PullError::Invalid { what: url.into(), message: "too many redirects".into() });
                }
                // Plain HTTP only where the configuration asked for it: no downgrade from https.
                if current.starts_with("https://") && !next.starts_with("https://") {
                    return Err(PullError::Invalid {
                        what: url.into(),
                        message: format!("refusing redirect from https to {next}"),
                    });
                }
                current = next;
                attempt -= 1;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED && !authed_once {
                authed_once = true;
                let challenge =
                    res.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(String::from);
                self.authenticate(challenge.as_deref()).await?;
                attempt -= 1;
                continue;
            }
            let message = body_message(res).await;
            let err = match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => PullError::Unauthorized {
                    reference: self.r.to_string(),
                    endpoint: self.ep.base.clone(),
                    message: if self.creds.is_some() {
                        format!("credentials rejected ({message})")
                    } else {
                        format!("authentication required, no credentials configured ({message})")
                    },
                },
                StatusCode::NOT_FOUND => {
                    PullError::NotFound { reference: self.r.to_string(), endpoint: self.ep.base.clone() }
                }
                s => PullError::Status { url: url.into(), status: s.as_u16(), message },
            };
            if err.retryable() && attempt < ATTEMPTS {
                backoff(attempt).await;
                continue;
            }
            return Err(err);
        }
    }

    fn auth_header(&self) -> Option<String> {
        let tokens = self.puller.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.get(&(self.ep.base.clone(), self.scope())).cloned()
    }

    /// Answers a `WWW-Authenticate` challenge: Basic with the credentials, or a Bearer token
    /// from the realm (with the credentials as basic auth, if any).
    async fn authenticate(&self, challenge: Option<&str>) -> Result<(), PullError> {
        let unauthorized = |message: String| PullError::Unauthorized {
            reference: self.r.to_string(),
            endpoint: self.ep.base.clone(),
            message,
        };
        let challenge = challenge.ok_or_else(|| unauthorized("401 without WWW-Authenticate".into()))?;
        let (scheme, params) = parse_challenge(challenge);
        let header = if scheme.eq_ignore_ascii_case("basic") {
            let c = self
                .creds
                .as_ref()
                .ok_or_else(|| unauthorized("authentication required, no credentials configured".into()))?;
            basic(c)
        } else if scheme.eq_ignore_ascii_case("bearer") {
            let realm = params.get("realm").ok_or_else(|| unauthorized("bearer challenge without realm".into()))?;
            let mut url = realm.clone();
            let mut q = form_query(&[("service", params.get("service").map(String::as_str))]);
            let scope = params.get("scope").cloned().unwrap_or_else(|| self.scope());
            q.push_str(&form_query(&[("scope", Some(&scope))]));
            if !q.is_empty() {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(q.trim_start_matches('&'));
            }
            let client = self.puller.client(self.ep)?;
            let mut req = Request::get(&url);
            if let Some(c) = &self.creds {
                req = req.header(header::AUTHORIZATION, basic(c));
            }
            let req =
                req.body(Empty::new()).map_err(|e| PullError::Invalid { what: url.clone(), message: e.to_string() })?;
            let res = client
                .request(req)
                .await
                .map_err(|e| PullError::Transport { url: url.clone(), message: error_chain(&e) })?;
            if !res.status().is_success() {
                let status = res.status();
                return Err(unauthorized(format!(
                    "token request to {realm}: HTTP {status}: {}",
                    body_message(res).await
                )));
            }
            let body = collect(res, MAX_MANIFEST, &url).await?;
            #[derive(serde::Deserialize)]
            struct Token {
                token: Option<String>,
                access_token: Option<String>,
            }
            let t: Token = serde_json::from_slice(&body).map_err(|e| unauthorized(format!("token response: {e}")))?;
            let t = t.token.or(t.access_token).ok_or_else(|| unauthorized("token response without token".into()))?;
            format!("Bearer {t}")
        } else {
            return Err(unauthorized(format!("unsupported auth scheme {scheme:?}")));
        };
        let mut tokens = self.puller.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.insert((self.ep.base.clone(), self.scope()), header);
        Ok(())
    }

    /// Fetches a manifest by tag or digest; returns its bytes and declared media type.
    async fn manifest(&self, object: &str) -> Result<(Vec<u8>, Option<String>), PullError> {
        let url = format!("{}/v2/{}/manifests/{object}", self.ep.base, self.r.path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let res = self.get(&url, Some(MANIFEST_ACCEPT), 0).await?;
            let ct = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
            // A connection dropped in the body is retried like one dropped before the headers.
            match collect(res, MAX_MANIFEST, &url).await {
                Ok(body) => return Ok((body, ct)),
                Err(e) if e.retryable() && attempt < ATTEMPTS => backoff(attempt).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// Ensures a blob is in the store; returns whether it already was.
    async fn blob(&self, digest: &str, size: u64) -> Result<bool, PullError> {
        self.puller.store.blob_path(digest)?;
        let gate = {
            let mut m = INFLIGHT.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(digest.to_string()).or_default().clone()
        };
        let _g = gate.lock().await;
        let _inflight = InflightGuard(digest);
        if self.puller.store.has_blob(digest) {
            return Ok(true);
        }
        let url = format!("{}/v2/{}/blobs/{digest}", self.ep.base, self.r.path);
        // One temp file across attempts, so a retry can resume where the last one broke off.
        let mut ing = self.puller.store.ingest()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.download(&mut ing, &url, digest, size).await {
                Ok(()) => break,
                Err(e) if e.retryable() && attempt < ATTEMPTS => {
                    tracing::debug!(%url, error = %e, attempt, "blob download failed, retrying");
                    backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        match ing.commit(Some(digest), Some(size)) {
            Ok(_) => Ok(false),
            Err(StoreError::DigestMismatch { expected, actual }) => {
                Err(PullError::BlobDigestMismatch { url, expected, actual })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One attempt at a blob: appends to `ing` from where it stands (a `Range` request), or
    /// starts it over when the registry answers with the whole blob.
    async fn download(&self, ing: &mut Ingest, url: &str, digest: &str, size: u64) -> Result<(), PullError> {
        let from = ing.written();
        let res = self.get(url, None, from).await?;
        if from > 0 {
            let resumed = res.status() == StatusCode::PARTIAL_CONTENT
                && res
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok())
                    == Some(from);
            if !resumed {
                if res.status() == StatusCode::PARTIAL_CONTENT {
                    // Some other range: drop it and ask for everything.
                    *ing = self.puller.store.ingest()?;
                    return Err(PullError::Transport {
                        url: url.into(),
                        message: format!("unexpected Content-Range for a request from byte {from}"),
                    });
                }
                // The registry sent the whole blob: start over.
                *ing = self.puller.store.ingest()?;
            }
        }
        let mut body = res.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| PullError::Transport { url: url.into(), message: error_chain(&e) })?;
            if let Ok(data) = frame.into_data() {
                if ing.written() + data.len() as u64 > size {
                    return Err(StoreError::SizeMismatch {
                        digest: digest.into(),
                        expected: size,
                        actual: ing.written() + data.len() as u64,
                    }
                    .into());
                }
                ing.write_all(&data).map_err(|e| StoreError::Io { context: format!("writing {digest}"), source: e })?;
                if let Some(p) = &self.progress {
                    p(Progress::Downloading { digest: digest.into(), done: ing.written(), size });
                }
            }
        }
        if ing.written() < size {
            // A body cut short without a framing error (a close-delimited response): retried.
            return Err(PullError::Transport {
                url: url.into(),
                message: format!("connection closed after {} of {size} bytes", ing.written()),
            });
        }
        Ok(())
    }
}

/// Whether `url` has the scheme and authority of `base` (`scheme://host[:port]`).
fn same_origin(url: &str, base: &str) -> bool {
    url.strip_prefix(base).is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

/// Resolves a `Location` header against the URL that answered with it: absolute http(s) URLs
/// as they are, `//host/path` with the current scheme, `/path` on the current origin.
fn resolve_location(current: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_string());
    }
    let (scheme, rest) = current.split_once("://")?;
    if let Some(net) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{net}"));
    }
    let authority = rest.split('/').next()?;
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    // Relative to the current path's directory (rare for registries).
    let path = &rest[authority.len()..];
    let path = path.split('?').next().unwrap_or(path);
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    Some(format!("{scheme}://{authority}{dir}/{location}"))
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(200u64 << attempt.min(6))).await;
}

fn basic(c: &Credentials) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password)))
}

fn form_query(pairs: &[(&str, Option<&str>)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        if let Some(v) = v {
            s.push('&');
            s.push_str(k);
            s.push('=');
            for b in v.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    s.push(b as char);
                } else {
                    s.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    s
}

/// Parses `Bearer realm="…",service="…",scope="…"` (quoted values may hold commas).
pub fn parse_challenge(h: &str) -> (String, HashMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            val = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        params.insert(key.trim().to_ascii_lowercase(), val);
    }
    (scheme.to_string(), params)
}

async fn collect(res: http::Response<hyper::body::Incoming>, max: usize, url: &str) -> Result<Vec<u8>, PullError> {
    let mut body = res.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| PullError::Transport { url: url.into(), message: error_chain(&e) })?;
        if let Ok(d) = frame.into_data() {
            if out.len() + d.len() > max {
                return Err(PullError::Invalid { what: url.into(), message: format!("larger than {max} bytes") });
            }
            out.extend_from_slice(&d);
        }
    }
    Ok(out)
}

/// The registry's error message (`{"errors":[{"code","message"}]}`), or the status text.
async fn body_message(res: http::Response<hyper::body::Incoming>) -> String {
    let status = res.status();
    let body = collect(res, 64 << 10, "").await.unwrap_or_default();
    error_message(&body).unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string())
}

/// The message in an error body: the distribution spec's `{"errors":[{"code","message"}]}`,
/// or what token servers send (`{"details"}` from Docker Hub's, OAuth's `{"error",
/// "error_description"}`).
fn error_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errs {
        #[serde(default)]
        errors: Vec<E>,
        details: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct E {
        code: Option<String>,
        message: Option<String>,
    }
    let e = serde_json::from_slice::<Errs>(body).ok()?;
    if !e.errors.is_empty() {
        return Some(
            e.errors
                .iter()
                .map(|x| format!("{}: {}", x.code.as_deref().unwrap_or(""), x.message.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    e.details.or(e.error_description).or(e.error).filter(|m| !m.is_empty())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// rustls client config for an endpoint: system roots plus `ca_file`; `insecure_skip_verify`
/// accepts any certificate (k3s semantics); `cert_file` with `key_file` is the client
/// certificate presented to registries that require one (mutual TLS).
fn tls_config(ep: &Endpoint) -> Result<rustls::ClientConfig, PullError> {
    use rustls_pki_types::pem::PemObject;
    let tls_err = |message: String| PullError::Tls { host: ep.host.clone(), message };
    let file_err = |path: &std::path::Path, e: &dyn std::fmt::Display| tls_err(format!("{}: {e}", path.display()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?;
    // The certificates of a PEM file: an unreadable file or one without any is an error.
    let certificates = |path: &std::path::Path| -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, PullError> {
        let certificates = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| file_err(path, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_err(path, &e))?;
        if certificates.is_empty() {
            return Err(file_err(path, &"no PEM certificate in the file"));
        }
        Ok(certificates)
    };
    let tls = ep.config.tls.clone().unwrap_or_default();
    // Read before anything else, so a wrong client certificate setting is reported as such
    // whatever else is configured.
    let client_identity = match (&tls.cert_file, &tls.key_file) {
        (None, None) => None,
        (Some(_), None) => return Err(tls_err("cert_file is set without key_file".into())),
        (None, Some(_)) => return Err(tls_err("key_file is set without cert_file".into())),
        (Some(cert_file), Some(key_file)) => {
            let chain = certificates(cert_file)?;
            let key = rustls_pki_types::PrivateKeyDer::from_pem_file(key_file).map_err(|e| file_err(key_file, &e))?;
            Some((cert_file, key_file, chain, key))
        }
    };
    let builder = if tls.insecure_skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
        if let Some(ca) = &tls.ca_file {
            for c in certificates(ca)? {
                roots.add(c).map_err(|e| file_err(ca, &e))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    match client_identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_file, key_file, chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            tls_err(format!("client certificate {} with key {}: {e}", cert_file.display(), key_file.display()))
        }),
    }
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The path of `registries.yaml` in a data dir.
pub fn registries_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("registries.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/busybox:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="basic-realm""#);
        assert_eq!(s, "Basic");
        assert_eq!(p["realm"], "basic-realm");
        assert_eq!(form_query(&[("scope", Some("repository:a/b:pull"))]), "&scope=repository%3Aa%2Fb%3Apull");
    }

    #[test]
    fn redirect_locations() {
        let cur = "https://registry-1.docker.io/v2/library/busybox/blobs/sha256:ab";
        assert_eq!(
            resolve_location(cur, "https://cdn.example.com/x?sig=1").as_deref(),
            Some("https://cdn.example.com/x?sig=1")
        );
        assert_eq!(resolve_location(cur, "//cdn.example.com/x").as_deref(), Some("https://cdn.example.com/x"));
        assert_eq!(resolve_location(cur, "/cdn/blob").as_deref(), Some("https://registry-1.docker.io/cdn/blob"));
        assert_eq!(
            resolve_location(cur, "other").as_deref(),
            Some("https://registry-1.docker.io/v2/library/busybox/blobs/other")
        );
        assert!(same_origin(cur, "https://registry-1.docker.io"));
        assert!(!same_origin("https://registry-1.docker.io.evil.com/x", "https://registry-1.docker.io"));
        assert!(!same_origin("https://cdn.example.com/x", "https://registry-1.docker.io"));
        assert!(!same_origin("http://registry-1.docker.io/x", "https://registry-1.docker.io"));
    }

    #[test]
    fn error_bodies() {
        let spec = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        assert_eq!(error_message(spec).as_deref(), Some("UNAUTHORIZED: authentication required"));
        let hub = br#"{"details":"incorrect username or password"}"#;
        assert_eq!(error_message(hub).as_deref(), Some("incorrect username or password"));
        let oauth = br#"{"error":"invalid_grant","error_description":"bad password"}"#;
        assert_eq!(error_message(oauth).as_deref(), Some("bad password"));
        assert_eq!(error_message(b"<html>"), None);
        assert_eq!(error_message(b"{}"), None);
    }
}
