//! The on-disk layout of the SQLite backend: connection settings, tables, and recovery of the
//! counters on open. It runs no reads or writes of keys itself.
//!
//! Layout (the kine model, with a current-state index beside the log):
//! - `kv_log`: one row per write. `revision` is the row id; a delete is a tombstone row
//!   (`deleted = 1`, empty value) whose `prev_revision` points at the value it removed, and an
//!   update's `prev_revision` points at the row it replaced (0 for a create). Lists at older
//!   revisions, watch history and `prev_kv` all come from here.
//! - `kv_current`: live key -> revision of its current `kv_log` row, so gets and current
//!   prefix scans never touch history.
//! - `meta`: `compact_revision` (the revision reads may no longer go below) and
//!   `compact_done` (how far history rows have actually been deleted; it trails
//!   `compact_revision` while a compaction runs in batches or was interrupted).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::{Revision, StoreError};

/// The database file inside the directory passed to `SqliteBackend::open`.
pub const DB_FILE_NAME: &str = "state.db";

/// How long a connection waits for a lock another connection holds before failing. Only
/// checkpoints and opening contend with the writer, briefly.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The WAL file is truncated back to this size after a checkpoint lets it restart.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv_log (
    revision        INTEGER PRIMARY KEY,
    key             BLOB    NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,
    deleted         INTEGER NOT NULL,
    value           BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_log_key_revision ON kv_log (key, revision);
CREATE TABLE IF NOT EXISTS kv_current (
    key      BLOB    PRIMARY KEY,
    revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The current row of key `?1`: key, value, create revision, revision. Written as a subquery,
/// not a join: SQLite (built with STAT4) recompiles the join form at every execution, which
/// cost the server a tenth of its CPU under load (`sqlite3Reprepare`).
pub const GET_CURRENT: &str = "SELECT l.key, l.value, l.create_revision, l.revision FROM kv_log l \
     WHERE l.revision = (SELECT revision FROM kv_current WHERE key = ?1)";

pub const META_COMPACT_REVISION: &str = "compact_revision";
pub const META_COMPACT_DONE: &str = "compact_done";

pub fn sql_error(err: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("sqlite: {err}"))
}

/// The counters a backend resumes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    pub revision: Revision,
    pub compacted: Revision,
    pub compact_done: Revision,
}

/// Opens (creating if needed) the database for the single writer: WAL, `synchronous=FULL` so a
/// commit is on disk before it returns, and automatic checkpoints off because a separate
/// checkpointer connection does them without stalling commits.
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(sql_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_error)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(sql_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Internal(format!("sqlite: could not enable WAL (journal_mode is {mode})")));
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(sql_error)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(sql_error)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT).map_err(sql_error)?;
    conn.pragma_update(None, "cache_size", -16_384).map_err(sql_error)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(sql_error)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Internal(format!(
            "sqlite: database schema version {version} is newer than this binary's {SCHEMA_VERSION}"
        )));
    }
    conn.execute_batch(SCHEMA).map_err(sql_error)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(sql_error)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Opens a read-only connection; reads in WAL mode see the last commit and never block the writer.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(sql_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_error)?;
    // 4 MiB each: there are `read_pool` of them, and the OS page cache holds the file anyway.
    conn.pragma_update(None, "cache_size", -4_096).map_err(sql_error)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Opens the connection the background checkpointer copies the WAL into the database with.
pub fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(sql_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_error)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(sql_error)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT).map_err(sql_error)?;
    Ok(conn)
}

pub fn meta(conn: &Connection, name: &str) -> Result<Revision, StoreError> {
    let value: Option<i64> = conn
        .prepare_cached("SELECT value FROM meta WHERE name = ?1")
        .and_then(|mut stmt| stmt.query_row([name], |row| row.get(0)).optional())
        .map_err(sql_error)?;
    Ok(value.unwrap_or(0))
}

pub fn set_meta(conn: &Connection, name: &str, value: Revision) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "INSERT INTO meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?
    .execute(rusqlite::params![name, value])?;
    Ok(())
}

/// The newest revision in the database as seen by `conn`'s current transaction. A compaction
/// may have removed the newest row (a tombstone at the compact revision), so the compact
/// revision is a floor.
pub fn current_revision(conn: &Connection) -> Result<Revision, StoreError> {
    let newest: Revision = conn
        .prepare_cached("SELECT COALESCE(MAX(revision), 0) FROM kv_log")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(sql_error)?;
    Ok(newest.max(meta(conn, META_COMPACT_REVISION)?))
}

pub fn recover(conn: &Connection) -> Result<Recovered, StoreError> {
    Ok(Recovered {
        revision: current_revision(conn)?,
        compacted: meta(conn, META_COMPACT_REVISION)?,
        compact_done: meta(conn, META_COMPACT_DONE)?,
    })
}
