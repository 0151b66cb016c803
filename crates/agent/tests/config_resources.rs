//! Container resources as the kubelet computes them: cpu shares, CFS quota, memory limit, the
//! OOM score adjustment per QoS class, and `resourceFieldRef` values.

use agent::container_config::quantity::Quantity;
use agent::container_config::resources::{
    NodeAllocatable, container_resources, milli_cpu_to_quota, milli_cpu_to_shares, oom_score_adj, qos_class,
    resource_field_value,
};
use k8s_openapi::api::core::v1::{Pod, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use serde_json::json;

const GIB: i64 = 1 << 30;

fn pod(containers: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": {"containers": containers},
    }))
    .expect("pod")
}

#[test]
fn quantities() {
    assert_eq!(Quantity::parse("500m").map(|q| q.milli_value()), Some(500));
    assert_eq!(Quantity::parse("1").map(|q| q.milli_value()), Some(1000));
    assert_eq!(Quantity::parse("0.1").map(|q| q.milli_value()), Some(100));
    assert_eq!(Quantity::parse("1.5Gi").map(|q| q.value()), Some(3 * GIB / 2));
    assert_eq!(Quantity::parse("128Mi").map(|q| q.value()), Some(128 << 20));
    assert_eq!(Quantity::parse("1e3").map(|q| q.value()), Some(1000));
    assert_eq!(Quantity::parse("1k").map(|q| q.value()), Some(1000));
    // Rounded up, as Value() and MilliValue() do.
    assert_eq!(Quantity::parse("1500m").map(|q| q.value()), Some(2));
    assert_eq!(Quantity::parse("0.0001").map(|q| q.milli_value()), Some(1));
    assert_eq!(Quantity::parse("abc"), None);
    assert_eq!(Quantity::parse("1Zi"), None);
    assert_eq!(Quantity::parse(""), None);
}

#[test]
fn shares_and_quota() {
    assert_eq!(milli_cpu_to_shares(0), 2);
    assert_eq!(milli_cpu_to_shares(1), 2);
    assert_eq!(milli_cpu_to_shares(100), 102);
    assert_eq!(milli_cpu_to_shares(1000), 1024);
    assert_eq!(milli_cpu_to_shares(500_000), 262_144);
    assert_eq!(milli_cpu_to_quota(0, 100_000), None);
    assert_eq!(milli_cpu_to_quota(5, 100_000), Some(1000));
    assert_eq!(milli_cpu_to_quota(250, 100_000), Some(25_000));
    assert_eq!(milli_cpu_to_quota(2000, 100_000), Some(200_000));
}

#[test]
fn resources_from_requests_and_limits() {
    let p = pod(json!([{"name": "a", "resources": {
        "requests": {"cpu": "250m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "128Mi"},
    }}]));
    let r = container_resources(&p, &p.spec.as_ref().expect("spec").containers[0], 8 * GIB);
    assert_eq!(r.cpu_shares, 256);
    assert_eq!(r.cpu_quota, Some(50_000));
    assert_eq!(r.cpu_period, 100_000);
    assert_eq!(r.memory_limit_bytes, Some(128 << 20));
    // Burstable: 1000 - 1000*64Mi/8Gi = 1000 - 7 = 993.
    assert_eq!(r.oom_score_adj, 993);

    // A limit alone: shares follow the limit; Guaranteed.
    let p = pod(json!([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]));
    let r = container_resources(&p, &p.spec.as_ref().expect("spec").containers[0], 8 * GIB);
    assert_eq!(r.cpu_shares, 1024);
    assert_eq!(r.cpu_quota, Some(100_000));
    assert_eq!(r.memory_limit_bytes, Some(GIB));
    assert_eq!(r.oom_score_adj, -997);

    // Nothing: minimum shares, no quota, no limit, BestEffort.
    let p = pod(json!([{"name": "a"}]));
    let r = container_resources(&p, &p.spec.as_ref().expect("spec").containers[0], 8 * GIB);
    assert_eq!((r.cpu_shares, r.cpu_quota, r.memory_limit_bytes, r.oom_score_adj), (2, None, None, 1000));
}

#[test]
fn oom_score_by_qos() {
    let node = 4 * GIB;
    let guaranteed = pod(json!([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]));
    assert_eq!(qos_class(&guaranteed), "Guaranteed");
    assert_eq!(oom_score_adj(&guaranteed, &guaranteed.spec.as_ref().expect("spec").containers[0], node), -997);

    let best_effort = pod(json!([{"name": "a"}]));
    assert_eq!(qos_class(&best_effort), "BestEffort");
    assert_eq!(oom_score_adj(&best_effort, &best_effort.spec.as_ref().expect("spec").containers[0], node), 1000);

    // Burstable, a request of the whole node: clamped to 1000 + (-997).
    let big = pod(json!([{"name": "a", "resources": {"requests": {"memory": "4Gi"}}}]));
    assert_eq!(qos_class(&big), "Burstable");
    assert_eq!(oom_score_adj(&big, &big.spec.as_ref().expect("spec").containers[0], node), 3);
    // Burstable without a memory request: 999, just below BestEffort.
    let cpu_only = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]));
    assert_eq!(oom_score_adj(&cpu_only, &cpu_only.spec.as_ref().expect("spec").containers[0], node), 999);
    // A quarter of the node: 750.
    let quarter = pod(json!([{"name": "a", "resources": {"requests": {"memory": "1Gi"}}}]));
    assert_eq!(oom_score_adj(&quarter, &quarter.spec.as_ref().expect("spec").containers[0], node), 750);

    // system-node-critical pods are protected like Guaranteed ones.
    let mut critical = best_effort.clone();
    critical.spec.as_mut().expect("spec").priority_class_name = Some("system-node-critical".into());
    assert_eq!(oom_score_adj(&critical, &critical.spec.as_ref().expect("spec").containers[0], node), -997);
}

