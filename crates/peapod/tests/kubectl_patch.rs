//! Acceptance: commands that modify live objects, for kubectl 1.33, 1.32 and 1.27: `label`,
//! `annotate`, `patch` (strategic, merge, json), `edit` with a scripted `EDITOR`, and the
//! server's answers when a change is forbidden or a precondition fails.

use testkit::{Kubectl, Server, shared};

fn k(server: &Server, version: Kubectl, ns: &str, args: &[&str]) -> testkit::Output {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    server.kubectl_as(version, &full)
}

const IMMUTABLE: &str = "The Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

#[test]
fn label_and_annotate() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("label{}", version.minor()));
        k(server, version, &ns, &["run", "p", "--image=nginx"]).assert_success();
        k(server, version, &ns, &["label", "pod", "p", "tier=front", "team=a"])
            .assert_success()
            .assert_stdout("pod/p labeled\n");
        let out = k(server, version, &ns, &["label", "pod", "p", "tier=back"]);
        assert_eq!(out.code(), 1);
        assert_eq!(
            out.stderr, "error: 'tier' already has a value (front), and --overwrite is false\n",
            "{version}: {out}"
        );
        k(server, version, &ns, &["label", "pod", "p", "tier=back", "--overwrite"])
            .assert_success()
            .assert_stdout("pod/p labeled\n");
        k(server, version, &ns, &["label", "pod", "p", "team-"]).assert_success().assert_stdout("pod/p unlabeled\n");
        k(server, version, &ns, &["get", "pod", "p", "-o", "jsonpath={.metadata.labels}"])
            .assert_success()
            .assert_stdout(r#"{"run":"p","tier":"back"}"#);
        // Label syntax is checked by the server: 422 naming the field.
        // kubectl checks label syntax itself; the server checks it too: 422 naming the field.
        let out = k(
            server,
            version,
            &ns,
            &["patch", "pod", "p", "--type=merge", "-p", r#"{"metadata":{"labels":{"bad":"-x-"}}}"#],
        );
        assert_eq!(out.code(), 1);
        assert!(
            out.stderr.starts_with("The Pod \"p\" is invalid: metadata.labels: Invalid value: \"-x-\": a valid label must be an empty string or consist of alphanumeric characters"),
            "{version}: {out}"
        );

        // kubectl 1.27 prints "annotate" (sic) where later versions print "annotated".
        let annotated = if version == Kubectl::V1_27 { "pod/p annotate\n" } else { "pod/p annotated\n" };
        k(server, version, &ns, &["annotate", "pod", "p", "note=hello world"])
            .assert_success()
            .assert_stdout(annotated);
        k(server, version, &ns, &["annotate", "pod", "p", "note=bye", "--overwrite"])
            .assert_success()
            .assert_stdout(annotated);
        k(server, version, &ns, &["get", "pod", "p", "-o", "jsonpath={.metadata.annotations.note}"])
            .assert_success()
            .assert_stdout("bye");
        k(server, version, &ns, &["annotate", "pod", "p", "note-"]).assert_success();

        // label on many objects via a selector.
        k(server, version, &ns, &["run", "q", "--image=nginx"]).assert_success();
        k(server, version, &ns, &["label", "pods", "--all", "batch=1"])
            .assert_success()
            .assert_stdout("pod/p labeled\npod/q labeled\n");
        k(server, version, &ns, &["get", "pods", "-l", "batch=1", "-o", "name"])
            .assert_success()
            .assert_stdout("pod/p\npod/q\n");
        // Removing the last annotation leaves no (empty) map behind: ObjectMeta maps are omitempty.
        k(server, version, &ns, &["get", "pod", "p", "-o", "jsonpath={.metadata.annotations}"])
            .assert_success()
            .assert_stdout("");
    }
}

