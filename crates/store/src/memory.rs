//! An in-memory `Backend` for tests: the same revision log, compaction and watch semantics as
//! the SQLite backend, held in ordered maps behind one mutex.
//!
//! It keeps nothing across restarts and must not be used where durability matters. Every
//! operation takes the mutex only for a short, non-blocking critical section; the broadcast of
//! an event happens under the mutex so watchers see events in revision order.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream;
use tokio::sync::broadcast;

use crate::watch::{self, DEFAULT_WATCH_BUFFER};
use crate::{Backend, Event, EventType, KeyValue, ListResult, Revision, StoreError, WatchStream};

/// One write in the revision log (the in-memory twin of a `kv_log` row).
#[derive(Debug)]
struct Row {
    key: String,
    /// Empty for a delete: the deleted value is the row at `prev_revision`.
    value: Vec<u8>,
    create_revision: Revision,
    /// The key's previous row (0 for a create).
    prev_revision: Revision,
    deleted: bool,
}

#[derive(Debug, Default)]
struct Inner {
    revision: Revision,
    compacted: Revision,
    /// Every write not yet compacted away, by revision.
    log: BTreeMap<Revision, Row>,
    /// The revisions of each key's rows still in `log`.
    by_key: BTreeMap<String, BTreeSet<Revision>>,
    /// Live keys and the revision of their current row.
    current: BTreeMap<String, Revision>,
}

/// A revisioned key-value store in memory.
pub struct MemoryBackend {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Event>>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::with_watch_buffer(DEFAULT_WATCH_BUFFER)
    }

    /// A store whose watchers get `WatchLagged` once they are `watch_buffer` events behind.
    pub fn with_watch_buffer(watch_buffer: usize) -> Self {
        let (events, _) = broadcast::channel(watch_buffer.max(1));
        Self { inner: Mutex::new(Inner::default()), events }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way later
        // calls would misread (each write inserts its row before publishing it), so go on.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn kv(&self, revision: Revision) -> Option<KeyValue> {
        let row = self.log.get(&revision)?;
        Some(KeyValue {
            key: row.key.clone(),
            value: row.value.clone(),
            create_revision: row.create_revision,
            mod_revision: revision,
        })
    }

    fn current_kv(&self, key: &str) -> Option<KeyValue> {
        self.current.get(key).and_then(|rev| self.kv(*rev))
    }

    fn event(&self, revision: Revision) -> Option<Event> {
        let row = self.log.get(&revision)?;
        let prev_kv = if row.prev_revision > 0 { self.kv(row.prev_revision) } else { None };
        if row.deleted {
            let mut kv = prev_kv.clone()?;
            kv.mod_revision = revision;
            Some(Event { event_type: EventType::Delete, kv, prev_kv })
        } else {
            Some(Event { event_type: EventType::Put, kv: self.kv(revision)?, prev_kv })
        }
    }

    fn append(&mut self, row: Row) -> Revision {
        self.revision += 1;
        let revision = self.revision;
        if row.deleted {
            self.current.remove(&row.key);
        } else {
            self.current.insert(row.key.clone(), revision);
        }
        self.by_key.entry(row.key.clone()).or_default().insert(revision);
        self.log.insert(revision, row);
        revision
    }

    fn remove_row(&mut self, revision: Revision) {
        if let Some(row) = self.log.remove(&revision)
            && let Some(revs) = self.by_key.get_mut(&row.key)
        {
            revs.remove(&revision);
            if revs.is_empty() {
                self.by_key.remove(&row.key);
            }
        }
    }

    fn check_readable(&self, revision: Revision) -> Result<Revision, StoreError> {
        if revision == 0 {
            return Ok(self.revision);
        }
        if revision < self.compacted || revision < 0 {
            return Err(StoreError::Compacted { requested: revision, compacted: self.compacted });
        }
        if revision > self.revision {
            return Err(StoreError::FutureRevision { requested: revision, current: self.revision });
        }
        Ok(revision)
    }
}

