//! downwardAPI volumes: one file per item, from a pod field (`fieldRef`: name, namespace,
//! uid, labels, annotations) or a container resource (`resourceFieldRef` with its
//! `containerName`), with `mode`/`defaultMode`. Resynced like configMaps, so label and
//! annotation changes reach running containers.

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, DownwardAPIVolumeSource, Pod};

use super::SetupContext;
use super::atomic_writer::{FileProjection, Payload};
use super::config_map::DEFAULT_MODE;
use crate::container_config::downward::{PodAddresses, field_value};
use crate::container_config::resources::{NodeAllocatable, find_container, resource_field_value};

pub fn payload(ctx: &SetupContext<'_>, source: &DownwardAPIVolumeSource) -> Result<Payload, String> {
    make_payload(ctx.pod, source.items.as_deref().unwrap_or(&[]), source.default_mode.unwrap_or(DEFAULT_MODE), ctx.node)
}

pub fn make_payload(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: i32,
    node: NodeAllocatable,
) -> Result<Payload, String> {
    let addresses = PodAddresses::new(pod, None, None);
    let mut payload = Payload::new();
    for item in items {
        let value = if let Some(selector) = &item.field_ref {
            field_value(selector, pod, &addresses)?
        } else if let Some(selector) = &item.resource_field_ref {
            let name = selector.container_name.as_deref().unwrap_or("");
            let container = find_container(pod, name).ok_or_else(|| format!("container {name} not found"))?;
            resource_field_value(selector, pod, container, node)?
        } else {
            continue;
        };
        let mode = u32::try_from(item.mode.unwrap_or(default_mode)).unwrap_or(0o644);
        payload.insert(item.path.clone(), FileProjection { data: value.into_bytes(), mode });
    }
    Ok(payload)
}
