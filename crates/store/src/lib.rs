//! A kind-agnostic revisioned key-value store: the `Backend` every other part of peapod's
//! persistence stands on (the kine model of etcd's API).
//!
//! It knows keys, bytes and revisions, nothing of Kubernetes. Every successful write gets the
//! next cluster-wide revision; that revision is what the apiserver shows as `resourceVersion`.
//! Compare-and-swap on a key's `mod_revision` is the only concurrency control.
//!
//! Architecture invariants:
//! - Revisions increase by exactly one per write (create, update or delete), with no gaps.
//! - A write is acknowledged only once it is durable (for the SQLite backend: committed with
//!   `synchronous=FULL` in WAL mode before the call returns).
//! - `watch(prefix, after)` delivers every change with revision > `after` under the prefix, in
//!   revision order, or fails with `Compacted` if that history is gone.

mod compactor;
mod error;
pub mod memory;
pub mod sqlite;
mod watch;

#[cfg(test)]
mod conformance;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use compactor::{compact_once, spawn_compactor};
pub use error::StoreError;
pub use memory::MemoryBackend;
pub use sqlite::{Options as SqliteOptions, SqliteBackend};

/// A store revision. 0 means "none" or "current" depending on the call.
pub type Revision = i64;

/// A key with its value and the revisions that created and last modified it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision of the create that started this key's current life.
    pub create_revision: Revision,
    /// The revision of the last write to this key (for a delete event: the delete's revision).
    pub mod_revision: Revision,
}

/// What happened to a key at one revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Created (no previous value) or updated (with one).
    Put,
    Delete,
}

/// One change, as seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event_type: EventType,
    /// For a put, the new value. For a delete, the value the key had before the delete, with
    /// `mod_revision` set to the delete's revision.
    pub kv: KeyValue,
    /// The value before this change, when there was one.
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// One page of a range read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListResult {
    /// Keys in ascending byte order.
    pub kvs: Vec<KeyValue>,
    /// The revision the list was read at.
    pub revision: Revision,
    /// Whether keys beyond `kvs` exist under the prefix at that revision.
    pub more: bool,
    /// How many keys beyond `kvs` exist under the prefix at that revision (0 unless `more`);
    /// the apiserver's `remainingItemCount`.
    pub remaining: i64,
}

/// The changes under a prefix, in revision order. The stream ends with an error item if the
/// watch cannot continue (for instance the watcher fell too far behind); the caller then
/// watches again from the last revision it saw.
pub type WatchStream = BoxStream<'static, Result<Event, StoreError>>;

/// A revisioned key-value backend. All methods are safe to call concurrently.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The latest revision written (0 for an empty store).
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// The current value of a key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// Keys starting with `prefix` and greater than `start_after` (all of them when empty),
    /// at `revision` (0 = the current revision), at most `limit` of them (0 = no limit).
    /// Fails with `Compacted` when `revision` is older than the compacted revision, and
    /// `FutureRevision` when it is newer than the current one.
    async fn list(
        &self,
        prefix: &str,
        start_after: &str,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult, StoreError>;

    /// Creates a key that must not exist. Returns the new revision.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision, StoreError>;

    /// Replaces a key's value if its `mod_revision` is `expected_revision`. Returns the new
    /// revision; `Conflict` (with the current value) if it moved on, `NotFound` if absent.
    async fn update(&self, key: &str, value: Vec<u8>, expected_revision: Revision) -> Result<Revision, StoreError>;

    /// Deletes a key, only if its `mod_revision` is `expected_revision` when one is given.
    /// Returns the deleted value with `mod_revision` set to the delete's revision.
    async fn delete(&self, key: &str, expected_revision: Option<Revision>) -> Result<KeyValue, StoreError>;

    /// Every change under `prefix` with revision > `after_revision`, history first, then live.
    async fn watch(&self, prefix: &str, after_revision: Revision) -> Result<WatchStream, StoreError>;

    /// Forgets history at and below `revision` (current values stay). Later lists or watches
    /// from before it fail with `Compacted`.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// The newest revision that has been compacted away (0 if none).
    async fn compacted_revision(&self) -> Result<Revision, StoreError>;
}
