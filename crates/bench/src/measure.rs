//! The five measurements of issue 2's "Benchmarks" section, each bounded in time and each
//! returning report rows. They drive a real server over HTTPS; they never reach into the
//! server's process other than reading `/proc/PID/status` for memory.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::cluster::Endpoint;
use crate::http::Connection;
use crate::load::{CreateLoad, CreateRun};
use crate::objects::{self, ListHead, WatchLine};
use crate::report::{Goal, Row};
use crate::server::{Launch, ServerProcess};
use crate::stats::{self, Summary};

/// How long a single start may take before it counts as a failure.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long SIGTERM may take before the server is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Sizes and time bounds of the measurements (command-line flags).
#[derive(Clone, Debug)]
pub struct Settings {
    pub starts: usize,
    pub idle: Duration,
    pub clients: usize,
    pub create_duration: Duration,
    pub create_max: usize,
    pub list_pods: usize,
    pub list_fill_deadline: Duration,
    pub watchers: usize,
    pub watch_events: usize,
    pub watch_deadline: Duration,
}

/// A fresh start-up, its data dir and log in one temporary tree removed on drop.
pub struct Started {
    pub server: ServerProcess,
    pub ready_after: Duration,
    pub endpoint: Endpoint,
    _dir: tempfile::TempDir,
}

pub async fn start_fresh(launch: &Launch) -> anyhow::Result<Started> {
    let dir = temp_dir()?;
    let data = dir.path().join("data");
    let mut server = ServerProcess::spawn(launch, &data, &dir.path().join("server.log"))?;
    let ready_after = server.wait_ready(START_TIMEOUT).await?;
    let endpoint = server.endpoint()?;
    Ok(Started { server, ready_after, endpoint, _dir: dir })
}

impl Started {
    /// Stops the server (SIGTERM, then SIGKILL) and returns the end of its log, for reports.
    pub async fn stop(self) -> String {
        let log = self.server.log_tail();
        let _ = self.server.stop(STOP_GRACE).await;
        log
    }
}

fn temp_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("peapod-bench-").tempdir().context("create a temporary directory")
}

/// Measurement 1, time from exec to `/readyz` ok: `starts` fresh data dirs, then `starts` restarts on one
/// existing data dir; medians. Also the time a SIGTERM takes to stop the server.
pub async fn startup(launch: &Launch, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let dir = temp_dir()?;
    let mut fresh = Vec::new();
    let mut stops = Vec::new();
    let mut existing_data = None;
    for run in 0..settings.starts {
        let data = dir.path().join(format!("fresh-{run}"));
        let mut server = ServerProcess::spawn(launch, &data, &dir.path().join(format!("fresh-{run}.log")))?;
        fresh.push(server.wait_ready(START_TIMEOUT).await.with_context(|| format!("fresh start {run}"))?);
        stops.extend(server.stop(STOP_GRACE).await?);
        existing_data = Some(data);
    }
    let mut existing = Vec::new();
    if let Some(data) = existing_data {
        for run in 0..settings.starts {
            let log = dir.path().join(format!("existing-{run}.log"));
            let mut server = ServerProcess::spawn(launch, &data, &log)?;
            existing.push(server.wait_ready(START_TIMEOUT).await.with_context(|| format!("restart {run}"))?);
            stops.extend(server.stop(STOP_GRACE).await?);
        }
    }
    let runs = |samples: &[Duration]| {
        let list: Vec<String> = samples.iter().map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0)).collect();
        format!(" (runs: {} ms)", list.join(", "))
    };
    let mut rows = Vec::new();
    let fresh_runs = runs(&fresh);
    if let Some(median) = stats::median(&mut fresh) {
        rows.push(
            Row::new(format!("start-up to /readyz, fresh data dir, median of {}", settings.starts), {
                format!("{}{fresh_runs}", stats::duration(median))
            })
            .goal(Goal::AtMost(1.0, "< 1 s"), median.as_secs_f64()),
        );
    }
    let existing_runs = runs(&existing);
    if let Some(median) = stats::median(&mut existing) {
        rows.push(Row::new(
            format!("start-up to /readyz, existing data dir, median of {}", settings.starts),
            format!("{}{existing_runs}", stats::duration(median)),
        ));
    }
    if let Some(median) = stats::median(&mut stops) {
        rows.push(Row::new("SIGTERM to exit, median", stats::duration(median)));
    }
    Ok(rows)
}

