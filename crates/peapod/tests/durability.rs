//! Acceptance: an acknowledged write survives `kill -9` of the server. Several clients stream
//! creates at a server on the default (SQLite) store; the server is killed with SIGKILL in the
//! middle of the stream and restarted on the same data directory; every object whose create
//! was answered 201 must be there, with its data, and the store keeps going from there.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use testkit::{Request, Server};

const CLIENTS: usize = 4;

#[test]
fn acknowledged_creates_survive_kill_9() {
    let mut server = Server::start().expect("start peapod server");
    let ns = server.fresh_namespace("durable");
    let base = format!("/api/v1/namespaces/{ns}/configmaps");

    let acknowledged: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let killed = AtomicBool::new(false);
    let attempts = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let (server, base, acknowledged, killed, attempts) = (&server, &base, &acknowledged, &killed, &attempts);
            scope.spawn(move || {
                for i in 0.. {
                    if killed.load(Ordering::SeqCst) {
                        break;
                    }
                    let name = format!("c{client}-{i:05}");
                    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                        "data": {"client": client.to_string(), "seq": i.to_string()}});
                    attempts.fetch_add(1, Ordering::Relaxed);
                    // Connection errors after the kill are expected: only 201s count.
                    if let Ok(response) = server.try_send(&Request::new("POST", base).json(&body))
                        && response.status == 201
                    {
                        let rv =
                            response.json()["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
                        acknowledged.lock().unwrap_or_else(|e| e.into_inner()).insert(name, rv);
                    }
                }
            });
        }
        // Let the stream run, then kill the server in the middle of it.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while acknowledged.lock().unwrap_or_else(|e| e.into_inner()).len() < 150 && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = kill(Pid::from_raw(server.pid()), Signal::SIGKILL);
        // Keep the clients sending into the dead server for a moment, then stop them.
        std::thread::sleep(Duration::from_millis(200));
        killed.store(true, Ordering::SeqCst);
    });
    let acknowledged = acknowledged.into_inner().unwrap_or_else(|e| e.into_inner());
    assert!(acknowledged.len() >= 100, "too few creates before the kill: {}", acknowledged.len());
    assert!(
        attempts.load(Ordering::Relaxed) > acknowledged.len(),
        "some creates must have been in flight or refused after the kill"
    );

    server.restart().expect("restart on the same data directory");
    let list = server.get(&base);
    list.assert_status(200);
    let list = list.json();
    let stored: BTreeMap<String, serde_json::Value> = list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|item| (item["metadata"]["name"].as_str().unwrap_or_default().to_string(), item))
        .collect();
    let missing: Vec<&String> = acknowledged.keys().filter(|name| !stored.contains_key(*name)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged creates lost: {missing:?}", missing.len(), acknowledged.len());
    for (name, rv) in &acknowledged {
        let item = &stored[name];
        assert_eq!(item["metadata"]["resourceVersion"], rv.as_str(), "{name}");
        let (client, seq) = name.trim_start_matches('c').split_once('-').unwrap_or_default();
        assert_eq!(item["data"]["client"], client, "{name}");
        assert_eq!(item["data"]["seq"].as_str().and_then(|s| s.parse::<u64>().ok()), seq.parse::<u64>().ok(), "{name}");
    }

    // The store goes on after the crash: new writes get newer resourceVersions.
    let highest = acknowledged.values().filter_map(|rv| rv.parse::<u64>().ok()).max().unwrap_or(0);
    let after =
        server.post_json(&base, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after"}}));
    after.assert_status(201);
    let rv: u64 = after.json()["metadata"]["resourceVersion"].as_str().and_then(|rv| rv.parse().ok()).unwrap_or(0);
    assert!(rv > highest, "resourceVersion {rv} after restart must exceed {highest}");
    // The default namespaces and the kubeconfig credentials are kept.
    server.kubectl(&["get", "namespace", &ns]).assert_success();
    server.get("/api/v1/namespaces/kube-system").assert_status(200);
}

/// SIGTERM stops the server cleanly (exit 0), and it comes back with its data.
#[test]
fn sigterm_stops_cleanly_and_data_persists() {
    let mut server = Server::start().expect("start peapod server");
    let ns = server.fresh_namespace("term");
    server.kubectl(&["-n", &ns, "create", "configmap", "kept", "--from-literal=a=b"]).assert_success();
    let ca_before = std::fs::read(server.ca_file()).unwrap_or_default();
    server.signal(Signal::SIGTERM);
    assert!(server.log().contains("shutting down"), "no clean shutdown in the log:\n{}", server.log());
    server.restart().expect("restart");
    server
        .kubectl(&["-n", &ns, "get", "configmap", "kept", "-o", "jsonpath={.data.a}"])
        .assert_success()
        .assert_stdout("b");
    // The CA is generated once and reused, so old kubeconfigs stay valid.
    assert_eq!(std::fs::read(server.ca_file()).unwrap_or_default(), ca_before, "the cluster CA changed on restart");
}
