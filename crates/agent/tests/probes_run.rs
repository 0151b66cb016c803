//! Probes and handlers: exec through a fake runtime's `exec_sync`; httpGet (HTTP and HTTPS),
//! tcpSocket and grpc against listeners started on 127.0.0.1; httpGet and sleep handlers.

/// A runtime whose only working call is `exec_sync`, answering from a script keyed by the
/// command's first word.
mod fake {
    use std::time::Duration;

    use agent::runtime::*;
    use async_trait::async_trait;
    use tokio::sync::broadcast;

    pub struct FakeRuntime;

    fn unused<T>() -> Result<T> {
        Err(RuntimeError::Other("not used by probes".into()))
    }

    #[async_trait]
    impl Runtime for FakeRuntime {
        fn runtime_version(&self) -> String {
            "fake://0".into()
        }
        async fn image_status(&self, _: &str) -> Result<Option<ImageInfo>> {
            unused()
        }
        async fn pull_image(&self, _: &str, _: &[RegistryAuth]) -> Result<ImageInfo> {
            unused()
        }
        async fn list_images(&self) -> Result<Vec<ImageInfo>> {
            unused()
        }
        async fn run_pod_sandbox(&self, _: &SandboxConfig) -> Result<()> {
            unused()
        }
        async fn stop_pod_sandbox(&self, _: &str) -> Result<()> {
            unused()
        }
        async fn remove_pod_sandbox(&self, _: &str) -> Result<()> {
            unused()
        }
        async fn list_pod_sandboxes(&self) -> Result<Vec<String>> {
            unused()
        }
        async fn remove_pod_logs(&self, _: &str) -> Result<()> {
            unused()
        }
        async fn create_container(&self, _: &str, _: &ContainerConfig) -> Result<String> {
            unused()
        }
        async fn start_container(&self, _: &str) -> Result<()> {
            unused()
        }
        async fn stop_container(&self, _: &str, _: Duration) -> Result<()> {
            unused()
        }
        async fn remove_container(&self, _: &str) -> Result<()> {
            unused()
        }
        async fn list_containers(&self, _: &str) -> Result<Vec<ContainerStatus>> {
            unused()
        }
        fn subscribe_events(&self) -> broadcast::Receiver<ContainerEvent> {
            broadcast::channel(1).1
        }
        /// `true` exits 0; `false` exits 1 with output; `sleep` never answers (a runtime that
        /// ignores its timeout); `timeout` reports the runtime's own timeout; anything in a
        /// container named `gone` is not found.
        async fn exec_sync(&self, container_id: &str, command: &[String], timeout: Duration) -> Result<ExecOutput> {
            if container_id == "gone" {
                return Err(RuntimeError::NotFound(format!("container {container_id}")));
            }
            let output = |exit_code: i32, stdout: &str, stderr: &str| {
                Ok(ExecOutput { exit_code, stdout: stdout.as_bytes().to_vec(), stderr: stderr.as_bytes().to_vec() })
            };
            match command.first().map(String::as_str) {
                Some("true") => output(0, "", ""),
                Some("false") => output(1, "not ready\n", "boom\n"),
                Some("sleep") => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    output(0, "", "")
                }
                Some("timeout") => Err(RuntimeError::Other(format!("command timed out after {timeout:?}"))),
                _ => Err(RuntimeError::Other("exec failed: no such file".into())),
            }
        }
        async fn exec(&self, _: &str, _: &[String], _: ExecStreams) -> Result<i32> {
            unused()
        }
        async fn attach(&self, _: &str, _: ExecStreams) -> Result<()> {
            unused()
        }
    }
}

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::probes::{
    ProbeResult, http_get, resolve_port, run_container_handler, run_container_probe, run_handler, run_probe,
};
use bytes::Bytes;
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const LOCALHOST: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));

/// Requests seen by the test server: request line and headers.
type Seen = Arc<Mutex<Vec<Vec<String>>>>;

/// A tiny HTTP/1.1 server: `/ok` 200, `/fail` 500, `/redirect` → `/ok`, `/offsite` → another
/// host, `/loop` → itself, `/slow` answers after 3 s, `/notfound` 404.
async fn http_server(tls: Option<tokio_rustls::TlsAcceptor>) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let record = record.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve_one(stream, port, record).await;
                        }
                    }
                    None => serve_one(stream, port, record).await,
                }
            });
        }
    });
    (port, seen)
}

