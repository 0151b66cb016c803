//! Pod subresources served by the node agent (`log`, `exec`, `attach`, `portforward`), as
//! kube-apiserver serves them: look the pod up, pick and check the container, find the pod's
//! node and its agent's address, and forward the request to the agent's kubelet-style
//! endpoints (`/containerLogs/...`, `/exec/...`, `/attach/...`, `/portForward/...`).
//!
//! The agent is reached over HTTPS at the node's `InternalIP` (then `ExternalIP`, then
//! `Hostname`: k3s' `--kubelet-preferred-address-types`) and
//! `status.daemonEndpoints.kubeletEndpoint.Port`, authenticated with the configured bearer
//! token. Its self-signed certificate is not verified, as kube-apiserver without
//! `--kubelet-certificate-authority`.
//!
//! This module finds and connects; `pod_log` and `upgrade_proxy` move the bytes.

use std::sync::{Arc, OnceLock};

use axum::response::Response;
use bytes::Bytes;
use http::Method;
use http_body_util::Empty;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::handlers::ResourceRequest;
use crate::write;

use super::{pod_log, upgrade_proxy};

/// The kubelet's port when a node does not publish one.
const DEFAULT_KUBELET_PORT: u16 = 10250;
/// How long connecting to an agent may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Requests without a protocol upgrade: `log`; the streaming subresources need one.
pub async fn handle(request: ResourceRequest) -> ApiResult<Response> {
    match request.target.subresource.as_deref() {
        Some("log") if request.method == Method::GET => pod_log::get(request).await,
        Some("log") => Err(ApiError::method_not_allowed()),
        _ if request.method == Method::GET || request.method == Method::POST => {
            Err(ApiError::bad_request("Upgrade request required"))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `exec`, `attach` and `portforward` with an HTTP/1.1 `Upgrade` (WebSocket, or SPDY which
/// the agent refuses).
pub async fn handle_upgrade(request: ResourceRequest, upgrade: hyper::upgrade::OnUpgrade) -> ApiResult<Response> {
    if request.method != Method::GET && request.method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let subresource = request.target.subresource.clone().unwrap_or_default();
    let pod = read_pod(&request).await?;
    let name = request.name().to_string();
    let namespace = request.namespace().unwrap_or("default").to_string();
    let path = if subresource == "portforward" {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for port in request.query.all("ports") {
            query.append_pair("port", port);
        }
        format!("/portForward/{}/{}?{}", segment(&namespace), segment(&name), query.finish())
    } else {
        let container = resolve_container(&pod, request.query.get("container"))?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (parameter, value) in [("stdin", "stdin"), ("stdout", "stdout"), ("stderr", "stderr"), ("tty", "tty")] {
            if parse_bool(parameter, request.query.get(parameter))? {
                query.append_pair(value, "1");
            }
        }
        if subresource == "exec" {
            for command in request.query.all("command") {
                query.append_pair("command", command);
            }
        }
        format!("/{subresource}/{}/{}/{}?{}", segment(&namespace), segment(&name), segment(&container), query.finish())
    };
    let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
        return Err(ApiError::bad_request(format!("pod {name} does not have a host assigned")));
    };
    let location = node_location(&request, node).await?;
    upgrade_proxy::proxy(&request, upgrade, &location, &path).await
}

/// The pod named by the request (404 if absent).
pub async fn read_pod(request: &ResourceRequest) -> ApiResult<Value> {
    let (pod, _) = write::read(&request.server, request.target.info, request.namespace(), request.name()).await?;
    Ok(pod)
}

/// The container a request means, as kube-apiserver's `validateContainer`: the one named
/// (any kind of container of the pod), else the only one, else a 400 listing them. (kubectl
/// itself applies the `kubectl.kubernetes.io/default-container` annotation and always names
/// the container; kube-apiserver does not read the annotation.)
pub fn resolve_container(pod: &Value, requested: Option<&str>) -> ApiResult<String> {
    let pod_name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let names = |list: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .map(|items| {
                items.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).map(str::to_string).collect()
            })
            .unwrap_or_default()
    };
    let containers = names("containers");
    // VisitContainers' order: init containers, containers, ephemeral containers.
    let all: Vec<String> = names("initContainers")
        .into_iter()
        .chain(containers.iter().cloned())
        .chain(names("ephemeralContainers"))
        .collect();
    match requested.filter(|c| !c.is_empty()) {
        Some(container) if all.iter().any(|c| c == container) => Ok(container.to_string()),
        Some(container) => Err(ApiError::bad_request(format!("container {container} is not valid for pod {pod_name}"))),
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!("a container name must be specified for pod {pod_name}"))),
            _ => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                all.join(" ")
            ))),
        },
    }
}

/// Where a node's agent listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLocation {
    pub host: String,
    pub port: u16,
}

