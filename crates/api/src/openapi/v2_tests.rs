//! Tests of the OpenAPI v2 document and its protobuf encoding: what kubectl 1.27/1.28 read from it
//! (the PATCH operation's GVK extension and `fieldValidation` parameter, definitions with their GVKs
//! and patch metadata, parseable by kube-openapi's proto model), the same content as the v3 documents,
//! and a decoder round trip of the wire format.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::v2_proto::{Message, to_yaml};
use super::*;

fn v2() -> Value {
    serde_json::from_slice(&v2_json()).expect("v2 JSON parses")
}

fn v3_documents() -> Vec<(String, Value)> {
    entries()
        .iter()
        .map(|e| {
            let bytes = group_version_document(&e.path).expect("v3 document builds");
            (e.path.clone(), serde_json::from_slice(&bytes).expect("v3 parses"))
        })
        .collect()
}

// ---- A minimal protobuf wire-format decoder, for the tests only. ----

#[derive(Debug, Clone, Copy)]
enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
}

struct Decoded<'a>(Vec<(u32, Field<'a>)>);

fn read_varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = bytes[*pos];
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
    }
    panic!("varint longer than 10 bytes");
}

fn decode(bytes: &[u8]) -> Decoded<'_> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let key = read_varint(bytes, &mut pos);
        let field = u32::try_from(key >> 3).unwrap();
        assert!(field > 0, "field number 0 at byte {pos}");
        let value = match key & 7 {
            0 => Field::Varint(read_varint(bytes, &mut pos)),
            1 => {
                let value: [u8; 8] = bytes[pos..pos + 8].try_into().unwrap();
                pos += 8;
                Field::Fixed64(value)
            }
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut pos)).unwrap();
                let value = &bytes[pos..pos + len];
                pos += len;
                Field::Bytes(value)
            }
            other => panic!("unexpected wire type {other}"),
        };
        fields.push((field, value));
    }
    assert_eq!(pos, bytes.len(), "message overruns its bytes");
    Decoded(fields)
}

impl<'a> Decoded<'a> {
    fn all(&self, field: u32) -> impl Iterator<Item = Field<'a>> + '_ {
        self.0.iter().filter(move |(f, _)| *f == field).map(|(_, v)| *v)
    }

    fn bytes(&self, field: u32) -> Vec<&'a [u8]> {
        self.all(field)
            .map(|v| match v {
                Field::Bytes(b) => b,
                other => panic!("field {field} is not length-delimited: {other:?}"),
            })
            .collect()
    }

    fn msgs(&self, field: u32) -> Vec<Decoded<'a>> {
        self.bytes(field).into_iter().map(decode).collect()
    }

    fn msg(&self, field: u32) -> Option<Decoded<'a>> {
        let mut all = self.msgs(field);
        assert!(all.len() <= 1, "field {field} repeated");
        all.pop()
    }

    fn strs(&self, field: u32) -> Vec<&'a str> {
        self.bytes(field).into_iter().map(|b| std::str::from_utf8(b).unwrap()).collect()
    }

    fn str(&self, field: u32) -> Option<&'a str> {
        self.strs(field).first().copied()
    }

    fn varint(&self, field: u32) -> Option<u64> {
        self.all(field).last().map(|v| match v {
            Field::Varint(n) => n,
            other => panic!("field {field} is not a varint: {other:?}"),
        })
    }

    fn double(&self, field: u32) -> Option<f64> {
        self.all(field).last().map(|v| match v {
            Field::Fixed64(b) => f64::from_le_bytes(b),
            other => panic!("field {field} is not fixed64: {other:?}"),
        })
    }
}

fn from_yaml(yaml: &str) -> Value {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad YAML {yaml:?}: {e}"))
}

/// `repeated NamedAny` back to JSON (`Any.yaml` parsed).
fn named_anys(m: &Decoded<'_>, field: u32, out: &mut Map<String, Value>) {
    for named in m.msgs(field) {
        let name = named.str(1).unwrap().to_string();
        let yaml = named.msg(2).unwrap().str(2).unwrap_or_default().to_string();
        out.insert(name, from_yaml(&yaml));
    }
}

