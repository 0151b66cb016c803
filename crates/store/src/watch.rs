//! The watch stream both backends hand out: replayed history first, then the live broadcast of
//! committed events, without gaps or duplicates.
//!
//! This module only stitches streams together; it never reads storage itself. The backend
//! subscribes to its broadcast *before* it snapshots history, so every event newer than the
//! snapshot is guaranteed to be in the broadcast; events up to the snapshot revision may be in
//! both and are skipped here.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use tokio::sync::broadcast;

use crate::{Event, Revision, StoreError, WatchStream};

/// Replayed history, already filtered by prefix and in revision order.
pub type HistoryStream = BoxStream<'static, Result<Event, StoreError>>;

/// Default number of committed events a watcher may fall behind before it gets `WatchLagged`.
pub const DEFAULT_WATCH_BUFFER: usize = 8192;

/// Chains `history` (events up to and including `snapshot`, already filtered by prefix) with the
/// live events from `live` that are newer than `snapshot` and under `prefix`.
///
/// The stream ends with `WatchLagged` when the receiver lost events, and with `Closed` when the
/// backend shut down: either way the caller re-watches from the last revision it saw.
pub fn stitch(
    history: HistoryStream,
    live: broadcast::Receiver<Arc<Event>>,
    prefix: String,
    snapshot: Revision,
) -> WatchStream {
    enum State {
        History(HistoryStream, broadcast::Receiver<Arc<Event>>),
        Live(broadcast::Receiver<Arc<Event>>),
        Done,
    }

    let state = State::History(history, live);
    stream::unfold((state, prefix), move |(state, prefix)| async move {
        let mut live = match state {
            State::Done => return None,
            State::History(mut history, live) => match history.next().await {
                Some(Ok(event)) => return Some((Ok(event), (State::History(history, live), prefix))),
                Some(Err(err)) => return Some((Err(err), (State::Done, prefix))),
                None => live,
            },
            State::Live(live) => live,
        };
        loop {
            match live.recv().await {
                Ok(event) => {
                    if event.revision() <= snapshot || !event.kv.key.starts_with(prefix.as_str()) {
                        continue;
                    }
                    let event = Event::clone(&event);
                    return Some((Ok(event), (State::Live(live), prefix)));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some((Err(StoreError::WatchLagged), (State::Done, prefix)));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return Some((Err(StoreError::Closed), (State::Done, prefix)));
                }
            }
        }
    })
    .boxed()
}

/// The smallest byte string greater than every key starting with `prefix`.
///
/// Keys are UTF-8, whose bytes never reach 0xFF, so a single 0xFF bounds the whole keyspace and
/// incrementing the last byte of a non-empty prefix can never overflow.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    match end.last_mut() {
        Some(last) if *last < 0xFF => *last += 1,
        _ => end.push(0xFF),
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_every_key_under_the_prefix() {
        assert_eq!(prefix_end(""), vec![0xFF]);
        assert_eq!(prefix_end("/registry/pods/"), b"/registry/pods0".to_vec());
        let end = prefix_end("/a/é");
        assert!("/a/éz".as_bytes() < end.as_slice());
        assert!("/a/ê".as_bytes() >= end.as_slice());
    }
}
