//! Reads of the SQLite backend: a small pool of read-only connections used on tokio's blocking
//! threads, and the queries for gets, lists (current and at a past revision) and watch history.
//!
//! Readers never write and never wait on the writer: in WAL mode each read transaction sees the
//! last commit made before it started. A multi-statement read (a list and the revision it was
//! read at; a history page and the compact revision) runs in one transaction so its parts agree.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::schema::{self, META_COMPACT_REVISION, sql_error};
use crate::watch::prefix_end;
use crate::{Event, EventType, KeyValue, ListResult, Revision, StoreError};

/// Read-only connections, opened on demand and kept: at most `size` reads run at once and the
/// others wait for a connection. Opening one per read instead (with more reads in flight than
/// idle connections) costs a file open and a schema parse each time, which under load was a
/// tenth of the server's CPU.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Readers {
    pub fn new(path: PathBuf, size: usize) -> Self {
        Self { path, idle: Mutex::new(Vec::new()), permits: Arc::new(tokio::sync::Semaphore::new(size.max(1))) }
    }

    /// Runs `read` with a pooled connection on a blocking thread.
    pub async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let this = Arc::clone(self);
        // The permit moves into the blocking task, so a caller that gives up waiting does not
        // free it while the connection is still in use. (The semaphore is never closed.)
        let permit = self.permits.clone().acquire_owned().await.map_err(|err| StoreError::Internal(err.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = this.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => schema::open_reader(&this.path)?,
            };
            let result = read(&mut conn);
            // A read that failed may have left the connection mid-transaction; drop it then.
            if result.is_ok() || conn.is_autocommit() {
                this.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
            }
            result
        })
        .await
        .map_err(|err| StoreError::Internal(format!("store read task failed: {err}")))?
    }
}

fn key_from(row: &Row<'_>, index: usize) -> Result<String, rusqlite::Error> {
    let bytes: Vec<u8> = row.get(index)?;
    String::from_utf8(bytes)
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Blob, Box::new(err)))
}

/// Reads (key, value, create_revision, mod_revision) from columns 0..4.
fn kv_from(row: &Row<'_>) -> Result<KeyValue, rusqlite::Error> {
    Ok(KeyValue { key: key_from(row, 0)?, value: row.get(1)?, create_revision: row.get(2)?, mod_revision: row.get(3)? })
}

pub fn get(conn: &mut Connection, key: &str) -> Result<Option<KeyValue>, StoreError> {
    conn.prepare_cached(schema::GET_CURRENT)
        .and_then(|mut stmt| stmt.query_row([key.as_bytes()], kv_from).optional())
        .map_err(sql_error)
}

/// Checks `requested` against the transaction's view: 0 means current; older than the compact
/// revision is `Compacted`; newer than the newest is `FutureRevision`.
fn readable_revision(conn: &Connection, requested: Revision) -> Result<(Revision, Revision), StoreError> {
    let current = schema::current_revision(conn)?;
    if requested == 0 {
        return Ok((current, current));
    }
    let compacted = schema::meta(conn, META_COMPACT_REVISION)?;
    if requested < compacted || requested < 0 {
        return Err(StoreError::Compacted { requested, compacted });
    }
    if requested > current {
        return Err(StoreError::FutureRevision { requested, current });
    }
    Ok((requested, current))
}

/// Current keys from `?1` (inclusive in the first form, exclusive in the second) below `?2`,
/// at most `?3` of them.
const LIST_CURRENT: [&str; 2] = [
    "SELECT c.key, l.value, l.create_revision, l.revision FROM kv_current c \
     JOIN kv_log l ON l.revision = c.revision \
     WHERE c.key >= ?1 AND c.key < ?2 ORDER BY c.key LIMIT ?3",
    "SELECT c.key, l.value, l.create_revision, l.revision FROM kv_current c \
     JOIN kv_log l ON l.revision = c.revision \
     WHERE c.key > ?1 AND c.key < ?2 ORDER BY c.key LIMIT ?3",
];

/// The newest row at or below `?3` of each key in the range, without tombstones, at most `?4`.
const LIST_AT: [&str; 2] = [
    "SELECT l.key, l.value, l.create_revision, l.revision FROM \
     (SELECT key, MAX(revision) AS revision FROM kv_log \
      WHERE key >= ?1 AND key < ?2 AND revision <= ?3 GROUP BY key) AS newest \
     JOIN kv_log l ON l.revision = newest.revision \
     WHERE l.deleted = 0 ORDER BY newest.key LIMIT ?4",
    "SELECT l.key, l.value, l.create_revision, l.revision FROM \
     (SELECT key, MAX(revision) AS revision FROM kv_log \
      WHERE key > ?1 AND key < ?2 AND revision <= ?3 GROUP BY key) AS newest \
     JOIN kv_log l ON l.revision = newest.revision \
     WHERE l.deleted = 0 ORDER BY newest.key LIMIT ?4",
];

/// How many live keys follow `?1` in the range, now.
const COUNT_CURRENT_AFTER: &str = "SELECT COUNT(*) FROM kv_current WHERE key > ?1 AND key < ?2";

