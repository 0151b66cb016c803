//! Acceptance: the read-side kubectl commands against a real `peapod server --disable-agent`,
//! for kubectl 1.33, 1.32 and 1.27: version, api-resources, api-versions, cluster-info, explain,
//! run, get (every output format, -A, -l, --show-labels, --sort-by) and describe with events.
//! Output is compared with what kube-apiserver makes kubectl print for the same objects.

use testkit::{Kubectl, Table, is_age, shared};

#[test]
fn version_reports_a_kubernetes_server_version() {
    let server = shared();
    for version in Kubectl::ALL {
        let out = server.kubectl_as(version, &["version", "-o", "json"]);
        out.assert_success();
        let json = out.json();
        assert_eq!(json["serverVersion"]["major"], "1", "{version}");
        assert_eq!(json["serverVersion"]["minor"], "33", "{version}");
        let git = json["serverVersion"]["gitVersion"].as_str().unwrap_or_default();
        assert!(git.starts_with("v1.33."), "{version}: gitVersion {git}");
        let plain = server.kubectl_as(version, &["version"]);
        plain.assert_success().assert_stdout_contains("Server Version: ");
        assert!(plain.stdout.contains("v1.33."), "{plain}");
    }
}

#[test]
fn api_resources_lists_the_served_resources() {
    let server = shared();
    for version in Kubectl::ALL {
        let out = server.kubectl_as(version, &["api-resources"]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(table.headers, ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], "{version}");
        let expect = [
            ["pods", "po", "v1", "true", "Pod"],
            ["namespaces", "ns", "v1", "false", "Namespace"],
            ["nodes", "no", "v1", "false", "Node"],
            ["configmaps", "cm", "v1", "true", "ConfigMap"],
            ["secrets", "", "v1", "true", "Secret"],
            ["services", "svc", "v1", "true", "Service"],
            ["endpoints", "ep", "v1", "true", "Endpoints"],
            ["events", "ev", "v1", "true", "Event"],
            ["serviceaccounts", "sa", "v1", "true", "ServiceAccount"],
            ["deployments", "deploy", "apps/v1", "true", "Deployment"],
            ["replicasets", "rs", "apps/v1", "true", "ReplicaSet"],
            ["leases", "", "coordination.k8s.io/v1", "true", "Lease"],
        ];
        for row in expect {
            assert!(table.rows.iter().any(|r| r == &row), "{version}: api-resources lacks {row:?}:\n{}", out.stdout);
        }
        // `-o name` of namespaced resources only, as used by scripts.
        let names = server.kubectl_as(version, &["api-resources", "--namespaced=false", "-o", "name"]);
        names.assert_success();
        assert!(names.lines().contains(&"namespaces".to_string()), "{names}");
        assert!(!names.lines().contains(&"pods".to_string()), "{names}");
    }
}

#[test]
fn api_versions_lists_the_served_group_versions() {
    let server = shared();
    for version in Kubectl::ALL {
        let out = server.kubectl_as(version, &["api-versions"]);
        out.assert_success();
        let lines = out.lines();
        for gv in ["v1", "apps/v1", "coordination.k8s.io/v1"] {
            assert!(lines.iter().any(|l| l == gv), "{version}: api-versions lacks {gv}: {out}");
        }
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(lines, sorted, "{version}: api-versions prints sorted lines");
    }
}

#[test]
fn cluster_info_names_the_control_plane() {
    let server = shared();
    for version in Kubectl::ALL {
        let out = server.kubectl_as(version, &["cluster-info"]);
        out.assert_success();
        // kubectl 1.27 colours the words; strip the escapes before comparing.
        let text = strip_ansi(&out.stdout);
        assert!(text.contains(&format!("Kubernetes control plane is running at {}", server.url())), "{version}: {out}");
        assert!(text.contains("To further debug and diagnose cluster problems, use 'kubectl cluster-info dump'."));
    }
}

