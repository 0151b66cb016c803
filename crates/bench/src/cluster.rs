//! How the benchmark reaches a server: the cluster CA and admin token read from the
//! `kubeconfig.yaml` that `peapod server` writes into its data directory, turned into a rustls
//! client configuration that trusts only that CA.
//!
//! It reads only the few scalar fields peapod writes (`certificate-authority-data`, `token`);
//! it is not a general kubeconfig parser and must not grow into one (that is the `client`
//! crate's job).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} has no `{field}` field")]
    MissingField { path: PathBuf, field: &'static str },
    #[error("certificate-authority-data in {path} is not base64: {source}")]
    Base64 { path: PathBuf, source: base64::DecodeError },
    #[error("certificate-authority-data in {path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("the cluster CA in {path} is not usable: {message}")]
    BadCertificate { path: PathBuf, message: String },
}

/// Where and how to talk to one running server.
#[derive(Clone)]
pub struct Endpoint {
    pub address: SocketAddr,
    pub tls: Arc<rustls::ClientConfig>,
    /// The admin bearer token (sent on every request).
    pub token: String,
}

impl Endpoint {
    /// Reads `kubeconfig` and targets `address` (the port the benchmark chose; the
    /// kubeconfig's own `server:` may be stale when it comes from an earlier start).
    pub fn from_kubeconfig(kubeconfig: &Path, address: SocketAddr) -> Result<Self, ClusterError> {
        let text = std::fs::read_to_string(kubeconfig)
            .map_err(|source| ClusterError::Read { path: kubeconfig.to_path_buf(), source })?;
        let field = |name: &'static str| {
            scalar(&text, name).ok_or(ClusterError::MissingField { path: kubeconfig.to_path_buf(), field: name })
        };
        let ca_data = field("certificate-authority-data")?;
        let token = field("token")?.to_string();
        let ca_pem = base64::engine::general_purpose::STANDARD
            .decode(ca_data)
            .map_err(|source| ClusterError::Base64 { path: kubeconfig.to_path_buf(), source })?;
        let tls = client_config(&ca_pem, kubeconfig)?;
        Ok(Endpoint { address, tls, token })
    }
}

/// The value of the first `name: value` line (any indentation), unquoted.
fn scalar<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix(name)?.strip_prefix(':')?;
        let value = rest.trim().trim_matches('"').trim_matches('\'');
        (!value.is_empty()).then_some(value)
    })
}

fn client_config(ca_pem: &[u8], path: &Path) -> Result<Arc<rustls::ClientConfig>, ClusterError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut reader = std::io::BufReader::new(ca_pem);
    let mut found = false;
    for certificate in rustls_pemfile::certs(&mut reader) {
        let certificate = certificate
            .map_err(|error| ClusterError::BadCertificate { path: path.to_path_buf(), message: error.to_string() })?;
        roots
            .add(certificate)
            .map_err(|error| ClusterError::BadCertificate { path: path.to_path_buf(), message: error.to_string() })?;
        found = true;
    }
    if !found {
        return Err(ClusterError::NoCertificate { path: path.to_path_buf() });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ClusterError::BadCertificate { path: path.to_path_buf(), message: error.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // One request at a time per connection, like a simple client: HTTP/1.1 keeps the
    // measurement about the server rather than about multiplexing.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_reads_indented_fields_and_ignores_prefixes_of_other_names() {
        let text = "users:\n- name: admin\n  user:\n    token-file: nope\n    token: \"abc\"\n";
        assert_eq!(scalar(text, "token"), Some("abc"));
        assert_eq!(scalar(text, "missing"), None);
    }

    #[test]
    fn a_kubeconfig_without_ca_data_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kubeconfig.yaml");
        std::fs::write(&path, "users:\n- user:\n    token: t\n").expect("write");
        let address: SocketAddr = "127.0.0.1:1".parse().expect("address");
        let error = Endpoint::from_kubeconfig(&path, address).err().expect("must fail");
        assert!(matches!(error, ClusterError::MissingField { field: "certificate-authority-data", .. }));
        std::fs::write(&path, "certificate-authority-data: !!!\ntoken: t\n").expect("write");
        let error = Endpoint::from_kubeconfig(&path, address).err().expect("must fail");
        assert!(matches!(error, ClusterError::Base64 { .. }));
        std::fs::write(&path, "certificate-authority-data: aGVsbG8=\ntoken: t\n").expect("write");
        let error = Endpoint::from_kubeconfig(&path, address).err().expect("must fail");
        assert!(matches!(error, ClusterError::NoCertificate { .. }));
    }
}
