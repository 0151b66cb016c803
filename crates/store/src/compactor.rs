//! Periodic compaction, as kube-apiserver runs it against etcd (every 5 minutes by default):
//! history older than the newest `keep` revisions is forgotten, so the store stays bounded.
//!
//! This module only decides when and how far to compact; the backend does the work (the SQLite
//! one in small batches that do not stall writers). It never compacts into the last `keep`
//! revisions, so a watcher that is at most `keep` revisions behind can always resume.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::{Backend, Revision, StoreError};

/// Compacts `backend` to `current - keep` once. Returns the revision compacted to, or `None` when
/// there was nothing new to compact.
pub async fn compact_once(backend: &dyn Backend, keep: Revision) -> Result<Option<Revision>, StoreError> {
    let current = backend.current_revision().await?;
    let target = current.saturating_sub(keep.max(0));
    if target <= 0 || target <= backend.compacted_revision().await? {
        return Ok(None);
    }
    backend.compact(target).await?;
    Ok(Some(target))
}

/// Runs `compact_once(backend, keep)` every `interval` (the first time one interval after the
/// start) until the returned task is aborted. Failures are logged and retried next interval.
pub fn spawn_compactor(backend: Arc<dyn Backend>, interval: Duration, keep: Revision) -> JoinHandle<()> {
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + interval;
        let mut ticker = tokio::time::interval_at(start, interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match compact_once(backend.as_ref(), keep).await {
                Ok(Some(revision)) => tracing::debug!(revision, "store compacted"),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "store compaction failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryBackend;

    #[tokio::test]
    async fn compact_once_keeps_the_newest_revisions() {
        let backend = MemoryBackend::new();
        for i in 0..10 {
            backend.create(&format!("/k/{i}"), vec![]).await.expect("create");
        }
        assert_eq!(compact_once(&backend, 4).await.expect("compact"), Some(6));
        assert_eq!(backend.compacted_revision().await.expect("compacted"), 6);
        // Nothing new since: no compaction.
        assert_eq!(compact_once(&backend, 4).await.expect("compact"), None);
        // Keeping more than there is never compacts.
        assert_eq!(compact_once(&backend, 100).await.expect("compact"), None);
    }

    #[tokio::test]
    async fn spawned_compactor_compacts_periodically() {
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        for i in 0..5 {
            backend.create(&format!("/k/{i}"), vec![]).await.expect("create");
        }
        let task = spawn_compactor(Arc::clone(&backend), Duration::from_millis(20), 2);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while backend.compacted_revision().await.expect("compacted") != 3 {
            assert!(tokio::time::Instant::now() < deadline, "compactor did not run");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        task.abort();
    }
}
