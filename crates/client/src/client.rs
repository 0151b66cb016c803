//! The HTTP transport: one pooled hyper client per [`Client`] (HTTP/2 when the server offers
//! it through ALPN, HTTP/1.1 otherwise), TLS with rustls' ring provider against the cluster
//! CA, the bearer token, JSON bodies, the request timeout, and turning failure responses into
//! [`Error::Api`] with the server's `Status`.
//!
//! It knows nothing of resources or URL layout (that is [`Api`](crate::Api)) and never
//! retries: retries belong to callers that know whether a request is idempotent.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::error::{Error, Result, Status};

const JSON: &str = "application/json";

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// HTTP/2 pings on idle connections: a watch on a dead connection (server gone without a
/// FIN) ends after at most interval + timeout instead of hanging, as client-go's
/// `ReadIdleTimeout` does.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on the API server. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// The connection pool: TLS (or plain HTTP) over TCP, or HTTP/2 over a Unix socket.
enum Transport {
    Tcp(HyperClient<Connector, Full<Bytes>>),
    Unix(HyperClient<crate::unix::UnixConnector, Full<Bytes>>),
}

struct Inner {
    http: Transport,
    /// The server URL without a trailing slash; request paths are appended to it.
    server: String,
    authorization: Option<HeaderValue>,
    user_agent: HeaderValue,
    timeout: Option<Duration>,
    namespace: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("server", &self.inner.server).field("namespace", &self.inner.namespace).finish()
    }
}

