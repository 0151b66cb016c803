//! The watch fan-out: one store watch per resource, each change decoded once and shared by
//! every API watch of that resource, with a window of recent changes so that a watch
//! starting from a recent resourceVersion joins without touching the store.
//!
//! Without it, N watchers would each parse every stored object and serialize it again: with
//! 100 watchers that is 100 parses per write, and writers starve. Here a change costs one
//! parse, and its JSON is serialized at most once for all plain-JSON watchers.
//!
//! A watch from a revision older than the window falls back to a store watch of its own
//! (history replayed from the store), decoded the same way.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use api::ResourceInfo;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;
use store::{EventType, Revision};
use tokio::sync::broadcast;

use crate::objects;

/// Changes kept per resource for watches that start slightly in the past.
const WINDOW: usize = 2048;
/// Changes a watcher may fall behind the live stream before it is ended (it re-watches).
const CHANNEL_CAPACITY: usize = 8192;

/// One change, decoded at most once, and only as far as some watcher needs: plain JSON
/// watchers without selectors get the stored bytes with the resourceVersion spliced in,
/// selector and metadata watchers a projection of the fields they read (see
/// `api::projection`), and only other shapes (Tables) the whole decoded object.
pub struct Change {
    pub revision: Revision,
    pub event_type: EventType,
    info: &'static ResourceInfo,
    /// The object after the change (for a delete: its last state, at the delete's revision).
    stored: store::KeyValue,
    /// The object before the change, when there was one.
    stored_previous: Option<store::KeyValue>,
    object: OnceLock<Value>,
    selectable: OnceLock<Value>,
    previous_selectable: OnceLock<Option<Value>>,
    json: OnceLock<bytes::Bytes>,
}

impl Change {
    fn new(info: &'static ResourceInfo, event: &store::Event) -> Change {
        Change {
            revision: event.revision(),
            event_type: event.event_type,
            info,
            stored: event.kv.clone(),
            stored_previous: event.prev_kv.clone(),
            object: OnceLock::new(),
            selectable: OnceLock::new(),
            previous_selectable: OnceLock::new(),
            json: OnceLock::new(),
        }
    }

    /// The store key of the object.
    pub fn key(&self) -> &str {
        &self.stored.key
    }

    /// The object after the change, as served. An object the store holds but that cannot be
    /// decoded (never written by this server) is `null`, which no selector matches.
    pub fn object(&self) -> &Value {
        self.object.get_or_init(|| decode_or_null(self.info, &self.stored))
    }

    /// What selectors read of the object (its metadata, resourceVersion included, and the
    /// fields of `api::selector::selectable_paths`), decoded without the rest.
    pub fn selectable(&self) -> &Value {
        match self.object.get() {
            Some(object) => object,
            None => self.selectable.get_or_init(|| selectable(self.info, &self.stored)),
        }
    }

    /// As [`Change::selectable`], of the object before the change.
    pub fn previous_selectable(&self) -> Option<&Value> {
        self.previous_selectable
            .get_or_init(|| self.stored_previous.as_ref().map(|kv| selectable(self.info, kv)))
            .as_ref()
    }

    pub fn has_previous(&self) -> bool {
        self.stored_previous.is_some()
    }

    /// The object serialized as JSON, computed once for every watcher that needs it.
    pub fn object_json(&self) -> &bytes::Bytes {
        self.json.get_or_init(|| {
            if api::convert::stored_as_served(self.info) {
                let mut json = Vec::with_capacity(self.stored.value.len() + 32);
                if objects::write_served_json(&mut json, &self.stored.value, self.stored.mod_revision).is_ok() {
                    return bytes::Bytes::from(json);
                }
            }
            bytes::Bytes::from(api::codec::to_json_bytes(self.object()))
        })
    }
}

fn selectable(info: &ResourceInfo, kv: &store::KeyValue) -> Value {
    if api::convert::stored_as_served(info)
        && let Ok(mut projected) = api::projection::project(&kv.value, api::selector::selectable_paths(info))
    {
        objects::set_resource_version(&mut projected, kv.mod_revision);
        return projected;
    }
    decode_or_null(info, kv)
}

fn decode_or_null(info: &ResourceInfo, kv: &store::KeyValue) -> Value {
    objects::from_kv(info, kv).unwrap_or_else(|error| {
        tracing::warn!(key = %kv.key, error = %error.message, "watch: stored object cannot be decoded");
        Value::Null
    })
}

pub type ChangeStream = BoxStream<'static, Result<Arc<Change>, store::StoreError>>;

struct Hub {
    info: &'static ResourceInfo,
    sender: broadcast::Sender<Arc<Change>>,
    state: Mutex<Window>,
}

