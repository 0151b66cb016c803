//! Node defaults (SetDefaults_NodeStatus): allocatable defaults to capacity.

use serde_json::{Map, Value};

pub fn default_node(node: &mut Map<String, Value>) {
    let Some(status) = node.get_mut("status").and_then(Value::as_object_mut) else { return };
    let allocatable_unset = status.get("allocatable").is_none_or(Value::is_null);
    if allocatable_unset && let Some(capacity) = status.get("capacity").filter(|c| c.is_object()).cloned() {
        status.insert("allocatable".to_string(), capacity);
    }
}
