//! Server-side application of a strategic merge patch
//! (`application/strategic-merge-patch+json`).
//!
//! Owns the semantics of `StrategicMergeMapPatch` in
//! `k8s.io/apimachinery/pkg/util/strategicpatch/patch.go` (v0.33), with `MergeParallelList` and
//! `IgnoreUnmatchedNulls` set as the apiserver sets them: `mergeMap`, `mergeSlice`, the
//! directives `$patch`, `$retainKeys`, `$setElementOrder/<list>` and
//! `$deleteFromPrimitiveList/<list>`, and upstream's ordering of merged lists. Function names
//! follow upstream's so the two can be read side by side. Must not compute patches (that is
//! kubectl's side) nor know the HTTP wire format.
//!
//! Deliberate differences, none of which changes what a typed decoder makes of the result:
//! - Upstream passes some patch values through raw (a list without strategy, a map with
//!   `$patch: replace`, a new list item), leaving `null`s and directive keys for the typed
//!   decoder to drop. Here they are dropped at once, so no directive key and no `null` put there
//!   by the patch ever reaches the result.
//! - A key starting with `$` that is not a directive is rejected (400); upstream keeps it as a
//!   field and the typed decoder drops it or, with `fieldValidation=Strict`, rejects it.
//! - Inputs on which upstream panics (a `null` list item, merge keys that are maps) give an error.
//! - Fields missing from the metadata table behave as fields without tags, instead of failing
//!   with "unable to find api field" (unreachable upstream, as originals are typed objects).
//! - Patches nested deeper than [`MAX_DEPTH`] are rejected instead of recursing.
//! - Where upstream's list order depends on Go slice aliasing (a `$setElementOrder` list merged
//!   with deletions and additions while the live list has server-only items), the live list's
//!   capacity is assumed to be the next power of two; see `go_aliased_server_order`.
//! - When a `$patch` map and a `$deleteFromPrimitiveList` both touch one list, upstream's order
//!   depends on Go's map iteration; here plain keys always go first, deletion lists last.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::error::PatchError;
use super::gofmt;
use super::schema::{PatchMeta, Schema, Strategy};

/// The deepest nesting of objects and arrays accepted in a patch.
pub(crate) const MAX_DEPTH: usize = 100;

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

// The messages of k8s.io/apimachinery/pkg/util/mergepatch/errors.go.
const ERR_NO_LIST_OF_LISTS: &str = "lists of lists are not supported";
const ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST: &str = "invalid patch format of setElementOrder list";
pub(crate) const ERR_UNSUPPORTED_STRATEGIC_MERGE_PATCH_FORMAT: &str = "strategic merge patch format is not supported";

type Result<T> = std::result::Result<T, PatchError>;

/// Applies `patch` to `original` (both JSON objects) with the metadata rooted at `schema`.
pub(crate) fn strategic_merge_patch(original: &Value, patch: &Value, schema: Schema) -> Result<Value> {
    let Value::Object(original) = original else {
        return Err(PatchError::BadRequest("invalid JSON document".into()));
    };
    let patch = match patch {
        Value::Object(p) => p,
        // The apiserver decodes the body into a map; `null` decodes to an empty one.
        Value::Null => return Ok(Value::Object(original.clone())),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                gofmt::json_kind(other)
            )));
        }
    };
    validate_patch(patch, 1)?;
    merge_map(original.clone(), patch.clone(), schema).map(Value::Object)
}

/// Rejects patches nested deeper than [`MAX_DEPTH`] and keys that look like directives but are
/// none, before any work is done, so the merge itself can recurse freely.
fn validate_patch(map: &Map<String, Value>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(PatchError::BadRequest(format!("the patch is nested more than {MAX_DEPTH} levels deep")));
    }
    for (k, v) in map {
        if k.starts_with('$')
            && k != DIRECTIVE_MARKER
            && k != RETAIN_KEYS_DIRECTIVE
            && !k.starts_with(SET_ELEMENT_ORDER_PREFIX)
            && !k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
        {
            return Err(PatchError::BadRequest(format!("unknown strategic merge patch directive {k:?}")));
        }
        validate_value(v, depth + 1)?;
    }
    Ok(())
}

