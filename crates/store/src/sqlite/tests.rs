//! Tests of what only the SQLite backend promises: durability across restarts and `kill -9`,
//! history actually removed by compaction, a bounded file under churn, and compaction that
//! does not stall writers. The shared semantics are in `conformance`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{DB_FILE_NAME, Options, SqliteBackend};
use crate::{Backend, StoreError, compact_once};

fn open(dir: &Path) -> SqliteBackend {
    SqliteBackend::open(dir).expect("open store")
}

fn log_rows(dir: &Path) -> i64 {
    let conn = Connection::open(dir.join(DB_FILE_NAME)).expect("open db");
    conn.query_row("SELECT COUNT(*) FROM kv_log", [], |row| row.get(0)).expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_finds_values_revision_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (a, old) = {
        let store = open(dir.path());
        let a = store.create("/a", b"a1".to_vec()).await.unwrap();
        let a = store.update("/a", b"a2".to_vec(), a).await.unwrap();
        let old = store.create("/b", b"b".to_vec()).await.unwrap();
        store.create("/c", b"c".to_vec()).await.unwrap();
        store.compact(2).await.unwrap();
        store.delete("/b", None).await.unwrap();
        (a, old)
    };
    let store = open(dir.path());
    assert_eq!(store.current_revision().await.unwrap(), 5);
    assert_eq!(store.compacted_revision().await.unwrap(), 2);
    assert_eq!(store.get("/a").await.unwrap().map(|kv| (kv.value, kv.mod_revision)), Some((b"a2".to_vec(), a)));
    assert_eq!(store.get("/b").await.unwrap(), None);
    let then = store.list("/", "", 0, old).await.unwrap();
    assert_eq!(then.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/a", "/b"]);
    assert!(matches!(store.list("/", "", 0, 1).await, Err(StoreError::Compacted { .. })));
    // The counter continues without a gap or a reuse.
    assert_eq!(store.create("/d", vec![]).await.unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_after_compacting_away_the_newest_tombstone_keeps_the_revision() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.create("/a", vec![]).await.unwrap();
        store.delete("/a", None).await.unwrap();
        store.compact(2).await.unwrap();
    }
    assert_eq!(log_rows(dir.path()), 0, "the key's whole history was compacted");
    let store = open(dir.path());
    assert_eq!(store.current_revision().await.unwrap(), 2);
    assert_eq!(store.create("/a", vec![]).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_removes_superseded_history_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options { compact_batch: 7, ..Options::default() };
    let store = SqliteBackend::open_with(dir.path(), options).unwrap();
    for i in 0..10 {
        let key = format!("/k/{i}");
        let mut rev = store.create(&key, vec![0]).await.unwrap();
        for round in 1..5 {
            rev = store.update(&key, vec![round], rev).await.unwrap();
        }
    }
    for i in 0..3 {
        store.delete(&format!("/k/{i}"), None).await.unwrap();
    }
    assert_eq!(log_rows(dir.path()), 53);
    let current = store.current_revision().await.unwrap();
    store.compact(current).await.unwrap();
    // Only the seven live keys' current rows are left.
    assert_eq!(log_rows(dir.path()), 7);
    assert_eq!(store.list("/k/", "", 0, current).await.unwrap().kvs.len(), 7);
}

const KILL_CHILD_ENV: &str = "STORE_KILL_TEST_DIR";

/// The child half of `acknowledged_writes_survive_kill_9`: writes forever from 8 tasks and
/// prints every acknowledged write.
fn kill_child(dir: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Arc::new(open(Path::new(dir)));
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for i in 0.. {
                        let key = format!("/kill/{task}/{i}");
                        let rev = store.create(&key, key.as_bytes().to_vec()).await.unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ack {key} {rev}").unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}

/// Kills the child even when an assertion fails first, so no writer is left running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if let Ok(dir) = std::env::var(KILL_CHILD_ENV) {
        kill_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "sqlite::tests::acknowledged_writes_survive_kill_9", "--nocapture", "--test-threads=1"])
            .env(KILL_CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut acked = Vec::new();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    while acked.len() < 300 {
        let line = lines.next().expect("child stopped before 300 writes").unwrap();
        if let Some(rest) = line.strip_prefix("ack ")
            && let Some((key, rev)) = rest.split_once(' ')
        {
            acked.push((key.to_string(), rev.parse::<i64>().unwrap()));
        }
    }
    // SIGKILL, mid-stream: writes are in flight in the writer.
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = open(dir.path());
        let newest = acked.iter().map(|(_, rev)| *rev).max().unwrap();
        assert!(store.current_revision().await.unwrap() >= newest);
        for (key, rev) in &acked {
            let kv = store.get(key).await.unwrap().unwrap_or_else(|| panic!("acknowledged {key} lost"));
            assert_eq!(kv.mod_revision, *rev);
            assert_eq!(kv.value, key.as_bytes());
        }
        // Revisions stayed gapless through the crash.
        let all = store.list("/kill/", "", 0, 0).await.unwrap();
        assert_eq!(i64::try_from(all.kvs.len()).unwrap(), store.current_revision().await.unwrap());
    });
}

