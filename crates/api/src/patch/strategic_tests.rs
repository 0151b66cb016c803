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


/// One case: apply `patch` to `original`, expect `want` (a result, or an error's code and a
/// fragment of its message).
struct Case {
    name: &'static str,
    original: Value,
    patch: Value,
    want: Result<Value, (u16, &'static str)>,
}

fn ok(name: &'static str, original: Value, patch: Value, want: Value) -> Case {
    Case { name, original, patch, want: Ok(want) }
}

fn fails(name: &'static str, original: Value, patch: Value, code: u16, message: &'static str) -> Case {
    Case { name, original, patch, want: Err((code, message)) }
}

fn run(cases: Vec<Case>, apply: impl Fn(&Value, &Value) -> Result<Value, PatchError>) {
    for c in cases {
        let got = apply(&c.original, &c.patch);
        match (&c.want, got) {
            (Ok(want), Ok(got)) => assert_eq!(&got, want, "{}", c.name),
            (Err((code, message)), Err(err)) => {
                assert_eq!(err.code(), *code, "{}: {err:?}", c.name);
                assert!(err.to_string().contains(message), "{}: {err}", c.name);
            }
            (want, got) => panic!("{}: want {want:?}, got {got:?}", c.name),
        }
    }
}

/// Cases of upstream's `patch_test.go`, applied to `MergeItem`. Where upstream compares exact
/// JSON (its raw cases), the order of the expected lists is significant here too.
#[test]
fn upstream_merge_item_cases() {
    run(
        vec![
            ok("unique scalars when merging lists", json!({"mergingIntList": [1, 2]}), json!({"mergingIntList": [2, 3]}), json!({"mergingIntList": [1, 2, 3]})),
            ok("delete map from nested map", json!({"simpleMap": {"key1": 1, "key2": 1}}), json!({"simpleMap": {"$patch": "delete"}}), json!({"simpleMap": {}})),
            ok("delete all items from merging list", json!({"mergingList": [{"name": 1}, {"name": 2}]}), json!({"mergingList": [{"$patch": "replace"}]}), json!({"mergingList": []})),
            ok("merge empty merging lists", json!({"mergingList": []}), json!({"mergingList": []}), json!({"mergingList": []})),
            ok("delete all keys from map", json!({"name": 1, "value": 1}), json!({"$patch": "replace"}), json!({})),
            ok("add key and delete all keys from map", json!({"name": 1, "value": 1}), json!({"other": "a", "$patch": "replace"}), json!({"other": "a"})),
            ok(
                "delete all duplicate entries in a merging list",
                json!({"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}),
                json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}),
                json!({"mergingList": [{"name": 2, "value": "a"}]}),
            ),
            ok("null deletes a key", json!({"name": 1, "value": 1}), json!({"value": null}), json!({"name": 1})),
            ok("null for a missing key leaves nothing behind", json!({"name": 1}), json!({"value": null}), json!({"name": 1})),
            ok(
                "non-merging list is replaced",
                json!({"nonMergingList": [{"name": 1}, {"name": 2}]}),
                json!({"nonMergingList": [{"name": 3}]}),
                json!({"nonMergingList": [{"name": 3}]}),
            ),
            ok(
                "non-merging int list is replaced",
                json!({"nonMergingIntList": [1, 2]}),
                json!({"nonMergingIntList": [2, 3]}),
                json!({"nonMergingIntList": [2, 3]}),
            ),
            ok(
                "merge lists of maps: matched items merge, new ones are appended",
                json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
                json!({"mergingList": [{"name": 2, "value": 3}, {"name": 4, "value": 4}]}),
                json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 3, "other": "b"}, {"name": 4, "value": 4}]}),
            ),
            ok(
                "nested merging list inside a merging list item",
                json!({"mergingList": [{"name": 1, "mergingList": [{"name": 1}, {"name": 2, "value": 2}]}]}),
                json!({"mergingList": [{"name": 1, "mergingList": [{"name": 1, "value": 1}]}]}),
                json!({"mergingList": [{"name": 1, "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]}]}),
            ),
            ok(
                "replace strategy on a map takes the patch",
                json!({"replacingItem": {"Some": "Field", "Other": "Field"}}),
                json!({"replacingItem": {"New": "Field"}}),
                json!({"replacingItem": {"New": "Field"}}),
            ),
            ok(
                "$setElementOrder contains item that is not present in the list to be merged",
                json!({"mergingList": [{"name": 1}, {"name": 3}]}),
                json!({"$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}], "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
                json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
            ),
            ok(
                "merge lists of maps with $setElementOrder",
                json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
                json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}], "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
                json!({"mergingList": [{"name": 4, "value": 4}, {"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
            ),
            ok(
                "set elements order with server-only items",
                json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 7}, {"name": 9}, {"name": 8}, {"name": 3, "value": 3}, {"name": 4, "value": 4}]}),
                json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]}),
                json!({"mergingList": [{"name": 2, "value": 2}, {"name": 1, "other": "a"}, {"name": 7}, {"name": 9}, {"name": 8}, {"name": 4, "value": 4}, {"name": 3, "value": 3}]}),
            ),
            ok(
                "add map and delete map with server-only items (Go slice aliasing decides the order)",
                json!({"mergingList": [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}]}),
                json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 3}], "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}]}),
                json!({"mergingList": [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}]}),
            ),
            ok(
                "add map and delete map with conflict",
                json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 4, "other": "c"}]}),
                json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 3}], "mergingList": [{"name": 2}, {"name": 3}, {"name": 1, "$patch": "delete"}]}),
                json!({"mergingList": [{"name": 4, "other": "c"}, {"name": 2}, {"name": 3}]}),
            ),
            ok(
                "add an item in a list of primitives and preserve order",
                json!({"mergingIntList": [1, 4, 2]}),
                json!({"$setElementOrder/mergingIntList": [3, 1, 2], "mergingIntList": [3]}),
                json!({"mergingIntList": [3, 1, 4, 2]}),
            ),
            ok(
                "add and delete an item in an int list and preserve order",
                json!({"mergingIntList": [1, 2, 3]}),
                json!({"$setElementOrder/mergingIntList": [4, 2, 1], "mergingIntList": [4], "$deleteFromPrimitiveList/mergingIntList": [3]}),
                json!({"mergingIntList": [4, 2, 1]}),
            ),
            ok(
                "delete all duplicate items in lists of scalars",
                json!({"mergingIntList": [1, 2, 3, 3, 4]}),
                json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
                json!({"mergingIntList": [1, 2, 4]}),
            ),
            ok(
                "set element order for a merging list with duplicates",
                json!({"mergingList": [{"name": 1}, {"name": 2, "value": "dup1"}, {"name": 3}, {"name": 2, "value": "dup2"}, {"name": 4}]}),
                json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}, {"name": 2}]}),
                json!({"mergingList": [{"name": 2, "value": "dup1"}, {"name": 2, "value": "dup2"}, {"name": 1}, {"name": 4}, {"name": 3}]}),
            ),
            ok(
                "merging list through a pointer field",
                json!({"mergeItemPtr": [{"name": 1, "other": "a"}, {"name": 3}]}),
                json!({"$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}], "mergeItemPtr": [{"name": 2}]}),
                json!({"mergeItemPtr": [{"name": 1, "other": "a"}, {"name": 2}, {"name": 3}]}),
            ),
            ok(
                "nested merging list with its own $setElementOrder",
                json!({"mergingList": [{"name": 1, "other": "a", "mergingList": [{"name": 2, "value": 2, "other": "d"}]}, {"name": 2, "other": "b"}]}),
                json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}], "mergingList": [{"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}], "name": 1, "mergingList": [{"name": 1, "value": 1}]}]}),
                json!({"mergingList": [{"name": 1, "other": "a", "mergingList": [{"name": 2, "value": 2, "other": "d"}, {"name": 1, "value": 1}]}, {"name": 2, "other": "b"}]}),
            ),
            ok(
                "retainKeys map clears the keys not listed",
                json!({"retainKeysMap": {"name": "foo", "value": "a", "other": "x"}}),
                json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "b"}}),
                json!({"retainKeysMap": {"name": "foo", "value": "b"}}),
            ),
            ok(
                "retainKeys map with a nested merging int list",
                json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3, 4]}}),
                json!({"retainKeysMap": {"$retainKeys": ["mergingIntList", "name"], "mergingIntList": [5], "$deleteFromPrimitiveList/mergingIntList": [2], "$setElementOrder/mergingIntList": [1, 3, 5]}}),
                json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 3, 5, 4]}}),
            ),
            ok(
                "retainKeys list of maps deletes a field and clears another",
                json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a", "other": "x"}]}),
                json!({"$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}], "retainKeysMergingList": [{"$retainKeys": ["name"], "name": "foo", "value": null}]}),
                json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]}),
            ),
            ok(
                "retainKeys map can add a field when no retainKeys directive present",
                json!({"retainKeysMap": {"name": "foo"}}),
                json!({"retainKeysMap": {"value": "bar"}}),
                json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
            ),
            ok(
                "delete and reorder in one list, reorder in another",
                json!({"mergingList": [{"name": "a", "value": "a"}, {"name": "b", "value": "b"}], "mergeItemPtr": [{"name": "c", "value": "c"}, {"name": "d", "value": "d"}]}),
                json!({"$setElementOrder/mergingList": [{"name": "b"}], "$setElementOrder/mergeItemPtr": [{"name": "d"}, {"name": "c"}], "mergingList": [{"$patch": "delete", "name": "a"}]}),
                json!({"mergingList": [{"name": "b", "value": "b"}], "mergeItemPtr": [{"name": "d", "value": "d"}, {"name": "c", "value": "c"}]}),
            ),
            ok(
                "nested patch merge with empty list",
                json!({"name": "hi", "mergingList": [{"name": "hello2"}]}),
                json!({"$setElementOrder/mergingList": [{"name": "hello"}, {"name": "doesntexist"}], "mergingList": [{"name": "hello"}]}),
                json!({"name": "hi", "mergingList": [{"name": "hello"}, {"name": "hello2"}]}),
            ),
            ok(
                "a list item with $patch: replace replaces the whole list",
                json!({"mergingList": [{"name": 1, "value": 1}, {"name": 2}]}),
                json!({"mergingList": [{"name": 3, "value": 3}, {"$patch": "replace"}]}),
                json!({"mergingList": [{"name": 3, "value": 3}]}),
            ),
            ok(
                "$deleteFromPrimitiveList: null removes the list",
                json!({"mergingIntList": [1, 2]}),
                json!({"$deleteFromPrimitiveList/mergingIntList": null}),
                json!({}),
            ),
            ok("a patch list for a missing key is taken as is", json!({}), json!({"mergingIntList": [2, 1, 2]}), json!({"mergingIntList": [2, 1, 2]})),
            ok("a scalar replaces a map", json!({"simpleMap": {"a": "b"}}), json!({"simpleMap": "x"}), json!({"simpleMap": "x"})),
            ok("floats and integers are different types", json!({"mergingIntList": [1]}), json!({"mergingIntList": [1]}), json!({"mergingIntList": [1]})),
            ok("a null patch changes nothing", json!({"name": 1}), json!(null), json!({"name": 1})),
        ],
        merge_item,
    );
}

