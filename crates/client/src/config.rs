//! Client configuration: where the API server is, how to trust it and who we are, from a
//! kubeconfig file or given explicitly.
//!
//! Owns kubeconfig parsing (the subset peapod writes and the common fields kubectl users
//! have: server, certificate authority as data or file, bearer token as value or file,
//! insecure-skip-tls-verify, the context's namespace). It reads only the files it is pointed
//! at; it must not consult environment variables (the binary decides where configs live).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Requests other than watches fail after this long unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a [`Client`](crate::Client) needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// `https://host:port` (plain `http://` works too, for tests and local proxies).
    pub server: String,
    /// PEM certificates of the cluster CA the server certificate must chain to.
    pub ca_pem: Option<String>,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Accept any server certificate. For debugging only, as in kubectl.
    pub insecure_skip_tls_verify: bool,
    /// The namespace of the kubeconfig context (`default` when it names none).
    pub namespace: String,
    /// The timeout of every request except watches; `None` waits forever.
    pub timeout: Option<Duration>,
    pub user_agent: String,
    /// Talk HTTP/2 over this Unix socket instead of connecting to `server` with TLS (the URL
    /// then only names the server in requests). `peapod server`'s own components use the
    /// socket it serves in its data directory: same API, same authentication, no TLS.
    pub unix_socket: Option<PathBuf>,
}

impl Config {
    /// An explicit configuration with the default namespace and timeout.
    pub fn new(server_url: impl Into<String>, ca_pem: Option<String>, token: Option<String>) -> Self {
        Config {
            server: server_url.into().trim_end_matches('/').to_string(),
            ca_pem,
            token,
            insecure_skip_tls_verify: false,
            namespace: "default".to_string(),
            timeout: Some(DEFAULT_TIMEOUT),
            user_agent: format!("peapod-client/{}", env!("CARGO_PKG_VERSION")),
            unix_socket: None,
        }
    }

    /// The current context of a kubeconfig file.
    pub fn from_kubeconfig(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_kubeconfig_context(path, None)
    }

    /// A named context of a kubeconfig file (`None`: its `current-context`).
    pub fn from_kubeconfig_context(path: impl AsRef<Path>, context: Option<&str>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("read kubeconfig {}: {e}", path.display())))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_kubeconfig_str(&text, &base, context)
    }

    /// Parses kubeconfig text; relative file references resolve against `base_dir`, as
    /// kubectl resolves them against the kubeconfig's directory.
    pub fn from_kubeconfig_str(text: &str, base_dir: &Path, context: Option<&str>) -> Result<Self> {
        let kubeconfig: Kubeconfig =
            serde_saphyr::from_str(text).map_err(|e| Error::Config(format!("parse kubeconfig: {e}")))?;
        let context_name = context.map(str::to_string).or(kubeconfig.current_context.clone()).filter(|c| !c.is_empty());
        let context = match &context_name {
            Some(name) => Some(
                kubeconfig
                    .contexts
                    .iter()
                    .find(|c| &c.name == name)
                    .map(|c| &c.context)
                    .ok_or_else(|| Error::Config(format!("kubeconfig has no context {name:?}")))?,
            ),
            None => None,
        };
        // Without a context, a kubeconfig with exactly one cluster and user is unambiguous.
        let cluster = match context {
            Some(c) => kubeconfig.clusters.iter().find(|n| n.name == c.cluster),
            None if kubeconfig.clusters.len() == 1 => kubeconfig.clusters.first(),
            None => None,
        }
        .map(|n| &n.cluster)
        .ok_or_else(|| Error::Config("kubeconfig names no usable cluster".to_string()))?;
        let user = match context {
            Some(c) => kubeconfig.users.iter().find(|n| n.name == c.user).map(|n| &n.user),
            None => kubeconfig.users.first().map(|n| &n.user),
        };

        let server = cluster
            .server
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Config("cluster has no server".into()))?;
        let ca_pem = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
            (Some(data), _) if !data.is_empty() => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data.trim())
                    .map_err(|e| Error::Config(format!("certificate-authority-data is not base64: {e}")))?;
                Some(
                    String::from_utf8(bytes)
                        .map_err(|_| Error::Config("certificate-authority-data is not PEM".into()))?,
                )
            }
            (_, Some(file)) if !file.is_empty() => Some(read_relative(base_dir, file, "certificate-authority")?),
            _ => None,
        };
        let token = match user {
            Some(UserInfo { token: Some(token), .. }) if !token.is_empty() => Some(token.clone()),
            Some(UserInfo { token_file: Some(file), .. }) if !file.is_empty() => {
                Some(read_relative(base_dir, file, "tokenFile")?.trim().to_string())
            }
            _ => None,
        };
        let mut config = Config::new(server, ca_pem, token);
        config.insecure_skip_tls_verify = cluster.insecure_skip_tls_verify;
        if let Some(namespace) = context.and_then(|c| c.namespace.clone()).filter(|n| !n.is_empty()) {
            config.namespace = namespace;
        }
        Ok(config)
    }
}

