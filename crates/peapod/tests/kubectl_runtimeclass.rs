//! Acceptance of RuntimeClass (`node.k8s.io/v1 runtimeclasses`, issue 5): the real kubectl
//! applies and prints classes (NAME, HANDLER, AGE), the handler is validated and immutable,
//! and the RuntimeClass admission plugin gives pods their class's overhead, node selector and
//! tolerations, and refuses a pod naming a missing class with kube-apiserver's 403.
//!
//! The last test runs real containers (needs root, skips otherwise): on a server with its
//! node agent, a pod of a class whose handler is `runc` runs under runc, its shim started with
//! runc's binary, and `kubectl exec` into it works.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::{Kubectl, Server, ServerOptions, Table, is_age, shared};

fn class_yaml(name: &str, handler: &str, extra: &str) -> String {
    format!("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: {name}\nhandler: {handler}\n{extra}")
}

fn pod_yaml(name: &str, class: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  runtimeClassName: {class}\n{extra_spec}  containers:\n  - name: main\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n"
    )
}

#[test]
fn apply_and_get_runtime_classes() {
    let server = shared();
    for version in Kubectl::ALL {
        let name = testkit::unique_name(&format!("sandboxed{}", version.minor()));
        let yaml = class_yaml(&name, "runsc", "overhead:\n  podFixed:\n    cpu: 250m\n    memory: 120Mi\n");
        server
            .kubectl_stdin(version, &["apply", "-f", "-"], &yaml)
            .assert_success()
            .assert_stdout(&format!("runtimeclass.node.k8s.io/{name} created\n"));
        // A second apply of the same manifest is a no-op patch.
        server
            .kubectl_stdin(version, &["apply", "-f", "-"], &yaml)
            .assert_success()
            .assert_stdout(&format!("runtimeclass.node.k8s.io/{name} unchanged\n"));
        let out = server.kubectl_as(version, &["get", "runtimeclass", &name]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(table.headers, ["NAME", "HANDLER", "AGE"], "{version}: {out}");
        assert_eq!(table.cell(&name, "HANDLER"), "runsc", "{version}: {out}");
        assert!(is_age(table.cell(&name, "AGE")), "{version}: {out}");
        let json = server.kubectl_as(version, &["get", "runtimeclasses.node.k8s.io", &name, "-o", "json"]).json();
        assert_eq!(json["apiVersion"], "node.k8s.io/v1");
        assert_eq!(json["kind"], "RuntimeClass");
        assert_eq!(json["overhead"]["podFixed"]["cpu"], "250m", "{json}");
        assert!(json["metadata"].get("namespace").is_none(), "cluster-scoped: {json}");
        server
            .kubectl_as(version, &["delete", "runtimeclass", &name])
            .assert_success()
            .assert_stdout(&format!("runtimeclass.node.k8s.io \"{name}\" deleted\n"));
    }
}

#[test]
fn runtime_classes_are_discoverable() {
    let server = shared();
    let out = server.kubectl(&["api-resources", "--api-group=node.k8s.io"]);
    out.assert_success();
    let table = Table::parse(&out.stdout);
    assert_eq!(table.cell("runtimeclasses", "APIVERSION"), "node.k8s.io/v1", "{out}");
    assert_eq!(table.cell("runtimeclasses", "NAMESPACED"), "false", "{out}");
    assert_eq!(table.cell("runtimeclasses", "KIND"), "RuntimeClass", "{out}");
}

#[test]
fn handler_is_validated_and_immutable() {
    let server = shared();
    let name = testkit::unique_name("immutable");
    let out = server.kubectl_stdin(Kubectl::V1_33, &["apply", "-f", "-"], &class_yaml(&name, "Not_A_Label", ""));
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "The RuntimeClass \"{name}\" is invalid: handler: Invalid value: \"Not_A_Label\": a lowercase RFC 1123 label"
        )),
        "{out}"
    );
    server.kubectl_stdin(Kubectl::V1_33, &["apply", "-f", "-"], &class_yaml(&name, "runc", "")).assert_success();
    let out = server.kubectl_stdin(Kubectl::V1_33, &["apply", "-f", "-"], &class_yaml(&name, "crun", ""));
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "The RuntimeClass \"{name}\" is invalid: handler: Invalid value: \"crun\": field is immutable"
        )),
        "{out}"
    );
    server.kubectl(&["delete", "runtimeclass", &name]).assert_success();
}

