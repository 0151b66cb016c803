//! The `peapod` binary: flags, configuration files, wiring of the crates, task supervision
//! and shutdown. The only place that reads flags, environment or config files.

mod agent;
mod control_plane;
mod image;
mod join;
mod killall;
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
    /// A node agent joining a server: runs the pods the scheduler binds to this node.
    Agent(agent::AgentArgs),
    /// Stops every pod this node runs and removes their sandboxes, mounts and network (the
    /// agent leaves pods running when it stops, so that a new agent adopts them).
    Killall(killall::KillallArgs),
    /// The node's image store: import, ls, rm, pull.
    Image(image::ImageArgs),
    /// Simulated nodes (no containers) joining a server, for scale tests and benchmarks.
    SimNodes(sim_nodes::SimNodesArgs),
    /// The per-pod shim the agent starts (holds a pod's containers, stdio and exit codes).
    #[command(hide = true)]
    Shim {
        #[arg(long)]
        pod_dir: std::path::PathBuf,
        #[arg(long)]
        runtime_binary: std::path::PathBuf,
        #[arg(long)]
        runtime_root: std::path::PathBuf,
        #[arg(long)]
        hostname: Option<String>,
    },
}

/// mimalloc for the server and agent, glibc's malloc for shims (see `runtime::allocator`).
#[global_allocator]
static GLOBAL_ALLOCATOR: runtime::allocator::ProcessAllocator = runtime::allocator::ProcessAllocator;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => server::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Image(args) => image::run(args),
        Command::Killall(args) => killall::run(args),
        Command::SimNodes(args) => sim_nodes::run(args),
        Command::Shim { pod_dir, runtime_binary, runtime_root, hostname } => {
            Ok(runtime::shim::main(runtime::shim::ShimArgs { pod_dir, runtime_binary, runtime_root, hostname })?)
        }
    }
}
