//! The scheduler: binds pending pods to nodes (being written).

use tokio_util::sync::CancellationToken;

/// Runs the scheduler until `shutdown`.
pub async fn run(client: client::Client, config: crate::ControlConfig, shutdown: CancellationToken) {
    let _ = (client, config);
    shutdown.cancelled().await;
}
