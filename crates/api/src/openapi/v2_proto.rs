//! Encodes a Swagger 2.0 JSON document as gnostic's `openapi.v2.Document` protobuf message
//! (github.com/google/gnostic-models, `openapiv2/OpenAPIv2.proto`), the bytes kube-apiserver serves for
//! `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`. kube-apiserver produces them
//! with gnostic's `ParseDocument` (JSON to messages) and `proto.Marshal`; this module does both steps
//! at once for the subset of Swagger 2.0 that `v2.rs` writes (no global parameter/response
//! definitions, no form or header parameters, no response headers).
//!
//! Encoding rules (proto3, as Go's marshaller applies them): scalars equal to their default (empty
//! string, false, 0) are omitted; a present sub-message is written even when empty; a `oneof` member
//! is written even when it holds the default (`additionalProperties: false`); repeated strings are
//! one record each. Vendor extensions (`x-…` keys) and untyped values (`default`, `enum`, `example`)
//! become `Any { yaml }` holding the value as block-style YAML, as gnostic's `compiler.Marshal`
//! writes it; kubectl parses that YAML back (`VendorExtensionToMap`).
//!
//! Field numbers are the ones of the .proto; must not decide what the document contains (`v2.rs`).

use serde_json::{Map, Value};

/// One protobuf message being written: the concatenation of its encoded fields.
#[derive(Default)]
pub(super) struct Message {
    buf: Vec<u8>,
}

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;

impl Message {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u64) {
        self.varint((u64::from(field) << 3) | wire_type);
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, LENGTH_DELIMITED);
        self.varint(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    /// A `string` field; omitted when empty.
    pub(super) fn string(&mut self, field: u32, value: &str) {
        if !value.is_empty() {
            self.bytes(field, value.as_bytes());
        }
    }

    /// A `bool` field; omitted when false.
    pub(super) fn boolean(&mut self, field: u32, value: bool) {
        if value {
            self.key(field, VARINT);
            self.varint(1);
        }
    }

    /// An `int64` field; omitted when zero. Negative values take ten bytes (two's complement).
    pub(super) fn int64(&mut self, field: u32, value: i64) {
        if value != 0 {
            self.key(field, VARINT);
            self.varint(value as u64);
        }
    }

    /// A `double` field; omitted when zero.
    pub(super) fn double(&mut self, field: u32, value: f64) {
        if value != 0.0 {
            self.key(field, FIXED64);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    /// A message field (or one element of a repeated one); written even when empty.
    pub(super) fn message(&mut self, field: u32, message: Message) {
        self.bytes(field, &message.buf);
    }

    /// A `repeated string` field from a JSON string or array of strings.
    fn strings(&mut self, field: u32, value: Option<&Value>) {
        match value {
            Some(Value::String(s)) => self.bytes(field, s.as_bytes()),
            Some(Value::Array(items)) => {
                for item in items.iter().filter_map(Value::as_str) {
                    self.bytes(field, item.as_bytes());
                }
            }
            _ => {}
        }
    }

    fn string_of(&mut self, field: u32, object: &Map<String, Value>, key: &str) {
        if let Some(value) = object.get(key).and_then(Value::as_str) {
            self.string(field, value);
        }
    }

    fn bool_of(&mut self, field: u32, object: &Map<String, Value>, key: &str) {
        self.boolean(field, object.get(key).and_then(Value::as_bool).unwrap_or(false));
    }

    fn int64_of(&mut self, field: u32, object: &Map<String, Value>, key: &str) {
        self.int64(field, object.get(key).and_then(Value::as_i64).unwrap_or(0));
    }

    fn double_of(&mut self, field: u32, object: &Map<String, Value>, key: &str) {
        self.double(field, object.get(key).and_then(Value::as_f64).unwrap_or(0.0));
    }

    /// An `Any` field for `key`, when present.
    fn any_of(&mut self, field: u32, object: &Map<String, Value>, key: &str) {
        if let Some(value) = object.get(key) {
            self.message(field, any(value));
        }
    }

    /// `repeated Any enum` for `key`.
    fn enum_of(&mut self, field: u32, object: &Map<String, Value>, key: &str) {
        for value in object.get(key).and_then(Value::as_array).into_iter().flatten() {
            self.message(field, any(value));
        }
    }

    /// `repeated NamedAny vendor_extension`: every `x-` key, in the object's order.
    fn vendor_extensions(&mut self, field: u32, object: &Map<String, Value>) {
        for (name, value) in object.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, any(value));
            self.message(field, named);
        }
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// `Document`: the whole Swagger 2.0 document.
pub(super) fn encode_document(document: &Value) -> Vec<u8> {
    let empty = Map::new();
    let doc = document.as_object().unwrap_or(&empty);
    let mut m = Message::default();
    m.string_of(1, doc, "swagger");
    if let Some(info) = doc.get("info").and_then(Value::as_object) {
        m.message(2, self::info(info));
    }
    m.string_of(3, doc, "host");
    m.string_of(4, doc, "basePath");
    m.strings(5, doc.get("schemes"));
    m.strings(6, doc.get("consumes"));
    m.strings(7, doc.get("produces"));
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        m.message(8, self::paths(paths));
    }
    if let Some(definitions) = doc.get("definitions").and_then(Value::as_object) {
        // Definitions { repeated NamedSchema additional_properties = 1 }
        m.message(9, named_schemas(definitions));
    }
    for requirement in doc.get("security").and_then(Value::as_array).into_iter().flatten() {
        if let Some(requirement) = requirement.as_object() {
            m.message(12, security_requirement(requirement));
        }
    }
    if let Some(definitions) = doc.get("securityDefinitions").and_then(Value::as_object) {
        m.message(13, security_definitions(definitions));
    }
    m.vendor_extensions(16, doc);
    m.into_bytes()
}

/// `Info`.
fn info(info: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    m.string_of(1, info, "title");
    m.string_of(2, info, "version");
    m.string_of(3, info, "description");
    m.string_of(4, info, "termsOfService");
    m.vendor_extensions(7, info);
    m
}

/// `Paths`: vendor extensions (1) and one `NamedPathItem` (2) per path.
fn paths(paths: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    m.vendor_extensions(1, paths);
    for (path, item) in paths.iter().filter(|(k, _)| k.starts_with('/')) {
        let Some(item) = item.as_object() else { continue };
        let mut named = Message::default();
        named.string(1, path);
        named.message(2, path_item(item));
        m.message(2, named);
    }
    m
}

/// `PathItem`.
fn path_item(item: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    m.string_of(1, item, "$ref");
    for (field, method) in
        [(2, "get"), (3, "put"), (4, "post"), (5, "delete"), (6, "options"), (7, "head"), (8, "patch")]
    {
        if let Some(op) = item.get(method).and_then(Value::as_object) {
            m.message(field, operation(op));
        }
    }
    for parameter in item.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        if let Some(parameter) = parameter.as_object() {
            m.message(9, parameters_item(parameter));
        }
    }
    m.vendor_extensions(10, item);
    m
}

