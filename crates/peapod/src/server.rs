//! `peapod server`: opens the store, prepares TLS and credentials, serves the API, writes the
//! admin kubeconfig, and only then reports ready. Stops cleanly on SIGTERM or SIGINT.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// Where the store, certificates, tokens and kubeconfig live.
    #[arg(long, default_value = "/var/lib/peapod")]
    pub data_dir: PathBuf,
    /// The address the API listens on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    #[arg(long, default_value_t = 6443)]
    pub https_port: u16,
    /// Run the control plane alone, without a node agent.
    #[arg(long)]
    pub disable_agent: bool,
    /// The node name of the in-process agent (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// `sqlite://DIR` (default: DATA_DIR/db) or `memory://` (nothing survives a
    /// restart; for tests and benchmarks).
    #[arg(long)]
    pub datastore_endpoint: Option<String>,
    /// The secret agents and simulated nodes join with (generated in DATA_DIR when absent).
    #[arg(long, env = "PEAPOD_TOKEN")]
    pub token: Option<String>,
    /// Do not run the scheduler (as k3s' flag).
    #[arg(long)]
    pub disable_scheduler: bool,
    /// Do not run the controllers (as k3s' flag).
    #[arg(long)]
    pub disable_controller_manager: bool,
    /// Seconds without a node Lease renewal before the node is `Ready=Unknown`.
    #[arg(long, default_value_t = 40)]
    pub node_monitor_grace_period: u64,
    #[command(flatten)]
    pub node: crate::agent::NodeArgs,
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("create {}", args.data_dir.display()))?;
    let backend = open_store(&args)?;
    let join_token = match &args.token {
        Some(token) => token.clone(),
        None => read_or_create_secret(&args.data_dir.join("token"))?,
    };
    let admin_token = read_or_create_secret(&args.data_dir.join("admin-token"))?;

    let mut names = vec![hostname()];
    if !args.bind_address.is_unspecified() {
        names.push(args.bind_address.to_string());
    }
    let pki = apiserver::tls::ensure_pki(&args.data_dir.join("tls"), &names).context("prepare TLS certificates")?;
    let tls = apiserver::tls::server_config(&pki).context("load TLS certificates")?;

    let client_host =
        if args.bind_address.is_unspecified() { "127.0.0.1".to_string() } else { args.bind_address.to_string() };
    let client_host = if client_host.contains(':') { format!("[{client_host}]") } else { client_host };
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind_address, args.https_port))
        .await
        .with_context(|| format!("listen on {}:{}", args.bind_address, args.https_port))?;
    let port = listener.local_addr()?.port();
    let config = apiserver::Config {
        admin_tokens: vec![admin_token.clone(), join_token.clone()],
        advertise_address: format!("{client_host}:{port}"),
        // Agents join with the join token and accept it back from the API server.
        kubelet_token: Some(join_token.clone()),
        ..apiserver::Config::default()
    };
    let server = apiserver::ApiServer::new(backend.clone(), config);
    let shutdown = CancellationToken::new();
    // The control loops stop first, while the API still serves, so that they can release
    // their Lease (the next server takes over at once instead of after the lease expires).
    let stop_control = CancellationToken::new();
    let serving = tokio::spawn(apiserver::serve_tls(listener, tls, server.router(), shutdown.clone()));
    // The control plane's own connection: the same API without TLS, on a socket only root can
    // open (TLS was a tenth of the server's CPU under the scheduler benchmark).
    // A data directory whose path is too long for a socket address only costs the speed-up.
    let socket_path = args.data_dir.join(API_SOCKET);
    let serving_socket = match bind_api_socket(&socket_path) {
        Ok(socket) => Some(tokio::spawn(apiserver::serve_unix(socket, server.router(), shutdown.clone()))),
        Err(error) => {
            tracing::warn!("the control plane talks to the API over TLS instead: {error:#}");
            None
        }
    };

    server.bootstrap().await.map_err(|e| anyhow::anyhow!("create default namespaces: {}", e.message))?;
    let compactor = store::spawn_compactor(backend.clone(), COMPACTION_INTERVAL, COMPACTION_KEEP_REVISIONS);

    let kubeconfig_path = args.data_dir.join("kubeconfig.yaml");
    let server_url = format!("https://{client_host}:{port}");
    crate::kubeconfig::write(&kubeconfig_path, &server_url, &pki.ca_cert_pem, &admin_token)?;
    server.set_ready();
    let mut control_client_config =
        client::Config::new(server_url.clone(), Some(pki.ca_cert_pem.clone()), Some(admin_token.clone()));
    control_client_config.unix_socket = serving_socket.is_some().then(|| socket_path.clone());
    let control_client = client::Client::new(control_client_config).context("create the control plane's API client")?;
    let control_config = control::ControlConfig {
        node_monitor_grace_period: Duration::from_secs(args.node_monitor_grace_period),
        run_scheduler: !args.disable_scheduler,
        run_controllers: !args.disable_controller_manager,
        ..control::ControlConfig::default()
    };
    // Unique per process, as Kubernetes components name their lease holders.
    let mut suffix = [0u8; 4];
    getrandom(&mut suffix)?;
    let identity = format!("{}_{}", hostname(), suffix.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let control_plane =
        tokio::spawn(crate::control_plane::run(control_client, control_config, identity, stop_control.clone()));
    tracing::info!(
        "peapod server ready at {server_url} in {} ms; export KUBECONFIG={}",
        started.elapsed().as_millis(),
        kubeconfig_path.display()
    );
    let stop_agent = CancellationToken::new();
    let mut agent = if args.disable_agent {
        tracing::info!("node agent disabled (--disable-agent)");
        None
    } else {
        let agent_client = client::Client::new(client::Config::new(
            server_url.clone(),
            Some(pki.ca_cert_pem.clone()),
            Some(join_token.clone()),
        ))
        .context("create the agent's API client")?;
        Some(tokio::spawn(crate::agent::run_node(
            args.data_dir.clone(),
            args.node_name.clone(),
            args.node.clone(),
            agent_client,
            join_token.clone(),
            stop_agent.clone(),
        )))
    };

    match agent.as_mut() {
        Some(running) => tokio::select! {
            result = crate::join::wait_for_signal() => result?,
            result = running => {
                // The agent only returns early on a setup failure: report it and stop.
                let error = match result { Ok(Err(error)) => error, Ok(Ok(())) => anyhow::anyhow!("stopped"), Err(error) => error.into() };
                tracing::error!("node agent: {error:#}");
                return Err(error.context("node agent"));
            }
        },
        None => crate::join::wait_for_signal().await?,
    }
    tracing::info!("shutting down");
    // The agent stops first; its containers keep running under their shims.
    stop_agent.cancel();
    if let Some(agent) = agent {
        let _ = tokio::time::timeout(Duration::from_secs(5), agent).await;
    }
    stop_control.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), control_plane).await;
    shutdown.cancel();
    compactor.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    if let Some(serving_socket) = serving_socket {
        let _ = tokio::time::timeout(Duration::from_secs(5), serving_socket).await;
        let _ = std::fs::remove_file(&socket_path);
    }
    Ok(())
}