struct Window {
    recent: VecDeque<Arc<Change>>,
    /// Every change newer than this is in `recent` or still to come.
    complete_after: Revision,
}

type HubId = (&'static str, &'static str);
type Hubs = Arc<Mutex<HashMap<HubId, Arc<Hub>>>>;

/// Hubs by resource, created on first use.
pub struct WatchCache {
    backend: Arc<dyn store::Backend>,
    hubs: Hubs,
}

impl WatchCache {
    pub fn new(backend: Arc<dyn store::Backend>) -> WatchCache {
        WatchCache { backend, hubs: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// Starts the hubs of every served resource now, so that watches starting after this
    /// point are served from the window.
    pub async fn start_all(&self) -> Result<(), store::StoreError> {
        for info in api::resources::all() {
            self.hub(info).await?;
        }
        Ok(())
    }

    /// Every change of `info`'s resource under `prefix` after `after`, in revision order.
    pub async fn watch(
        &self,
        info: &'static ResourceInfo,
        prefix: &str,
        after: Revision,
    ) -> Result<ChangeStream, store::StoreError> {
        let hub = self.hub(info).await?;
        let joined = {
            let window = hub.state.lock().expect("watch window lock");
            if after < window.complete_after {
                None
            } else {
                let backlog: Vec<Arc<Change>> = window.recent.iter().filter(|c| c.revision > after).cloned().collect();
                Some((backlog, hub.sender.subscribe()))
            }
        };
        let prefix = prefix.to_string();
        match joined {
            Some((backlog, receiver)) => {
                let live = tokio_stream::wrappers::BroadcastStream::new(receiver)
                    .map(|item| item.map_err(|_| store::StoreError::WatchLagged));
                let stream = futures::stream::iter(backlog.into_iter().map(Ok)).chain(live).filter(move |item| {
                    let keep = match item {
                        Ok(change) => change.revision > after && change.key().starts_with(prefix.as_str()),
                        Err(_) => true,
                    };
                    std::future::ready(keep)
                });
                Ok(stream.boxed())
            }
            None => {
                let stream = self.backend.watch(&prefix, after).await?;
                Ok(stream
                    .filter_map(move |item| {
                        std::future::ready(match item {
                            Ok(event) => Some(Ok(Arc::new(Change::new(info, &event)))),
                            Err(error) => Some(Err(error)),
                        })
                    })
                    .boxed())
            }
        }
    }

    async fn hub(&self, info: &'static ResourceInfo) -> Result<Arc<Hub>, store::StoreError> {
        let id = (info.group, info.plural);
        if let Some(hub) = self.hubs.lock().expect("hubs lock").get(&id) {
            return Ok(hub.clone());
        }
        let start = self.backend.current_revision().await?;
        let stream = self.backend.watch(&info.key_prefix(), start).await?;
        let mut hubs = self.hubs.lock().expect("hubs lock");
        if let Some(hub) = hubs.get(&id) {
            // Another request started it meanwhile; this store watch is dropped.
            return Ok(hub.clone());
        }
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        let hub = Arc::new(Hub {
            info,
            sender,
            state: Mutex::new(Window { recent: VecDeque::new(), complete_after: start }),
        });
        hubs.insert(id, hub.clone());
        tokio::spawn(feed(hub.clone(), stream, self.hubs.clone()));
        Ok(hub)
    }
}

async fn feed(hub: Arc<Hub>, mut stream: store::WatchStream, hubs: Hubs) {
    while let Some(item) = stream.next().await {
        let Ok(event) = item else { break };
        let change = Arc::new(Change::new(hub.info, &event));
        let mut window = hub.state.lock().expect("watch window lock");
        if window.recent.len() == WINDOW
            && let Some(evicted) = window.recent.pop_front()
        {
            window.complete_after = evicted.revision;
        }
        window.recent.push_back(change.clone());
        // Sent under the window lock, so a joining watch sees each change exactly once:
        // either in the backlog it copies or on the channel it subscribes to.
        let _ = hub.sender.send(change);
    }
    // The store watch ended (the hub lagged, or shutdown). Forget the hub: when this task's
    // reference goes, its sender goes, subscribers' streams end and their clients re-watch,
    // which starts a fresh hub.
    tracing::warn!(resource = hub.info.plural, "watch cache feed ended; restarting it on the next watch");
    let mut hubs = hubs.lock().expect("hubs lock");
    if hubs.get(&(hub.info.group, hub.info.plural)).is_some_and(|current| Arc::ptr_eq(current, &hub)) {
        hubs.remove(&(hub.info.group, hub.info.plural));
    }
}