/// `Operation`.
fn operation(op: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    m.strings(1, op.get("tags"));
    m.string_of(2, op, "summary");
    m.string_of(3, op, "description");
    m.string_of(5, op, "operationId");
    m.strings(6, op.get("produces"));
    m.strings(7, op.get("consumes"));
    for parameter in op.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        if let Some(parameter) = parameter.as_object() {
            m.message(8, parameters_item(parameter));
        }
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        m.message(9, self::responses(responses));
    }
    m.strings(10, op.get("schemes"));
    m.bool_of(11, op, "deprecated");
    m.vendor_extensions(13, op);
    m
}

/// `ParametersItem`: a `JsonReference` (2) for `{"$ref": …}`, else a `Parameter` (1), which is a
/// `BodyParameter` (1) for `in: body` or a `NonBodyParameter` (2) whose sub-schema follows `in`.
fn parameters_item(parameter: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    if let Some(reference) = parameter.get("$ref").and_then(Value::as_str) {
        let mut json_reference = Message::default();
        json_reference.string(1, reference);
        json_reference.string_of(2, parameter, "description");
        m.message(2, json_reference);
        return m;
    }
    let mut p = Message::default();
    let location = parameter.get("in").and_then(Value::as_str).unwrap_or_default();
    if location == "body" {
        let mut body = Message::default();
        body.string_of(1, parameter, "description");
        body.string_of(2, parameter, "name");
        body.string_of(3, parameter, "in");
        body.bool_of(4, parameter, "required");
        if let Some(schema) = parameter.get("schema").and_then(Value::as_object) {
            body.message(5, self::schema(schema));
        }
        body.vendor_extensions(6, parameter);
        p.message(1, body);
    } else {
        // NonBodyParameter: header (1), formData (2), query (3), path (4). Query and formData
        // sub-schemas have `allowEmptyValue` at 5, so their later fields are one number higher.
        let (field, allow_empty_value) = match location {
            "header" => (1, false),
            "formData" => (2, true),
            "path" => (4, false),
            _ => (3, true),
        };
        let mut non_body = Message::default();
        non_body.message(field, parameter_sub_schema(parameter, allow_empty_value));
        p.message(2, non_body);
    }
    m.message(1, p);
    m
}

