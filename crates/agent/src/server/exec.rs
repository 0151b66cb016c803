//! `exec` and `attach` over WebSocket with Kubernetes' channel protocol (the kubelet's
//! `wsstream` server side), subprotocols `v5.channel.k8s.io` and `v4.channel.k8s.io`.
//!
//! Every WebSocket binary message starts with its channel byte:
//!
//! | channel | direction | content |
//! |---|---|---|
//! | 0 | client → server | stdin |
//! | 1 | server → client | stdout |
//! | 2 | server → client | stderr |
//! | 3 | server → client | the final `Status` JSON (exit code in `details.causes[ExitCode]`) |
//! | 4 | client → server | terminal size `{"Width":80,"Height":24}` |
//! | 255 | client → server | v5 only: `[255, channel]` half-closes `channel` (stdin EOF) |
//!
//! With v4 stdin ends only when the WebSocket closes. Pings are answered by the WebSocket
//! layer. The command runs through [`Runtime::exec`] / [`Runtime::attach`]; this module only
//! moves bytes between the socket and the streams it hands the runtime.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{ServerState, parse_bool, query_pairs, text_error};
use crate::runtime::{ExecStreams, Runtime, TerminalSize};

pub const V5_PROTOCOL: &str = "v5.channel.k8s.io";
pub const V4_PROTOCOL: &str = "v4.channel.k8s.io";

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// Buffer of each pipe between the socket and the runtime.
const PIPE_BUFFER: usize = 64 * 1024;
/// How long output still drains after the command returned (a runtime that leaked a stream
/// must not keep the session open forever).
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// What was asked for: the kubelet's `stdin`, `stdout`, `stderr`, `tty` and `command`
/// parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl StreamOptions {
    pub fn from_query(pairs: &[(String, String)], exec: bool) -> Result<StreamOptions, String> {
        let mut options = StreamOptions::default();
        for (key, value) in pairs {
            match key.as_str() {
                "command" => options.command.push(value.clone()),
                "input" | "stdin" => options.stdin = parse_bool(key, value)?,
                "output" | "stdout" => options.stdout = parse_bool(key, value)?,
                "error" | "stderr" => options.stderr = parse_bool(key, value)?,
                "tty" => options.tty = parse_bool(key, value)?,
                _ => {}
            }
        }
        if exec && options.command.is_empty() {
            return Err("you must specify at least one command for the container".into());
        }
        if !options.stdin && !options.stdout && !options.stderr {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        // A terminal merges stderr into stdout (the kubelet bypasses stderr with a TTY).
        if options.tty {
            options.stderr = false;
        }
        Ok(options)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exec,
    Attach,
}

pub async fn handle_exec(
    state: State<ServerState>,
    path: UrlPath<(String, String, String)>,
    query: RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    handle(state, path, query, upgrade, Kind::Exec).await
}

pub async fn handle_attach(
    state: State<ServerState>,
    path: UrlPath<(String, String, String)>,
    query: RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    handle(state, path, query, upgrade, Kind::Attach).await
}

async fn handle(
    State(state): State<ServerState>,
    UrlPath((namespace, pod, container)): UrlPath<(String, String, String)>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    kind: Kind,
) -> Response {
    let options = match StreamOptions::from_query(&query_pairs(query.as_deref()), kind == Kind::Exec) {
        Ok(options) => options,
        Err(message) => return text_error(StatusCode::BAD_REQUEST, message),
    };
    let located = match state.locator.locate(&namespace, &pod, &container, false) {
        Some(located) if located.running => located,
        // The CRI runtimes' wording, which kubectl prints after "unable to upgrade connection".
        _ => return text_error(StatusCode::NOT_FOUND, format!("container not found (\"{container}\")")),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return text_error(
                StatusCode::BAD_REQUEST,
                format!("only WebSocket streams ({V5_PROTOCOL}, {V4_PROTOCOL}) are supported: {rejection}"),
            );
        }
    };
    let upgrade = upgrade.protocols([V5_PROTOCOL, V4_PROTOCOL]);
    let Some(protocol) = upgrade.selected_protocol().and_then(|p| p.to_str().ok()).map(str::to_string) else {
        let requested: Vec<String> =
            upgrade.requested_protocols().filter_map(|p| p.to_str().ok()).map(str::to_string).collect();
        return text_error(
            StatusCode::BAD_REQUEST,
            format!("requested protocol(s) are not supported: {requested:?}; supports [{V5_PROTOCOL} {V4_PROTOCOL}]"),
        );
    };
    let runtime = state.runtime.clone();
    upgrade.on_upgrade(move |socket| async move {
        let session =
            Session { runtime, container_id: located.container_id, options, kind, v5: protocol == V5_PROTOCOL };
        session.run(socket).await;
    })
}

