//! The node agent: `peapod agent` joining a server, and the in-process agent of `peapod
//! server`. Both put together the same parts: the OCI runtime (crun, else runc), the node
//! runtime (image store, per-pod shims), the bridge pod network, the agent's streaming server
//! (logs, exec) on the kubelet port, and the agent itself.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    #[command(flatten)]
    pub join: crate::join::JoinArgs,
    /// Where the node keeps images, pods, logs and its TLS certificate (under `agent/`).
    #[arg(long, default_value = "/var/lib/peapod")]
    pub data_dir: PathBuf,
    /// The node name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    #[command(flatten)]
    pub node: NodeArgs,
}

/// The node flags `peapod agent` and `peapod server` share.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// The node's InternalIP (default: the address of the interface of the default route).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// Where the agent serves logs and exec to the API server (0: any free port).
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    /// The node's pod CIDR.
    #[arg(long, default_value = "10.42.0.0/24")]
    pub pod_cidr: String,
    /// The node bridge the pods' veths attach to.
    #[arg(long, default_value = "peapod0")]
    pub bridge_name: String,
    /// The OCI runtime, crun or runc, by name or path (default: crun, else runc).
    #[arg(long)]
    pub container_runtime: Option<String>,
    /// A RuntimeClass handler, `NAME=PATH` of an OCI runtime binary (repeatable). The handlers
    /// `crun` and `runc` are configured by themselves when those runtimes are installed.
    #[arg(long = "runtime-handler", value_name = "NAME=PATH", value_parser = parse_runtime_handler)]
    pub runtime_handlers: Vec<(String, PathBuf)>,
}

/// `NAME=PATH`, with NAME a DNS label as RuntimeClass handlers are.
fn parse_runtime_handler(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = text.split_once('=').ok_or_else(|| format!("{text:?} is not NAME=PATH"))?;
    if let Some(problem) = api::validation::is_dns1123_label(name).into_iter().next() {
        return Err(format!("handler name {name:?}: {problem}"));
    }
    if path.is_empty() {
        return Err(format!("handler {name:?} has no runtime binary"));
    }
    Ok((name.to_string(), PathBuf::from(path)))
}

/// The RuntimeClass handlers of the node: the `crun` and `runc` runtimes when installed and
/// usable on this host, then the `--runtime-handler` ones (which win on a name clash). A
/// handler given on the command line that does not work is an error; a missing crun or runc
/// is not.
fn runtime_handlers(
    flags: &[(String, PathBuf)],
) -> anyhow::Result<std::collections::BTreeMap<String, runtime::container::OciRuntime>> {
    use runtime::container::OciRuntime;
    let mut handlers = std::collections::BTreeMap::new();
    for name in ["crun", "runc"] {
        if flags.iter().any(|(flag, _)| flag == name) {
            continue;
        }
        // `detect` falls back to the other runtime when this one is missing or unusable.
        match OciRuntime::detect(Some(name), PathBuf::from(RUNTIME_ROOT)) {
            Ok(oci) if oci.name == name => {
                handlers.insert(name.to_string(), oci);
            }
            _ => tracing::debug!("no {name} runtime handler: {name} is not usable here"),
        }
    }
    for (name, path) in flags {
        let oci = OciRuntime::with_binary(path.clone(), PathBuf::from(RUNTIME_ROOT))
            .with_context(|| format!("runtime handler {name}={}", path.display()))?;
        handlers.insert(name.clone(), oci);
    }
    Ok(handlers)
}

/// Runs `peapod agent` until SIGTERM or SIGINT.
pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    let config = args.join.client_config()?;
    let token = config.token.clone().context("--token (or a kubeconfig with a token) is required")?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    runtime.block_on(async move {
        let client = client::Client::new(config).context("create the API client")?;
        let shutdown = CancellationToken::new();
        let node = tokio::spawn(run_node(args.data_dir, args.node_name, args.node, client, token, shutdown.clone()));
        tokio::select! {
            result = crate::join::wait_for_signal() => result?,
            result = node => return result.context("agent task")?,
        }
        shutdown.cancel();
        Ok(())
    })
}

