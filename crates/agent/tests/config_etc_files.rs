//! The node-managed files of a container: hosts, resolv.conf, hostname, termination message.

use std::net::IpAddr;

use agent::container_config::etc_files::{
    DnsConfig, create_termination_message_file, managed_hosts, pod_dns_config, pod_hostname_and_domain,
    read_termination_message, termination_message_file,
};
use k8s_openapi::api::core::v1::{HostAlias, Pod};
use serde_json::json;

fn pod(spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["containers"] = json!([{"name": "app"}]);
    serde_json::from_value(json!({"metadata": {"name": "web-0", "namespace": "shop", "uid": "u"}, "spec": spec}))
        .expect("pod")
}

#[test]
fn hostname_and_domain() {
    assert_eq!(pod_hostname_and_domain(&pod(json!({}))), ("web-0".to_string(), None));
    assert_eq!(
        pod_hostname_and_domain(&pod(json!({"hostname": "db", "subdomain": "backend"}))),
        ("db".to_string(), Some("backend.shop.svc.cluster.local".to_string()))
    );
    // Cut to 63 characters, then trailing '-' and '.' dropped.
    let long = format!("{}-x", "a".repeat(62));
    let (hostname, _) = pod_hostname_and_domain(&pod(json!({"hostname": long})));
    assert_eq!(hostname, "a".repeat(62));
}

#[test]
fn hosts_file() {
    let ip: IpAddr = "10.42.0.7".parse().expect("ip");
    let aliases =
        vec![HostAlias { ip: "10.1.2.3".into(), hostnames: Some(vec!["foo.local".into(), "bar.local".into()]) }];
    let text = managed_hosts(&[ip], "web-0", None, &aliases);
    assert!(text.starts_with(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    ));
    assert!(text.contains("\n10.42.0.7\tweb-0\n"), "{text}");
    assert!(text.ends_with("\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"), "{text}");
    let text = managed_hosts(&[ip], "db", Some("backend.shop.svc.cluster.local"), &[]);
    assert!(text.contains("10.42.0.7\tdb.backend.shop.svc.cluster.local\tdb\n"), "{text}");
    assert!(!text.contains("HostAliases"));
}

#[test]
fn resolv_conf_from_dns_policy() {
    let node = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0 trust-ad\n";
    // ClusterFirst without a cluster DNS falls back to the node's, minus loopback servers.
    let config = pod_dns_config(&pod(json!({"dnsPolicy": "ClusterFirst"})), node);
    assert_eq!(config.render(), "search corp.example\nnameserver 10.0.0.2\noptions edns0 trust-ad\n");
    // Host network pods can reach the node's stub resolver.
    let config = pod_dns_config(&pod(json!({"hostNetwork": true})), node);
    assert_eq!(config.nameservers, vec!["127.0.0.53", "10.0.0.2"]);
    // None: dnsConfig alone.
    let config = pod_dns_config(
        &pod(json!({"dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["1.1.1.1"], "searches": ["a.example"], "options": [{"name": "ndots", "value": "2"}]
        }})),
        node,
    );
    assert_eq!(config.render(), "search a.example\nnameserver 1.1.1.1\noptions ndots:2\n");
    // dnsConfig merges into the default: servers appended, options replaced by name.
    let config = pod_dns_config(
        &pod(
            json!({"dnsConfig": {"nameservers": ["10.0.0.2", "9.9.9.9"], "options": [{"name": "edns0"}, {"name": "ndots", "value": "1"}]}}),
        ),
        node,
    );
    assert_eq!(config.nameservers, vec!["10.0.0.2", "9.9.9.9"]);
    assert_eq!(config.options, vec!["trust-ad", "edns0", "ndots:1"]);
    assert_eq!(DnsConfig::parse("domain a\nsearch b c\n").searches, vec!["b", "c"]);
}

#[test]
fn termination_message_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = termination_message_file(dir.path(), "app", 2);
    assert_eq!(path, dir.path().join("containers/app/2"));
    create_termination_message_file(&path).expect("create");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o666);
    assert_eq!(read_termination_message(&path, 4096), None, "empty file: no message");
    std::fs::write(&path, "x".repeat(5000)).expect("write");
    assert_eq!(read_termination_message(&path, 4096).map(|m| m.len()), Some(4096));
    assert_eq!(read_termination_message(&dir.path().join("missing"), 4096), None);
}
