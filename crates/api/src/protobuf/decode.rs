//! Schema-driven conversion of a protobuf message into the JSON object Go's `encoding/json`
//! would produce from the same Go struct.
//!
//! Owns the mapping of wire values to JSON, including the special encodings (`Time`,
//! `MicroTime`, `Quantity`, `IntOrString`, `FieldsV1`, `[]byte`) and the zero-value rule
//! described in the parent module. It must not validate or default Kubernetes objects: that is
//! the server's job once it holds the JSON.

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::schema::{Field, Kind, Message};
use super::wire::{Reader, WireValue};
use super::{MAX_DEPTH, ProtobufError};

/// Decodes one serialized `message` into a JSON object. `depth` counts the enclosing messages.
pub(crate) fn message(
    message: &'static Message,
    bytes: &[u8],
    depth: usize,
) -> Result<Map<String, Value>, ProtobufError> {
    if depth >= MAX_DEPTH {
        return Err(ProtobufError::TooDeep(MAX_DEPTH));
    }
    let mut object = Map::new();
    let mut reader = Reader::new(bytes);
    while let Some((number, value)) = reader.next_field()? {
        // Unknown fields (from a newer Kubernetes) are skipped, as gogo-protobuf does.
        let Some(field) = message.field(number) else { continue };
        if field.inline() {
            let Kind::Message(inner) = &field.kind else { continue };
            let bytes = expect_len(message, field, value)?;
            object.extend(self::message(inner, bytes, depth + 1)?);
        } else if field.repeated() {
            let items = repeated(message, field, value, depth)?;
            let slot = object.entry(field.json).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(array) = slot {
                array.extend(items);
            }
        } else if let Kind::Map(value_kind) = &field.kind {
            let (key, entry) = map_entry(message, field, value_kind, value, depth)?;
            let slot = object.entry(field.json).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = slot {
                map.insert(key, entry);
            }
        } else {
            let decoded = single(message, field, &field.kind, value, depth)?;
            match (object.get_mut(field.json), decoded) {
                // A message field that occurs twice is merged, as protobuf specifies.
                (Some(Value::Object(existing)), Value::Object(more)) if matches!(field.kind, Kind::Message(_)) => {
                    existing.extend(more);
                }
                (_, decoded) => {
                    if omitted_zero(field, &decoded) {
                        object.remove(field.json);
                    } else {
                        object.insert(field.json.to_string(), decoded);
                    }
                }
            }
        }
    }
    Ok(object)
}

/// Go's `encoding/json` drops a non-pointer `omitempty` scalar at its zero value; gogo-protobuf
/// writes it anyway. Pointers keep explicit zeros (`replicas: 0`), and structs are never
/// omitted by `omitempty`, so only scalars are checked here.
fn omitted_zero(field: &'static Field, value: &Value) -> bool {
    if field.pointer() || !field.omitempty() {
        return false;
    }
    if !matches!(field.kind, Kind::String | Kind::Bytes | Kind::Int32 | Kind::Int64 | Kind::Bool) {
        return false;
    }
    match value {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        _ => false,
    }
}

fn mismatch(
    message: &'static Message,
    field: &'static Field,
    value: WireValue<'_>,
    expected: &'static str,
) -> ProtobufError {
    ProtobufError::WireTypeMismatch {
        message: message.name,
        field: field.number,
        wire_type: value.wire_type(),
        expected,
    }
}

fn expect_len<'a>(
    message: &'static Message,
    field: &'static Field,
    value: WireValue<'a>,
) -> Result<&'a [u8], ProtobufError> {
    match value {
        WireValue::Len(bytes) => Ok(bytes),
        other => Err(mismatch(message, field, other, "length-delimited (2)")),
    }
}

/// The items one occurrence of a repeated field contributes: one value, or several when a
/// numeric field uses the packed encoding (proto2 writers may pack or not; accept both).
fn repeated(
    message: &'static Message,
    field: &'static Field,
    value: WireValue<'_>,
    depth: usize,
) -> Result<Vec<Value>, ProtobufError> {
    let numeric = matches!(field.kind, Kind::Int32 | Kind::Int64 | Kind::Bool);
    match value {
        WireValue::Len(bytes) if numeric => {
            let mut reader = Reader::new(bytes);
            let mut items = Vec::new();
            while !reader.is_empty() {
                items.push(scalar_varint(&field.kind, reader.varint()?));
            }
            Ok(items)
        }
        value => Ok(vec![single(message, field, &field.kind, value, depth)?]),
    }
}

/// One map entry `{1: key, 2: value}`; a missing key or value is its zero value.
fn map_entry(
    message: &'static Message,
    field: &'static Field,
    value_kind: &'static Kind,
    value: WireValue<'_>,
    depth: usize,
) -> Result<(String, Value), ProtobufError> {
    let bytes = expect_len(message, field, value)?;
    let mut reader = Reader::new(bytes);
    let mut key = String::new();
    let mut entry = None;
    while let Some((number, value)) = reader.next_field()? {
        match number {
            1 => key = lossy(expect_len(message, field, value)?),
            2 => entry = Some(single(message, field, value_kind, value, depth + 1)?),
            _ => {}
        }
    }
    let entry = match entry {
        Some(entry) => entry,
        None => zero_value(value_kind, depth + 1)?,
    };
    Ok((key, entry))
}

/// The JSON of a value whose wire bytes are absent (a map entry without its value).
fn zero_value(kind: &'static Kind, depth: usize) -> Result<Value, ProtobufError> {
    Ok(match kind {
        Kind::String | Kind::Bytes => Value::String(String::new()),
        Kind::Int32 | Kind::Int64 | Kind::IntOrString => Value::from(0),
        Kind::Bool => Value::Bool(false),
        Kind::Quantity => Value::String("0".to_string()),
        Kind::Time | Kind::MicroTime | Kind::FieldsV1 => Value::Null,
        Kind::Map(_) => Value::Object(Map::new()),
        Kind::Message(inner) => Value::Object(message(inner, &[], depth)?),
    })
}