/// `HeaderParameterSubSchema`, `FormDataParameterSubSchema`, `QueryParameterSubSchema` or
/// `PathParameterSubSchema`: identical but for `allow_empty_value` (5) in the form and query ones.
fn parameter_sub_schema(parameter: &Map<String, Value>, allow_empty_value: bool) -> Message {
    let mut m = Message::default();
    m.bool_of(1, parameter, "required");
    m.string_of(2, parameter, "in");
    m.string_of(3, parameter, "description");
    m.string_of(4, parameter, "name");
    let base = if allow_empty_value {
        m.bool_of(5, parameter, "allowEmptyValue");
        6
    } else {
        5
    };
    primitive_fields(&mut m, base, parameter);
    m
}

/// The fields `type` … `vendor_extension` shared (in this order, from field number `base`) by the
/// parameter sub-schemas and `PrimitivesItems`.
fn primitive_fields(m: &mut Message, base: u32, object: &Map<String, Value>) {
    m.string_of(base, object, "type");
    m.string_of(base + 1, object, "format");
    if let Some(items) = object.get("items").and_then(Value::as_object) {
        m.message(base + 2, primitives_items(items));
    }
    m.string_of(base + 3, object, "collectionFormat");
    m.any_of(base + 4, object, "default");
    m.double_of(base + 5, object, "maximum");
    m.bool_of(base + 6, object, "exclusiveMaximum");
    m.double_of(base + 7, object, "minimum");
    m.bool_of(base + 8, object, "exclusiveMinimum");
    m.int64_of(base + 9, object, "maxLength");
    m.int64_of(base + 10, object, "minLength");
    m.string_of(base + 11, object, "pattern");
    m.int64_of(base + 12, object, "maxItems");
    m.int64_of(base + 13, object, "minItems");
    m.bool_of(base + 14, object, "uniqueItems");
    m.enum_of(base + 15, object, "enum");
    m.double_of(base + 16, object, "multipleOf");
    m.vendor_extensions(base + 17, object);
}

/// `PrimitivesItems`.
fn primitives_items(items: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    primitive_fields(&mut m, 1, items);
    m
}

/// `Responses`: one `NamedResponseValue` (1) per status code, then vendor extensions (2).
fn responses(responses: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    for (code, response) in responses.iter().filter(|(k, _)| !k.starts_with("x-")) {
        let Some(response) = response.as_object() else { continue };
        let mut value = Message::default();
        if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
            let mut json_reference = Message::default();
            json_reference.string(1, reference);
            value.message(2, json_reference);
        } else {
            value.message(1, self::response(response));
        }
        let mut named = Message::default();
        named.string(1, code);
        named.message(2, value);
        m.message(1, named);
    }
    m.vendor_extensions(2, responses);
    m
}

/// `Response`: description (1), `SchemaItem { Schema schema = 1 }` (2), vendor extensions (5).
fn response(response: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    m.string_of(1, response, "description");
    if let Some(schema) = response.get("schema").and_then(Value::as_object) {
        let mut item = Message::default();
        item.message(1, self::schema(schema));
        m.message(2, item);
    }
    m.vendor_extensions(5, response);
    m
}

/// `Schema`.
pub(super) fn schema(schema: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    m.string_of(1, schema, "$ref");
    m.string_of(2, schema, "format");
    m.string_of(3, schema, "title");
    m.string_of(4, schema, "description");
    m.any_of(5, schema, "default");
    m.double_of(6, schema, "multipleOf");
    m.double_of(7, schema, "maximum");
    m.bool_of(8, schema, "exclusiveMaximum");
    m.double_of(9, schema, "minimum");
    m.bool_of(10, schema, "exclusiveMinimum");
    m.int64_of(11, schema, "maxLength");
    m.int64_of(12, schema, "minLength");
    m.string_of(13, schema, "pattern");
    m.int64_of(14, schema, "maxItems");
    m.int64_of(15, schema, "minItems");
    m.bool_of(16, schema, "uniqueItems");
    m.int64_of(17, schema, "maxProperties");
    m.int64_of(18, schema, "minProperties");
    m.strings(19, schema.get("required"));
    m.enum_of(20, schema, "enum");
    match schema.get("additionalProperties") {
        // AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2; } }
        Some(Value::Object(additional)) => {
            let mut item = Message::default();
            item.message(1, self::schema(additional));
            m.message(21, item);
        }
        Some(Value::Bool(allowed)) => {
            // A oneof member is written even when false.
            let mut item = Message::default();
            item.key(2, VARINT);
            item.varint(u64::from(*allowed));
            m.message(21, item);
        }
        _ => {}
    }
    if let Some(types) = schema.get("type") {
        // TypeItem { repeated string value = 1 }
        let mut item = Message::default();
        item.strings(1, Some(types));
        m.message(22, item);
    }
    if let Some(items) = schema.get("items").and_then(Value::as_object) {
        // ItemsItem { repeated Schema schema = 1 }
        let mut item = Message::default();
        item.message(1, self::schema(items));
        m.message(23, item);
    }
    for all_of in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        if let Some(all_of) = all_of.as_object() {
            m.message(24, self::schema(all_of));
        }
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        // Properties { repeated NamedSchema additional_properties = 1 }
        m.message(25, named_schemas(properties));
    }
    m.string_of(26, schema, "discriminator");
    m.bool_of(27, schema, "readOnly");
    m.any_of(30, schema, "example");
    m.vendor_extensions(31, schema);
    m
}