#[test]
fn patch_strategic_merge_and_json() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("patch{}", version.minor()));
        let pod = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: {ns}\n  labels:\n    app: p\nspec:\n  containers:\n  - name: main\n    image: nginx:1.26\n    args: [\"sleep\", \"1\"]\n    env:\n    - name: A\n      value: \"1\"\n  - name: side\n    image: busybox:1.36\n  tolerations:\n  - key: k1\n    operator: Exists\n"
        );
        server.kubectl_stdin(version, &["create", "-f", "-"], &pod).assert_success();

        // Strategic (the default): containers merge by name, the other container stays.
        k(
            server,
            version,
            &ns,
            &["patch", "pod", "p", "-p", r#"{"spec":{"containers":[{"name":"side","image":"busybox:1.37"}]}}"#],
        )
        .assert_success()
        .assert_stdout("pod/p patched\n");
        k(
            server,
            version,
            &ns,
            &["get", "pod", "p", "-o", "jsonpath={.spec.containers[*].image} {.spec.containers[0].args}"],
        )
        .assert_success()
        .assert_stdout("nginx:1.26 busybox:1.37 [\"sleep\",\"1\"]");
        // Tolerations have no merge key: a strategic patch replaces the list, which drops the
        // existing ones and is forbidden; appending one (JSON patch) is allowed.
        let out = k(
            server,
            version,
            &ns,
            &["patch", "pod", "p", "-p", r#"{"spec":{"tolerations":[{"key":"k2","operator":"Exists"}]}}"#],
        );
        assert_eq!(out.code(), 1, "{out}");
        assert!(
            out.stderr.starts_with("The Pod \"p\" is invalid: spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"),
            "{version}: {out}"
        );
        k(
            server,
            version,
            &ns,
            &[
                "patch",
                "pod",
                "p",
                "--type=json",
                "-p",
                r#"[{"op":"add","path":"/spec/tolerations/-","value":{"key":"k2","operator":"Exists"}}]"#,
            ],
        )
        .assert_success();
        let tolerations = k(server, version, &ns, &["get", "pod", "p", "-o", "jsonpath={.spec.tolerations[*].key}"]);
        tolerations.assert_success();
        assert!(
            tolerations.stdout.starts_with("k1 ") && tolerations.stdout.ends_with(" k2"),
            "{version}: {tolerations}"
        );
        // The same patch again changes nothing.
        k(
            server,
            version,
            &ns,
            &["patch", "pod", "p", "-p", r#"{"spec":{"containers":[{"name":"side","image":"busybox:1.37"}]}}"#],
        )
        .assert_success()
        .assert_stdout("pod/p patched (no change)\n");
        // $patch: delete of a label via null, and a forbidden change.
        k(server, version, &ns, &["patch", "pod", "p", "-p", r#"{"metadata":{"labels":{"app":null,"x":"y"}}}"#])
            .assert_success();
        k(server, version, &ns, &["get", "pod", "p", "-o", "jsonpath={.metadata.labels}"])
            .assert_success()
            .assert_stdout(r#"{"x":"y"}"#);
        let out = k(
            server,
            version,
            &ns,
            &["patch", "pod", "p", "-p", r#"{"spec":{"containers":[{"name":"main","args":["sleep","2"]}]}}"#],
        );
        assert_eq!(out.code(), 1, "{out}");
        assert!(out.stderr.starts_with(IMMUTABLE), "{version}: {out}");

        // Merge patch: lists are replaced whole, so replacing containers is forbidden for pods...
        let out = k(
            server,
            version,
            &ns,
            &["patch", "pod", "p", "--type=merge", "-p", r#"{"spec":{"containers":[{"name":"main","image":"x"}]}}"#],
        );
        assert!(
            out.stderr.starts_with(
                "The Pod \"p\" is invalid: spec.containers: Forbidden: pod updates may not add or remove containers"
            ),
            "{version}: {out}"
        );
        // ...and maps merge.
        k(
            server,
            version,
            &ns,
            &["patch", "pod", "p", "--type=merge", "-p", r#"{"metadata":{"annotations":{"m":"1"}}}"#],
        )
        .assert_success()
        .assert_stdout("pod/p patched\n");

        // JSON patch
        k(server, version, &ns, &["patch", "pod", "p", "--type=json", "-p", r#"[{"op":"replace","path":"/spec/containers/0/image","value":"nginx:1.27"},{"op":"add","path":"/metadata/labels/j","value":"k"}]"#])
            .assert_success()
            .assert_stdout("pod/p patched\n");
        k(
            server,
            version,
            &ns,
            &["get", "pod", "p", "-o", "jsonpath={.spec.containers[0].image} {.metadata.labels.j}"],
        )
        .assert_success()
        .assert_stdout("nginx:1.27 k");
        let out = k(
            server,
            version,
            &ns,
            &["patch", "pod", "p", "--type=json", "-p", r#"[{"op":"remove","path":"/metadata/labels/absent"}]"#],
        );
        assert_eq!(out.code(), 1, "{version}: removing a missing path fails: {out}");
        let out = k(
            server,
            version,
            &ns,
            &[
                "patch",
                "pod",
                "p",
                "--type=json",
                "-p",
                r#"[{"op":"test","path":"/metadata/labels/j","value":"other"}]"#,
            ],
        );
        assert_eq!(out.code(), 1, "{version}: a failed test op fails the patch: {out}");
        k(server, version, &ns, &["get", "pod", "p", "-o", "jsonpath={.metadata.labels.j}"])
            .assert_success()
            .assert_stdout("k");

        // A patch of a missing object.
        let out = k(server, version, &ns, &["patch", "pod", "nope", "-p", "{}"]);
        assert_eq!(out.code(), 1);
        assert_eq!(out.stderr, "Error from server (NotFound): pods \"nope\" not found\n", "{version}: {out}");

        // Deployments: strategic merge on the template bumps generation.
        k(server, version, &ns, &["create", "deployment", "web", "--image=nginx"]).assert_success();
        k(
            server,
            version,
            &ns,
            &[
                "patch",
                "deployment",
                "web",
                "-p",
                r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"E","value":"1"}]}]}}}}"#,
            ],
        )
        .assert_success()
        .assert_stdout("deployment.apps/web patched\n");
        k(server, version, &ns, &["get", "deployment", "web", "-o", "jsonpath={.metadata.generation} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].name}"])
            .assert_success()
            .assert_stdout("2 nginx E");
    }
}

#[test]
fn edit_with_a_scripted_editor() {
    let server = shared();
    let editor = server.write_file("edit-image.sh", "#!/bin/sh\nsed -i 's/image: nginx$/image: nginx:1.27/' \"$1\"\n");
    let forbidden = server.write_file("edit-args.sh", "#!/bin/sh\nsed -i 's/- sleep$/- sleepy/' \"$1\"\n");
    for script in [&editor, &forbidden] {
        let made = std::process::Command::new("chmod").arg("+x").arg(script).status();
        assert!(made.is_ok_and(|s| s.success()));
    }
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("edit{}", version.minor()));
        k(server, version, &ns, &["run", "p", "--image=nginx", "--", "sleep", "1"]).assert_success();
        let run = |editor: &str, args: &[&str]| {
            let mut full = vec!["-n", ns.as_str()];
            full.extend_from_slice(args);
            server.kubectl_env(version, &full, &[("EDITOR", editor), ("TMPDIR", &server.dir().to_string_lossy())])
        };
        run(&editor.to_string_lossy(), &["edit", "pod", "p"]).assert_success().assert_stdout("pod/p edited\n");
        k(server, version, &ns, &["get", "pod", "p", "-o", "jsonpath={.spec.containers[0].image}"])
            .assert_success()
            .assert_stdout("nginx:1.27");
        let out = run("true", &["edit", "pod", "p"]);
        out.assert_success();
        assert_eq!(out.stderr, "Edit cancelled, no changes made.\n", "{version}: {out}");
        // A forbidden change: the server's 422 is shown and a copy is kept.
        let out = run(&forbidden.to_string_lossy(), &["edit", "pod", "p"]);
        assert_eq!(out.code(), 1, "{out}");
        assert!(out.stderr.contains("A copy of your changes has been stored to"), "{version}: {out}");
        assert!(out.stderr.starts_with("error: pods \"p\" is invalid\n"), "{version}: {out}");
        // The reasons go into the saved copy, as comments.
        let copy = out.stderr.split('"').nth(3).unwrap_or_default().to_string();
        let saved = std::fs::read_to_string(&copy).unwrap_or_default();
        assert!(
            saved.contains("# * spec: Forbidden: pod updates may not change fields other than"),
            "{version}: {copy}: {saved}"
        );
        // Edit of a deployment's replicas.
        k(server, version, &ns, &["create", "deployment", "web", "--image=nginx"]).assert_success();
        let replicas =
            server.write_file("edit-replicas.sh", "#!/bin/sh\nsed -i 's/^  replicas: 1$/  replicas: 4/' \"$1\"\n");
        let _ = std::process::Command::new("chmod").arg("+x").arg(&replicas).status();
        run(&replicas.to_string_lossy(), &["edit", "deployment", "web"])
            .assert_success()
            .assert_stdout("deployment.apps/web edited\n");
        k(server, version, &ns, &["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"])
            .assert_success()
            .assert_stdout("4");
    }
}
