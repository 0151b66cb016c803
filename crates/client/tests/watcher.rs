//! The watcher and reflector: resuming across a server restart, relisting on 410 Gone and
//! on a server that lost its history, and a cache converging under churn.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::watcher::{self, Event};
use client::{Api, Client, Config, DeleteParams, ListParams, Patch, reflector};
use common::{Datastore, TestServer, eventually};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

fn fast() -> watcher::Config {
    watcher::Config {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        ..watcher::Config::default()
    }
}

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()}
    }))
    .expect("config map")
}

fn name(cm: &ConfigMap) -> &str {
    cm.metadata.name.as_deref().unwrap_or_default()
}

/// Runs a watcher in a task, forwarding its items (errors as text) so it keeps running while
/// the test restarts servers.
fn forward(api: Api<ConfigMap>, config: watcher::Config) -> mpsc::UnboundedReceiver<Result<Event<ConfigMap>, String>> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let events = watcher::watcher(api, config);
        futures::pin_mut!(events);
        while let Some(item) = events.next().await {
            if sender.send(item.map_err(|e| e.to_string())).is_err() {
                return;
            }
        }
    });
    receiver
}

async fn next_event(
    events: &mut mpsc::UnboundedReceiver<Result<Event<ConfigMap>, String>>,
    errors: &mut Vec<String>,
) -> Event<ConfigMap> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
            Ok(Some(Ok(event))) => return event,
            Ok(Some(Err(error))) => errors.push(error),
            Ok(None) => panic!("watcher task ended"),
            Err(_) => panic!("no watcher event within 30 s (errors so far: {errors:?})"),
        }
    }
}