#[test]
fn explain_uses_the_openapi_v3_schemas() {
    let server = shared();
    for version in Kubectl::ALL {
        let out = server.kubectl_as(version, &["explain", "pod.spec.containers"]);
        out.assert_success();
        assert!(
            out.stdout.starts_with("KIND:       Pod\nVERSION:    v1\n\nFIELD: containers <[]Container>\n"),
            "{out}"
        );
        assert!(out.stdout.contains("DESCRIPTION:\n    List of containers belonging to the pod."), "{out}");
        assert!(out.stdout.contains("  image\t<string>\n"), "{out}");
        assert!(out.stdout.contains("  name\t<string> -required-\n"), "{out}");

        let deployment = server.kubectl_as(version, &["explain", "deployment.spec.replicas"]);
        deployment.assert_success();
        assert!(
            deployment.stdout.starts_with("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n"),
            "{deployment}"
        );
        assert!(deployment.stdout.contains("FIELD: replicas <integer>"), "{deployment}");

        let missing = server.kubectl_as(version, &["explain", "pod.spec.nosuchfield"]);
        missing.assert_failure();
        assert!(missing.stderr.contains(r#"field "nosuchfield" does not exist"#), "{missing}");
    }
}

#[test]
fn run_then_get_in_every_output_format() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("get{}", version.minor()));
        let k = |args: &[&str]| {
            let mut full = vec!["-n", ns.as_str()];
            full.extend_from_slice(args);
            server.kubectl_as(version, &full)
        };
        k(&["run", "web", "--image=nginx", "--labels=app=web,tier=front"])
            .assert_success()
            .assert_stdout("pod/web created\n");
        k(&["run", "db", "--image=postgres:16", "--labels=app=db"]).assert_success().assert_stdout("pod/db created\n");
        k(&["run", "once", "--image=busybox", "--restart=Never", "--", "echo", "Hello World"])
            .assert_success()
            .assert_stdout("pod/once created\n");

        // Plain table: kube-apiserver's pod columns; unscheduled pods are Pending.
        let out = k(&["get", "pods"]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(table.headers, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], "{version}: {out}");
        assert_eq!(table.names(), ["db", "once", "web"], "{version}: rows sorted by name: {out}");
        for name in ["db", "once", "web"] {
            assert_eq!(&table.row(name).unwrap()[1..4], ["0/1", "Pending", "0"], "{version}: {out}");
            assert!(is_age(table.cell(name, "AGE")), "{version}: {out}");
        }

        // -o wide adds the priority-1 columns.
        let out = k(&["get", "pods", "-o", "wide"]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(
            table.headers,
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
            "{version}: {out}"
        );
        assert_eq!(&table.row("web").unwrap()[5..], ["<none>", "<none>", "<none>", "<none>"], "{version}: {out}");

        // A single pod by name, and a missing one.
        let out = k(&["get", "pod", "web"]);
        out.assert_success();
        assert_eq!(Table::parse(&out.stdout).names(), ["web"], "{out}");
        let out = k(&["get", "pod", "nope"]);
        assert_eq!(out.code(), 1, "{out}");
        assert_eq!(out.stderr, "Error from server (NotFound): pods \"nope\" not found\n", "{version}: {out}");

        // -o name
        k(&["get", "pods", "-o", "name"]).assert_success().assert_stdout("pod/db\npod/once\npod/web\n");

        // -o json: a List of the full objects, managedFields hidden.
        let out = k(&["get", "pods", "-o", "json"]);
        out.assert_success();
        let json = out.json();
        assert_eq!(json["kind"], "List", "{out}");
        assert_eq!(json["apiVersion"], "v1");
        let items = json["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 3, "{out}");
        let web = items.iter().find(|p| p["metadata"]["name"] == "web").cloned().unwrap_or_default();
        assert_eq!(web["kind"], "Pod");
        assert_eq!(web["metadata"]["namespace"], ns.as_str());
        assert_eq!(web["metadata"]["labels"]["app"], "web");
        assert_eq!(web["spec"]["containers"][0]["image"], "nginx");
        assert_eq!(web["status"]["phase"], "Pending");
        assert!(web["metadata"]["uid"].as_str().is_some_and(|uid| uid.len() == 36), "{out}");
        assert!(web["metadata"]["creationTimestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{out}");
        assert!(web["metadata"]["resourceVersion"].as_str().is_some_and(|rv| rv.parse::<u64>().is_ok()), "{out}");
        assert!(web["metadata"].get("managedFields").is_none(), "kubectl hides managedFields: {out}");
        let once = items.iter().find(|p| p["metadata"]["name"] == "once").cloned().unwrap_or_default();
        assert_eq!(once["spec"]["containers"][0]["args"], serde_json::json!(["echo", "Hello World"]), "{out}");
        assert_eq!(once["spec"]["restartPolicy"], "Never");
        // Defaults kube-apiserver fills in.
        assert_eq!(once["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(once["spec"]["schedulerName"], "default-scheduler");
        assert_eq!(once["spec"]["terminationGracePeriodSeconds"], 30);
        assert_eq!(once["spec"]["containers"][0]["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(once["spec"]["containers"][0]["imagePullPolicy"], "Always", "busybox (latest) pulls Always");
        let db = items.iter().find(|p| p["metadata"]["name"] == "db").cloned().unwrap_or_default();
        assert_eq!(db["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent", "tagged image: IfNotPresent");

        // -o yaml of one pod
        let out = k(&["get", "pod", "web", "-o", "yaml"]);
        out.assert_success();
        assert!(out.stdout.starts_with("apiVersion: v1\nkind: Pod\nmetadata:\n"), "{out}");
        assert!(out.stdout.contains("  name: web\n"), "{out}");
        assert!(out.stdout.contains(&format!("  namespace: {ns}\n")), "{out}");
        assert!(out.stdout.contains("  - image: nginx\n"), "{out}");
        assert!(out.stdout.contains("  phase: Pending\n"), "{out}");

        // -o jsonpath
        k(&["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"]).assert_success().assert_stdout("db once web");
        k(&["get", "pod", "web", "-o", "jsonpath={.metadata.labels.tier} {.spec.containers[0].image}"])
            .assert_success()
            .assert_stdout("front nginx");

        // -o custom-columns
        k(&["get", "pods", "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image,PHASE:.status.phase"])
            .assert_success()
            .assert_stdout(
                "NAME   IMAGE         PHASE\ndb     postgres:16   Pending\nonce   busybox       Pending\nweb    nginx         Pending\n",
            );

        // -l with the selector grammar
        k(&["get", "pods", "-l", "app=web", "-o", "name"]).assert_success().assert_stdout("pod/web\n");
        k(&["get", "pods", "-l", "app in (web,db)", "-o", "name"]).assert_success().assert_stdout("pod/db\npod/web\n");
        k(&["get", "pods", "-l", "app!=web,app", "-o", "name"]).assert_success().assert_stdout("pod/db\n");
        k(&["get", "pods", "-l", "!app", "-o", "name"]).assert_success().assert_stdout("pod/once\n");
        let none = k(&["get", "pods", "-l", "app=nothing"]);
        none.assert_success();
        assert_eq!(none.stdout, "");
        assert_eq!(none.stderr, format!("No resources found in {ns} namespace.\n"), "{none}");

        // --show-labels
        let out = k(&["get", "pods", "--show-labels"]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(table.headers, ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"], "{out}");
        assert_eq!(table.cell("web", "LABELS"), "app=web,tier=front", "{out}");
        assert_eq!(table.cell("once", "LABELS"), "run=once", "{out}");

        // --sort-by needs the full object in each Table row.
        let out = k(&["get", "pods", "--sort-by=.spec.containers[0].image"]);
        out.assert_success();
        assert_eq!(Table::parse(&out.stdout).names(), ["once", "web", "db"], "{version}: {out}");
        let out = k(&["get", "pods", "--sort-by=.metadata.name", "-o", "name"]);
        out.assert_success().assert_stdout("pod/db\npod/once\npod/web\n");

        // -A: the NAMESPACE column, across namespaces.
        let out = server.kubectl_as(version, &["get", "pods", "-A"]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(table.headers, ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"], "{out}");
        let ours: Vec<&str> = table.rows.iter().filter(|row| row[0] == ns).map(|row| row[1].as_str()).collect();
        assert_eq!(ours, ["db", "once", "web"], "{version}: {out}");

        // Several kinds at once: kubectl prefixes the names.
        let out = k(&["get", "pods,configmaps", "-o", "name"]);
        out.assert_success();
        assert!(out.stdout.contains("pod/web\n"), "{out}");
    }
}

#[test]
fn get_namespaces_and_the_default_ones() {
    let server = shared();
    for version in Kubectl::ALL {
        let out = server.kubectl_as(version, &["get", "namespaces"]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(table.headers, ["NAME", "STATUS", "AGE"], "{out}");
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            assert_eq!(table.cell(name, "STATUS"), "Active", "{version}: {out}");
        }
    }
}

#[test]
fn describe_pod_prints_its_events() {
    let server = shared();
    for version in Kubectl::ALL {
        let ns = server.fresh_namespace(&format!("describe{}", version.minor()));
        let k = |args: &[&str]| {
            let mut full = vec!["-n", ns.as_str()];
            full.extend_from_slice(args);
            server.kubectl_as(version, &full)
        };
        k(&["run", "nginx", "--image=nginx", "--labels=app=web"]).assert_success();
        let out = k(&["describe", "pod", "nginx"]);
        out.assert_success();
        assert!(out.stdout.starts_with(&format!("Name:         nginx\nNamespace:    {ns}\n")), "{out}");
        for line in
            ["Labels:       app=web\n", "Status:       Pending\n", "Containers:\n  nginx:\n    Image:        nginx\n"]
        {
            assert!(out.stdout.contains(line), "{version}: describe lacks {line:?}: {out}");
        }
        // The padding of the lower block depends on which sections are present (Conditions
        // appear once the scheduler has looked at the pod): compare words.
        let words = |prefix: &str| {
            out.stdout
                .lines()
                .find(|l| l.starts_with(prefix))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        assert_eq!(words("QoS Class:").as_deref(), Some("QoS Class: BestEffort"), "{version}: {out}");
        assert_eq!(words("Node:").as_deref(), Some("Node: <none>"), "{version}: {out}");

        let uid = k(&["get", "pod", "nginx", "-o", "jsonpath={.metadata.uid}"]);
        uid.assert_success();
        let now = utc_now();
        let event = format!(
            "apiVersion: v1\nkind: Event\nmetadata:\n  name: nginx.scheduled\n  namespace: {ns}\ninvolvedObject:\n  apiVersion: v1\n  kind: Pod\n  name: nginx\n  namespace: {ns}\n  uid: {uid}\nreason: Scheduled\nmessage: Successfully assigned {ns}/nginx to node1\nsource:\n  component: default-scheduler\nfirstTimestamp: \"{now}\"\nlastTimestamp: \"{now}\"\ncount: 1\ntype: Normal\n",
            uid = uid.stdout
        );
        let file = server.write_file(&format!("event-{ns}.yaml"), &event);
        let path = file.to_string_lossy();
        let validate = "--validate=strict";
        k(&["create", validate, "-f", &path]).assert_success().assert_stdout("event/nginx.scheduled created\n");
        // An event about another object must not show up.
        let other =
            event.replace("name: nginx.scheduled", "name: other.pulled").replace("  name: nginx\n", "  name: other\n");
        let other_file = server.write_file(&format!("event-other-{ns}.yaml"), &other);
        k(&["create", validate, "-f", &other_file.to_string_lossy()]).assert_success();

        let out = k(&["describe", "pod", "nginx"]);
        out.assert_success();
        let events = out.stdout.split("Events:\n").nth(1).unwrap_or_default().to_string();
        let table = Table::parse(&events);
        assert_eq!(table.headers, ["Type", "Reason", "Age", "From", "Message"], "{version}: {out}");
        assert_eq!(table.rows[0], ["----", "------", "----", "----", "-------"]);
        // Our event, and no event of the other object (the scheduler may add its own, e.g.
        // FailedScheduling: there is no node).
        let ours = table.rows.iter().find(|row| row[1] == "Scheduled").cloned().unwrap_or_default();
        assert_eq!(ours.len(), 5, "{version}: our event is missing: {out}");
        assert_eq!(ours[0], "Normal");
        assert!(is_age(&ours[2]), "{out}");
        assert_eq!(ours[3], "default-scheduler");
        assert_eq!(ours[4], format!("Successfully assigned {ns}/nginx to node1"));
        assert!(!out.stdout.contains("other"), "{version}: another object's event shown: {out}");
        for row in &table.rows[1..] {
            assert!(row[0] == "Normal" || row[0] == "Warning", "{version}: {out}");
        }

        // kubectl get events: the Event table columns.
        let out = k(&["get", "events"]);
        out.assert_success();
        let table = Table::parse(&out.stdout);
        assert_eq!(table.headers, ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], "{version}: {out}");
        assert!(table.rows.iter().any(|r| r[3] == "pod/nginx" && r[2] == "Scheduled"), "{out}");
    }
}

/// The current time as RFC 3339 in UTC, from `date` (the test must not need a date crate).
fn utc_now() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        other => panic!("date failed: {other:?}"),
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... letter
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