/// Measurement 2, resident memory after `idle` without requests.
pub async fn idle(started: &Started, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    tokio::time::sleep(settings.idle).await;
    let rss = started.server.rss_kib()?;
    Ok(vec![
        Row::new(format!("idle RSS {} s after ready (VmRSS)", settings.idle.as_secs()), stats::mib(rss))
            .goal(Goal::AtMost(40.0 * 1024.0, "< 40 MiB"), rss as f64),
    ])
}

/// Measurement 3, pod creates in `default` by `clients` concurrent connections.
pub async fn create(started: &Started, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let load = CreateLoad {
        endpoint: &started.endpoint,
        namespace: "default",
        prefix: "bench",
        clients: settings.clients,
        max_pods: settings.create_max,
        deadline: settings.create_duration,
    };
    let mut run = load.run().await?;
    let label = format!("pod create, {} clients", settings.clients);
    let mut rows = vec![
        Row::new(
            format!("{label}: throughput"),
            format!("{:.0} creates/s ({} in {})", run.per_second(), run.created, stats::duration(run.elapsed)),
        )
        .goal(Goal::AtLeast(2000.0, ">= 2000/s"), run.per_second()),
    ];
    if let Some(summary) = Summary::of(&mut run.latencies) {
        rows.push(
            Row::new(format!("{label}: latency p50 / p99 / max"), latency(&summary))
                .goal(Goal::AtMost(0.020, "p99 < 20 ms"), summary.p99.as_secs_f64()),
        );
    }
    rows.extend(failures("pod create", &run));
    Ok(rows)
}

fn latency(summary: &Summary) -> String {
    format!("{} / {} / {}", stats::duration(summary.p50), stats::duration(summary.p99), stats::duration(summary.max))
}

fn failures(what: &str, run: &CreateRun) -> Option<Row> {
    (run.failed > 0).then(|| {
        Row::new(
            format!("{what}: failed requests"),
            format!("{} (first: {})", run.failed, run.first_error.as_deref().unwrap_or("?")),
        )
    })
}

/// Measurement 4, lists of `list_pods` pods in namespace `bench`: the full list (median of 3) and
/// `limit=500` pages with `continue` (median of 3), then the server's memory.
pub async fn list(started: &Started, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let namespace = "bench";
    let mut admin = Connection::open(&started.endpoint, true).await?;
    admin.expect(Method::POST, "/api/v1/namespaces", Some(objects::namespace(namespace)), StatusCode::CREATED).await?;
    let fill = CreateLoad {
        endpoint: &started.endpoint,
        namespace,
        prefix: "list",
        clients: settings.clients,
        max_pods: settings.list_pods,
        deadline: settings.list_fill_deadline,
    }
    .run()
    .await?;
    let mut rows = Vec::new();
    if fill.created < settings.list_pods {
        rows.push(Row::new(
            "list: namespace fill INCOMPLETE",
            format!("{} of {} pods within {:?}", fill.created, settings.list_pods, settings.list_fill_deadline),
        ));
    }
    rows.extend(failures("list fill", &fill));
    let count = fill.created;

    let full_path = format!("/api/v1/namespaces/{namespace}/pods");
    let mut full = Vec::new();
    let mut size = 0;
    for _ in 0..3 {
        let sent = Instant::now();
        let body = admin.expect(Method::GET, &full_path, None, StatusCode::OK).await?;
        full.push(sent.elapsed());
        let head: ListHead = serde_json::from_slice(&body).context("parse the pod list")?;
        if head.items.len() != count {
            bail!("the full list returned {} pods, {count} were created", head.items.len());
        }
        size = body.len();
    }
    let mut paged = Vec::new();
    let mut pages = 0;
    for _ in 0..3 {
        let sent = Instant::now();
        let (items, page_count) = list_pages(&mut admin, &full_path, 500).await?;
        paged.push(sent.elapsed());
        if items != count {
            bail!("the paginated list returned {items} pods, {count} were created");
        }
        pages = page_count;
    }
    if let Some(median) = stats::median(&mut full) {
        rows.push(Row::new(
            format!("list {count} pods, one response, median of 3"),
            format!("{} ({:.1} MiB of JSON)", stats::duration(median), size as f64 / (1024.0 * 1024.0)),
        ));
    }
    if let Some(median) = stats::median(&mut paged) {
        rows.push(Row::new(
            format!("list {count} pods, limit=500 ({pages} pages), median of 3"),
            stats::duration(median),
        ));
    }
    rows.push(Row::new(
        "server RSS after the lists (peak so far)",
        format!("{} ({})", stats::mib(started.server.rss_kib()?), stats::mib(started.server.peak_rss_kib()?)),
    ));
    Ok(rows)
}