/// A decoded `Schema` back to the JSON it was encoded from (every field `v2.rs` writes).
fn schema_json(m: &Decoded<'_>) -> Value {
    let mut out = Map::new();
    let strings =
        [(1, "$ref"), (2, "format"), (3, "title"), (4, "description"), (13, "pattern"), (26, "discriminator")];
    for (field, key) in strings {
        if let Some(s) = m.str(field) {
            out.insert(key.into(), json!(s));
        }
    }
    if let Some(default) = m.msg(5) {
        out.insert("default".into(), from_yaml(default.str(2).unwrap()));
    }
    for (field, key) in [(6, "multipleOf"), (7, "maximum"), (9, "minimum")] {
        if let Some(d) = m.double(field) {
            out.insert(key.into(), json!(d));
        }
    }
    for (field, key) in [
        (11, "maxLength"),
        (12, "minLength"),
        (14, "maxItems"),
        (15, "minItems"),
        (17, "maxProperties"),
        (18, "minProperties"),
    ] {
        if let Some(n) = m.varint(field) {
            out.insert(key.into(), json!(n as i64));
        }
    }
    for (field, key) in [(8, "exclusiveMaximum"), (10, "exclusiveMinimum"), (16, "uniqueItems"), (27, "readOnly")] {
        if let Some(b) = m.varint(field) {
            out.insert(key.into(), json!(b != 0));
        }
    }
    let required = m.strs(19);
    if !required.is_empty() {
        out.insert("required".into(), json!(required));
    }
    let enums: Vec<Value> = m.msgs(20).iter().map(|a| from_yaml(a.str(2).unwrap())).collect();
    if !enums.is_empty() {
        out.insert("enum".into(), Value::Array(enums));
    }
    if let Some(additional) = m.msg(21) {
        let value = match (additional.msg(1), additional.varint(2)) {
            (Some(schema), None) => schema_json(&schema),
            (None, Some(b)) => json!(b != 0),
            other => panic!("AdditionalPropertiesItem must hold one member: {:?}", other.1),
        };
        out.insert("additionalProperties".into(), value);
    }
    if let Some(types) = m.msg(22) {
        let types = types.strs(1);
        assert_eq!(types.len(), 1, "one type");
        out.insert("type".into(), json!(types[0]));
    }
    if let Some(items) = m.msg(23) {
        let schemas = items.msgs(1);
        assert_eq!(schemas.len(), 1, "ItemsItem holds one schema");
        out.insert("items".into(), schema_json(&schemas[0]));
    }
    let all_of: Vec<Value> = m.msgs(24).iter().map(schema_json).collect();
    if !all_of.is_empty() {
        out.insert("allOf".into(), Value::Array(all_of));
    }
    if let Some(properties) = m.msg(25) {
        let mut map = Map::new();
        for named in properties.msgs(1) {
            map.insert(named.str(1).unwrap().into(), schema_json(&named.msg(2).unwrap()));
        }
        out.insert("properties".into(), Value::Object(map));
    }
    named_anys(m, 31, &mut out);
    Value::Object(out)
}

/// The `PathItem` of `path` in a decoded `Document`.
fn proto_path<'a>(doc: &Decoded<'a>, path: &str) -> Decoded<'a> {
    let paths = doc.msg(8).expect("Document.paths");
    let named = paths.msgs(2).into_iter().find(|n| n.str(1) == Some(path)).unwrap_or_else(|| panic!("no {path}"));
    named.msg(2).expect("NamedPathItem.value")
}

/// kubectl's `resource.QueryParamVerifier` (`supportsQueryParam`): the first PATCH operation tagged
/// with the GVK must list the query parameter. Returns None when no PATCH operation has the GVK.
fn supports_query_param(doc: &Decoded<'_>, gvk: &Value, param: &str) -> Option<bool> {
    for named in doc.msg(8).unwrap().msgs(2) {
        let Some(op) = named.msg(2).unwrap().msg(8) else { continue };
        let mut extensions = Map::new();
        named_anys(&op, 13, &mut extensions);
        if extensions.get("x-kubernetes-group-version-kind") != Some(gvk) {
            continue;
        }
        let found = op.msgs(8).iter().any(|item| {
            item.msg(1)
                .and_then(|p| p.msg(2))
                .and_then(|non_body| non_body.msg(3))
                .is_some_and(|query| query.str(4) == Some(param))
        });
        return Some(found);
    }
    None
}

// ---- The JSON document. ----

#[test]
fn document_is_swagger_2_with_kubernetes_info_and_security() {
    let doc = v2();
    assert_eq!(doc["swagger"], "2.0");
    assert_eq!(doc["info"], json!({"title": "Kubernetes", "version": KUBERNETES_VERSION}));
    assert_eq!(doc["securityDefinitions"]["BearerToken"]["type"], "apiKey");
    assert_eq!(doc["securityDefinitions"]["BearerToken"]["in"], "header");
    assert_eq!(doc["security"], json!([{"BearerToken": []}]));
    assert!(doc.get("openapi").is_none() && doc.get("components").is_none());
}