#[test]
fn upstream_error_cases() {
    run(
        vec![
            fails(
                "$setElementOrder list in the wrong order",
                json!({"mergingList": [{"name": 1}, {"name": 2}]}),
                json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}], "mergingList": [{"name": 2}, {"name": 1}]}),
                500,
                "doesn't match $setElementOrder list",
            ),
            fails(
                "a patch item missing from $setElementOrder",
                json!({"mergingList": [{"name": 1}]}),
                json!({"$setElementOrder/mergingList": [{"name": 1}], "mergingList": [{"name": 1}, {"name": 3}]}),
                500,
                "doesn't match",
            ),
            fails(
                "$setElementOrder item without the merge key",
                json!({"mergingList": [{"name": 1}]}),
                json!({"$setElementOrder/mergingList": [{"value": 1}], "mergingList": [{"name": 1}]}),
                500,
                "does not contain declared merge key",
            ),
            fails(
                "a list item without its merge key",
                json!({"mergingList": [{"name": 1}]}),
                json!({"mergingList": [{"value": "a"}]}),
                500,
                "map: map[value:a] does not contain declared merge key: name",
            ),
            fails(
                "a delete item without its merge key",
                json!({"mergingList": [{"name": 1}]}),
                json!({"mergingList": [{"$patch": "delete"}]}),
                500,
                "map: map[$patch:delete] does not contain declared merge key: name",
            ),
            fails(
                "$patch: merge in a list",
                json!({"mergingList": [{"name": 1}]}),
                json!({"mergingList": [{"name": 1, "$patch": "merge"}]}),
                500,
                "merging lists cannot yet be specified in the patch",
            ),
            fails(
                "$patch: merge in a map is not accepted either",
                json!({"simpleMap": {"a": "b"}}),
                json!({"simpleMap": {"$patch": "merge", "c": "d"}}),
                500,
                "unknown patch type: merge in map: map[$patch:merge c:d]",
            ),
            fails("unknown $patch value", json!({"simpleMap": {"a": "b"}}), json!({"simpleMap": {"$patch": "frob"}}), 500, "unknown patch type: frob"),
            fails("lists of lists", json!({"mergingIntList": [[1]]}), json!({"mergingIntList": [[2]]}), 422, "the server rejected our request"),
            fails(
                "mixed element types",
                json!({"mergingIntList": [1, 2]}),
                json!({"mergingIntList": ["a"]}),
                500,
                "list element types are not identical: [[1 2] [a]]",
            ),
            fails("null list items", json!({"mergingIntList": [1]}), json!({"mergingIntList": [null]}), 500, "list element types are not identical"),
            fails(
                "maps in a merge list of scalars need a merge key",
                json!({"mergingIntList": [{"a": 1}]}),
                json!({"mergingIntList": [{"a": 2}]}),
                500,
                "cannot merge lists without merge key for struct",
            ),
            fails(
                "a patch key not named by $retainKeys",
                json!({"retainKeysMap": {"name": "foo"}}),
                json!({"retainKeysMap": {"$retainKeys": ["name"], "value": "bar"}}),
                400,
                "invalid patch format of retainKeys",
            ),
            fails("$retainKeys not a list", json!({}), json!({"$retainKeys": "name"}), 400, "invalid patch format of retainKeys"),
            fails("$setElementOrder without a field", json!({}), json!({"$setElementOrder": []}), 400, "invalid patch format of setElementOrder list"),
            fails(
                "$setElementOrder not a list",
                json!({"mergingList": []}),
                json!({"$setElementOrder/mergingList": "x"}),
                500,
                "expected a []interface {}, but received a string",
            ),
            fails(
                "$deleteFromPrimitiveList without a field",
                json!({}),
                json!({"$deleteFromPrimitiveListX/a": [1]}),
                400,
                "invalid patch format of primitive list",
            ),
            fails("$setElementOrder of empty lists", json!({"mergingIntList": []}), json!({"$setElementOrder/mergingIntList": []}), 500, "no elements in any of the given slices"),
            fails("unknown directive key", json!({}), json!({"spec": {"$frobnicate": 1}}), 400, "unknown strategic merge patch directive \"$frobnicate\""),
            fails("a patch that is not an object", json!({}), json!([1]), 400, "json: cannot unmarshal array into Go value of type map[string]interface {}"),
        ],
        merge_item,
    );
}

