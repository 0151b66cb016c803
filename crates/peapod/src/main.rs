//! The `peapod` binary: flags, configuration files, wiring of the crates, task supervision
//! and shutdown. The only place that reads flags, environment or config files.

mod control_plane;
mod image;
mod kubeconfig;
mod server;
mod sim_nodes;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "peapod", version, about = "Kubernetes pods from one small binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The control plane (API server and store), plus a node agent unless --disable-agent.
    Server(server::ServerArgs),
    /// The node's image store: import, ls, rm, pull.
    Image(image::ImageArgs),
    /// Simulated nodes (no containers) joining a server, for scale tests and benchmarks.
    SimNodes(sim_nodes::SimNodesArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => server::run(args),
        Command::Image(args) => image::run(args),
        Command::SimNodes(args) => sim_nodes::run(args),
    }
}
