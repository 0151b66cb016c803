//! Acceptance: list and watch over raw HTTPS: label selector grammar, the field selectors
//! Kubernetes supports for pods, `limit`/`continue` pagination, and watch with
//! `resourceVersion`, `allowWatchBookmarks`, `timeoutSeconds` and `sendInitialEvents`.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::{Request, Server, shared};

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn pods_with_labels(server: &Server, ns: &str) {
    let pods = [
        ("a", json!({"env": "prod", "tier": "web"})),
        ("b", json!({"env": "dev", "tier": "web"})),
        ("c", json!({"env": "prod", "tier": "db"})),
        ("d", json!({"tier": "cache"})),
        ("e", json!({})),
    ];
    for (name, labels) in pods {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        server.post_json(&format!("/api/v1/namespaces/{ns}/pods"), &pod).assert_status(201);
    }
}

#[test]
fn label_selector_grammar() {
    let server = shared();
    let ns = server.fresh_namespace("labelsel");
    pods_with_labels(server, &ns);
    let cases: [(&str, &[&str]); 10] = [
        ("env=prod", &["a", "c"]),
        ("env==prod", &["a", "c"]),
        ("env!=prod", &["b", "d", "e"]),
        ("env", &["a", "b", "c"]),
        ("!env", &["d", "e"]),
        ("env in (prod,dev),tier=web", &["a", "b"]),
        ("tier notin (web,db)", &["d", "e"]),
        ("env=prod,tier!=db", &["a"]),
        ("tier in (cache)", &["d"]),
        ("", &["a", "b", "c", "d", "e"]),
    ];
    for (selector, expected) in cases {
        let response = server.get(&format!("/api/v1/namespaces/{ns}/pods?labelSelector={}", encode(selector)));
        response.assert_status(200);
        assert_eq!(names(&response.json()), expected, "labelSelector={selector:?}");
    }
    for bad in ["env in (prod", "=x", "env=prod=x", "a b"] {
        let response = server.get(&format!("/api/v1/namespaces/{ns}/pods?labelSelector={}", encode(bad)));
        response.assert_status_reason(400, "BadRequest");
    }
}

#[test]
fn field_selectors() {
    let server = shared();
    let ns = server.fresh_namespace("fieldsel");
    pods_with_labels(server, &ns);
    let base = format!("/api/v1/namespaces/{ns}/pods");
    let cases: [(&str, &[&str]); 6] = [
        ("metadata.name=a", &["a"]),
        ("metadata.name!=a", &["b", "c", "d", "e"]),
        ("spec.nodeName=", &["a", "b", "c", "d", "e"]),
        ("status.phase=Pending", &["a", "b", "c", "d", "e"]),
        ("status.phase=Running", &[]),
        ("metadata.namespace=other", &[]),
    ];
    for (selector, expected) in cases {
        let response = server.get(&format!("{base}?fieldSelector={}", encode(selector)));
        response.assert_status(200);
        assert_eq!(names(&response.json()), expected, "fieldSelector={selector:?}");
    }
    let all = server.get(&format!("/api/v1/pods?fieldSelector={}", encode(&format!("metadata.namespace={ns}"))));
    assert_eq!(names(&all.json()).len(), 5);
    // Unsupported fields are refused as kube-apiserver does.
    let response = server.get(&format!("{base}?fieldSelector={}", encode("spec.containers=x")));
    let body = response.assert_status_reason(400, "BadRequest");
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("field label not supported: spec.containers")),
        "{response}"
    );
    // Events: involvedObject.* (about a ConfigMap: the scheduler reports on the pods itself).
    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev1"},
        "involvedObject": {"kind": "ConfigMap", "name": "cfg-a", "namespace": ns}, "reason": "Test", "message": "m", "type": "Normal"});
    server.post_json(&format!("/api/v1/namespaces/{ns}/events"), &event).assert_status(201);
    let events = server.get(&format!(
        "/api/v1/namespaces/{ns}/events?fieldSelector={}",
        encode(&format!("involvedObject.name=cfg-a,involvedObject.namespace={ns},involvedObject.kind=ConfigMap"))
    ));
    assert_eq!(names(&events.json()), ["ev1"], "{events}");
    let events =
        server.get(&format!("/api/v1/namespaces/{ns}/events?fieldSelector={}", encode("involvedObject.name=cfg-b")));
    assert_eq!(names(&events.json()), Vec::<String>::new());
}

#[test]
fn list_pagination_with_limit_and_continue() {
    let server = shared();
    let ns = server.fresh_namespace("paginate");
    let base = format!("/api/v1/namespaces/{ns}/configmaps");
    for i in 0..30 {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i:02}")}});
        server.post_json(&base, &cm).assert_status(201);
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    let mut first_rv = String::new();
    let mut remaining = Value::Null;
    loop {
        let path = match &token {
            Some(token) => format!("{base}?limit=7&continue={}", encode(token)),
            None => format!("{base}?limit=7"),
        };
        let page = server.get(&path);
        page.assert_status(200);
        let page = page.json();
        pages += 1;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 7, "{page}");
        seen.extend(items.iter().map(|i| i["metadata"]["name"].as_str().unwrap_or_default().to_string()));
        if pages == 1 {
            first_rv = page["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
            remaining = page["metadata"]["remainingItemCount"].clone();
            // A change after the first page must not show up in later pages (a consistent snapshot).
            let late = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-99-late"}});
            server.post_json(&base, &late).assert_status(201);
        } else {
            assert_eq!(page["metadata"]["resourceVersion"], first_rv.as_str(), "pages share the snapshot");
        }
        match page["metadata"]["continue"].as_str() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 5);
    let expected: Vec<String> = (0..30).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(seen, expected, "every object once, in key order");
    // A garbage continue token is a 400 (kube: "continue key is not valid").
    server.get(&format!("{base}?limit=7&continue=garbage")).assert_status_reason(400, "BadRequest");
    // kubectl follows continue tokens on its own with --chunk-size.
    let out = server.kubectl(&["-n", &ns, "get", "configmaps", "--chunk-size=4", "-o", "name"]);
    out.assert_success();
    assert_eq!(out.lines().len(), 31, "{out}");
    // kube-apiserver counts what is left when no selector filters the list.
    assert_eq!(remaining, 23, "metadata.remainingItemCount of the first page");
}

