//! What the processes that join a server share: the flags naming the server and how to trust
//! and authenticate to it (`peapod agent`, `peapod sim-nodes`), and waiting for SIGTERM or
//! SIGINT.

use std::path::PathBuf;

use anyhow::{Context, bail};

#[derive(clap::Args, Debug)]
pub struct JoinArgs {
    /// The API server, e.g. https://127.0.0.1:6443 (default: the kubeconfig's).
    #[arg(long)]
    pub server: Option<String>,
    /// The join token (the server's DATA_DIR/token) or the admin token.
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
}

impl JoinArgs {
    pub fn client_config(&self) -> anyhow::Result<client::Config> {
        let mut config = match &self.kubeconfig {
            Some(path) => client::Config::from_kubeconfig(path).with_context(|| format!("read {}", path.display()))?,
            None => {
                let Some(server) = &self.server else { bail!("--server (or --kubeconfig) is required") };
                client::Config::new(server.clone(), None, None)
            }
        };
        if let Some(server) = &self.server {
            config.server = server.trim_end_matches('/').to_string();
        }
        if let Some(token) = &self.token {
            config.token = Some(token.clone());
        }
        if let Some(path) = &self.ca_file {
            config.ca_pem = Some(std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?);
        }
        if self.insecure_skip_tls_verify {
            config.insecure_skip_tls_verify = true;
        }
        Ok(config)
    }
}

pub async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
