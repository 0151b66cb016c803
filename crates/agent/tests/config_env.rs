//! The pure parts of environment building: service link variables, the env var name rule
//! for `envFrom` keys, the ordered env list, and Downward API field values.

use agent::container_config::downward::{PodAddresses, field_value, format_map};
use agent::container_config::env::{EnvList, is_valid_env_name, service_env};
use k8s_openapi::api::core::v1::{ObjectFieldSelector, Pod, Service};
use serde_json::json;

fn service(name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})).expect("service")
}

#[test]
fn service_link_variables() {
    let services = vec![
        service(
            "my-db",
            json!({"clusterIP": "10.43.0.9", "ports": [
                {"port": 5432, "protocol": "TCP"},
                {"name": "metrics", "port": 9187, "protocol": "TCP"},
                {"name": "dns-udp", "port": 53, "protocol": "UDP"},
            ]}),
        ),
        service("headless", json!({"clusterIP": "None", "ports": [{"port": 80}]})),
        service("v6", json!({"clusterIP": "fd00::5", "ports": [{"port": 80}]})),
    ];
    let env = service_env(&services);
    let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(get("MY_DB_SERVICE_HOST"), Some("10.43.0.9"));
    assert_eq!(get("MY_DB_SERVICE_PORT"), Some("5432"));
    assert_eq!(get("MY_DB_SERVICE_PORT_METRICS"), Some("9187"));
    assert_eq!(get("MY_DB_SERVICE_PORT_DNS_UDP"), Some("53"));
    assert_eq!(get("MY_DB_PORT"), Some("tcp://10.43.0.9:5432"));
    assert_eq!(get("MY_DB_PORT_5432_TCP"), Some("tcp://10.43.0.9:5432"));
    assert_eq!(get("MY_DB_PORT_5432_TCP_PROTO"), Some("tcp"));
    assert_eq!(get("MY_DB_PORT_5432_TCP_PORT"), Some("5432"));
    assert_eq!(get("MY_DB_PORT_5432_TCP_ADDR"), Some("10.43.0.9"));
    assert_eq!(get("MY_DB_PORT_53_UDP"), Some("udp://10.43.0.9:53"));
    assert!(get("HEADLESS_SERVICE_HOST").is_none(), "services without a cluster IP give nothing");
    assert_eq!(get("V6_PORT"), Some("tcp://[fd00::5]:80"));
    // Without a protocol, TCP.
    assert_eq!(get("V6_PORT_80_TCP_PROTO"), Some("tcp"));
}

#[test]
fn env_names_from_env_from() {
    for valid in ["A", "my.key", "1st", "with-dash", "lower_case", "sp ace"] {
        assert!(is_valid_env_name(valid), "{valid}");
    }
    for invalid in ["", "a=b", "tab\there", "ünïcode"] {
        assert!(!is_valid_env_name(invalid), "{invalid}");
    }
}

#[test]
fn env_list_keeps_first_position_and_last_value() {
    let mut list = EnvList::default();
    list.set("A".into(), "1".into());
    list.set("B".into(), "2".into());
    list.set("A".into(), "3".into());
    assert_eq!(list.get("A"), Some("3"));
    assert_eq!(list.into_vec(), vec![("A".to_string(), "3".to_string()), ("B".to_string(), "2".to_string())]);
}

#[test]
fn downward_fields() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"b": "2", "a": "x\ny"}},
        "spec": {"containers": [{"name": "c"}], "terminationGracePeriodSeconds": 12},
        "status": {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}], "hostIPs": [{"ip": "192.168.0.1"}]},
    }))
    .expect("pod");
    let addresses = PodAddresses::new(&pod, None, None);
    let field = |path: &str| {
        field_value(&ObjectFieldSelector { api_version: None, field_path: path.to_string() }, &pod, &addresses)
    };
    assert_eq!(field("status.podIP").as_deref(), Ok("10.0.0.1"));
    assert_eq!(field("status.podIPs").as_deref(), Ok("10.0.0.1,fd00::1"));
    assert_eq!(field("status.hostIPs").as_deref(), Ok("192.168.0.1"));
    assert_eq!(field("metadata.labels").as_deref(), Ok("a=\"x\\ny\"\nb=\"2\""));
    assert_eq!(field("metadata.labels['b']").as_deref(), Ok("2"));
    assert_eq!(field("metadata.labels['missing']").as_deref(), Ok(""));
    assert_eq!(field("spec.terminationGracePeriodSeconds").as_deref(), Ok("12"));
    assert_eq!(field("spec.hostname").expect_err("unsupported"), "field label not supported: spec.hostname");
    let versioned = ObjectFieldSelector { api_version: Some("v2".into()), field_path: "metadata.name".into() };
    assert_eq!(field_value(&versioned, &pod, &addresses).expect_err("version"), "unsupported pod version: v2");
    // The node's view of the pod IP comes first when the status has none yet.
    let fresh = PodAddresses::new(&pod, Some("10.0.0.9".parse().expect("ip")), None);
    assert_eq!(fresh.pod_ips[0].to_string(), "10.0.0.9");
    assert_eq!(format_map(None), "");
}