fn scalar_varint(kind: &Kind, raw: u64) -> Value {
    match kind {
        // Go's generated code truncates to the declared width; so does `as`.
        Kind::Int32 => Value::from(raw as i32),
        Kind::Bool => Value::Bool(raw != 0),
        _ => Value::from(raw as i64),
    }
}

/// Go strings may hold any bytes; `encoding/json` writes invalid UTF-8 as U+FFFD.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Decodes one (non-repeated) occurrence of a value of `kind`.
fn single(
    message: &'static Message,
    field: &'static Field,
    kind: &'static Kind,
    value: WireValue<'_>,
    depth: usize,
) -> Result<Value, ProtobufError> {
    match kind {
        Kind::Int32 | Kind::Int64 | Kind::Bool => match value {
            WireValue::Varint(raw) => Ok(scalar_varint(kind, raw)),
            other => Err(mismatch(message, field, other, "varint (0)")),
        },
        Kind::String => Ok(Value::String(lossy(expect_len(message, field, value)?))),
        Kind::Bytes => {
            Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(expect_len(message, field, value)?)))
        }
        Kind::Message(inner) => Ok(Value::Object(self::message(inner, expect_len(message, field, value)?, depth + 1)?)),
        // Map fields are handled by the caller entry by entry; a map nested directly in a
        // map does not exist in protobuf.
        Kind::Map(_) => Err(mismatch(message, field, value, "map entry")),
        Kind::Time => time(expect_len(message, field, value)?, false),
        Kind::MicroTime => time(expect_len(message, field, value)?, true),
        Kind::Quantity => quantity(expect_len(message, field, value)?),
        Kind::IntOrString => int_or_string(expect_len(message, field, value)?),
        Kind::FieldsV1 => fields_v1(expect_len(message, field, value)?),
    }
}

/// Reads the varint or length-delimited fields of a small special message, with no schema.
fn small_fields(bytes: &[u8]) -> Result<Vec<(u32, WireValue<'_>)>, ProtobufError> {
    let mut reader = Reader::new(bytes);
    let mut fields = Vec::new();
    while let Some(field) = reader.next_field()? {
        fields.push(field);
    }
    Ok(fields)
}

fn varint_of(fields: &[(u32, WireValue<'_>)], number: u32) -> u64 {
    fields
        .iter()
        .rev()
        .find_map(|(n, v)| match (n, v) {
            (n, WireValue::Varint(raw)) if *n == number => Some(*raw),
            _ => None,
        })
        .unwrap_or(0)
}

fn bytes_of<'a>(fields: &[(u32, WireValue<'a>)], number: u32) -> Option<&'a [u8]> {
    fields.iter().rev().find_map(|(n, v)| match (n, v) {
        (n, WireValue::Len(bytes)) if *n == number => Some(*bytes),
        _ => None,
    })
}

/// `metav1.Time` / `MicroTime` = `Timestamp{seconds: 1, nanos: 2}`. Go writes the zero time
/// as an empty message and renders it as JSON `null`. `Time` drops the nanoseconds (its JSON
/// has whole seconds); `MicroTime` truncates them to microseconds.
fn time(bytes: &[u8], micro: bool) -> Result<Value, ProtobufError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let fields = small_fields(bytes)?;
    let seconds = varint_of(&fields, 1) as i64;
    let nanos = i64::from(varint_of(&fields, 2) as i32);
    // Go's time.Unix normalizes nanoseconds outside [0, 1e9) into the seconds.
    let out_of_range = || ProtobufError::TimeOutOfRange { seconds, nanos };
    let seconds_total = seconds.checked_add(nanos.div_euclid(1_000_000_000)).ok_or_else(out_of_range)?;
    let nanos_rest = nanos.rem_euclid(1_000_000_000);
    let timestamp = jiff::Timestamp::new(seconds_total, 0).map_err(|_| out_of_range())?;
    let year = timestamp.to_zoned(jiff::tz::TimeZone::UTC).year();
    // Go's Time.MarshalJSON refuses years outside [0, 9999].
    if !(0..=9999).contains(&year) {
        return Err(out_of_range());
    }
    let base = timestamp.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let text = if micro { format!("{base}.{:06}Z", nanos_rest / 1000) } else { format!("{base}Z") };
    Ok(Value::String(text))
}

/// `resource.Quantity{string: 1}`: the canonical quantity string; Go's zero Quantity is "0".
fn quantity(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let fields = small_fields(bytes)?;
    Ok(Value::String(bytes_of(&fields, 1).map(lossy).unwrap_or_else(|| "0".to_string())))
}

/// `intstr.IntOrString{type: 1, intVal: 2, strVal: 3}`: type 0 is an int, 1 a string.
fn int_or_string(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let fields = small_fields(bytes)?;
    match varint_of(&fields, 1) as i64 {
        0 => Ok(Value::Number(Number::from(varint_of(&fields, 2) as i32))),
        1 => Ok(Value::String(bytes_of(&fields, 3).map(lossy).unwrap_or_default())),
        other => Err(ProtobufError::InvalidIntOrString(other)),
    }
}

/// `metav1.FieldsV1{Raw: 1}`: `Raw` holds the JSON document itself; empty is `null`.
fn fields_v1(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let fields = small_fields(bytes)?;
    match bytes_of(&fields, 1) {
        None | Some([]) => Ok(Value::Null),
        Some(raw) => serde_json::from_slice(raw).map_err(|err| ProtobufError::InvalidFieldsV1(err.to_string())),
    }
}