async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(stream: S, port: u16, seen: Seen) {
    let mut reader = BufReader::new(stream);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let path = lines.first().and_then(|l| l.split(' ').nth(1)).unwrap_or("/").to_string();
    seen.lock().expect("lock").push(lines);
    let (status, extra) = match path.as_str() {
        "/ok" | "/ok?x=1" => ("200 OK", String::new()),
        "/fail" => ("500 Internal Server Error", String::new()),
        "/redirect" => ("302 Found", "Location: /ok\r\n".to_string()),
        "/absolute" => ("301 Moved Permanently", format!("Location: http://127.0.0.1:{port}/ok\r\n")),
        "/offsite" => ("302 Found", "Location: http://elsewhere.invalid/ok\r\n".to_string()),
        "/loop" => ("302 Found", "Location: /loop\r\n".to_string()),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            ("200 OK", String::new())
        }
        _ => ("404 Not Found", String::new()),
    };
    let body = "hello";
    let response =
        format!("HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let mut stream = reader.into_inner();
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn http_probe(path: &str, port: IntOrString, extra: serde_json::Value) -> Probe {
    let mut action = json!({"path": path, "port": port});
    if let (Some(action), Some(extra)) = (action.as_object_mut(), extra.as_object()) {
        action.extend(extra.clone());
    }
    serde_json::from_value(json!({"httpGet": action, "timeoutSeconds": 1})).expect("probe")
}

fn container(ports: serde_json::Value) -> Container {
    serde_json::from_value(json!({"name": "web", "ports": ports})).expect("container")
}

#[tokio::test]
async fn http_get_probe() {
    let runtime = fake::FakeRuntime;
    let (port, seen) = http_server(None).await;
    let p = IntOrString::Int(i32::from(port));
    let run = |path: &str| {
        let probe = http_probe(path, p.clone(), json!({}));
        let runtime = &runtime;
        async move { run_probe(runtime, "c1", LOCALHOST, &probe).await }
    };
    assert_eq!(run("/ok").await, ProbeResult::Success);
    assert_eq!(run("/ok?x=1").await, ProbeResult::Success, "the query string is kept");
    assert_eq!(run("/fail").await, ProbeResult::Failure("HTTP probe failed with statuscode: 500".into()));
    assert_eq!(run("/notfound").await, ProbeResult::Failure("HTTP probe failed with statuscode: 404".into()));
    // Redirects on the same host are followed; elsewhere the 3xx itself counts as success.
    assert_eq!(run("/redirect").await, ProbeResult::Success);
    assert_eq!(run("/absolute").await, ProbeResult::Success);
    assert_eq!(run("/offsite").await, ProbeResult::Success);
    let before = seen.lock().expect("lock").len();
    match run("/loop").await {
        ProbeResult::Failure(message) => assert!(message.ends_with("stopped after 10 redirects"), "{message}"),
        other => panic!("redirect loop: {other:?}"),
    }
    assert_eq!(seen.lock().expect("lock").len() - before, 11, "the first request and 10 redirects");
    // The timeout.
    let started = Instant::now();
    match run("/slow").await {
        ProbeResult::Failure(message) => {
            assert_eq!(
                message,
                format!(
                    "Get \"http://127.0.0.1:{port}/slow\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                )
            );
        }
        other => panic!("slow: {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(2500), "the 1 s timeout was applied");

    // Headers: the kubelet's defaults, the probe's own, and Host overriding the authority.
    let probe = http_probe(
        "/ok",
        p.clone(),
        json!({"httpHeaders": [{"name": "X-Custom", "value": "yes"}, {"name": "Host", "value": "web.example"}]}),
    );
    assert_eq!(run_probe(&runtime, "c1", LOCALHOST, &probe).await, ProbeResult::Success);
    let last = seen.lock().expect("lock").last().cloned().expect("request");
    assert_eq!(last[0], "GET /ok HTTP/1.1");
    let has = |header: &str| last.iter().any(|l| l.eq_ignore_ascii_case(header));
    assert!(has("user-agent: kube-probe/1.33"), "{last:?}");
    assert!(has("accept: */*"), "{last:?}");
    assert!(has("x-custom: yes"), "{last:?}");
    assert!(has("host: web.example"), "{last:?}");

    // The pod IP is the default host; an explicit host wins.
    let probe = http_probe("/ok", p.clone(), json!({"host": "127.0.0.1"}));
    assert_eq!(run_probe(&runtime, "c1", Some("192.0.2.1".parse().expect("ip")), &probe).await, ProbeResult::Success);

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let probe = http_probe("/", IntOrString::Int(i32::from(closed)), json!({}));
    assert_eq!(
        run_probe(&runtime, "c1", LOCALHOST, &probe).await,
        ProbeResult::Failure(format!(
            "Get \"http://127.0.0.1:{closed}/\": dial tcp 127.0.0.1:{closed}: connect: connection refused"
        ))
    );
}

#[tokio::test]
async fn named_ports() {
    let runtime = fake::FakeRuntime;
    let (port, _) = http_server(None).await;
    let web = container(json!([{"name": "http", "containerPort": port}, {"name": "admin", "containerPort": 9}]));
    assert_eq!(resolve_port(&IntOrString::String("http".into()), &web), Ok(port));
    assert_eq!(resolve_port(&IntOrString::Int(8080), &web), Ok(8080));
    assert!(
        resolve_port(&IntOrString::String("nope".into()), &web)
            .expect_err("unknown")
            .contains("couldn't find port: nope")
    );
    assert!(resolve_port(&IntOrString::Int(0), &web).is_err());
    let probe = http_probe("/ok", IntOrString::String("http".into()), json!({}));
    assert_eq!(run_container_probe(&runtime, "c1", LOCALHOST, &web, &probe).await, ProbeResult::Success);
    // run_probe alone cannot resolve a name: a failure, not a panic.
    assert!(matches!(run_probe(&runtime, "c1", LOCALHOST, &probe).await, ProbeResult::Failure(_)));
    let handler: LifecycleHandler =
        serde_json::from_value(json!({"httpGet": {"path": "/fail", "port": "http"}})).expect("handler");
    assert_eq!(run_container_handler(&runtime, "c1", LOCALHOST, &web, &handler).await, Ok(()));
}

#[tokio::test]
async fn https_probe_skips_verification() {
    let runtime = fake::FakeRuntime;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let (port, _) = http_server(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await;
    let probe = http_probe("/ok", IntOrString::Int(i32::from(port)), json!({"scheme": "HTTPS"}));
    assert_eq!(run_probe(&runtime, "c1", LOCALHOST, &probe).await, ProbeResult::Success);
    let probe = http_probe("/fail", IntOrString::Int(i32::from(port)), json!({"scheme": "HTTPS"}));
    assert_eq!(
        run_probe(&runtime, "c1", LOCALHOST, &probe).await,
        ProbeResult::Failure("HTTP probe failed with statuscode: 500".into())
    );
}

#[tokio::test]
async fn tcp_socket_probe() {
    let runtime = fake::FakeRuntime;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let probe: Probe = serde_json::from_value(json!({"tcpSocket": {"port": port}})).expect("probe");
    assert_eq!(run_probe(&runtime, "c1", LOCALHOST, &probe).await, ProbeResult::Success);
    let named: Probe = serde_json::from_value(json!({"tcpSocket": {"port": "db"}})).expect("probe");
    let db = container(json!([{"name": "db", "containerPort": port}]));
    assert_eq!(run_container_probe(&runtime, "c1", LOCALHOST, &db, &named).await, ProbeResult::Success);
    drop(listener);
    assert_eq!(
        run_probe(&runtime, "c1", LOCALHOST, &probe).await,
        ProbeResult::Failure(format!("dial tcp 127.0.0.1:{port}: connect: connection refused"))
    );
}

#[tokio::test]
async fn http_handler_and_sleep() {
    let runtime = fake::FakeRuntime;
    let (port, seen) = http_server(None).await;
    let handler: LifecycleHandler =
        serde_json::from_value(json!({"httpGet": {"path": "/fail", "port": port}})).expect("handler");
    assert_eq!(run_handler(&runtime, "c1", LOCALHOST, &handler).await, Ok(()), "a hook ignores the status code");
    assert!(seen.lock().expect("lock").iter().any(|r| r[0] == "GET /fail HTTP/1.1"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let handler: LifecycleHandler =
        serde_json::from_value(json!({"httpGet": {"path": "/", "port": closed}})).expect("handler");
    assert!(
        run_handler(&runtime, "c1", LOCALHOST, &handler).await.expect_err("refused").contains("connection refused")
    );
    let sleep: LifecycleHandler = serde_json::from_value(json!({"sleep": {"seconds": 1}})).expect("sleep");
    let started = Instant::now();
    assert_eq!(run_handler(&runtime, "c1", LOCALHOST, &sleep).await, Ok(()));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(run_handler(&runtime, "c1", LOCALHOST, &LifecycleHandler::default()).await.is_err());
    // A direct GET returns the status and (bounded) body.
    let action = serde_json::from_value(json!({"path": "/ok", "port": port})).expect("action");
    let answer = http_get(&action, LOCALHOST, Duration::from_secs(1)).await.expect("get");
    assert_eq!((answer.status, answer.body.as_slice()), (200, b"hello".as_slice()));
}

/// A gRPC health server answering `status` for any service.
async fn grpc_server(status: u8) -> u16 {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| async move {
                        assert_eq!(request.uri().path(), "/grpc.health.v1.Health/Check");
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                        // HealthCheckResponse { status = field 1 varint } behind the 5-byte prefix.
                        let message = Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]);
                        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
                            vec![Ok(Frame::data(message)), Ok(Frame::trailers(trailers))];
                        let body = StreamBody::new(futures::stream::iter(frames));
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/grpc")
                                .body(body)
                                .expect("response"),
                        )
                    });
                let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn grpc_probe() {
    let runtime = fake::FakeRuntime;
    let serving = grpc_server(1).await;
    let probe: Probe = serde_json::from_value(json!({"grpc": {"port": serving}})).expect("probe");
    assert_eq!(run_probe(&runtime, "c1", LOCALHOST, &probe).await, ProbeResult::Success);
    let not_serving = grpc_server(2).await;
    let probe: Probe = serde_json::from_value(json!({"grpc": {"port": not_serving, "service": "db"}})).expect("probe");
    assert_eq!(
        run_probe(&runtime, "c1", LOCALHOST, &probe).await,
        ProbeResult::Failure("service unhealthy (responded with \"NOT_SERVING\")".into())
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let probe: Probe = serde_json::from_value(json!({"grpc": {"port": closed}})).expect("probe");
    assert_eq!(
        run_probe(&runtime, "c1", LOCALHOST, &probe).await,
        ProbeResult::Failure(format!("timeout: failed to connect service \"127.0.0.1:{closed}\" within 1s"))
    );
}

fn exec_probe(command: &[&str], timeout_seconds: i32) -> Probe {
    serde_json::from_value(json!({"exec": {"command": command}, "timeoutSeconds": timeout_seconds})).expect("probe")
}

#[tokio::test]
async fn exec_probe_results() {
    let runtime = fake::FakeRuntime;
    assert_eq!(run_probe(&runtime, "c1", None, &exec_probe(&["true"], 1)).await, ProbeResult::Success);
    assert_eq!(
        run_probe(&runtime, "c1", None, &exec_probe(&["false"], 1)).await,
        ProbeResult::Failure("not ready\nboom\n".into()),
        "a failing command's output is the message"
    );
    assert_eq!(
        run_probe(&runtime, "c1", None, &exec_probe(&["timeout", "x"], 1)).await,
        ProbeResult::Failure("command \"timeout x\" timed out".into())
    );
    assert!(matches!(run_probe(&runtime, "gone", None, &exec_probe(&["true"], 1)).await, ProbeResult::Unknown(_)));
    assert!(matches!(run_probe(&runtime, "c1", None, &exec_probe(&["nope"], 1)).await, ProbeResult::Failure(_)));
    assert!(matches!(run_probe(&runtime, "c1", None, &Probe::default()).await, ProbeResult::Unknown(_)));
}

#[tokio::test]
async fn exec_probe_bounds_a_runtime_that_ignores_its_timeout() {
    let runtime = fake::FakeRuntime;
    let started = Instant::now();
    let result = run_probe(&runtime, "c1", None, &exec_probe(&["sleep", "100"], 1)).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(result, ProbeResult::Failure("command \"sleep 100\" timed out".into()));
}

#[tokio::test]
async fn exec_handler() {
    let runtime = fake::FakeRuntime;
    let handler = |command: &[&str]| -> LifecycleHandler {
        serde_json::from_value(json!({"exec": {"command": command}})).expect("handler")
    };
    assert_eq!(run_handler(&runtime, "c1", None, &handler(&["true"])).await, Ok(()));
    assert_eq!(
        run_handler(&runtime, "c1", None, &handler(&["false", "now"])).await,
        Err("command 'false now' exited with 1: not ready\nboom\n".into())
    );
    assert!(run_handler(&runtime, "gone", None, &handler(&["true"])).await.is_err());
}
