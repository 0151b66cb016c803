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
            ok(
                "unique scalars when merging lists",
                json!({"mergingIntList": [1, 2]}),
                json!({"mergingIntList": [2, 3]}),
                json!({"mergingIntList": [1, 2, 3]}),
            ),
            ok(
                "delete map from nested map",
                json!({"simpleMap": {"key1": 1, "key2": 1}}),
                json!({"simpleMap": {"$patch": "delete"}}),
                json!({"simpleMap": {}}),
            ),
            ok(
                "delete all items from merging list",
                json!({"mergingList": [{"name": 1}, {"name": 2}]}),
                json!({"mergingList": [{"$patch": "replace"}]}),
                json!({"mergingList": []}),
            ),
            ok(
                "merge empty merging lists",
                json!({"mergingList": []}),
                json!({"mergingList": []}),
                json!({"mergingList": []}),
            ),
            ok("delete all keys from map", json!({"name": 1, "value": 1}), json!({"$patch": "replace"}), json!({})),
            ok(
                "add key and delete all keys from map",
                json!({"name": 1, "value": 1}),
                json!({"other": "a", "$patch": "replace"}),
                json!({"other": "a"}),
            ),
            ok(
                "delete all duplicate entries in a merging list",
                json!({"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}),
                json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}),
                json!({"mergingList": [{"name": 2, "value": "a"}]}),
            ),
            ok("null deletes a key", json!({"name": 1, "value": 1}), json!({"value": null}), json!({"name": 1})),
            ok(
                "null for a missing key leaves nothing behind",
                json!({"name": 1}),
                json!({"value": null}),
                json!({"name": 1}),
            ),
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
            ok(
                "a patch list for a missing key is taken as is",
                json!({}),
                json!({"mergingIntList": [2, 1, 2]}),
                json!({"mergingIntList": [2, 1, 2]}),
            ),
            ok(
                "a scalar replaces a map",
                json!({"simpleMap": {"a": "b"}}),
                json!({"simpleMap": "x"}),
                json!({"simpleMap": "x"}),
            ),
            ok(
                "floats and integers are different types",
                json!({"mergingIntList": [1]}),
                json!({"mergingIntList": [1]}),
                json!({"mergingIntList": [1]}),
            ),
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
            fails(
                "unknown $patch value",
                json!({"simpleMap": {"a": "b"}}),
                json!({"simpleMap": {"$patch": "frob"}}),
                500,
                "unknown patch type: frob",
            ),
            fails(
                "lists of lists",
                json!({"mergingIntList": [[1]]}),
                json!({"mergingIntList": [[2]]}),
                422,
                "the server rejected our request",
            ),
            fails(
                "mixed element types",
                json!({"mergingIntList": [1, 2]}),
                json!({"mergingIntList": ["a"]}),
                500,
                "list element types are not identical: [[1 2] [a]]",
            ),
            fails(
                "null list items",
                json!({"mergingIntList": [1]}),
                json!({"mergingIntList": [null]}),
                500,
                "list element types are not identical",
            ),
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
            fails(
                "$retainKeys not a list",
                json!({}),
                json!({"$retainKeys": "name"}),
                400,
                "invalid patch format of retainKeys",
            ),
            fails(
                "$setElementOrder without a field",
                json!({}),
                json!({"$setElementOrder": []}),
                400,
                "invalid patch format of setElementOrder list",
            ),
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
            fails(
                "$setElementOrder of empty lists",
                json!({"mergingIntList": []}),
                json!({"$setElementOrder/mergingIntList": []}),
                500,
                "no elements in any of the given slices",
            ),
            fails(
                "unknown directive key",
                json!({}),
                json!({"spec": {"$frobnicate": 1}}),
                400,
                "unknown strategic merge patch directive \"$frobnicate\"",
            ),
            fails(
                "a patch that is not an object",
                json!({}),
                json!([1]),
                400,
                "json: cannot unmarshal array into Go value of type map[string]interface {}",
            ),
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
            ok(
                "a new key whose value is a $patch map is dropped",
                json!({}),
                json!({"simpleMap": {"$patch": "delete"}}),
                json!({}),
            ),
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
    let keys = [
        "mergingList",
        "mergingIntList",
        "nonMergingList",
        "mergeItemPtr",
        "retainKeysMap",
        "replacingItem",
        "name",
        "$setElementOrder/mergingList",
        "$setElementOrder/mergingIntList",
        "$deleteFromPrimitiveList/mergingIntList",
        "$retainKeys",
        "$patch",
    ];
    // A small deterministic generator (xorshift), so failures reproduce.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    fn build(next: &mut dyn FnMut() -> u64, pieces: &[Value], keys: &[&str], depth: usize) -> Value {
        if depth == 0 || next().is_multiple_of(3) {
            return pieces[(next() % pieces.len() as u64) as usize].clone();
        }
        if next().is_multiple_of(2) {
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
        let clean_original = !original.to_string().contains('$');
        if let (true, Ok(result)) = (clean_original, merge_item(&original, &patch)) {
            let text = result.to_string();
            assert!(!text.contains("\"$retainKeys\"") && !text.contains("$setElementOrder/"), "{patch} -> {text}");
        }
        let _ = super::apply_strategic_merge_patch("v1", "Pod", &original, &patch);
    }
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "busybox", "namespace": "default", "labels": {"run": "busybox"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                     "finalizers": ["a/one", "a/two"],
                     "ownerReferences": [{"uid": "u1", "name": "rs1", "kind": "ReplicaSet", "apiVersion": "apps/v1"}]},
        "spec": {
            "containers": [{"name": "busybox", "image": "busybox:1.35", "args": ["sleep", "3600"], "command": ["sh"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
            "tolerations": [{"key": "k1", "operator": "Exists"}],
            "volumes": [{"name": "data", "emptyDir": {}}]
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}]}
    })
}