fn validate_value(v: &Value, depth: usize) -> Result<()> {
    match v {
        Value::Object(m) => validate_patch(m, depth),
        Value::Array(items) => {
            if depth > MAX_DEPTH {
                return Err(PatchError::BadRequest(format!("the patch is nested more than {MAX_DEPTH} levels deep")));
            }
            items.iter().try_for_each(|item| validate_value(item, depth + 1))
        }
        _ => Ok(()),
    }
}

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE_MARKER
        || k == RETAIN_KEYS_DIRECTIVE
        || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
}

/// The Go type of a decoded JSON value, as `reflect.TypeOf` tells them apart (integers decode
/// to `int64` and other numbers to `float64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_f64() => Kind::Float,
        Value::Number(_) => Kind::Int,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Slice,
        Value::Object(_) => Kind::Map,
    }
}

fn err_no_merge_key(m: &Map<String, Value>, merge_key: &str) -> PatchError {
    PatchError::Unconverted(format!(
        "map: {} does not contain declared merge key: {merge_key}",
        gofmt::value(&Value::Object(m.clone()))
    ))
}

fn err_bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Unconverted(format!("expected a {expected}, but received a {}", gofmt::type_name(actual)))
}

const MAP_TYPE: &str = "map[string]interface {}";
const SLICE_TYPE: &str = "[]interface {}";

/// Merges `patch` into `original`, as upstream's `mergeMap`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Schema,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        return handle_directive_in_merge_map(directive.clone(), patch);
    }

    apply_retain_keys_directive(&mut original, &mut patch)?;

    // Lists named by `$setElementOrder` are merged and ordered first, and leave the patch.
    merge_patch_into_original(&mut original, &mut patch, schema)?;

    let mut deletion_lists = Vec::new();
    for (k, patch_v) in patch {
        if k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            deletion_lists.push((k, patch_v));
        } else {
            merge_field(&mut original, k, patch_v, false, schema)?;
        }
    }
    for (k, patch_v) in deletion_lists {
        let key = extract_key(&k, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?;
        merge_field(&mut original, key, patch_v, true, schema)?;
    }
    Ok(original)
}

/// One iteration of `mergeMap`'s loop over the patch's keys.
fn merge_field(
    original: &mut Map<String, Value>,
    key: String,
    patch_v: Value,
    is_delete_list: bool,
    schema: Schema,
) -> Result<()> {
    // `null` deletes the key (also for a deletion list: `$deleteFromPrimitiveList/x: null`
    // removes `x`, as upstream).
    if patch_v.is_null() {
        original.remove(&key);
        return Ok(());
    }
    let Some(original_v) = original.get_mut(&key) else {
        if !is_delete_list {
            set_patch_value(original, key, patch_v);
        }
        return Ok(());
    };
    if kind_of(original_v) != kind_of(&patch_v) {
        if !is_delete_list {
            set_patch_value(original, key, patch_v);
        }
        return Ok(());
    }
    match (original_v.take(), patch_v) {
        (Value::Object(o), Value::Object(p)) => {
            let (subschema, meta) = schema.lookup_struct(&key);
            *original_v = Value::Object(merge_map_handler(o, p, subschema, meta)?);
        }
        (Value::Array(o), Value::Array(p)) => {
            let (subschema, meta) = schema.lookup_slice(&key);
            *original_v = Value::Array(merge_slice_handler(o, p, subschema, meta, is_delete_list)?);
        }
        (_, p) => *original_v = p,
    }
    Ok(())
}

/// Stores a patch value where the original has none (or one of another type): nulls are
/// discarded and maps carrying `$patch` are dropped, as upstream's `discardNullValuesFromPatch`
/// and `removeDirectives`.
fn set_patch_value(original: &mut Map<String, Value>, key: String, mut patch_v: Value) {
    discard_null_values(&mut patch_v);
    match remove_directives(patch_v) {
        Some(v) => {
            original.insert(key, v);
        }
        None => {
            original.remove(&key);
        }
    }
}

fn discard_null_values(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, item| !item.is_null());
            m.values_mut().for_each(discard_null_values);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_null_values),
        _ => {}
    }
}

/// Upstream's `removeDirectives`: a map with `$patch` disappears (with its key or list slot).
/// The other directive keys are stripped too (upstream leaves them to the typed decoder).
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            let mut out = Map::new();
            for (k, item) in m {
                if is_directive_key(&k) {
                    continue;
                }
                if let Some(item) = remove_directives(item) {
                    out.insert(k, item);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(remove_directives).collect())),
        other => Some(other),
    }
}