struct Session {
    runtime: Arc<dyn Runtime>,
    container_id: String,
    options: StreamOptions,
    kind: Kind,
    /// `v5.channel.k8s.io`: the client may half-close stdin with channel 255.
    v5: bool,
}

impl Session {
    async fn run(self, socket: WebSocket) {
        let (mut sink, mut incoming) = socket.split();
        let (to_client, mut outgoing) = mpsc::channel::<Message>(32);

        // The only writer of the socket; ends with a normal close once every sender is gone.
        let writer = tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                if sink.send(message).await.is_err() {
                    // The client is gone: keep draining so that producers never block.
                    while outgoing.recv().await.is_some() {}
                    return;
                }
            }
            let _ =
                sink.send(Message::Close(Some(axum::extract::ws::CloseFrame { code: 1000, reason: "".into() }))).await;
            let _ = sink.close().await;
        });

        let (stdin_writer, stdin_reader) = self.pipe(self.options.stdin);
        let (stdout_writer, stdout_reader) = self.pipe(self.options.stdout);
        let (stderr_writer, stderr_reader) = self.pipe(self.options.stderr);
        let (resize_sender, resize_receiver) = if self.options.tty {
            let (sender, receiver) = mpsc::channel(8);
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };

        let v5 = self.v5;
        let reader = tokio::spawn(async move {
            let mut stdin = stdin_writer;
            while let Some(Ok(message)) = incoming.next().await {
                let data = match message {
                    Message::Binary(data) => data,
                    Message::Close(_) => break,
                    _ => continue,
                };
                let Some((&channel, payload)) = data.split_first() else { continue };
                match channel {
                    STDIN => {
                        if let Some(pipe) = stdin.as_mut()
                            && pipe.write_all(payload).await.is_err()
                        {
                            // The command no longer reads its input.
                            stdin = None;
                        }
                    }
                    RESIZE => {
                        if let (Some(sender), Some(size)) = (resize_sender.as_ref(), parse_resize(payload)) {
                            // A slow runtime misses intermediate sizes, never the session.
                            let _ = sender.try_send(size);
                        }
                    }
                    CLOSE if v5 && payload.first() == Some(&STDIN) => stdin = None,
                    _ => {}
                }
            }
            // The socket closed: the command sees the end of its input.
        });

        let mut stdout_pump = pump(stdout_reader, STDOUT, to_client.clone());
        let mut stderr_pump = pump(stderr_reader, STDERR, to_client.clone());

        let streams = ExecStreams {
            stdin: stdin_reader.map(|r| Box::new(r) as _),
            stdout: stdout_writer.map(|w| Box::new(w) as _),
            stderr: stderr_writer.map(|w| Box::new(w) as _),
            tty: self.options.tty,
            resize: resize_receiver,
        };
        let outcome = match self.kind {
            Kind::Exec => self.runtime.exec(&self.container_id, &self.options.command, streams).await,
            Kind::Attach => self.runtime.attach(&self.container_id, streams).await.map(|()| 0),
        };
        // Everything the command wrote goes out before its status.
        let _ = tokio::time::timeout(DRAIN_GRACE, async {
            let _ = tokio::join!(&mut stdout_pump, &mut stderr_pump);
        })
        .await;
        stdout_pump.abort();
        stderr_pump.abort();
        let status = match outcome {
            Ok(code) => exit_status(code),
            Err(error) => internal_error_status(&format!("error executing command in container: {error}")),
        };
        let mut frame = vec![ERROR];
        frame.extend_from_slice(status.to_string().as_bytes());
        let _ = to_client.send(Message::Binary(Bytes::from(frame))).await;
        drop(to_client);
        reader.abort();
        let _ = writer.await;
    }

    /// A pipe between the socket and the runtime: (the end the writer holds, the reader's).
    fn pipe(&self, wanted: bool) -> (Option<tokio::io::DuplexStream>, Option<tokio::io::DuplexStream>) {
        if !wanted {
            return (None, None);
        }
        let (a, b) = tokio::io::duplex(PIPE_BUFFER);
        (Some(a), Some(b))
    }
}

