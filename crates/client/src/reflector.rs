//! `reflector`: an in-memory cache of a collection, kept current by a
//! [`watcher`](crate::watcher) stream.
//!
//! A [`Writer`] applies watcher events; any number of [`Store`] clones read. A relist
//! (`Init` ... `InitDone`) is buffered and swapped in whole, so readers never see a half
//! list, and objects deleted while the watch was broken disappear at the swap. The store is
//! ready once the first list is in.
//!
//! Objects are shared as `Arc<K>` and must be treated as read-only snapshots; writes go to
//! the API server, never into the cache.
//!
//! Indexes (client-go's `Indexer`): a named function maps each object to index values, and
//! [`Store::by_index`] returns the objects under one value without scanning the cache, so a
//! controller looking up "the pods this ReplicaSet controls" costs the answer's size, not
//! the cluster's. Indexes are kept under the same lock as the objects.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use futures::stream::{Stream, StreamExt};

use crate::api::Api;
use crate::error::Result;
use crate::resource::Object;
use crate::watcher::{self, Event};

/// The cache key: namespace (none for cluster-scoped objects) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: Option<&str>, name: &str) -> Self {
        ObjectKey { namespace: namespace.map(str::to_string), name: name.to_string() }
    }

    /// The key of an object; `None` when it has no name.
    pub fn of<K: Object>(object: &K) -> Option<Self> {
        Some(ObjectKey::new(object.namespace().filter(|n| !n.is_empty()), object.name()?))
    }
}

type Objects<K> = HashMap<ObjectKey, Arc<K>>;

/// Maps an object to the values it is indexed under (none: not in the index).
pub type IndexFunc<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

struct Index<K> {
    name: &'static str,
    func: IndexFunc<K>,
    entries: HashMap<String, HashSet<ObjectKey>>,
}

impl<K> Index<K> {
    fn add(&mut self, key: &ObjectKey, object: &K) {
        for value in (self.func)(object) {
            self.entries.entry(value).or_default().insert(key.clone());
        }
    }

    /// Forgets every entry and indexes `objects` afresh.
    fn rebuild(&mut self, objects: &Objects<K>) {
        self.entries.clear();
        for (key, object) in objects {
            self.add(key, object);
        }
    }

    fn remove(&mut self, key: &ObjectKey, object: &K) {
        for value in (self.func)(object) {
            if let Some(keys) = self.entries.get_mut(&value) {
                keys.remove(key);
                if keys.is_empty() {
                    self.entries.remove(&value);
                }
            }
        }
    }
}

/// The cached objects and their indexes, changed together under one lock.
struct Cache<K> {
    objects: Objects<K>,
    indexes: Vec<Index<K>>,
}

impl<K> Cache<K> {
    fn insert(&mut self, key: ObjectKey, object: Arc<K>) {
        let old = self.objects.insert(key.clone(), object.clone());
        for index in &mut self.indexes {
            if let Some(old) = &old {
                index.remove(&key, old);
            }
            index.add(&key, &object);
        }
    }

    fn remove(&mut self, key: &ObjectKey) {
        if let Some(old) = self.objects.remove(key) {
            for index in &mut self.indexes {
                index.remove(key, &old);
            }
        }
    }

    fn replace_all(&mut self, objects: Objects<K>) {
        self.objects = objects;
        for index in &mut self.indexes {
            index.rebuild(&self.objects);
        }
    }
}

/// A read handle on the cache. Cheap to clone.
pub struct Store<K> {
    shared: Arc<Shared<K>>,
}

struct Shared<K> {
    cache: RwLock<Cache<K>>,
    ready: tokio::sync::watch::Sender<bool>,
}

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Store { shared: self.shared.clone() }
    }
}

