//! The embedded default `Backend`: one SQLite database file (WAL, `synchronous=FULL`) in a data
//! directory, in the kine model (see `schema` for the tables).
//!
//! Threads and their jobs:
//! - one writer thread (`writer`) owns the only writing connection and applies every write by
//!   group commit; it assigns revisions, so they are gapless and in commit order, and it runs
//!   compaction in small steps between write groups;
//! - reads (`reader`) run on tokio's blocking pool with pooled read-only connections and never
//!   wait for the writer;
//! - a checkpointer thread copies the WAL into the database file in the background so commits
//!   do not pay for it.
//!
//! No SQLite call ever runs on the async executor. Committed events go out on an in-process
//! broadcast after commit, which `watch` joins to the history it reads from `kv_log`.

mod checkpoint;
mod reader;
mod schema;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::watch::{self, DEFAULT_WATCH_BUFFER};
use crate::{Backend, Event, KeyValue, ListResult, Revision, StoreError, WatchStream};
use reader::Readers;
use writer::{Op, Request, Writer};

pub use schema::DB_FILE_NAME;

/// Events read from the database per query while a watch replays history.
const HISTORY_PAGE: usize = 1000;

/// Tuning of the SQLite backend. The defaults suit the apiserver.
#[derive(Clone, Debug)]
pub struct Options {
    /// How many committed events a watcher may fall behind before its stream ends with
    /// `WatchLagged`.
    pub watch_buffer: usize,
    /// The most writes committed together in one transaction (one fsync).
    pub max_batch: usize,
    /// How many revisions of history one compaction transaction covers. A compaction step
    /// holds up writes for its duration, so this bounds the stall compaction can cause.
    pub compact_batch: Revision,
    /// Read-only connections: reads in flight at once.
    pub read_pool: usize,
    /// Writes that may be queued for the writer before callers wait for room.
    pub write_queue: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            watch_buffer: DEFAULT_WATCH_BUFFER,
            max_batch: 1024,
            compact_batch: 1000,
            read_pool: 8,
            write_queue: 4096,
        }
    }
}

/// What the writer thread makes visible to everyone else after each commit.
struct Published {
    /// The last committed revision.
    revision: AtomicI64,
    /// The current compact revision.
    compacted: AtomicI64,
    /// Committed events, in revision order.
    events: broadcast::Sender<Arc<Event>>,
    /// Set by the checkpointer when the WAL has grown because passive checkpoints could not
    /// restart it under constant writes; the writer then checkpoints between two groups.
    wal_restart_wanted: AtomicBool,
}

/// A revisioned key-value store in one SQLite database file.
pub struct SqliteBackend {
    path: PathBuf,
    writes: mpsc::Sender<Request>,
    readers: Arc<Readers>,
    published: Arc<Published>,
    /// One compaction at a time: its steps must not interleave with another's.
    compacting: tokio::sync::Mutex<()>,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database `DB_FILE_NAME` in the directory `dir` with
    /// default options, recovering the revision counter from it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, Options::default())
    }

    pub fn open_with(dir: &Path, options: Options) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|err| StoreError::Internal(format!("creating store directory {}: {err}", dir.display())))?;
        let path = dir.join(DB_FILE_NAME);
        let conn = schema::open_writer(&path)?;
        let recovered = schema::recover(&conn)?;
        let (events, _) = broadcast::channel(options.watch_buffer.max(1));
        let published = Arc::new(Published {
            revision: AtomicI64::new(recovered.revision),
            compacted: AtomicI64::new(recovered.compacted),
            events,
            wal_restart_wanted: AtomicBool::new(false),
        });
        let checkpointer = checkpoint::spawn(&path, Arc::clone(&published))?;
        let (writes, requests) = mpsc::channel(options.write_queue.max(1));
        let writer = Writer::new(conn, Arc::clone(&published), recovered, options.max_batch, options.compact_batch);
        std::thread::Builder::new()
            .name("store-writer".to_string())
            .spawn(move || {
                writer.run(requests);
                // Stops the checkpointer once the last write is in.
                drop(checkpointer);
            })
            .map_err(|err| StoreError::Internal(format!("starting the store writer: {err}")))?;
        tracing::info!(path = %path.display(), revision = recovered.revision, compacted = recovered.compacted, "store opened");
        Ok(Self {
            readers: Arc::new(Readers::new(path.clone(), options.read_pool)),
            path,
            writes,
            published,
            compacting: tokio::sync::Mutex::new(()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write(&self, op: Op) -> Result<Arc<Event>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes.send(Request::Write { op, reply }).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// The events under `prefix` in `(after, through]`, read page by page.
fn history(readers: Arc<Readers>, prefix: String, after: Revision, through: Revision) -> watch::HistoryStream {
    stream::unfold(Some(after), move |cursor| {
        let readers = Arc::clone(&readers);
        let prefix = prefix.clone();
        async move {
            let cursor = cursor?;
            if cursor >= through {
                return None;
            }
            let page =
                readers.run(move |conn| reader::history_page(conn, &prefix, cursor, through, HISTORY_PAGE)).await;
            match page {
                Ok(events) => {
                    let next = match events.last() {
                        Some(last) if events.len() == HISTORY_PAGE => Some(last.revision()),
                        _ => None,
                    };
                    Some((stream::iter(events.into_iter().map(Ok)).boxed(), next))
                }
                Err(err) => Some((stream::iter([Err(err)]).boxed(), None)),
            }
        }
    })
    .flatten()
    .boxed()
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.published.revision.load(Ordering::SeqCst))
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let key = key.to_string();
        self.readers.run(move |conn| reader::get(conn, &key)).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: &str,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError> {
        let (prefix, start_after) = (prefix.to_string(), start_after.to_string());
        self.readers.run(move |conn| reader::list(conn, &prefix, &start_after, limit, revision)).await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision, StoreError> {
        Ok(self.write(Op::Create { key: key.to_string(), value }).await?.revision())
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected_revision: Revision) -> Result<Revision, StoreError> {
        Ok(self.write(Op::Update { key: key.to_string(), value, expected_revision }).await?.revision())
    }

    async fn delete(&self, key: &str, expected_revision: Option<Revision>) -> Result<KeyValue, StoreError> {
        let event = self.write(Op::Delete { key: key.to_string(), expected_revision }).await?;
        Ok(event.kv.clone())
    }

    async fn watch(&self, prefix: &str, after_revision: Revision) -> Result<WatchStream, StoreError> {
        // Subscribe before reading the revision: every event above it is then in `live`, and
        // everything up to it is in the database.
        let live = self.published.events.subscribe();
        let current = self.published.revision.load(Ordering::SeqCst);
        let history = if after_revision == 0 {
            stream::empty().boxed()
        } else {
            let compacted = self.published.compacted.load(Ordering::SeqCst);
            if after_revision < compacted || after_revision < 0 {
                return Err(StoreError::Compacted { requested: after_revision, compacted });
            }
            history(Arc::clone(&self.readers), prefix.to_string(), after_revision, current)
        };
        Ok(watch::stitch(history, live, prefix.to_string(), current.max(after_revision)))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let _one_at_a_time = self.compacting.lock().await;
        loop {
            let (reply, answer) = oneshot::channel();
            self.writes.send(Request::CompactStep { target: revision, reply }).await.map_err(|_| StoreError::Closed)?;
            if answer.await.map_err(|_| StoreError::Closed)?? {
                return Ok(());
            }
        }
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.published.compacted.load(Ordering::SeqCst))
    }
}
