//! One HTTPS connection (TLS + HTTP/1.1) to the server, owned by one simulated client.
//!
//! Each benchmark client holds its own `Connection` so that "8 concurrent clients" really
//! means 8 TCP connections, as 8 kubectl processes would open. No pooling, no retries: a
//! failed request is counted by the caller, never hidden.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use crate::cluster::Endpoint;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connect to {address}: {source}")]
    Connect { address: std::net::SocketAddr, source: std::io::Error },
    #[error("TLS handshake with {address}: {source}")]
    Tls { address: std::net::SocketAddr, source: std::io::Error },
    #[error("HTTP: {0}")]
    Hyper(#[from] hyper::Error),
    #[error("building the request: {0}")]
    Request(#[from] http::Error),
    #[error("{method} {path} answered {status}: {body}")]
    Status { method: Method, path: String, status: StatusCode, body: String },
}

/// A response whose body was read in full.
pub struct Collected {
    pub status: StatusCode,
    pub body: Bytes,
}

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    token: Option<String>,
}

impl Connection {
    /// Opens a TCP connection and completes the TLS handshake. `authenticated` decides
    /// whether requests carry the admin token (health checks are anonymous, as kubelets
    /// and load balancers probe them).
    pub async fn open(endpoint: &Endpoint, authenticated: bool) -> Result<Self, HttpError> {
        let address = endpoint.address;
        let tcp =
            tokio::net::TcpStream::connect(address).await.map_err(|source| HttpError::Connect { address, source })?;
        // Small requests and responses: Nagle would add 40 ms delayed-ACK stalls.
        let _ = tcp.set_nodelay(true);
        let connector = tokio_rustls::TlsConnector::from(endpoint.tls.clone());
        let name = ServerName::IpAddress(address.ip().into());
        let tls = connector.connect(name, tcp).await.map_err(|source| HttpError::Tls { address, source })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        // The connection task ends by itself when the sender is dropped or the server closes.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection { sender, token: authenticated.then(|| endpoint.token.clone()) })
    }

    /// Sends a request and returns the response with its body still streaming (watches).
    pub async fn start(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<http::Response<Incoming>, HttpError> {
        let mut builder = Request::builder().method(method).uri(path).header(http::header::HOST, "127.0.0.1");
        builder = builder.header(http::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = builder.body(Full::new(body.unwrap_or_default()))?;
        self.sender.ready().await?;
        Ok(self.sender.send_request(request).await?)
    }

    /// Sends a request and reads the whole response body.
    pub async fn send(&mut self, method: Method, path: &str, body: Option<Bytes>) -> Result<Collected, HttpError> {
        let response = self.start(method, path, body).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Collected { status, body })
    }

    /// Like [`Connection::send`], but anything other than `expected` is an error carrying the
    /// server's message.
    pub async fn expect(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        expected: StatusCode,
    ) -> Result<Bytes, HttpError> {
        let collected = self.send(method.clone(), path, body).await?;
        if collected.status != expected {
            return Err(HttpError::Status {
                method,
                path: path.to_string(),
                status: collected.status,
                body: String::from_utf8_lossy(&collected.body).chars().take(400).collect(),
            });
        }
        Ok(collected.body)
    }
}