#[test]
fn sidecar_oom_score_does_not_exceed_the_regular_containers() {
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "initContainers": [{"name": "side", "restartPolicy": "Always"}],
            "containers": [{"name": "app", "resources": {"requests": {"memory": "1Gi"}}}],
        },
    }))
    .expect("pod");
    let sidecar = &p.spec.as_ref().expect("spec").init_containers.as_ref().expect("inits")[0];
    assert_eq!(oom_score_adj(&p, sidecar, 4 * GIB), 750);
}

fn selector(resource: &str, divisor: Option<&str>) -> ResourceFieldSelector {
    ResourceFieldSelector {
        container_name: None,
        divisor: divisor.map(|d| ApiQuantity(d.to_string())),
        resource: resource.to_string(),
    }
}

#[test]
fn resource_field_refs() {
    let node = NodeAllocatable { cpu_millis: 4000, memory_bytes: 8 * GIB, ephemeral_storage_bytes: 100 * GIB };
    let p = pod(json!([
        {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "1500m", "memory": "128Mi"}}},
        {"name": "b"},
    ]));
    let spec = p.spec.as_ref().expect("spec");
    let (a, b) = (&spec.containers[0], &spec.containers[1]);
    let value = |sel: &ResourceFieldSelector, c| resource_field_value(sel, &p, c, node).expect("value");
    // cpu rounds up to whole cores with the default divisor.
    assert_eq!(value(&selector("limits.cpu", None), a), "2");
    assert_eq!(value(&selector("limits.cpu", Some("1m")), a), "1500");
    assert_eq!(value(&selector("requests.cpu", Some("1m")), a), "250");
    assert_eq!(value(&selector("requests.cpu", None), a), "1");
    assert_eq!(value(&selector("limits.memory", None), a), (128 << 20).to_string());
    assert_eq!(value(&selector("limits.memory", Some("1Mi")), a), "128");
    assert_eq!(value(&selector("requests.memory", Some("1Mi")), a), "64");
    // No limit: the node's allocatable.
    assert_eq!(value(&selector("limits.cpu", None), b), "4");
    assert_eq!(value(&selector("limits.memory", Some("1Gi")), b), "8");
    assert_eq!(value(&selector("limits.ephemeral-storage", Some("1Gi")), b), "100");
    assert_eq!(value(&selector("requests.cpu", None), b), "0");
    // containerName selects another container.
    let mut other = selector("limits.memory", Some("1Mi"));
    other.container_name = Some("a".into());
    assert_eq!(value(&other, b), "128");
    // Errors.
    assert!(resource_field_value(&selector("limits.gpu", None), &p, a, node).is_err());
    assert!(resource_field_value(&selector("bogus", None), &p, a, node).is_err());
    let mut missing = selector("limits.cpu", None);
    missing.container_name = Some("nope".into());
    assert!(resource_field_value(&missing, &p, a, node).is_err());
}
