//! Serving the router over TLS with HTTP/2 and HTTP/1.1 (with upgrades, for exec and attach),
//! and over a Unix socket without TLS for the server's own components, until cancelled.

use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Accepts connections on `listener` until `shutdown` is cancelled. Open connections (watches)
/// are closed when the process ends.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: axum::Router,
    shutdown: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, _peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!("accept failed: {error}");
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
            serve_connection(stream, router, shutdown).await;
        });
    }
}

/// Accepts connections on a Unix socket until `shutdown` is cancelled: the same router (and
/// authentication) as over TLS, for clients on this machine that can open the socket file.
pub async fn serve_unix(listener: UnixListener, router: axum::Router, shutdown: CancellationToken) {
    loop {
        let (stream, _peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!("accept on the unix socket failed: {error}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        tokio::spawn(serve_connection(stream, router.clone(), shutdown.clone()));
    }
}

/// HTTP/1.1 or HTTP/2 (detected) on one connection until it ends or `shutdown`.
async fn serve_connection<S>(stream: S, router: axum::Router, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        _ = shutdown.cancelled() => {}
    }
}