/// Follows `continue` tokens to the end; returns (items, pages).
async fn list_pages(connection: &mut Connection, path: &str, limit: usize) -> anyhow::Result<(usize, usize)> {
    let mut items = 0;
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let url = match &token {
            Some(token) => format!("{path}?limit={limit}&continue={}", percent_encode(token)),
            None => format!("{path}?limit={limit}"),
        };
        let body = connection.expect(Method::GET, &url, None, StatusCode::OK).await?;
        let head: ListHead = serde_json::from_slice(&body).context("parse a list page")?;
        items += head.items.len();
        pages += 1;
        match head.metadata.continue_token.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => return Ok((items, pages)),
        }
        if pages > 100_000 {
            bail!("the list never ends: more than 100000 pages");
        }
    }
}

/// Continue tokens are opaque (base64 in Kubernetes, which may hold `+`, `/`, `=`).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Measurement 5, `watchers` watches on namespace `watch`, then `watch_events` pod creates; per event,
/// the time from the create request being sent to the event arriving at a watcher.
pub async fn watch(started: &Started, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let namespace = "watch";
    let prefix = "watch";
    let mut admin = Connection::open(&started.endpoint, true).await?;
    admin.expect(Method::POST, "/api/v1/namespaces", Some(objects::namespace(namespace)), StatusCode::CREATED).await?;
    let list = admin.expect(Method::GET, &format!("/api/v1/namespaces/{namespace}/pods"), None, StatusCode::OK).await?;
    let head: ListHead = serde_json::from_slice(&list).context("parse the pod list")?;
    let path = format!(
        "/api/v1/namespaces/{namespace}/pods?watch=true&resourceVersion={}&timeoutSeconds=1800",
        head.metadata.resource_version
    );
    let deadline = Instant::now() + settings.watch_deadline;
    let mut receivers = Vec::with_capacity(settings.watchers);
    for _ in 0..settings.watchers {
        let mut connection = Connection::open(&started.endpoint, true).await?;
        let response = connection.start(Method::GET, &path, None).await?;
        if response.status() != StatusCode::OK {
            let status = response.status();
            let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            bail!("watch answered {status}: {}", String::from_utf8_lossy(&body));
        }
        let expected = settings.watch_events;
        receivers.push(tokio::spawn(receive(connection, response.into_body(), prefix, expected, deadline)));
    }
    let rss_watching = started.server.rss_kib()?;
    let load = CreateLoad {
        endpoint: &started.endpoint,
        namespace,
        prefix,
        clients: settings.clients,
        max_pods: settings.watch_events,
        deadline: settings.watch_deadline / 2,
    }
    .run()
    .await?;
    let mut sent_at: Vec<Option<Instant>> = vec![None; settings.watch_events];
    for (index, sent) in &load.sent {
        if let Some(slot) = sent_at.get_mut(*index) {
            *slot = Some(*sent);
        }
    }
    let first_sent = load.sent.iter().map(|(_, sent)| *sent).min();
    let mut latencies = Vec::with_capacity(settings.watchers * settings.watch_events);
    let mut last_received: Option<Instant> = None;
    let mut incomplete = 0;
    let mut stream_errors = 0;
    for receiver in receivers {
        let received = receiver.await?;
        if received.events.len() < load.created {
            incomplete += 1;
        }
        stream_errors += received.errors;
        for (index, at) in received.events {
            if let Some(sent) = sent_at.get(index).copied().flatten() {
                latencies.push(at.saturating_duration_since(sent));
                last_received = Some(last_received.map_or(at, |last| last.max(at)));
            }
        }
    }
    let delivered = latencies.len();
    let label = format!("watch: {} watchers x {} pod creates", settings.watchers, settings.watch_events);
    let mut rows = Vec::new();
    if load.created < settings.watch_events {
        rows.push(Row::new(
            format!("{label}: creates INCOMPLETE"),
            format!("{} of {} pods within {:?}", load.created, settings.watch_events, settings.watch_deadline / 2),
        ));
    }
    rows.push(Row::new(
        format!("{label}: events delivered"),
        format!("{delivered} of {}", settings.watchers * load.created),
    ));
    if let Some(summary) = Summary::of(&mut latencies) {
        rows.push(Row::new(format!("{label}: delivery latency p50 / p99 / max"), latency(&summary)));
    }
    if let (Some(first), Some(last)) = (first_sent, last_received) {
        rows.push(Row::new(
            format!("{label}: first create sent to last event received"),
            format!("{} (creates at {:.0}/s)", stats::duration(last - first), load.per_second()),
        ));
    }
    if incomplete > 0 || stream_errors > 0 {
        rows.push(Row::new(
            format!("{label}: PROBLEMS"),
            format!("{incomplete} watchers missed events, {stream_errors} ERROR events"),
        ));
    }
    rows.extend(failures("watch creates", &load));
    rows.push(Row::new(
        format!("server RSS with {} watches open: before / after the creates", settings.watchers),
        format!("{} / {}", stats::mib(rss_watching), stats::mib(started.server.rss_kib()?)),
    ));
    Ok(rows)
}

