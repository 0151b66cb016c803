//! Write throughput and latency of the SQLite backend: N concurrent writers creating keys for a
//! few seconds against a database in a temporary directory, as the apiserver's creates would.
//!
//! Usage: `cargo run -p store --example store_bench [-- SECONDS [WRITERS [VALUE_BYTES]]]`
//! (defaults: 5 s, 8 writers, 1024-byte values). Prints creates/s and p50/p99/max latency, plus
//! the same while a compactor runs every 500 ms keeping 1000 revisions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{Backend, SqliteBackend, spawn_compactor};

struct Run {
    writes: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

async fn run(backend: Arc<dyn Backend>, tag: &str, seconds: f64, writers: usize, value_bytes: usize) -> Run {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let backend = Arc::clone(&backend);
            let tag = tag.to_string();
            tokio::spawn(async move {
                let value = vec![b'x'; value_bytes];
                let mut latencies = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let key = format!("/registry/bench/{tag}/{writer}/{i:08}");
                    let begin = Instant::now();
                    if let Err(err) = backend.create(&key, value.clone()).await {
                        eprintln!("create failed: {err}");
                        break;
                    }
                    latencies.push(begin.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Run { writes: latencies.len(), elapsed, latencies }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(name: &str, run: &Run) {
    let rate = run.writes as f64 / run.elapsed.as_secs_f64();
    println!(
        "{name}: {} creates in {:.2} s = {rate:.0} creates/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        run.writes,
        run.elapsed.as_secs_f64(),
        percentile(&run.latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&run.latencies, 0.99).as_secs_f64() * 1e3,
        run.latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let writers: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(8);
    let value_bytes: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let dir = tempfile::tempdir().expect("temporary directory");
    let backend: Arc<dyn Backend> = Arc::new(SqliteBackend::open(dir.path()).expect("open store"));
    println!("SQLite backend in {}, {writers} writers, {value_bytes}-byte values", dir.path().display());

    let plain = run(Arc::clone(&backend), "plain", seconds / 2.0, writers, value_bytes).await;
    report("group commit", &plain);

    let compactor = spawn_compactor(Arc::clone(&backend), Duration::from_millis(500), 1000);
    let compacting = run(Arc::clone(&backend), "compacting", seconds / 2.0, writers, value_bytes).await;
    compactor.abort();
    report("with compaction", &compacting);
}
