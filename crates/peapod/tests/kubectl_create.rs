//! Acceptance: the imperative `kubectl create <kind>` generators (protobuf request bodies from
//! kubectl 1.32 on, JSON from 1.27), `scale` and `set image`, for kubectl 1.33, 1.32 and 1.27,
//! with the tables kube-apiserver prints for those kinds.

use testkit::{Kubectl, Server, Table, is_age, shared};

fn k(server: &Server, version: Kubectl, ns: &str, args: &[&str]) -> testkit::Output {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    server.kubectl_as(version, &full)
}

#[test]
fn create_namespace() {
    let server = shared();
    for version in Kubectl::ALL {
        let name = testkit::unique_name(&format!("made{}", version.minor()));
        server
            .kubectl_as(version, &["create", "namespace", &name])
            .assert_success()
            .assert_stdout(&format!("namespace/{name} created\n"));
        let out = server.kubectl_as(version, &["create", "namespace", &name]);
        assert_eq!(out.code(), 1);
        assert_eq!(
            out.stderr,
            format!("Error from server (AlreadyExists): namespaces \"{name}\" already exists\n"),
            "{version}"
        );
        let out = server.kubectl_as(version, &["get", "namespace", &name]);
        out.assert_success();
        assert_eq!(Table::parse(&out.stdout).cell(&name, "STATUS"), "Active", "{out}");
        let out = server.kubectl_as(version, &["create", "namespace", "Bad_Name"]);
        assert_eq!(out.code(), 1);
        assert!(
            out.stderr.starts_with("The Namespace \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"),
            "{version}: {out}"
        );
    }
}