/// No directive key reaches the result, whatever path the patch value takes.
#[test]
fn directives_never_reach_the_result() {
    run(
        vec![
            ok(
                "new key with nested directives",
                json!({}),
                json!({"retainKeysMap": {"$retainKeys": ["name"], "name": "a", "$setElementOrder/mergingList": [{"name": "x"}], "mergingList": [{"name": "x"}, {"name": "y", "$patch": "delete"}], "simpleMap": {"$patch": "delete"}}}),
                json!({"retainKeysMap": {"name": "a", "mergingList": [{"name": "x"}]}}),
            ),
            ok(
                "replaced list keeps its items without directive keys or nulls",
                json!({"nonMergingList": [{"name": 1}]}),
                json!({"nonMergingList": [{"name": 2, "$patch": "delete", "value": null}]}),
                json!({"nonMergingList": [{"name": 2}]}),
            ),
            ok(
                "appended merge-list items are cleaned",
                json!({"mergingList": [{"name": 1}]}),
                json!({"mergingList": [{"name": 2, "value": null, "simpleMap": {"$retainKeys": ["a"], "a": "b"}}]}),
                json!({"mergingList": [{"name": 2, "simpleMap": {"a": "b"}}, {"name": 1}]}),
            ),
            ok(
                "$patch: replace map is cleaned",
                json!({"simpleMap": {"a": "b"}}),
                json!({"simpleMap": {"$patch": "replace", "c": "d", "e": null}}),
                json!({"simpleMap": {"c": "d"}}),
            ),
            ok("a new key whose value is a $patch map is dropped", json!({}), json!({"simpleMap": {"$patch": "delete"}}), json!({})),
        ],
        merge_item,
    );
}

