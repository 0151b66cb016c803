//! Acceptance: the write-side kubectl commands that read manifests, for kubectl 1.33, 1.32 and
//! 1.27: `apply -f` three times (created, configured, unchanged), server-side strict field
//! validation of a typo, the pod-spec immutability 422, `create -f`, `delete` (`-f`, `-l`,
//! `--all`, `--wait` on a finalizer) and `wait --for=delete`.

use std::time::Duration;

use testkit::{Kubectl, Server, shared};

fn pod_manifest(ns: &str, image: &str, labels: &str, command: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: demo\n  namespace: {ns}\n  labels:\n{labels}spec:\n  containers:\n  - name: main\n    image: {image}\n    command: [{command}]\n  restartPolicy: Never\n"
    )
}

fn k(server: &Server, version: Kubectl, ns: &str, args: &[&str]) -> testkit::Output {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    server.kubectl_as(version, &full)
}

#[test]
fn apply_three_times_creates_configures_and_leaves_unchanged() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("apply{}", version.minor()));
        let file = server.write_file(
            &format!("{ns}-pod.yaml"),
            &pod_manifest(&ns, "busybox:1.36", "    app: demo\n", "sleep, \"3600\""),
        );
        let path = file.to_string_lossy().to_string();
        k(server, version, &ns, &["apply", "-f", &path]).assert_success().assert_stdout("pod/demo created\n");
        let annotation = k(server, version, &ns, &["get", "pod", "demo", "-o", "json"]).json();
        let last = annotation["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(last.contains("\"image\":\"busybox:1.36\""), "{version}: last-applied kept verbatim: {annotation}");

        // Change what a pod may change: the image, and labels.
        std::fs::write(&file, pod_manifest(&ns, "busybox:1.37", "    app: demo\n    tier: back\n", "sleep, \"3600\""))
            .expect("rewrite manifest");
        k(server, version, &ns, &["apply", "-f", &path]).assert_success().assert_stdout("pod/demo configured\n");
        k(
            server,
            version,
            &ns,
            &[
                "get",
                "pod",
                "demo",
                "-o",
                "jsonpath={.spec.containers[0].image} {.metadata.labels.tier} {.spec.containers[0].command}",
            ],
        )
        .assert_success()
        .assert_stdout("busybox:1.37 back [\"sleep\",\"3600\"]");

        k(server, version, &ns, &["apply", "-f", &path]).assert_success().assert_stdout("pod/demo unchanged\n");

        // Removing a label from the file removes it from the object (three-way merge).
        std::fs::write(&file, pod_manifest(&ns, "busybox:1.37", "    app: demo\n", "sleep, \"3600\""))
            .expect("rewrite");
        k(server, version, &ns, &["apply", "-f", &path]).assert_success().assert_stdout("pod/demo configured\n");
        k(server, version, &ns, &["get", "pod", "demo", "-o", "jsonpath={.metadata.labels}"])
            .assert_success()
            .assert_stdout("{\"app\":\"demo\"}");

        // Pod specs are immutable apart from images and a few fields: 422 from the server.
        std::fs::write(&file, pod_manifest(&ns, "busybox:1.37", "    app: demo\n", "sleep, \"7200\""))
            .expect("rewrite");
        let out = k(server, version, &ns, &["apply", "-f", &path]);
        out.assert_failure();
        assert!(
            out.stderr.contains(
                "Pod \"demo\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
            ),
            "{version}: {out}"
        );
        k(server, version, &ns, &["get", "pod", "demo", "-o", "jsonpath={.spec.containers[0].command}"])
            .assert_success()
            .assert_stdout("[\"sleep\",\"3600\"]");
    }
}

