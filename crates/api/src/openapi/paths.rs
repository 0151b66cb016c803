//! `paths` of one OpenAPI v3 group version document: kube-apiserver's operations for each served
//! resource and subresource, with their operation ids, query parameters, request and response
//! bodies and the `x-kubernetes-action` / `x-kubernetes-group-version-kind` extensions.
//!
//! kubectl reads two things here: the PATCH operation of a kind with a `fieldValidation` query
//! parameter (then `apply`/`create` trust server-side validation), and the PATCH request body
//! content types (`application/strategic-merge-patch+json` makes `kubectl apply` build its patch from
//! the schemas, so it must only be listed with real `x-kubernetes-patch-*` extensions).
//!
//! Must not build schemas (`schemas.rs`).

use serde_json::{Map, Value, json};

use super::schemas::{Components, reference};
use super::{GroupVersionKind, OpenApiError};
use crate::resources::{ResourceInfo, Subresource};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

/// The paths of the resources of one group version.
pub(super) fn build(
    group: &str,
    version: &str,
    resources: &[&ResourceInfo],
    components: &Components,
) -> Result<Map<String, Value>, OpenApiError> {
    let names = Names::new(group, version);
    let mut paths = Map::new();
    paths.insert(
        format!("{}/", names.prefix),
        json!({"get": {
            "tags": [names.tag],
            "description": "get available resources",
            "operationId": format!("get{}APIResources", names.op),
            "responses": ok(&reference(&format!("{META}.APIResourceList")), JSON_YAML_PROTOBUF),
        }}),
    );
    for resource in resources {
        add_resource(&mut paths, &names, resource, components)?;
    }
    Ok(paths)
}

/// Naming pieces of one group version, as kube-apiserver's OpenAPI builder spells them.
struct Names {
    /// `/api/v1`, `/apis/apps/v1`.
    prefix: String,
    /// `CoreV1`, `AppsV1`, `CoordinationV1` (operation id infix).
    op: String,
    /// `core_v1`, `apps_v1`, `coordination_v1`.
    tag: String,
}

impl Names {
    fn new(group: &str, version: &str) -> Names {
        let prefix = if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
        let short = group.strip_suffix(".k8s.io").unwrap_or(group);
        let words: Vec<&str> = if short.is_empty() { vec!["core"] } else { short.split('.').collect() };
        let op = words.iter().map(|w| capitalize(w)).collect::<String>() + &capitalize(version);
        let tag = words
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { (*w).to_string() } else { capitalize(w) })
            .collect::<String>()
            + "_"
            + version;
        Names { prefix, op, tag }
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

const JSON_YAML_PROTOBUF: &[&str] = &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];
const WATCH_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];
const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

fn content(schema: &Value, types: &[&str]) -> Value {
    Value::Object(types.iter().map(|t| ((*t).to_string(), json!({ "schema": schema }))).collect())
}

fn ok(schema: &Value, types: &[&str]) -> Value {
    json!({
        "200": {"description": "OK", "content": content(schema, types)},
        "401": {"description": "Unauthorized"},
    })
}

/// A query parameter.
fn query(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name, "in": "query", "description": description,
        "schema": {"type": kind, "uniqueItems": true},
    })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "description": description, "required": true,
           "schema": {"type": "string", "uniqueItems": true}})
}

fn pretty() -> Value {
    query(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).",
    )
}

fn dry_run() -> Value {
    query(
        "dryRun",
        "string",
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
    )
}

fn field_manager() -> Value {
    query(
        "fieldManager",
        "string",
        "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
    )
}

fn field_validation() -> Value {
    query(
        "fieldValidation",
        "string",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.",
    )
}

fn write_params() -> Vec<Value> {
    vec![dry_run(), field_manager(), field_validation()]
}

fn patch_params() -> Vec<Value> {
    let mut params = write_params();
    params.push(query("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."));
    params
}

fn list_params() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion.",
        ),
        query("continue", "string", "The continue option should be set when retrieving more results from the server."),
        query(
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        query(
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        json!({"name": "limit", "in": "query", "description": "limit is a maximum number of responses to return for a list call.", "schema": {"type": "integer", "uniqueItems": true}}),
        query(
            "resourceVersion",
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
        ),
        query(
            "sendInitialEvents",
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection.",
        ),
        json!({"name": "timeoutSeconds", "in": "query", "description": "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.", "schema": {"type": "integer", "uniqueItems": true}}),
        query(
            "watch",
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
        ),
    ]
}

