//! The controllers (being written).

use tokio_util::sync::CancellationToken;

/// Runs every controller until `shutdown`.
pub async fn run(client: client::Client, config: crate::ControlConfig, shutdown: CancellationToken) {
    let _ = (client, config);
    shutdown.cancelled().await;
}