#[test]
fn apply_deployment_bumps_generation_and_patches_the_template() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("applydeploy{}", version.minor()));
        let manifest = |replicas: u32, image: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: nginx\n        image: {image}\n        ports:\n        - containerPort: 80\n"
            )
        };
        k(server, version, &ns, &["apply", "-f", "-"]).assert_failure(); // no stdin: an error, not a hang
        let out = server.kubectl_stdin(version, &["-n", &ns, "apply", "-f", "-"], &manifest(2, "nginx:1.27"));
        out.assert_success().assert_stdout("deployment.apps/web created\n");
        let out = server.kubectl_stdin(version, &["-n", &ns, "apply", "-f", "-"], &manifest(3, "nginx:1.28"));
        out.assert_success().assert_stdout("deployment.apps/web configured\n");
        let out = server.kubectl_stdin(version, &["-n", &ns, "apply", "-f", "-"], &manifest(3, "nginx:1.28"));
        out.assert_success().assert_stdout("deployment.apps/web unchanged\n");
        let json = k(server, version, &ns, &["get", "deployment", "web", "-o", "json"]).json();
        assert_eq!(json["metadata"]["generation"], 2, "{version}: one spec change after create: {json}");
        assert_eq!(json["spec"]["replicas"], 3);
        assert_eq!(json["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.28");
        assert_eq!(json["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 80);
        assert_eq!(json["spec"]["strategy"]["type"], "RollingUpdate", "defaulted: {json}");
        assert_eq!(json["spec"]["revisionHistoryLimit"], 10, "defaulted: {json}");
    }
}

#[test]
fn apply_with_a_typo_is_a_strict_decoding_error() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("strict{}", version.minor()));
        let manifest = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\n  namespace: {ns}\nspec:\n  foo: bar\n  containers:\n  - name: main\n    image: nginx\n"
        );
        let file = server.write_file(&format!("{ns}-typo.yaml"), &manifest);
        let out = k(server, version, &ns, &["apply", "-f", &file.to_string_lossy()]);
        assert_eq!(out.code(), 1, "{version}: {out}");
        assert!(out.stderr.contains("Error from server (BadRequest)"), "{version}: {out}");
        assert!(out.stderr.contains(r#"strict decoding error: unknown field "spec.foo""#), "{version}: {out}");
        k(server, version, &ns, &["get", "pod", "typo"]).assert_failure();

        // --validate=warn: created, with the server's warning printed.
        let out = k(server, version, &ns, &["apply", "--validate=warn", "-f", &file.to_string_lossy()]);
        if version != Kubectl::V1_27 {
            out.assert_success().assert_stdout("pod/typo created\n");
            assert!(out.stderr.contains(r#"Warning: unknown field "spec.foo""#), "{version}: {out}");
        }

        // A typo deeper down, and a duplicate field.
        let nested = manifest
            .replace("  foo: bar\n", "")
            .replace("    image: nginx\n", "    image: nginx\n    imagee: x\n")
            .replace("typo", "typo2");
        let out = server.kubectl_stdin(version, &["-n", &ns, "create", "-f", "-"], &nested);
        assert!(
            out.stderr.contains(r#"strict decoding error: unknown field "spec.containers[0].imagee""#),
            "{version}: {out}"
        );
    }
}

#[test]
fn create_f_then_already_exists() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("createf{}", version.minor()));
        let manifest = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  mode: fast\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: worker\n  namespace: {ns}\nspec:\n  containers:\n  - name: main\n    image: busybox\n"
        );
        let file = server.write_file(&format!("{ns}-two.yaml"), &manifest);
        let path = file.to_string_lossy().to_string();
        k(server, version, &ns, &["create", "-f", &path])
            .assert_success()
            .assert_stdout("configmap/settings created\npod/worker created\n");
        let out = k(server, version, &ns, &["create", "-f", &path]);
        assert_eq!(out.code(), 1, "{out}");
        assert!(
            out.stderr.contains(&format!(r#"Error from server (AlreadyExists): error when creating "{path}": configmaps "settings" already exists"#)),
            "{version}: {out}"
        );
        assert!(
            out.stderr.contains(&format!(
                r#"Error from server (AlreadyExists): error when creating "{path}": pods "worker" already exists"#
            )),
            "{version}: {out}"
        );
        k(server, version, &ns, &["get", "configmap", "settings", "-o", "jsonpath={.data.mode}"])
            .assert_success()
            .assert_stdout("fast");

        // delete -f removes both, in file order.
        k(server, version, &ns, &["delete", "-f", &path])
            .assert_success()
            .assert_stdout("configmap \"settings\" deleted\npod \"worker\" deleted\n");
        let out = k(server, version, &ns, &["delete", "-f", &path]);
        assert_eq!(out.code(), 1);
        assert!(out.stderr.contains(r#"Error from server (NotFound): error when deleting"#), "{version}: {out}");
        assert!(out.stderr.contains(r#"configmaps "settings" not found"#), "{version}: {out}");
    }
}

#[test]
fn create_in_a_missing_namespace_is_not_found() {
    let server = shared();
    for version in Kubectl::ALL {
        let out = server.kubectl_as(version, &["-n", "no-such-namespace", "run", "x", "--image=nginx"]);
        assert_eq!(out.code(), 1, "{out}");
        assert_eq!(
            out.stderr, "Error from server (NotFound): namespaces \"no-such-namespace\" not found\n",
            "{version}"
        );
    }
}

#[test]
fn delete_by_label_all_and_missing() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("delete{}", version.minor()));
        for (name, app) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("c1", "c")] {
            k(server, version, &ns, &["run", name, "--image=nginx", &format!("--labels=app={app}")]).assert_success();
        }
        k(server, version, &ns, &["delete", "pods", "-l", "app=a"])
            .assert_success()
            .assert_stdout("pod \"a1\" deleted\npod \"a2\" deleted\n");
        k(server, version, &ns, &["get", "pods", "-o", "name"]).assert_success().assert_stdout("pod/b1\npod/c1\n");
        let out = k(server, version, &ns, &["delete", "pod", "nope"]);
        assert_eq!(out.code(), 1);
        assert_eq!(out.stderr, "Error from server (NotFound): pods \"nope\" not found\n", "{version}: {out}");
        k(server, version, &ns, &["delete", "pods", "--all", "--wait"])
            .assert_success()
            .assert_stdout("pod \"b1\" deleted\npod \"c1\" deleted\n");
        let out = k(server, version, &ns, &["get", "pods"]);
        out.assert_success();
        assert_eq!(out.stderr, format!("No resources found in {ns} namespace.\n"));
        // kubectl prints this one on stdout.
        k(server, version, &ns, &["delete", "pods", "--all"]).assert_success().assert_stdout("No resources found\n");
    }
}

/// A finalizer holds a deleted object (with deletionTimestamp) until it is removed; `delete`
/// (waiting by default) and `wait --for=delete` return only then.
#[test]
fn delete_waits_for_finalizers_and_wait_for_delete() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("finalizer{}", version.minor()));
        let manifest = |name: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  finalizers:\n  - example.com/hold\ndata:\n  a: b\n"
            )
        };
        for name in ["held", "watched"] {
            server.kubectl_stdin(version, &["-n", &ns, "create", "-f", "-"], &manifest(name)).assert_success();
        }

        // delete --wait=false returns at once; the object stays, marked for deletion.
        k(server, version, &ns, &["delete", "configmap", "held", "--wait=false"])
            .assert_success()
            .assert_stdout("configmap \"held\" deleted\n");
        let json = k(server, version, &ns, &["get", "configmap", "held", "-o", "json"]).json();
        assert!(json["metadata"]["deletionTimestamp"].is_string(), "{version}: {json}");
        assert_eq!(json["metadata"]["finalizers"], serde_json::json!(["example.com/hold"]));

        // wait --for=delete blocks until the finalizer goes.
        let mut waiter =
            server.kubectl_background(version, &["-n", &ns, "wait", "--for=delete", "configmap/held", "--timeout=60s"]);
        // delete (waiting) blocks as well.
        let deleter = server.kubectl_background(version, &["-n", &ns, "delete", "configmap", "watched", "--wait"]);
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            waiter.next_line(Duration::from_millis(10)).is_none(),
            "{version}: wait returned early: {:?}",
            waiter.seen()
        );

        for name in ["held", "watched"] {
            k(
                server,
                version,
                &ns,
                &[
                    "patch",
                    "configmap",
                    name,
                    "--type=json",
                    "-p",
                    r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
                ],
            )
            .assert_success();
        }
        let (status, lines, stderr) = waiter.finish(Duration::from_secs(30));
        assert!(status.success(), "{version}: wait failed: {lines:?} {stderr}");
        assert_eq!(lines, ["configmap/held condition met"], "{version}: {stderr}");
        let (status, lines, stderr) = deleter.finish(Duration::from_secs(30));
        assert!(status.success(), "{version}: delete failed: {stderr}");
        assert_eq!(lines, ["configmap \"watched\" deleted"], "{version}: {stderr}");
        k(server, version, &ns, &["get", "configmap", "held"]).assert_failure();
        k(server, version, &ns, &["get", "configmap", "watched"]).assert_failure();
    }
}
