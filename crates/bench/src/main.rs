//! `peapod-bench`: starts the real `peapod server` binary and prints the figures issue 2 asks
//! for (start-up time, idle memory, create throughput and latency, large lists, watch
//! fan-out) as a table. Figures only; it asserts nothing and is not a test.
//!
//! This module owns the command line and the order of the measurements; the measurements
//! live in `measure`, the process handling in `server`, the wire in `http`.

mod cluster;
mod http;
mod load;
mod measure;
mod objects;
mod pods;
mod report;
mod server;
mod stats;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use clap::{Parser, Subcommand};

use crate::measure::Settings;
use crate::report::{Goal, Row};
use crate::server::Launch;

#[derive(Parser)]
#[command(name = "peapod-bench", about = "Benchmarks of a real `peapod server --disable-agent`")]
struct Cli {
    #[command(subcommand)]
    command: Option<Which>,
    /// The peapod binary (default: `peapod` next to this program, else target/release/peapod,
    /// else target/debug/peapod).
    #[arg(long, global = true)]
    peapod_bin: Option<PathBuf>,
    /// Passed to the server as `--datastore-endpoint` (default: its SQLite store).
    #[arg(long, global = true)]
    datastore_endpoint: Option<String>,
    /// More arguments for `peapod server`, repeatable (e.g. `--server-arg=--disable-scheduler`
    /// to measure the API server without the control loops' own writes).
    #[arg(long = "server-arg", global = true, allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Start-ups per kind (fresh and existing data dir).
    #[arg(long, global = true, default_value_t = 5)]
    starts: usize,
    /// Idle time before reading the server's RSS.
    #[arg(long, global = true, default_value_t = 2)]
    idle_seconds: u64,
    /// Concurrent clients (connections) creating pods.
    #[arg(long, global = true, default_value_t = 8)]
    clients: usize,
    /// The create measurement stops after this many seconds...
    #[arg(long, global = true, default_value_t = 10)]
    create_seconds: u64,
    /// ...or this many pods, whichever comes first.
    #[arg(long, global = true, default_value_t = 20_000)]
    create_max: usize,
    /// Pods in the listed namespace.
    #[arg(long, global = true, default_value_t = 10_000)]
    list_pods: usize,
    /// Upper bound on the time spent creating the listed pods.
    #[arg(long, global = true, default_value_t = 90)]
    list_fill_seconds: u64,
    #[arg(long, global = true, default_value_t = 100)]
    watchers: usize,
    /// Pods created while the watchers watch (events per watcher).
    #[arg(long, global = true, default_value_t = 1000)]
    watch_events: usize,
    /// Upper bound on the whole watch measurement.
    #[arg(long, global = true, default_value_t = 90)]
    watch_seconds: u64,
}

#[derive(Subcommand, Clone, PartialEq, Eq)]
enum Which {
    /// Everything below, in order (the default).
    All,
    /// Time from exec to /readyz ok, fresh and existing data dir.
    Startup,
    /// Resident memory of an idle server.
    Idle,
    /// Pod create throughput and latency with concurrent clients.
    Create,
    /// Full and paginated lists of many pods.
    List,
    /// Event delivery to many concurrent watchers.
    Watch,
    /// Issue 5: pods on a real node agent beside `podman kube play` and a bare `crun run`
    /// (root; not part of `all`).
    Pods(pods::PodsArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.clients == 0 || cli.starts == 0 || cli.watchers == 0 {
        bail!("--clients, --starts and --watchers must be at least 1");
    }
    let binary = match &cli.peapod_bin {
        Some(path) => path.clone(),
        None => default_binary()?,
    };
    if !binary.is_file() {
        bail!("{} does not exist: build it (cargo build --release -p peapod) or pass --peapod-bin", binary.display());
    }
    let launch =
        Launch { binary, datastore_endpoint: cli.datastore_endpoint.clone(), extra_args: cli.server_args.clone() };
    let settings = Settings {
        starts: cli.starts,
        idle: Duration::from_secs(cli.idle_seconds),
        clients: cli.clients,
        create_duration: Duration::from_secs(cli.create_seconds),
        create_max: cli.create_max,
        list_pods: cli.list_pods,
        list_fill_deadline: Duration::from_secs(cli.list_fill_seconds),
        watchers: cli.watchers,
        watch_events: cli.watch_events,
        watch_deadline: Duration::from_secs(cli.watch_seconds),
    };
    let which = cli.command.clone().unwrap_or(Which::All);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Which::Pods(args) = &which {
        return runtime.block_on(pods::main(&launch, args, cli.clients));
    }
    let rows = runtime.block_on(run(which, &launch, &settings))?;

    let peer = peer_status();
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|mut row| {
            if row.goal != Goal::None {
                row.peer = peer.clone();
            }
            row
        })
        .collect();
    println!();
    println!(
        "peapod-bench ({} build of the benchmark), server {}, store {}, {} CPUs",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        launch.binary.display(),
        launch.datastore_endpoint.as_deref().unwrap_or("sqlite (default)"),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    );
    println!();
    print!("{}", report::render(&rows, "k3s (peer)"));
    Ok(())
}

async fn run(which: Which, launch: &Launch, settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let all = which == Which::All;
    let mut rows = Vec::new();
    if all || which == Which::Startup {
        eprintln!("measuring start-up ({} fresh starts, {} restarts)...", settings.starts, settings.starts);
        rows.extend(measure::startup(launch, settings).await?);
    }
    if which == Which::Startup {
        return Ok(rows);
    }
    let started = measure::start_fresh(launch).await?;
    eprintln!("server ready in {} ms", started.ready_after.as_millis());
    // The server is stopped by `stop` below or, on an error, killed when `started` drops.
    let outcome = async {
        let mut rows = Vec::new();
        if all || which == Which::Idle {
            eprintln!("measuring idle RSS ({} s)...", settings.idle.as_secs());
            rows.extend(measure::idle(&started, settings).await?);
        }
        if all || which == Which::Create {
            eprintln!(
                "measuring pod creates ({} clients, {} s)...",
                settings.clients,
                settings.create_duration.as_secs()
            );
            rows.extend(measure::create(&started, settings).await?);
        }
        if all || which == Which::List {
            eprintln!("measuring lists of {} pods...", settings.list_pods);
            rows.extend(measure::list(&started, settings).await?);
        }
        if all || which == Which::Watch {
            eprintln!("measuring {} watchers x {} events...", settings.watchers, settings.watch_events);
            rows.extend(measure::watch(&started, settings).await?);
        }
        anyhow::Ok(rows)
    }
    .await;
    let log = started.stop().await;
    match outcome {
        Ok(more) => rows.extend(more),
        Err(error) => bail!("{error:#}\nlast server log lines:\n{log}"),
    }
    Ok(rows)
}

/// `peapod` next to this binary (both built into the same target dir), else the usual
/// target paths relative to the working directory.
fn default_binary() -> anyhow::Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join("peapod"));
    }
    candidates.push(PathBuf::from("target/release/peapod"));
    candidates.push(PathBuf::from("target/debug/peapod"));
    match candidates.iter().find(|path| path.is_file()) {
        Some(found) => Ok(found.clone()),
        None => bail!(
            "no peapod binary at {}: build it or pass --peapod-bin",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Whether a peer to compare with exists here. Measuring one is out of scope: the column
/// says so rather than quoting figures that were not measured on this machine.
fn peer_status() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = ["k3s", "kube-apiserver", "k0s", "microk8s"]
        .iter()
        .find_map(|name| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p)));
    match found {
        Some(peer) => format!("not measured ({} is installed)", peer.display()),
        None => "not available (not installed)".into(),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
