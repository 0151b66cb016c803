//! `DATA_DIR/registries.yaml` in the k3s format: `mirrors` (registry → endpoints, `*` for
//! all) and `configs` (endpoint host → `auth` and `tls`). Parsing and endpoint selection only;
//! plain HTTP is used only for an endpoint written with `http://`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Docker Hub's API host, the endpoint of `docker.io`.
pub const DOCKER_HUB_ENDPOINT: &str = "https://registry-1.docker.io";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Registries {
    pub mirrors: BTreeMap<String, Mirror>,
    pub configs: BTreeMap<String, RegistryConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Mirror {
    pub endpoint: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RegistryConfig {
    pub auth: Option<AuthConfig>,
    pub tls: Option<TlsConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct AuthConfig {
    pub username: Option<String>,
    pub password: Option<String>,
    /// base64 of `user:password`, as in a Docker config.
    pub auth: Option<String>,
    pub identitytoken: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistriesError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {path}: {message}")]
    Parse { path: String, message: String },
}

/// Username and password for a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl AuthConfig {
    pub fn credentials(&self) -> Option<Credentials> {
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            return Some(Credentials { username: u.clone(), password: p.clone() });
        }
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD.decode(self.auth.as_deref()?.trim()).ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some(Credentials { username: u.to_string(), password: p.to_string() })
    }
}

/// An endpoint to try for a registry: base URL (scheme + authority) and its config.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `https://host[:port]` or `http://host[:port]`, no trailing slash.
    pub base: String,
    /// `host[:port]`, the key of `configs`.
    pub host: String,
    pub config: RegistryConfig,
}

impl Registries {
    /// Reads `registries.yaml`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self, RegistriesError> {
        match std::fs::read_to_string(path) {
            Ok(s) => {
                Self::parse(&s).map_err(|message| RegistriesError::Parse { path: path.display().to_string(), message })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(RegistriesError::Read { path: path.display().to_string(), source }),
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(s).map_err(|e| e.to_string())
    }

    /// Endpoints for a registry domain, in order: its mirrors, the `*` mirrors, then the
    /// registry itself (over https).
    pub fn endpoints(&self, domain: &str) -> Vec<Endpoint> {
        let mut urls: Vec<String> = Vec::new();
        for key in [domain, "*"] {
            if let Some(m) = self.mirrors.get(key) {
                urls.extend(m.endpoint.iter().cloned());
            }
        }
        let default = if domain == super::reference::DEFAULT_DOMAIN {
            DOCKER_HUB_ENDPOINT.to_string()
        } else {
            format!("https://{domain}")
        };
        if !urls.contains(&default) {
            urls.push(default);
        }
        let mut out = Vec::new();
        for u in urls {
            let u = if u.contains("://") { u } else { format!("https://{u}") };
            let (scheme, rest) = u.split_once("://").unwrap_or(("https", &u));
            let host = rest.split('/').next().unwrap_or(rest).to_string();
            if host.is_empty() || !(scheme == "http" || scheme == "https") {
                continue;
            }
            let config = self
                .configs
                .get(&host)
                .or_else(|| self.configs.get(host.split(':').next().unwrap_or(&host)))
                .or_else(|| if host == "registry-1.docker.io" { self.configs.get(domain) } else { None })
                .cloned()
                .unwrap_or_default();
            let base = format!("{scheme}://{host}");
            if !out.iter().any(|e: &Endpoint| e.base == base) {
                out.push(Endpoint { base, host, config });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:5000"
  "*":
    endpoint:
      - "https://mirror.example.com"
configs:
  "127.0.0.1:5000":
    auth:
      username: user
      password: pass
  "mirror.example.com":
    auth:
      auth: dTI6cDI=
    tls:
      ca_file: /etc/ssl/mirror-ca.pem
      insecure_skip_verify: true
"#;

    #[test]
    fn k3s_format() {
        let r = Registries::parse(YAML).unwrap();
        let eps = r.endpoints("docker.io");
        let bases: Vec<&str> = eps.iter().map(|e| e.base.as_str()).collect();
        assert_eq!(bases, ["http://127.0.0.1:5000", "https://mirror.example.com", DOCKER_HUB_ENDPOINT]);
        let c = eps[0].config.auth.as_ref().unwrap().credentials().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("user", "pass"));
        let c = eps[1].config.auth.as_ref().unwrap().credentials().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u2", "p2"));
        assert!(eps[1].config.tls.as_ref().unwrap().insecure_skip_verify);
        // Another registry gets only the wildcard mirror and itself, over https.
        let bases: Vec<String> = r.endpoints("ghcr.io").into_iter().map(|e| e.base).collect();
        assert_eq!(bases, ["https://mirror.example.com", "https://ghcr.io"]);
        assert!(Registries::parse("").unwrap().mirrors.is_empty());
        assert!(Registries::parse("mirrors: [").is_err());
    }
}