/// How many keys following `?1` in the range were live at revision `?3`.
const COUNT_AT_AFTER: &str = "SELECT COUNT(*) FROM \
     (SELECT key, MAX(revision) AS revision FROM kv_log \
      WHERE key > ?1 AND key < ?2 AND revision <= ?3 GROUP BY key) AS newest \
     JOIN kv_log l ON l.revision = newest.revision WHERE l.deleted = 0";

pub fn list(
    conn: &mut Connection,
    prefix: &str,
    start_after: &str,
    limit: usize,
    revision: Revision,
) -> Result<ListResult, StoreError> {
    let tx = conn.transaction().map_err(sql_error)?;
    let (revision, current) = readable_revision(&tx, revision)?;
    let end = prefix_end(prefix);
    // Start the index range at the continuation key itself, so a page costs its own size and
    // not a scan of every page before it.
    let (lower, exclusive) =
        if !start_after.is_empty() && start_after >= prefix { (start_after, 1) } else { (prefix, 0) };
    // Fetch one more than asked to learn whether there are more.
    let fetch: i64 = if limit == 0 { -1 } else { i64::try_from(limit).unwrap_or(i64::MAX - 1).saturating_add(1) };
    let mut kvs = if revision == current {
        let mut stmt = tx.prepare_cached(LIST_CURRENT[exclusive]).map_err(sql_error)?;
        let rows = stmt.query_map(params![lower.as_bytes(), end, fetch], kv_from).map_err(sql_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql_error)?
    } else {
        let mut stmt = tx.prepare_cached(LIST_AT[exclusive]).map_err(sql_error)?;
        let rows = stmt.query_map(params![lower.as_bytes(), end, revision, fetch], kv_from).map_err(sql_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql_error)?
    };
    let more = limit > 0 && kvs.len() > limit;
    kvs.truncate(if limit == 0 { kvs.len() } else { limit });
    let remaining = match (more, kvs.last()) {
        (true, Some(last)) => {
            let query = if revision == current { COUNT_CURRENT_AFTER } else { COUNT_AT_AFTER };
            let mut stmt = tx.prepare_cached(query).map_err(sql_error)?;
            if revision == current {
                stmt.query_row(params![last.key.as_bytes(), end], |row| row.get(0))
            } else {
                stmt.query_row(params![last.key.as_bytes(), end, revision], |row| row.get(0))
            }
            .map_err(sql_error)?
        }
        _ => 0,
    };
    Ok(ListResult { kvs, revision, more, remaining })
}

/// Up to `page` events under `prefix` with revisions in `(after, through]`, in order.
///
/// Fails with `Compacted` if compaction has moved past `after` since the watch started, because
/// the rows after it may be gone.
pub fn history_page(
    conn: &mut Connection,
    prefix: &str,
    after: Revision,
    through: Revision,
    page: usize,
) -> Result<Vec<Event>, StoreError> {
    let tx = conn.transaction().map_err(sql_error)?;
    let compacted = schema::meta(&tx, META_COMPACT_REVISION)?;
    if after < compacted {
        return Err(StoreError::Compacted { requested: after, compacted });
    }
    let mut stmt = tx
        .prepare_cached(
            "SELECT l.key, l.value, l.create_revision, l.revision, l.deleted, \
                    p.value, p.create_revision, p.revision \
             FROM kv_log l LEFT JOIN kv_log p ON l.prev_revision > 0 AND p.revision = l.prev_revision \
             WHERE l.revision > ?1 AND l.revision <= ?2 AND l.key >= ?3 AND l.key < ?4 \
             ORDER BY l.revision LIMIT ?5",
        )
        .map_err(sql_error)?;
    let page = i64::try_from(page).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![after, through, prefix.as_bytes(), prefix_end(prefix), page], |row| {
            let kv = kv_from(row)?;
            let deleted: bool = row.get(4)?;
            let prev_value: Option<Vec<u8>> = row.get(5)?;
            let prev_kv = match prev_value {
                Some(value) => Some(KeyValue {
                    key: kv.key.clone(),
                    value,
                    create_revision: row.get(6)?,
                    mod_revision: row.get(7)?,
                }),
                None => None,
            };
            Ok((kv, deleted, prev_kv))
        })
        .map_err(sql_error)?;
    let mut events = Vec::new();
    for row in rows {
        let (kv, deleted, prev_kv) = row.map_err(sql_error)?;
        let event = if deleted {
            let Some(prev) = prev_kv else {
                return Err(StoreError::Internal(format!(
                    "sqlite: tombstone of {:?} at revision {} has no previous value",
                    kv.key, kv.mod_revision
                )));
            };
            let kv = KeyValue { mod_revision: kv.mod_revision, ..prev.clone() };
            Event { event_type: EventType::Delete, kv, prev_kv: Some(prev) }
        } else {
            Event { event_type: EventType::Put, kv, prev_kv }
        };
        events.push(event);
    }
    Ok(events)
}
