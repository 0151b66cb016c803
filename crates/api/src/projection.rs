//! Partial decoding of stored JSON: only the fields at given paths become a `Value`, the rest
//! is skipped without allocating. Selectors need a pod's labels, name, namespace and a few
//! spec and status fields; decoding the whole pod for them (every watch event, twice with
//! the previous state) cost the API server more than anything else in its watch fan-out.
//!
//! Owns the decoding only; which paths a selector reads is `selector::selectable_paths`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The object in `json` with only the fields at `paths` (each a list of keys from the top):
/// the same `Value` a full decode would give for those paths, and nothing else.
pub fn project(json: &[u8], paths: &[&[&str]]) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let value = Projection { paths, depth: 0 }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Decodes the value at `depth` keys down, keeping the sub-paths of `paths` that pass
/// through it (every path in `paths` agrees on the first `depth` keys).
#[derive(Clone, Copy)]
struct Projection<'p> {
    paths: &'p [&'p [&'p str]],
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Projection<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Projection<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let key = key.as_ref();
            let through = |path: &&[&str]| path.get(self.depth) == Some(&key);
            if self.paths.iter().any(|path| through(path) && path.len() == self.depth + 1) {
                // A path ends here: the whole value.
                kept.insert(key.to_string(), map.next_value::<Value>()?);
            } else if self.paths.iter().any(through) {
                let paths: Vec<&[&str]> = self.paths.iter().copied().filter(through).collect();
                let value = map.next_value_seed(Projection { paths: &paths, depth: self.depth + 1 })?;
                kept.insert(key.to_string(), value);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Value::Object(kept))
    }

    // A path that runs into anything but an object keeps that value as it is (a selector
    // reading through it finds nothing, as it would in the full object).
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string key")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_exactly_the_paths() {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "a", "namespace": "n", "labels": {"app": "web"}, "annotations": {"x": "y"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "nginx"}], "hostNetwork": true},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}], "conditions": [{"type": "Ready"}]},
        });
        let bytes = serde_json::to_vec(&pod).unwrap();
        let paths: &[&[&str]] = &[
            &["metadata", "name"],
            &["metadata", "labels"],
            &["spec", "nodeName"],
            &["spec", "hostNetwork"],
            &["status", "podIPs"],
            &["spec", "missing"],
        ];
        assert_eq!(
            project(&bytes, paths).unwrap(),
            json!({
                "metadata": {"name": "a", "labels": {"app": "web"}},
                "spec": {"nodeName": "node-1", "hostNetwork": true},
                "status": {"podIPs": [{"ip": "10.0.0.1"}]},
            })
        );
        // Every path of the object: the object itself.
        let all: &[&[&str]] = &[&["apiVersion"], &["kind"], &["metadata"], &["spec"], &["status"]];
        assert_eq!(project(&bytes, all).unwrap(), pod);
    }

    #[test]
    fn odd_shapes_and_bad_json() {
        let paths: &[&[&str]] = &[&["spec", "nodeName"]];
        assert_eq!(project(br#"{"spec": null}"#, paths).unwrap(), json!({"spec": null}));
        assert_eq!(project(br#"{"spec": [1, {"a": 2}]}"#, paths).unwrap(), json!({"spec": [1, {"a": 2}]}));
        assert_eq!(
            project(br#"{"spec": {"nodeName": "x\"y"}}"#, paths).unwrap(),
            json!({"spec": {"nodeName": "x\"y"}})
        );
        assert!(project(br#"{"spec": {"nodeName": "#, paths).is_err());
        // Escaped keys are compared unescaped.
        assert_eq!(project(br#"{"sp\u0065c": {"nodeName": "n"}}"#, paths).unwrap(), json!({"spec": {"nodeName": "n"}}));
        assert!(project(br#"{"spec": {}} trailing"#, paths).is_err());
    }
}