impl Client {
    pub fn new(config: Config) -> Result<Self> {
        let server = config.server.trim_end_matches('/').to_string();
        let uri: http::Uri = server.parse().map_err(|e| Error::Config(format!("server URL {server:?}: {e}")))?;
        match uri.scheme_str() {
            Some("https") | Some("http") => {}
            _ => return Err(Error::Config(format!("server URL {server:?} must be http:// or https://"))),
        }
        if uri.host().is_none() {
            return Err(Error::Config(format!("server URL {server:?} has no host")));
        }
        let tls = tls_config(&config, uri.scheme_str() == Some("https"))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let mut builder = HyperClient::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .http2_keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .http2_keep_alive_while_idle(true);
        let http = match &config.unix_socket {
            // No ALPN on a socket: HTTP/2 with prior knowledge, which the server's auto
            // builder recognises.
            Some(path) => {
                Transport::Unix(builder.http2_only(true).build(crate::unix::UnixConnector::new(path.clone())))
            }
            None => Transport::Tcp(builder.build(connector)),
        };
        let authorization = match &config.token {
            Some(token) => Some(
                HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| Error::Config("the token is not a valid header value".into()))?,
            ),
            None => None,
        };
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| Error::Config("the user agent is not a valid header value".into()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                server,
                authorization,
                user_agent,
                timeout: config.timeout,
                namespace: config.namespace,
            }),
        })
    }

    /// A client for the current context of a kubeconfig file.
    pub fn from_kubeconfig(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::new(Config::from_kubeconfig(path)?)
    }

    /// The namespace of the kubeconfig context.
    pub fn default_namespace(&self) -> &str {
        &self.inner.namespace
    }

    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// Sends a request and decodes a JSON response body.
    pub async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Result<T> {
        let bytes = self.request_bytes_as(method, path_and_query, body, JSON).await?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Sends a request and returns the whole body of a successful response, within the
    /// request timeout.
    pub async fn request_bytes(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Result<Bytes> {
        self.request_bytes_as(method, path_and_query, body, JSON).await
    }

    /// [`Client::request_bytes`] asking for the response shape `accept` (e.g.
    /// `PartialObjectMetadata`).
    pub async fn request_bytes_as(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(Vec<u8>, &'static str)>,
        accept: &'static str,
    ) -> Result<Bytes> {
        let request = self.build(method, path_and_query, body, accept)?;
        let exchange = async {
            let response = self.send(request).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await.map_err(Error::Body)?.to_bytes();
            if !status.is_success() {
                return Err(api_error(status, &bytes));
            }
            Ok(bytes)
        };
        match self.inner.timeout {
            Some(timeout) => tokio::time::timeout(timeout, exchange).await.map_err(|_| Error::Timeout(timeout))?,
            None => exchange.await,
        }
    }

    /// Sends a request whose response body is a long-lived stream (watch, logs). The timeout
    /// covers the response head only; a failure response becomes an error here.
    pub async fn request_stream(&self, method: Method, path_and_query: &str) -> Result<Incoming> {
        self.request_stream_as(method, path_and_query, JSON).await
    }

    /// [`Client::request_stream`] asking for the response shape `accept`.
    pub async fn request_stream_as(
        &self,
        method: Method,
        path_and_query: &str,
        accept: &'static str,
    ) -> Result<Incoming> {
        let request = self.build(method, path_and_query, None, accept)?;
        let head = async {
            let response = self.send(request).await?;
            let status = response.status();
            if status.is_success() {
                return Ok::<_, Error>(response.into_body());
            }
            let bytes = response.into_body().collect().await.map_err(Error::Body)?.to_bytes();
            Err(api_error(status, &bytes))
        };
        match self.inner.timeout {
            Some(timeout) => tokio::time::timeout(timeout, head).await.map_err(|_| Error::Timeout(timeout))?,
            None => head.await,
        }
    }

    /// Sends a prepared request as is (headers other than authorization and user agent
    /// are the caller's). No timeout and no status check.
    pub async fn send(&self, mut request: Request<Full<Bytes>>) -> Result<Response<Incoming>> {
        let headers = request.headers_mut();
        if let Some(authorization) = &self.inner.authorization {
            headers.entry(AUTHORIZATION).or_insert_with(|| authorization.clone());
        }
        headers.entry(USER_AGENT).or_insert_with(|| self.inner.user_agent.clone());
        let response = match &self.inner.http {
            Transport::Tcp(http) => http.request(request).await,
            Transport::Unix(http) => http.request(request).await,
        };
        response.map_err(|e| Error::Transport(Box::new(e)))
    }

    fn build(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(Vec<u8>, &'static str)>,
        accept: &'static str,
    ) -> Result<Request<Full<Bytes>>> {
        if !path_and_query.starts_with('/') {
            return Err(Error::Request(format!("path {path_and_query:?} must start with /")));
        }
        let uri = format!("{}{}", self.inner.server, path_and_query);
        let builder = Request::builder().method(method).uri(&uri).header(ACCEPT, accept);
        let request = match body {
            Some((bytes, content_type)) => {
                builder.header(CONTENT_TYPE, content_type).body(Full::new(Bytes::from(bytes)))
            }
            None => builder.body(Full::new(Bytes::new())),
        };
        request.map_err(|e| Error::Request(format!("{uri}: {e}")))
    }
}

/// The error for a failure response: its `Status` when the body is one.
fn api_error(code: StatusCode, body: &[u8]) -> Error {
    match serde_json::from_slice::<Status>(body) {
        Ok(mut status) if status.code != 0 || !status.reason.is_empty() => {
            if status.code == 0 {
                status.code = code.as_u16();
            }
            Error::from(status)
        }
        _ => Error::from(Status::from_http(code.as_u16(), body)),
    }
}

fn tls_config(config: &Config, https: bool) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    if config.insecure_skip_tls_verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(insecure::AcceptAnyCertificate(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = &config.ca_pem {
        for certificate in rustls_pemfile::certs(&mut pem.as_bytes()) {
            let certificate = certificate.map_err(|e| Error::Config(format!("certificate authority PEM: {e}")))?;
            roots.add(certificate).map_err(|e| Error::Config(format!("certificate authority: {e}")))?;
        }
    }
    // System trust roots are not consulted: a peapod cluster always has its own CA, and an
    // empty trust store would only fail later with a less helpful handshake error.
    if https && roots.is_empty() {
        return Err(Error::Config(
            "no certificate authority: set certificate-authority-data (or insecure-skip-tls-verify)".into(),
        ));
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `insecure-skip-tls-verify`: the certificate is not checked, signatures still are (so the
/// handshake is well-formed), exactly as kubectl's flag behaves. Also what the agent's HTTPS
/// probes use (the kubelet's `InsecureSkipVerify`).
pub mod insecure {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    pub struct AcceptAnyCertificate(pub Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unusable_configurations() {
        for server in ["ftp://x", "not a url", "https://"] {
            assert!(matches!(Client::new(Config::new(server, None, None)), Err(Error::Config(_))), "{server}");
        }
        // https without any CA is refused up front.
        assert!(matches!(Client::new(Config::new("https://127.0.0.1:1", None, None)), Err(Error::Config(_))));
        assert!(matches!(
            Client::new(Config::new("https://127.0.0.1:1", Some("garbage".into()), None)),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Client::new(Config::new("http://127.0.0.1:1", None, Some("a\nb".into()))),
            Err(Error::Config(_))
        ));
        let mut insecure = Config::new("https://127.0.0.1:1", None, None);
        insecure.insecure_skip_tls_verify = true;
        assert!(Client::new(insecure).is_ok());
    }

    #[test]
    fn failure_bodies_become_statuses() {
        let status = api_error(
            StatusCode::NOT_FOUND,
            br#"{"kind":"Status","code":404,"reason":"NotFound","message":"pods \"x\" not found"}"#,
        );
        assert!(status.is_not_found());
        assert_eq!(status.status().map(|s| s.message.as_str()), Some("pods \"x\" not found"));
        let plain = api_error(StatusCode::CONFLICT, b"busy");
        assert!(plain.is_conflict());
    }
}
