//! The single writer thread: group commit of queued writes, and compaction in small steps.
//!
//! Every write of the SQLite backend goes through here, so revisions are assigned by one thread
//! in commit order without locks. The thread takes every request queued (up to `max_batch`),
//! applies them one after the other in ONE transaction (each gets its own revision and its own
//! result; a failed compare-and-swap writes nothing and does not disturb the others), commits
//! once (one fsync for the whole group), then publishes the new revision, broadcasts the events
//! in revision order, and only then answers the callers. Nothing is acknowledged before commit.
//!
//! Compaction runs here too, as separate small transactions between write groups, so it never
//! contends with the writer for SQLite's write lock (whose busy handler sleeps in steps of up to
//! 100 ms) and a write waits for at most one compaction step.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::schema::{self, META_COMPACT_DONE, META_COMPACT_REVISION, Recovered, sql_error};
use super::{Published, checkpoint};
use crate::{Event, EventType, KeyValue, Revision, StoreError};

/// One write, as queued by the async side.
#[derive(Debug)]
pub enum Op {
    Create { key: String, value: Vec<u8> },
    Update { key: String, value: Vec<u8>, expected_revision: Revision },
    Delete { key: String, expected_revision: Option<Revision> },
}

pub enum Request {
    /// Answered with the event the write produced (shared with the broadcast).
    Write { op: Op, reply: oneshot::Sender<Result<Arc<Event>, StoreError>> },
    /// One compaction step towards `target`; answered with whether compaction is complete.
    CompactStep { target: Revision, reply: oneshot::Sender<Result<bool, StoreError>> },
}

pub struct Writer {
    conn: Connection,
    published: Arc<Published>,
    /// The last committed revision.
    revision: Revision,
    compacted: Revision,
    compact_done: Revision,
    max_batch: usize,
    compact_batch: Revision,
}

type WriteReply = oneshot::Sender<Result<Arc<Event>, StoreError>>;

impl Writer {
    pub fn new(
        conn: Connection,
        published: Arc<Published>,
        recovered: Recovered,
        max_batch: usize,
        compact_batch: Revision,
    ) -> Self {
        Self {
            conn,
            published,
            revision: recovered.revision,
            compacted: recovered.compacted,
            compact_done: recovered.compact_done,
            max_batch: max_batch.max(1),
            compact_batch: compact_batch.max(1),
        }
    }

    /// Serves requests until every sender is gone (the backend was dropped).
    pub fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut writes: Vec<(Op, WriteReply)> = Vec::with_capacity(self.max_batch);
        let mut compactions = Vec::new();
        while let Some(first) = requests.blocking_recv() {
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Write { op, reply } => writes.push((op, reply)),
                    Request::CompactStep { target, reply } => compactions.push((target, reply)),
                }
                if writes.len() < self.max_batch {
                    next = requests.try_recv().ok();
                }
            }
            if !writes.is_empty() {
                self.commit_group(&mut writes);
            }
            if self.published.wal_restart_wanted.swap(false, Ordering::SeqCst) {
                checkpoint::restart_wal(&self.conn);
            }
            for (target, reply) in compactions.drain(..) {
                let result = self.compact_step(target);
                let _ = reply.send(result);
            }
        }
        tracing::debug!("store writer stopped");
    }

    fn commit_group(&mut self, writes: &mut Vec<(Op, WriteReply)>) {
        let (ops, replies): (Vec<Op>, Vec<WriteReply>) = writes.drain(..).unzip();
        let count = ops.len();
        match self.apply_group(ops) {
            Ok(results) => {
                self.published.revision.store(self.revision, Ordering::SeqCst);
                for event in results.iter().flatten() {
                    // No receivers just means nobody watches right now.
                    let _ = self.published.events.send(Arc::clone(event));
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, writes = count, "store write group failed; rolled back");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Internal(format!("sqlite: {err}"))));
                }
            }
        }
    }

    /// Applies the group in one transaction and commits it. On an SQLite error nothing of the
    /// group is kept (the transaction rolls back when dropped) and the revision does not move.
    fn apply_group(&mut self, ops: Vec<Op>) -> Result<Vec<Result<Arc<Event>, StoreError>>, rusqlite::Error> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut revision = self.revision;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let result = apply(&tx, op, revision + 1)?;
            if result.is_ok() {
                revision += 1;
            }
            results.push(result.map(Arc::new));
        }
        tx.commit()?;
        self.revision = revision;
        Ok(results)
    }

    /// Raises the compact revision to `target` (first step) and deletes history in a window of
    /// at most `compact_batch` revisions above `compact_done`. Returns whether history is
    /// compacted all the way.
    fn compact_step(&mut self, target: Revision) -> Result<bool, StoreError> {
        if target > self.revision {
            return Err(StoreError::FutureRevision { requested: target, current: self.revision });
        }
        let goal = target.max(self.compacted);
        if goal <= self.compact_done {
            return Ok(true);
        }
        let low = self.compact_done;
        let high = goal.min(low.saturating_add(self.compact_batch));
        let mut step = || -> Result<(), rusqlite::Error> {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if goal > self.compacted {
                schema::set_meta(&tx, META_COMPACT_REVISION, goal)?;
            }
            // A row is superseded once a newer row of its key (the one pointing back at it) is at
            // or below the compact revision; delete the rows those in the window point back at,
            // then the window's tombstones, which nothing at or after the compact revision reads.
            tx.prepare_cached(
                "DELETE FROM kv_log WHERE revision IN \
                 (SELECT prev_revision FROM kv_log WHERE revision > ?1 AND revision <= ?2 AND prev_revision > 0)",
            )?
            .execute(params![low, high])?;
            tx.prepare_cached("DELETE FROM kv_log WHERE revision > ?1 AND revision <= ?2 AND deleted = 1")?
                .execute(params![low, high])?;
            schema::set_meta(&tx, META_COMPACT_DONE, high)?;
            tx.commit()
        };
        step().map_err(sql_error)?;
        self.compacted = goal;
        self.compact_done = high;
        self.published.compacted.store(goal, Ordering::SeqCst);
        Ok(high >= goal)
    }
}

