//! Response shapes chosen by the `Accept` header: plain JSON objects and lists, server-side
//! printed `Table`s (what `kubectl get` shows), and `PartialObjectMetadata`.

use api::ResourceInfo;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};

/// What the row's `object` carries in a Table (`?includeObject=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Json,
    /// `application/json;as=Table;v=v1;g=meta.k8s.io` (or `v1beta1`).
    Table {
        version: &'static str,
        include: IncludeObject,
    },
    /// `as=PartialObjectMetadata` / `as=PartialObjectMetadataList`.
    PartialMetadata {
        version: &'static str,
    },
}

/// Picks the first acceptable media type in `Accept` order, as kube-apiserver does.
pub fn negotiate(accept: Option<&str>, include_object: Option<&str>) -> ApiResult<Output> {
    let include = match include_object {
        None | Some("") | Some("Metadata") => IncludeObject::Metadata,
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        Some(other) => return Err(ApiError::bad_request(format!("unsupported includeObject value {other:?}"))),
    };
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Ok(Output::Json) };
    for media_type in accept.split(',') {
        let mut parts = media_type.split(';').map(str::trim);
        let base = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<&str> = parts.collect();
        let param = |name: &str| params.iter().find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('=')));
        let version = match param("v") {
            Some("v1") => "v1",
            Some("v1beta1") => "v1beta1",
            _ => "v1",
        };
        match (base.as_str(), param("as"), param("g")) {
            ("application/json", Some("Table"), Some("meta.k8s.io")) => {
                return Ok(Output::Table { version, include });
            }
            ("application/json", Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                return Ok(Output::PartialMetadata { version });
            }
            ("application/json" | "application/*" | "*/*", None, _) => return Ok(Output::Json),
            _ => {}
        }
    }
    Err(ApiError::not_acceptable(accept))
}

pub fn partial_object_metadata(object: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A Table of `objects` (one row each) with list metadata (`resourceVersion`, `continue`).
pub fn table(
    info: &ResourceInfo,
    objects: &[Value],
    list_metadata: Value,
    version: &str,
    include: IncludeObject,
    with_columns: bool,
    now: jiff::Timestamp,
) -> Value {
    let rows: Vec<Value> = objects.iter().map(|object| table_row(info, object, version, include, now)).collect();
    let columns = if with_columns { api::table::column_definitions(info) } else { Vec::new() };
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": list_metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// Builds a list response in the negotiated shape one item at a time: items are serialized
/// as they come, and the list metadata (known only at the end) is added by `finish`.
pub struct ListWriter {
    info: &'static ResourceInfo,
    output: Output,
    now: jiff::Timestamp,
    items: Vec<u8>,
    count: usize,
}

impl ListWriter {
    pub fn new(info: &'static ResourceInfo, output: Output, now: jiff::Timestamp) -> ListWriter {
        ListWriter { info, output, now, items: Vec::new(), count: 0 }
    }

    pub fn push(&mut self, object: &Value) {
        let item = match self.output {
            Output::Json => None,
            Output::Table { version, include } => Some(table_row(self.info, object, version, include, self.now)),
            Output::PartialMetadata { version } => Some(partial_object_metadata(object, version)),
        };
        if self.count > 0 {
            self.items.push(b',');
        }
        self.count += 1;
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.items, item.as_ref().unwrap_or(object));
    }

    /// An item from its stored JSON, for plain JSON lists of kinds stored as served: the
    /// bytes as they are, with `metadata.resourceVersion` spliced in.
    pub fn push_stored(&mut self, stored: &[u8], revision: store::Revision) -> ApiResult<()> {
        if self.count > 0 {
            self.items.push(b',');
        }
        self.count += 1;
        crate::objects::write_served_json(&mut self.items, stored, revision)
    }

    pub fn finish(self, list_metadata: Value) -> Vec<u8> {
        let (head, items_field) = match self.output {
            Output::Json => (
                json!({"kind": self.info.list_kind(), "apiVersion": self.info.api_version(), "metadata": list_metadata}),
                "items",
            ),
            Output::Table { version, .. } => (
                json!({
                    "kind": "Table",
                    "apiVersion": format!("meta.k8s.io/{version}"),
                    "metadata": list_metadata,
                    "columnDefinitions": api::table::column_definitions(self.info),
                }),
                "rows",
            ),
            Output::PartialMetadata { version } => (
                json!({"kind": "PartialObjectMetadataList", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": list_metadata}),
                "items",
            ),
        };
        let mut body = api::codec::to_json_bytes(&head);
        // Replace the closing brace of the head with the items field.
        body.pop();
        body.extend_from_slice(format!(",\"{items_field}\":[").as_bytes());
        body.extend_from_slice(&self.items);
        body.extend_from_slice(b"]}");
        body
    }
}

fn table_row(
    info: &ResourceInfo,
    object: &Value,
    version: &str,
    include: IncludeObject,
    now: jiff::Timestamp,
) -> Value {
    let mut row = json!({"cells": api::table::row_cells(info, object, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_object_metadata(object, version),
        IncludeObject::Object => row["object"] = object.clone(),
    }
    if let Some(conditions) = api::table::row_conditions(info, object) {
        row["conditions"] = conditions;
    }
    row
}

/// A list response in the negotiated shape.
pub fn list(
    info: &ResourceInfo,
    items: Vec<Value>,
    list_metadata: Value,
    output: Output,
    now: jiff::Timestamp,
) -> Value {
    match output {
        Output::Json => json!({
            "kind": info.list_kind(),
            "apiVersion": info.api_version(),
            "metadata": list_metadata,
            "items": items,
        }),
        Output::Table { version, include } => table(info, &items, list_metadata, version, include, true, now),
        Output::PartialMetadata { version } => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": format!("meta.k8s.io/{version}"),
            "metadata": list_metadata,
            "items": items.iter().map(|o| partial_object_metadata(o, version)).collect::<Vec<_>>(),
        }),
    }
}

/// A single object in the negotiated shape.
pub fn object(info: &ResourceInfo, object: Value, output: Output, now: jiff::Timestamp) -> Value {
    match output {
        Output::Json => object,
        Output::Table { version, include } => {
            let resource_version = object.get("metadata").and_then(|m| m.get("resourceVersion")).cloned();
            let mut metadata = json!({});
            if let Some(rv) = resource_version {
                metadata["resourceVersion"] = rv;
            }
            table(info, std::slice::from_ref(&object), metadata, version, include, true, now)
        }
        Output::PartialMetadata { version } => partial_object_metadata(&object, version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_accept_is_a_table() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            negotiate(Some(accept), None).unwrap(),
            Output::Table { version: "v1", include: IncludeObject::Metadata }
        );
        assert_eq!(negotiate(Some("application/json, */*"), None).unwrap(), Output::Json);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf,application/json"), None).unwrap(),
            Output::Json
        );
        assert_eq!(negotiate(None, Some("Object")).unwrap(), Output::Json);
        assert!(negotiate(Some("application/vnd.kubernetes.protobuf"), None).is_err());
        assert!(negotiate(Some("text/html"), None).is_err());
    }
}
