//! `watch`: a stream of newline-delimited JSON events (`ADDED`, `MODIFIED`, `DELETED`,
//! `BOOKMARK`, `ERROR`), filtered by selectors, optionally as one-row Tables.
//!
//! Semantics as kube-apiserver: without a resourceVersion (or with "0") the stream starts with
//! synthetic ADDED events for the current objects; with one, it replays every change after it,
//! or sends a 410 ERROR event when that history was compacted. An object that stops matching
//! the selectors is sent as DELETED, one that starts matching as ADDED.

use std::convert::Infallible;
use std::time::Duration;

use api::ResourceInfo;
use axum::body::Body;
use axum::response::Response;
use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use store::{EventType, Revision, StoreError};
use tokio::sync::mpsc;

use super::ResourceRequest;
use super::list::{Selectors, list_matching};
use crate::error::{ApiError, ApiResult};
use crate::output::{self, Output};
use crate::watch_cache::Change;

/// How often an idle watch with `allowWatchBookmarks` gets a BOOKMARK (kube-apiserver sends
/// them about once a minute); bookmarks also reveal dead clients.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);
/// Without `timeoutSeconds`, watches end after this long and clients re-watch, as with
/// kube-apiserver's `--min-request-timeout` (1800 s, randomized up to twice that).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const CHANNEL_CAPACITY: usize = 256;

pub async fn watch(request: ResourceRequest) -> ApiResult<Response> {
    let info = request.target.info;
    let selectors = Selectors::parse(&request)?;
    let output = request.output()?;
    let server = request.server.clone();
    let requested: Option<Revision> = match request.query.resource_version.as_deref() {
        None | Some("0") => None,
        Some(text) => {
            Some(text.parse().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {text:?}")))?)
        }
    };
    if let Some(revision) = requested {
        crate::write::wait_for_revision(&server, revision).await?;
    }
    let send_initial_events = request.query.send_initial_events || requested.is_none();
    let (initial, start) = if send_initial_events {
        list_matching(&server, info, request.namespace(), &selectors, 0).await?
    } else {
        (Vec::new(), requested.unwrap_or(0))
    };
    let prefix = crate::objects::prefix(info, request.namespace());
    let (sender, receiver) = mpsc::channel::<bytes::Bytes>(CHANNEL_CAPACITY);
    let stream = match server.watch_cache.watch(info, &prefix, start).await {
        Ok(stream) => Some(stream),
        Err(StoreError::Compacted { requested, compacted }) => {
            let status = ApiError::gone(format!("too old resource version: {requested} ({compacted})")).to_status();
            let _ = sender.try_send(event_line("ERROR", status));
            None
        }
        Err(other) => return Err(other.into()),
    };
    if let Some(stream) = stream {
        let timeout = request.query.timeout_seconds.map(Duration::from_secs).unwrap_or(DEFAULT_TIMEOUT);
        let watch = Watch {
            info,
            selectors,
            output,
            bookmarks: request.query.allow_watch_bookmarks,
            initial_events_end: request.query.send_initial_events,
            columns_sent: false,
        };
        let guard = server.metrics.watch_started(info.plural);
        tokio::spawn(async move {
            let _guard = guard;
            watch.run(initial, start, stream, sender, timeout).await;
        });
    }
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver).map(Ok::<_, Infallible>));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    Ok(response)
}

struct Watch {
    info: &'static ResourceInfo,
    selectors: Selectors,
    output: Output,
    bookmarks: bool,
    initial_events_end: bool,
    columns_sent: bool,
}

impl Watch {
    async fn run(
        mut self,
        initial: Vec<Value>,
        start: Revision,
        mut stream: crate::watch_cache::ChangeStream,
        sender: mpsc::Sender<bytes::Bytes>,
        timeout: Duration,
    ) {
        for object in initial {
            let line = self.event("ADDED", object);
            if sender.send(line).await.is_err() {
                return;
            }
        }
        let mut last_revision = start;
        if self.initial_events_end && self.bookmarks {
            let line = self.bookmark(last_revision, true);
            if sender.send(line).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_INTERVAL, BOOKMARK_INTERVAL);
        loop {
            let line = tokio::select! {
                _ = sender.closed() => return,
                _ = &mut deadline => return,
                _ = ticker.tick(), if self.bookmarks => self.bookmark(last_revision, false),
                next = stream.next() => match next {
                    Some(Ok(change)) => {
                        last_revision = change.revision;
                        match self.translate(&change) {
                            Some(line) => line,
                            None => continue,
                        }
                    }
                    // The store cannot continue this watch (lagging watcher, shutdown): end the
                    // stream; clients re-watch from the last resourceVersion they saw.
                    Some(Err(_)) | None => return,
                },
            };
            if sender.send(line).await.is_err() {
                return;
            }
        }
    }

    /// The event to send for a change, if the selectors let anything through.
    fn translate(&mut self, change: &Change) -> Option<bytes::Bytes> {
        // Without selectors nothing needs decoding to decide.
        let (matches_now, matched_before) = if self.selectors.is_everything() {
            (true, change.has_previous())
        } else {
            (
                self.selectors.matches(self.info, change.selectable()),
                change.previous_selectable().is_some_and(|p| self.selectors.matches(self.info, p)),
            )
        };
        let event_type = match (change.event_type, matched_before, matches_now) {
            (EventType::Delete, _, true) => "DELETED",
            (EventType::Delete, _, false) => return None,
            (EventType::Put, false, true) => "ADDED",
            (EventType::Put, true, true) => "MODIFIED",
            (EventType::Put, true, false) => {
                // Left the selection: clients see it deleted, with its new state.
                "DELETED"
            }
            (EventType::Put, false, false) => return None,
        };
        if self.output == Output::Json {
            // The common case: the object's JSON is shared by every watcher.
            let object = change.object_json();
            let mut line = Vec::with_capacity(object.len() + 40);
            line.extend_from_slice(b"{\"type\":\"");
            line.extend_from_slice(event_type.as_bytes());
            line.extend_from_slice(b"\",\"object\":");
            line.extend_from_slice(object);
            line.extend_from_slice(b"}\n");
            return Some(bytes::Bytes::from(line));
        }
        if let Output::PartialMetadata { version } = self.output {
            // Metadata watchers (garbage collectors) need no copy of the whole object.
            return Some(event_line(event_type, output::partial_object_metadata(change.selectable(), version)));
        }
        Some(self.event(event_type, change.object().clone()))
    }

    fn event(&mut self, event_type: &str, object: Value) -> bytes::Bytes {
        let shaped = match self.output {
            Output::Table { version, include } => {
                let metadata = json!({"resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null)});
                let with_columns = !self.columns_sent;
                self.columns_sent = true;
                // Ages in watch rows are computed when the event is sent.
                output::table(
                    self.info,
                    std::slice::from_ref(&object),
                    metadata,
                    version,
                    include,
                    with_columns,
                    jiff::Timestamp::now(),
                )
            }
            other => output::object(self.info, object, other, jiff::Timestamp::now()),
        };
        event_line(event_type, shaped)
    }

    fn bookmark(&self, revision: Revision, initial_events_end: bool) -> bytes::Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        event_line(
            "BOOKMARK",
            json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": metadata}),
        )
    }
}

fn event_line(event_type: &str, object: Value) -> bytes::Bytes {
    let mut line = api::codec::to_json_bytes(&json!({"type": event_type, "object": object}));
    line.push(b'\n');
    bytes::Bytes::from(line)
}
