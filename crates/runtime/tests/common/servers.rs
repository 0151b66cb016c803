//! In-test HTTP servers on loopback (hyper): a fault-injecting proxy in front of a registry
//! (503s, connections cut in a blob body, throttling) and a bearer-token server that signs
//! JWTs a `docker-registry` with `auth: token:` accepts.
#![allow(dead_code)]

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashSet;
use std::convert::Infallible;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Body = BoxBody<Bytes, io::Error>;

fn full(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}

/// Serves `handler` on a fresh loopback port, on the given runtime; returns the port.
fn serve<F, Fut>(rt: &tokio::runtime::Runtime, handler: F) -> u16
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    port
}

/// What the proxy saw: one line per request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
    pub cut: bool,
}

/// Faults the proxy injects.
#[derive(Default)]
pub struct Faults {
    /// Answer this many requests (the first ones) with 503.
    pub fail_first: AtomicUsize,
    /// Cut the connection halfway through the first full GET of each of these blobs.
    pub cut_blobs: Mutex<HashSet<String>>,
    /// Send blob bodies in 64 KiB pieces this far apart.
    pub throttle: Mutex<Option<Duration>>,
    /// Answer blob GETs with a 307 to `/cdn<path>` (as Docker Hub redirects to its CDN); the
    /// proxy serves `/cdn/...` from the upstream path.
    pub redirect_blobs: std::sync::atomic::AtomicBool,
}

