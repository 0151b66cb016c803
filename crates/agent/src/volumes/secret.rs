//! secret volumes: like configMap volumes (keys or `items`, modes, `optional`), on a tmpfs so
//! the values never reach the node's disk (`secret "x" not found`,
//! `references non-existent secret key: k`).

use k8s_openapi::api::core::v1::{KeyToPath, Secret, SecretVolumeSource};

use super::SetupContext;
use super::atomic_writer::{FileProjection, Payload};
use super::config_map::DEFAULT_MODE;
use crate::container_config::sources::{self, SourceError};

pub async fn payload(ctx: &SetupContext<'_>, source: &SecretVolumeSource) -> Result<Payload, String> {
    let optional = source.optional == Some(true);
    let name = source.secret_name.as_deref().unwrap_or("");
    let secret = fetch(ctx, name, optional).await?;
    make_payload(source.items.as_deref().unwrap_or(&[]), &secret, source.default_mode.unwrap_or(DEFAULT_MODE), optional)
}

/// The Secret, or an empty one when it is missing and optional.
pub async fn fetch(ctx: &SetupContext<'_>, name: &str, optional: bool) -> Result<Secret, String> {
    match sources::secret(ctx.client, ctx.namespace(), name).await {
        Ok(secret) => Ok(secret),
        Err(SourceError::NotFound(_)) if optional => Ok(Secret::default()),
        Err(error) => Err(error.to_string()),
    }
}

/// `MakePayload` of the secret plugin.
pub fn make_payload(
    items: &[KeyToPath],
    secret: &Secret,
    default_mode: i32,
    optional: bool,
) -> Result<Payload, String> {
    let mode = |m: Option<i32>| u32::try_from(m.unwrap_or(default_mode)).unwrap_or(0o644);
    let mut payload = Payload::new();
    let data = secret.data.as_ref();
    if items.is_empty() {
        for (key, value) in data.into_iter().flatten() {
            payload.insert(key.clone(), FileProjection { data: value.0.clone(), mode: mode(None) });
        }
        return Ok(payload);
    }
    for item in items {
        match data.and_then(|d| d.get(&item.key)) {
            Some(value) => {
                payload.insert(item.path.clone(), FileProjection { data: value.0.clone(), mode: mode(item.mode) });
            }
            None if optional => continue,
            None => return Err(format!("references non-existent secret key: {}", item.key)),
        }
    }
    Ok(payload)
}
