//! The effective security settings of one container: the pod's `securityContext` merged with
//! the container's (the container wins field by field, as `DetermineEffectiveSecurityContext`
//! does), `fsGroup` added to the supplemental groups, the `runAsNonRoot` check against the
//! image's user, and the kubelet's defaults (`allowPrivilegeEscalation` true, seccomp
//! `Unconfined` unless a profile is set).
//!
//! Pure: it reads the pod and the image config and decides; it must not touch the node.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod, SeccompProfile as ApiSeccompProfile};

use crate::runtime::{ImageConfig, SeccompProfile, SecurityConfig};

/// Builds the container's [`SecurityConfig`]. An error is the kubelet's
/// `CreateContainerConfigError` message (`container has runAsNonRoot and image will run as root
/// (pod: "web_default(uid)", container: app)`).
pub fn security_config(pod: &Pod, container: &Container, image: &ImageConfig) -> Result<SecurityConfig, String> {
    let pod_sc = pod.spec.as_ref().and_then(|spec| spec.security_context.as_ref());
    let sc = container.security_context.as_ref();

    let run_as_user = sc.and_then(|sc| sc.run_as_user).or_else(|| pod_sc.and_then(|p| p.run_as_user));
    let run_as_group = sc.and_then(|sc| sc.run_as_group).or_else(|| pod_sc.and_then(|p| p.run_as_group));
    let run_as_non_root = sc.and_then(|sc| sc.run_as_non_root).or_else(|| pod_sc.and_then(|p| p.run_as_non_root));
    if run_as_non_root == Some(true) {
        verify_run_as_non_root(pod, container, run_as_user, image.user.as_deref())?;
    }

    let mut supplemental_groups = pod_sc.and_then(|p| p.supplemental_groups.clone()).unwrap_or_default();
    if let Some(fs_group) = pod_sc.and_then(|p| p.fs_group) {
        supplemental_groups.push(fs_group);
    }

    let seccomp =
        match sc.and_then(|sc| sc.seccomp_profile.as_ref()).or_else(|| pod_sc.and_then(|p| p.seccomp_profile.as_ref()))
        {
            Some(profile) => seccomp_profile(profile)?,
            // The kubelet's default without `--seccomp-default`.
            None => SeccompProfile::Unconfined,
        };

    let capabilities = sc.and_then(|sc| sc.capabilities.as_ref());
    let sysctls: BTreeMap<String, String> = pod_sc
        .and_then(|p| p.sysctls.as_ref())
        .map(|sysctls| sysctls.iter().map(|s| (s.name.clone(), s.value.clone())).collect())
        .unwrap_or_default();

    Ok(SecurityConfig {
        privileged: sc.and_then(|sc| sc.privileged).unwrap_or(false),
        run_as_user,
        run_as_group,
        supplemental_groups,
        capabilities_add: capabilities.and_then(|c| c.add.clone()).unwrap_or_default(),
        capabilities_drop: capabilities.and_then(|c| c.drop.clone()).unwrap_or_default(),
        read_only_root_filesystem: sc.and_then(|sc| sc.read_only_root_filesystem).unwrap_or(false),
        // `AddNoNewPrivileges`: no_new_privs only when explicitly disallowed. (Validation already
        // refuses `false` together with `privileged` or CAP_SYS_ADMIN.)
        allow_privilege_escalation: sc.and_then(|sc| sc.allow_privilege_escalation).unwrap_or(true),
        seccomp,
        unmasked_proc: sc.and_then(|sc| sc.proc_mount.as_deref()) == Some("Unmasked"),
        sysctls,
    })
}

fn seccomp_profile(profile: &ApiSeccompProfile) -> Result<SeccompProfile, String> {
    match profile.type_.as_str() {
        "Unconfined" => Ok(SeccompProfile::Unconfined),
        "RuntimeDefault" => Ok(SeccompProfile::RuntimeDefault),
        "Localhost" => match profile.localhost_profile.as_deref() {
            Some(path) if !path.is_empty() => Ok(SeccompProfile::Localhost(PathBuf::from(path))),
            _ => Err("localhostProfile must be set if seccompProfile type is Localhost.".to_string()),
        },
        other => Err(format!("unsupported seccomp profile type {other:?}")),
    }
}

/// The image's user as the kubelet reads it from the image status: a numeric uid, a user name,
/// or root when the image names no user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageUser {
    Uid(i64),
    Name(String),
}

pub fn image_user(user: Option<&str>) -> ImageUser {
    let user = user.unwrap_or("");
    // `user:group`: only the user part matters here.
    let user = user.split(':').next().unwrap_or("");
    if user.is_empty() {
        return ImageUser::Uid(0);
    }
    match user.parse::<i64>() {
        Ok(uid) => ImageUser::Uid(uid),
        Err(_) => ImageUser::Name(user.to_string()),
    }
}

/// `format.Pod`: `name_namespace(uid)`.
fn format_pod(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or(""),
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.uid.as_deref().unwrap_or("")
    )
}

fn verify_run_as_non_root(
    pod: &Pod,
    container: &Container,
    run_as_user: Option<i64>,
    image_user_text: Option<&str>,
) -> Result<(), String> {
    let pod_text = format_pod(pod);
    if let Some(uid) = run_as_user {
        if uid == 0 {
            return Err(format!(
                "container's runAsUser breaks non-root policy (pod: {pod_text:?}, container: {})",
                container.name
            ));
        }
        return Ok(());
    }
    match image_user(image_user_text) {
        ImageUser::Uid(0) => Err(format!(
            "container has runAsNonRoot and image will run as root (pod: {pod_text:?}, container: {})",
            container.name
        )),
        ImageUser::Uid(_) => Ok(()),
        ImageUser::Name(name) => Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({name}), cannot verify user is non-root (pod: {pod_text:?}, container: {})",
            container.name
        )),
    }
}
