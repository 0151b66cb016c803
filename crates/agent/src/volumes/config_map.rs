//! configMap volumes: every key of `data` and `binaryData` as a file, or only the `items`
//! (key → path, with their own `mode`), with `defaultMode` (0644) otherwise. A missing
//! ConfigMap or key fails the mount unless `optional` (`configmap "x" not found`,
//! `configmap references non-existent config key: k`).

use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, KeyToPath};

use super::SetupContext;
use super::atomic_writer::{FileProjection, Payload};
use crate::container_config::sources::{self, SourceError};

/// The default `defaultMode` of configMap, secret, downwardAPI and projected volumes.
pub const DEFAULT_MODE: i32 = 0o644;

pub async fn payload(ctx: &SetupContext<'_>, source: &ConfigMapVolumeSource) -> Result<Payload, String> {
    let optional = source.optional == Some(true);
    let config_map = fetch(ctx, &source.name, optional).await?;
    make_payload(
        source.items.as_deref().unwrap_or(&[]),
        &config_map,
        source.default_mode.unwrap_or(DEFAULT_MODE),
        optional,
    )
}

/// The ConfigMap, or an empty one when it is missing and optional.
pub async fn fetch(ctx: &SetupContext<'_>, name: &str, optional: bool) -> Result<ConfigMap, String> {
    match sources::config_map(ctx.client, ctx.namespace(), name).await {
        Ok(config_map) => Ok(config_map),
        Err(SourceError::NotFound(_)) if optional => Ok(ConfigMap::default()),
        Err(error) => Err(error.to_string()),
    }
}

/// `MakePayload`.
pub fn make_payload(
    items: &[KeyToPath],
    config_map: &ConfigMap,
    default_mode: i32,
    optional: bool,
) -> Result<Payload, String> {
    let mode = |m: Option<i32>| u32::try_from(m.unwrap_or(default_mode)).unwrap_or(0o644);
    let mut payload = Payload::new();
    let data = config_map.data.as_ref();
    let binary = config_map.binary_data.as_ref();
    if items.is_empty() {
        for (key, value) in data.into_iter().flatten() {
            payload.insert(key.clone(), FileProjection { data: value.clone().into_bytes(), mode: mode(None) });
        }
        for (key, value) in binary.into_iter().flatten() {
            payload.insert(key.clone(), FileProjection { data: value.0.clone(), mode: mode(None) });
        }
        return Ok(payload);
    }
    for item in items {
        let bytes = match (data.and_then(|d| d.get(&item.key)), binary.and_then(|b| b.get(&item.key))) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(bytes)) => bytes.0.clone(),
            (None, None) if optional => continue,
            (None, None) => return Err(format!("configmap references non-existent config key: {}", item.key)),
        };
        payload.insert(item.path.clone(), FileProjection { data: bytes, mode: mode(item.mode) });
    }
    Ok(payload)
}
