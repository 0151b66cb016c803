//! Table-driven tests of the selector module's public API against apimachinery's behaviour:
//! label grammar and its error messages, `metav1.LabelSelector` conversion, matching, the
//! canonical string forms, field selector escaping and the per-resource field sets.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::ResourceInfo;
use crate::resources;

const NAME_PART_REGEX: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_REGEX: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn resource(group: &str, plural: &str) -> &'static ResourceInfo {
    resources::all()
        .iter()
        .find(|r| r.group == group && r.plural == plural)
        .unwrap_or_else(|| panic!("resource {group}/{plural} is not served"))
}

// ---- label selectors: grammar -------------------------------------------------------------

#[test]
fn label_parse_canonical_form() {
    let cases = [
        ("", ""),
        ("x=a", "x=a"),
        ("x==a", "x==a"),
        ("x!=a", "x!=a"),
        ("x", "x"),
        ("!x", "!x"),
        ("x in (a,b)", "x in (a,b)"),
        ("x in (b,a,b)", "x in (a,b)"),
        ("x notin (a)", "x notin (a)"),
        ("x in(a)", "x in (a)"),
        ("x>1", "x>1"),
        ("x<5", "x<5"),
        ("b=1,a=2", "a=2,b=1"),
        ("  x  =  a ,\ty in ( b , c )\n", "x=a,y in (b,c)"),
        ("x=", "x="),
        ("x==", "x=="),
        ("x!=", "x!="),
        ("x=,y", "x=,y"),
        ("x in ()", "x in ()"),
        ("x in (,)", "x in ()"),
        ("x in (a,,b)", "x in (,a,b)"),
        ("x in (,a)", "x in (,a)"),
        ("x in (a,)", "x in (,a)"),
        ("x in (in,notin)", "x in (in,notin)"),
        ("in=notin", "in=notin"),
        ("in", "in"),
        ("!notin", "!notin"),
        ("notin notin (in)", "notin notin (in)"),
        ("example.com/app=web", "example.com/app=web"),
        ("app.kubernetes.io/name in (nginx)", "app.kubernetes.io/name in (nginx)"),
        ("a==b,a!=c", "a==b,a!=c"),
        ("x=a,x=b", "x=a,x=b"),
        ("z,!y,x=1,w in (q),v notin (r),u>3", "u>3,v notin (r),w in (q),x=1,!y,z"),
        ("run=busybox", "run=busybox"),
        ("kubernetes.io/cluster-service=true", "kubernetes.io/cluster-service=true"),
        ("x=a \u{0}garbage", "x=a"),
    ];
    for (input, want) in cases {
        let selector = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
        assert_eq!(selector.to_string(), want, "input {input:?}");
        assert_eq!(selector.is_empty(), want.is_empty(), "input {input:?}");
    }
}

#[test]
fn label_parse_operators_and_values() {
    let cases: &[(&str, &str, Operator, &[&str])] = &[
        ("a=b", "a", Operator::Equals, &["b"]),
        ("a==b", "a", Operator::DoubleEquals, &["b"]),
        ("a!=b", "a", Operator::NotEquals, &["b"]),
        ("a in (c,b)", "a", Operator::In, &["b", "c"]),
        ("a notin (b)", "a", Operator::NotIn, &["b"]),
        ("a", "a", Operator::Exists, &[]),
        ("!a", "a", Operator::DoesNotExist, &[]),
        ("a>10", "a", Operator::GreaterThan, &["10"]),
        ("a<7", "a", Operator::LessThan, &["7"]),
        ("a=", "a", Operator::Equals, &[""]),
        ("a in ()", "a", Operator::In, &[""]),
    ];
    for (input, key, operator, values) in cases {
        let selector = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let [r] = selector.requirements() else { panic!("{input:?}: one requirement expected") };
        assert_eq!(r.key(), *key, "{input:?}");
        assert_eq!(r.operator(), *operator, "{input:?}");
        assert_eq!(r.values(), *values, "{input:?}");
    }
}

