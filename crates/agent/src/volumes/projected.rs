//! projected volumes: several sources in one directory (configMap, secret, downwardAPI,
//! serviceAccountToken), with the volume's `defaultMode`, on tmpfs.
//!
//! serviceAccountToken: a token is asked from the API's TokenRequest
//! (`serviceaccounts/<name>/token`, audience, expiration, bound to the pod) and reused until
//! 80% of its lifetime has passed, as the kubelet's token manager does. peapod's API server
//! does not mint tokens yet: when it answers the request with an API error, a placeholder
//! ([`PLACEHOLDER_TOKEN`]) is written instead so pods that mount the usual
//! `kube-api-access` volume still start; clients presenting it are not authenticated.

use std::path::Path;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{ProjectedVolumeSource, ServiceAccount, ServiceAccountTokenProjection};
use serde_json::{Value, json};

use super::SetupContext;
use super::atomic_writer::{FileProjection, Payload};
use super::config_map::{self, DEFAULT_MODE};
use super::{downward_api, secret};

/// Written in place of a service account token when the API cannot mint one.
pub const PLACEHOLDER_TOKEN: &str = "peapod-placeholder-token-not-minted";
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// The merged payload of every source; `dir` is the volume's directory (to reuse a token
/// still fresh).
pub async fn payload(ctx: &SetupContext<'_>, source: &ProjectedVolumeSource, dir: &Path) -> Result<Payload, String> {
    let default_mode = source.default_mode.unwrap_or(DEFAULT_MODE);
    let mut payload = Payload::new();
    let mut errors = Vec::new();
    for projection in source.sources.iter().flatten() {
        let part = if let Some(cm) = &projection.config_map {
            let optional = cm.optional == Some(true);
            match config_map::fetch(ctx, &cm.name, optional).await {
                Ok(object) => {
                    config_map::make_payload(cm.items.as_deref().unwrap_or(&[]), &object, default_mode, optional)
                }
                Err(e) => Err(e),
            }
        } else if let Some(s) = &projection.secret {
            let optional = s.optional == Some(true);
            match secret::fetch(ctx, &s.name, optional).await {
                Ok(object) => secret::make_payload(s.items.as_deref().unwrap_or(&[]), &object, default_mode, optional),
                Err(e) => Err(e),
            }
        } else if let Some(d) = &projection.downward_api {
            downward_api::make_payload(ctx.pod, d.items.as_deref().unwrap_or(&[]), default_mode, ctx.node)
        } else if let Some(token) = &projection.service_account_token {
            service_account_token(ctx, token, default_mode, dir).await
        } else if projection.cluster_trust_bundle.is_some() {
            Err("clusterTrustBundle projections are not supported".to_string())
        } else {
            Ok(Payload::new())
        };
        match part {
            Ok(part) => payload.extend(part),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(payload) } else { Err(errors.join(", ")) }
}

async fn service_account_token(
    ctx: &SetupContext<'_>,
    projection: &ServiceAccountTokenProjection,
    default_mode: i32,
    dir: &Path,
) -> Result<Payload, String> {
    // With an fsGroup the token is 0600 and group-readable through the ownership change.
    let mode = if ctx.fs_group.is_some() { 0o600 } else { u32::try_from(default_mode).unwrap_or(0o644) };
    let expiration = projection.expiration_seconds.unwrap_or(DEFAULT_EXPIRATION_SECONDS).max(600);
    let existing = dir.join("..data").join(&projection.path);
    let fresh_for = Duration::from_secs(u64::try_from(expiration).unwrap_or(3600) * 8 / 10);
    let reusable = std::fs::metadata(&existing)
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age < fresh_for);
    let token = match reusable.then(|| std::fs::read(&existing).ok()).flatten() {
        Some(token) => token,
        None => request_token(ctx, projection, expiration).await?.into_bytes(),
    };
    let mut payload = Payload::new();
    payload.insert(projection.path.clone(), FileProjection { data: token, mode });
    Ok(payload)
}

async fn request_token(
    ctx: &SetupContext<'_>,
    projection: &ServiceAccountTokenProjection,
    expiration: i64,
) -> Result<String, String> {
    let pod = ctx.pod;
    let account = pod.spec.as_ref().and_then(|s| s.service_account_name.as_deref()).unwrap_or("default");
    let audiences: Vec<&str> = projection.audience.as_deref().filter(|a| !a.is_empty()).into_iter().collect();
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": audiences,
            "expirationSeconds": expiration,
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod.metadata.name.as_deref().unwrap_or(""),
                "uid": pod.metadata.uid.as_deref().unwrap_or(""),
            },
        },
    });
    let api: client::Api<ServiceAccount> = client::Api::namespaced(ctx.client.clone(), ctx.namespace());
    match api.create_subresource::<Value, Value>("token", account, &body).await {
        Ok(answer) => answer
            .pointer("/status/token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("failed to fetch token: no token in the TokenRequest answer for {account:?}")),
        // The server answered but cannot mint tokens (no TokenRequest, no such account).
        Err(client::Error::Api(status)) => {
            tracing::debug!(account, reason = %status.reason, "no service account token minted; writing a placeholder");
            Ok(PLACEHOLDER_TOKEN.to_string())
        }
        Err(error) => Err(format!("failed to fetch token: {error}")),
    }
}
