//! The one conformance suite every `Backend` must pass: the etcd/kine semantics the apiserver
//! relies on (revisions, compare-and-swap, ranges at a revision, watch replay, compaction,
//! concurrency). Each case is an async function over a backend factory; the macro at the end
//! runs every case against every backend. Backend-specific behaviour (durability, file size)
//! is tested in the backend's own module, not here.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tempfile::TempDir;

use crate::watch::DEFAULT_WATCH_BUFFER;
use crate::{
    Backend, Event, EventType, KeyValue, MemoryBackend, SqliteBackend, SqliteOptions, StoreError, WatchStream,
};

/// A backend under test plus whatever must outlive it (the SQLite backend's directory).
pub struct Fixture {
    pub backend: Arc<dyn Backend>,
    _dir: Option<TempDir>,
}

/// Makes a fresh, empty backend whose watchers lag after `watch_buffer` events.
pub type Factory = fn(watch_buffer: usize) -> Fixture;

pub fn memory(watch_buffer: usize) -> Fixture {
    Fixture { backend: Arc::new(MemoryBackend::with_watch_buffer(watch_buffer)), _dir: None }
}

pub fn sqlite(watch_buffer: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions { watch_buffer, ..SqliteOptions::default() };
    let backend = SqliteBackend::open_with(dir.path(), options).expect("open sqlite backend");
    Fixture { backend: Arc::new(backend), _dir: Some(dir) }
}

fn fresh(new: Factory) -> Fixture {
    new(DEFAULT_WATCH_BUFFER)
}

const WAIT: Duration = Duration::from_secs(10);

async fn next_event(stream: &mut WatchStream) -> Event {
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(err))) => panic!("watch failed: {err}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within {WAIT:?}"),
    }
}

async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
        panic!("unexpected watch item: {item:?}");
    }
}