impl NodeLocation {
    /// `host:port`, with brackets around an IPv6 address.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The agent address of `node`.
pub async fn node_location(request: &ResourceRequest, node: &str) -> ApiResult<NodeLocation> {
    let nodes = api::resources::find("", "v1", "nodes").ok_or_else(|| ApiError::internal("nodes are not served"))?;
    let (node_object, _) = write::read(&request.server, nodes, None, node).await?;
    location_of(&node_object)
}

/// InternalIP, ExternalIP, then Hostname; the published kubelet port or 10250.
pub fn location_of(node: &Value) -> ApiResult<NodeLocation> {
    let addresses: Vec<(&str, &str)> = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|a| Some((a.get("type")?.as_str()?, a.get("address")?.as_str()?)))
                .filter(|(_, address)| !address.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let host = ["InternalIP", "ExternalIP", "Hostname"]
        .iter()
        .find_map(|wanted| addresses.iter().find(|(kind, _)| kind == wanted).map(|(_, address)| address.to_string()))
        .ok_or_else(|| {
            let known: Vec<String> = addresses.iter().map(|(kind, address)| format!("{{{kind} {address}}}")).collect();
            ApiError::internal(format!("no preferred addresses found; known addresses: [{}]", known.join(" ")))
        })?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok(NodeLocation { host, port })
}

/// An HTTP/1.1 connection to the agent at `location` (upgrades allowed). The connection is
/// driven by a task of its own that ends when the request and its body or upgrade are done.
pub async fn connect(location: &NodeLocation) -> Result<http1::SendRequest<Empty<Bytes>>, String> {
    let connecting = async {
        let tcp =
            tokio::net::TcpStream::connect((location.host.as_str(), location.port)).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let server_name = rustls::pki_types::ServerName::try_from(location.host.clone()).map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(client_config()?)
            .connect(server_name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (sender, connection) = http1::handshake(TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!("agent connection: {error}");
            }
        });
        Ok(sender)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(result) => result,
        Err(_) => Err("i/o timeout".into()),
    }
}

/// The `Authorization` header for the agent, when a token is configured.
pub fn authorization(request: &ResourceRequest) -> Option<http::HeaderValue> {
    let token = request.server.config.kubelet_token.as_deref()?;
    http::HeaderValue::from_str(&format!("Bearer {token}")).ok()
}

/// A TLS client that accepts any server certificate (but still checks the handshake
/// signatures), offering only HTTP/1.1.
fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(AnyServerCertificate(provider.clone()));
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS client configuration: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
}

#[derive(Debug)]
struct AnyServerCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A path segment, percent-encoded.
pub fn segment(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, SEGMENT).to_string()
}

const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A boolean query parameter as Go's `strconv.ParseBool` reads it (absent is false).
pub fn parse_bool(name: &str, value: Option<&str>) -> ApiResult<bool> {
    match value {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!("invalid value {other:?} for query parameter {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(containers: &[&str], init: &[&str]) -> Value {
        let list = |names: &[&str]| names.iter().map(|n| json!({"name": n, "image": "busybox"})).collect::<Vec<_>>();
        json!({"metadata": {"name": "web"}, "spec": {"containers": list(containers), "initContainers": list(init)}})
    }

    #[test]
    fn containers_as_kube_apiserver_picks_them() {
        assert_eq!(resolve_container(&pod(&["a"], &[]), None).unwrap(), "a");
        assert_eq!(resolve_container(&pod(&["a", "b"], &["i"]), Some("i")).unwrap(), "i");
        let several = resolve_container(&pod(&["a", "b"], &["i"]), None).unwrap_err();
        assert_eq!(
            (several.code, several.message.as_str()),
            (400, "a container name must be specified for pod web, choose one of: [i a b]")
        );
        let wrong = resolve_container(&pod(&["a"], &[]), Some("x")).unwrap_err();
        assert_eq!((wrong.code, wrong.message.as_str()), (400, "container x is not valid for pod web"));
        let none = resolve_container(&pod(&[], &[]), None).unwrap_err();
        assert_eq!(none.message, "a container name must be specified for pod web");
    }

    #[test]
    fn node_addresses_and_port() {
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10443}},
        }});
        assert_eq!(location_of(&node).unwrap(), NodeLocation { host: "10.0.0.5".into(), port: 10443 });
        let hostname_only = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
        assert_eq!(location_of(&hostname_only).unwrap(), NodeLocation { host: "n1".into(), port: 10250 });
        let error = location_of(&json!({"status": {}})).unwrap_err();
        assert_eq!(error.code, 500);
        assert!(error.message.contains("no preferred addresses found"));
        assert_eq!(NodeLocation { host: "::1".into(), port: 1 }.authority(), "[::1]:1");
    }

    #[test]
    fn booleans_and_segments() {
        assert!(parse_bool("stdin", Some("true")).unwrap());
        assert!(!parse_bool("stdin", None).unwrap());
        assert!(parse_bool("stdin", Some("yes")).is_err());
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