#[test]
fn every_v3_path_operation_and_schema_is_in_v2() {
    let doc = v2();
    for (path, v3) in v3_documents() {
        for (url, item) in v3["paths"].as_object().unwrap() {
            let v2_item = &doc["paths"][url];
            assert!(v2_item.is_object(), "{path}: {url} missing");
            for (method, op) in item.as_object().unwrap().iter().filter(|(k, _)| *k != "parameters") {
                let v2_op = &v2_item[method];
                assert_eq!(v2_op["operationId"], op["operationId"], "{url} {method}");
                assert_eq!(v2_op["x-kubernetes-action"], op["x-kubernetes-action"], "{url} {method}");
                assert_eq!(
                    v2_op["x-kubernetes-group-version-kind"], op["x-kubernetes-group-version-kind"],
                    "{url} {method}"
                );
            }
        }
        for (name, schema) in v3["components"]["schemas"].as_object().unwrap() {
            let v2_schema = &doc["definitions"][name];
            assert!(v2_schema.is_object(), "{path}: definition {name} missing");
            assert_eq!(
                v2_schema["x-kubernetes-group-version-kind"], schema["x-kubernetes-group-version-kind"],
                "{name}"
            );
        }
    }
}

#[test]
fn schemas_shared_by_v3_documents_are_identical() {
    // v2 keeps the first copy of each schema; that is only right if every copy is the same.
    let mut seen: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for (path, v3) in v3_documents() {
        for (name, schema) in v3["components"]["schemas"].as_object().unwrap() {
            match seen.get(name) {
                Some((first, value)) => assert_eq!(value, schema, "{name} differs in {first} and {path}"),
                None => {
                    seen.insert(name.clone(), (path.clone(), schema.clone()));
                }
            }
        }
    }
}

#[test]
fn every_kind_has_a_patch_operation_with_field_validation_and_its_gvk() {
    let doc = v2();
    for r in resources::all().iter().filter(|r| r.verbs.contains(&"patch")) {
        let gvk = json!({"group": r.group, "kind": r.kind, "version": r.version});
        let ops: Vec<&Value> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|item| item.get("patch"))
            .filter(|op| op["x-kubernetes-group-version-kind"] == gvk)
            .collect();
        assert!(!ops.is_empty(), "no PATCH for {gvk}");
        for op in ops {
            let names: Vec<&str> =
                op["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
            assert!(names.contains(&"fieldValidation"), "{gvk}: {names:?}");
        }
        // The definition carries the GVK for `kubectl explain` and apply's patch metadata lookup.
        let tagged = doc["definitions"]
            .as_object()
            .unwrap()
            .values()
            .any(|d| d["x-kubernetes-group-version-kind"].as_array().is_some_and(|l| l.contains(&gvk)));
        assert!(tagged, "no definition tagged {gvk}");
    }
}