/// Events until (and without) `InitDone`, which must follow an `Init`.
async fn initial_list(
    events: &mut mpsc::UnboundedReceiver<Result<Event<ConfigMap>, String>>,
    errors: &mut Vec<String>,
) -> Vec<String> {
    assert_eq!(next_event(events, errors).await, Event::Init);
    let mut names = Vec::new();
    loop {
        match next_event(events, errors).await {
            Event::InitApply(cm) => names.push(name(&cm).to_string()),
            Event::InitDone => break,
            other => panic!("unexpected {other:?} during the initial list"),
        }
    }
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_resumes_across_a_server_restart() {
    let mut server = TestServer::start(Datastore::Sqlite).await;
    let client = server.client();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    config_maps.create(&config_map("before", &[("w", "1")])).await.expect("create");

    let mut events = forward(config_maps.clone(), fast().labels("w"));
    let mut errors = Vec::new();
    assert_eq!(initial_list(&mut events, &mut errors).await, ["before"]);
    config_maps.create(&config_map("during", &[("w", "1")])).await.expect("create during");
    assert!(matches!(next_event(&mut events, &mut errors).await, Event::Apply(cm) if name(&cm) == "during"));

    server.restart().await;
    // The same client reconnects by itself.
    config_maps.create(&config_map("after", &[("w", "1")])).await.expect("create after restart");
    config_maps.patch("before", &Patch::Merge(json!({"data": {"x": "y"}}))).await.expect("patch");
    config_maps.delete("during", &DeleteParams::default()).await.expect("delete");

    // Resumed from the last resourceVersion: the changes arrive in order, without a relist.
    match next_event(&mut events, &mut errors).await {
        Event::Apply(cm) => assert_eq!(name(&cm), "after"),
        other => panic!("expected Apply(after), got {other:?}"),
    }
    match next_event(&mut events, &mut errors).await {
        Event::Apply(cm) => {
            assert_eq!(name(&cm), "before");
            assert_eq!(cm.data.as_ref().and_then(|d| d.get("x")).map(String::as_str), Some("y"));
        }
        other => panic!("expected Apply(before), got {other:?}"),
    }
    match next_event(&mut events, &mut errors).await {
        Event::Delete(cm) => assert_eq!(name(&cm), "during"),
        other => panic!("expected Delete(during), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_relists_when_the_server_lost_its_history() {
    // A memory store restarts empty with lower resourceVersions: the watcher's version is
    // unknown to the new server, so it must relist and the cache must drop the old objects.
    let mut server = TestServer::start(Datastore::Memory).await;
    let client = server.client();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        config_maps.create(&config_map(&format!("old-{i}"), &[("r", "1")])).await.expect("create");
    }
    let (store, task) = reflector::spawn(config_maps.clone(), fast().labels("r"));
    tokio::time::timeout(Duration::from_secs(10), store.wait_until_ready()).await.expect("ready");
    assert_eq!(store.len(), 5);

    server.restart().await;
    config_maps.create(&config_map("new", &[("r", "1")])).await.expect("create on the new server");
    eventually(Duration::from_secs(30), "the cache to hold only the new object", || {
        let store = store.clone();
        async move { (store.len() == 1 && store.get(Some("default"), "new").is_some()).then_some(()) }
    })
    .await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_converges_after_churn() {
    let server = TestServer::start(Datastore::Memory).await;
    let client = server.client();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // Enough objects before the start that the first list takes several pages.
    for i in 0..12 {
        config_maps.create(&config_map(&format!("pre-{i}"), &[("churn", "yes")])).await.expect("create");
    }
    config_maps.create(&config_map("unrelated", &[("churn", "no")])).await.expect("create");
    let (store, task) =
        reflector::spawn(config_maps.clone(), watcher::Config { page_size: Some(5), ..fast() }.labels("churn=yes"));

    let mut writers = Vec::new();
    for worker in 0..3 {
        let config_maps = config_maps.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..15 {
                let name = format!("w{worker}-{i}");
                config_maps.create(&config_map(&name, &[("churn", "yes")])).await.expect("create");
                if i % 3 == 0 {
                    config_maps
                        .patch(&name, &Patch::Merge(json!({"data": {"n": i.to_string()}})))
                        .await
                        .expect("patch");
                }
                if i % 4 == 0 {
                    config_maps.delete(&name, &DeleteParams::default()).await.expect("delete");
                }
                if i % 5 == 0 {
                    // Leaves the selection: the cache must drop it.
                    config_maps
                        .patch(
                            &format!("pre-{}", worker * 4 + i / 5),
                            &Patch::Merge(json!({"metadata": {"labels": {"churn": "left"}}})),
                        )
                        .await
                        .expect("relabel");
                }
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }

    let truth: BTreeMap<String, String> = config_maps
        .list(&ListParams::default().labels("churn=yes"))
        .await
        .expect("list")
        .items
        .iter()
        .map(|cm| (name(cm).to_string(), cm.metadata.resource_version.clone().unwrap_or_default()))
        .collect();
    assert!(truth.len() > 20, "{truth:?}");
    eventually(Duration::from_secs(30), "the cache to match the server", || {
        let store = store.clone();
        let truth = truth.clone();
        async move {
            let cached: BTreeMap<String, String> = store
                .list()
                .iter()
                .map(|cm| (name(cm).to_string(), cm.metadata.resource_version.clone().unwrap_or_default()))
                .collect();
            (cached == truth).then_some(())
        }
    })
    .await;
    assert!(store.get(Some("default"), "unrelated").is_none());
    task.abort();
}

/// The 410 paths cannot be produced by the real server on demand (its compaction runs every
/// five minutes and keeps 10 000 revisions, with no flag to force it), so this test runs the
/// watcher against a tiny scripted HTTP stub: the first watch gets a 410 `ERROR` event, the
/// second a 410 HTTP answer, the third a 504 "Too large resource version" (what
/// kube-apiserver answers for a version it does not have yet, e.g. after a restart on an empty
/// store), and each must be followed by a relist, with no error surfaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_relists_on_410_gone() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = requests.clone();
    tokio::spawn(async move {
        let mut lists = 0;
        let mut watches = 0;
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let target = head.split_whitespace().nth(1).unwrap_or_default().to_string();
            log.lock().expect("log").push(target.clone());
            let cm = |name: &str, version: u32| json!({"metadata": {"name": name, "namespace": "default", "resourceVersion": version.to_string()}});
            let (status, body, hold) = if target.contains("watch=true") {
                watches += 1;
                match watches {
                    1 => {
                        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired", "message": "too old resource version: 10 (12)"});
                        ("200 OK", format!("{}\n", json!({"type": "ERROR", "object": status})), false)
                    }
                    2 => {
                        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Gone", "message": "gone"});
                        ("410 Gone", status.to_string(), false)
                    }
                    3 => {
                        // What kube-apiserver answers for a version newer than it has.
                        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 504, "reason": "Timeout",
                            "message": "Too large resource version: 30, current: 12",
                            "details": {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}]}});
                        ("504 Gateway Timeout", status.to_string(), false)
                    }
                    _ => ("200 OK", format!("{}\n", json!({"type": "ADDED", "object": cm("d", 41)})), true),
                }
            } else {
                lists += 1;
                let (version, item) = match lists {
                    1 => (10, cm("a", 5)),
                    2 => (20, cm("b", 15)),
                    3 => (30, cm("c", 25)),
                    _ => (40, cm("e", 35)),
                };
                let list = json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": version.to_string()}, "items": [item]});
                ("200 OK", list.to_string(), false)
            };
            let length = if hold { String::new() } else { format!("Content-Length: {}\r\n", body.len()) };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n{length}\r\n{body}"
            );
            let _ = socket.write_all(response.as_bytes()).await;
            if hold {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    drop(socket);
                });
            }
        }
    });

    let client = Client::new(Config::new(format!("http://127.0.0.1:{port}"), None, None)).expect("client");
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut events = forward(api, fast());
    let mut errors = Vec::new();
    assert_eq!(initial_list(&mut events, &mut errors).await, ["a"]);
    assert_eq!(initial_list(&mut events, &mut errors).await, ["b"]);
    assert_eq!(initial_list(&mut events, &mut errors).await, ["c"]);
    assert_eq!(initial_list(&mut events, &mut errors).await, ["e"]);
    match next_event(&mut events, &mut errors).await {
        Event::Apply(cm) => assert_eq!(name(&cm), "d"),
        other => panic!("expected Apply(d), got {other:?}"),
    }
    assert!(errors.is_empty(), "410 is not an error for watcher users: {errors:?}");
    let requests = requests.lock().expect("log").clone();
    let versions: Vec<(bool, Option<&str>)> = requests
        .iter()
        .map(|r| (r.contains("watch=true"), r.split(['?', '&']).find_map(|p| p.strip_prefix("resourceVersion="))))
        .collect();
    assert_eq!(
        versions,
        [
            (false, None),
            (true, Some("10")),
            (false, None),
            (true, Some("20")),
            (false, None),
            (true, Some("30")),
            (false, None),
            (true, Some("40"))
        ],
        "{requests:?}"
    );
}