/// A proxy in front of a registry that injects [`Faults`].
pub struct FaultProxy {
    pub port: u16,
    pub faults: Arc<Faults>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl FaultProxy {
    pub fn start(rt: &tokio::runtime::Runtime, upstream_port: u16) -> FaultProxy {
        let faults = Arc::new(Faults::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let (f, s) = (faults.clone(), seen.clone());
        let port = serve(rt, move |req| proxy(req, upstream_port, client.clone(), f.clone(), s.clone()));
        FaultProxy { port, faults, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn proxy(
    req: Request<Incoming>,
    upstream: u16,
    client: Client<HttpConnector, Empty<Bytes>>,
    faults: Arc<Faults>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Response<Body> {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).map(String::from);
    let record = |status: u16, cut: bool| {
        seen.lock().unwrap().push(Seen { path: path.clone(), range: range.clone(), status, cut });
    };
    let failing = faults.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if failing {
        record(503, false);
        return full(StatusCode::SERVICE_UNAVAILABLE, r#"{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}"#);
    }
    if faults.redirect_blobs.load(Ordering::SeqCst) && path.contains("/blobs/") && !path.starts_with("/cdn/") {
        record(307, false);
        let mut r = full(StatusCode::TEMPORARY_REDIRECT, "");
        if let Ok(v) = header::HeaderValue::from_str(&format!("/cdn{path}")) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    let upstream_path = path.strip_prefix("/cdn").filter(|p| p.starts_with('/')).unwrap_or(&path);
    let mut up = Request::builder().method(req.method()).uri(format!("http://127.0.0.1:{upstream}{upstream_path}"));
    for h in [header::ACCEPT, header::AUTHORIZATION, header::RANGE] {
        if let Some(v) = req.headers().get(&h) {
            up = up.header(h, v);
        }
    }
    let res = match client.request(up.body(Empty::new()).unwrap()).await {
        Ok(r) => r,
        Err(e) => return full(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    let (parts, body) = res.into_parts();
    let blob = path.rsplit_once("/blobs/").map(|(_, d)| d.to_string());
    let cut =
        parts.status == StatusCode::OK && blob.as_ref().is_some_and(|d| faults.cut_blobs.lock().unwrap().remove(d));
    let throttle = *faults.throttle.lock().unwrap();
    record(parts.status.as_u16(), cut);
    let body: Body = if cut || (blob.is_some() && throttle.is_some()) {
        let all = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return full(StatusCode::BAD_GATEWAY, &e.to_string()),
        };
        let mut frames: Vec<Result<Frame<Bytes>, io::Error>> = Vec::new();
        if cut {
            // Headers promise the whole blob (Content-Length); half comes, then the connection drops.
            frames.push(Ok(Frame::data(all.slice(..all.len() / 2))));
            frames.push(Err(io::Error::other("injected: connection cut mid-body")));
        } else {
            let mut at = 0;
            while at < all.len() {
                let end = (at + (64 << 10)).min(all.len());
                frames.push(Ok(Frame::data(all.slice(at..end))));
                at = end;
            }
        }
        let pause = if cut { None } else { throttle };
        let stream = futures::StreamExt::then(futures::stream::iter(frames), move |f| async move {
            if let Some(p) = pause {
                tokio::time::sleep(p).await;
            }
            f
        });
        StreamBody::new(stream).boxed()
    } else {
        body.map_err(io::Error::other).boxed()
    };
    Response::from_parts(parts, body)
}

/// A token server for `docker-registry`'s `auth: token:`: a self-signed RSA certificate (the
/// registry's `rootcertbundle`) and RS256 JWTs carrying it in `x5c`, signed with `openssl`.
/// Anonymous requests get pull access to `public/*` only (like Docker Hub: a token with no
/// access for anything else); basic auth as `user`/`s3cret` gets pull access to any repository;
/// other credentials get a 401.
/// (Authorization header, query string) of each token request, in order.
pub type TokenRequests = Arc<Mutex<Vec<(Option<String>, String)>>>;

pub struct TokenServer {
    pub port: u16,
    pub cert: PathBuf,
    /// (Authorization header, query) of each token request.
    pub requests: TokenRequests,
}

pub const TOKEN_SERVICE: &str = "peapod-test-registry";
pub const TOKEN_ISSUER: &str = "peapod-test-issuer";

impl TokenServer {
    pub fn start(rt: &tokio::runtime::Runtime, dir: &Path) -> TokenServer {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=peapod-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
        let der = Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(&cert).output().unwrap();
        assert!(der.status.success());
        let x5c = base64::engine::general_purpose::STANDARD.encode(&der.stdout);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let r = requests.clone();
        let port = serve(rt, move |req| {
            let (key, x5c, r) = (key.clone(), x5c.clone(), r.clone());
            async move { token(req, &key, &x5c, &r) }
        });
        TokenServer { port, cert, requests }
    }

    /// The registry configuration section trusting this server.
    pub fn registry_auth(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
            self.port,
            self.cert.display()
        )
    }

    pub fn requests(&self) -> Vec<(Option<String>, String)> {
        self.requests.lock().unwrap().clone()
    }
}

fn token(req: Request<Incoming>, key: &Path, x5c: &str, log: &Mutex<Vec<(Option<String>, String)>>) -> Response<Body> {
    let auth = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(String::from);
    let query = req.uri().query().unwrap_or("").to_string();
    log.lock().unwrap().push((auth.clone(), query.clone()));
    let param = |k: &str| {
        query.split('&').find_map(|kv| kv.strip_prefix(&format!("{k}="))).map(|v| {
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() {
                    out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        })
    };
    if param("service").as_deref() != Some(TOKEN_SERVICE) {
        return full(StatusCode::BAD_REQUEST, r#"{"details":"unknown service"}"#);
    }
    let user = match auth.as_deref().and_then(|a| a.strip_prefix("Basic ")) {
        None => None,
        Some(b64) => {
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default();
            if raw != b"user:s3cret" {
                return full(StatusCode::UNAUTHORIZED, r#"{"details":"incorrect username or password"}"#);
            }
            Some("user")
        }
    };
    let mut access = Vec::new();
    if let Some(scope) = param("scope") {
        let parts: Vec<&str> = scope.split(':').collect();
        if let [kind, name, _actions] = parts[..]
            && kind == "repository"
            && (user.is_some() || name.starts_with("public/"))
        {
            access.push(serde_json::json!({"type":"repository","name":name,"actions":["pull"]}));
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let head = serde_json::json!({"typ":"JWT","alg":"RS256","x5c":[x5c]});
    let claims = serde_json::json!({"iss":TOKEN_ISSUER,"sub":user.unwrap_or(""),"aud":TOKEN_SERVICE,
        "exp":now + 600,"nbf":now - 60,"iat":now - 60,"jti":format!("{now}-{}", access.len()),"access":access});
    let input = format!("{}.{}", b64(&serde_json::to_vec(&head).unwrap()), b64(&serde_json::to_vec(&claims).unwrap()));
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let jwt = format!("{input}.{}", b64(&out.stdout));
    full(StatusCode::OK, &serde_json::json!({"token": jwt, "expires_in": 600}).to_string())
}
