//! The agent's streaming server: the HTTPS endpoints kube-apiserver proxies `pods/log`,
//! `pods/exec` and `pods/attach` to, on the kubelet's paths.
//!
//! - `GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&timestamps=&sinceSeconds=&sinceTime=&limitBytes=&previous=`
//!   streams the container's CRI log files ([`logs`]).
//! - `GET /exec/{namespace}/{pod}/{container}?command=..&stdin=1&stdout=1&stderr=1&tty=1` and
//!   `GET /attach/{namespace}/{pod}/{container}?...` upgrade to a WebSocket speaking the
//!   `v5.channel.k8s.io` / `v4.channel.k8s.io` channel protocol ([`exec`]).
//!
//! Every request needs `Authorization: Bearer <token>` (the token the API server was given).
//! The server certificate is self-signed ([`tls`]): kube-apiserver does not verify kubelet
//! certificates unless told to.
//!
//! This module does not know pods: which container id and log file stand for a pod's
//! container is the pod workers' business, asked through [`ContainerLocator`]. It runs
//! containers' commands only through [`Runtime::exec`] and [`Runtime::attach`].

pub mod exec;
pub mod logs;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::runtime::Runtime;

/// Where a pod's container lives on this node, as the pod workers know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedContainer {
    /// The runtime's container id (for [`Runtime::exec`] and [`Runtime::attach`]).
    pub container_id: String,
    /// The container instance's current CRI log file (`.../<container>/<restartCount>.log`).
    pub log_path: PathBuf,
    /// Whether the container is running; `follow` ends once it is not and its log stops growing.
    pub running: bool,
}

/// Implemented by the pod workers: the container that stands for `namespace/pod/container`.
pub trait ContainerLocator: Send + Sync {
    /// The current instance of the container, or with `previous` the instance before the
    /// last restart. `None` when the pod or that instance is unknown on this node.
    fn locate(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> Option<LocatedContainer>;

    /// Why a container of a pod known on this node has no instance yet (`ContainerCreating`,
    /// `ImagePullBackOff`, ...), for the kubelet's "is waiting to start" message. `None` when
    /// the pod itself is unknown here.
    fn waiting_reason(&self, _namespace: &str, _pod: &str, _container: &str) -> Option<String> {
        None
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct ServerState {
    pub runtime: Arc<dyn Runtime>,
    pub locator: Arc<dyn ContainerLocator>,
    token: Arc<str>,
}

/// The routes, behind bearer-token authentication.
pub fn router(token: String, runtime: Arc<dyn Runtime>, locator: Arc<dyn ContainerLocator>) -> Router {
    let state = ServerState { runtime, locator, token: token.into() };
    Router::new()
        .route("/containerLogs/{namespace}/{pod}/{container}", get(logs::handle))
        .route("/exec/{namespace}/{pod}/{container}", get(exec::handle_exec).post(exec::handle_exec))
        .route("/attach/{namespace}/{pod}/{container}", get(exec::handle_attach).post(exec::handle_attach))
        .fallback(|| async { text_error(StatusCode::NOT_FOUND, "404 page not found") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// Serves `router` over TLS (HTTP/1.1 with upgrades, and HTTP/2) on `listener` until
/// `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    token: String,
    runtime: Arc<dyn Runtime>,
    locator: Arc<dyn ContainerLocator>,
    shutdown: CancellationToken,
) {
    let router = router(token, runtime, locator);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, _peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!("agent server: accept failed: {error}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else { return };
            let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                router.clone().oneshot(request.map(Body::new))
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

async fn authenticate(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), state.token.as_bytes()) => next.run(request).await,
        _ => {
            let message = unauthorized_message(presented.is_some());
            tracing::warn!("agent server: refused {} {}: {message}", request.method(), request.uri().path());
            text_error(StatusCode::UNAUTHORIZED, message)
        }
    }
}

/// Why a request was refused, for the 401's body and the agent's log. The API server presents
/// its join token (the server's `DATA_DIR/token`) to agents, so an agent that joined with
/// another valid token (typically the admin token of `kubeconfig.yaml`) registers fine and
/// only fails here, at the first `kubectl logs` or `exec`: say so, without revealing either
/// token.
fn unauthorized_message(token_presented: bool) -> &'static str {
    if token_presented {
        "Unauthorized: the bearer token is not the one this node agent joined with (peapod agent --token). \
         The API server presents its join token, the server's DATA_DIR/token, to agents: restart the agent \
         with --token set to the contents of that file (not the admin token of kubeconfig.yaml)"
    } else {
        "Unauthorized: no bearer token; this node agent expects the token it joined with (peapod agent --token), \
         which must be the server's join token, DATA_DIR/token on the server"
    }
}

/// Compares without an early exit, so response timing does not reveal a token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A plain-text error, as the kubelet writes them (the API server turns the body into the
/// `Status` message kubectl prints).
pub(crate) fn text_error(code: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message).into_response()
}

/// A kubelet boolean query parameter (`1`, `true`, ... as Go's `strconv.ParseBool`).
pub(crate) fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" | "" => Ok(false),
        other => Err(format!("invalid value {other:?} for query parameter {name}")),
    }
}

