//! Server-side printing: the `meta.k8s.io/v1 Table` columns, cells and row conditions that
//! kube-apiserver 1.33 computes for `kubectl get` (`pkg/printers/internalversion/printers.go`),
//! with one file per kind. Resources without a printer get the generic convertor of
//! `k8s.io/apiserver/pkg/registry/rest/table.go` (Name, Created At).
//!
//! kube-apiserver always prints with `Wide: true`, so every row carries the `priority: 1`
//! cells too and kubectl decides what to show. This module builds columns and cells only: the
//! apiserver builds the `Table` object around them (metadata, `row.object`). Pure: callers pass
//! `now`. Bad input never panics; missing fields print as Go's zero values would.

mod configmap;
mod default;
mod deployment;
mod duration;
mod endpoints;
mod event;
mod fields;
mod label_selector;
mod lease;
mod namespace;
mod node;
mod pod;
mod replicaset;
mod runtime_class;
mod secret;
mod service;
mod serviceaccount;

/// Go's `duration.HumanDuration` / `ShortHumanDuration`. Both take a [`jiff::SignedDuration`]
/// (not `std::time::Duration`), because ages can be slightly negative under clock skew.
pub use duration::{human_duration, short_human_duration};

use serde_json::{Value, json};

/// `metav1.ObjectMeta{}.SwaggerDoc()["name"]`.
const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// `metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]`.
const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// Shared by the workload printers' wide columns.
const CONTAINERS_DESCRIPTION: &str = "Names of each container in the template.";
const IMAGES_DESCRIPTION: &str = "Images referenced by each container in the template.";

/// One `TableColumnDefinition`.
struct Column {
    name: &'static str,
    type_: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

impl Column {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The `Name` column every printer starts with (events put it last, at priority 1).
const NAME_COLUMN: Column =
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 };

/// The `Age` column.
const AGE_COLUMN: Column =
    Column { name: "Age", type_: "string", format: "", description: CREATION_TIMESTAMP_DESCRIPTION, priority: 0 };

/// Which printer serves a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Printer {
    Pod,
    Node,
    Namespace,
    Event,
    ConfigMap,
    Secret,
    Service,
    Endpoints,
    ServiceAccount,
    Lease,
    Deployment,
    ReplicaSet,
    RuntimeClass,
    Default,
}

fn printer(info: &crate::ResourceInfo) -> Printer {
    match (info.group, info.plural) {
        ("", "pods") => Printer::Pod,
        ("", "nodes") => Printer::Node,
        ("", "namespaces") => Printer::Namespace,
        // events.k8s.io events are the same stored objects, printed by the core printer.
        ("", "events") | ("events.k8s.io", "events") => Printer::Event,
        ("", "configmaps") => Printer::ConfigMap,
        ("", "secrets") => Printer::Secret,
        ("", "services") => Printer::Service,
        ("", "endpoints") => Printer::Endpoints,
        ("", "serviceaccounts") => Printer::ServiceAccount,
        ("coordination.k8s.io", "leases") => Printer::Lease,
        ("apps", "deployments") => Printer::Deployment,
        ("apps", "replicasets") => Printer::ReplicaSet,
        ("node.k8s.io", "runtimeclasses") => Printer::RuntimeClass,
        _ => Printer::Default,
    }
}

/// Column definitions as JSON objects `{"name","type","format","description","priority"}` for a
/// resource, in kube-apiserver's order. Resources without a specific printer get the generic
/// `Name`, `Created At` columns.
pub fn column_definitions(info: &crate::ResourceInfo) -> Vec<Value> {
    let columns: &[Column] = match printer(info) {
        Printer::Pod => pod::COLUMNS,
        Printer::Node => node::COLUMNS,
        Printer::Namespace => namespace::COLUMNS,
        Printer::Event => event::COLUMNS,
        Printer::ConfigMap => configmap::COLUMNS,
        Printer::Secret => secret::COLUMNS,
        Printer::Service => service::COLUMNS,
        Printer::Endpoints => endpoints::COLUMNS,
        Printer::ServiceAccount => serviceaccount::COLUMNS,
        Printer::Lease => lease::COLUMNS,
        Printer::Deployment => deployment::COLUMNS,
        Printer::ReplicaSet => replicaset::COLUMNS,
        Printer::RuntimeClass => runtime_class::COLUMNS,
        Printer::Default => default::COLUMNS,
    };
    columns.iter().map(Column::to_json).collect()
}