struct Received {
    /// (pod index, arrival instant) of each ADDED event for a benchmark pod.
    events: Vec<(usize, Instant)>,
    errors: usize,
}

/// Reads one watch stream until `expected` ADDED events arrived, the stream ends, or the
/// deadline passes. Every event in one chunk is stamped with the chunk's arrival time.
async fn receive(
    connection: Connection,
    mut body: Incoming,
    prefix: &str,
    expected: usize,
    deadline: Instant,
) -> Received {
    let mut received = Received { events: Vec::with_capacity(expected), errors: 0 };
    let mut buffer: Vec<u8> = Vec::new();
    while received.events.len() < expected {
        let frame = match tokio::time::timeout_at(deadline.into(), body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            _ => break,
        };
        let arrived = Instant::now();
        let Ok(data) = frame.into_data() else { continue };
        buffer.extend_from_slice(&data);
        let mut consumed = 0;
        while let Some(end) = buffer[consumed..].iter().position(|b| *b == b'\n') {
            let line = &buffer[consumed..consumed + end];
            consumed += end + 1;
            match serde_json::from_slice::<WatchLine>(line) {
                Ok(event) if event.event_type == "ADDED" => {
                    if let Some(index) = objects::index_of(prefix, &event.object.metadata.name) {
                        received.events.push((index, arrived));
                    }
                }
                Ok(event) if event.event_type == "ERROR" => received.errors += 1,
                Ok(_) => {}
                Err(_) => received.errors += 1,
            }
        }
        buffer.drain(..consumed);
    }
    drop(connection);
    received
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_are_percent_encoded() {
        assert_eq!(percent_encode("eyJ2Ijo+/="), "eyJ2Ijo%2B%2F%3D");
        assert_eq!(percent_encode("plain-token_1.~"), "plain-token_1.~");
    }
}