/// The current value of `key`, if it is live.
fn current(tx: &Transaction<'_>, key: &str) -> Result<Option<KeyValue>, rusqlite::Error> {
    tx.prepare_cached(schema::GET_CURRENT)?
        .query_row([key.as_bytes()], |row| {
            Ok(KeyValue {
                key: key.to_string(),
                value: row.get(1)?,
                create_revision: row.get(2)?,
                mod_revision: row.get(3)?,
            })
        })
        .optional()
}

fn insert_row(
    tx: &Transaction<'_>,
    revision: Revision,
    key: &str,
    create_revision: Revision,
    prev_revision: Revision,
    deleted: bool,
    value: &[u8],
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO kv_log (revision, key, create_revision, prev_revision, deleted, value) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![revision, key.as_bytes(), create_revision, prev_revision, deleted, value])?;
    if deleted {
        tx.prepare_cached("DELETE FROM kv_current WHERE key = ?1")?.execute([key.as_bytes()])?;
    } else {
        tx.prepare_cached(
            "INSERT INTO kv_current (key, revision) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET revision = excluded.revision",
        )?
        .execute(params![key.as_bytes(), revision])?;
    }
    Ok(())
}

/// Applies one write at `revision` inside the group's transaction. The outer error is an SQLite
/// failure (the group is lost); the inner one is this write's own refusal (nothing written).
fn apply(tx: &Transaction<'_>, op: Op, revision: Revision) -> Result<Result<Event, StoreError>, rusqlite::Error> {
    match op {
        Op::Create { key, value } => {
            let exists = tx.prepare_cached("SELECT 1 FROM kv_current WHERE key = ?1")?.exists([key.as_bytes()])?;
            if exists {
                return Ok(Err(StoreError::AlreadyExists));
            }
            insert_row(tx, revision, &key, revision, 0, false, &value)?;
            let kv = KeyValue { key, value, create_revision: revision, mod_revision: revision };
            Ok(Ok(Event { event_type: EventType::Put, kv, prev_kv: None }))
        }
        Op::Update { key, value, expected_revision } => {
            let Some(prev) = current(tx, &key)? else {
                return Ok(Err(StoreError::NotFound));
            };
            if prev.mod_revision != expected_revision {
                return Ok(Err(StoreError::Conflict { current: Some(Box::new(prev)) }));
            }
            insert_row(tx, revision, &key, prev.create_revision, prev.mod_revision, false, &value)?;
            let kv = KeyValue { key, value, create_revision: prev.create_revision, mod_revision: revision };
            Ok(Ok(Event { event_type: EventType::Put, kv, prev_kv: Some(prev) }))
        }
        Op::Delete { key, expected_revision } => {
            let Some(prev) = current(tx, &key)? else {
                return Ok(Err(StoreError::NotFound));
            };
            if expected_revision.is_some_and(|expected| expected != prev.mod_revision) {
                return Ok(Err(StoreError::Conflict { current: Some(Box::new(prev)) }));
            }
            insert_row(tx, revision, &key, prev.create_revision, prev.mod_revision, true, &[])?;
            let kv = KeyValue { mod_revision: revision, ..prev.clone() };
            Ok(Ok(Event { event_type: EventType::Delete, kv, prev_kv: Some(prev) }))
        }
    }
}
