//! The request bodies the benchmark sends, shaped like what kubectl sends (see
//! `shared/research/kubectl-wire.md` §2.1), and the few response fields it reads.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

/// The pod `kubectl run <name> --image=nginx` posts: a label `run=<name>`, one container,
/// `creationTimestamp: null`, empty `resources` and `status`.
pub fn pod(name: &str) -> Bytes {
    let body = json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "creationTimestamp": null, "labels": {"run": name}},
        "spec": {
            "containers": [{"name": name, "image": "nginx", "resources": {}}],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst"
        },
        "status": {}
    });
    Bytes::from(body.to_string())
}

/// What `kubectl create namespace <name>` posts.
pub fn namespace(name: &str) -> Bytes {
    Bytes::from(json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name}}).to_string())
}

/// The parts of a list response the benchmark checks. Items are skipped, not kept.
#[derive(Deserialize)]
pub struct ListHead {
    #[serde(default)]
    pub items: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    pub metadata: ListMeta,
}

#[derive(Default, Deserialize)]
pub struct ListMeta {
    #[serde(default, rename = "resourceVersion")]
    pub resource_version: String,
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
}

/// One line of a watch stream, reduced to its type and object name.
#[derive(Deserialize)]
pub struct WatchLine {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub object: WatchObject,
}

#[derive(Default, Deserialize)]
pub struct WatchObject {
    #[serde(default)]
    pub metadata: ObjectMeta,
}

#[derive(Default, Deserialize)]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
}

/// `prefix-000042` for index 42: fixed width keeps names sortable and the same length.
pub fn numbered(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index:06}")
}

/// The index back from a [`numbered`] name, `None` for any other name.
pub fn index_of(prefix: &str, name: &str) -> Option<usize> {
    name.strip_prefix(prefix)?.strip_prefix('-')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_body_is_what_kubectl_run_sends() {
        let value: serde_json::Value = serde_json::from_slice(&pod("web-1")).expect("json");
        assert_eq!(value["metadata"]["labels"]["run"], "web-1");
        assert_eq!(value["metadata"]["creationTimestamp"], serde_json::Value::Null);
        assert_eq!(value["spec"]["containers"][0]["image"], "nginx");
        assert_eq!(value["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn names_round_trip_and_foreign_names_are_rejected() {
        let name = numbered("watch", 42);
        assert_eq!(name, "watch-000042");
        assert_eq!(index_of("watch", &name), Some(42));
        assert_eq!(index_of("watch", "other-000042"), None);
        assert_eq!(index_of("watch", "watch-x"), None);
    }

    #[test]
    fn watch_lines_parse_including_bookmarks_without_names() {
        let line: WatchLine = serde_json::from_str(
            r#"{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"watch-000001","uid":"u"},"spec":{}}}"#,
        )
        .expect("event");
        assert_eq!((line.event_type.as_str(), line.object.metadata.name.as_str()), ("ADDED", "watch-000001"));
        let bookmark: WatchLine =
            serde_json::from_str(r#"{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"9"}}}"#)
                .expect("bookmark");
        assert_eq!(bookmark.object.metadata.name, "");
    }
}