#[test]
fn pod_operations_match_kube_apiserver() {
    let doc = v2();
    let item = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"];
    let patch = &item["patch"];
    assert_eq!(patch["operationId"], "patchCoreV1NamespacedPod");
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(patch["schemes"], json!(["https"]));
    let consumes = patch["consumes"].as_array().unwrap();
    assert!(consumes.contains(&json!("application/strategic-merge-patch+json")));
    assert!(consumes.contains(&json!("application/apply-patch+yaml")));
    assert_eq!(
        patch["parameters"][0],
        json!({"name": "body", "in": "body", "required": true,
               "schema": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}})
    );
    let field_validation =
        patch["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "fieldValidation").unwrap();
    assert_eq!(field_validation["in"], "query");
    assert_eq!(field_validation["type"], "string");
    assert_eq!(field_validation["uniqueItems"], true);
    assert!(field_validation.get("schema").is_none());
    assert_eq!(patch["responses"]["200"]["schema"], json!({"$ref": "#/definitions/io.k8s.api.core.v1.Pod"}));
    assert_eq!(patch["responses"]["401"], json!({"description": "Unauthorized"}));
    assert_eq!(
        patch["produces"],
        json!(["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"])
    );
    assert_eq!(item["get"]["consumes"], json!(["*/*"]));
    assert!(item["get"].get("requestBody").is_none());
    let path_params: Vec<&str> =
        item["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(path_params, ["name", "namespace", "pretty"]);
    assert_eq!(item["parameters"][0]["in"], "path");
    assert_eq!(item["parameters"][0]["required"], true);
    let post = &doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["post"];
    assert_eq!(post["consumes"], json!(["*/*"]));
    assert_eq!(post["parameters"][0]["schema"], json!({"$ref": "#/definitions/io.k8s.api.core.v1.Pod"}));
    assert!(post["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
    let log = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"];
    assert_eq!(log["responses"]["200"]["schema"], json!({"type": "string"}));
}

#[test]
fn definitions_use_v2_references_with_patch_metadata() {
    let doc = v2();
    let text = String::from_utf8(v2_json().to_vec()).unwrap();
    assert!(!text.contains("#/components/schemas/"));
    for key in ["\"nullable\"", "\"requestBody\"", "\"oneOf\"", "\"anyOf\""] {
        assert!(!text.contains(key), "{key} is not Swagger 2.0");
    }
    let pod = &doc["definitions"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(pod["x-kubernetes-group-version-kind"], json!([{"group": "", "kind": "Pod", "version": "v1"}]));
    let spec = &pod["properties"]["spec"];
    assert_eq!(spec["$ref"], "#/definitions/io.k8s.api.core.v1.PodSpec");
    assert!(spec["description"].as_str().is_some_and(|d| !d.is_empty()), "description kept next to $ref");
    assert!(spec.get("allOf").is_none());
    let containers = &doc["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["type"], "array");
    assert_eq!(containers["items"]["$ref"], "#/definitions/io.k8s.api.core.v1.Container");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    let int_or_string = &doc["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(int_or_string["type"], "string");
    assert_eq!(int_or_string["x-kubernetes-int-or-string"], true);
}

/// kube-openapi's `proto.Definitions.ParseSchema` rules (kubectl 1.27 fails every command that needs
/// the schema when one definition breaks them).
fn check_kubectl_model(schema: &Value, definitions: &Map<String, Value>, path: &str) {
    if let Some(reference) = schema.get("$ref") {
        let name = reference.as_str().and_then(|r| r.strip_prefix("#/definitions/"));
        let name = name.unwrap_or_else(|| panic!("{path}: reference {reference} is not to a definition"));
        assert!(definitions.contains_key(name), "{path}: unknown model {name}");
        assert!(schema.get("type").is_none(), "{path}: definition reference can't have a type");
        assert!(schema.get("properties").is_none(), "{path}: unallowed embedded type definition");
        return;
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => {
            let items = schema.get("items").unwrap_or_else(|| panic!("{path}: array without items"));
            check_kubectl_model(items, definitions, &format!("{path}[]"));
        }
        Some("object") | None => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, field) in properties {
                    check_kubectl_model(field, definitions, &format!("{path}.{name}"));
                }
            } else if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                check_kubectl_model(additional, definitions, &format!("{path}{{}}"));
            }
        }
        Some(primitive) => {
            assert!(matches!(primitive, "string" | "number" | "integer" | "boolean"), "{path}: type {primitive}")
        }
    }
    assert!(!schema.get("type").is_some_and(Value::is_array), "{path}: multiple types");
}

#[test]
fn every_definition_parses_as_a_kubectl_model() {
    let doc = v2();
    let definitions = doc["definitions"].as_object().unwrap();
    for (name, schema) in definitions {
        check_kubectl_model(schema, definitions, name);
    }
    for (url, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap().iter().filter(|(k, _)| *k != "parameters") {
            for (code, response) in op["responses"].as_object().unwrap() {
                if let Some(schema) = response.get("schema") {
                    check_kubectl_model(schema, definitions, &format!("{url} {method} {code}"));
                }
            }
        }
    }
}

// ---- The protobuf encoding. ----

#[test]
fn varints_and_scalars_encode_as_protobuf() {
    let mut m = Message::default();
    m.int64(1, 300);
    m.int64(2, -1);
    m.boolean(3, true);
    m.boolean(4, false);
    m.string(5, "");
    m.string(6, "hi");
    m.double(7, 1.5);
    m.message(8, Message::default());
    let bytes = m.into_bytes();
    let mut expected = vec![0x08, 0xac, 0x02, 0x10];
    expected.extend([0xff; 9]);
    expected.push(0x01);
    expected.extend([0x18, 0x01, 0x32, 0x02, b'h', b'i', 0x39]);
    expected.extend(1.5f64.to_le_bytes());
    expected.extend([0x42, 0x00]);
    assert_eq!(bytes, expected);
    let decoded = decode(&bytes);
    assert_eq!(decoded.varint(1), Some(300));
    assert_eq!(decoded.varint(2), Some(u64::MAX));
    assert_eq!(decoded.varint(4), None, "false is the proto3 default and is omitted");
    assert_eq!(decoded.str(5), None, "empty string is omitted");
    assert_eq!(decoded.double(7), Some(1.5));
}

#[test]
fn sample_schema_round_trips_through_the_encoder() {
    let sample = json!({
        "description": "a sample",
        "type": "object",
        "required": ["a", "b"],
        "properties": {
            "a": {"$ref": "#/definitions/X", "description": "ref with a description", "default": {}},
            "b": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic"},
            "c": {"type": "object", "additionalProperties": {"type": "integer", "format": "int32", "minimum": -3.0}},
            "d": {"type": "object", "additionalProperties": false, "maxProperties": 4},
            "e": {"type": "string", "enum": ["Always", "", "yes", "1"], "default": "Always"},
        },
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}],
        "x-kubernetes-patch-strategy": "merge,retainKeys",
    });
    let encoded = v2_proto::schema(sample.as_object().unwrap()).into_bytes();
    assert_eq!(schema_json(&decode(&encoded)), sample);
}