/// Copies one output stream to the socket, each read as one message on `channel`.
fn pump(
    reader: Option<tokio::io::DuplexStream>,
    channel: u8,
    to_client: mpsc::Sender<Message>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut reader) = reader else { return };
        let mut buffer = vec![0u8; 32 * 1024];
        let mut client_gone = false;
        loop {
            let n = match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if client_gone {
                continue;
            }
            let mut frame = Vec::with_capacity(n + 1);
            frame.push(channel);
            frame.extend_from_slice(&buffer[..n]);
            client_gone = to_client.send(Message::Binary(Bytes::from(frame))).await.is_err();
        }
    })
}

/// `{"Width":80,"Height":24}`.
fn parse_resize(payload: &[u8]) -> Option<TerminalSize> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let dimension = |key: &str| value.get(key).and_then(Value::as_u64).and_then(|v| u16::try_from(v).ok());
    Some(TerminalSize { width: dimension("Width")?, height: dimension("Height")? })
}

/// The channel-3 status for an exit code: Success, or the kubelet's `NonZeroExitCode`
/// failure whose `ExitCode` cause kubectl turns into its own exit code.
pub fn exit_status(code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: exit status {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The channel-3 status of a runtime failure (`apierrors.NewInternalError`).
pub fn internal_error_status(message: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(query: &str, exec: bool) -> Result<StreamOptions, String> {
        StreamOptions::from_query(&query_pairs(Some(query)), exec)
    }

    #[test]
    fn stream_options() {
        let parsed = options("command=sh&command=-c&command=exit+3&stdin=1&stdout=1&stderr=1", true).unwrap();
        assert_eq!(parsed.command, ["sh", "-c", "exit 3"]);
        assert!(parsed.stdin && parsed.stdout && parsed.stderr && !parsed.tty);
        let tty = options("command=sh&stdin=true&stdout=true&stderr=true&tty=true", true).unwrap();
        assert!(tty.tty && !tty.stderr, "a terminal merges stderr");
        assert!(options("stdout=1", true).unwrap_err().contains("at least one command"));
        assert!(options("command=ls", true).unwrap_err().contains("at least 1 of stdin, stdout, stderr"));
        assert!(options("stdout=1", false).is_ok(), "attach takes no command");
        assert!(options("command=ls&stdout=perhaps", true).is_err());
    }

    #[test]
    fn statuses() {
        assert_eq!(exit_status(0), json!({"metadata": {}, "status": "Success"}));
        let failed = exit_status(3);
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0], json!({"reason": "ExitCode", "message": "3"}));
        assert_eq!(internal_error_status("boom")["reason"], "InternalError");
    }

    /// Commands of the test runtime: `cat` echoes its input (or says its input is still open
    /// after a moment), `fail` writes to both streams and exits 3.
    struct ScriptedRuntime;

    #[async_trait::async_trait]
    impl Runtime for ScriptedRuntime {
        fn runtime_version(&self) -> String {
            "scripted://0".into()
        }
        async fn image_status(&self, _: &str) -> crate::runtime::Result<Option<crate::runtime::ImageInfo>> {
            Ok(None)
        }
        async fn pull_image(
            &self,
            image: &str,
            _: &[crate::runtime::RegistryAuth],
        ) -> crate::runtime::Result<crate::runtime::ImageInfo> {
            Err(crate::runtime::RuntimeError::ImagePull(image.into()))
        }
        async fn list_images(&self) -> crate::runtime::Result<Vec<crate::runtime::ImageInfo>> {
            Ok(Vec::new())
        }
        async fn run_pod_sandbox(&self, _: &crate::runtime::SandboxConfig) -> crate::runtime::Result<()> {
            Ok(())
        }
        async fn stop_pod_sandbox(&self, _: &str) -> crate::runtime::Result<()> {
            Ok(())
        }
        async fn remove_pod_sandbox(&self, _: &str) -> crate::runtime::Result<()> {
            Ok(())
        }
        async fn list_pod_sandboxes(&self) -> crate::runtime::Result<Vec<String>> {
            Ok(Vec::new())
        }
        async fn remove_pod_logs(&self, _: &str) -> crate::runtime::Result<()> {
            Ok(())
        }
        async fn create_container(
            &self,
            _: &str,
            _: &crate::runtime::ContainerConfig,
        ) -> crate::runtime::Result<String> {
            Ok(String::new())
        }
        async fn start_container(&self, _: &str) -> crate::runtime::Result<()> {
            Ok(())
        }
        async fn stop_container(&self, _: &str, _: Duration) -> crate::runtime::Result<()> {
            Ok(())
        }
        async fn remove_container(&self, _: &str) -> crate::runtime::Result<()> {
            Ok(())
        }
        async fn list_containers(&self, _: &str) -> crate::runtime::Result<Vec<crate::runtime::ContainerStatus>> {
            Ok(Vec::new())
        }
        fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<crate::runtime::ContainerEvent> {
            tokio::sync::broadcast::channel(1).1
        }
        async fn exec_sync(
            &self,
            _: &str,
            _: &[String],
            _: Duration,
        ) -> crate::runtime::Result<crate::runtime::ExecOutput> {
            Err(crate::runtime::RuntimeError::Other("unused".into()))
        }
        async fn exec(&self, _: &str, command: &[String], mut streams: ExecStreams) -> crate::runtime::Result<i32> {
            let mut stdout = streams.stdout.take();
            match command.first().map(String::as_str) {
                Some("cat") => {
                    let mut input = Vec::new();
                    if let Some(mut stdin) = streams.stdin.take() {
                        let read = stdin.read_to_end(&mut input);
                        if tokio::time::timeout(Duration::from_millis(500), read).await.is_err() {
                            input.extend_from_slice(b"|stdin still open");
                        }
                    }
                    if let Some(out) = stdout.as_mut() {
                        out.write_all(&input).await.ok();
                    }
                    Ok(0)
                }
                Some("fail") => {
                    if let Some(out) = stdout.as_mut() {
                        out.write_all(b"out").await.ok();
                    }
                    if let Some(err) = streams.stderr.as_mut() {
                        err.write_all(b"err").await.ok();
                    }
                    Ok(3)
                }
                _ => Err(crate::runtime::RuntimeError::Other("no such command".into())),
            }
        }
        async fn attach(&self, _: &str, _: ExecStreams) -> crate::runtime::Result<()> {
            Ok(())
        }
    }

    struct OneContainer;

    impl super::super::ContainerLocator for OneContainer {
        fn locate(&self, _: &str, pod: &str, _: &str, _: bool) -> Option<super::super::LocatedContainer> {
            (pod == "p").then(|| super::super::LocatedContainer {
                container_id: "c1".into(),
                log_path: "/nonexistent/0.log".into(),
                running: true,
            })
        }
    }

    const TOKEN: &str = "t0ken";

    /// The router on plain HTTP (TLS is the listener's business, tested elsewhere).
    async fn start() -> u16 {
        let router = super::super::router(TOKEN.into(), Arc::new(ScriptedRuntime), Arc::new(OneContainer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        port
    }

    type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    async fn connect(port: u16, query: &str, protocols: &str) -> Result<(Socket, String), String> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{port}/exec/ns/p/c?{query}").into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        request.headers_mut().insert("sec-websocket-protocol", protocols.parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, response)) => {
                let protocol = response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                Ok((socket, protocol))
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
                Err(format!("{} {body}", response.status().as_u16()))
            }
            Err(other) => Err(other.to_string()),
        }
    }

    /// Everything the server sent per channel until it closed.
    async fn collect(socket: &mut Socket) -> std::collections::BTreeMap<u8, Vec<u8>> {
        use tokio_tungstenite::tungstenite::Message as Frame;
        let mut channels = std::collections::BTreeMap::<u8, Vec<u8>>::new();
        while let Some(Ok(frame)) = socket.next().await {
            match frame {
                Frame::Binary(data) => {
                    if let Some((&channel, payload)) = data.split_first() {
                        channels.entry(channel).or_default().extend_from_slice(payload);
                    }
                }
                Frame::Close(_) => break,
                _ => {}
            }
        }
        channels
    }

    async fn send(socket: &mut Socket, frame: &[u8]) {
        use tokio_tungstenite::tungstenite::Message as Frame;
        socket.send(Frame::Binary(Bytes::copy_from_slice(frame))).await.unwrap();
    }

    #[tokio::test]
    async fn v5_half_closes_stdin_and_reports_the_exit_code() {
        let port = start().await;
        let (mut socket, protocol) =
            connect(port, "command=cat&stdin=1&stdout=1", "v5.channel.k8s.io, v4.channel.k8s.io").await.unwrap();
        assert_eq!(protocol, V5_PROTOCOL);
        send(&mut socket, b"\x00hello ").await;
        send(&mut socket, b"\x00world").await;
        send(&mut socket, &[CLOSE, STDIN]).await;
        let channels = collect(&mut socket).await;
        assert_eq!(channels.get(&STDOUT).map(Vec::as_slice), Some(&b"hello world"[..]));
        let status: Value = serde_json::from_slice(&channels[&ERROR]).unwrap();
        assert_eq!(status, json!({"metadata": {}, "status": "Success"}));

        let (mut socket, _) = connect(port, "command=fail&stdout=1&stderr=1", V5_PROTOCOL).await.unwrap();
        let channels = collect(&mut socket).await;
        assert_eq!((channels[&STDOUT].as_slice(), channels[&STDERR].as_slice()), (&b"out"[..], &b"err"[..]));
        let status: Value = serde_json::from_slice(&channels[&ERROR]).unwrap();
        assert_eq!(status, exit_status(3));
    }

    #[tokio::test]
    async fn v4_keeps_stdin_open_until_the_socket_closes() {
        let port = start().await;
        let (mut socket, protocol) = connect(port, "command=cat&stdin=1&stdout=1", V4_PROTOCOL).await.unwrap();
        assert_eq!(protocol, V4_PROTOCOL);
        send(&mut socket, b"\x00abc").await;
        // Not a close in v4: an unknown channel, ignored.
        send(&mut socket, &[CLOSE, STDIN]).await;
        let channels = collect(&mut socket).await;
        assert_eq!(channels.get(&STDOUT).map(Vec::as_slice), Some(&b"abc|stdin still open"[..]));
        assert_eq!(serde_json::from_slice::<Value>(&channels[&ERROR]).unwrap()["status"], "Success");
    }

    #[tokio::test]
    async fn refusals_before_the_upgrade() {
        let port = start().await;
        let unsupported = connect(port, "command=cat&stdout=1", "channel.k8s.io").await.unwrap_err();
        assert!(unsupported.starts_with("400") && unsupported.contains("not supported"), "{unsupported}");
        let no_streams = connect(port, "command=cat", V5_PROTOCOL).await.unwrap_err();
        assert!(no_streams.starts_with("400"), "{no_streams}");
        let runtime_error = {
            let (mut socket, _) = connect(port, "command=nope&stdout=1", V5_PROTOCOL).await.unwrap();
            collect(&mut socket).await
        };
        let status: Value = serde_json::from_slice(&runtime_error[&ERROR]).unwrap();
        assert_eq!(status["reason"], "InternalError");
    }

    #[test]
    fn resize_messages() {
        assert_eq!(parse_resize(br#"{"Width":80,"Height":24}"#), Some(TerminalSize { width: 80, height: 24 }));
        assert_eq!(parse_resize(br#"{"Width":0,"Height":0}"#), Some(TerminalSize { width: 0, height: 0 }));
        assert_eq!(parse_resize(b"nonsense"), None);
        assert_eq!(parse_resize(br#"{"Width":99999999,"Height":1}"#), None);
    }
}