#[test]
fn label_parse_errors_match_apimachinery() {
    let cases: Vec<(&str, String)> = vec![
        (",", "found ',', expected: !, identifier, or 'end of string'".into()),
        ("=a", "found '=', expected: !, identifier, or 'end of string'".into()),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'".into()),
        (")", "found ')', expected: !, identifier, or 'end of string'".into()),
        ("x=a,", "found '', expected: identifier after ','".into()),
        ("x=a,,y", "found ',', expected: identifier after ','".into()),
        ("x=a,=b", "found '=', expected: identifier after ','".into()),
        ("x=a b", "found 'b', expected: ',' or 'end of string'".into()),
        ("x=a)", "found ')', expected: ',' or 'end of string'".into()),
        ("!x=a", "found '=', expected: ',' or 'end of string'".into()),
        ("x a", "unable to parse requirement: found 'a', expected: in, notin, =, ==, !=, gt, lt".into()),
        ("x (a)", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt".into()),
        ("x in a", "unable to parse requirement: found 'a' expected: '('".into()),
        ("x in", "unable to parse requirement: found '' expected: '('".into()),
        ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'".into()),
        ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'".into()),
        ("x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier".into()),
        ("x in (", "unable to parse requirement: found '', expected: ',', ')' or identifier".into()),
        ("x in (,=)", "unable to parse requirement: found '=', expected: ',', or identifier".into()),
        ("x=(", "unable to parse requirement: found '(', expected: identifier".into()),
        ("x===a", "unable to parse requirement: found '=', expected: identifier".into()),
        ("x<=5", "unable to parse requirement: found '=', expected: identifier".into()),
        ("!", "unable to parse requirement: found '', expected: identifier".into()),
        ("!!x", "unable to parse requirement: found '!', expected: identifier".into()),
        (
            "x>a",
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
                .into(),
        ),
        (
            "x>",
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer"
                .into(),
        ),
        (
            "x>99999999999999999999",
            "unable to parse requirement: values[0]: Invalid value: \"99999999999999999999\": for 'Gt', 'Lt' operators, the value must be an integer".into(),
        ),
        ("x>-1", format!("unable to parse requirement: values[0][x]: Invalid value: \"-1\": {LABEL_VALUE_REGEX}")),
        ("x=-a", format!("unable to parse requirement: values[0][x]: Invalid value: \"-a\": {LABEL_VALUE_REGEX}")),
        (
            "x in (ok,-bad)",
            format!("unable to parse requirement: values[0][x]: Invalid value: \"-bad\": {LABEL_VALUE_REGEX}"),
        ),
        ("-x=a", format!("unable to parse requirement: <nil>: Invalid value: \"-x\": {NAME_PART_REGEX}")),
        ("a/b/c", format!("unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')", NAME_PART_REGEX.trim_start_matches("name part "))),
        ("Example.com/a", "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into()),
        ("ké=v", format!("unable to parse requirement: <nil>: Invalid value: \"ké\": {NAME_PART_REGEX}")),
    ];
    for (input, want) in cases {
        match LabelSelector::parse(input) {
            Ok(s) => panic!("{input:?} should fail, parsed as {s}"),
            Err(e) => {
                assert!(matches!(e, SelectorError::InvalidLabelSelector(_)), "{input:?}: {e:?}");
                assert_eq!(e.to_string(), want, "input {input:?}");
            }
        }
    }
}

#[test]
fn label_cases_from_apimachinery_test_suite() {
    // Valid strings whose canonical form is the input without spaces (TestSelectorParse).
    for input in ["x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1", "x>1,z<5"] {
        let s = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(s.to_string(), input.replace(' ', ""), "{input:?}");
    }
    // Valid strings with their canonical forms (TestSetSelectorParser).
    let valid = [
        ("\rx", "x"),
        ("this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"),
        ("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)", "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"),
        ("foo  in\t (abc)", "foo in (abc)"),
        ("x notin\n (abc)", "x notin (abc)"),
        ("x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"),
        ("x,y in (a)", "x,y in (a)"),
        ("x notin ( )", "x notin ()"),
        ("x notin (, a)", "x notin (,a)"),
        ("a ", "a"),
        ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),
    ];
    for (input, want) in valid {
        let s = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(s.to_string(), want, "{input:?}");
    }
    let invalid = [
        "x=a||y=b",
        "x==a==b",
        "!x=a",
        "x<a",
        "x,,y",
        ",x,y",
        "x nott in (y)",
        "a in (xyz),",
        "a in (xyz)b notin ()",
        "a in (xyz abc)",
        "a notin(",
        "a (",
        "(",
    ];
    for input in invalid {
        assert!(LabelSelector::parse(input).is_err(), "{input:?} should be rejected");
    }
}

#[test]
fn label_key_length_limits() {
    let ok = format!("{}={}", "k".repeat(63), "v".repeat(63));
    assert!(LabelSelector::parse(&ok).is_ok());
    let long_key = format!("{}=v", "k".repeat(64));
    assert_eq!(
        LabelSelector::parse(&long_key).map_err(|e| e.to_string()),
        Err(format!(
            "unable to parse requirement: <nil>: Invalid value: \"{}\": name part must be no more than 63 characters",
            "k".repeat(64)
        ))
    );
    let long_value = format!("x={}", "v".repeat(64));
    assert_eq!(
        LabelSelector::parse(&long_value).map_err(|e| e.to_string()),
        Err(format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"{}\": must be no more than 63 characters",
            "v".repeat(64)
        ))
    );
    let prefixed = format!("{}/{}=v", "p".repeat(253), "n".repeat(63));
    assert!(LabelSelector::parse(&prefixed).is_ok());
}

// ---- label selectors: metav1.LabelSelector ----------------------------------------------------

