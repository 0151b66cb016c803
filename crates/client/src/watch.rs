//! Decoding a watch response: newline-delimited JSON `{"type": ..., "object": ...}` events
//! into [`WatchEvent`]s.
//!
//! Owns framing and event decoding only; resuming, relisting and backoff are the
//! [`watcher`](crate::watcher)'s job.

use std::collections::BTreeMap;

use bytes::{Buf, Bytes, BytesMut};
use futures::stream::{BoxStream, Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Error, Result, Status};
use crate::resource::Object;

/// A single event line larger than this is refused rather than buffered without bound
/// (objects are limited to about 1.5 MiB by the server).
const MAX_LINE: usize = 64 * 1024 * 1024;

/// One event of a watch stream.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent<K> {
    Added(K),
    Modified(K),
    /// The object's last state.
    Deleted(K),
    /// Nothing changed, but the collection is now at this version.
    Bookmark(Bookmark),
    /// The watch cannot go on; 410 means the requested version was compacted.
    Error(Status),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bookmark {
    pub resource_version: String,
    pub annotations: BTreeMap<String, String>,
}

/// An event line as sent, with the object left as raw JSON so it is decoded once, straight
/// into its type.
#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(rename = "type", borrow)]
    event_type: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    object: Option<&'a RawValue>,
}

impl<K: Object> WatchEvent<K> {
    pub fn decode(line: &[u8], type_meta: (&str, &str)) -> Result<Self> {
        let raw: RawEvent<'_> = serde_json::from_slice(line)?;
        let json = raw.object.map_or("null", RawValue::get);
        let object = || -> Result<K> {
            let mut object: K = serde_json::from_str(json)?;
            object.fill_type_meta(type_meta.0, type_meta.1);
            Ok(object)
        };
        Ok(match raw.event_type.as_ref() {
            "ADDED" => WatchEvent::Added(object()?),
            "MODIFIED" => WatchEvent::Modified(object()?),
            "DELETED" => WatchEvent::Deleted(object()?),
            "BOOKMARK" => {
                let value: Value = serde_json::from_str(json)?;
                let metadata = value.get("metadata");
                let resource_version = metadata
                    .and_then(|m| m.get("resourceVersion"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::WatchEvent("BOOKMARK without metadata.resourceVersion".into()))?
                    .to_string();
                let annotations = metadata
                    .and_then(|m| m.get("annotations"))
                    .and_then(|a| serde_json::from_value(a.clone()).ok())
                    .unwrap_or_default();
                WatchEvent::Bookmark(Bookmark { resource_version, annotations })
            }
            "ERROR" => WatchEvent::Error(serde_json::from_str(json)?),
            other => return Err(Error::WatchEvent(format!("unknown event type {other:?}"))),
        })
    }
}

pub(crate) fn decode_stream<K, S>(chunks: S, type_meta: (String, String)) -> BoxStream<'static, Result<WatchEvent<K>>>
where
    K: Object,
    S: Stream<Item = std::result::Result<Bytes, hyper::Error>> + Send + 'static,
{
    struct State<S> {
        chunks: std::pin::Pin<Box<S>>,
        buffer: BytesMut,
        finished: bool,
        type_meta: (String, String),
    }
    let state = State { chunks: Box::pin(chunks), buffer: BytesMut::new(), finished: false, type_meta };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if state.finished && state.buffer.is_empty() {
                return None;
            }
            if let Some(end) = state.buffer.iter().position(|&b| b == b'\n') {
                let line = state.buffer.split_to(end);
                state.buffer.advance(1);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let event = WatchEvent::decode(&line, (&state.type_meta.0, &state.type_meta.1));
                if event.is_err() {
                    state.finished = true;
                    state.buffer.clear();
                }
                return Some((event, state));
            }
            if state.finished {
                // The last event may lack its newline.
                let line = std::mem::take(&mut state.buffer);
                if line.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                return Some((WatchEvent::decode(&line, (&state.type_meta.0, &state.type_meta.1)), state));
            }
            if state.buffer.len() > MAX_LINE {
                state.finished = true;
                state.buffer.clear();
                return Some((Err(Error::WatchEvent(format!("event larger than {MAX_LINE} bytes"))), state));
            }
            match state.chunks.next().await {
                Some(Ok(chunk)) => state.buffer.extend_from_slice(&chunk),
                Some(Err(error)) => {
                    state.finished = true;
                    state.buffer.clear();
                    return Some((Err(Error::Body(error)), state));
                }
                None => state.finished = true,
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn meta() -> (String, String) {
        ("v1".into(), "ConfigMap".into())
    }

    async fn decode_all(chunks: Vec<&'static [u8]>) -> Vec<Result<WatchEvent<ConfigMap>>> {
        let stream = futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c))));
        decode_stream(stream, meta()).collect().await
    }

    #[tokio::test]
    async fn events_split_across_chunks() {
        let events = decode_all(vec![
            b"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"2\"}}}\n{\"type\":\"MOD",
            b"IFIED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n\n{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}\n",
            b"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\",\"message\":\"too old\"}}",
        ])
        .await;
        assert_eq!(events.len(), 4, "{events:?}");
        assert!(
            matches!(&events[0], Ok(WatchEvent::Added(cm)) if cm.metadata.resource_version.as_deref() == Some("2"))
        );
        assert!(matches!(&events[1], Ok(WatchEvent::Modified(_))));
        match &events[2] {
            Ok(WatchEvent::Bookmark(b)) => {
                assert_eq!(b.resource_version, "9");
                assert_eq!(b.annotations.get("k8s.io/initial-events-end").map(String::as_str), Some("true"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&events[3], Ok(WatchEvent::Error(s)) if s.code == 410 && s.reason == "Expired"));
    }

    #[tokio::test]
    async fn garbage_ends_the_stream_with_an_error() {
        let events =
            decode_all(vec![b"{\"type\":\"ADDED\",\"object\":{}}\nnot json\n{\"type\":\"ADDED\",\"object\":{}}\n"])
                .await;
        assert_eq!(events.len(), 2);
        assert!(events[0].is_ok());
        assert!(matches!(events[1], Err(Error::Json(_))));
        let unknown = decode_all(vec![b"{\"type\":\"SOMETHING\",\"object\":{}}\n"]).await;
        assert!(matches!(unknown[0], Err(Error::WatchEvent(_))));
        let wrong_kind =
            decode_all(vec![b"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}}\n"]).await;
        assert!(wrong_kind[0].is_err());
    }

    #[test]
    fn untyped_objects_get_type_meta() {
        let event = WatchEvent::<Value>::decode(
            br#"{"type":"DELETED","object":{"metadata":{"name":"x"}}}"#,
            ("v1", "ConfigMap"),
        );
        match event {
            Ok(WatchEvent::Deleted(object)) => assert_eq!(object["kind"], "ConfigMap"),
            other => panic!("{other:?}"),
        }
    }
}