impl<K: Object> Store<K> {
    /// The cached object, by namespace (`None` for cluster-scoped kinds) and name.
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        self.get_key(&ObjectKey::new(namespace, name))
    }

    pub fn get_key(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.read().objects.get(key).cloned()
    }

    /// Every cached object, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().objects.values().cloned().collect()
    }

    /// The objects the index `name` maps to `value`, in no particular order; none for an
    /// unknown index.
    pub fn by_index(&self, name: &str, value: &str) -> Vec<Arc<K>> {
        let cache = self.read();
        let Some(index) = cache.indexes.iter().find(|i| i.name == name) else { return Vec::new() };
        let Some(keys) = index.entries.get(value) else { return Vec::new() };
        keys.iter().filter_map(|key| cache.objects.get(key).cloned()).collect()
    }

    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().objects.is_empty()
    }

    /// Whether the first list has been applied.
    pub fn is_ready(&self) -> bool {
        *self.shared.ready.borrow()
    }

    /// Waits until the first list has been applied.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.shared.ready.subscribe();
        // The sender lives in `shared`, which `self` keeps alive, so this cannot fail.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache<K>> {
        // Index functions are the only foreign code run under the write lock; a panicking
        // one leaves at worst a stale index entry, which `by_index` tolerates.
        self.shared.cache.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The single writer of a [`Store`].
pub struct Writer<K> {
    store: Store<K>,
    /// A relist in progress.
    buffer: Option<Objects<K>>,
}

impl<K: Object> Default for Writer<K> {
    fn default() -> Self {
        let cache = Cache { objects: HashMap::new(), indexes: Vec::new() };
        let shared = Shared { cache: RwLock::new(cache), ready: tokio::sync::watch::Sender::new(false) };
        Writer { store: Store { shared: Arc::new(shared) }, buffer: None }
    }
}

impl<K: Object> Writer<K> {
    /// A reader of this writer's cache.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Adds (or replaces) the index `name`, built at once from what is cached.
    pub fn add_index(&mut self, name: &'static str, func: IndexFunc<K>) {
        let mut cache = self.write();
        cache.indexes.retain(|i| i.name != name);
        let mut index = Index { name, func, entries: HashMap::new() };
        index.rebuild(&cache.objects);
        cache.indexes.push(index);
    }

