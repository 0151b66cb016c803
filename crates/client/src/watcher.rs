//! `watcher`: an endless stream of changes to a collection, built from list + watch the way
//! client-go's reflector and kube-rs' watcher do it.
//!
//! It lists (in pages), then watches from the list's resourceVersion; when a watch ends it
//! resumes from the last version seen (events and bookmarks), and when the server no longer
//! has that version (410 Gone, as an HTTP answer or an `ERROR` event, or "too large resource
//! version" after a restart on a fresh store) it lists again, announcing the relist with
//! `Init` ... `InitDone` so caches can swap their contents. Errors are yielded (for logging)
//! and followed by a backoff; the stream itself never ends.
//!
//! It holds no cache: that is the [`reflector`](crate::reflector).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures::stream::{BoxStream, Stream, StreamExt};

use crate::api::Api;
use crate::error::{Error, Result};
use crate::params::{ListParams, WatchParams};
use crate::resource::Object;
use crate::watch::WatchEvent;

/// A watch that ends sooner than this after it opened counts as a failure for backoff.
const QUICK_END: Duration = Duration::from_secs(1);

/// A change, as kube-rs' `watcher::Event`.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<K> {
    /// The object was created or changed.
    Apply(K),
    /// The object was deleted (its last state).
    Delete(K),
    /// A (re)list starts: the objects until `InitDone` are the complete collection.
    Init,
    /// An object of the (re)list.
    InitApply(K),
    /// The (re)list is complete; objects not seen since `Init` are gone.
    InitDone,
}

/// How the watcher lists, watches and backs off.
#[derive(Clone, Debug)]
pub struct Config {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// List page size (client-go uses 500).
    pub page_size: Option<u32>,
    /// Each watch asks the server to end it after this long (then it resumes), so a
    /// silently broken connection cannot stall the watcher forever.
    pub watch_timeout: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            label_selector: None,
            field_selector: None,
            page_size: Some(500),
            watch_timeout: 290,
            initial_backoff: Duration::from_millis(800),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl Config {
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }
}

/// Exponential backoff with jitter, reset by any success.
#[derive(Debug)]
struct Backoff {
    initial: Duration,
    max: Duration,
    next: Option<Duration>,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max, next: None }
    }

    /// The delay before the next attempt after a failure.
    fn failed(&mut self) -> Duration {
        let delay = self.next.unwrap_or(self.initial).min(self.max);
        self.next = Some((delay * 2).min(self.max));
        // Up to 25% jitter so that many watchers do not retry in lockstep.
        let jitter = delay.mul_f64(rand::random::<f64>() * 0.25);
        delay + jitter
    }

    fn reset(&mut self) {
        self.next = None;
    }
}

enum Phase<K> {
    /// Listing; `continue_token` is set between pages.
    Listing {
        continue_token: Option<String>,
    },
    /// About to open a watch from this version.
    Resuming {
        resource_version: String,
    },
    Watching {
        resource_version: String,
        stream: BoxStream<'static, Result<WatchEvent<K>>>,
        opened: Instant,
    },
}

struct Watcher<K> {
    api: Api<K>,
    config: Config,
    phase: Phase<K>,
    pending: VecDeque<Event<K>>,
    delay: Option<Duration>,
    backoff: Backoff,
}

/// The change stream of `api`'s collection. Keep polling after an `Err`: the watcher
/// recovers by itself.
pub fn watcher<K: Object>(api: Api<K>, config: Config) -> impl Stream<Item = Result<Event<K>>> + Send + 'static {
    let backoff = Backoff::new(config.initial_backoff, config.max_backoff);
    let state = Watcher {
        api,
        config,
        phase: Phase::Listing { continue_token: None },
        pending: VecDeque::new(),
        delay: None,
        backoff,
    };
    futures::stream::unfold(state, |mut state| async move {
        let item = state.next().await;
        Some((item, state))
    })
}

