//! Scheduling benchmark: a real `peapod server --disable-agent`, N simulated nodes (in this
//! process), P pods created through Deployments of 1,000 replicas each (or directly with
//! bounded concurrency, `--direct`), and the figures: pods/s from creation to bound and to
//! Running (as the simulated kubelets report it), create→bound latency percentiles, p99 of pod
//! create/get/list probes during the churn, the server's RSS at the end, and the CPU time the
//! server and the benchmark process (the simulated nodes) used.
//!
//! ```text
//! cargo build --release -p peapod --example scheduler_bench -p control
//! target/release/examples/scheduler_bench --peapod target/release/peapod            # 1,000 nodes, 30,000 pods
//! target/release/examples/scheduler_bench --peapod target/release/peapod --quick    # 100 nodes, 2,000 pods
//! ```
//!
//! Goals (issue 3): over 1,000 pods/s from creation to bound, server RSS under 1 GiB at the
//! end, with 1,000 nodes and 30,000 pods.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::watcher::{self, Event};
use client::{Api, ListParams};
use control::sim_nodes::{SimNodes, SimNodesConfig};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use serde_json::json;

struct Options {
    peapod: PathBuf,
    nodes: usize,
    pods: usize,
    deployments: bool,
    concurrency: usize,
    datastore: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        peapod: PathBuf::from("target/release/peapod"),
        nodes: 1000,
        pods: 30_000,
        deployments: true,
        concurrency: 64,
        datastore: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--quick" => {
                options.nodes = 100;
                options.pods = 2000;
            }
            "--peapod" => options.peapod = PathBuf::from(value("--peapod")?),
            "--nodes" => options.nodes = value("--nodes")?.parse().map_err(|e| format!("--nodes: {e}"))?,
            "--pods" => options.pods = value("--pods")?.parse().map_err(|e| format!("--pods: {e}"))?,
            "--concurrency" => {
                options.concurrency = value("--concurrency")?.parse().map_err(|e| format!("--concurrency: {e}"))?
            }
            "--datastore-endpoint" => options.datastore = Some(value("--datastore-endpoint")?),
            "--deployments" => options.deployments = true,
            "--direct" => options.deployments = false,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