fn delete_params() -> Vec<Value> {
    vec![
        dry_run(),
        json!({"name": "gracePeriodSeconds", "in": "query", "description": "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately.", "schema": {"type": "integer", "uniqueItems": true}}),
        query(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "boolean",
            "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error.",
        ),
        query(
            "orphanDependents",
            "boolean",
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned.",
        ),
        query(
            "propagationPolicy",
            "string",
            "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
        ),
    ]
}

/// One operation with kube-apiserver's extensions.
struct Op<'a> {
    names: &'a Names,
    description: String,
    id: String,
    action: &'a str,
    gvk: &'a GroupVersionKind,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Value,
}

impl Op<'_> {
    fn into_value(self) -> Value {
        let mut op = Map::new();
        op.insert("tags".into(), json!([self.names.tag]));
        op.insert("description".into(), Value::String(self.description));
        op.insert("operationId".into(), Value::String(self.id));
        if !self.params.is_empty() {
            op.insert("parameters".into(), Value::Array(self.params));
        }
        if let Some(body) = self.body {
            op.insert("requestBody".into(), body);
        }
        op.insert("responses".into(), self.responses);
        op.insert("x-kubernetes-action".into(), Value::from(self.action));
        op.insert("x-kubernetes-group-version-kind".into(), self.gvk.extension());
        Value::Object(op)
    }
}

fn body(schema: &Value, types: &[&str]) -> Value {
    json!({"content": content(schema, types), "required": true})
}

