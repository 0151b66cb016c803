//! Probes and lifecycle handlers: exec (exit code 0), httpGet (200 <= status < 400, against
//! the pod IP unless `host` is set), tcpSocket (the port accepts), grpc (the standard health
//! service answers `SERVING`), and for hooks also `sleep`. One probe run, with its timeout;
//! scheduling (initialDelay, period, thresholds) is the pod workers' business.
//!
//! Messages follow the kubelet's (`HTTP probe failed with statuscode: 500`,
//! `dial tcp 10.42.0.5:80: connect: connection refused`), since they end up in `Unhealthy`
//! events users read. Named ports (`port: http`) are resolved against the container's ports
//! by [`run_container_probe`] / [`run_container_handler`] (or [`resolve_probe_ports`]);
//! [`run_probe`] itself only takes numbers.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::{
    Container, ExecAction, GRPCAction, HTTPGetAction, LifecycleHandler, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::runtime::{Runtime, RuntimeError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    Success,
    /// The message goes into the `Unhealthy` event (`Liveness probe failed: ...`).
    Failure(String),
    /// No action (e.g. the container is not running).
    Unknown(String),
}

/// `User-Agent` of probe requests, as the kubelet sends it (`kube-probe/<major>.<minor>`).
pub const PROBE_USER_AGENT: &str = "kube-probe/1.33";
/// How much of a response body is read (the kubelet's `maxRespBodyLength`).
const MAX_BODY_BYTES: usize = 10 * 1024;
/// Redirects followed on the same host before giving up (Go's client default).
const MAX_REDIRECTS: usize = 10;

/// The probe's timeout (`timeoutSeconds`, default and minimum 1).
pub fn probe_timeout(probe: &Probe) -> Duration {
    Duration::from_secs(u64::try_from(probe.timeout_seconds.unwrap_or(1).max(1)).unwrap_or(1))
}

/// Runs one probe once.
pub async fn run_probe(
    runtime: &dyn Runtime,
    container_id: &str,
    pod_ip: Option<IpAddr>,
    probe: &Probe,
) -> ProbeResult {
    let timeout = probe_timeout(probe);
    if let Some(exec) = &probe.exec {
        return exec_probe(runtime, container_id, exec, timeout).await;
    }
    if let Some(action) = &probe.http_get {
        return match http_get(action, pod_ip, timeout).await {
            Ok(response) if (200..400).contains(&response.status) => ProbeResult::Success,
            Ok(response) => ProbeResult::Failure(format!("HTTP probe failed with statuscode: {}", response.status)),
            Err(message) => ProbeResult::Failure(message),
        };
    }
    if let Some(action) = &probe.tcp_socket {
        return match tcp_connect(action, pod_ip, timeout).await {
            Ok(()) => ProbeResult::Success,
            Err(message) => ProbeResult::Failure(message),
        };
    }
    if let Some(action) = &probe.grpc {
        return grpc_probe(action, pod_ip, timeout).await;
    }
    ProbeResult::Unknown("missing probe handler".to_string())
}

/// [`run_probe`] with named ports resolved against `container`'s ports first.
pub async fn run_container_probe(
    runtime: &dyn Runtime,
    container_id: &str,
    pod_ip: Option<IpAddr>,
    container: &Container,
    probe: &Probe,
) -> ProbeResult {
    match resolve_probe_ports(probe, container) {
        Ok(probe) => run_probe(runtime, container_id, pod_ip, &probe).await,
        Err(message) => ProbeResult::Failure(message),
    }
}

/// Runs a postStart or preStop handler; the error message goes into the
/// `FailedPostStartHook` / `FailedPreStopHook` event.
pub async fn run_handler(
    runtime: &dyn Runtime,
    container_id: &str,
    pod_ip: Option<IpAddr>,
    handler: &LifecycleHandler,
) -> Result<(), String> {
    if let Some(exec) = &handler.exec {
        let command = exec.command.clone().unwrap_or_default();
        // Hooks have no timeout of their own: the grace period bounds preStop, and postStart
        // runs as long as it needs. A day stands for "no limit" in the runtime's API.
        let output =
            runtime.exec_sync(container_id, &command, Duration::from_secs(86_400)).await.map_err(|e| e.to_string())?;
        if output.exit_code != 0 {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            return Err(format!("command '{}' exited with {}: {}", command.join(" "), output.exit_code, text));
        }
        return Ok(());
    }
    if let Some(action) = &handler.http_get {
        // The kubelet ignores the status of a hook's answer: only reaching it matters.
        return http_get(action, pod_ip, Duration::from_secs(86_400)).await.map(|_| ());
    }
    if let Some(sleep) = &handler.sleep {
        tokio::time::sleep(Duration::from_secs(u64::try_from(sleep.seconds).unwrap_or(0))).await;
        return Ok(());
    }
    if handler.tcp_socket.is_some() {
        // Deprecated and accepted by validation only for compatibility; the kubelet refuses it.
        return Err("invalid handler: tcpSocket is not supported for lifecycle hooks".to_string());
    }
    Err("invalid handler: no action set".to_string())
}

