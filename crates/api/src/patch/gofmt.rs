//! Go's `fmt` renderings of decoded JSON, so that patch error messages read like kube-apiserver's
//! (they embed values with `%v` and types with `reflect.TypeOf`).
//!
//! Owns only formatting for messages; must never be used to serialize data.

use serde_json::Value;

/// `fmt.Sprintf("%v", v)` of a value decoded the way the apiserver decodes patches
/// (`map[string]interface{}`, `[]interface{}`, `int64`, `float64`, `string`, `bool`, `nil`).
pub(crate) fn value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (None, None, Some(f)) => out.push_str(&float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Go prints map keys sorted; serde_json's map is sorted too.
            out.push_str("map[");
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_value(out, item);
            }
            out.push(']');
        }
    }
}

/// `%v` of a `float64`: the shortest representation, in exponent form when the exponent is
/// below -4 or at least 6 (`strconv.FormatFloat(f, 'g', -1, 64)` with `fmt`'s exponent style).
fn float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let sci = format!("{f:e}"); // e.g. "-1.2345e8", shortest digits
    let Some((mantissa, exp)) = sci.split_once('e') else { return sci };
    let Ok(exp) = exp.parse::<i32>() else { return sci };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// `reflect.TypeOf(v).String()` of a decoded JSON value, as printed with `%s`.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The JSON type name `encoding/json` uses in "cannot unmarshal X into Go value of type …".
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_print_like_go_percent_v() {
        let cases = [
            (json!({"name": "a", "image": "x"}), "map[image:x name:a]"),
            (json!([{"name": "a"}, {"name": "b"}]), "[map[name:a] map[name:b]]"),
            (json!({"$patch": "delete"}), "map[$patch:delete]"),
            (json!({}), "map[]"),
            (json!(null), "<nil>"),
            (json!(3), "3"),
            (json!(1.5), "1.5"),
            (json!(1e6), "1e+06"),
            (json!(123456789.0), "1.23456789e+08"),
            (json!(0.0001), "0.0001"),
            (json!(0.00001), "1e-05"),
            (json!(true), "true"),
        ];
        for (v, want) in cases {
            assert_eq!(value(&v), want, "{v}");
        }
    }

    #[test]
    fn type_names_are_go_reflect_names() {
        assert_eq!(type_name(&json!({})), "map[string]interface {}");
        assert_eq!(type_name(&json!([])), "[]interface {}");
        assert_eq!(type_name(&json!(1)), "int64");
        assert_eq!(type_name(&json!(1.5)), "float64");
        assert_eq!(type_name(&json!(null)), "%!s(<nil>)");
        assert_eq!(json_kind(&json!([])), "array");
    }
}