fn add_resource(
    paths: &mut Map<String, Value>,
    names: &Names,
    r: &ResourceInfo,
    components: &Components,
) -> Result<(), OpenApiError> {
    let gvk = GroupVersionKind::new(r.group, r.version, r.kind);
    let list_gvk = GroupVersionKind::new(r.group, r.version, &r.list_kind());
    let object = reference(components.name(&gvk)?);
    let list = reference(components.name(&list_gvk)?);
    let status = reference(&format!("{META}.Status"));
    let delete_options = reference(&format!("{META}.DeleteOptions"));
    let watch_event = reference(&format!("{META}.WatchEvent"));
    let patch = reference(&format!("{META}.Patch"));
    let has = |verb: &str| r.verbs.contains(&verb);
    let (scope, ns_path) = if r.namespaced { ("Namespaced", "/namespaces/{namespace}") } else { ("", "") };
    let kind = r.kind;
    let op = &names.op;
    let plural = r.plural;
    let collection = format!("{}{ns_path}/{plural}", names.prefix);
    let item = format!("{collection}/{{name}}");
    let mut common = vec![pretty()];
    if r.namespaced {
        common.insert(0, path_param("namespace", "object name and auth scope, such as for teams and projects"));
    }
    let item_common = || {
        let mut params = vec![path_param("name", &format!("name of the {kind}"))];
        params.extend(common.iter().cloned());
        params
    };

    // The collection: list, create, deletecollection.
    let mut ops = Map::new();
    if has("list") {
        let o = Op {
            names,
            description: format!("list or watch objects of kind {kind}"),
            id: format!("list{op}{scope}{kind}"),
            action: "list",
            gvk: &gvk,
            params: list_params(),
            body: None,
            responses: ok(&list, WATCH_TYPES),
        };
        ops.insert("get".into(), o.into_value());
    }
    if has("create") {
        let mut responses = ok(&object, JSON_YAML_PROTOBUF);
        add_status(&mut responses, "201", "Created", &object);
        add_status(&mut responses, "202", "Accepted", &object);
        let o = Op {
            names,
            description: format!("create a {kind}"),
            id: format!("create{op}{scope}{kind}"),
            action: "post",
            gvk: &gvk,
            params: write_params(),
            body: Some(body(&object, &["*/*"])),
            responses,
        };
        ops.insert("post".into(), o.into_value());
    }
    if has("deletecollection") {
        let mut params = list_params();
        params.retain(|p| !matches!(p["name"].as_str(), Some("allowWatchBookmarks" | "watch")));
        params.extend(delete_params());
        params.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let o = Op {
            names,
            description: format!("delete collection of {kind}"),
            id: format!("delete{op}Collection{scope}{kind}"),
            action: "deletecollection",
            gvk: &gvk,
            params,
            body: Some(body(&delete_options, &["*/*"])),
            responses: ok(&status, JSON_YAML_PROTOBUF),
        };
        ops.insert("delete".into(), o.into_value());
    }
    insert_path(paths, collection.clone(), ops, common.clone());

    // The object: read, replace, delete, patch.
    let mut ops = Map::new();
    if has("get") {
        let o = Op {
            names,
            description: format!("read the specified {kind}"),
            id: format!("read{op}{scope}{kind}"),
            action: "get",
            gvk: &gvk,
            params: vec![],
            body: None,
            responses: ok(&object, JSON_YAML_PROTOBUF),
        };
        ops.insert("get".into(), o.into_value());
    }
    if has("update") {
        let mut responses = ok(&object, JSON_YAML_PROTOBUF);
        add_status(&mut responses, "201", "Created", &object);
        let o = Op {
            names,
            description: format!("replace the specified {kind}"),
            id: format!("replace{op}{scope}{kind}"),
            action: "put",
            gvk: &gvk,
            params: write_params(),
            body: Some(body(&object, &["*/*"])),
            responses,
        };
        ops.insert("put".into(), o.into_value());
    }
    if has("delete") {
        let mut responses = ok(&object, JSON_YAML_PROTOBUF);
        add_status(&mut responses, "202", "Accepted", &object);
        let o = Op {
            names,
            description: format!("delete a {kind}"),
            id: format!("delete{op}{scope}{kind}"),
            action: "delete",
            gvk: &gvk,
            params: delete_params(),
            body: Some(body(&delete_options, &["*/*"])),
            responses,
        };
        ops.insert("delete".into(), o.into_value());
    }
    if has("patch") {
        let mut responses = ok(&object, JSON_YAML_PROTOBUF);
        add_status(&mut responses, "201", "Created", &object);
        let o = Op {
            names,
            description: format!("partially update the specified {kind}"),
            id: format!("patch{op}{scope}{kind}"),
            action: "patch",
            gvk: &gvk,
            params: patch_params(),
            body: Some(body(&patch, PATCH_TYPES)),
            responses,
        };
        ops.insert("patch".into(), o.into_value());
    }
    insert_path(paths, item.clone(), ops, item_common());

    // Cluster-wide list of a namespaced resource, and the deprecated watch paths.
    if r.namespaced && has("list") {
        let o = Op {
            names,
            description: format!("list or watch objects of kind {kind}"),
            id: format!("list{op}{kind}ForAllNamespaces"),
            action: "list",
            gvk: &gvk,
            params: vec![],
            body: None,
            responses: ok(&list, WATCH_TYPES),
        };
        insert_path(paths, format!("{}/{plural}", names.prefix), one("get", o), with_pretty(list_params()));
    }
    if has("watch") {
        let watch_prefix = format!("{}/watch{ns_path}/{plural}", names.prefix);
        let o = Op {
            names,
            description: format!(
                "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
            ),
            id: format!("watch{op}{scope}{kind}List"),
            action: "watchlist",
            gvk: &gvk,
            params: vec![],
            body: None,
            responses: ok(&watch_event, WATCH_TYPES),
        };
        insert_path(paths, watch_prefix.clone(), one("get", o), [common.clone(), list_params()].concat());
        let o = Op {
            names,
            description: format!(
                "watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
            ),
            id: format!("watch{op}{scope}{kind}"),
            action: "watch",
            gvk: &gvk,
            params: vec![],
            body: None,
            responses: ok(&watch_event, WATCH_TYPES),
        };
        insert_path(paths, format!("{watch_prefix}/{{name}}"), one("get", o), [item_common(), list_params()].concat());
        if r.namespaced {
            let o = Op {
                names,
                description: format!(
                    "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
                ),
                id: format!("watch{op}{kind}ListForAllNamespaces"),
                action: "watchlist",
                gvk: &gvk,
                params: vec![],
                body: None,
                responses: ok(&watch_event, WATCH_TYPES),
            };
            insert_path(paths, format!("{}/watch/{plural}", names.prefix), one("get", o), with_pretty(list_params()));
        }
    }

    for sub in r.subresources {
        add_subresource(paths, names, r, sub, &item, item_common(), components)?;
    }
    Ok(())
}

