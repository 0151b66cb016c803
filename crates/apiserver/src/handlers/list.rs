//! `list`: a collection, filtered by label and field selectors, paginated with `limit` and
//! `continue`, read at the current or an exact revision.

use api::ResourceInfo;
use api::selector::{FieldSelector, LabelSelector};
use axum::response::Response;
use base64::Engine;
use http::StatusCode;
use serde_json::{Value, json};
use store::Revision;

use super::ResourceRequest;
use crate::ApiServer;
use crate::error::{ApiError, ApiResult};
use crate::{objects, output, write};

/// Store page size while filtering: selectors may skip most keys, so pages are read until
/// enough items match.
const SCAN_PAGE: usize = 500;

/// The label and field selectors of a request, parsed and checked against the resource.
pub struct Selectors {
    pub label: LabelSelector,
    pub field: FieldSelector,
}

impl Selectors {
    pub fn parse(request: &ResourceRequest) -> ApiResult<Selectors> {
        let label = match request.query.label_selector.as_deref() {
            Some(text) => LabelSelector::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))?,
            None => LabelSelector::everything(),
        };
        let field = match request.query.field_selector.as_deref() {
            Some(text) => FieldSelector::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))?,
            None => FieldSelector::everything(),
        };
        field.check_supported(request.target.info).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Selectors { label, field })
    }

    /// Whether these select every object.
    pub fn is_everything(&self) -> bool {
        self.label.is_empty() && self.field.is_empty()
    }

    pub fn matches(&self, info: &ResourceInfo, object: &Value) -> bool {
        self.label.matches_json(object.get("metadata").and_then(|m| m.get("labels")))
            && self.field.matches(info, object)
    }
}

/// Where a paginated list continues: the revision of its first page and the last key sent.
struct ContinueToken {
    revision: Revision,
    start_after: String,
}

fn encode_continue(revision: Revision, start_after: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": start_after});
    base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
}

fn decode_continue(token: &str) -> ApiResult<ContinueToken> {
    let invalid = || ApiError::bad_request("continue key is not valid: invalid continue token");
    let bytes = base64::engine::general_purpose::URL_SAFE.decode(token).map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let revision = value.get("rv").and_then(Value::as_i64).filter(|rv| *rv > 0).ok_or_else(invalid)?;
    let start_after = value.get("start").and_then(Value::as_str).ok_or_else(invalid)?.to_string();
    Ok(ContinueToken { revision, start_after })
}

pub async fn list(request: ResourceRequest) -> ApiResult<Response> {
    let info = request.target.info;
    let selectors = Selectors::parse(&request)?;
    let output = request.output()?;
    let prefix = objects::prefix(info, request.namespace());
    let (mut revision, mut start_after) = (0, String::new());
    if let Some(token) = &request.query.continue_token {
        let token = decode_continue(token)?;
        if !token.start_after.starts_with(&prefix) {
            return Err(ApiError::bad_request("continue key is not valid: the token does not belong to this list"));
        }
        revision = token.revision;
        start_after = token.start_after;
    } else {
        let requested = match request.query.resource_version.as_deref().map(str::parse::<Revision>) {
            None | Some(Ok(0)) => None,
            Some(Ok(rv)) if rv > 0 => Some(rv),
            Some(_) => return Err(ApiError::bad_request("invalid resourceVersion: must be a non-negative integer")),
        };
        match (request.query.resource_version_match.as_deref(), requested) {
            (Some("Exact"), None) => {
                return Err(ApiError::bad_request("resourceVersionMatch=Exact requires a non-zero resourceVersion"));
            }
            (Some("Exact"), Some(rv)) => revision = rv,
            // "Not older than": the current state, once the store has reached it.
            (_, Some(rv)) => write::wait_for_revision(&request.server, rv).await?,
            (_, None) => {}
        }
    }
    // Items are serialized as they are read, so a large list never holds every object
    // decoded at once. Plain JSON of everything needs no decoding at all: the stored bytes
    // go out with their resourceVersion spliced in.
    let mut writer = output::ListWriter::new(info, output, request.now);
    let verbatim = output == output::Output::Json && selectors.is_everything() && api::convert::stored_as_served(info);
    let limit = request.query.limit;
    let scanned = if verbatim {
        scan_each_stored(&request.server, prefix.as_str(), &start_after, revision, limit, |kv| {
            writer.push_stored(&kv.value, kv.mod_revision)?;
            Ok(true)
        })
        .await
    } else {
        scan_each(
            &request.server,
            info,
            &prefix,
            &start_after,
            revision,
            limit,
            |object| selectors.matches(info, object),
            |object| writer.push(&object),
        )
        .await
    };
    let page = scanned
    .map_err(|error| {
        if request.query.continue_token.is_some() && error.code == 410 {
            ApiError::gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
        } else {
            error
        }
    })?;
    let mut metadata = json!({"resourceVersion": page.revision.to_string()});
    if let Some(last_key) = page.continue_after {
        metadata["continue"] = json!(encode_continue(page.revision, &last_key));
        // As kube-apiserver: the count is exact only when nothing filters the keys.
        if selectors.is_everything() && page.remaining_keys > 0 {
            metadata["remainingItemCount"] = json!(page.remaining_keys);
        }
    }
    let body = writer.finish(metadata);
    Ok(crate::response::bytes_response(StatusCode::OK, "application/json", body))
}