/// The API socket in the data directory, for the server's in-process components.
const API_SOCKET: &str = "api.sock";

/// Binds the API socket (replacing one a killed server left), readable by its owner only.
fn bind_api_socket(path: &std::path::Path) -> anyhow::Result<tokio::net::UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("remove the stale {}", path.display())),
    }
    let listener = tokio::net::UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("restrict {}", path.display()))?;
    Ok(listener)
}

/// kube-apiserver compacts every 5 minutes; we compact as often but keep a window of recent
/// revisions so that watches a few minutes behind can still resume.
const COMPACTION_INTERVAL: Duration = Duration::from_secs(300);
const COMPACTION_KEEP_REVISIONS: i64 = 10_000;

fn open_store(args: &ServerArgs) -> anyhow::Result<Arc<dyn store::Backend>> {
    match args.datastore_endpoint.as_deref() {
        None => open_sqlite(&args.data_dir.join("db")),
        Some(endpoint) => {
            if let Some(path) = endpoint.strip_prefix("sqlite://") {
                open_sqlite(Path::new(path))
            } else if endpoint == "memory://" {
                Ok(Arc::new(store::memory::MemoryBackend::new()))
            } else {
                bail!("unsupported --datastore-endpoint {endpoint:?}: use sqlite://DIR or memory://")
            }
        }
    }
}

fn open_sqlite(path: &Path) -> anyhow::Result<Arc<dyn store::Backend>> {
    std::fs::create_dir_all(path).with_context(|| format!("create {}", path.display()))?;
    let backend =
        store::sqlite::SqliteBackend::open(path).with_context(|| format!("open the store at {}", path.display()))?;
    Ok(Arc::new(backend))
}

/// A secret in a file (owner-only), created with 32 random hex characters on first use.
fn read_or_create_secret(path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let trimmed = existing.trim();
        if !trimmed.is_empty() {
            return Ok(trimmed.to_string());
        }
    }
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = [0u8; 16];
    getrandom(&mut bytes)?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok(secret)
}

fn getrandom(buffer: &mut [u8]) -> anyhow::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buffer)?;
    Ok(())
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