/// [`run_handler`] with named ports resolved against `container`'s ports first.
pub async fn run_container_handler(
    runtime: &dyn Runtime,
    container_id: &str,
    pod_ip: Option<IpAddr>,
    container: &Container,
    handler: &LifecycleHandler,
) -> Result<(), String> {
    let mut handler = handler.clone();
    if let Some(action) = handler.http_get.as_mut() {
        action.port = IntOrString::Int(i32::from(resolve_port(&action.port, container)?));
    }
    run_handler(runtime, container_id, pod_ip, &handler).await
}

/// A port number, or the `containerPort` of the container port with that name
/// (`couldn't find port: http in ...` otherwise, as the kubelet says).
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(number) => *number,
        IntOrString::String(text) => match text.parse::<i32>() {
            Ok(number) => number,
            Err(_) => container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(text.as_str()))
                .map(|p| p.container_port)
                .ok_or_else(|| format!("couldn't find port: {text} in container {:?}", container.name))?,
        },
    };
    u16::try_from(number).ok().filter(|n| *n > 0).ok_or_else(|| format!("invalid port number: {number}"))
}

/// The probe with its httpGet/tcpSocket port resolved to a number.
pub fn resolve_probe_ports(probe: &Probe, container: &Container) -> Result<Probe, String> {
    let mut probe = probe.clone();
    if let Some(action) = probe.http_get.as_mut() {
        action.port = IntOrString::Int(i32::from(resolve_port(&action.port, container)?));
    }
    if let Some(action) = probe.tcp_socket.as_mut() {
        action.port = IntOrString::Int(i32::from(resolve_port(&action.port, container)?));
    }
    Ok(probe)
}

fn numeric_port(port: &IntOrString) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(number) => *number,
        IntOrString::String(text) => text
            .parse::<i32>()
            .map_err(|_| format!("unresolved named port {text:?}: resolve it against the container"))?,
    };
    u16::try_from(number).ok().filter(|n| *n > 0).ok_or_else(|| format!("invalid port number: {number}"))
}

/// The address a probe targets: `host`, else the pod IP, else the node's loopback (a pod
/// without its own IP shares the node's network).
fn target_host(host: Option<&str>, pod_ip: Option<IpAddr>) -> String {
    match host.filter(|h| !h.is_empty()) {
        Some(host) => host.to_string(),
        None => pod_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)).to_string(),
    }
}

/// `host:port`, with brackets around an IPv6 address.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

async fn exec_probe(runtime: &dyn Runtime, container_id: &str, exec: &ExecAction, timeout: Duration) -> ProbeResult {
    let command = exec.command.clone().unwrap_or_default();
    let timed_out = || ProbeResult::Failure(format!("command {:?} timed out", command.join(" ")));
    // The runtime enforces the timeout; this bound only guards against one that does not.
    let guard = timeout + Duration::from_secs(2);
    match tokio::time::timeout(guard, runtime.exec_sync(container_id, &command, timeout)).await {
        Err(_) => timed_out(),
        Ok(Ok(output)) if output.exit_code == 0 => ProbeResult::Success,
        Ok(Ok(output)) => {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            ProbeResult::Failure(text)
        }
        Ok(Err(RuntimeError::NotFound(what))) => ProbeResult::Unknown(format!("{what} not found")),
        Ok(Err(error)) => {
            let message = error.to_string();
            if message.contains("timed out") || message.contains("timeout") {
                timed_out()
            } else {
                ProbeResult::Failure(message)
            }
        }
    }
}

/// What an HTTP GET got back.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    /// At most 10 KiB of the body.
    pub body: Vec<u8>,
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A parsed `http(s)://host:port/path?query` target.
#[derive(Debug, Clone)]
struct Target {
    https: bool,
    host: String,
    port: u16,
    path_and_query: String,
}

impl Target {
    fn url(&self) -> String {
        format!(
            "{}://{}{}",
            if self.https { "https" } else { "http" },
            join_host_port(&self.host, self.port),
            self.path_and_query
        )
    }
}