#[test]
fn yaml_of_extension_values_reads_back_as_the_same_value() {
    let values = [
        json!({"group": "", "kind": "Pod", "version": "v1"}),
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}, {"group": "", "kind": "Status", "version": "v1"}]),
        json!("merge,retainKeys"),
        json!(["containerPort", "protocol"]),
        json!(true),
        json!({}),
        json!([]),
        json!({"a": {"b": [1, "two", null, {"c": "d: e"}], "f": []}, "g": "#x", "h": "null", "i": "1.5", "j": "No"}),
        json!([[1, 2], ["x"]]),
        json!("line\nbreak \"quoted\" \\ tab\t"),
    ];
    for value in values {
        let yaml = to_yaml(&value);
        assert!(yaml.ends_with('\n'), "{yaml:?}");
        assert_eq!(from_yaml(&yaml), value, "{yaml}");
    }
    // The block style gnostic writes (yaml.v3), which is what kubectl parses.
    assert_eq!(
        to_yaml(&json!([{"group": "", "kind": "Pod", "version": "v1"}])),
        "- group: \"\"\n  kind: Pod\n  version: v1\n"
    );
    assert_eq!(to_yaml(&json!({"a": ["x"], "b": {"c": 1}})), "a:\n    - x\nb:\n    c: 1\n");
}

#[test]
fn protobuf_document_lets_kubectl_find_field_validation_for_every_kind() {
    let bytes = v2_protobuf();
    let doc = decode(&bytes);
    assert_eq!(doc.str(1), Some("2.0"));
    let info = doc.msg(2).unwrap();
    assert_eq!((info.str(1), info.str(2)), (Some("Kubernetes"), Some(KUBERNETES_VERSION)));
    for r in resources::all().iter().filter(|r| r.verbs.contains(&"patch")) {
        let gvk = json!({"group": r.group, "kind": r.kind, "version": r.version});
        assert_eq!(supports_query_param(&doc, &gvk, "fieldValidation"), Some(true), "{gvk}");
    }
    let unknown = json!({"group": "example.com", "kind": "Widget", "version": "v1"});
    assert_eq!(supports_query_param(&doc, &unknown, "fieldValidation"), None);
}