/// Cleans a patch value that upstream copies through untouched (a replaced list or map, a new
/// list item): drops directive keys and `null` members, which the typed decoder would drop.
fn clean(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(clean_map(m)),
        Value::Array(items) => Value::Array(items.into_iter().map(clean).collect()),
        other => other,
    }
}

fn clean_map(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter().filter(|(k, v)| !is_directive_key(k) && !v.is_null()).map(|(k, v)| (k, clean(v))).collect()
}

/// `$patch` in a map being merged: `replace` keeps only the patch, `delete` empties the map.
fn handle_directive_in_merge_map(directive: Value, mut patch: Map<String, Value>) -> Result<Map<String, Value>> {
    match directive.as_str() {
        Some(REPLACE_DIRECTIVE) => {
            patch.remove(DIRECTIVE_MARKER);
            Ok(clean_map(patch))
        }
        Some(DELETE_DIRECTIVE) => Ok(Map::new()),
        // `merge` is not accepted in a map, only `replace` and `delete` (as upstream).
        _ => Err(err_bad_patch_type(&directive, &patch)),
    }
}

fn err_bad_patch_type(directive: &Value, m: &Map<String, Value>) -> PatchError {
    let t = match directive {
        Value::String(s) => s.clone(),
        other => format!("%!s({}={})", gofmt::type_name(other), gofmt::value(other)),
    };
    PatchError::Unconverted(format!("unknown patch type: {t} in map: {}", gofmt::value(&Value::Object(m.clone()))))
}

/// `$retainKeys`: keys of the original that the list does not name are cleared, and every key
/// the patch sets must be named.
fn apply_retain_keys_directive(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> Result<()> {
    let Some(retain_keys) = patch.remove(RETAIN_KEYS_DIRECTIVE) else { return Ok(()) };
    let Value::Array(list) = retain_keys else {
        return Err(PatchError::BadRequest(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS.into()));
    };
    let keep: HashSet<&str> = list.iter().filter_map(Value::as_str).collect();
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) || k.starts_with(SET_ELEMENT_ORDER_PREFIX) {
            continue;
        }
        if !keep.contains(k.as_str()) {
            return Err(PatchError::BadRequest(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS.into()));
        }
    }
    original.retain(|k, _| keep.contains(k.as_str()));
    Ok(())
}

/// The field name after `<prefix>/`.
fn extract_key(s: &str, prefix: &str) -> Result<String> {
    match s.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ => Err(PatchError::BadRequest(
            if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX {
                ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST
            } else {
                ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER_LIST
            }
            .into(),
        )),
    }
}

/// Processes every `$setElementOrder/<list>` directive: merges `<list>` and orders the result,
/// with precedence `$setElementOrder` > order in the patch list > order in the live list.
fn merge_patch_into_original(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Schema,
) -> Result<()> {
    let keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX)).cloned().collect();
    for key in keys {
        let Some(set_order_v) = patch.remove(&key) else { continue };
        let Value::Array(set_order) = set_order_v else {
            return Err(err_bad_arg_type(SLICE_TYPE, &set_order_v));
        };
        let original_key = extract_key(&key, SET_ELEMENT_ORDER_PREFIX)?;
        let original_list = match original.get(&original_key) {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(err_bad_arg_type(SLICE_TYPE, other)),
        };
        let patch_list = match patch.get(&original_key) {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(err_bad_arg_type(SLICE_TYPE, other)),
        };
        let (subschema, meta) = schema.lookup_slice(&original_key);
        validate_patch_with_set_order_list(patch_list.as_deref().unwrap_or_default(), &set_order, meta.merge_key)?;

        let server_order = match (&original_list, &patch_list) {
            (Some(o), Some(p)) if meta.strategy == Strategy::Merge && !meta.merge_key.is_empty() => {
                go_aliased_server_order(o, p, meta.merge_key)
            }
            _ => original_list.clone().unwrap_or_default(),
        };
        // Upstream checks the element type after merging, so merge errors come first.
        let element_kind =
            slice_element_kind(original_list.as_deref().unwrap_or_default(), patch_list.as_deref().unwrap_or_default());
        let merged = match (original_list, patch_list) {
            (Some(o), None) => o,
            (None, Some(p)) => {
                let mut list = Value::Array(p);
                discard_null_values(&mut list);
                match remove_directives(list) {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                }
            }
            (Some(o), Some(p)) => merge_slice_handler(o, p, subschema, meta, false)?,
            (None, None) => continue,
        };

        let (patch_items, server_only) = if meta.merge_key.is_empty() {
            partition_primitives_by_present_in_list(merged, &set_order)
        } else {
            partition_maps_by_present_in_list(merged, &set_order, meta.merge_key)?
        };
        let kind = element_kind?;
        let both = normalize_element_order(patch_items, server_only, &set_order, &server_order, meta.merge_key, kind)?;
        original.insert(original_key.clone(), Value::Array(both));
        patch.remove(&original_key);
    }
    Ok(())
}