/// The kubelet's httpGet: GET with `User-Agent: kube-probe/..`, `Accept: */*` and the
/// probe's headers, following redirects that stay on the same host (up to 10); a redirect
/// elsewhere ends the probe with its 3xx answer (a success, as the kubelet's `Warning`).
pub async fn http_get(action: &HTTPGetAction, pod_ip: Option<IpAddr>, timeout: Duration) -> Result<HttpAnswer, String> {
    let port = numeric_port(&action.port)?;
    let https = match action.scheme.as_deref().unwrap_or("HTTP") {
        "HTTP" | "http" => false,
        "HTTPS" | "https" => true,
        other => return Err(format!("unsupported scheme {other:?}")),
    };
    let host = target_host(action.host.as_deref(), pod_ip);
    let mut path = action.path.clone().unwrap_or_default();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let mut target = Target { https, host, port, path_and_query: path };
    let headers: Vec<(String, String)> =
        action.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect();
    let first_url = target.url();
    let started = tokio::time::Instant::now();
    for _ in 0..=MAX_REDIRECTS {
        let remaining = timeout.saturating_sub(started.elapsed());
        let answer = match tokio::time::timeout(remaining, get_once(&target, &headers)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(message)) => return Err(format!("Get {:?}: {message}", target.url())),
            Err(_) => {
                return Err(format!(
                    "Get {:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    target.url()
                ));
            }
        };
        let redirect = matches!(answer.status, 301 | 302 | 303 | 307 | 308);
        let Some(location) = answer.location.as_deref().filter(|_| redirect) else {
            return Ok(HttpAnswer { status: answer.status, body: answer.body });
        };
        match resolve_redirect(&target, location) {
            Some(next) if next.host == target.host => target = next,
            // Elsewhere (or unparsable): the 3xx is the answer.
            _ => return Ok(HttpAnswer { status: answer.status, body: answer.body }),
        }
    }
    Err(format!("Get {first_url:?}: stopped after {MAX_REDIRECTS} redirects"))
}

/// A `Location` header against the current target: absolute `http(s)://` URLs, absolute
/// paths and relative paths.
fn resolve_redirect(current: &Target, location: &str) -> Option<Target> {
    let (https, rest) = if let Some(rest) = location.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = location.strip_prefix("https://") {
        (true, rest)
    } else if location.starts_with('/') {
        return Some(Target { path_and_query: location.to_string(), ..current.clone() });
    } else {
        let base = current.path_and_query.split('?').next().unwrap_or("/");
        let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
        return Some(Target { path_and_query: format!("{dir}{location}"), ..current.clone() });
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let default_port = if https { 443 } else { 80 };
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None => default_port,
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), port.parse().ok()?),
            None => (authority.to_string(), default_port),
        }
    };
    Some(Target { https, host, port, path_and_query: path })
}

struct RawAnswer {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

async fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let address = join_host_port(host, port);
    TcpStream::connect(&address).await.map_err(|e| dial_error(&address, &e))
}

/// Go's wording for a failed dial, which users know from the kubelet.
fn dial_error(address: &str, error: &std::io::Error) -> String {
    let reason = match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        std::io::ErrorKind::HostUnreachable => "no route to host".to_string(),
        std::io::ErrorKind::NetworkUnreachable => "network is unreachable".to_string(),
        _ => error.to_string(),
    };
    format!("dial tcp {address}: connect: {reason}")
}

async fn get_once(target: &Target, headers: &[(String, String)]) -> Result<RawAnswer, String> {
    let tcp = connect(&target.host, target.port).await?;
    let io: Box<dyn Stream> =
        if target.https { Box::new(tls_connect(tcp, &target.host).await?) } else { Box::new(tcp) };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut request = http::Request::get(target.path_and_query.as_str());
    let mut host_header = join_host_port(&target.host, target.port);
    let mut has_user_agent = false;
    let mut has_accept = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("host") {
            host_header = value.clone();
            continue;
        }
        has_user_agent |= name.eq_ignore_ascii_case("user-agent");
        has_accept |= name.eq_ignore_ascii_case("accept");
        request = request.header(name.as_str(), value.as_str());
    }
    if !has_user_agent {
        request = request.header(http::header::USER_AGENT, PROBE_USER_AGENT);
    }
    if !has_accept {
        request = request.header(http::header::ACCEPT, "*/*");
    }
    let request = request
        .header(http::header::HOST, host_header)
        .header(http::header::CONNECTION, "close")
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("invalid request: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let location = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    // Read at most the limit; a bigger body is cut, not an error.
    let mut body = Vec::new();
    let mut incoming = response.into_body();
    while body.len() < MAX_BODY_BYTES {
        match incoming.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let take = data.len().min(MAX_BODY_BYTES - body.len());
                    body.extend_from_slice(&data[..take]);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    driver.abort();
    Ok(RawAnswer { status, location, body })
}

async fn tls_connect(tcp: TcpStream, host: &str) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(client::AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|e| e.to_string())
}