#[test]
fn hostile_nesting_is_an_error_not_a_stack_overflow() {
    let mut patch = json!({"name": "x"});
    for _ in 0..200 {
        patch = json!({"mergingList": [patch]});
        patch["mergingList"][0]["name"] = json!("x");
    }
    let err = merge_item(&json!({}), &patch).expect_err("too deep");
    assert!(err.is_bad_request(), "{err:?}");

    let mut fine = json!({"name": "x"});
    for _ in 0..20 {
        fine = json!({"name": "x", "mergingList": [fine]});
    }
    let got = merge_item(&fine, &fine).expect("20 levels are fine");
    assert_eq!(got, fine);
}

/// Arbitrary inputs built from directive-heavy pieces never panic.
#[test]
fn arbitrary_patches_never_panic() {
    let pieces = [
        json!(null),
        json!(1),
        json!(1.5),
        json!("s"),
        json!([]),
        json!({}),
        json!({"$patch": "delete"}),
        json!({"$patch": "replace"}),
        json!({"$patch": "merge"}),
        json!({"$patch": 1}),
        json!({"name": 1}),
        json!({"name": null}),
        json!({"name": {"a": 1}}),
        json!([{"name": 1}, {"name": 1, "$patch": "delete"}]),
        json!([1, 2, 2]),
        json!([null]),
        json!([[1]]),
        json!({"$retainKeys": ["name", 3, null]}),
        json!({"$retainKeys": "x"}),
    ];
    let keys = ["mergingList", "mergingIntList", "nonMergingList", "mergeItemPtr", "retainKeysMap", "replacingItem", "name", "$setElementOrder/mergingList", "$setElementOrder/mergingIntList", "$deleteFromPrimitiveList/mergingIntList", "$retainKeys", "$patch"];
    // A small deterministic generator (xorshift), so failures reproduce.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    fn build(next: &mut dyn FnMut() -> u64, pieces: &[Value], keys: &[&str], depth: usize) -> Value {
        if depth == 0 || next() % 3 == 0 {
            return pieces[(next() % pieces.len() as u64) as usize].clone();
        }
        if next() % 2 == 0 {
            let n = next() % 4;
            Value::Array((0..n).map(|_| build(next, pieces, keys, depth - 1)).collect())
        } else {
            let mut m = serde_json::Map::new();
            for _ in 0..(next() % 4) {
                let k = keys[(next() % keys.len() as u64) as usize];
                m.insert(k.to_string(), build(next, pieces, keys, depth - 1));
            }
            Value::Object(m)
        }
    }
    for _ in 0..5000 {
        let original = build(&mut next, &pieces, &keys, 4);
        let patch = build(&mut next, &pieces, &keys, 4);
        let original = if original.is_object() { original } else { json!({"mergingList": original}) };
        if let Ok(result) = merge_item(&original, &patch) {
            let text = result.to_string();
            assert!(!text.contains("\"$retainKeys\"") && !text.contains("$setElementOrder/"), "{patch} -> {text}");
        }
        let _ = super::apply_strategic_merge_patch("v1", "Pod", &original, &patch);
    }
}