    pub fn apply_watcher_event(&mut self, event: &Event<K>) {
        match event {
            Event::Init => self.buffer = Some(HashMap::new()),
            Event::InitApply(object) => {
                if let (Some(buffer), Some(key)) = (self.buffer.as_mut(), ObjectKey::of(object)) {
                    buffer.insert(key, Arc::new(object.clone()));
                }
            }
            Event::InitDone => {
                if let Some(buffer) = self.buffer.take() {
                    self.write().replace_all(buffer);
                }
                self.store.shared.ready.send_replace(true);
            }
            Event::Apply(object) => {
                if let Some(key) = ObjectKey::of(object) {
                    self.write().insert(key, Arc::new(object.clone()));
                }
            }
            Event::Delete(object) => {
                if let Some(key) = ObjectKey::of(object) {
                    self.write().remove(&key);
                }
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache<K>> {
        self.store.shared.cache.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A new, empty cache.
pub fn store<K: Object>() -> (Store<K>, Writer<K>) {
    let writer = Writer::default();
    (writer.store(), writer)
}

/// Applies every event of `stream` to the cache, passing the events on (for controllers
/// that react to changes and read the cache).
pub fn reflector<K, S>(mut writer: Writer<K>, stream: S) -> impl Stream<Item = Result<Event<K>>> + Send
where
    K: Object,
    S: Stream<Item = Result<Event<K>>> + Send,
{
    stream.map(move |event| {
        if let Ok(event) = &event {
            writer.apply_watcher_event(event);
        }
        event
    })
}

/// Runs a watcher-fed cache of `api`'s collection in a task until it is aborted; watch
/// errors are logged (the watcher recovers from them by itself).
pub fn spawn<K: Object>(api: Api<K>, config: watcher::Config) -> (Store<K>, tokio::task::JoinHandle<()>) {
    let (store, writer) = store();
    let collection = format!("{:?}", api);
    let task = tokio::spawn(async move {
        let events = reflector(writer, watcher::watcher(api, config));
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            if let Err(error) = event {
                tracing::warn!(%collection, %error, "watch failed; retrying");
            }
        }
    });
    (store, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn object(namespace: &str, name: &str, version: &str) -> Value {
        json!({"metadata": {"namespace": namespace, "name": name, "resourceVersion": version}})
    }

    #[tokio::test]
    async fn relists_swap_atomically_and_drop_vanished_objects() {
        let (store, mut writer) = store::<Value>();
        assert!(!store.is_ready());
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(object("a", "x", "1")));
        writer.apply_watcher_event(&Event::InitApply(object("a", "y", "2")));
        // Not swapped in before InitDone.
        assert!(store.is_empty());
        writer.apply_watcher_event(&Event::InitDone);
        tokio::time::timeout(std::time::Duration::from_secs(1), store.wait_until_ready()).await.expect("ready");
        assert_eq!(store.len(), 2);

        writer.apply_watcher_event(&Event::Apply(object("a", "x", "3")));
        writer.apply_watcher_event(&Event::Apply(object("b", "x", "4")));
        writer.apply_watcher_event(&Event::Delete(object("a", "y", "5")));
        assert_eq!(store.get(Some("a"), "x").and_then(|o| o.resource_version().map(str::to_string)), Some("3".into()));
        assert!(store.get(Some("b"), "x").is_some());
        assert!(store.get(Some("a"), "y").is_none());

        // A relist that no longer has a/x: it is gone after the swap; readers keep the old
        // view until then.
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(object("b", "x", "6")));
        assert_eq!(store.len(), 2);
        writer.apply_watcher_event(&Event::InitDone);
        assert_eq!(store.len(), 1);
        assert!(store.get(Some("a"), "x").is_none());
        assert!(store.is_ready());
    }

    #[test]
    fn indexes_follow_inserts_updates_deletes_and_relists() {
        let (store, mut writer) = store::<Value>();
        writer.apply_watcher_event(&Event::Apply(
            json!({"metadata": {"namespace": "a", "name": "early", "labels": {"app": "x"}}}),
        ));
        let by_app: IndexFunc<Value> = Arc::new(|o: &Value| {
            o.pointer("/metadata/labels/app").and_then(Value::as_str).map(|a| vec![a.to_string()]).unwrap_or_default()
        });
        writer.add_index("app", by_app);
        let names = |value: &str| {
            let mut names: Vec<String> = store
                .by_index("app", value)
                .iter()
                .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
                .collect();
            names.sort();
            names
        };
        // Built from what was cached before the index existed.
        assert_eq!(names("x"), ["early"]);
        writer.apply_watcher_event(&Event::Apply(
            json!({"metadata": {"namespace": "a", "name": "p", "labels": {"app": "x"}}}),
        ));
        assert_eq!(names("x"), ["early", "p"]);
        // An update moves the object to its new value.
        writer.apply_watcher_event(&Event::Apply(
            json!({"metadata": {"namespace": "a", "name": "p", "labels": {"app": "y"}}}),
        ));
        assert_eq!(names("x"), ["early"]);
        assert_eq!(names("y"), ["p"]);
        writer.apply_watcher_event(&Event::Delete(json!({"metadata": {"namespace": "a", "name": "early"}})));
        assert!(names("x").is_empty());
        // A relist rebuilds the index from the new view.
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(
            json!({"metadata": {"namespace": "b", "name": "q", "labels": {"app": "x"}}}),
        ));
        assert_eq!(names("y"), ["p"]);
        writer.apply_watcher_event(&Event::InitDone);
        assert!(names("y").is_empty());
        assert_eq!(names("x"), ["q"]);
        assert!(store.by_index("missing", "x").is_empty());
    }

    #[test]
    fn cluster_scoped_and_nameless_objects() {
        let (store, mut writer) = store::<Value>();
        writer.apply_watcher_event(&Event::Apply(json!({"metadata": {"name": "node-1"}})));
        writer.apply_watcher_event(&Event::Apply(json!({"metadata": {}})));
        assert_eq!(store.len(), 1);
        assert!(store.get(None, "node-1").is_some());
        // Apply before any list does not make the store ready.
        assert!(!store.is_ready());
    }
}