/// The cells of one row for `object` (a JSON object of that resource), with `now` for ages.
/// Always one cell per column of [`column_definitions`]: strings, or integers where
/// kube-apiserver puts an `int64` in the cell.
pub fn row_cells(info: &crate::ResourceInfo, object: &Value, now: jiff::Timestamp) -> Vec<Value> {
    match printer(info) {
        Printer::Pod => pod::cells(object, now),
        Printer::Node => node::cells(object, now),
        Printer::Namespace => namespace::cells(object, now),
        Printer::Event => event::cells(object, now),
        Printer::ConfigMap => configmap::cells(object, now),
        Printer::Secret => secret::cells(object, now),
        Printer::Service => service::cells(object, now),
        Printer::Endpoints => endpoints::cells(object, now),
        Printer::ServiceAccount => serviceaccount::cells(object, now),
        Printer::Lease => lease::cells(object, now),
        Printer::Deployment => deployment::cells(object, now),
        Printer::ReplicaSet => replicaset::cells(object, now),
        Printer::RuntimeClass => runtime_class::cells(object, now),
        Printer::Default => default::cells(object),
    }
}

/// Row conditions: pods in phase `Succeeded`/`Failed` get a `Completed` condition (kubectl
/// hides such rows unless `--show-all`-style output asks for them); `None` otherwise.
pub fn row_conditions(info: &crate::ResourceInfo, object: &Value) -> Option<Value> {
    match printer(info) {
        Printer::Pod => pod::conditions(object),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;

    fn now() -> jiff::Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn every_served_resource_has_one_cell_per_column() {
        let empty = json!({});
        let garbage = json!({"metadata": 5, "spec": "x", "status": [1]});
        for info in resources::all() {
            let columns = column_definitions(info);
            assert!(!columns.is_empty(), "{}", info.plural);
            for object in [&empty, &garbage] {
                let cells = row_cells(info, object, now());
                assert_eq!(cells.len(), columns.len(), "{} {object}", info.group_resource());
            }
        }
    }

    #[test]
    fn column_objects_have_all_fields() {
        let pods = resources::find("", "v1", "pods").unwrap();
        let cols = column_definitions(pods);
        assert_eq!(
            cols[0],
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0})
        );
        for c in &cols {
            for key in ["name", "type", "format", "description", "priority"] {
                assert!(c.get(key).is_some(), "{c} lacks {key}");
            }
        }
    }

    #[test]
    fn dispatch_by_group_and_resource() {
        let core_events = resources::find("", "v1", "events").unwrap();
        let new_events = resources::find("events.k8s.io", "v1", "events").unwrap();
        assert_eq!(printer(core_events), Printer::Event);
        assert_eq!(printer(new_events), Printer::Event);
        assert_eq!(column_definitions(core_events), column_definitions(new_events));
        assert_eq!(printer(resources::find("apps", "v1", "deployments").unwrap()), Printer::Deployment);
        assert_eq!(printer(resources::find("coordination.k8s.io", "v1", "leases").unwrap()), Printer::Lease);
    }

    #[test]
    fn row_conditions_only_for_finished_pods() {
        let pods = resources::find("", "v1", "pods").unwrap();
        let nodes = resources::find("", "v1", "nodes").unwrap();
        let done = json!({"status": {"phase": "Succeeded"}});
        assert!(row_conditions(pods, &done).is_some());
        assert!(row_conditions(nodes, &done).is_none());
        assert!(row_conditions(pods, &json!({"status": {"phase": "Running"}})).is_none());
    }
}