#[test]
fn label_from_json_converts_like_label_selector_as_selector() {
    let cases = [
        (json!({}), ""),
        (json!({"matchLabels": {}, "matchExpressions": []}), ""),
        (json!({"matchLabels": null, "matchExpressions": null}), ""),
        (json!({"matchLabels": {"app": "web"}}), "app=web"),
        (
            json!({
                "matchLabels": {"b": "2", "a": "1"},
                "matchExpressions": [
                    {"key": "c", "operator": "In", "values": ["y", "x"]},
                    {"key": "d", "operator": "DoesNotExist"},
                    {"key": "e", "operator": "Exists", "values": null},
                    {"key": "f", "operator": "NotIn", "values": ["z"]}
                ]
            }),
            "a=1,b=2,c in (x,y),!d,e,f notin (z)",
        ),
        (json!({"matchLabels": {"app": ""}}), "app="),
        (json!({"matchLabels": {"app": "web"}, "unknownField": 1}), "app=web"),
    ];
    for (input, want) in cases {
        let selector = LabelSelector::from_json(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(selector.to_string(), want, "{input}");
        assert_eq!(selector.is_empty(), want.is_empty(), "{input}");
    }
    // In keeps the order given (Display sorts), Equals from matchLabels is Equals, not ==.
    let s =
        LabelSelector::from_json(&json!({"matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]}]}))
            .expect("valid");
    assert_eq!(s.requirements()[0].values(), ["y", "x"]);
    let s = LabelSelector::from_json(&json!({"matchLabels": {"a": "b"}})).expect("valid");
    assert_eq!(s.requirements()[0].operator(), Operator::Equals);
}

#[test]
fn label_from_json_errors() {
    let cases: Vec<(Value, String)> = vec![
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]}),
            r#""Foo" is not a valid label selector operator"#.into(),
        ),
        (json!({"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]}), r#""in" is not a valid label selector operator"#.into()),
        (json!({"matchExpressions": [{"key": "a"}]}), r#""" is not a valid label selector operator"#.into()),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]}),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x", "y"]}]}),
            r#"values: Invalid value: []string{"x", "y"}: values set must be empty for exists and does not exist"#.into(),
        ),
        (json!({"matchLabels": {"a b": "x"}}), format!("key: Invalid value: \"a b\": {NAME_PART_REGEX}")),
        (
            json!({"matchLabels": {"-a": "-b"}}),
            format!("[key: Invalid value: \"-a\": {NAME_PART_REGEX}, values[0][-a]: Invalid value: \"-b\": {LABEL_VALUE_REGEX}]"),
        ),
        (
            json!({"matchExpressions": [{"operator": "Exists"}]}),
            format!("key: Invalid value: \"\": name part must be non-empty; {NAME_PART_REGEX}"),
        ),
        (json!(null), "json: cannot unmarshal null into Go value of type v1.LabelSelector".into()),
        (json!("app=web"), "json: cannot unmarshal string into Go value of type v1.LabelSelector".into()),
        (
            json!({"matchLabels": {"a": 1}}),
            "json: cannot unmarshal number into Go struct field LabelSelector.matchLabels of type string".into(),
        ),
        (
            json!({"matchLabels": ["a"]}),
            "json: cannot unmarshal array into Go struct field LabelSelector.matchLabels of type map[string]string".into(),
        ),
        (
            json!({"matchExpressions": {"key": "a"}}),
            "json: cannot unmarshal object into Go struct field LabelSelector.matchExpressions of type []v1.LabelSelectorRequirement".into(),
        ),
        (
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}),
            "json: cannot unmarshal number into Go struct field LabelSelectorRequirement.values of type string".into(),
        ),
        (
            json!({"matchExpressions": ["a"]}),
            "json: cannot unmarshal string into Go value of type v1.LabelSelectorRequirement".into(),
        ),
    ];
    for (input, want) in cases {
        match LabelSelector::from_json(&input) {
            Ok(s) => panic!("{input} should fail, got {s}"),
            Err(e) => assert_eq!(e.to_string(), want, "{input}"),
        }
    }
}

#[test]
fn requirement_new_checks_value_counts() {
    let gt = Requirement::new("a", Operator::GreaterThan, vec!["1".into(), "2".into()]).map_err(|e| e.to_string());
    assert_eq!(
        gt,
        Err(r#"values: Invalid value: []string{"1", "2"}: for 'Gt', 'Lt' operators, exactly one value is required"#
            .into())
    );
    let eq = Requirement::new("a", Operator::Equals, vec![]).map_err(|e| e.to_string());
    assert_eq!(
        eq,
        Err("values: Invalid value: []string(nil): exact-match compatibility requires one single value".into())
    );
    let ok = Requirement::new("a", Operator::LessThan, vec!["-3".into()]);
    assert!(ok.is_err(), "-3 is an integer but not a label value");
    let ok = Requirement::new("a", Operator::In, vec!["x".into()]).expect("valid");
    assert_eq!(ok.to_string(), "a in (x)");
}

// ---- label selectors: matching ----------------------------------------------------------------

#[test]
fn label_matching() {
    let set = labels(&[("app", "web"), ("tier", "fe"), ("n", "5"), ("empty", "")]);
    let cases = [
        ("", true),
        ("app=web", true),
        ("app==web", true),
        ("app=db", false),
        ("missing=x", false),
        ("missing=", false),
        ("empty=", true),
        ("app!=db", true),
        ("app!=web", false),
        ("missing!=x", true),
        ("app in (web,db)", true),
        ("app in (db)", false),
        ("missing in (x)", false),
        ("app notin (web)", false),
        ("app notin (db)", true),
        ("missing notin (x)", true),
        ("empty in ()", true),
        ("app in ()", false),
        ("app", true),
        ("missing", false),
        ("!app", false),
        ("!missing", true),
        ("n>4", true),
        ("n>5", false),
        ("n<6", true),
        ("n<5", false),
        ("app>1", false),
        ("missing>1", false),
        ("missing<1", false),
        ("app=web,tier=fe", true),
        ("app=web,tier=be", false),
        ("app,!missing,n>1,tier notin (be)", true),
    ];
    for (selector, want) in cases {
        let s = LabelSelector::parse(selector).unwrap_or_else(|e| panic!("{selector:?}: {e}"));
        assert_eq!(s.matches(&set), want, "{selector:?} on map");
        let as_json = serde_json::to_value(&set).expect("labels serialize");
        assert_eq!(s.matches_json(Some(&as_json)), want, "{selector:?} on json");
    }
}

#[test]
fn label_matching_json_edge_cases() {
    let exists = LabelSelector::parse("app").expect("valid");
    let absent = LabelSelector::parse("!app").expect("valid");
    let not_in = LabelSelector::parse("app notin (web)").expect("valid");
    for no_labels in [None, Some(&Value::Null), Some(&json!("garbage")), Some(&json!({}))] {
        assert!(!exists.matches_json(no_labels), "{no_labels:?}");
        assert!(absent.matches_json(no_labels), "{no_labels:?}");
        assert!(not_in.matches_json(no_labels), "{no_labels:?}");
        assert!(LabelSelector::everything().matches_json(no_labels));
    }
    // A non-string label value (invalid in Kubernetes) counts as absent rather than panicking.
    assert!(!exists.matches_json(Some(&json!({"app": 1}))));
    assert!(exists.matches_json(Some(&json!({"app": "x"}))));
}

#[test]
fn label_requires_exact_match() {
    let s = LabelSelector::parse("a=1,b==2,c in (3),d in (4,5),e!=6,f").expect("valid");
    assert_eq!(s.requires_exact_match("a"), Some("1"));
    assert_eq!(s.requires_exact_match("b"), Some("2"));
    assert_eq!(s.requires_exact_match("c"), Some("3"));
    assert_eq!(s.requires_exact_match("d"), None);
    assert_eq!(s.requires_exact_match("e"), None);
    assert_eq!(s.requires_exact_match("f"), None);
    assert_eq!(s.requires_exact_match("g"), None);
}

#[test]
fn label_everything() {
    let s = LabelSelector::everything();
    assert!(s.is_empty());
    assert_eq!(s.to_string(), "");
    assert!(s.matches(&BTreeMap::new()));
    assert_eq!(s, LabelSelector::parse("").expect("empty parses"));
}

// ---- field selectors: syntax ------------------------------------------------------------------

#[test]
fn field_parse_canonical_form() {
    let cases = [
        ("", ""),
        (",", ""),
        (",,", ""),
        ("metadata.name=foo", "metadata.name=foo"),
        ("metadata.name==foo", "metadata.name=foo"),
        ("spec.nodeName!=", "spec.nodeName!="),
        ("spec.nodeName=", "spec.nodeName="),
        ("b=1,a=2", "a=2,b=1"),
        ("a=x\\,y", "a=x\\,y"),
        ("a=x\\=y", "a=x\\=y"),
        ("a=x\\\\y", "a=x\\\\y"),
        ("a=!b", "a=!b"),
        ("a!=b", "a!=b"),
        ("a=b,,c=d", "a=b,c=d"),
        (
            "involvedObject.uid=u,involvedObject.name=busybox,involvedObject.namespace=default",
            "involvedObject.name=busybox,involvedObject.namespace=default,involvedObject.uid=u",
        ),
    ];
    for (input, want) in cases {
        let s = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(s.to_string(), want, "{input:?}");
        assert_eq!(s.is_empty(), want.is_empty(), "{input:?}");
    }
}

#[test]
fn field_cases_from_apimachinery_test_suite() {
    // TestSelectorParse: these print back unchanged.
    for input in ["x=a,y=b,z=c", "", "x!=a,y=b", r"x=a||y\=b", r"x=a\=\=b"] {
        let s = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(s.to_string(), input, "{input:?}");
    }
    for input in ["x=a||y=b", "x==a==b", "x=a,b", "x in (a)", "x in (a,b,c)", "x"] {
        assert!(FieldSelector::parse(input).is_err(), "{input:?} should be rejected");
    }
    // Multi-byte field names and values split on the operator, not inside a character.
    let s = FieldSelector::parse("함=수").expect("valid");
    assert_eq!(s.to_string(), "함=수");
    assert_eq!(s.exact_value("함"), Some("수"));
}

#[test]
fn field_parse_errors() {
    let cases = [
        ("abc", "invalid selector: 'abc'; can't understand 'abc'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a!b", "invalid selector: 'a!b'; can't understand 'a!b'"),
        ("a=x\\y", "invalid field selector: invalid escape sequence: \\y"),
        ("a=x\\!", "invalid field selector: invalid escape sequence: \\!"),
        ("a=x\\", "invalid field selector: invalid escape sequence: \\"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("a!==b", "invalid field selector: unescaped character in value: 61"),
        ("a===b", "invalid field selector: unescaped character in value: 61"),
    ];
    for (input, want) in cases {
        match FieldSelector::parse(input) {
            Ok(s) => panic!("{input:?} should fail, got {s}"),
            Err(e) => assert_eq!(e.to_string(), want, "{input:?}"),
        }
    }
}

#[test]
fn field_exact_value() {
    let s = FieldSelector::parse("metadata.name==foo,spec.nodeName!=n1,a=x\\,y").expect("valid");
    assert_eq!(s.exact_value("metadata.name"), Some("foo"));
    assert_eq!(s.exact_value("spec.nodeName"), None);
    assert_eq!(s.exact_value("a"), Some("x,y"));
    assert_eq!(s.exact_value("metadata.namespace"), None);
    let both = FieldSelector::parse("metadata.name=b,metadata.name=a").expect("valid");
    assert_eq!(both.exact_value("metadata.name"), Some("a"), "first term in sorted order");
    assert_eq!(FieldSelector::everything().exact_value("metadata.name"), None);
}

// ---- field selectors: per-resource support ------------------------------------------------------

#[test]
fn supported_fields_per_resource() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "",
            "pods",
            &[
                "metadata.name",
                "metadata.namespace",
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
            ],
        ),
        ("", "nodes", &["metadata.name", "spec.unschedulable"]),
        ("", "namespaces", &["metadata.name", "status.phase"]),
        ("", "secrets", &["metadata.name", "metadata.namespace", "type"]),
        ("", "services", &["metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"]),
        ("", "configmaps", &["metadata.name", "metadata.namespace"]),
        ("", "endpoints", &["metadata.name", "metadata.namespace"]),
        ("", "serviceaccounts", &["metadata.name", "metadata.namespace"]),
        ("coordination.k8s.io", "leases", &["metadata.name", "metadata.namespace"]),
        ("apps", "deployments", &["metadata.name", "metadata.namespace"]),
        ("apps", "replicasets", &["metadata.name", "metadata.namespace"]),
    ];
    for (group, plural, want) in cases {
        let mut have = supported_fields(resource(group, plural)).to_vec();
        let mut want = want.to_vec();
        have.sort_unstable();
        want.sort_unstable();
        assert_eq!(have, want, "{group}/{plural}");
    }
    for group in ["", "events.k8s.io"] {
        let fields = supported_fields(resource(group, "events"));
        for f in [
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ] {
            assert!(fields.contains(&f), "{group} events: {f}");
        }
        assert_eq!(fields.len(), 13, "{group} events");
    }
    // Every served resource can be selected by name.
    for r in resources::all() {
        assert!(supported_fields(r).contains(&"metadata.name"), "{}", r.group_resource());
    }
}