/// `base` with the value at `pointer` set (the last path segment may be new).
fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    let last = last.replace("~1", "/").replace("~0", "~");
    match base.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(last, value);
        }
        Some(Value::Array(items)) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => items[i] = value,
            _ => items.push(value),
        },
        _ => panic!("no parent at {pointer}"),
    }
    base
}

/// The patches kubectl really sends, against Kubernetes kinds.
#[test]
fn kubectl_patches_on_pods() {
    let p = pod();
    run(
        vec![
            ok(
                "apply: image changed and label added",
                p.clone(),
                json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":1}\n"}, "labels": {"app": "demo"}},
                       "spec": {"$setElementOrder/containers": [{"name": "busybox"}], "containers": [{"image": "busybox:1.36", "name": "busybox"}]}}),
                {
                    let v = with(
                        p.clone(),
                        "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
                        json!("{\"new\":1}\n"),
                    );
                    let v = with(v, "/metadata/labels", json!({"run": "busybox", "app": "demo"}));
                    with(v, "/spec/containers/0/image", json!("busybox:1.36"))
                },
            ),
            ok(
                "apply: fields removed from the file come as nulls",
                p.clone(),
                json!({"spec": {"$setElementOrder/containers": [{"name": "busybox"}], "containers": [{"args": null, "command": null, "name": "busybox"}]}}),
                with(
                    p.clone(),
                    "/spec/containers/0",
                    json!({"name": "busybox", "image": "busybox:1.35", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                           "ports": [{"containerPort": 80, "protocol": "TCP"}]}),
                ),
            ),
            ok(
                "apply: a second container added before the first",
                p.clone(),
                json!({"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "busybox"}],
                                "containers": [{"image": "envoy", "name": "sidecar", "args": null}]}}),
                with(p.clone(), "/spec/containers", {
                    let mut list = vec![json!({"name": "sidecar", "image": "envoy"})];
                    list.extend(p["spec"]["containers"].as_array().cloned().unwrap_or_default());
                    Value::Array(list)
                }),
            ),
            ok(
                "apply: a container removed",
                with(p.clone(), "/spec/containers/1", json!({"name": "x"})),
                json!({"spec": {"$setElementOrder/containers": [{"name": "busybox"}], "containers": [{"$patch": "delete", "name": "x"}]}}),
                p.clone(),
            ),
            ok(
                "env merges by name, ports by containerPort",
                p.clone(),
                json!({"spec": {"containers": [{"name": "busybox",
                    "$setElementOrder/env": [{"name": "A"}, {"name": "C"}, {"name": "B"}],
                    "env": [{"name": "A", "value": "x"}, {"name": "C", "value": "3"}],
                    "ports": [{"containerPort": 443}]}]}}),
                {
                    let v = with(
                        p.clone(),
                        "/spec/containers/0/env",
                        json!([{"name": "A", "value": "x"}, {"name": "C", "value": "3"}, {"name": "B", "value": "2"}]),
                    );
                    with(
                        v,
                        "/spec/containers/0/ports",
                        json!([{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}]),
                    )
                },
            ),
            ok(
                "tolerations carry no strategy: replaced whole",
                p.clone(),
                json!({"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}}),
                with(p.clone(), "/spec/tolerations", json!([{"key": "k2", "operator": "Exists"}])),
            ),
            ok(
                "finalizers: set union, and $deleteFromPrimitiveList",
                p.clone(),
                json!({"metadata": {"finalizers": ["a/three", "a/one"], "$deleteFromPrimitiveList/finalizers": ["a/two"]}}),
                with(p.clone(), "/metadata/finalizers", json!(["a/three", "a/one"])),
            ),
            ok(
                "ownerReferences merge by uid",
                p.clone(),
                json!({"metadata": {"ownerReferences": [{"uid": "u1", "controller": true}, {"uid": "u2", "name": "rs2", "kind": "ReplicaSet", "apiVersion": "apps/v1"}]}}),
                with(
                    p.clone(),
                    "/metadata/ownerReferences",
                    json!([
                    {"uid": "u1", "name": "rs1", "kind": "ReplicaSet", "apiVersion": "apps/v1", "controller": true},
                    {"uid": "u2", "name": "rs2", "kind": "ReplicaSet", "apiVersion": "apps/v1"}]),
                ),
            ),
            ok(
                "status conditions merge by type (kubelet status patch)",
                p.clone(),
                json!({"status": {"$setElementOrder/conditions": [{"type": "Initialized"}, {"type": "Ready"}, {"type": "PodScheduled"}],
                                  "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}, {"type": "PodScheduled", "status": "True"}]}}),
                with(
                    p.clone(),
                    "/status/conditions",
                    json!([
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                    {"type": "PodScheduled", "status": "True"}]),
                ),
            ),
            ok(
                "volumes: $retainKeys switches the volume source",
                p.clone(),
                json!({"spec": {"$setElementOrder/volumes": [{"name": "data"}],
                                "volumes": [{"$retainKeys": ["hostPath", "name"], "emptyDir": null, "hostPath": {"path": "/data"}, "name": "data"}]}}),
                with(p.clone(), "/spec/volumes", json!([{"name": "data", "hostPath": {"path": "/data"}}])),
            ),
            ok(
                "kubectl label/annotate: metadata only, null removes",
                p.clone(),
                json!({"metadata": {"labels": {"run": null, "tier": "fe"}, "annotations": {"note": "x"}}}),
                {
                    let v = with(p.clone(), "/metadata/labels", json!({"tier": "fe"}));
                    with(v, "/metadata/annotations/note", json!("x"))
                },
            ),
            fails(
                "a container without its name",
                p.clone(),
                json!({"spec": {"containers": [{"image": "x"}]}}),
                500,
                "map: map[image:x] does not contain declared merge key: name",
            ),
        ],
        |o, patch| super::apply_strategic_merge_patch("v1", "Pod", o, patch),
    );
}

#[test]
fn kubectl_patches_on_deployments_and_other_kinds() {
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "generation": 1},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
        "status": {"conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}]}
    });
    run(
        vec![
            ok(
                "apply: replicas and image",
                d.clone(),
                json!({"spec": {"replicas": 4, "template": {"spec": {"$setElementOrder/containers": [{"name": "nginx"}], "containers": [{"image": "nginx:1.28", "name": "nginx"}]}}}}),
                with(
                    with(d.clone(), "/spec/replicas", json!(4)),
                    "/spec/template/spec/containers/0/image",
                    json!("nginx:1.28"),
                ),
            ),
            ok(
                "kubectl set image",
                d.clone(),
                json!({"spec": {"template": {"spec": {"containers": [{"image": "nginx:2", "name": "nginx"}]}}}}),
                with(d.clone(), "/spec/template/spec/containers/0/image", json!("nginx:2")),
            ),
            ok(
                "kubectl rollout restart",
                d.clone(),
                json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}}),
                with(
                    d.clone(),
                    "/spec/template/metadata/annotations",
                    json!({"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}),
                ),
            ),
            ok(
                "strategy switched to Recreate with $retainKeys",
                d.clone(),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
                with(d.clone(), "/spec/strategy", json!({"type": "Recreate"})),
            ),
            ok(
                "status conditions merge by type",
                d.clone(),
                json!({"status": {"conditions": [{"type": "Progressing", "status": "False"}]}}),
                with(
                    d.clone(),
                    "/status/conditions",
                    json!([{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "False"}]),
                ),
            ),
        ],
        |o, patch| super::apply_strategic_merge_patch("apps/v1", "Deployment", o, patch),
    );

    let svc =
        json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}});
    let got = super::apply_strategic_merge_patch(
        "v1",
        "Service",
        &svc,
        &json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}}),
    )
    .expect("service patch");
    assert_eq!(got["spec"]["ports"], json!([{"port": 80, "targetPort": 9090, "protocol": "TCP"}, {"port": 443}]));

    let node = json!({"metadata": {"name": "n"}, "spec": {"podCIDRs": ["10.0.0.0/24"], "taints": [{"key": "a", "effect": "NoSchedule"}]},
                      "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n"}]}});
    let got = super::apply_strategic_merge_patch(
        "v1",
        "Node",
        &node,
        &json!({"spec": {"podCIDRs": ["fd00::/64"], "taints": []}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}),
    )
    .expect("node patch");
    assert_eq!(got["spec"]["podCIDRs"], json!(["fd00::/64", "10.0.0.0/24"]));
    assert_eq!(got["spec"]["taints"], json!([]));
    assert_eq!(
        got["status"]["addresses"],
        json!([{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n"}])
    );

    let sa = json!({"metadata": {"name": "default"}, "secrets": [{"name": "a"}]});
    let got = super::apply_strategic_merge_patch("v1", "ServiceAccount", &sa, &json!({"secrets": [{"name": "b"}]}))
        .expect("sa");
    assert_eq!(got["secrets"], json!([{"name": "b"}, {"name": "a"}]));

    let scale =
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    let got = super::apply_strategic_merge_patch("autoscaling/v1", "Scale", &scale, &json!({"spec": {"replicas": 5}}))
        .expect("scale");
    assert_eq!(got["spec"]["replicas"], json!(5));

    let err = super::apply_strategic_merge_patch("example.com/v1", "Widget", &json!({}), &json!({}))
        .expect_err("unsupported");
    assert_eq!(err, PatchError::BadRequest("strategic merge patch format is not supported".into()));
}
