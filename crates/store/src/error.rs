//! The errors every backend returns.

use crate::{KeyValue, Revision};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key not found")]
    NotFound,
    #[error("key already exists")]
    AlreadyExists,
    /// The key's revision is not the expected one; `current` is its value now (if any).
    #[error("revision conflict")]
    Conflict { current: Option<Box<KeyValue>> },
    /// The requested revision was compacted away.
    #[error("required revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    #[error("required revision {requested} is a future revision (current {current})")]
    FutureRevision { requested: Revision, current: Revision },
    /// The watcher fell too far behind the live stream; watch again from the last revision seen.
    #[error("watch fell behind the event stream")]
    WatchLagged,
    #[error("store is closed")]
    Closed,
    #[error("storage error: {0}")]
    Internal(String),
}