fn store_size(dir: &Path) -> (u64, u64) {
    let size = |name: String| std::fs::metadata(dir.join(name)).map(|meta| meta.len()).unwrap_or(0);
    (size(DB_FILE_NAME.to_string()), size(format!("{DB_FILE_NAME}-wal")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_size_stays_bounded_under_churn() {
    const KEYS: usize = 64;
    const ROUNDS: usize = 80;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Backend> = Arc::new(open(dir.path()));
    let value = vec![b'v'; 2048];
    let mut revs = Vec::with_capacity(KEYS);
    for i in 0..KEYS {
        revs.push(store.create(&format!("/churn/{i}"), value.clone()).await.unwrap());
    }
    let mut half = (0, 0);
    for round in 0..ROUNDS {
        // 8 concurrent writers update every key once per round.
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let store = Arc::clone(&store);
                let value = value.clone();
                let mine: Vec<(usize, i64)> = revs.iter().copied().enumerate().skip(task).step_by(8).collect();
                tokio::spawn(async move {
                    let mut updated = Vec::new();
                    for (i, rev) in mine {
                        updated.push((i, store.update(&format!("/churn/{i}"), value.clone(), rev).await.unwrap()));
                    }
                    updated
                })
            })
            .collect();
        for task in tasks {
            for (i, rev) in task.await.unwrap() {
                revs[i] = rev;
            }
        }
        compact_once(store.as_ref(), 256).await.unwrap();
        if round == ROUNDS / 2 {
            half = store_size(dir.path());
        }
    }
    let end = store_size(dir.path());
    eprintln!("churn: db {} -> {} bytes, wal {} -> {} bytes", half.0, end.0, half.1, end.1);
    assert!(end.0 * 10 <= half.0 * 11, "database grew more than 10% in the second half: {half:?} -> {end:?}");
    // 2 KiB values, 64 keys, ~320 rows of history: a few MB at most, whatever the write count.
    assert!(end.0 < 4 << 20, "database is {} bytes", end.0);
    assert!(end.1 < 64 << 20, "WAL is {} bytes", end.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_does_not_stall_writers() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Backend> = Arc::new(open(dir.path()));
    // 12,000 revisions of history over 192 keys, written by 16 concurrent writers.
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut revs = [0; 12];
                for i in 0..750 {
                    let key = format!("/stall/{task}/{}", i % 12);
                    revs[i % 12] = match revs[i % 12] {
                        0 => store.create(&key, vec![b'x'; 512]).await.unwrap(),
                        rev => store.update(&key, vec![b'x'; 512], rev).await.unwrap(),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let target = store.current_revision().await.unwrap();
    assert_eq!(target, 12_000);

    // A steady writer measures its latencies while the whole history is compacted.
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            let mut i = 0;
            while !done.load(Ordering::SeqCst) || i < 20 {
                let start = Instant::now();
                store.create(&format!("/steady/{i}"), vec![0; 512]).await.unwrap();
                worst = worst.max(start.elapsed());
                i += 1;
            }
            (worst, i)
        })
    };
    let start = Instant::now();
    store.compact(target).await.unwrap();
    let compaction = start.elapsed();
    done.store(true, Ordering::SeqCst);
    let (worst, writes) = writer.await.unwrap();
    eprintln!("compaction of {target} revisions took {compaction:?}; {writes} writes meanwhile, worst {worst:?}");
    assert!(worst < Duration::from_millis(100), "a write waited {worst:?} during compaction");
}
