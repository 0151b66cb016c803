//! `peapod sim-nodes`: N simulated nodes (no containers) joining a server, for scale tests and
//! benchmarks, as kwok does for Kubernetes. The nodes heartbeat while this process runs and
//! go stale when it stops, like machines that died.

use std::time::Duration;

use anyhow::{Context, bail};

#[derive(clap::Args, Debug)]
pub struct SimNodesArgs {
    #[command(flatten)]
    pub join: crate::join::JoinArgs,
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
    let config = args.join.client_config()?;
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
        let signal = crate::join::wait_for_signal();
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