/// The server process, killed on drop.
struct ServerProcess {
    child: std::process::Child,
    dir: PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_server(options: &Options) -> Result<(ServerProcess, PathBuf), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("free port: {e}"))?
        .port();
    let dir = std::env::temp_dir().join(format!("peapod-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| format!("server log: {e}"))?;
    let mut command = std::process::Command::new(&options.peapod);
    command
        .args(["server", "--disable-agent", "--bind-address", "127.0.0.1", "--https-port", &port.to_string()])
        .arg("--data-dir")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(log);
    if let Some(endpoint) = &options.datastore {
        command.args(["--datastore-endpoint", endpoint]);
    }
    let child = command.spawn().map_err(|e| format!("start {}: {e}", options.peapod.display()))?;
    let kubeconfig = dir.join("kubeconfig.yaml");
    Ok((ServerProcess { child, dir }, kubeconfig))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat` (in the
/// kernel's USER_HZ ticks, 100 per second on Linux).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[derive(Default)]
struct Timeline {
    seen: HashMap<String, Instant>,
    bound: HashMap<String, Instant>,
    running: HashMap<String, Instant>,
}

fn pod_body(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "app", "image": "nginx",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}
    }))
    .expect("static pod")
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let options = options()?;
    println!(
        "scheduler_bench: {} nodes, {} pods ({}), server {}",
        options.nodes,
        options.pods,
        if options.deployments { "through Deployments" } else { "created directly" },
        options.peapod.display()
    );
    let (server, kubeconfig) = start_server(&options)?;
    let started = Instant::now();
    while !kubeconfig.is_file() {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the server did not write its kubeconfig within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut config = client::Config::from_kubeconfig(&kubeconfig).map_err(|e| e.to_string())?;
    config.timeout = Some(Duration::from_secs(120));
    let client = client::Client::new(config).map_err(|e| e.to_string())?;
    loop {
        if client.request_bytes(http_get(), "/readyz", None).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let registering = Instant::now();
    let sim = SimNodes::start(
        client.clone(),
        SimNodesConfig {
            name_prefix: "bench".into(),
            count: options.nodes,
            parallelism: 64,
            ..SimNodesConfig::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    println!("registered {} nodes in {:.1} s", options.nodes, registering.elapsed().as_secs_f64());

    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in ["bench", "probe"] {
        let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("static");
        namespaces.create(&namespace).await.map_err(|e| format!("namespace {name}: {e}"))?;
    }
    // Give the scheduler's informers time to see every node.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The timeline of every bench pod, from one watch.
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let watch = {
        let timeline = timeline.clone();
        let pods: Api<Pod> = Api::namespaced(client.clone(), "bench");
        tokio::spawn(async move {
            let events = watcher::watcher(pods, watcher::Config::default());
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                let (Ok(Event::Apply(pod)) | Ok(Event::InitApply(pod))) = event else { continue };
                let now = Instant::now();
                let Some(name) = pod.metadata.name.clone() else { continue };
                let mut t = timeline.lock().unwrap_or_else(|e| e.into_inner());
                t.seen.entry(name.clone()).or_insert(now);
                if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty()) {
                    t.bound.entry(name.clone()).or_insert(now);
                }
                if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                    t.running.entry(name).or_insert(now);
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Probes of pod create/get/list latency while the churn runs.
    let probing = tokio_util::sync::CancellationToken::new();
    let probe = {
        let client = client.clone();
        let stop = probing.clone();
        tokio::spawn(async move {
            let pods: Api<Pod> = Api::namespaced(client.clone(), "probe");
            let bench: Api<Pod> = Api::namespaced(client, "bench");
            let (mut create, mut get, mut list) = (Vec::new(), Vec::new(), Vec::new());
            let mut i = 0;
            while !stop.is_cancelled() {
                let name = format!("probe-{i}");
                i += 1;
                let t = Instant::now();
                if pods.create(&pod_body(&name)).await.is_ok() {
                    create.push(t.elapsed());
                }
                let t = Instant::now();
                if pods.get(&name).await.is_ok() {
                    get.push(t.elapsed());
                }
                // A page of the big namespace, as `kubectl get pods` asks for it.
                let t = Instant::now();
                if bench.list(&ListParams::default().limit(500)).await.is_ok() {
                    list.push(t.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (create, get, list)
        })
    };

    let creating = Instant::now();
    if options.deployments {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "bench");
        let per = 1000.min(options.pods).max(1);
        let count = options.pods.div_ceil(per);
        for d in 0..count {
            let replicas = per.min(options.pods - d * per);
            let deployment: Deployment = serde_json::from_value(json!({
                "metadata": {"name": format!("bench-{d}")},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": format!("bench-{d}")}},
                    "template": {"metadata": {"labels": {"app": format!("bench-{d}")}},
                        "spec": {"containers": [{"name": "app", "image": "nginx",
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}
            }))
            .expect("static deployment");
            deployments.create(&deployment).await.map_err(|e| format!("deployment: {e}"))?;
        }
    } else {
        let pods: Api<Pod> = Api::namespaced(client.clone(), "bench");
        let failures: usize = futures::stream::iter(0..options.pods)
            .map(|i| {
                let pods = pods.clone();
                async move { pods.create(&pod_body(&format!("bench-{i:05}"))).await.is_err() as usize }
            })
            .buffer_unordered(options.concurrency)
            .fold(0, |sum, failed| async move { sum + failed })
            .await;
        if failures > 0 {
            println!("{failures} pod creations failed");
        }
    }
    let created_in = creating.elapsed();
    println!(
        "created in {:.1} s ({:.0} pods/s)",
        created_in.as_secs_f64(),
        options.pods as f64 / created_in.as_secs_f64()
    );

    let deadline = Instant::now() + Duration::from_secs(60 + options.pods as u64 / 50);
    let mut last_report = Instant::now();
    loop {
        let (bound, running) = {
            let t = timeline.lock().unwrap_or_else(|e| e.into_inner());
            (t.bound.len(), t.running.len())
        };
        if running >= options.pods || Instant::now() > deadline {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            println!("  {:.0} s: {bound} bound, {running} running", creating.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    probing.cancel();
    let (create, get, list) = probe.await.map_err(|e| e.to_string())?;
    watch.abort();

    // The lock is released at the end of this block, before the awaits below.
    let (bound, running, to_bound, to_running, mut latencies) = {
        let t = timeline.lock().unwrap_or_else(|e| e.into_inner());
        let last = |times: &HashMap<String, Instant>| times.values().max().map(|i| i.duration_since(creating));
        let latencies: Vec<Duration> = t
            .bound
            .iter()
            .filter_map(|(name, bound)| t.seen.get(name).map(|seen| bound.saturating_duration_since(*seen)))
            .collect();
        (
            t.bound.len(),
            t.running.len(),
            last(&t.bound).unwrap_or_default(),
            last(&t.running).unwrap_or_default(),
            latencies,
        )
    };
    latencies.sort();
    println!();
    println!("== {} nodes, {} pods ==", options.nodes, options.pods);
    println!(
        "bound:    {bound}/{} in {:.1} s -> {:.0} pods/s",
        options.pods,
        to_bound.as_secs_f64(),
        bound as f64 / to_bound.as_secs_f64().max(1e-9)
    );
    println!(
        "running:  {running}/{} in {:.1} s -> {:.0} pods/s",
        options.pods,
        to_running.as_secs_f64(),
        running as f64 / to_running.as_secs_f64().max(1e-9)
    );
    println!(
        "seen->bound latency: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    for (verb, mut samples) in [("create", create), ("get", get), ("list (limit 500)", list)] {
        samples.sort();
        println!(
            "pod {verb}: {} probes, p50 {:?}, p99 {:?}",
            samples.len(),
            percentile(&samples, 0.5),
            percentile(&samples, 0.99)
        );
    }
    let stats = sim.stats();
    println!(
        "sim nodes: {} running, {} lease renewals, {} write errors",
        stats.running, stats.lease_renewals, stats.write_errors
    );
    // CPU per pod is what decides throughput on a machine this small, and unlike the rates
    // above it does not depend on what else the machine is doing.
    if let (Some(server_cpu), Some(own_cpu)) = (cpu_seconds(&server.child.id().to_string()), cpu_seconds("self")) {
        println!(
            "CPU: server {server_cpu:.1} s ({:.2} ms per pod), benchmark process (sim nodes, watch, probes) {own_cpu:.1} s",
            server_cpu * 1000.0 / options.pods as f64
        );
    }
    match rss_kib(server.child.id()) {
        Some(kib) => println!("server RSS: {:.0} MiB", kib as f64 / 1024.0),
        None => println!("server RSS: unknown"),
    }
    sim.stop().await;
    drop(server);
    Ok(())
}

fn http_get() -> http::Method {
    http::Method::GET
}