#[test]
fn protobuf_operations_and_parameters_decode_to_the_json_document() {
    let json_doc = v2();
    let bytes = v2_protobuf();
    let doc = decode(&bytes);
    let item = proto_path(&doc, "/api/v1/namespaces/{namespace}/pods/{name}");
    let json_item = &json_doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"];
    // PathItem.parameters (9): path parameters `name` and `namespace` (PathParameterSubSchema = 4).
    let path_param = item.msgs(9)[0].msg(1).unwrap().msg(2).unwrap().msg(4).expect("path sub-schema");
    assert_eq!(path_param.varint(1), Some(1), "required");
    assert_eq!((path_param.str(2), path_param.str(4), path_param.str(5)), (Some("path"), Some("name"), Some("string")));
    assert_eq!(path_param.varint(19), Some(1), "uniqueItems");
    let patch = item.msg(8).expect("PathItem.patch");
    assert_eq!(patch.strs(1), ["core_v1"]);
    assert_eq!(patch.str(5), Some("patchCoreV1NamespacedPod"));
    assert_eq!(
        patch.strs(7),
        json_item["patch"]["consumes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect::<Vec<_>>()
    );
    assert_eq!(patch.strs(10), ["https"]);
    // The body parameter: ParametersItem.parameter (1) -> Parameter.body_parameter (1).
    let body = patch.msgs(8)[0].msg(1).unwrap().msg(1).expect("body parameter");
    assert_eq!((body.str(2), body.str(3), body.varint(4)), (Some("body"), Some("body"), Some(1)));
    assert_eq!(
        schema_json(&body.msg(5).unwrap()),
        json!({"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"})
    );
    // Responses (9): "200" -> ResponseValue.response (1) -> Response.schema (2) -> SchemaItem.schema (1).
    let responses = patch.msg(9).unwrap().msgs(1);
    let ok = responses.iter().find(|r| r.str(1) == Some("200")).unwrap().msg(2).unwrap().msg(1).unwrap();
    assert_eq!(ok.str(1), Some("OK"));
    assert_eq!(
        schema_json(&ok.msg(2).unwrap().msg(1).unwrap()),
        json!({"$ref": "#/definitions/io.k8s.api.core.v1.Pod"})
    );
    let mut extensions = Map::new();
    named_anys(&patch, 13, &mut extensions);
    assert_eq!(extensions["x-kubernetes-action"], "patch");
    assert_eq!(extensions["x-kubernetes-group-version-kind"], json!({"group": "", "kind": "Pod", "version": "v1"}));
    // Security: SecurityRequirement (12) and SecurityDefinitions (13) with the apiKey scheme (2).
    let requirement = doc.msgs(12);
    assert_eq!(requirement[0].msgs(1)[0].str(1), Some("BearerToken"));
    let scheme = doc.msg(13).unwrap().msgs(1)[0].msg(2).unwrap().msg(2).expect("ApiKeySecurity");
    assert_eq!((scheme.str(1), scheme.str(2), scheme.str(3)), (Some("apiKey"), Some("authorization"), Some("header")));
}

#[test]
fn every_protobuf_definition_decodes_to_its_json_definition() {
    let json_doc = v2();
    let definitions = json_doc["definitions"].as_object().unwrap();
    let bytes = v2_protobuf();
    let doc = decode(&bytes);
    let mut names = BTreeSet::new();
    for named in doc.msg(9).expect("Document.definitions").msgs(1) {
        let name = named.str(1).unwrap().to_string();
        let decoded = schema_json(&named.msg(2).unwrap());
        assert_eq!(&decoded, &definitions[&name], "{name}");
        names.insert(name);
    }
    assert_eq!(names, definitions.keys().cloned().collect::<BTreeSet<_>>());
    let paths = doc.msg(8).unwrap().msgs(2).len();
    assert_eq!(paths, json_doc["paths"].as_object().unwrap().len());
}

#[test]
fn media_types_are_listed_in_kube_apiserver_order() {
    let doc = v2();
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        patch["consumes"],
        json!([
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml"
        ])
    );
    let list = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"];
    assert_eq!(
        list["produces"],
        json!([
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
            "application/json;stream=watch",
            "application/vnd.kubernetes.protobuf;stream=watch"
        ])
    );
}

#[test]
fn accept_header_picks_the_encoding_as_kube_openapi_does() {
    use V2Encoding::{Json, Protobuf};
    let cases: &[(Option<&str>, Option<V2Encoding>)] = &[
        // kubectl's discovery client.
        (Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"), Some(Protobuf)),
        (Some("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"), Some(Protobuf)),
        (Some("application/json"), Some(Json)),
        (None, Some(Json)),
        (Some(""), Some(Json)),
        (Some("*/*"), Some(Json)),
        (Some("application/*"), Some(Json)),
        (Some("application/json, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"), Some(Json)),
        (Some("application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"), Some(Protobuf)),
        (Some("*/*, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"), Some(Protobuf)),
        (Some("text/html, application/json;q=0.9"), Some(Json)),
        (Some("text/html"), None),
        (Some("application/yaml"), None),
        (Some("application/vnd.kubernetes.protobuf"), None),
        (Some("application/json;q=0"), None),
    ];
    for (accept, expected) in cases {
        assert_eq!(V2Encoding::negotiate(*accept), *expected, "{accept:?}");
    }
    assert_eq!(Protobuf.content_type(), "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
    assert_eq!(Json.content_type(), "application/json");
    let etag = Json.etag();
    assert_eq!(etag.len(), 130, "quoted SHA-512: {etag}");
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert_ne!(etag, Protobuf.etag());
}