/// A message whose field 1 is `repeated NamedSchema` (`Definitions`, `Properties`).
fn named_schemas(schemas: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    for (name, value) in schemas {
        let Some(value) = value.as_object() else { continue };
        let mut named = Message::default();
        named.string(1, name);
        named.message(2, schema(value));
        m.message(1, named);
    }
    m
}

/// `SecurityRequirement { repeated NamedStringArray additional_properties = 1 }`.
fn security_requirement(requirement: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    for (name, scopes) in requirement {
        let mut array = Message::default();
        array.strings(1, Some(scopes));
        let mut named = Message::default();
        named.string(1, name);
        named.message(2, array);
        m.message(1, named);
    }
    m
}

/// `SecurityDefinitions`: only `apiKey` schemes (`SecurityDefinitionsItem.api_key_security = 2`) and
/// `basic` ones (`basic_authentication_security = 1`), the kinds kube-apiserver declares.
fn security_definitions(definitions: &Map<String, Value>) -> Message {
    let mut m = Message::default();
    for (name, definition) in definitions {
        let Some(definition) = definition.as_object() else { continue };
        let mut item = Message::default();
        match definition.get("type").and_then(Value::as_str) {
            Some("apiKey") => {
                let mut key = Message::default();
                key.string_of(1, definition, "type");
                key.string_of(2, definition, "name");
                key.string_of(3, definition, "in");
                key.string_of(4, definition, "description");
                key.vendor_extensions(5, definition);
                item.message(2, key);
            }
            Some("basic") => {
                let mut basic = Message::default();
                basic.string_of(1, definition, "type");
                basic.string_of(2, definition, "description");
                basic.vendor_extensions(3, definition);
                item.message(1, basic);
            }
            _ => continue,
        }
        let mut named = Message::default();
        named.string(1, name);
        named.message(2, item);
        m.message(1, named);
    }
    m
}

/// `Any { string yaml = 2 }` holding `value` as YAML.
fn any(value: &Value) -> Message {
    let mut m = Message::default();
    m.string(2, &to_yaml(value));
    m
}

/// `value` as block-style YAML, as gnostic's `compiler.Marshal` (yaml.v3, four-space indentation)
/// writes it, ending with a newline. Strings that YAML would read as something else are quoted.
pub(super) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_yaml(value, 0, &mut out);
    out
}

fn write_yaml(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (i, (key, child)) in map.iter().enumerate() {
                // The first key of a mapping inside a sequence item follows the "- ".
                if i > 0 {
                    out.push_str(&" ".repeat(indent));
                }
                out.push_str(&scalar_string(key));
                out.push(':');
                write_child(child, indent + 4, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&" ".repeat(indent));
                }
                out.push_str("- ");
                match item {
                    Value::Object(map) if !map.is_empty() => write_yaml(item, indent + 2, out),
                    Value::Array(inner) if !inner.is_empty() => write_yaml(item, indent + 2, out),
                    _ => {
                        out.push_str(&scalar(item));
                        out.push('\n');
                    }
                }
            }
        }
        _ => {
            out.push_str(&scalar(value));
            out.push('\n');
        }
    }
}

/// The value of a mapping key: scalars on the same line, collections on the next lines.
fn write_child(child: &Value, indent: usize, out: &mut String) {
    match child {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            write_yaml(child, indent, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            write_yaml(child, indent, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&scalar(child));
            out.push('\n');
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A string as a plain scalar when YAML (1.1, which kubectl's yaml.v2 speaks, or 1.2) reads it back
/// as the same string, else double-quoted with JSON escapes (valid YAML escapes).
fn scalar_string(s: &str) -> String {
    const RESERVED: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | ','))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str());
    if plain { s.to_string() } else { Value::String(s.to_string()).to_string() }
}