pub struct Page {
    pub items: Vec<Value>,
    pub revision: Revision,
}

/// Where a scan ended: the revision read at, and the last key sent when more may follow,
/// with how many keys follow it (every key, whether or not it would pass the filter).
pub struct ScanEnd {
    pub revision: Revision,
    pub continue_after: Option<String>,
    pub remaining_keys: i64,
}

/// Reads keys under `prefix` after `start_after` at `revision` (0 = now) until `limit`
/// items (0 = all) pass `keep`.
pub async fn scan(
    server: &ApiServer,
    info: &ResourceInfo,
    prefix: &str,
    start_after: &str,
    revision: Revision,
    limit: usize,
    keep: impl Fn(&Value) -> bool,
) -> ApiResult<Page> {
    let mut items = Vec::new();
    let end = scan_each(server, info, prefix, start_after, revision, limit, keep, |object| items.push(object)).await?;
    Ok(Page { items, revision: end.revision })
}

/// As [`scan`], handing each kept object to `sink` instead of collecting them. Reads the
/// store page by page, all pages at the revision of the first.
#[allow(clippy::too_many_arguments)]
pub async fn scan_each(
    server: &ApiServer,
    info: &ResourceInfo,
    prefix: &str,
    start_after: &str,
    revision: Revision,
    limit: usize,
    keep: impl Fn(&Value) -> bool,
    mut sink: impl FnMut(Value),
) -> ApiResult<ScanEnd> {
    scan_each_stored(server, prefix, start_after, revision, limit, |kv| {
        let object = objects::from_kv(info, kv)?;
        if !keep(&object) {
            return Ok(false);
        }
        sink(object);
        Ok(true)
    })
    .await
}

/// The scan itself, over stored key-values: `visit` answers whether it kept one.
async fn scan_each_stored(
    server: &ApiServer,
    prefix: &str,
    start_after: &str,
    revision: Revision,
    limit: usize,
    mut visit: impl FnMut(&store::KeyValue) -> ApiResult<bool>,
) -> ApiResult<ScanEnd> {
    let mut kept = 0;
    let mut after = start_after.to_string();
    let mut at = revision;
    loop {
        let want = if limit == 0 { SCAN_PAGE } else { (limit - kept).max(SCAN_PAGE.min(limit * 2)) };
        let result = server.backend.list(prefix, &after, want, at).await?;
        at = result.revision;
        let mut last_key = None;
        for (index, kv) in result.kvs.iter().enumerate() {
            last_key = Some(kv.key.clone());
            if visit(kv)? {
                kept += 1;
                if limit > 0 && kept == limit {
                    let left_in_page = (result.kvs.len() - index - 1) as i64;
                    let more = result.more || left_in_page > 0;
                    return Ok(ScanEnd {
                        revision: at,
                        continue_after: more.then(|| kv.key.clone()),
                        remaining_keys: left_in_page + result.remaining,
                    });
                }
            }
        }
        match (result.more, last_key) {
            (true, Some(key)) => after = key,
            _ => return Ok(ScanEnd { revision: at, continue_after: None, remaining_keys: 0 }),
        }
    }
}

/// Every object matching the selectors, now, with the revision read at.
pub async fn list_matching(
    server: &ApiServer,
    info: &ResourceInfo,
    namespace: Option<&str>,
    selectors: &Selectors,
    revision: Revision,
) -> ApiResult<(Vec<Value>, Revision)> {
    let prefix = objects::prefix(info, namespace);
    let page = scan(server, info, &prefix, "", revision, 0, |object| selectors.matches(info, object)).await?;
    Ok((page.items, page.revision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = encode_continue(42, "/registry/pods/default/a");
        let decoded = decode_continue(&token).unwrap();
        assert_eq!((decoded.revision, decoded.start_after.as_str()), (42, "/registry/pods/default/a"));
        assert!(decode_continue("!!!").is_err());
        assert!(decode_continue(&base64::engine::general_purpose::URL_SAFE.encode("{}")).is_err());
    }
}