#[test]
fn check_supported_errors_match_kube_apiserver() {
    let cases: &[(&str, &str, &str, Result<(), &str>)] = &[
        ("", "pods", "metadata.name=a,metadata.namespace=b,spec.nodeName=", Ok(())),
        ("", "pods", "spec.host=n1", Ok(())),
        ("", "pods", "status.podIPs=", Ok(())),
        ("", "pods", "spec.foo=bar", Err("field label not supported: spec.foo")),
        ("", "pods", "status.hostIP=1.2.3.4", Err("field label not supported: status.hostIP")),
        ("", "pods", "=x", Err("field label not supported: ")),
        ("", "pods", "z.bad=1,a.bad=2", Err("field label not supported: a.bad")),
        ("", "nodes", "metadata.name=n1,spec.unschedulable=true", Ok(())),
        ("", "nodes", "metadata.namespace=", Err("field label not supported: metadata.namespace")),
        ("", "namespaces", "status.phase=Active", Ok(())),
        ("", "namespaces", "metadata.namespace=x", Err("field label not supported: metadata.namespace")),
        ("", "namespaces", "name=x", Err("field label not supported: name")),
        ("", "secrets", "type=Opaque", Ok(())),
        ("", "secrets", "data.x=y", Err("field label not supported: data.x")),
        ("", "services", "spec.type=ClusterIP,spec.clusterIP=None", Ok(())),
        ("", "services", "spec.ports=1", Err("field label not supported: spec.ports")),
        ("", "events", "involvedObject.name=x,reason=y,type=Normal,source=s", Ok(())),
        ("", "events", "note=x", Err("field label not supported: note")),
        ("events.k8s.io", "events", "involvedObject.kind=Pod,reportingComponent=c", Ok(())),
        ("events.k8s.io", "events", "regarding.kind=Pod", Err("field label not supported: regarding.kind")),
        ("", "configmaps", "metadata.name=a,metadata.namespace=b", Ok(())),
        (
            "",
            "configmaps",
            "data.x=y",
            Err(r#""data.x" is not a known field selector: only "metadata.name", "metadata.namespace""#),
        ),
        (
            "apps",
            "replicasets",
            "status.replicas=0",
            Err(r#""status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace""#),
        ),
        (
            "apps",
            "deployments",
            "spec.replicas=1",
            Err(r#""spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace""#),
        ),
        ("coordination.k8s.io", "leases", "metadata.namespace=kube-node-lease", Ok(())),
        ("", "endpoints", "metadata.name=kubernetes", Ok(())),
        ("", "serviceaccounts", "metadata.name=default", Ok(())),
        ("", "pods", "", Ok(())),
    ];
    for (group, plural, selector, want) in cases {
        let s = FieldSelector::parse(selector).unwrap_or_else(|e| panic!("{selector:?}: {e}"));
        let have = s.check_supported(resource(group, plural)).map_err(|e| e.to_string());
        assert_eq!(have, want.map_err(str::to_string), "{group}/{plural} {selector:?}");
    }
}

// ---- field selectors: values and matching -------------------------------------------------------

fn bound_pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "a", "namespace": "default"},
        "spec": {
            "nodeName": "n1",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
            "hostNetwork": true
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
            "nominatedNodeName": "n2"
        }
    })
}