fn add_subresource(
    paths: &mut Map<String, Value>,
    names: &Names,
    r: &ResourceInfo,
    sub: &Subresource,
    item: &str,
    params: Vec<Value>,
    components: &Components,
) -> Result<(), OpenApiError> {
    let gvk = GroupVersionKind::new(sub.group, sub.version, sub.kind);
    let op = &names.op;
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let suffix = format!("{}{}", r.kind, capitalize(sub.name));
    let kind = r.kind;
    let has = |verb: &str| sub.verbs.contains(&verb);
    let mut ops = Map::new();
    let mut params = params;
    match sub.name {
        // Streaming subresources: kube-apiserver's "connect" operations answer with a string.
        "exec" | "attach" | "portforward" | "proxy" => {
            let text = json!({"type": "string"});
            for (verb, method, prefix) in [("get", "get", "connectGet"), ("create", "post", "connectPost")] {
                if has(verb) {
                    let o = Op {
                        names,
                        description: format!("connect {} requests to {} of {kind}", method.to_uppercase(), sub.name),
                        id: format!("{prefix}{op}{scope}{suffix}"),
                        action: "connect",
                        gvk: &gvk,
                        params: connect_params(sub.name),
                        body: None,
                        responses: ok(&text, &["*/*"]),
                    };
                    ops.insert(method.into(), o.into_value());
                }
            }
            params.retain(|p| p["name"] != "pretty");
        }
        "log" => {
            let text = json!({"type": "string"});
            let o = Op {
                names,
                description: format!("read log of the specified {kind}"),
                id: format!("read{op}{scope}{suffix}"),
                action: "get",
                gvk: &gvk,
                params: log_params(),
                body: None,
                responses: ok(
                    &text,
                    &["text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"],
                ),
            };
            ops.insert("get".into(), o.into_value());
        }
        _ => {
            let object = reference(components.name(&gvk)?);
            if has("get") {
                let o = Op {
                    names,
                    description: format!("read {} of the specified {kind}", sub.name),
                    id: format!("read{op}{scope}{suffix}"),
                    action: "get",
                    gvk: &gvk,
                    params: vec![],
                    body: None,
                    responses: ok(&object, JSON_YAML_PROTOBUF),
                };
                ops.insert("get".into(), o.into_value());
            }
            if has("update") {
                let mut responses = ok(&object, JSON_YAML_PROTOBUF);
                add_status(&mut responses, "201", "Created", &object);
                let o = Op {
                    names,
                    description: format!("replace {} of the specified {kind}", sub.name),
                    id: format!("replace{op}{scope}{suffix}"),
                    action: "put",
                    gvk: &gvk,
                    params: write_params(),
                    body: Some(body(&object, &["*/*"])),
                    responses,
                };
                ops.insert("put".into(), o.into_value());
            }
            if has("patch") {
                let mut responses = ok(&object, JSON_YAML_PROTOBUF);
                add_status(&mut responses, "201", "Created", &object);
                let patch = reference(&format!("{META}.Patch"));
                let o = Op {
                    names,
                    description: format!("partially update {} of the specified {kind}", sub.name),
                    id: format!("patch{op}{scope}{suffix}"),
                    action: "patch",
                    gvk: &gvk,
                    params: patch_params(),
                    body: Some(body(&patch, PATCH_TYPES)),
                    responses,
                };
                ops.insert("patch".into(), o.into_value());
            }
            if has("create") {
                let mut responses = ok(&object, JSON_YAML_PROTOBUF);
                add_status(&mut responses, "201", "Created", &object);
                add_status(&mut responses, "202", "Accepted", &object);
                let o = Op {
                    names,
                    description: format!("create {} of a {kind}", sub.name),
                    id: format!("create{op}{scope}{suffix}"),
                    action: "post",
                    gvk: &gvk,
                    params: write_params(),
                    body: Some(body(&object, &["*/*"])),
                    responses,
                };
                ops.insert("post".into(), o.into_value());
            }
        }
    }
    insert_path(paths, format!("{item}/{}", sub.name), ops, params);
    Ok(())
}

