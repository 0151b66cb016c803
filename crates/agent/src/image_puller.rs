//! Images for container starts, per `imagePullPolicy` (Always, IfNotPresent, Never; the
//! default from the tag): `Pulling`/`Pulled` events with the kubelet's wording, pull failures
//! as `ErrImagePull` then `ImagePullBackOff` behind the per-container back-off, credentials
//! from `imagePullSecrets`. A node that holds the image but cannot reach the registry runs
//! what it holds (and does not ask the registry again for a minute).
//!
//! It decides waiting reasons for the pod worker that calls it; it never creates containers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};

use crate::agent::Context;
use crate::crash_loop_backoff::{Backoff, go_duration};
use crate::events::{NORMAL, WARNING};
use crate::pod_status::Waiting;
use crate::pod_sync::{PodState, set_waiting};
use crate::runtime::ImageInfo;

/// How long a failed pull of an image the node holds lets later starts skip the registry.
pub(crate) const UNREACHABLE_REGISTRY_MEMORY: Duration = Duration::from_secs(60);

/// Images whose pull failed lately while the node held them (see [`ensure_image`]).
#[derive(Default)]
pub(crate) struct UnreachableImages {
    failed: std::sync::Mutex<HashMap<String, Instant>>,
}

impl UnreachableImages {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn failed(&self, image: &str) {
        let mut failed = self.lock();
        failed.retain(|_, at| at.elapsed() < UNREACHABLE_REGISTRY_MEMORY);
        failed.insert(image.to_string(), Instant::now());
    }

    pub fn recently_failed(&self, image: &str) -> bool {
        self.lock().get(image).is_some_and(|at| at.elapsed() < UNREACHABLE_REGISTRY_MEMORY)
    }
}

pub fn pull_policy(container: &Container) -> &str {
    if let Some(policy) = container.image_pull_policy.as_deref() {
        return policy;
    }
    let image = container.image.as_deref().unwrap_or_default();
    let last = image.rsplit('/').next().unwrap_or(image);
    let tag = last.split_once('@').map_or(last, |(name, _)| name).split_once(':').map(|(_, tag)| tag);
    if image.contains('@') || tag.is_some_and(|t| t != "latest") { "IfNotPresent" } else { "Always" }
}

/// The container's image, pulled if the policy says so; `None` with a waiting reason set.
pub(crate) async fn ensure_image(
    ctx: &Context,
    state: &mut PodState,
    pod: &Pod,
    container: &Container,
) -> Option<ImageInfo> {
    let image = container.image.clone().unwrap_or_default();
    let name = container.name.as_str();
    let fail = |state: &mut PodState, reason: &str, message: String| {
        state.waiting.insert(name.to_string(), Waiting::new(reason, message));
        None
    };
    let present = match ctx.runtime.image_status(&image).await {
        Ok(present) => present,
        Err(error) => return fail(state, "ErrImagePull", error.to_string()),
    };
    let policy = pull_policy(container);
    if policy != "Always"
        && let Some(info) = present.clone()
    {
        let message = format!("Container image {image:?} already present on machine");
        ctx.events.pod(pod, Some(name), NORMAL, "Pulled", message);
        return Some(info);
    }
    if policy == "Never" {
        let message = format!("Container image {image:?} is not present with pull policy of Never");
        if set_waiting(state, name, Waiting::new("ErrImageNeverPull", message.clone())) {
            ctx.events.pod(pod, Some(name), WARNING, "ErrImageNeverPull", message);
        }
        return None;
    }
    let key = Backoff::key(&state.uid, name);
    if ctx.image_backoff.in_backoff_since_update(&key, Timestamp::now()).is_some() {
        let message = format!("Back-off pulling image {image:?}");
        if set_waiting(state, name, Waiting::new("ImagePullBackOff", message.clone())) {
            ctx.events.pod(pod, Some(name), NORMAL, "BackOff", message);
            ctx.events.pod(pod, Some(name), WARNING, "Failed", "Error: ImagePullBackOff".into());
        }
        return None;
    }
    if let Some(info) = present.clone()
        && ctx.unreachable_images.recently_failed(&image)
    {
        // The registry did not answer a moment ago: do not make every start wait for it.
        let message = format!("Container image {image:?} already present on machine");
        ctx.events.pod(pod, Some(name), NORMAL, "Pulled", message);
        return Some(info);
    }
    ctx.events.pod(pod, Some(name), NORMAL, "Pulling", format!("Pulling image {image:?}"));
    let started = Instant::now();
    let auths = crate::pull_secrets::pull_auths(&ctx.client, pod).await;
    match ctx.runtime.pull_image(&image, &auths).await {
        Ok(info) => {
            let took = go_duration(Duration::from_millis(started.elapsed().as_millis() as u64));
            let message = format!(
                "Successfully pulled image {image:?} in {took} ({took} including waiting). Image size: {} bytes.",
                info.size_bytes
            );
            ctx.events.pod(pod, Some(name), NORMAL, "Pulled", message);
            Some(info)
        }
        Err(error) => {
            if let Some(info) = present {
                // Deliberately kinder than the kubelet: a node without registry access (the
                // quick start imports busybox and nginx) runs the image it holds, as an
                // air-gapped k3s does with preloaded images, instead of ImagePullBackOff.
                tracing::warn!(%image, %error, "pull failed; using the image already on the node");
                ctx.unreachable_images.failed(&image);
                let message = format!("Container image {image:?} already present on machine");
                ctx.events.pod(pod, Some(name), NORMAL, "Pulled", message);
                return Some(info);
            }
            ctx.image_backoff.next(&key, Timestamp::now());
            ctx.events.pod(pod, Some(name), WARNING, "Failed", format!("Failed to pull image {image:?}: {error}"));
            ctx.events.pod(pod, Some(name), WARNING, "Failed", "Error: ErrImagePull".into());
            fail(state, "ErrImagePull", error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_defaults_follow_the_tag() {
        let container = |image: &str| Container { name: "c".into(), image: Some(image.into()), ..Container::default() };
        assert_eq!(pull_policy(&container("busybox")), "Always");
        assert_eq!(pull_policy(&container("busybox:latest")), "Always");
        assert_eq!(pull_policy(&container("busybox:1.36")), "IfNotPresent");
        assert_eq!(pull_policy(&container("localhost:5000/app")), "Always");
        assert_eq!(pull_policy(&container("busybox@sha256:abc")), "IfNotPresent");
        let explicit = Container { image_pull_policy: Some("Never".into()), ..container("busybox") };
        assert_eq!(pull_policy(&explicit), "Never");
    }
}