fn pending_pod() -> Value {
    json!({"metadata": {"name": "b", "namespace": "kube-system"}, "spec": {"containers": []}, "status": {"phase": "Pending"}})
}

#[test]
fn pod_field_values() {
    let pods = resource("", "pods");
    let pod = bound_pod();
    let cases = [
        ("metadata.name", "a"),
        ("metadata.namespace", "default"),
        ("spec.nodeName", "n1"),
        ("spec.host", "n1"),
        ("spec.restartPolicy", "Always"),
        ("spec.schedulerName", "default-scheduler"),
        ("spec.serviceAccountName", "default"),
        ("spec.hostNetwork", "true"),
        ("status.phase", "Running"),
        ("status.podIP", "10.0.0.1"),
        ("status.podIPs", ""),
        ("status.nominatedNodeName", "n2"),
    ];
    for (field, want) in cases {
        assert_eq!(field_value(pods, &pod, field).as_deref(), Some(want), "{field}");
    }
    let empty = pending_pod();
    assert_eq!(field_value(pods, &empty, "spec.nodeName").as_deref(), Some(""));
    assert_eq!(field_value(pods, &empty, "spec.hostNetwork").as_deref(), Some("false"));
    assert_eq!(field_value(pods, &empty, "status.podIP").as_deref(), Some(""));
    assert_eq!(field_value(pods, &empty, "spec.containers"), None);
    assert_eq!(field_value(pods, &json!(null), "metadata.name").as_deref(), Some(""));
    assert_eq!(field_value(pods, &json!("garbage"), "spec.hostNetwork").as_deref(), Some("false"));
    // podIP alone (podIPs not filled in) still counts, as conversion folds it into podIPs.
    let legacy = json!({"status": {"podIP": "10.0.0.9"}});
    assert_eq!(field_value(pods, &legacy, "status.podIP").as_deref(), Some("10.0.0.9"));
}