fn connect_params(sub: &str) -> Vec<Value> {
    let flag = |name: &str, description: &str| query(name, "boolean", description);
    match sub {
        "portforward" => vec![
            json!({"name": "ports", "in": "query", "description": "List of ports to forward Required when using WebSockets", "schema": {"type": "integer", "uniqueItems": true}}),
        ],
        "exec" => vec![
            query(
                "command",
                "string",
                "Command is the remote command to execute. argv array. Not executed within a shell.",
            ),
            query(
                "container",
                "string",
                "Container in which to execute the command. Defaults to only container if there is only one container in the pod.",
            ),
            flag("stderr", "Redirect the standard error stream of the pod for this call."),
            flag("stdin", "Redirect the standard input stream of the pod for this call. Defaults to false."),
            flag("stdout", "Redirect the standard output stream of the pod for this call."),
            flag("tty", "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false."),
        ],
        "attach" => vec![
            query(
                "container",
                "string",
                "The container in which to execute the command. Defaults to only container if there is only one container in the pod.",
            ),
            flag(
                "stderr",
                "Stderr if true indicates that stderr is to be redirected for the attach call. Defaults to true.",
            ),
            flag(
                "stdin",
                "Stdin if true, redirects the standard input stream of the pod for this call. Defaults to false.",
            ),
            flag(
                "stdout",
                "Stdout if true indicates that stdout is to be redirected for the attach call. Defaults to true.",
            ),
            flag(
                "tty",
                "TTY if true indicates that a tty will be allocated for the attach call. This is passed through the container runtime so the tty is allocated on the worker node by the container runtime. Defaults to false.",
            ),
        ],
        _ => vec![query("path", "string", "Path is the URL path to use for the current proxy request to pod.")],
    }
}

fn log_params() -> Vec<Value> {
    let int = |name: &str, description: &str| json!({"name": name, "in": "query", "description": description, "schema": {"type": "integer", "uniqueItems": true}});
    vec![
        query(
            "container",
            "string",
            "The container for which to stream logs. Defaults to only container if there is one container in the pod.",
        ),
        query("follow", "boolean", "Follow the log stream of the pod. Defaults to false."),
        query(
            "insecureSkipTLSVerifyBackend",
            "boolean",
            "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to.",
        ),
        int(
            "limitBytes",
            "If set, the number of bytes to read from the server before terminating the log output. This may not display a complete final line of logging, and may return slightly more or slightly less than the specified limit.",
        ),
        query("previous", "boolean", "Return previous terminated container logs. Defaults to false."),
        int(
            "sinceSeconds",
            "A relative time in seconds before the current time from which to show logs. If this value precedes the time a pod was started, only logs since the pod start will be returned. If this value is in the future, no logs will be returned. Only one of sinceSeconds or sinceTime may be specified.",
        ),
        query(
            "stream",
            "string",
            "Specify which container log stream to return to the client. Acceptable values are \"All\", \"Stdout\" and \"Stderr\". If not specified, \"All\" is used, and both stdout and stderr are returned interleaved.",
        ),
        int(
            "tailLines",
            "If set, the number of lines from the end of the logs to show. If not specified, logs are shown from the creation of the container or sinceSeconds or sinceTime. Note that when \"TailLines\" is specified, \"Stream\" can only be set to nil or \"All\".",
        ),
        query(
            "timestamps",
            "boolean",
            "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false.",
        ),
    ]
}

fn add_status(responses: &mut Value, code: &str, description: &str, schema: &Value) {
    if let Some(map) = responses.as_object_mut() {
        map.insert(code.into(), json!({"description": description, "content": content(schema, JSON_YAML_PROTOBUF)}));
    }
}

fn one(method: &str, op: Op<'_>) -> Map<String, Value> {
    let mut ops = Map::new();
    ops.insert(method.into(), op.into_value());
    ops
}

fn with_pretty(mut params: Vec<Value>) -> Vec<Value> {
    params.push(pretty());
    params
}

fn insert_path(paths: &mut Map<String, Value>, path: String, mut ops: Map<String, Value>, mut params: Vec<Value>) {
    if ops.is_empty() {
        return;
    }
    params.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    ops.insert("parameters".into(), Value::Array(params));
    paths.insert(path, Value::Object(ops));
}