/// Runs a node agent until `shutdown`: containers keep running after it (their shims hold
/// them) and a new agent adopts them. `token` is what the API server presents to the
/// agent's streaming server.
pub async fn run_node(
    data_dir: PathBuf,
    node_name: Option<String>,
    args: NodeArgs,
    client: client::Client,
    token: String,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let agent_dir = data_dir.join("agent");
    let node_name = node_name.unwrap_or_else(crate::server::hostname);
    let node_ip = args.node_ip.unwrap_or_else(default_node_ip);

    let oci = runtime::container::OciRuntime::detect(args.container_runtime.as_deref(), PathBuf::from(RUNTIME_ROOT))
        .context("find an OCI runtime (apt-get install crun runc)")?;
    tracing::info!("container runtime {} ({})", oci.runtime_version(), oci.binary.display());
    let handlers = runtime_handlers(&args.runtime_handlers)?;
    for (name, handler) in &handlers {
        tracing::info!("runtime handler {name}: {} ({})", handler.runtime_version(), handler.binary.display());
    }
    let node_runtime = runtime::cri::NodeRuntime::new(runtime::cri::NodeRuntimeConfig {
        agent_dir: agent_dir.clone(),
        shim_exe: std::env::current_exe().context("find the peapod binary for the shims")?,
        shim_args_prefix: vec!["shim".into()],
        oci_runtime: oci,
        handlers,
        cgroup_root: PathBuf::from("/sys/fs/cgroup"),
    })
    .map_err(|error| anyhow::anyhow!("open the node runtime: {error}"))?;
    let store = node_runtime.image_store().clone();
    // Images imported from the air-gap directory are pinned, as k3s pins them: image garbage
    // collection never removes them (the node may have no registry to pull them again).
    let mut pinned = std::collections::HashSet::new();
    for (path, result) in tokio::task::spawn_blocking(move || store.import_startup_dir()).await? {
        match result {
            Ok(images) => {
                let names: Vec<&str> = images.iter().map(|image| image.name.as_str()).collect();
                tracing::info!("imported {} from {}", names.join(", "), path.display());
                pinned.extend(images.into_iter().map(|image| image.name));
            }
            Err(error) => tracing::warn!("importing {}: {error}", path.display()),
        }
    }
    let image_gc = tokio::spawn(collect_images(node_runtime.image_store().clone(), pinned));

    let network = net::BridgeNetwork::new(net::NetConfig {
        bridge_name: args.bridge_name.clone(),
        pod_cidr: args.pod_cidr.clone(),
        state_dir: agent_dir.join("net"),
        netns_dir: PathBuf::from(NETNS_DIR),
        masquerade: true,
    })
    .await
    .context("set up the pod network")?;

    let listener = tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), args.kubelet_port))
        .await
        .with_context(|| format!("listen on the kubelet port {}", args.kubelet_port))?;
    let kubelet_port = listener.local_addr()?.port();
    let tls =
        agent::server::tls::ensure_server_config(&agent_dir.join("tls"), &[node_name.clone(), node_ip.to_string()])
            .context("prepare the agent's TLS certificate")?;

    let mut config = agent::agent::AgentConfig::new(node_name, agent_dir, node_ip);
    config.kubelet_port = kubelet_port;
    config.pod_cidr = Some(args.pod_cidr.clone());
    let agent = agent::agent::Agent::new(config, client, node_runtime.clone(), Arc::new(network));
    let streaming = tokio::spawn(agent::server::serve(
        listener,
        tls,
        token,
        node_runtime,
        agent.container_locator(),
        shutdown.clone(),
    ));
    let result = agent.run(shutdown.cancelled()).await;
    shutdown.cancel();
    image_gc.abort();
    let _ = streaming.await;
    result.context("node agent")
}

/// The kubelet's image GC period.
const IMAGE_GC_PERIOD: std::time::Duration = std::time::Duration::from_secs(300);

/// Removes unused images when the image store's filesystem passes 85% use, down to 80%
/// (the kubelet's defaults), least recently used first; containers' images and `pinned` stay.
async fn collect_images(store: runtime::image::ImageStore, pinned: std::collections::HashSet<String>) {
    let mut period = tokio::time::interval(IMAGE_GC_PERIOD);
    period.tick().await;
    loop {
        period.tick().await;
        let (store, pinned) = (store.clone(), pinned.clone());
        let report = tokio::task::spawn_blocking(move || {
            let usage = || runtime::image::gc::filesystem_usage(store.root());
            store.garbage_collect(runtime::image::gc::GcPolicy::default(), &pinned, usage)
        })
        .await;
        match report {
            Ok(Ok(report)) if !report.removed.is_empty() => {
                tracing::info!("image garbage collection removed {:?}, {} bytes", report.removed, report.bytes_freed)
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!("image garbage collection: {error}"),
            Err(error) => tracing::warn!("image garbage collection task: {error}"),
        }
    }
}

/// The OCI runtime's state (`--root`): on tmpfs, as containerd's, since containers do not
/// survive a reboot.
pub(crate) const RUNTIME_ROOT: &str = "/run/peapod/runtime";
/// Pod network namespace files.
pub(crate) const NETNS_DIR: &str = "/run/peapod/netns";

/// The IPv4 address of the interface holding the default route, as the kubelet picks the
/// node IP; loopback when there is none.
fn default_node_ip() -> IpAddr {
    let interface = std::fs::read_to_string("/proc/net/route").ok().and_then(|routes| {
        routes.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&"00000000")).then(|| fields[0].to_string())
        })
    });
    let address = interface.and_then(|interface| {
        nix::ifaddrs::getifaddrs().ok()?.find_map(|entry| {
            let ip = entry.address?.as_sockaddr_in()?.ip();
            (entry.interface_name == interface).then_some(IpAddr::V4(ip))
        })
    });
    address.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_handler_flags_parse() {
        assert_eq!(
            parse_runtime_handler("kata=/opt/kata/bin/kata-runtime"),
            Ok(("kata".to_string(), PathBuf::from("/opt/kata/bin/kata-runtime")))
        );
        assert!(parse_runtime_handler("kata").unwrap_err().contains("NAME=PATH"));
        assert!(parse_runtime_handler("Kata=/bin/x").unwrap_err().contains("handler name \"Kata\""));
        assert!(parse_runtime_handler("kata=").unwrap_err().contains("no runtime binary"));
    }

    #[test]
    fn flags_name_handlers_and_broken_ones_are_errors() {
        let error = runtime_handlers(&[("broken".to_string(), PathBuf::from("/nonexistent/runtime"))]).unwrap_err();
        assert!(format!("{error:#}").contains("runtime handler broken=/nonexistent/runtime"), "{error:#}");
    }
}