impl<K: Object> Watcher<K> {
    async fn next(&mut self) -> Result<Event<K>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            if let Some(delay) = self.delay.take() {
                tokio::time::sleep(delay).await;
            }
            match &mut self.phase {
                Phase::Listing { continue_token } => {
                    let first_page = continue_token.is_none();
                    let params = ListParams {
                        label_selector: self.config.label_selector.clone(),
                        field_selector: self.config.field_selector.clone(),
                        limit: self.config.page_size,
                        continue_token: continue_token.clone(),
                        ..ListParams::default()
                    };
                    let list = match self.api.list(&params).await {
                        Ok(list) => list,
                        Err(error) => {
                            // A failed page (or an expired continue token) restarts the list.
                            self.phase = Phase::Listing { continue_token: None };
                            return Err(self.fail(error));
                        }
                    };
                    self.backoff.reset();
                    if first_page {
                        self.pending.push_back(Event::Init);
                    }
                    self.pending.extend(list.items.into_iter().map(Event::InitApply));
                    match list.metadata.continue_token.filter(|t| !t.is_empty()) {
                        Some(token) => self.phase = Phase::Listing { continue_token: Some(token) },
                        None => {
                            self.pending.push_back(Event::InitDone);
                            let resource_version = list.metadata.resource_version.unwrap_or_default();
                            self.phase = Phase::Resuming { resource_version };
                        }
                    }
                }
                Phase::Resuming { resource_version } => {
                    let resource_version = std::mem::take(resource_version);
                    let params = WatchParams {
                        // An empty version would make the server replay the collection as
                        // ADDED events; relisting is the correct way to get a version.
                        resource_version: Some(resource_version.clone()).filter(|v| !v.is_empty()),
                        label_selector: self.config.label_selector.clone(),
                        field_selector: self.config.field_selector.clone(),
                        timeout: Some(self.config.watch_timeout),
                        bookmarks: true,
                    };
                    if params.resource_version.is_none() {
                        self.phase = Phase::Listing { continue_token: None };
                        continue;
                    }
                    match self.api.watch(&params).await {
                        Ok(stream) => self.phase = Phase::Watching { resource_version, stream, opened: Instant::now() },
                        Err(error) if needs_relist(&error) => {
                            tracing::debug!(%error, "watch version unavailable, relisting");
                            self.phase = Phase::Listing { continue_token: None };
                        }
                        Err(error) => {
                            self.phase = Phase::Resuming { resource_version };
                            return Err(self.fail(error));
                        }
                    }
                }
                Phase::Watching { resource_version, stream, opened } => match stream.next().await {
                    Some(Ok(WatchEvent::Added(object) | WatchEvent::Modified(object))) => {
                        self.backoff.reset();
                        if let Some(version) = object.resource_version() {
                            *resource_version = version.to_string();
                        }
                        return Ok(Event::Apply(object));
                    }
                    Some(Ok(WatchEvent::Deleted(object))) => {
                        self.backoff.reset();
                        if let Some(version) = object.resource_version() {
                            *resource_version = version.to_string();
                        }
                        return Ok(Event::Delete(object));
                    }
                    Some(Ok(WatchEvent::Bookmark(bookmark))) => {
                        self.backoff.reset();
                        *resource_version = bookmark.resource_version;
                    }
                    Some(Ok(WatchEvent::Error(status))) => {
                        let error = Error::from(status);
                        if needs_relist(&error) {
                            tracing::debug!(%error, "watch expired, relisting");
                            self.phase = Phase::Listing { continue_token: None };
                        } else {
                            let resource_version = std::mem::take(resource_version);
                            self.phase = Phase::Resuming { resource_version };
                            return Err(self.fail(error));
                        }
                    }
                    Some(Err(error)) => {
                        let resource_version = std::mem::take(resource_version);
                        self.phase = Phase::Resuming { resource_version };
                        return Err(self.fail(error));
                    }
                    None => {
                        // The server ended the watch (its timeout): resume where we are. A
                        // server that keeps ending watches at once gets backoff, not a spin.
                        if opened.elapsed() < QUICK_END {
                            self.delay = Some(self.backoff.failed());
                        }
                        let resource_version = std::mem::take(resource_version);
                        self.phase = Phase::Resuming { resource_version };
                    }
                },
            }
        }
    }

    /// Schedules the backoff before the next attempt and hands the error back.
    fn fail(&mut self, error: Error) -> Error {
        self.delay = Some(self.backoff.failed());
        error
    }
}

fn needs_relist(error: &Error) -> bool {
    error.is_gone() || error.is_resource_version_too_large()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let first = backoff.failed();
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(125), "{first:?}");
        let second = backoff.failed();
        assert!(second >= Duration::from_millis(200) && second <= Duration::from_millis(250), "{second:?}");
        let third = backoff.failed();
        assert!(third >= Duration::from_millis(350) && third <= Duration::from_micros(437_500), "{third:?}");
        backoff.reset();
        assert!(backoff.failed() <= Duration::from_millis(125));
    }
}