#[test]
fn admission_merges_the_class_into_pods() {
    let server = shared();
    let ns = server.fresh_namespace("rcadmit");
    let class = testkit::unique_name("gvisor");
    let extra = "overhead:\n  podFixed:\n    cpu: 250m\n    memory: 64Mi\nscheduling:\n  nodeSelector:\n    sandbox: gvisor\n  tolerations:\n  - key: sandboxed\n    operator: Exists\n    effect: NoSchedule\n";
    server.kubectl_stdin(Kubectl::V1_33, &["apply", "-f", "-"], &class_yaml(&class, "runsc", extra)).assert_success();
    let pod = pod_yaml("p", &class, "  nodeSelector:\n    disk: ssd\n");
    server
        .kubectl_stdin(Kubectl::V1_33, &["-n", &ns, "apply", "-f", "-"], &pod)
        .assert_success()
        .assert_stdout("pod/p created\n");
    let json = server.kubectl(&["-n", &ns, "get", "pod", "p", "-o", "json"]).json();
    let spec = &json["spec"];
    assert_eq!(spec["overhead"]["cpu"], "250m", "{json}");
    assert_eq!(spec["overhead"]["memory"], "64Mi", "{json}");
    assert_eq!(spec["nodeSelector"]["disk"], "ssd", "{json}");
    assert_eq!(spec["nodeSelector"]["sandbox"], "gvisor", "{json}");
    let tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    assert!(
        tolerations.iter().any(|t| t["key"] == "sandboxed" && t["operator"] == "Exists" && t["effect"] == "NoSchedule"),
        "{json}"
    );

    // A pod whose node selector disagrees with the class's is refused.
    let conflicting = pod_yaml("conflict", &class, "  nodeSelector:\n    sandbox: kata\n");
    let out = server.kubectl_stdin(Kubectl::V1_33, &["-n", &ns, "apply", "-f", "-"], &conflicting);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("Error from server (Forbidden)"), "{out}");
    assert!(
        out.stderr.contains(
            "pods \"conflict\" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[sandbox] = gvisor; pod.spec.nodeSelector[sandbox] = kata"
        ),
        "{out}"
    );
    // So is an overhead that is not the class's.
    let overhead = pod_yaml("overhead", &class, "  overhead:\n    cpu: \"1\"\n");
    let out = server.kubectl_stdin(Kubectl::V1_33, &["-n", &ns, "apply", "-f", "-"], &overhead);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(
            "pods \"overhead\" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"
        ),
        "{out}"
    );
    server.kubectl(&["delete", "runtimeclass", &class]).assert_success();
}

#[test]
fn a_pod_of_a_missing_class_is_forbidden() {
    let server = shared();
    let ns = server.fresh_namespace("rcmissing");
    let out = server.kubectl_stdin(Kubectl::V1_33, &["-n", &ns, "apply", "-f", "-"], &pod_yaml("p", "nope", ""));
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(
            "Error from server (Forbidden): error when creating \"STDIN\": pods \"p\" is forbidden: pod rejected: RuntimeClass \"nope\" not found"
        ),
        "{out}"
    );
    let out = server.kubectl(&["-n", &ns, "get", "pod", "p"]);
    assert_eq!(out.code(), 1, "the pod was not stored: {out}");
}

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipping: needs root (containers, network namespaces, cgroups)");
    false
}

fn agent_server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let started = testkit::quickstart_images().and_then(|(busybox, nginx)| {
            Server::start_with(ServerOptions { agent: true, import_images: vec![busybox, nginx], ..Default::default() })
        });
        match started {
            Ok(server) => server,
            Err(error) => panic!("start peapod server with its agent: {error:#}"),
        }
    })
}

