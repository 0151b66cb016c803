//! Kubernetes' command/args rules over the image's ENTRYPOINT and CMD, with `$(VAR)`
//! expansion of command and args from the container's environment.

use agent::container_config::command::argv;
use agent::runtime::ImageConfig;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn image() -> ImageConfig {
    ImageConfig {
        entrypoint: strings(&["/docker-entrypoint.sh"]),
        cmd: strings(&["nginx", "-g", "daemon off;"]),
        ..ImageConfig::default()
    }
}

#[test]
fn neither_command_nor_args_runs_the_image_entrypoint_and_cmd() {
    assert_eq!(argv(&image(), &[], &[], &[]), strings(&["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]));
}

#[test]
fn command_replaces_entrypoint_and_ignores_cmd() {
    assert_eq!(argv(&image(), &strings(&["echo"]), &[], &[]), strings(&["echo"]));
    assert_eq!(
        argv(&image(), &strings(&["echo"]), &strings(&["Hello", "World"]), &[]),
        strings(&["echo", "Hello", "World"])
    );
}

#[test]
fn args_alone_replace_cmd_after_the_image_entrypoint() {
    assert_eq!(argv(&image(), &[], &strings(&["echo", "hi"]), &[]), strings(&["/docker-entrypoint.sh", "echo", "hi"]));
    // An image without ENTRYPOINT: the args are the whole command (`kubectl run -- echo`).
    let busybox = ImageConfig { cmd: strings(&["sh"]), ..ImageConfig::default() };
    assert_eq!(argv(&busybox, &[], &strings(&["echo", "Hello World"]), &[]), strings(&["echo", "Hello World"]));
}

#[test]
fn nothing_to_run_is_empty() {
    assert!(argv(&ImageConfig::default(), &[], &[], &[]).is_empty());
}

#[test]
fn command_and_args_expand_env_references() {
    let env = vec![("GREETING".to_string(), "hello".to_string()), ("NAME".to_string(), "pod".to_string())];
    assert_eq!(
        argv(&image(), &strings(&["echo", "$(GREETING)"]), &strings(&["$(NAME)", "$$(NAME)", "$(MISSING)"]), &env),
        strings(&["echo", "hello", "pod", "$(NAME)", "$(MISSING)"])
    );
}
