//! The cluster's PKI: a CA and a serving certificate, generated on first start and reused
//! afterwards, and the rustls server configuration built from them.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("read or write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("load certificate: {0}")]
    Load(String),
}

/// PEM-encoded CA certificate and serving key pair.
pub struct Pki {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";

/// Loads the PKI from `dir`, generating it on first use. `extra_names` are added to the
/// serving certificate's subject alternative names (host names and IP addresses).
pub fn ensure_pki(dir: &Path, extra_names: &[String]) -> Result<Pki, TlsError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| TlsError::Io { path, source }
    };
    let paths = [CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY].map(|f| dir.join(f));
    if paths.iter().all(|p| p.exists()) {
        return Ok(Pki {
            ca_cert_pem: fs::read_to_string(&paths[0]).map_err(io(&paths[0]))?,
            server_cert_pem: fs::read_to_string(&paths[2]).map_err(io(&paths[2]))?,
            server_key_pem: fs::read_to_string(&paths[3]).map_err(io(&paths[3]))?,
        });
    }
    fs::create_dir_all(dir).map_err(io(dir))?;

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "peapod-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let mut names: Vec<String> = [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "10.43.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for name in extra_names {
        if !name.is_empty() && !names.contains(name) && name != "0.0.0.0" && name != "::" {
            names.push(name.clone());
        }
    }
    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(names)?;
    server_params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    server_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &issuer)?;

    let pki = Pki {
        ca_cert_pem: ca_cert.pem(),
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
    };
    // Keys are written owner-only; the CA key is kept so that later versions can issue more
    // certificates (agents, kubelet serving).
    write_private(&paths[1], &issuer_key_pem(&issuer))?;
    write_private(&paths[3], &pki.server_key_pem)?;
    fs::write(&paths[2], &pki.server_cert_pem).map_err(io(&paths[2]))?;
    // The CA certificate last: its presence with the others marks a complete PKI.
    fs::write(&paths[0], &pki.ca_cert_pem).map_err(io(&paths[0]))?;
    Ok(pki)
}

fn issuer_key_pem(issuer: &rcgen::Issuer<'_, KeyPair>) -> String {
    issuer.key().serialize_pem()
}

fn write_private(path: &Path, contents: &str) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| TlsError::Io { path: path.display().to_string(), source })?;
    file.write_all(contents.as_bytes()).map_err(|source| TlsError::Io { path: path.display().to_string(), source })
}

/// The rustls configuration serving `pki`, offering HTTP/2 and HTTP/1.1 (exec and attach
/// upgrades need HTTP/1.1).
pub fn server_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Load(e.to_string()))?;
    let key =
        PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).map_err(|e| TlsError::Load(e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_pki(dir.path(), &["myhost".into()]).unwrap();
        let second = ensure_pki(dir.path(), &[]).unwrap();
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem);
        assert_eq!(first.server_cert_pem, second.server_cert_pem);
        server_config(&second).unwrap();
    }
}