/// The query string's pairs, in order (repeated keys such as `command` kept).
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_go_parses_them() {
        assert_eq!(parse_bool("follow", "1"), Ok(true));
        assert_eq!(parse_bool("follow", "true"), Ok(true));
        assert_eq!(parse_bool("follow", "false"), Ok(false));
        assert!(parse_bool("follow", "yes").is_err());
    }

    #[test]
    fn repeated_query_keys_are_kept_in_order() {
        let pairs = query_pairs(Some("command=sh&command=-c&command=echo+hi%3B+exit+3&stdin=1"));
        let commands: Vec<&str> = pairs.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.as_str()).collect();
        assert_eq!(commands, ["sh", "-c", "echo hi; exit 3"]);
    }

    #[test]
    fn refusals_name_the_expected_token_and_the_fix() {
        let wrong = unauthorized_message(true);
        assert!(wrong.starts_with("Unauthorized: "), "{wrong}");
        assert!(wrong.contains("--token") && wrong.contains("DATA_DIR/token"), "{wrong}");
        assert!(wrong.contains("not the admin token of kubeconfig.yaml"), "{wrong}");
        let missing = unauthorized_message(false);
        assert!(missing.contains("no bearer token") && missing.contains("DATA_DIR/token"), "{missing}");
    }

    /// Through the router: a wrong token and a missing one get 401 with the explanation in the
    /// body (the API server passes an exec refusal's body on to kubectl); the right token passes
    /// authentication (then 404 here: no such route).
    #[tokio::test]
    async fn wrong_token_is_refused_with_the_explanation() {
        struct NoContainers;
        impl ContainerLocator for NoContainers {
            fn locate(&self, _: &str, _: &str, _: &str, _: bool) -> Option<LocatedContainer> {
                None
            }
        }
        let router = router("join-token".into(), Arc::new(crate::fake::FakeRuntime::new()), Arc::new(NoContainers));
        let call = |authorization: Option<&str>| {
            let mut builder = http::Request::builder().uri("/nothing-here");
            if let Some(value) = authorization {
                builder = builder.header(header::AUTHORIZATION, value);
            }
            let request = builder.body(Body::empty()).expect("request");
            router.clone().oneshot(request)
        };
        let body = |response: Response| async move {
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
            String::from_utf8_lossy(&bytes).into_owned()
        };

        let wrong = call(Some("Bearer admin-token")).await.expect("response");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(body(wrong).await, format!("{}\n", unauthorized_message(true)));

        let missing = call(None).await.expect("response");
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(body(missing).await, format!("{}\n", unauthorized_message(false)));

        let right = call(Some("Bearer join-token")).await.expect("response");
        assert_eq!(right.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
