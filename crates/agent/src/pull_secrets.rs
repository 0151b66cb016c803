//! Registry credentials for image pulls from the pod's `imagePullSecrets`: Secrets of type
//! `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`: `{"auths": {server: {...}}}`) or
//! the legacy `kubernetes.io/dockercfg` (`.dockercfg`: `{server: {...}}`), each entry with
//! `username`/`password` or a base64 `auth` of `user:password`.
//!
//! It reads Secrets through the client and never pulls; a missing or malformed secret is
//! skipped (the kubelet only warns), so the pull goes on without those credentials.

use base64::Engine;
use client::Api;
use k8s_openapi::api::core::v1::{Pod, Secret};
use serde_json::Value;

use crate::runtime::RegistryAuth;

/// The credentials of a docker config (`.dockerconfigjson` or `.dockercfg` contents).
pub fn parse_docker_config(bytes: &[u8]) -> Vec<RegistryAuth> {
    let Ok(config) = serde_json::from_slice::<Value>(bytes) else { return Vec::new() };
    let auths = config.get("auths").unwrap_or(&config);
    let Some(auths) = auths.as_object() else { return Vec::new() };
    auths
        .iter()
        .filter_map(|(server, entry)| {
            let field = |name: &str| entry.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
            let (username, password) = match (field("username"), field("password")) {
                (Some(user), Some(password)) => (user.to_string(), password.to_string()),
                _ => {
                    let decoded = base64::engine::general_purpose::STANDARD.decode(field("auth")?).ok()?;
                    let text = String::from_utf8(decoded).ok()?;
                    let (user, password) = text.split_once(':')?;
                    (user.to_string(), password.to_string())
                }
            };
            Some(RegistryAuth { server: server.clone(), username, password })
        })
        .collect()
}

/// Every credential of the pod's pull secrets.
pub async fn pull_auths(client: &client::Client, pod: &Pod) -> Vec<RegistryAuth> {
    let Some(names) = pod.spec.as_ref().and_then(|s| s.image_pull_secrets.as_ref()) else { return Vec::new() };
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut auths = Vec::new();
    for name in names.iter().map(|r| r.name.as_str()).filter(|n| !n.is_empty()) {
        let secret = match secrets.get_opt(name).await {
            Ok(Some(secret)) => secret,
            Ok(None) => {
                tracing::warn!(%namespace, secret = name, "image pull secret not found; pulling without it");
                continue;
            }
            Err(error) => {
                tracing::warn!(%namespace, secret = name, %error, "could not read an image pull secret");
                continue;
            }
        };
        let data = secret.data.unwrap_or_default();
        for key in [".dockerconfigjson", ".dockercfg"] {
            if let Some(bytes) = data.get(key) {
                auths.extend(parse_docker_config(&bytes.0));
            }
        }
    }
    auths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_configs_parse() {
        let json = br#"{"auths": {"ghcr.io": {"username": "me", "password": "secret"},
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="}, "broken": {"auth": "!!"}}}"#;
        let mut auths = parse_docker_config(json);
        auths.sort_by(|a, b| a.server.cmp(&b.server));
        assert_eq!(
            auths,
            vec![
                RegistryAuth { server: "ghcr.io".into(), username: "me".into(), password: "secret".into() },
                RegistryAuth {
                    server: "https://index.docker.io/v1/".into(),
                    username: "user".into(),
                    password: "pa:ss".into()
                },
            ]
        );
        let legacy = br#"{"quay.io": {"auth": "YTpi"}}"#;
        assert_eq!(parse_docker_config(legacy)[0].username, "a");
        assert!(parse_docker_config(b"not json").is_empty());
    }
}
