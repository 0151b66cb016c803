//! The streaming server's certificate: self-signed, generated on first start under
//! `DATA_DIR/agent/tls` and reused afterwards, as the kubelet's `--cert-dir` self-signed
//! serving certificate (`kubelet.crt`/`kubelet.key`). The API server does not verify it
//! (kube-apiserver's default without `--kubelet-certificate-authority`); the bearer token is
//! what protects the endpoints.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use rcgen::{CertificateParams, DnType, KeyPair};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("read or write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("generate the agent's certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("load the agent's certificate: {0}")]
    Load(String),
}

const CERT: &str = "agent.crt";
const KEY: &str = "agent.key";

/// The rustls configuration of the streaming server, from the certificate in `dir`
/// (generated for `names`, host names and IP addresses, when absent).
pub fn ensure_server_config(dir: &Path, names: &[String]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| TlsError::Io { path, source }
    };
    let (cert_path, key_path) = (dir.join(CERT), dir.join(KEY));
    let (cert_pem, key_pem) = if cert_path.exists() && key_path.exists() {
        (fs::read_to_string(&cert_path).map_err(io(&cert_path))?, fs::read_to_string(&key_path).map_err(io(&key_path))?)
    } else {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
        all.extend(names.iter().filter(|n| !n.is_empty()).cloned());
        all.dedup();
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(all)?;
        params.distinguished_name.push(DnType::CommonName, "peapod-agent");
        params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let cert = params.self_signed(&key)?;
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        write_private(&key_path, &key_pem)?;
        // The certificate last: its presence marks a complete pair.
        fs::write(&cert_path, &cert_pem).map_err(io(&cert_path))?;
        (cert_pem, key_pem)
    };
    server_config(&cert_pem, &key_pem)
}

/// A rustls server configuration offering HTTP/2 and HTTP/1.1 (exec and attach upgrades
/// need HTTP/1.1).
pub fn server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Load(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| TlsError::Load(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Load(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Load(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn write_private(path: &Path, contents: &str) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| TlsError::Io { path: path.display().to_string(), source };
    let mut file =
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(error)?;
    file.write_all(contents.as_bytes()).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        ensure_server_config(dir.path(), &["node1".into()]).unwrap();
        let first = fs::read_to_string(dir.path().join(CERT)).unwrap();
        ensure_server_config(dir.path(), &[]).unwrap();
        assert_eq!(first, fs::read_to_string(dir.path().join(CERT)).unwrap());
    }
}