#[test]
fn pod_field_matching() {
    let pods = resource("", "pods");
    let (a, b) = (bound_pod(), pending_pod());
    let cases = [
        ("", true, true),
        ("spec.nodeName=", false, true),
        ("spec.nodeName!=", true, false),
        ("spec.nodeName=n1", true, false),
        ("spec.host=n1", true, false),
        ("spec.hostNetwork=true", true, false),
        ("spec.hostNetwork=false", false, true),
        ("status.podIP=10.0.0.1", true, false),
        ("status.podIPs=", true, true),
        ("status.podIPs=10.0.0.1", false, false),
        ("status.phase!=Running", false, true),
        ("status.phase=Running,status.phase=Pending", false, false),
        ("metadata.namespace=default,metadata.name=a", true, false),
        ("metadata.name==b", false, true),
        ("status.nominatedNodeName=n2", true, false),
        ("spec.restartPolicy=Always,spec.schedulerName=default-scheduler", true, false),
        ("spec.serviceAccountName=default", true, false),
        // Unsupported fields read as "" when matching (the apiserver refuses them earlier).
        ("spec.foo=", true, true),
        ("spec.foo=x", false, false),
    ];
    for (selector, want_a, want_b) in cases {
        let s = FieldSelector::parse(selector).unwrap_or_else(|e| panic!("{selector:?}: {e}"));
        assert_eq!(s.matches(pods, &a), want_a, "{selector:?} on bound pod");
        assert_eq!(s.matches(pods, &b), want_b, "{selector:?} on pending pod");
    }
}