/// Iterates `map` over the keys under `prefix` and greater than `start_after`.
fn key_range<'a, V>(
    map: &'a BTreeMap<String, V>,
    prefix: &'a str,
    start_after: &str,
) -> impl Iterator<Item = (&'a String, &'a V)> + 'a {
    let lower = if !start_after.is_empty() && start_after >= prefix {
        Bound::Excluded(start_after.to_string())
    } else {
        Bound::Included(prefix.to_string())
    };
    map.range((lower, Bound::Unbounded)).take_while(move |(key, _)| key.starts_with(prefix))
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.lock().revision)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.lock().current_kv(key))
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: &str,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError> {
        let inner = self.lock();
        let revision = inner.check_readable(revision)?;
        let limit = if limit == 0 { usize::MAX } else { limit };
        let mut kvs = Vec::new();
        let mut more = false;
        let visible: Box<dyn Iterator<Item = KeyValue>> = if revision == inner.revision {
            Box::new(key_range(&inner.current, prefix, start_after).filter_map(|(_, rev)| inner.kv(*rev)))
        } else {
            Box::new(key_range(&inner.by_key, prefix, start_after).filter_map(|(_, revs)| {
                let rev = revs.range(..=revision).next_back()?;
                if inner.log.get(rev)?.deleted { None } else { inner.kv(*rev) }
            }))
        };
        let mut remaining = 0;
        for kv in visible {
            if kvs.len() == limit {
                more = true;
                remaining += 1;
            } else {
                kvs.push(kv);
            }
        }
        Ok(ListResult { kvs, revision, more, remaining })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision, StoreError> {
        let mut inner = self.lock();
        if inner.current.contains_key(key) {
            return Err(StoreError::AlreadyExists);
        }
        let revision = inner.revision + 1;
        let row = Row { key: key.to_string(), value, create_revision: revision, prev_revision: 0, deleted: false };
        let revision = inner.append(row);
        self.publish(&inner, revision);
        Ok(revision)
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected_revision: Revision) -> Result<Revision, StoreError> {
        let mut inner = self.lock();
        let current = inner.current_kv(key).ok_or(StoreError::NotFound)?;
        if current.mod_revision != expected_revision {
            return Err(StoreError::Conflict { current: Some(Box::new(current)) });
        }
        let row = Row {
            key: key.to_string(),
            value,
            create_revision: current.create_revision,
            prev_revision: current.mod_revision,
            deleted: false,
        };
        let revision = inner.append(row);
        self.publish(&inner, revision);
        Ok(revision)
    }

    async fn delete(&self, key: &str, expected_revision: Option<Revision>) -> Result<KeyValue, StoreError> {
        let mut inner = self.lock();
        let mut current = inner.current_kv(key).ok_or(StoreError::NotFound)?;
        if expected_revision.is_some_and(|expected| expected != current.mod_revision) {
            return Err(StoreError::Conflict { current: Some(Box::new(current)) });
        }
        let row = Row {
            key: key.to_string(),
            value: Vec::new(),
            create_revision: current.create_revision,
            prev_revision: current.mod_revision,
            deleted: true,
        };
        let revision = inner.append(row);
        self.publish(&inner, revision);
        current.mod_revision = revision;
        Ok(current)
    }

    async fn watch(&self, prefix: &str, after_revision: Revision) -> Result<WatchStream, StoreError> {
        let inner = self.lock();
        let live = self.events.subscribe();
        // Live events up to the snapshot are either in `history` or older than what was asked.
        let snapshot = inner.revision.max(after_revision);
        let history: Vec<Result<Event, StoreError>> = if after_revision == 0 {
            Vec::new()
        } else {
            if after_revision < inner.compacted || after_revision < 0 {
                return Err(StoreError::Compacted { requested: after_revision, compacted: inner.compacted });
            }
            inner
                .log
                .range(after_revision.saturating_add(1)..)
                .filter(|(_, row)| row.key.starts_with(prefix))
                .filter_map(|(rev, _)| inner.event(*rev))
                .map(Ok)
                .collect()
        };
        drop(inner);
        Ok(watch::stitch(stream::iter(history).boxed(), live, prefix.to_string(), snapshot))
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if revision > inner.revision {
            return Err(StoreError::FutureRevision { requested: revision, current: inner.revision });
        }
        if revision <= inner.compacted {
            return Ok(());
        }
        // A row goes once a newer row of its key is at or below `revision` (it can no longer be
        // read at any revision still allowed); a tombstone goes once it is at or below it.
        let mut doomed = Vec::new();
        for (rev, row) in inner.log.range(inner.compacted + 1..=revision) {
            if row.prev_revision > 0 {
                doomed.push(row.prev_revision);
            }
            if row.deleted {
                doomed.push(*rev);
            }
        }
        for rev in doomed {
            inner.remove_row(rev);
        }
        inner.compacted = revision;
        Ok(())
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.lock().compacted)
    }
}

impl MemoryBackend {
    fn publish(&self, inner: &Inner, revision: Revision) {
        if let Some(event) = inner.event(revision) {
            // No receivers is not an error: nobody is watching.
            let _ = self.events.send(Arc::new(event));
        }
    }
}