fn read_relative(base_dir: &Path, file: &str, field: &str) -> Result<String> {
    let path = if Path::new(file).is_absolute() { PathBuf::from(file) } else { base_dir.join(file) };
    std::fs::read_to_string(&path).map_err(|e| Error::Config(format!("read {field} {}: {e}", path.display())))
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct NamedCluster {
    #[serde(default)]
    name: String,
    cluster: ClusterInfo,
}

#[derive(Deserialize)]
struct NamedUser {
    #[serde(default)]
    name: String,
    #[serde(default)]
    user: UserInfo,
}

#[derive(Deserialize)]
struct NamedContext {
    #[serde(default)]
    name: String,
    context: ContextInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterInfo {
    server: Option<String>,
    certificate_authority_data: Option<String>,
    certificate_authority: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
struct UserInfo {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<String>,
}

#[derive(Deserialize)]
struct ContextInfo {
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    user: String,
    namespace: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEAPOD_KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: peapod
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
users:
- name: admin
  user:
    token: secret-token
contexts:
- name: peapod
  context:
    cluster: peapod
    user: admin
    namespace: team-a
current-context: peapod
preferences: {}
";

    #[test]
    fn reads_what_peapod_writes() {
        let config = Config::from_kubeconfig_str(PEAPOD_KUBECONFIG, Path::new("/"), None).expect("parse");
        assert_eq!(config.server, "https://127.0.0.1:6443");
        assert_eq!(config.ca_pem.as_deref(), Some("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(config.token.as_deref(), Some("secret-token"));
        assert_eq!(config.namespace, "team-a");
        assert!(!config.insecure_skip_tls_verify);
    }

    #[test]
    fn selects_the_named_context_and_resolves_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.crt"), "PEM").expect("write");
        std::fs::write(dir.path().join("token"), "from-file\n").expect("write");
        let text = "clusters:
- name: a
  cluster: {server: 'https://a:1', certificate-authority: ca.crt}
- name: b
  cluster: {server: 'https://b:2', insecure-skip-tls-verify: true}
users:
- name: u
  user: {tokenFile: token}
contexts:
- name: ca
  context: {cluster: a, user: u}
- name: cb
  context: {cluster: b, user: u}
current-context: ca
";
        let a = Config::from_kubeconfig_str(text, dir.path(), None).expect("a");
        assert_eq!(a.server, "https://a:1");
        assert_eq!(a.ca_pem.as_deref(), Some("PEM"));
        assert_eq!(a.token.as_deref(), Some("from-file"));
        assert_eq!(a.namespace, "default");
        let b = Config::from_kubeconfig_str(text, dir.path(), Some("cb")).expect("b");
        assert_eq!(b.server, "https://b:2");
        assert!(b.insecure_skip_tls_verify);
        assert!(b.ca_pem.is_none());
    }

    #[test]
    fn bad_kubeconfigs_are_errors_not_panics() {
        for text in [
            "",
            "clusters: 3",
            "current-context: missing\ncontexts: []",
            "clusters:\n- name: a\n  cluster: {certificate-authority-data: '!!notbase64'}",
            "clusters:\n- name: a\n  cluster: {server: 'https://a', certificate-authority-data: '@@@'}",
        ] {
            let result = Config::from_kubeconfig_str(text, Path::new("/"), None);
            assert!(matches!(result, Err(Error::Config(_))), "{text:?} gave {result:?}");
        }
        assert!(Config::from_kubeconfig("/nonexistent/kubeconfig").is_err());
    }
}
