//! `peapod killall`: stops everything a node agent left running on this machine for one data
//! directory, as k3s' `k3s-killall.sh` does: every pod sandbox (its shim, its containers,
//! their root filesystems and cgroups), every mount under `DATA_DIR/agent`, every pod network
//! namespace and IP, the node bridge and its iptables rules. Images, logs and the API's data
//! stay. Agents stop without killing pods on purpose (a restarted agent adopts them); this is
//! the way to really stop a node, and what the test harness runs after a server with an agent.

use std::path::{Path, PathBuf};

use agent::network::Network;
use agent::runtime::Runtime;
use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct KillallArgs {
    #[arg(long, default_value = "/var/lib/peapod")]
    pub data_dir: PathBuf,
    /// The bridge and pod CIDR the agent ran with.
    #[arg(long, default_value = "peapod0")]
    pub bridge_name: String,
    #[arg(long, default_value = "10.42.0.0/24")]
    pub pod_cidr: String,
}

pub fn run(args: KillallArgs) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the async runtime")?;
    runtime.block_on(killall(args))
}

async fn killall(args: KillallArgs) -> anyhow::Result<()> {
    let agent_dir = args.data_dir.join("agent");
    let oci = runtime::container::OciRuntime::detect(None, PathBuf::from(crate::agent::RUNTIME_ROOT))
        .context("find an OCI runtime")?;
    let node_runtime = runtime::cri::NodeRuntime::new(runtime::cri::NodeRuntimeConfig {
        agent_dir: agent_dir.clone(),
        shim_exe: std::env::current_exe()?,
        shim_args_prefix: vec!["shim".into()],
        oci_runtime: oci.clone(),
        handlers: Default::default(),
        cgroup_root: PathBuf::from("/sys/fs/cgroup"),
    })
    .map_err(|error| anyhow::anyhow!("open the node runtime: {error}"))?;
    let mut failures = Vec::new();
    for pod_uid in node_runtime.list_pod_sandboxes().await.unwrap_or_default() {
        if let Err(error) = node_runtime.remove_pod_sandbox(&pod_uid).await {
            failures.push(format!("sandbox {pod_uid}: {error}"));
        }
    }
    // Containers whose shim died: found by their bundle, which lives in this data dir.
    kill_orphan_containers(&oci, &agent_dir, &mut failures).await;
    unmount_under(&agent_dir, &mut failures);
    let network = net::BridgeNetwork::new(net::NetConfig {
        bridge_name: args.bridge_name.clone(),
        pod_cidr: args.pod_cidr.clone(),
        state_dir: agent_dir.join("net"),
        netns_dir: PathBuf::from(crate::agent::NETNS_DIR),
        masquerade: true,
    })
    .await
    .context("open the pod network")?;
    for pod_uid in network.list().await.unwrap_or_default() {
        if let Err(error) = network.teardown(&pod_uid).await {
            failures.push(format!("network of {pod_uid}: {error}"));
        }
    }
    if let Err(error) = network.remove_bridge().await {
        failures.push(format!("bridge {}: {error}", args.bridge_name));
    }
    if failures.is_empty() { Ok(()) } else { anyhow::bail!("left behind: {}", failures.join("; ")) }
}

async fn kill_orphan_containers(oci: &runtime::container::OciRuntime, agent_dir: &Path, failures: &mut Vec<String>) {
    let Ok(output) = tokio::process::Command::from(oci.command()).args(["list", "--format", "json"]).output().await
    else {
        return;
    };
    let containers: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap_or_default();
    for container in containers {
        let (Some(id), Some(bundle)) = (container["id"].as_str(), container["bundle"].as_str()) else { continue };
        if !Path::new(bundle).starts_with(agent_dir) {
            continue;
        }
        let _ = oci.kill(id, "KILL", true).await;
        if let Err(error) = oci.delete(id, true).await {
            failures.push(format!("container {id}: {error}"));
        }
    }
}

/// Unmounts (lazily, deepest first) every mount point below `dir`: overlay root filesystems,
/// tmpfs volumes, the pods' `/dev/shm`.
fn unmount_under(dir: &Path, failures: &mut Vec<String>) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else { return };
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    for point in points {
        if let Err(error) = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH) {
            failures.push(format!("unmount {}: {error}", point.display()));
        }
    }
}