#[test]
fn watch_from_a_resource_version_with_bookmarks_and_timeout() {
    let server = shared();
    let ns = server.fresh_namespace("watch");
    let base = format!("/api/v1/namespaces/{ns}/configmaps");
    let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    server.post_json(&base, &cm("before")).assert_status(201);
    let list = server.get(&base).json();
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
    assert!(rv.parse::<u64>().is_ok(), "list resourceVersion: {list}");

    // From the list's resourceVersion: only later changes, in order.
    let mut watch =
        server.stream(&Request::get(&format!("{base}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true")));
    server.post_json(&base, &cm("after")).assert_status(201);
    let patch =
        Request::new("PATCH", &format!("{base}/after")).body("application/merge-patch+json", r#"{"data":{"k":"v"}}"#);
    server.send(&patch).assert_status(200);
    server.send(&Request::new("DELETE", &format!("{base}/after"))).assert_status(200);
    let mut events = Vec::new();
    while events.len() < 3 {
        let Some(line) = watch.next_line(Duration::from_secs(10)) else { break };
        let event: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("watch line is not JSON ({e}): {line}"));
        if event["type"] != "BOOKMARK" {
            events.push(event);
        }
    }
    let kinds: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().into(),
                e["object"]["metadata"]["name"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("ADDED".into(), "after".into()), ("MODIFIED".into(), "after".into()), ("DELETED".into(), "after".into())],
        "{events:?}"
    );
    assert_eq!(events[1]["object"]["data"]["k"], "v");
    assert_eq!(events[0]["object"]["kind"], "ConfigMap", "watch objects carry kind");
    let rvs: Vec<u64> =
        events.iter().filter_map(|e| e["object"]["metadata"]["resourceVersion"].as_str()?.parse().ok()).collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "increasing resourceVersions: {rvs:?}");
    drop(watch);

    // resourceVersion=0 / absent: synthetic ADDED for what exists, then live events.
    let mut watch = server.stream(&Request::get(&format!("{base}?watch=true")));
    let first: Value =
        serde_json::from_str(&watch.wait_for_line(Duration::from_secs(10), |_| true)).unwrap_or_default();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["metadata"]["name"], "before");
    drop(watch);

    // timeoutSeconds ends the stream.
    let started = std::time::Instant::now();
    let watch = server.stream(&Request::get(&format!("{base}?watch=true&resourceVersion={rv}&timeoutSeconds=1")));
    let (status, _, stderr) = watch.finish(Duration::from_secs(15));
    assert!(status.success(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "timeoutSeconds=1 took {:?}", started.elapsed());

    // sendInitialEvents=true (watch-list): ADDED for each object, then a BOOKMARK carrying the
    // k8s.io/initial-events-end annotation.
    let mut watch = server.stream(&Request::get(&format!(
        "{base}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    )));
    let added = watch.wait_for_line(Duration::from_secs(10), |_| true);
    let added: Value = serde_json::from_str(&added).unwrap_or_default();
    assert_eq!(added["type"], "ADDED", "{added}");
    assert_eq!(added["object"]["metadata"]["name"], "before");
    let bookmark = watch.wait_for_line(Duration::from_secs(10), |line| line.contains("BOOKMARK"));
    let bookmark: Value = serde_json::from_str(&bookmark).unwrap_or_default();
    assert_eq!(bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true", "{bookmark}");
    drop(watch);

    // Label-selected watch.
    let mut watch =
        server.stream(&Request::get(&format!("{base}?watch=true&resourceVersion={rv}&labelSelector=pick%3Dyes")));
    let mut picked = cm("picked");
    picked["metadata"]["labels"] = json!({"pick": "yes"});
    server.post_json(&base, &cm("ignored")).assert_status(201);
    server.post_json(&base, &picked).assert_status(201);
    let line = watch.wait_for_line(Duration::from_secs(10), |_| true);
    assert!(line.contains("\"picked\""), "{line}");
}

#[test]
fn watch_from_a_compacted_revision_is_gone() {
    let server = shared();
    // The server compacts old revisions; a watch from revision 1 is only reachable once they
    // are compacted. An invalid resourceVersion is a 400 either way.
    let bad = server.get("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=abc&timeoutSeconds=1");
    bad.assert_status_reason(400, "BadRequest");
    let old = server.get("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1&timeoutSeconds=1");
    if old.status == 410 {
        old.assert_status_reason(410, "Expired");
    } else {
        // Not compacted yet: the stream is either empty or starts with events, or an ERROR event
        // with a 410 Status.
        old.assert_status(200);
        for line in old.text().lines() {
            let event: Value = serde_json::from_str(line).unwrap_or_default();
            if event["type"] == "ERROR" {
                assert_eq!(event["object"]["code"], 410, "{line}");
            }
        }
    }
}