/// NamespaceLifecycle admission: a namespace being deleted refuses new content at once, even
/// right after creates into it succeeded (the server remembers namespaces that accept content
/// and must forget one the moment it is deleted). A finalizer on a ConfigMap keeps the
/// namespace Terminating meanwhile.
#[test]
fn a_terminating_namespace_refuses_new_content() {
    let server = shared();
    let ns = server.fresh_namespace("ending");
    server.kubectl(&["create", "configmap", "held", "-n", &ns, "--from-literal=a=b"]).assert_success();
    server
        .kubectl(&[
            "patch",
            "configmap",
            "held",
            "-n",
            &ns,
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ])
        .assert_success();
    server.kubectl(&["create", "configmap", "warm", "-n", &ns]).assert_success();
    server.kubectl(&["delete", "namespace", &ns, "--wait=false"]).assert_success();
    let out = server.kubectl(&["create", "configmap", "late", "-n", &ns]);
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(
        out.stderr,
        format!(
            "error: failed to create configmap: configmaps \"late\" is forbidden: unable to create new content in namespace {ns} because it is being terminated\n"
        )
    );
    let status = server
        .post_json(&format!("/api/v1/namespaces/{ns}/configmaps"), &serde_json::json!({"metadata": {"name": "late"}}))
        .assert_status_reason(403, "Forbidden");
    assert_eq!(
        status["details"]["causes"],
        serde_json::json!([{
            "reason": "NamespaceTerminating",
            "message": format!("namespace {ns} is being terminated"),
            "field": "metadata.namespace",
        }]),
        "{status:#}"
    );
    server
        .kubectl(&[
            "patch",
            "configmap",
            "held",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .assert_success();
}

#[test]
fn create_deployment_then_scale_and_set_image() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("deploy{}", version.minor()));
        k(server, version, &ns, &["create", "deployment", "web", "--image=nginx", "--replicas=3"])
            .assert_success()
            .assert_stdout("deployment.apps/web created\n");
        let json = k(server, version, &ns, &["get", "deployment", "web", "-o", "json"]).json();
        assert_eq!(json["spec"]["replicas"], 3, "{version}: {json}");
        assert_eq!(json["metadata"]["labels"]["app"], "web");
        assert_eq!(json["spec"]["selector"]["matchLabels"]["app"], "web");
        assert_eq!(json["spec"]["template"]["spec"]["containers"][0]["name"], "nginx");
        assert_eq!(json["spec"]["template"]["spec"]["containers"][0]["image"], "nginx");
        assert_eq!(json["metadata"]["generation"], 1);
        // Defaults that the protobuf zero values must not have hidden.
        assert_eq!(json["spec"]["strategy"]["type"], "RollingUpdate", "{version}: {json}");
        assert_eq!(json["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(json["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(json["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(json["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(json["spec"]["progressDeadlineSeconds"], 600);

        let out = k(server, version, &ns, &["get", "deployments"]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(table.headers, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], "{out}");
        // No node runs pods (--disable-agent): nothing is ready or available. UP-TO-DATE depends
        // on whether the deployment controller has created the ReplicaSet yet.
        let row = table.row("web").cloned().unwrap_or_default();
        assert_eq!(row[1], "0/3", "{version}: {out}");
        assert!(row[2] == "0" || row[2] == "3", "{version}: {out}");
        assert_eq!(row[3], "0", "{version}: {out}");
        assert!(is_age(table.cell("web", "AGE")));

        k(server, version, &ns, &["scale", "deployment", "web", "--replicas=5"])
            .assert_success()
            .assert_stdout("deployment.apps/web scaled\n");
        k(server, version, &ns, &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"])
            .assert_success()
            .assert_stdout("5 2");
        // --current-replicas is a precondition.
        let out = k(server, version, &ns, &["scale", "deployment", "web", "--current-replicas=4", "--replicas=6"]);
        out.assert_failure();
        assert!(out.stderr.to_lowercase().contains("expected replicas to be 4, was 5"), "{version}: {out}");

        k(server, version, &ns, &["set", "image", "deployment/web", "nginx=nginx:1.27"])
            .assert_success()
            .assert_stdout("deployment.apps/web image updated\n");
        let out = k(server, version, &ns, &["get", "deployments", "-o", "wide"]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(
            table.headers,
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
            "{out}"
        );
        assert_eq!(&table.row("web").unwrap()[5..], ["nginx", "nginx:1.27", "app=web"], "{version}: {out}");
        let out = k(server, version, &ns, &["set", "image", "deployment/web", "nosuch=nginx"]);
        out.assert_failure();
        assert!(out.stderr.contains("unable to find container named \"nosuch\""), "{version}: {out}");

        // The scale subresource as such.
        let scale = server.get(&format!("/apis/apps/v1/namespaces/{ns}/deployments/web/scale"));
        scale.assert_status(200);
        let scale = scale.json();
        assert_eq!(scale["kind"], "Scale");
        assert_eq!(scale["apiVersion"], "autoscaling/v1");
        assert_eq!(scale["spec"]["replicas"], 5);
        assert_eq!(scale["status"]["selector"], "app=web", "{scale}");

        // A ReplicaSet scales too.
        let rs = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: rs\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: rs\n  template:\n    metadata:\n      labels:\n        app: rs\n    spec:\n      containers:\n      - name: c\n        image: nginx\n";
        server.kubectl_stdin(version, &["-n", &ns, "create", "-f", "-"], rs).assert_success();
        k(server, version, &ns, &["scale", "rs", "rs", "--replicas=2"])
            .assert_success()
            .assert_stdout("replicaset.apps/rs scaled\n");
        let out = k(server, version, &ns, &["get", "rs"]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(table.headers, ["NAME", "DESIRED", "CURRENT", "READY", "AGE"], "{out}");
        let row = table.row("rs").cloned().unwrap_or_default();
        assert_eq!(row[1], "2", "{version}: {out}");
        assert!(["0", "1", "2"].contains(&row[2].as_str()), "{version}: CURRENT depends on the controller: {out}");
        assert_eq!(row[3], "0", "{version}: no node, nothing ready: {out}");
    }
}

#[test]
fn create_configmap_secret_and_service() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("kinds{}", version.minor()));
        k(server, version, &ns, &["create", "configmap", "cfg", "--from-literal=mode=fast", "--from-literal=level=3"])
            .assert_success()
            .assert_stdout("configmap/cfg created\n");
        k(server, version, &ns, &["get", "configmap", "cfg", "-o", "jsonpath={.data.level} {.data.mode}"])
            .assert_success()
            .assert_stdout("3 fast");
        k(
            server,
            version,
            &ns,
            &["create", "secret", "generic", "creds", "--from-literal=user=admin", "--from-literal=pass=s3cret"],
        )
        .assert_success()
        .assert_stdout("secret/creds created\n");
        // Secret data is base64 on the wire.
        k(server, version, &ns, &["get", "secret", "creds", "-o", "jsonpath={.data.pass} {.type}"])
            .assert_success()
            .assert_stdout("czNjcmV0 Opaque");
        k(server, version, &ns, &["create", "service", "clusterip", "api", "--tcp=80:8080"])
            .assert_success()
            .assert_stdout("service/api created\n");
        let svc = k(server, version, &ns, &["get", "service", "api", "-o", "json"]).json();
        assert_eq!(svc["spec"]["type"], "ClusterIP");
        assert_eq!(svc["spec"]["ports"][0]["port"], 80);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(svc["spec"]["selector"]["app"], "api", "{version}: {svc}");
        let ip = svc["spec"]["clusterIP"].as_str().unwrap_or_default().to_string();
        assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{version}: a cluster IP is allocated: {svc}");
        assert_eq!(svc["spec"]["clusterIPs"][0], ip.as_str());
        k(server, version, &ns, &["create", "service", "clusterip", "headless", "--clusterip=None"])
            .assert_success()
            .assert_stdout("service/headless created\n");

        let out = k(server, version, &ns, &["get", "services,configmaps,secrets"]);
        out.assert_success();
        let sections: Vec<&str> = out.stdout.split("\n\n").collect();
        assert_eq!(sections.len(), 3, "{version}: {out}");
        let services = Table::parse(sections[0]);
        assert_eq!(services.headers, ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
        assert_eq!(
            &services.row("service/api").unwrap()[1..5],
            ["ClusterIP", ip.as_str(), "<none>", "80/TCP"],
            "{out}"
        );
        assert_eq!(
            &services.row("service/headless").unwrap()[1..5],
            ["ClusterIP", "None", "<none>", "<none>"],
            "{out}"
        );
        let configmaps = Table::parse(sections[1]);
        assert_eq!(configmaps.headers, ["NAME", "DATA", "AGE"]);
        assert_eq!(configmaps.cell("configmap/cfg", "DATA"), "2");
        let secrets = Table::parse(sections[2]);
        assert_eq!(secrets.headers, ["NAME", "TYPE", "DATA", "AGE"]);
        assert_eq!(&secrets.row("secret/creds").unwrap()[1..3], ["Opaque", "2"], "{out}");

        // Again: AlreadyExists, as printed by the generators.
        let out = k(server, version, &ns, &["create", "configmap", "cfg", "--from-literal=a=b"]);
        assert_eq!(out.code(), 1);
        assert_eq!(
            out.stderr, "error: failed to create configmap: configmaps \"cfg\" already exists\n",
            "{version}: {out}"
        );
    }
}
