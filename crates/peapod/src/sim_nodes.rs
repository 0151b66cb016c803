//! `peapod sim-nodes`: N simulated nodes (no containers) joining a server, for scale tests and
//! benchmarks, as kwok does for Kubernetes. The nodes heartbeat while this process runs and
//! go stale when it stops, like machines that died.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

#[derive(clap::Args, Debug)]
pub struct SimNodesArgs {
    /// The API server, e.g. https://127.0.0.1:6443 (default: the kubeconfig's).
    #[arg(long)]
    pub server: Option<String>,
    /// The join token (or the admin token) to authenticate with.
    #[arg(long, env = "PEAPOD_TOKEN")]
    pub token: Option<String>,
    /// A kubeconfig to take the server, CA and token from (flags override it).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The cluster CA certificate (PEM) the server certificate must chain to.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the server certificate.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// How many nodes to simulate.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Nodes are named PREFIX-0000, PREFIX-0001, ...
    #[arg(long, default_value = "sim")]
    pub name_prefix: String,
    /// CPU capacity of each node.
    #[arg(long, default_value = "32")]
    pub cpu: String,
    /// Memory capacity of each node.
    #[arg(long, default_value = "256Gi")]
    pub memory: String,
    /// Pod capacity of each node.
    #[arg(long, default_value_t = 110)]
    pub pods: u32,
    /// Share (0..1) of pods that fail (phase Failed, exit code 1).
    #[arg(long, default_value_t = 0.0)]
    pub fail_share: f64,
    /// Share (0..1) of pods that complete (phase Succeeded, exit code 0).
    #[arg(long, default_value_t = 0.0)]
    pub complete_share: f64,
    /// Extra node labels, KEY=VALUE (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Seconds between Lease renewals.
    #[arg(long, default_value_t = 10)]
    pub lease_interval: u64,
    /// Seconds between node status reports.
    #[arg(long, default_value_t = 60)]
    pub status_interval: u64,
}

pub fn run(args: SimNodesArgs) -> anyhow::Result<()> {
    let config = client_config(&args)?;
    let mut labels = std::collections::BTreeMap::new();
    for label in &args.labels {
        let Some((key, value)) = label.split_once('=') else { bail!("--label {label:?} is not KEY=VALUE") };
        labels.insert(key.to_string(), value.to_string());
    }
    let sim = control::sim_nodes::SimNodesConfig {
        name_prefix: args.name_prefix.clone(),
        count: args.count,
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        pods: args.pods,
        fail_share: args.fail_share,
        complete_share: args.complete_share,
        lease_interval: Duration::from_secs(args.lease_interval.max(1)),
        status_interval: Duration::from_secs(args.status_interval.max(1)),
        labels,
        ..control::sim_nodes::SimNodesConfig::default()
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    runtime.block_on(async move {
        let client = client::Client::new(config).context("create the API client")?;
        let started = std::time::Instant::now();
        let nodes = control::sim_nodes::SimNodes::start(client, sim).await?;
        tracing::info!("{} simulated nodes registered in {} ms", args.count, started.elapsed().as_millis());
        // A line on stdout that scripts and tests wait for.
        println!("ready: {} nodes", args.count);
        let mut report = tokio::time::interval(Duration::from_secs(10));
        report.tick().await;
        let signal = wait_for_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                result = &mut signal => { result?; break; }
                _ = report.tick() => {
                    let s = nodes.stats();
                    tracing::info!(running = s.running, succeeded = s.succeeded, failed = s.failed,
                        deleted = s.deleted, lease_renewals = s.lease_renewals, write_errors = s.write_errors, "sim-nodes");
                }
            }
        }
        nodes.stop().await;
        Ok(())
    })
}

fn client_config(args: &SimNodesArgs) -> anyhow::Result<client::Config> {
    let mut config = match &args.kubeconfig {
        Some(path) => client::Config::from_kubeconfig(path).with_context(|| format!("read {}", path.display()))?,
        None => {
            let Some(server) = &args.server else { bail!("--server (or --kubeconfig) is required") };
            client::Config::new(server.clone(), None, None)
        }
    };
    if let Some(server) = &args.server {
        config.server = server.trim_end_matches('/').to_string();
    }
    if let Some(token) = &args.token {
        config.token = Some(token.clone());
    }
    if let Some(path) = &args.ca_file {
        config.ca_pem = Some(std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?);
    }
    if args.insecure_skip_tls_verify {
        config.insecure_skip_tls_verify = true;
    }
    Ok(config)
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