/// The live list as upstream's `mergePatchIntoOriginal` sees it after `mergeSlice` ran: Go
/// deletes list items by shifting the shared backing array left in place and appends new items
/// into its spare capacity, so the `originalFieldValue` used to order server-only items shows
/// those writes. Reproduced here, assuming the capacity Go's `append` growth gives a decoded
/// list (the next power of two), because upstream's placement of server-only items depends on
/// it when a patch both deletes and adds items.
fn go_aliased_server_order(original: &[Value], patch: &[Value], merge_key: &str) -> Vec<Value> {
    let n = original.len();
    let cap = if n == 0 { 0 } else { n.next_power_of_two() };
    let mut backing = original.to_vec();
    let mut len = n;
    let key_of = |v: &Value| v.as_object().and_then(|m| m.get(merge_key)).cloned();
    let mut replace = false;
    for item in patch {
        let Some(m) = item.as_object() else { return original.to_vec() };
        match m.get(DIRECTIVE_MARKER).and_then(Value::as_str) {
            Some(DELETE_DIRECTIVE) => {
                let Some(target) = m.get(merge_key) else { return original.to_vec() };
                // `deleteMatchingEntries`: `append(s[:i], s[i+1:]...)` until no match is left.
                while let Some(i) = backing[..len].iter().position(|v| key_of(v).as_ref() == Some(target)) {
                    // The slot past the new end keeps its old value, as in Go.
                    let last = backing[len - 1].clone();
                    backing[i..len].rotate_left(1);
                    backing[len - 1] = last;
                    len -= 1;
                }
            }
            Some(_) => replace = true,
            None => {}
        }
    }
    if !replace {
        // `mergeSliceWithoutSpecialElements` appends unmatched items while capacity lasts.
        let mut merged_keys: Vec<Option<Value>> = backing[..len].iter().map(key_of).collect();
        for item in patch {
            if contains_directive_marker(item) {
                continue;
            }
            let key = key_of(item);
            if key.is_some() && merged_keys.contains(&key) {
                continue;
            }
            let at = merged_keys.len();
            if at >= cap {
                // Go reallocates: later appends no longer touch the live list's array.
                break;
            }
            if let Some(slot) = backing.get_mut(at) {
                *slot = item.clone();
            }
            merged_keys.push(key);
        }
    }
    backing.truncate(n);
    backing
}

/// The relative order of the patch list's items must match the `$setElementOrder` list's, and
/// every item must appear there (deletions and directive items aside).
fn validate_patch_with_set_order_list(patch_list: &[Value], set_order: &[Value], merge_key: &str) -> Result<()> {
    if set_order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete =
        if merge_key.is_empty() { patch_list.to_vec() } else { extract_to_delete_items(patch_list.to_vec())?.0 };
    let (mut p, mut s) = (0, 0);
    while p < non_delete.len() && s < set_order.len() {
        if contains_directive_marker(&non_delete[p]) {
            p += 1;
            continue;
        }
        if merge_key_value_equal(&non_delete[p], &set_order[s], merge_key)? {
            p += 1;
        }
        s += 1;
    }
    if p < non_delete.len() && s >= set_order.len() {
        return Err(PatchError::Unconverted(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER_PREFIX} list:\n{}\n",
            gofmt::value(&Value::Array(patch_list.to_vec())),
            gofmt::value(&Value::Array(set_order.to_vec()))
        )));
    }
    Ok(())
}