#[test]
fn other_resource_field_values() {
    let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
    let nodes = resource("", "nodes");
    assert_eq!(field_value(nodes, &node, "spec.unschedulable").as_deref(), Some("true"));
    assert_eq!(
        field_value(nodes, &json!({"metadata": {"name": "n2"}}), "spec.unschedulable").as_deref(),
        Some("false")
    );
    assert_eq!(field_value(nodes, &node, "metadata.name").as_deref(), Some("n1"));
    assert_eq!(field_value(nodes, &node, "metadata.namespace"), None);
    assert!(FieldSelector::parse("spec.unschedulable=false").expect("valid").matches(nodes, &json!({})));

    let namespaces = resource("", "namespaces");
    let ns = json!({"metadata": {"name": "kube-system"}, "status": {"phase": "Terminating"}});
    assert_eq!(field_value(namespaces, &ns, "status.phase").as_deref(), Some("Terminating"));
    assert!(
        FieldSelector::parse("status.phase=Terminating,metadata.name=kube-system")
            .expect("valid")
            .matches(namespaces, &ns)
    );

    let secrets = resource("", "secrets");
    let secret = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "kubernetes.io/service-account-token"});
    assert_eq!(field_value(secrets, &secret, "type").as_deref(), Some("kubernetes.io/service-account-token"));
    assert!(FieldSelector::parse("type=kubernetes.io/service-account-token").expect("valid").matches(secrets, &secret));
    assert!(!FieldSelector::parse("type=Opaque").expect("valid").matches(secrets, &secret));

    let services = resource("", "services");
    let svc = json!({"metadata": {"name": "kubernetes", "namespace": "default"}, "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1"}});
    assert_eq!(field_value(services, &svc, "spec.type").as_deref(), Some("ClusterIP"));
    assert_eq!(field_value(services, &svc, "spec.clusterIP").as_deref(), Some("10.43.0.1"));
    assert!(FieldSelector::parse("spec.clusterIP!=None").expect("valid").matches(services, &svc));

    let rs = resource("apps", "replicasets");
    let replicaset = json!({"metadata": {"name": "web-1", "namespace": "default"}, "status": {"replicas": 0}});
    assert_eq!(field_value(rs, &replicaset, "status.replicas"), None);
    assert_eq!(field_value(rs, &replicaset, "metadata.namespace").as_deref(), Some("default"));

    let configmaps = resource("", "configmaps");
    let cm = json!({"metadata": {"name": "kube-root-ca.crt", "namespace": "default"}});
    assert!(FieldSelector::parse("metadata.name=kube-root-ca.crt").expect("valid").matches(configmaps, &cm));
    assert!(!FieldSelector::parse("metadata.namespace=other").expect("valid").matches(configmaps, &cm));
}

#[test]
fn event_field_values_core_and_events_k8s_io() {
    let core = resource("", "events");
    let new = resource("events.k8s.io", "events");
    let core_event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "busybox.1", "namespace": "default"},
        "involvedObject": {
            "kind": "Pod", "namespace": "default", "name": "busybox", "uid": "u-1",
            "apiVersion": "v1", "resourceVersion": "42", "fieldPath": "spec.containers{busybox}"
        },
        "reason": "Pulled",
        "type": "Normal",
        "source": {"component": "kubelet", "host": "n1"},
        "reportingComponent": "kubelet"
    });
    let new_event = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web.2", "namespace": "default"},
        "regarding": {"kind": "Deployment", "namespace": "default", "name": "web", "uid": "u-2", "apiVersion": "apps/v1"},
        "reason": "ScalingReplicaSet",
        "type": "Normal",
        "reportingController": "deployment-controller",
        "note": "Scaled up"
    });
    // (field, value on the core/v1 event, value on the events.k8s.io/v1 event)
    let expectations = [
        ("involvedObject.kind", "Pod", "Deployment"),
        ("involvedObject.namespace", "default", "default"),
        ("involvedObject.name", "busybox", "web"),
        ("involvedObject.uid", "u-1", "u-2"),
        ("involvedObject.apiVersion", "v1", "apps/v1"),
        ("involvedObject.resourceVersion", "42", ""),
        ("involvedObject.fieldPath", "spec.containers{busybox}", ""),
        ("reason", "Pulled", "ScalingReplicaSet"),
        ("type", "Normal", "Normal"),
        ("source", "kubelet", "deployment-controller"),
        ("reportingComponent", "kubelet", "deployment-controller"),
        ("metadata.name", "busybox.1", "web.2"),
        ("metadata.namespace", "default", "default"),
    ];
    for (field, want_core, want_new) in expectations {
        for info in [core, new] {
            assert_eq!(
                field_value(info, &core_event, field).as_deref(),
                Some(want_core),
                "{field} core via {}",
                info.group
            );
            assert_eq!(
                field_value(info, &new_event, field).as_deref(),
                Some(want_new),
                "{field} new via {}",
                info.group
            );
        }
    }
    // A core event without a source component falls back to the reporting component.
    let no_source = json!({"reportingComponent": "scheduler", "source": {}});
    assert_eq!(field_value(core, &no_source, "source").as_deref(), Some("scheduler"));
    // What `kubectl describe pod busybox` sends, in any term order.
    let describe =
        FieldSelector::parse("involvedObject.uid=u-1,involvedObject.name=busybox,involvedObject.namespace=default")
            .expect("valid");
    assert!(describe.check_supported(core).is_ok());
    assert!(describe.matches(core, &core_event));
    assert!(!describe.matches(core, &new_event));
}

// ---- robustness ---------------------------------------------------------------------------------

/// A small deterministic generator (xorshift), so the fuzz loop needs no dependency and
/// failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ALPHABET: &[&str] = &[
    "a",
    "b",
    "x",
    "1",
    "-",
    "_",
    ".",
    "/",
    "=",
    "==",
    "!",
    "!=",
    "(",
    ")",
    ",",
    "<",
    ">",
    " ",
    "\t",
    "\\",
    "in",
    "notin",
    " in ",
    " notin ",
    "é",
    "\u{0}",
    "\n",
    "app",
    "example.com/",
    "9",
];