fn kv(key: &str, value: &[u8], create_revision: i64, mod_revision: i64) -> KeyValue {
    KeyValue { key: key.to_string(), value: value.to_vec(), create_revision, mod_revision }
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

pub async fn create_get(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    assert_eq!(b.current_revision().await.unwrap(), 0);
    assert_eq!(b.get("/a").await.unwrap(), None);
    let rev = b.create("/a", b"one".to_vec()).await.unwrap();
    assert_eq!(rev, 1);
    assert_eq!(b.get("/a").await.unwrap(), Some(kv("/a", b"one", 1, 1)));
    assert_eq!(b.current_revision().await.unwrap(), 1);
    // Values are bytes, not text.
    let binary = vec![0u8, 255, 1, 0];
    let rev = b.create("/bin", binary.clone()).await.unwrap();
    assert_eq!(b.get("/bin").await.unwrap(), Some(kv("/bin", &binary, rev, rev)));
}

pub async fn create_existing_fails(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    b.create("/a", b"one".to_vec()).await.unwrap();
    assert!(matches!(b.create("/a", b"two".to_vec()).await, Err(StoreError::AlreadyExists)));
    assert_eq!(b.get("/a").await.unwrap().unwrap().value, b"one");
    // A failed write consumes no revision.
    assert_eq!(b.current_revision().await.unwrap(), 1);
}

pub async fn update_compares_and_swaps(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    let created = b.create("/a", b"one".to_vec()).await.unwrap();
    let updated = b.update("/a", b"two".to_vec(), created).await.unwrap();
    assert_eq!(updated, created + 1);
    assert_eq!(b.get("/a").await.unwrap(), Some(kv("/a", b"two", created, updated)));

    match b.update("/a", b"three".to_vec(), created).await {
        Err(StoreError::Conflict { current }) => {
            assert_eq!(current.as_deref(), Some(&kv("/a", b"two", created, updated)))
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(b.get("/a").await.unwrap().unwrap().value, b"two");
    assert!(matches!(b.update("/missing", b"x".to_vec(), 1).await, Err(StoreError::NotFound)));
    assert_eq!(b.current_revision().await.unwrap(), updated);
}

pub async fn delete_with_and_without_expected_revision(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    let a = b.create("/a", b"a".to_vec()).await.unwrap();
    let c = b.create("/c", b"c".to_vec()).await.unwrap();

    match b.delete("/a", Some(a + 100)).await {
        Err(StoreError::Conflict { current }) => assert_eq!(current.as_deref(), Some(&kv("/a", b"a", a, a))),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let deleted = b.delete("/a", Some(a)).await.unwrap();
    assert_eq!(deleted, kv("/a", b"a", a, c + 1), "the deleted value carries the delete's revision");
    assert_eq!(b.get("/a").await.unwrap(), None);

    let deleted = b.delete("/c", None).await.unwrap();
    assert_eq!(deleted, kv("/c", b"c", c, c + 2));
    assert!(matches!(b.delete("/c", None).await, Err(StoreError::NotFound)));
    assert!(matches!(b.delete("/c", Some(c)).await, Err(StoreError::NotFound)));

    // A key created again starts a new life.
    let again = b.create("/a", b"again".to_vec()).await.unwrap();
    assert_eq!(again, c + 3);
    assert_eq!(b.get("/a").await.unwrap(), Some(kv("/a", b"again", again, again)));
}

pub async fn revisions_increase_by_one(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    let mut last = 0;
    for i in 0..12u8 {
        let key = format!("/k/{}", i % 3);
        let rev = match b.get(&key).await.unwrap() {
            None => b.create(&key, vec![i]).await.unwrap(),
            Some(current) if i % 2 == 0 => b.delete(&key, Some(current.mod_revision)).await.unwrap().mod_revision,
            Some(current) => b.update(&key, vec![i], current.mod_revision).await.unwrap(),
        };
        assert_eq!(rev, last + 1, "write {i}");
        last = rev;
        // Refused writes take no revision.
        assert!(b.update("/none", vec![], 1).await.is_err());
        assert!(b.delete("/none", None).await.is_err());
        assert_eq!(b.current_revision().await.unwrap(), last);
    }
}

pub async fn list_by_prefix(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    for key in ["/a/2", "/a/1", "/ab", "/a", "/b/1", "/a/3/x", "/a/é"] {
        b.create(key, key.as_bytes().to_vec()).await.unwrap();
    }
    let list = b.list("/a/", "", 0, 0).await.unwrap();
    assert_eq!(keys(&list.kvs), ["/a/1", "/a/2", "/a/3/x", "/a/é"]);
    assert_eq!(list.revision, 7);
    assert!(!list.more);
    assert_eq!(list.kvs[0], kv("/a/1", b"/a/1", 2, 2));

    let all = b.list("", "", 0, 0).await.unwrap();
    assert_eq!(keys(&all.kvs), ["/a", "/a/1", "/a/2", "/a/3/x", "/a/é", "/ab", "/b/1"]);
    assert!(b.list("/c/", "", 0, 0).await.unwrap().kvs.is_empty());
}

pub async fn list_pagination(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    for i in 0..10 {
        b.create(&format!("/p/{i:02}"), vec![i]).await.unwrap();
    }
    b.create("/q/00", vec![]).await.unwrap();
    let mut seen = Vec::new();
    let mut start_after = String::new();
    let revision = b.current_revision().await.unwrap();
    loop {
        let page = b.list("/p/", &start_after, 3, revision).await.unwrap();
        assert_eq!(page.revision, revision);
        assert!(page.kvs.len() <= 3);
        seen.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        assert_eq!(page.remaining, 10 - seen.len() as i64, "keys left after {seen:?}");
        if !page.more {
            break;
        }
        assert_eq!(page.kvs.len(), 3);
        start_after = page.kvs.last().unwrap().key.clone();
    }
    assert_eq!(seen, (0..10).map(|i| format!("/p/{i:02}")).collect::<Vec<_>>());

    // Exactly `limit` left: no more.
    let last = b.list("/p/", "/p/06", 3, 0).await.unwrap();
    assert_eq!(keys(&last.kvs), ["/p/07", "/p/08", "/p/09"]);
    assert!(!last.more);
    // A start key before the prefix starts at the prefix; one after it yields nothing.
    assert_eq!(b.list("/p/", "/a", 1, 0).await.unwrap().kvs[0].key, "/p/00");
    assert!(b.list("/p/", "/p/99", 0, 0).await.unwrap().kvs.is_empty());
}

pub async fn list_at_old_revision(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    let r1 = b.create("/o/a", b"a1".to_vec()).await.unwrap();
    let r2 = b.create("/o/b", b"b1".to_vec()).await.unwrap();
    let r3 = b.create("/o/c", b"c1".to_vec()).await.unwrap();
    let then = r3;
    let r4 = b.update("/o/a", b"a2".to_vec(), r1).await.unwrap();
    b.delete("/o/b", None).await.unwrap();
    b.create("/o/d", b"d1".to_vec()).await.unwrap();
    b.delete("/o/c", None).await.unwrap();
    b.create("/o/c", b"c2".to_vec()).await.unwrap();

    let old = b.list("/o/", "", 0, then).await.unwrap();
    assert_eq!(old.revision, then);
    assert_eq!(old.kvs, vec![kv("/o/a", b"a1", r1, r1), kv("/o/b", b"b1", r2, r2), kv("/o/c", b"c1", r3, r3)]);

    let page = b.list("/o/", "/o/a", 1, then).await.unwrap();
    assert_eq!(keys(&page.kvs), ["/o/b"]);
    assert!(page.more);
    // Counted at that revision: /o/c was still there, /o/d not yet.
    assert_eq!(page.remaining, 1);

    let mid = b.list("/o/", "", 0, r4 + 1).await.unwrap();
    assert_eq!(keys(&mid.kvs), ["/o/a", "/o/c"]);
    assert_eq!(mid.kvs[0].value, b"a2");

    let now = b.list("/o/", "", 0, 0).await.unwrap();
    assert_eq!(keys(&now.kvs), ["/o/a", "/o/c", "/o/d"]);
    assert_eq!(now.kvs[1].value, b"c2");
    assert_eq!(b.list("/o/", "", 0, now.revision).await.unwrap(), now);
}

pub async fn list_future_revision_fails(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    b.create("/a", vec![]).await.unwrap();
    match b.list("/", "", 0, 5).await {
        Err(StoreError::FutureRevision { requested: 5, current: 1 }) => {}
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    assert!(matches!(b.compact(5).await, Err(StoreError::FutureRevision { .. })));
}

pub async fn watch_replays_history_then_live(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    let start = b.create("/w/before", b"x".to_vec()).await.unwrap();
    let a = b.create("/w/a", b"1".to_vec()).await.unwrap();
    let a2 = b.update("/w/a", b"2".to_vec(), a).await.unwrap();
    b.create("/other", b"o".to_vec()).await.unwrap();
    let deleted = b.delete("/w/a", None).await.unwrap();

    let mut watch = b.watch("/w/", start).await.unwrap();
    let created = next_event(&mut watch).await;
    assert_eq!(created, Event { event_type: EventType::Put, kv: kv("/w/a", b"1", a, a), prev_kv: None });
    let updated = next_event(&mut watch).await;
    assert_eq!(
        updated,
        Event { event_type: EventType::Put, kv: kv("/w/a", b"2", a, a2), prev_kv: Some(kv("/w/a", b"1", a, a)) }
    );
    let removed = next_event(&mut watch).await;
    assert_eq!(
        removed,
        Event {
            event_type: EventType::Delete,
            kv: kv("/w/a", b"2", a, deleted.mod_revision),
            prev_kv: Some(kv("/w/a", b"2", a, a2)),
        }
    );
    assert_eq!(removed.revision(), deleted.mod_revision);

    // Then live, with nothing replayed twice.
    let live = b.create("/w/live", b"l".to_vec()).await.unwrap();
    let event = next_event(&mut watch).await;
    assert_eq!(event.kv, kv("/w/live", b"l", live, live));
    assert_quiet(&mut watch).await;
}

pub async fn watch_from_zero_or_current_is_live_only(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    b.create("/w/old", vec![]).await.unwrap();
    let current = b.current_revision().await.unwrap();
    let mut from_zero = b.watch("/w/", 0).await.unwrap();
    let mut from_current = b.watch("/w/", current).await.unwrap();
    let mut from_future = b.watch("/w/", current + 1).await.unwrap();
    let first = b.create("/w/new", vec![]).await.unwrap();
    let second = b.create("/w/newer", vec![]).await.unwrap();
    assert_eq!(next_event(&mut from_zero).await.revision(), first);
    assert_eq!(next_event(&mut from_current).await.revision(), first);
    // A watch from a revision not written yet starts after it.
    assert_eq!(next_event(&mut from_future).await.revision(), second);
    assert_eq!(next_event(&mut from_zero).await.revision(), second);
    assert_quiet(&mut from_zero).await;
}

pub async fn watch_prefix_isolation(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    let mut pods = b.watch("/registry/pods/", 0).await.unwrap();
    let mut all = b.watch("/registry/", 0).await.unwrap();
    b.create("/registry/podsx/a", vec![]).await.unwrap();
    b.create("/registry/services/a", vec![]).await.unwrap();
    let pod = b.create("/registry/pods/default/a", vec![]).await.unwrap();
    assert_eq!(next_event(&mut pods).await.revision(), pod);
    assert_quiet(&mut pods).await;
    for expected in 1..=3 {
        assert_eq!(next_event(&mut all).await.revision(), expected);
    }
    // The same isolation while replaying history.
    let mut replay = b.watch("/registry/pods/", 1).await.unwrap();
    assert_eq!(next_event(&mut replay).await.revision(), pod);
    assert_quiet(&mut replay).await;
}

pub async fn watch_history_and_live_have_no_gaps(new: Factory) {
    let f = fresh(new);
    let b = Arc::clone(&f.backend);
    for i in 0..300 {
        b.create(&format!("/g/{i}"), vec![]).await.unwrap();
    }
    // Writers keep going while watches start at various points of the history.
    let writer = {
        let b = Arc::clone(&b);
        tokio::spawn(async move {
            for i in 0..300 {
                b.create(&format!("/g/live{i}"), vec![]).await.unwrap();
            }
        })
    };
    for after in [1, 150, 299] {
        let mut watch = b.watch("/g/", after).await.unwrap();
        for expected in after + 1..=450 {
            assert_eq!(next_event(&mut watch).await.revision(), expected);
        }
    }
    writer.await.unwrap();
}

pub async fn watch_lagging_watcher_gets_watch_lagged(new: Factory) {
    let f = new(16);
    let b = &f.backend;
    let mut watch = b.watch("/", 0).await.unwrap();
    for i in 0..100 {
        b.create(&format!("/l/{i}"), vec![]).await.unwrap();
    }
    let mut last = None;
    while let Ok(Some(item)) = tokio::time::timeout(WAIT, watch.next()).await {
        last = Some(item);
    }
    assert!(matches!(last, Some(Err(StoreError::WatchLagged))), "last item: {last:?}");
}

pub async fn watch_and_list_before_compaction_fail(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    for i in 0..10 {
        b.create(&format!("/c/{i}"), vec![i]).await.unwrap();
    }
    assert_eq!(b.compacted_revision().await.unwrap(), 0);
    b.compact(6).await.unwrap();
    assert_eq!(b.compacted_revision().await.unwrap(), 6);

    match b.watch("/c/", 5).await {
        Err(StoreError::Compacted { requested: 5, compacted: 6 }) => {}
        Err(other) => panic!("expected Compacted, got {other:?}"),
        Ok(_) => panic!("expected Compacted, got a watch"),
    }
    assert!(matches!(b.list("/c/", "", 0, 5).await, Err(StoreError::Compacted { requested: 5, compacted: 6 })));
    // At the compact revision itself, history is still whole.
    assert_eq!(b.list("/c/", "", 0, 6).await.unwrap().kvs.len(), 6);
    let mut watch = b.watch("/c/", 6).await.unwrap();
    for expected in 7..=10 {
        assert_eq!(next_event(&mut watch).await.revision(), expected);
    }
    // Compacting to an older revision changes nothing.
    b.compact(3).await.unwrap();
    assert_eq!(b.compacted_revision().await.unwrap(), 6);
}

pub async fn compaction_keeps_current_values(new: Factory) {
    let f = fresh(new);
    let b = &f.backend;
    let mut revs = Vec::new();
    for i in 0..5u8 {
        let key = format!("/k/{i}");
        let mut rev = b.create(&key, vec![i, 0]).await.unwrap();
        for round in 1..4u8 {
            rev = b.update(&key, vec![i, round], rev).await.unwrap();
        }
        revs.push(rev);
    }
    b.create("/k/gone", vec![]).await.unwrap();
    b.delete("/k/gone", None).await.unwrap();
    let before = b.list("/k/", "", 0, 0).await.unwrap();
    let current = b.current_revision().await.unwrap();
    b.compact(current).await.unwrap();

    let after = b.list("/k/", "", 0, 0).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(after.revision, current);
    assert_eq!(b.current_revision().await.unwrap(), current, "compaction does not move the revision");
    for (i, rev) in revs.iter().enumerate() {
        let kv = b.get(&format!("/k/{i}")).await.unwrap().unwrap();
        assert_eq!(kv.mod_revision, *rev);
        assert_eq!(kv.value, vec![u8::try_from(i).unwrap(), 3]);
    }
    // Updates after compaction produce events with the (kept) previous value.
    let mut watch = b.watch("/k/", current).await.unwrap();
    let next = b.update("/k/0", b"new".to_vec(), revs[0]).await.unwrap();
    assert_eq!(next, current + 1);
    let event = next_event(&mut watch).await;
    assert_eq!(event.prev_kv.map(|kv| kv.value), Some(vec![0, 3]));
    let deleted = b.delete("/k/1", None).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kv, deleted);
    // A second compaction over the new writes leaves current values alone too.
    b.compact(b.current_revision().await.unwrap()).await.unwrap();
    assert_eq!(keys(&b.list("/k/", "", 0, 0).await.unwrap().kvs), ["/k/0", "/k/2", "/k/3", "/k/4"]);
    assert_eq!(b.get("/k/0").await.unwrap().unwrap().value, b"new");
}

pub async fn concurrent_creates_get_unique_revisions(new: Factory) {
    let f = fresh(new);
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let b = Arc::clone(&f.backend);
            tokio::spawn(async move {
                let mut revs = Vec::new();
                for i in 0..200 {
                    revs.push(b.create(&format!("/cc/{task}/{i}"), vec![task]).await.unwrap());
                }
                revs
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for task in tasks {
        let revs = task.await.unwrap();
        assert!(revs.windows(2).all(|w| w[0] < w[1]), "one task's revisions increase");
        all.extend(revs);
    }
    assert_eq!(all.len(), 1600);
    assert_eq!(all.first(), Some(&1));
    assert_eq!(all.last(), Some(&1600));
    assert_eq!(f.backend.list("/cc/", "", 0, 0).await.unwrap().kvs.len(), 1600);
}

pub async fn concurrent_cas_has_one_winner(new: Factory) {
    let f = fresh(new);
    let mut rev = f.backend.create("/cas", b"0".to_vec()).await.unwrap();
    for round in 0..20 {
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let b = Arc::clone(&f.backend);
                tokio::spawn(async move { b.update("/cas", format!("{round}-{task}").into_bytes(), rev).await })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(new_rev) => winners.push(new_rev),
                Err(StoreError::Conflict { current }) => assert!(current.is_some_and(|kv| kv.mod_revision > rev)),
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}");
        assert_eq!(winners[0], rev + 1);
        rev = winners[0];
    }
    assert_eq!(f.backend.current_revision().await.unwrap(), 21);
}

/// Generates one `#[tokio::test]` per case per backend.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::memory).await;
                }
            )*
        }
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::sqlite).await;
                }
            )*
        }
    };
}

conformance!(
    create_get,
    create_existing_fails,
    update_compares_and_swaps,
    delete_with_and_without_expected_revision,
    revisions_increase_by_one,
    list_by_prefix,
    list_pagination,
    list_at_old_revision,
    list_future_revision_fails,
    watch_replays_history_then_live,
    watch_from_zero_or_current_is_live_only,
    watch_prefix_isolation,
    watch_history_and_live_have_no_gaps,
    watch_lagging_watcher_gets_watch_lagged,
    watch_and_list_before_compaction_fail,
    compaction_keeps_current_values,
    concurrent_creates_get_unique_revisions,
    concurrent_cas_has_one_winner,
);
