//! The background checkpointer: copies committed WAL frames into the database file on its own
//! connection and thread, so the writer's commits only ever append to the WAL.
//!
//! Passive checkpoints never block writers, but under a constant stream of writes they may never
//! catch up with the WAL's end, so the WAL could not restart and would grow without bound. When
//! the WAL gets long the checkpointer asks the writer (through `wal_restart_wanted`) to run one
//! restarting checkpoint between two write groups; most frames are already copied by then, so
//! that pause is short.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use super::Published;
use super::schema;
use crate::StoreError;

/// How often the WAL is checkpointed.
const INTERVAL: Duration = Duration::from_millis(200);

/// WAL length (in pages) beyond which the writer is asked to restart the WAL.
pub const RESTART_FRAMES: i64 = 4096;

/// Stops the checkpointer thread when dropped.
pub struct Guard {
    _stop: mpsc::Sender<()>,
}

pub fn spawn(path: &Path, published: Arc<Published>) -> Result<Guard, StoreError> {
    let conn = schema::open_checkpointer(path)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("store-checkpoint".to_string())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(1));
                match result {
                    Ok(frames) if frames > RESTART_FRAMES => published.wal_restart_wanted.store(true, Ordering::SeqCst),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "store checkpoint failed"),
                }
            }
        })
        .map_err(|err| StoreError::Internal(format!("starting the store checkpointer: {err}")))?;
    Ok(Guard { _stop: stop })
}

/// Runs on the writer's connection between write groups: copies what is left of the WAL and
/// makes the next commit start the WAL file over (truncated to `journal_size_limit`).
pub fn restart_wal(conn: &rusqlite::Connection) {
    if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| row.get::<_, i64>(0)) {
        tracing::warn!(error = %err, "store WAL restart failed");
    }
}