async fn tcp_connect(action: &TCPSocketAction, pod_ip: Option<IpAddr>, timeout: Duration) -> Result<(), String> {
    let port = numeric_port(&action.port)?;
    let host = target_host(action.host.as_deref(), pod_ip);
    let address = join_host_port(&host, port);
    match tokio::time::timeout(timeout, TcpStream::connect(&address)).await {
        Ok(Ok(_stream)) => Ok(()),
        Ok(Err(error)) => Err(dial_error(&address, &error)),
        Err(_) => Err(format!("dial tcp {address}: i/o timeout")),
    }
}

/// The gRPC health checking protocol (`grpc.health.v1.Health/Check`) over plaintext HTTP/2,
/// with the kubelet's messages.
async fn grpc_probe(action: &GRPCAction, pod_ip: Option<IpAddr>, timeout: Duration) -> ProbeResult {
    let Ok(port) = u16::try_from(action.port) else {
        return ProbeResult::Failure(format!("invalid port number: {}", action.port));
    };
    let host = target_host(None, pod_ip);
    let address = join_host_port(&host, port);
    let service = action.service.clone().unwrap_or_default();
    match tokio::time::timeout(timeout, grpc_check(&host, port, &service)).await {
        Err(_) => {
            ProbeResult::Failure(format!("timeout: health rpc did not complete within {}s", timeout.as_secs().max(1)))
        }
        Ok(Err(GrpcError::Connect)) => ProbeResult::Failure(format!(
            "timeout: failed to connect service {address:?} within {}s",
            timeout.as_secs().max(1)
        )),
        Ok(Err(GrpcError::Rpc(message))) => ProbeResult::Failure(format!("error: health rpc probe failed: {message}")),
        Ok(Ok(1)) => ProbeResult::Success,
        Ok(Ok(status)) => {
            ProbeResult::Failure(format!("service unhealthy (responded with {:?})", serving_status_name(status)))
        }
    }
}

enum GrpcError {
    Connect,
    Rpc(String),
}

fn serving_status_name(status: u64) -> &'static str {
    match status {
        1 => "SERVING",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "UNKNOWN",
    }
}

/// One `Check` call; the `status` field of the answer (1 = SERVING).
async fn grpc_check(host: &str, port: u16, service: &str) -> Result<u64, GrpcError> {
    let tcp = TcpStream::connect(join_host_port(host, port)).await.map_err(|_| GrpcError::Connect)?;
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
        .await
        .map_err(|_| GrpcError::Connect)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    // HealthCheckRequest { string service = 1; } behind gRPC's 5-byte message prefix.
    let mut message = Vec::new();
    if !service.is_empty() {
        message.push(0x0a);
        put_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
    framed.extend_from_slice(&message);
    let request = http::Request::post(format!("http://{}/grpc.health.v1.Health/Check", join_host_port(host, port)))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header("te", "trailers")
        .header(http::header::USER_AGENT, PROBE_USER_AGENT)
        .body(Full::new(Bytes::from(framed)))
        .map_err(|e| GrpcError::Rpc(e.to_string()))?;
    let result = async {
        let response = sender.send_request(request).await.map_err(|e| GrpcError::Rpc(e.to_string()))?;
        let headers = response.headers().clone();
        let collected =
            Limited::new(response.into_body(), 64 * 1024).collect().await.map_err(|e| GrpcError::Rpc(e.to_string()))?;
        let trailers = collected.trailers().cloned();
        let grpc_status = trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status"))
            .or_else(|| headers.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if grpc_status != "0" {
            let message = trailers
                .as_ref()
                .and_then(|t| t.get("grpc-message"))
                .or_else(|| headers.get("grpc-message"))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            return Err(GrpcError::Rpc(format!("rpc error: code = {grpc_status} desc = {message}")));
        }
        let body = collected.to_bytes();
        let payload = body.get(5..).unwrap_or(&[]);
        Ok(read_status_field(payload))
    }
    .await;
    driver.abort();
    result
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// `HealthCheckResponse.status` (field 1, varint); 0 (UNKNOWN) when absent or unreadable.
fn read_status_field(message: &[u8]) -> u64 {
    let mut at = 0;
    while at < message.len() {
        let Some(key) = read_varint(message, &mut at) else { return 0 };
        match (key >> 3, key & 7) {
            (1, 0) => return read_varint(message, &mut at).unwrap_or(0),
            (_, 0) => {
                if read_varint(message, &mut at).is_none() {
                    return 0;
                }
            }
            (_, 2) => {
                let Some(len) = read_varint(message, &mut at) else { return 0 };
                at = at.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
            }
            (_, 1) => at += 8,
            (_, 5) => at += 4,
            _ => return 0,
        }
    }
    0
}
