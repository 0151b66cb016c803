//! `$(VAR)` expansion: the cases of Kubernetes' `third_party/forked/golang/expansion`
//! test table, rewritten, against one mapping and against two stacked mappings.

use std::collections::HashMap;

use agent::container_config::expansion::{Lookup, expand, mapping_for};

fn context(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const CASES: &[(&str, &str, &str)] = &[
    ("whole string", "$(VAR_A)", "A"),
    ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
    ("beginning", "$(VAR_A)-1", "A-1"),
    ("middle", "___$(VAR_B)___", "___B___"),
    ("end", "___$(VAR_C)", "___C"),
    ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
    ("escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    ("compound escape", "$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
    ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
    ("backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
    ("backslash escape ignored twice", "foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
    ("lots of backslashes", "foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"),
    ("nested var references", "$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
    ("nested var references second type", "$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
    ("value is a reference", "$(VAR_REF)", "$(VAR_A)"),
    ("value is a reference x 2", "%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
    ("empty var", "foo$(VAR_EMPTY)bar", "foobar"),
    ("unterminated expression", "foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
    ("expression without operator", "f00__(VAR_A)__", "f00__(VAR_A)__"),
    ("shell special vars pass through", "$?_boo_$!", "$?_boo_$!"),
    ("bare operators are ignored", "$VAR_A", "$VAR_A"),
    ("undefined vars are passed through", "$(VAR_DNE)", "$(VAR_DNE)"),
    ("multiple (even) operators, var undefined", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
    ("multiple (even) operators, var defined", "$$$$$$(VAR_A)", "$$$(VAR_A)"),
    ("multiple (odd) operators, var undefined", "$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
    ("multiple (odd) operators, var defined", "$$$$$$$(VAR_A)", "$$$A"),
    ("missing open expression", "$VAR_A)", "$VAR_A)"),
    ("shell syntax ignored", "${VAR_A}", "${VAR_A}"),
    ("trailing incomplete expression not consumed", "$(VAR_B)_______$(A", "B_______$(A"),
    ("trailing incomplete expression, no content, is not consumed", "$(VAR_C)_______$(", "C_______$("),
    ("operator at end of input string is preserved", "$(VAR_A)foobarzab$", "Afoobarzab$"),
    ("shell escaped incomplete expr", "foo-\\$(VAR_A", "foo-\\$(VAR_A"),
    ("lots of $( in middle", "--$($($($($--", "--$($($($($--"),
    ("lots of $( in beginning", "$($($($($--foo$(", "$($($($($--foo$("),
    ("lots of $( at end", "foo0--$($($($(", "foo0--$($($($("),
    ("escaped operators in variable names are not escaped", "$(foo$$var)", "$(foo$$var)"),
    ("newline not expanded", "\n", "\n"),
    // Beyond the upstream table: multi-byte characters around operators stay intact.
    ("unicode after operator", "$é-$(VAR_A)-ü", "$é-A-ü"),
    ("empty input", "", ""),
    ("lone operator", "$", "$"),
];

fn run_cases(mapping: impl Fn(&str) -> Option<String>) {
    for (name, input, expected) in CASES {
        assert_eq!(expand(input, &mapping), *expected, "case {name:?}: input {input:?}");
    }
}

#[test]
fn mapping_single_context() {
    let ctx = context(&[("VAR_A", "A"), ("VAR_B", "B"), ("VAR_C", "C"), ("VAR_REF", "$(VAR_A)"), ("VAR_EMPTY", "")]);
    let contexts: [&dyn Lookup; 1] = [&ctx];
    run_cases(mapping_for(&contexts));
}

#[test]
fn mapping_dual_context() {
    let first = context(&[("VAR_A", "A"), ("VAR_EMPTY", "")]);
    let second = context(&[("VAR_B", "B"), ("VAR_C", "C"), ("VAR_REF", "$(VAR_A)")]);
    let contexts: [&dyn Lookup; 2] = [&first, &second];
    run_cases(mapping_for(&contexts));
}

#[test]
fn earlier_context_wins() {
    let first = context(&[("X", "first")]);
    let second = context(&[("X", "second"), ("Y", "y")]);
    let contexts: [&dyn Lookup; 2] = [&first, &second];
    assert_eq!(expand("$(X)/$(Y)", mapping_for(&contexts)), "first/y");
}

/// `TestMapReference`: each declared value expands against those declared before it.
#[test]
fn map_reference_chain() {
    let mut declared = context(&[("FOO", "bar"), ("ZOO", "$(FOO)-1"), ("BLU", "$(ZOO)-2")]);
    for (name, value) in [("FOO", "bar"), ("ZOO", "$(FOO)-1"), ("BLU", "$(ZOO)-2")] {
        let snapshot = declared.clone();
        let contexts: [&dyn Lookup; 1] = [&snapshot];
        declared.insert(name.to_string(), expand(value, mapping_for(&contexts)));
    }
    assert_eq!(declared, context(&[("FOO", "bar"), ("ZOO", "bar-1"), ("BLU", "bar-1-2")]));
}