fn random_selector(rng: &mut Rng) -> String {
    let len = rng.below(16);
    (0..len).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect()
}

#[test]
fn garbage_never_panics_and_canonical_forms_round_trip() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let pods = resource("", "pods");
    let object = bound_pod();
    let sample = labels(&[("a", "b"), ("x", "1"), ("app", "")]);
    let (mut labels_ok, mut fields_ok) = (0, 0);
    for _ in 0..20_000 {
        let input = random_selector(&mut rng);
        if let Ok(s) = LabelSelector::parse(&input) {
            labels_ok += 1;
            let canonical = s.to_string();
            let again = LabelSelector::parse(&canonical)
                .unwrap_or_else(|e| panic!("canonical form {canonical:?} of {input:?} does not parse: {e}"));
            assert_eq!(again, s, "round trip of {input:?} via {canonical:?}");
            assert_eq!(again.matches(&sample), s.matches(&sample));
        }
        if let Ok(s) = FieldSelector::parse(&input) {
            fields_ok += 1;
            let _ = s.check_supported(pods);
            let canonical = s.to_string();
            let again = FieldSelector::parse(&canonical)
                .unwrap_or_else(|e| panic!("canonical form {canonical:?} of {input:?} does not parse: {e}"));
            assert_eq!(again.matches(pods, &object), s.matches(pods, &object), "{input:?}");
            let third = FieldSelector::parse(&again.to_string()).expect("stable");
            assert_eq!(third, again, "{input:?}");
        }
        let mut match_labels = serde_json::Map::new();
        match_labels.insert(input.clone(), Value::String(input.clone()));
        let _ = LabelSelector::from_json(&json!({"matchLabels": match_labels}));
        let _ =
            LabelSelector::from_json(&json!({"matchExpressions": [{"key": input, "operator": "In", "values": [""]}]}));
    }
    // The generator must exercise both accepting and rejecting paths.
    assert!(labels_ok > 100, "only {labels_ok} label selectors parsed");
    assert!(fields_ok > 100, "only {fields_ok} field selectors parsed");
}

#[test]
fn huge_inputs_are_handled() {
    let many = (0..2000).map(|i| format!("k{i}=v{i}")).collect::<Vec<_>>().join(",");
    let s = LabelSelector::parse(&many).expect("valid");
    assert_eq!(s.requirements().len(), 2000);
    let deep = "(".repeat(100_000);
    assert!(LabelSelector::parse(&deep).is_err());
    assert!(LabelSelector::parse(&format!("x in {deep}")).is_err());
    assert!(FieldSelector::parse(&"\\".repeat(100_001)).is_err());
    let long_value = format!("metadata.name={}", "n".repeat(100_000));
    assert!(FieldSelector::parse(&long_value).is_ok());
}

/// Selectors evaluated on the projection of `selectable_paths` see the values they would see
/// on the whole object, for every supported field of every resource with fields of its own.
#[test]
fn projections_carry_every_selectable_field() {
    let objects = [
        (
            "pods",
            "",
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "n", "labels": {"app": "web"}},
                "spec": {"nodeName": "node", "restartPolicy": "Never", "schedulerName": "s",
                    "serviceAccountName": "sa", "hostNetwork": true, "containers": [{"name": "c"}]},
                "status": {"phase": "Running", "podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.2"}],
                    "nominatedNodeName": "other", "conditions": [{"type": "Ready"}]}}),
        ),
        (
            "nodes",
            "",
            json!({"metadata": {"name": "node"}, "spec": {"unschedulable": true}, "status": {"capacity": {}}}),
        ),
        ("namespaces", "", json!({"metadata": {"name": "n"}, "status": {"phase": "Terminating"}})),
        ("secrets", "", json!({"metadata": {"name": "s", "namespace": "n"}, "type": "Opaque", "data": {"k": "dg=="}})),
        (
            "services",
            "",
            json!({"metadata": {"name": "s", "namespace": "n"}, "spec": {"clusterIP": "10.43.0.1", "type": "NodePort", "ports": []}}),
        ),
        (
            "events",
            "",
            json!({"metadata": {"name": "e", "namespace": "n"}, "involvedObject": {"kind": "Pod", "name": "p", "uid": "u"},
                "reason": "Started", "type": "Normal", "source": {"component": "kubelet"}, "message": "m"}),
        ),
        (
            "events",
            "events.k8s.io",
            json!({"metadata": {"name": "e", "namespace": "n"}, "regarding": {"kind": "Pod", "name": "p"},
                "reason": "Started", "type": "Normal", "reportingController": "kubelet", "note": "m"}),
        ),
    ];
    for (plural, group, object) in objects {
        let info = resource(group, plural);
        let bytes = serde_json::to_vec(&object).expect("json");
        let projected = crate::projection::project(&bytes, selectable_paths(info)).expect("projection");
        assert_eq!(projected["metadata"], object["metadata"], "{plural}");
        for field in supported_fields(info) {
            assert_eq!(field_value(info, &projected, field), field_value(info, &object, field), "{plural} {field}");
        }
    }
}