fn contains_directive_marker(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let l = left.as_object().ok_or_else(|| err_bad_arg_type(MAP_TYPE, left))?;
    let r = right.as_object().ok_or_else(|| err_bad_arg_type(MAP_TYPE, right))?;
    let lv = l.get(merge_key).ok_or_else(|| err_no_merge_key(l, merge_key))?;
    let rv = r.get(merge_key).ok_or_else(|| err_no_merge_key(r, merge_key))?;
    Ok(lv == rv)
}

/// Splits a list of maps into the items to keep and those marked `$patch: delete`.
fn extract_to_delete_items(items: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut keep = Vec::new();
    let mut delete = Vec::new();
    for v in items {
        let Some(m) = v.as_object() else { return Err(err_bad_arg_type(MAP_TYPE, &v)) };
        if m.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE) {
            delete.push(v);
        } else {
            keep.push(v);
        }
    }
    Ok((keep, delete))
}

fn merge_map_handler(
    original: Map<String, Value>,
    patch: Map<String, Value>,
    schema: Schema,
    meta: PatchMeta,
) -> Result<Map<String, Value>> {
    if meta.strategy == Strategy::Replace { Ok(clean_map(patch)) } else { merge_map(original, patch, schema) }
}

fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    meta: PatchMeta,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    // Deletion lists are handled the same way whatever the field's strategy.
    if meta.strategy == Strategy::Merge || is_delete_list {
        merge_slice(original, patch, schema, meta.merge_key, is_delete_list)
    } else {
        // No strategy: the patch list replaces the original.
        match clean(Value::Array(patch)) {
            Value::Array(items) => Ok(items),
            _ => Ok(Vec::new()),
        }
    }
}

/// Upstream's `mergeSlice`: set union for scalars, merge by key for maps, then ordering.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_kind(&original, &patch)?;

    let (original, patch, merged) = if kind != Kind::Map {
        if is_delete_list {
            return Ok(delete_from_slice(original, &patch));
        }
        let merged = deduplicate_scalars(original.iter().chain(patch.iter()).cloned());
        (original, patch, merged)
    } else {
        if merge_key.is_empty() {
            return Err(PatchError::Unconverted(format!(
                "cannot merge lists without merge key for {}",
                schema.kind_name()
            )));
        }
        let (original, patch) = merge_slice_with_special_elements(original, patch, merge_key)?;
        let merged = merge_slice_without_special_elements(original.clone(), &patch, merge_key, schema)?;
        (original, patch, merged)
    };

    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives_by_present_in_list(merged, &patch)
    } else {
        partition_maps_by_present_in_list(merged, &patch, merge_key)?
    };
    normalize_element_order(patch_items, server_only, &patch, &original, merge_key, kind)
}

/// The one Go type shared by the elements of the lists; lists of lists are refused.
fn slice_element_kind(a: &[Value], b: &[Value]) -> Result<Kind> {
    let mut prev: Option<Kind> = None;
    for v in a.iter().chain(b) {
        let k = kind_of(v);
        match prev {
            None => {
                if k == Kind::Slice {
                    return Err(PatchError::unprocessable(ERR_NO_LIST_OF_LISTS));
                }
                // Upstream panics on a leading nil element; report it like a type mismatch.
                if k == Kind::Null {
                    return Err(err_not_identical(a, b));
                }
                prev = Some(k);
            }
            Some(p) if p != k => return Err(err_not_identical(a, b)),
            Some(_) => {}
        }
    }
    prev.ok_or_else(|| PatchError::Unconverted("no elements in any of the given slices".into()))
}

fn err_not_identical(a: &[Value], b: &[Value]) -> PatchError {
    let slices = Value::Array(vec![Value::Array(a.to_vec()), Value::Array(b.to_vec())]);
    PatchError::Unconverted(format!("list element types are not identical: {}", gofmt::value(&slices)))
}

/// A canonical text of a value, to use JSON values as hash keys with Go's `==` semantics for
/// scalars (`1` and `1.0` differ, as `int64` and `float64` do).
fn key_text(v: &Value) -> String {
    v.to_string()
}

fn deduplicate_scalars(items: impl Iterator<Item = Value>) -> Vec<Value> {
    // Upstream deduplicates in an order-scrambling way, but re-sorts afterwards; the final order
    // depends only on the original and patch lists, so a first-occurrence pass is equivalent.
    let mut seen = HashSet::new();
    items.filter(|v| seen.insert(key_text(v))).collect()
}

fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    let delete: HashSet<String> = to_delete.iter().map(key_text).collect();
    current.into_iter().filter(|v| !delete.contains(&key_text(v))).collect()
}

/// Handles the list items carrying `$patch`: `delete` removes every original item with that
/// merge key, `replace` makes the remaining patch items the whole list. Returns the original to
/// merge into and the plain patch items.
fn merge_slice_with_special_elements(
    original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut original = original;
    let mut plain = Vec::new();
    let mut replace = false;
    for v in patch {
        let Some(m) = v.as_object() else { return Err(err_bad_arg_type(MAP_TYPE, &v)) };
        let Some(directive) = m.get(DIRECTIVE_MARKER) else {
            plain.push(v);
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let Some(merge_value) = m.get(merge_key) else { return Err(err_no_merge_key(m, merge_key)) };
                original.retain(|item| item.as_object().and_then(|o| o.get(merge_key)) != Some(merge_value));
            }
            // Keep scanning: the other `$patch` items must still be valid.
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => {
                return Err(PatchError::Unconverted("merging lists cannot yet be specified in the patch".into()));
            }
            _ => return Err(err_bad_patch_type(directive, m)),
        }
    }
    if replace {
        let items = plain.into_iter().map(clean).collect();
        return Ok((items, Vec::new()));
    }
    Ok((original, plain))
}

/// Merges each patch item into the original item with the same merge key, or appends it.
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    schema: Schema,
) -> Result<Vec<Value>> {
    // First index of each merge-key value; items without the key never match.
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, item) in original.iter().enumerate() {
        if let Some(v) = item.as_object().and_then(|m| m.get(merge_key)) {
            index.entry(key_text(v)).or_insert(i);
        }
    }
    for v in patch {
        let Some(m) = v.as_object() else { return Err(err_bad_arg_type(MAP_TYPE, v)) };
        let Some(merge_value) = m.get(merge_key) else { return Err(err_no_merge_key(m, merge_key)) };
        let text = key_text(merge_value);
        match index.get(&text).copied() {
            Some(i) => {
                let existing = match original.get_mut(i).map(Value::take) {
                    Some(Value::Object(o)) => o,
                    _ => Map::new(),
                };
                original[i] = Value::Object(merge_map(existing, m.clone(), schema)?);
            }
            None => {
                index.insert(text, original.len());
                original.push(clean(v.clone()));
            }
        }
    }
    Ok(original)
}

fn partition_primitives_by_present_in_list(items: Vec<Value>, partition_by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let present: HashSet<String> = partition_by.iter().map(key_text).collect();
    items.into_iter().partition(|v| present.contains(&key_text(v)))
}

fn partition_maps_by_present_in_list(
    items: Vec<Value>,
    partition_by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let finder = MapFinder::new(partition_by, merge_key);
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for v in items {
        let Some(m) = v.as_object() else { return Err(err_bad_arg_type(MAP_TYPE, &v)) };
        let Some(merge_value) = m.get(merge_key) else { return Err(err_no_merge_key(m, merge_key)) };
        if finder.find(merge_value)? {
            present.push(v);
        } else {
            absent.push(v);
        }
    }
    Ok((present, absent))
}

/// Upstream's `findMapInSliceBasedOnKeyValue` over a fixed list, with an index: the scan stops
/// with an error at the first item that is not a map, unless a match comes before it.
struct MapFinder {
    index: HashMap<String, usize>,
    first_non_map: Option<usize>,
}

impl MapFinder {
    fn new(list: &[Value], merge_key: &str) -> Self {
        let mut index = HashMap::new();
        let mut first_non_map = None;
        for (i, item) in list.iter().enumerate() {
            match item.as_object() {
                Some(m) => {
                    if let Some(v) = m.get(merge_key) {
                        index.entry(key_text(v)).or_insert(i);
                    }
                }
                None => {
                    first_non_map.get_or_insert(i);
                }
            }
        }
        MapFinder { index, first_non_map }
    }

    fn find(&self, value: &Value) -> Result<bool> {
        let at = self.index.get(&key_text(value)).copied();
        match (at, self.first_non_map) {
            (Some(i), Some(bad)) if i < bad => Ok(true),
            (Some(_), None) => Ok(true),
            (_, Some(bad)) => Err(PatchError::Unconverted(format!("value for key {bad} is not a map"))),
            (None, None) => Ok(false),
        }
    }
}

