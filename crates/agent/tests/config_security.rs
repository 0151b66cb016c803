//! The merged pod/container securityContext: container fields win, fsGroup joins the
//! supplemental groups, the kubelet's defaults, and the runAsNonRoot checks.

use agent::container_config::security::{ImageUser, image_user, security_config};
use agent::runtime::{ImageConfig, SeccompProfile};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

fn pod(pod_sc: serde_json::Value, container_sc: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "1234"},
        "spec": {"securityContext": pod_sc, "containers": [{"name": "app", "securityContext": container_sc}]},
    }))
    .expect("pod")
}

fn image(user: Option<&str>) -> ImageConfig {
    ImageConfig { user: user.map(str::to_string), ..ImageConfig::default() }
}

fn run(p: &Pod, user: Option<&str>) -> Result<agent::runtime::SecurityConfig, String> {
    security_config(p, &p.spec.as_ref().expect("spec").containers[0], &image(user))
}

#[test]
fn defaults() {
    let sc = run(&pod(json!({}), json!({})), None).expect("config");
    assert!(!sc.privileged);
    assert!(sc.allow_privilege_escalation, "allowPrivilegeEscalation defaults to true");
    assert_eq!(sc.seccomp, SeccompProfile::Unconfined, "the kubelet's default without --seccomp-default");
    assert_eq!((sc.run_as_user, sc.run_as_group), (None, None));
    assert!(sc.supplemental_groups.is_empty() && sc.capabilities_add.is_empty() && !sc.unmasked_proc);
}

#[test]
fn container_wins_over_pod() {
    let p = pod(
        json!({"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000], "fsGroup": 2000,
               "seccompProfile": {"type": "RuntimeDefault"},
               "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]}),
        json!({"runAsUser": 2000, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
               "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}, "procMount": "Unmasked",
               "seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/audit.json"}}),
    );
    let sc = run(&p, None).expect("config");
    assert_eq!(sc.run_as_user, Some(2000));
    assert_eq!(sc.run_as_group, Some(3000));
    assert_eq!(sc.supplemental_groups, vec![4000, 2000], "fsGroup is appended to supplementalGroups");
    assert!(sc.read_only_root_filesystem);
    assert!(!sc.allow_privilege_escalation);
    assert_eq!(sc.capabilities_add, vec!["NET_ADMIN"]);
    assert_eq!(sc.capabilities_drop, vec!["ALL"]);
    assert!(sc.unmasked_proc);
    assert_eq!(sc.seccomp, SeccompProfile::Localhost("profiles/audit.json".into()));
    assert_eq!(sc.sysctls.get("net.ipv4.ip_unprivileged_port_start").map(String::as_str), Some("0"));

    let p = pod(json!({"seccompProfile": {"type": "RuntimeDefault"}}), json!({"privileged": true}));
    let sc = run(&p, None).expect("config");
    assert_eq!(sc.seccomp, SeccompProfile::RuntimeDefault, "the pod's profile applies without a container one");
    assert!(sc.privileged);
}

#[test]
fn run_as_non_root() {
    // The image runs as root (no USER): refused with the kubelet's message.
    let p = pod(json!({"runAsNonRoot": true}), json!({}));
    let error = run(&p, None).expect_err("root image");
    assert_eq!(
        error,
        "container has runAsNonRoot and image will run as root (pod: \"web_default(1234)\", container: app)"
    );
    assert!(run(&p, Some("0:0")).is_err());
    assert!(run(&p, Some("root")).expect_err("named").contains("image has non-numeric user (root)"));
    // A numeric non-root image user, or an explicit runAsUser, passes.
    assert!(run(&p, Some("1000")).is_ok());
    assert!(run(&pod(json!({"runAsNonRoot": true, "runAsUser": 1000}), json!({})), None).is_ok());
    // runAsUser 0 with runAsNonRoot is refused too.
    let error = run(&pod(json!({"runAsNonRoot": true}), json!({"runAsUser": 0})), Some("1000")).expect_err("uid 0");
    assert!(error.starts_with("container's runAsUser breaks non-root policy"), "{error}");
    // The container can turn the pod's requirement off.
    assert!(run(&pod(json!({"runAsNonRoot": true}), json!({"runAsNonRoot": false})), None).is_ok());
}

#[test]
fn image_users() {
    assert_eq!(image_user(None), ImageUser::Uid(0));
    assert_eq!(image_user(Some("")), ImageUser::Uid(0));
    assert_eq!(image_user(Some("101:101")), ImageUser::Uid(101));
    assert_eq!(image_user(Some("nginx")), ImageUser::Name("nginx".into()));
}

#[test]
fn bad_seccomp_profile_is_an_error() {
    let p = pod(json!({}), json!({"seccompProfile": {"type": "Localhost"}}));
    assert!(run(&p, None).is_err());
}
