//! The pod QoS class (`Guaranteed`, `Burstable`, `BestEffort`) from container requests and
//! limits, as `pkg/apis/core/helper/qos` computes it for `status.qosClass`.

use serde_json::Value;

const COMPUTE_RESOURCES: [&str; 2] = ["cpu", "memory"];

/// The QoS class of a pod spec (JSON). Init containers count; a limit without a request
/// implies an equal request.
pub fn pod_qos_class(spec: &Value) -> &'static str {
    let containers = ["containers", "initContainers"]
        .iter()
        .filter_map(|field| spec.get(*field).and_then(Value::as_array))
        .flatten();
    let mut any_set = false;
    let mut guaranteed = true;
    for container in containers {
        let resources = container.get("resources");
        let requests = resources.and_then(|r| r.get("requests")).and_then(Value::as_object);
        let limits = resources.and_then(|r| r.get("limits")).and_then(Value::as_object);
        for resource in COMPUTE_RESOURCES {
            let request = requests.and_then(|r| r.get(resource)).filter(|q| !is_zero(q));
            let limit = limits.and_then(|l| l.get(resource)).filter(|q| !is_zero(q));
            if request.is_some() || limit.is_some() {
                any_set = true;
            }
            match (request, limit) {
                (_, None) => guaranteed = false,
                (Some(request), Some(limit)) if !same_quantity(request, limit) => guaranteed = false,
                _ => {}
            }
        }
    }
    match (any_set, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

fn quantity_text(quantity: &Value) -> String {
    match quantity {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

fn is_zero(quantity: &Value) -> bool {
    quantity_text(quantity).trim_start_matches('0').trim_start_matches('.').trim_matches('0').is_empty()
}

/// Equality of two quantities as written; `1` and `1000m` are the same CPU.
fn same_quantity(a: &Value, b: &Value) -> bool {
    let (a, b) = (quantity_text(a), quantity_text(b));
    a == b || milli(&a).is_some_and(|ma| milli(&b) == Some(ma))
}

fn milli(text: &str) -> Option<i64> {
    match text.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => text.parse::<i64>().ok().map(|v| v * 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classes() {
        assert_eq!(pod_qos_class(&json!({"containers":[{"name":"a"}]})), "BestEffort");
        assert_eq!(
            pod_qos_class(&json!({"containers":[{"resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]})),
            "Guaranteed"
        );
        assert_eq!(
            pod_qos_class(
                &json!({"containers":[{"resources":{"requests":{"cpu":"1000m","memory":"1Gi"},"limits":{"cpu":"1","memory":"1Gi"}}}]})
            ),
            "Guaranteed"
        );
        assert_eq!(pod_qos_class(&json!({"containers":[{"resources":{"requests":{"cpu":"100m"}}}]})), "Burstable");
        assert_eq!(
            pod_qos_class(&json!({"containers":[{"resources":{"limits":{"cpu":"1","memory":"1Gi"}}},{"name":"b"}]})),
            "Burstable"
        );
    }
}