/// Positions of items in an ordering list, compared the way upstream's `index` does: by merge
/// key value for maps (a missing or `null` key counts as `nil`), by value otherwise.
struct OrderIndex {
    positions: HashMap<Option<String>, usize>,
    by_merge_key: bool,
    merge_key: String,
}

impl OrderIndex {
    fn new(order: &[Value], merge_key: &str, kind: Kind) -> Self {
        let mut idx =
            OrderIndex { positions: HashMap::new(), by_merge_key: kind == Kind::Map, merge_key: merge_key.to_string() };
        for (i, item) in order.iter().enumerate() {
            let k = idx.key(item);
            idx.positions.entry(k).or_insert(i);
        }
        idx
    }

    fn key(&self, item: &Value) -> Option<String> {
        if self.by_merge_key {
            item.as_object().and_then(|m| m.get(&self.merge_key)).filter(|v| !v.is_null()).map(key_text)
        } else {
            Some(key_text(item))
        }
    }

    fn position(&self, item: &Value) -> Option<usize> {
        self.positions.get(&self.key(item)).copied()
    }
}

/// Sorts the patch items by `patch_order` and the server-only items by `server_order`, then
/// interleaves them (upstream's `normalizeElementOrder`).
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted_slice(server_only, patch, server_order, merge_key, kind))
}

fn normalize_slice_order(to_sort: Vec<Value>, order: &[Value], merge_key: &str, kind: Kind) -> Result<Vec<Value>> {
    let (mut to_sort, to_delete) = if kind == Kind::Map {
        validate_merge_key_in_lists(merge_key, &to_sort)?;
        validate_merge_key_in_lists(merge_key, order)?;
        extract_to_delete_items(to_sort)?
    } else {
        (to_sort, Vec::new())
    };
    let index = OrderIndex::new(order, merge_key, kind);
    let positions: Vec<Option<usize>> = to_sort.iter().map(|v| index.position(v)).collect();
    if positions.iter().all(Option::is_some) {
        // A consistent order: Go's stable sort and Rust's agree.
        let mut keyed: Vec<(Option<usize>, Value)> = positions.into_iter().zip(to_sort).collect();
        keyed.sort_by_key(|(p, _)| *p);
        to_sort = keyed.into_iter().map(|(_, v)| v).collect();
    } else if to_sort.len() <= 20 {
        // Upstream's comparator calls an item missing from `order` "less" than anything; Go's
        // stable sort is an insertion sort up to 20 items, replayed here so the result matches.
        let mut keyed: Vec<(Option<usize>, Value)> = positions.into_iter().zip(to_sort).collect();
        for i in 1..keyed.len() {
            let mut j = i;
            while j > 0 && go_less(keyed[j].0, keyed[j - 1].0) {
                keyed.swap(j, j - 1);
                j -= 1;
            }
        }
        to_sort = keyed.into_iter().map(|(_, v)| v).collect();
    } else {
        // Longer lists with items missing from `order` have no well-defined upstream order;
        // keep the known ones sorted and the unknown ones after them.
        let mut keyed: Vec<(Option<usize>, Value)> = positions.into_iter().zip(to_sort).collect();
        keyed.sort_by_key(|(p, _)| p.unwrap_or(usize::MAX));
        to_sort = keyed.into_iter().map(|(_, v)| v).collect();
    }
    to_sort.extend(to_delete);
    Ok(to_sort)
}

fn go_less(a: Option<usize>, b: Option<usize>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x < y,
        _ => true,
    }
}

fn validate_merge_key_in_lists(merge_key: &str, items: &[Value]) -> Result<()> {
    for item in items {
        let Some(m) = item.as_object() else { return Err(err_bad_arg_type(MAP_TYPE, item)) };
        if !m.contains_key(merge_key) {
            return Err(err_no_merge_key(m, merge_key));
        }
    }
    Ok(())
}

/// Inserts each of `left` (server-only items) into `right` (patch items), both already sorted:
/// a left item goes before the first right item that follows it in `server_order`. Relative
/// orders within each list are kept (upstream's `mergeSortedSlice`).
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Vec<Value> {
    let index = OrderIndex::new(server_order, merge_key, kind);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!((index.position(l), index.position(r)), (Some(li), Some(ri)) if li < ri),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}