/// The command line of the shim of the pod with this uid (`peapod shim --pod-dir .../<uid>`).
fn shim_cmdline(pod_uid: &str) -> Option<Vec<String>> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> =
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let is_shim = args.iter().any(|a| a == "shim");
        let of_pod = args.windows(2).any(|w| w[0] == "--pod-dir" && w[1].ends_with(pod_uid));
        if is_shim && of_pod {
            return Some(args);
        }
    }
    None
}

/// `--runtime-binary`'s value in a shim command line.
fn runtime_binary(args: &[String]) -> Option<&str> {
    args.windows(2).find(|w| w[0] == "--runtime-binary").map(|w| w[1].as_str())
}

fn wait_running(server: &Server, ns: &str, name: &str) -> Value {
    let started = Instant::now();
    loop {
        let out = server.kubectl(&["-n", ns, "get", "pod", name, "-o", "json"]);
        if out.success() {
            let pod = out.json();
            if pod["status"]["phase"] == "Running" {
                return pod;
            }
            assert!(started.elapsed() < Duration::from_secs(90), "pod {name} never ran: {pod:#}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_runc_class_runs_its_pod_under_runc() {
    if !is_root() {
        return;
    }
    if !std::path::Path::new("/usr/sbin/runc").exists() && !std::path::Path::new("/usr/bin/runc").exists() {
        eprintln!("skipping: runc is not installed");
        return;
    }
    let server = agent_server();
    let ns = server.fresh_namespace("rcrunc");
    let class = testkit::unique_name("runc");
    server.kubectl_stdin(Kubectl::V1_33, &["apply", "-f", "-"], &class_yaml(&class, "runc", "")).assert_success();
    server.kubectl_stdin(Kubectl::V1_33, &["-n", &ns, "apply", "-f", "-"], &pod_yaml("p", &class, "")).assert_success();
    let pod = wait_running(server, &ns, "p");
    let uid = pod["metadata"]["uid"].as_str().expect("uid").to_string();
    let args = shim_cmdline(&uid).expect("the pod's shim runs");
    let binary = runtime_binary(&args).expect("--runtime-binary");
    assert!(binary.ends_with("/runc"), "shim of a runc pod: {args:?}");
    // The container is runc's: runc knows it by its id, under the node's runtime root.
    let container_id = pod["status"]["containerStatuses"][0]["containerID"].as_str().expect("containerID");
    let id = container_id.rsplit("://").next().expect("id");
    let state = std::process::Command::new(binary)
        .args(["--root", "/run/peapod/runtime", "state", id])
        .output()
        .expect("run runc state");
    assert!(state.status.success(), "runc state {id}: {}", String::from_utf8_lossy(&state.stderr));
    let state: Value = serde_json::from_slice(&state.stdout).expect("runc state JSON");
    assert_eq!(state["status"], "running", "{state}");
    // exec uses the pod's runtime too.
    server.kubectl(&["-n", &ns, "exec", "p", "--", "echo", "hello"]).assert_success().assert_stdout("hello\n");

    // A class of another handler on the same node gets that runtime's shim.
    if std::path::Path::new("/usr/bin/crun").exists() {
        let crun_class = testkit::unique_name("crun");
        server
            .kubectl_stdin(Kubectl::V1_33, &["apply", "-f", "-"], &class_yaml(&crun_class, "crun", ""))
            .assert_success();
        server
            .kubectl_stdin(Kubectl::V1_33, &["-n", &ns, "apply", "-f", "-"], &pod_yaml("q", &crun_class, ""))
            .assert_success();
        let pod = wait_running(server, &ns, "q");
        let args = shim_cmdline(pod["metadata"]["uid"].as_str().expect("uid")).expect("the pod's shim runs");
        assert!(runtime_binary(&args).is_some_and(|b| b.ends_with("/crun")), "shim of a crun pod: {args:?}");
        server.kubectl(&["-n", &ns, "delete", "pod", "q", "--grace-period=1"]).assert_success();
        server.kubectl(&["delete", "runtimeclass", &crun_class]).assert_success();
    }

    server.kubectl(&["-n", &ns, "delete", "pod", "p", "--grace-period=1"]).assert_success();
    server.kubectl(&["delete", "runtimeclass", &class]).assert_success();
}
