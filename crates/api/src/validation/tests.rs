//! Validation tests across kinds, table-driven, with the exact messages kube-apiserver 1.33
//! returns. Objects are defaulted first, as the apiserver does before validating.

use serde_json::{Value, json};

use super::{validate_create, validate_status_update, validate_update};
use crate::{FieldError, defaults::apply_defaults, resources};

fn info(group: &str, plural: &str) -> &'static crate::ResourceInfo {
    resources::find(group, "v1", plural).expect("served resource")
}

fn defaulted(group: &str, plural: &str, mut object: Value) -> Value {
    apply_defaults(info(group, plural), &mut object);
    object
}

fn create_messages(group: &str, plural: &str, object: Value) -> Vec<String> {
    let object = defaulted(group, plural, object);
    validate_create(info(group, plural), &object).iter().map(FieldError::message).collect()
}

fn update_messages(group: &str, plural: &str, new: Value, old: Value) -> Vec<String> {
    let (new, old) = (defaulted(group, plural, new), defaulted(group, plural, old));
    validate_update(info(group, plural), &new, &old).iter().map(FieldError::message).collect()
}

/// Applies a JSON merge patch (RFC 7386), to build variants of a base object.
fn merge(base: &Value, patch: &Value) -> Value {
    let mut out = base.clone();
    json_patch::merge(&mut out, patch);
    out
}

fn pod() -> Value {
    json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"busybox","namespace":"default","labels":{"run":"busybox"}},
        "spec":{"containers":[{"name":"busybox","image":"busybox","args":["echo","Hello World"]}],"restartPolicy":"Never"}})
}

#[test]
fn pod_create_rules() {
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("valid", json!({}), vec![]),
        ("no containers", json!({"spec":{"containers":[]}}), vec!["spec.containers: Required value"]),
        (
            "image required",
            json!({"spec":{"containers":[{"name":"busybox","image":""}]}}),
            vec!["spec.containers[0].image: Required value"],
        ),
        (
            "bad restartPolicy",
            json!({"spec":{"restartPolicy":"Sometimes"}}),
            vec![
                r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
            ],
        ),
        (
            "bad dnsPolicy",
            json!({"spec":{"dnsPolicy":"Google"}}),
            vec![
                r#"spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None""#,
            ],
        ),
        (
            "port range and protocol",
            json!({"spec":{"containers":[{"name":"busybox","image":"busybox","ports":[{"containerPort":70000,"protocol":"HTTP"}]}]}}),
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                r#"spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP""#,
            ],
        ),
        (
            "requests above limits",
            json!({"spec":{"containers":[{"name":"busybox","image":"busybox","resources":{"limits":{"cpu":"1"},"requests":{"cpu":"2000m"}}}]}}),
            vec![
                r#"spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1"#,
            ],
        ),
        (
            "bad quantity and resource name",
            json!({"spec":{"containers":[{"name":"busybox","image":"busybox","resources":{"requests":{"cpu":"lots","gpu":"1"}}}]}}),
            vec![
                r#"spec.containers[0].resources.requests[cpu]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"#,
                r#"spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers"#,
            ],
        ),
        (
            "negative quantity",
            json!({"spec":{"containers":[{"name":"busybox","image":"busybox","resources":{"requests":{"memory":"-1Mi"}}}]}}),
            vec![
                r#"spec.containers[0].resources.requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0"#,
            ],
        ),
        (
            "mount of a missing volume",
            json!({"spec":{"containers":[{"name":"busybox","image":"busybox","volumeMounts":[{"name":"data","mountPath":"/data"}]}]}}),
            vec![r#"spec.containers[0].volumeMounts[0].name: Not found: "data""#],
        ),
        (
            "volume with two sources, duplicate volume names",
            json!({"spec":{"volumes":[{"name":"a","emptyDir":{},"secret":{"secretName":"s"}},{"name":"b","emptyDir":{}},{"name":"b","emptyDir":{}}]}}),
            vec![
                "spec.volumes[0].secret: Forbidden: may not specify more than 1 volume type",
                r#"spec.volumes[2].name: Duplicate value: "b""#,
            ],
        ),
        (
            "container name format and duplicates with init containers",
            json!({"spec":{"containers":[{"name":"Web","image":"x"}],"initContainers":[{"name":"Web","image":"x"}]}}),
            vec![
                r#"spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#,
                r#"spec.initContainers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#,
                r#"spec.initContainers[0].name: Duplicate value: "Web""#,
            ],
        ),
        (
            "sidecar init containers may have probes",
            json!({"spec":{"initContainers":[{"name":"side","image":"x","restartPolicy":"Always","readinessProbe":{"exec":{"command":["true"]}}}]}}),
            vec![],
        ),
        (
            "plain init containers may not",
            json!({"spec":{"initContainers":[{"name":"init","image":"x","restartPolicy":"Never","livenessProbe":{"exec":{"command":["true"]}}}]}}),
            vec![
                r#"spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always""#,
                "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
            ],
        ),
        (
            "restartPolicy on a regular container",
            json!({"spec":{"containers":[{"name":"busybox","image":"busybox","restartPolicy":"Always"}]}}),
            vec!["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"],
        ),
        (
            "probes",
            json!({"spec":{"containers":[{"name":"busybox","image":"busybox","livenessProbe":{"successThreshold":2,"tcpSocket":{"port":0}},"readinessProbe":{}}]}}),
            vec![
                "spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe: Required value: must specify a handler type",
            ],
        ),
        (
            "env names are relaxed in 1.33, but not '='",
            json!({"spec":{"containers":[{"name":"busybox","image":"busybox","env":[{"name":"1OK"},{"name":"A=B"},{"name":""}]}]}}),
            vec![
                r#"spec.containers[0].env[1].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='"#,
                "spec.containers[0].env[2].name: Required value",
            ],
        ),
        (
            "activeDeadlineSeconds and grace period",
            json!({"spec":{"activeDeadlineSeconds":0}}),
            vec!["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"],
        ),
        (
            "nodeSelector and tolerations",
            json!({"spec":{"nodeSelector":{"disk":"s s d"},"tolerations":[{"key":"","operator":"Equal"},{"key":"k","operator":"Maybe","effect":"Never"}]}}),
            vec![
                r#"spec.nodeSelector: Invalid value: "s s d": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"#,
                r#"spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys""#,
                r#"spec.tolerations[1].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists""#,
                r#"spec.tolerations[1].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute""#,
            ],
        ),
        (
            "image whitespace (pods only)",
            json!({"spec":{"containers":[{"name":"busybox","image":" busybox"}]}}),
            vec![
                r#"spec.containers[0].image: Invalid value: " busybox": must not have leading or trailing whitespace"#,
            ],
        ),
        (
            "ephemeral containers on create",
            json!({"spec":{"ephemeralContainers":[{"name":"debug","image":"busybox"}]}}),
            vec!["spec.ephemeralContainers: Forbidden: cannot be set on create"],
        ),
        (
            "name and namespace",
            json!({"metadata":{"name":"Busy_Box","namespace":""}}),
            vec![
                r#"metadata.name: Invalid value: "Busy_Box": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
                "metadata.namespace: Required value",
            ],
        ),
    ];
    for (name, patch, want) in cases {
        assert_eq!(create_messages("", "pods", merge(&pod(), &patch)), want, "{name}");
    }
}

#[test]
fn pod_update_rules() {
    const FORBIDDEN: &str = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n";
    // Updates apply to the stored (defaulted) object, as a PATCH or a PUT of a GET result does.
    let old = defaulted("", "pods", merge(&pod(), &json!({"metadata":{"uid":"u1","resourceVersion":"1"}})));
    let allowed: Vec<(&str, Value)> = vec![
        ("labels", json!({"metadata":{"labels":{"app":"demo"}}})),
        ("image", {
            // As a strategic merge patch leaves it: the stored container with a new image.
            let mut containers = old["spec"]["containers"].clone();
            containers[0]["image"] = json!("busybox:1.36");
            json!({"spec":{"containers": containers}})
        }),
        ("activeDeadlineSeconds set", json!({"spec":{"activeDeadlineSeconds":30}})),
        ("toleration added", json!({"spec":{"tolerations":[{"key":"k","operator":"Exists"}]}})),
    ];
    for (name, patch) in allowed {
        assert_eq!(update_messages("", "pods", merge(&old, &patch), old.clone()), Vec::<String>::new(), "{name}");
    }

    let got = update_messages(
        "",
        "pods",
        merge(&old, &json!({"spec":{"containers":[{"name":"busybox","image":"busybox","args":["echo"]}]}})),
        old.clone(),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with(FORBIDDEN), "{}", got[0]);
    assert!(got[0].contains("- \tcontainers[0].args: [\"echo\",\"Hello World\"]"), "{}", got[0]);
    assert!(got[0].contains("+ \tcontainers[0].args: [\"echo\"]"), "{}", got[0]);

    // spec.nodeName is set through `binding`, never by an update.
    let got = update_messages("", "pods", merge(&old, &json!({"spec":{"nodeName":"node-1"}})), old.clone());
    assert!(got[0].starts_with(FORBIDDEN));

    let got = update_messages(
        "",
        "pods",
        merge(&old, &json!({"spec":{"containers":[{"name":"busybox","image":"busybox"},{"name":"two","image":"x"}]}})),
        old.clone(),
    );
    assert_eq!(got, ["spec.containers: Forbidden: pod updates may not add or remove containers"]);

    let with_deadline = merge(&old, &json!({"spec":{"activeDeadlineSeconds":30}}));
    let got =
        update_messages("", "pods", merge(&old, &json!({"spec":{"activeDeadlineSeconds":60}})), with_deadline.clone());
    assert_eq!(got, ["spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"]);

    let with_toleration = merge(&old, &json!({"spec":{"tolerations":[{"key":"k","operator":"Exists"}]}}));
    let got = update_messages("", "pods", old.clone(), with_toleration);
    assert_eq!(
        got,
        ["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"]
    );

    let gated = merge(&old, &json!({"spec":{"schedulingGates":[{"name":"a/b"}]}}));
    assert_eq!(update_messages("", "pods", old.clone(), gated.clone()), Vec::<String>::new());
    let got =
        update_messages("", "pods", merge(&old, &json!({"spec":{"schedulingGates":[{"name":"c/d"}]}})), old.clone());
    assert_eq!(
        got,
        ["spec.schedulingGates[0].name: Forbidden: only deletion is allowed, but found new scheduling gate 'c/d'"]
    );

    let got = update_messages("", "pods", merge(&old, &json!({"metadata":{"name":"other"}})), old.clone());
    assert_eq!(got, [r#"metadata.name: Invalid value: "other": field is immutable"#]);
}

#[test]
fn pod_status_update_rules() {
    let info = info("", "pods");
    let old = defaulted(
        "",
        "pods",
        merge(
            &pod(),
            &json!({"spec":{"nodeName":"n1"},"status":{"qosClass":"BestEffort",
        "containerStatuses":[{"name":"busybox","state":{"terminated":{"exitCode":0}}}]}}),
        ),
    );
    let new = merge(
        &old,
        &json!({"spec":{"nodeName":"n2"},"status":{"qosClass":"Burstable",
        "containerStatuses":[{"name":"busybox","state":{"running":{}}}]}}),
    );
    let got: Vec<String> = validate_status_update(info, &new, &old).iter().map(FieldError::message).collect();
    assert_eq!(
        got,
        [
            "status.nodeName: Forbidden: may not be changed directly",
            r#"status.qosClass: Invalid value: "Burstable": field is immutable"#,
            "status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state",
        ]
    );
    let fine = merge(&old, &json!({"status":{"phase":"Succeeded"}}));
    assert!(validate_status_update(info, &fine, &old).is_empty());
}

fn deployment() -> Value {
    json!({"metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
        "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx"}]}}}})
}

#[test]
fn deployment_rules() {
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("valid", json!({}), vec![]),
        (
            "selector does not match",
            json!({"spec":{"template":{"metadata":{"labels":{"app":"other"}}}}}),
            vec![
                r#"spec.template.metadata.labels: Invalid value: {"app":"other"}: `selector` does not match template `labels`"#,
            ],
        ),
        (
            "selector required (a missing selector matches nothing)",
            json!({"spec":{"selector":null}}),
            vec![
                "spec.selector: Required value",
                r#"spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`"#,
            ],
        ),
        (
            "empty selector",
            json!({"spec":{"selector":{"matchLabels":null}}}),
            vec!["spec.selector: Invalid value: {}: empty selector is invalid for deployment"],
        ),
        (
            "template restartPolicy",
            json!({"spec":{"template":{"spec":{"restartPolicy":"Never"}}}}),
            vec![r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#],
        ),
        (
            "negative replicas",
            json!({"spec":{"replicas":-1}}),
            vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "maxSurge and maxUnavailable both 0",
            json!({"spec":{"strategy":{"rollingUpdate":{"maxSurge":0,"maxUnavailable":"0%"}}}}),
            vec![
                r#"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0"#,
            ],
        ),
        (
            "percent format",
            json!({"spec":{"strategy":{"rollingUpdate":{"maxSurge":"20Percent","maxUnavailable":"110%"}}}}),
            vec![
                r#"spec.strategy.rollingUpdate.maxSurge: Invalid value: "20Percent": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"#,
                r#"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "110%": must not be greater than 100%"#,
            ],
        ),
        (
            "recreate with rollingUpdate",
            json!({"spec":{"strategy":{"type":"Recreate","rollingUpdate":{"maxSurge":1}}}}),
            vec!["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"],
        ),
        (
            "progress deadline",
            json!({"spec":{"minReadySeconds":600,"revisionHistoryLimit":-1}}),
            vec![
                "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
                "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds",
            ],
        ),
        (
            "template container errors use the template path",
            json!({"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":""}]}}}}),
            vec!["spec.template.spec.containers[0].image: Required value"],
        ),
    ];
    for (name, patch, want) in cases {
        assert_eq!(create_messages("apps", "deployments", merge(&deployment(), &patch)), want, "{name}");
    }
    let old = merge(&deployment(), &json!({"metadata":{"uid":"u"}}));
    let new = merge(
        &old,
        &json!({"spec":{"selector":{"matchLabels":{"app":"web2"}},"template":{"metadata":{"labels":{"app":"web2"}}}}}),
    );
    assert_eq!(
        update_messages("apps", "deployments", new, old.clone()),
        [r#"spec.selector: Invalid value: {"matchLabels":{"app":"web2"}}: field is immutable"#]
    );
    let scaled = merge(&old, &json!({"spec":{"replicas":5}}));
    assert!(update_messages("apps", "deployments", scaled, old).is_empty());
}

#[test]
fn replicaset_rules() {
    let rs = json!({"metadata":{"name":"web-1","namespace":"default"},"spec":{"selector":{"matchExpressions":[{"key":"app","operator":"In","values":["web"]}]},
        "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx"}]}}}});
    assert_eq!(create_messages("apps", "replicasets", rs.clone()), Vec::<String>::new());
    let bad =
        merge(&rs, &json!({"spec":{"selector":{"matchExpressions":[{"key":"app","operator":"Within","values":[]}]}}}));
    assert_eq!(
        create_messages("apps", "replicasets", bad),
        [
            r#"spec.selector.matchExpressions[0].operator: Invalid value: "Within": not a valid selector operator"#,
            r#"spec.selector: Invalid value: {"matchExpressions":[{"key":"app","operator":"Within","values":[]}]}: invalid label selector"#,
        ]
    );
}

#[test]
fn service_rules() {
    let svc = json!({"metadata":{"name":"web","namespace":"default"},"spec":{"ports":[{"port":80}],"selector":{"app":"web"}}});
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("valid", json!({}), vec![]),
        ("ports required", json!({"spec":{"ports":[]}}), vec!["spec.ports: Required value"]),
        ("headless needs no ports", json!({"spec":{"ports":[],"clusterIP":"None","clusterIPs":["None"]}}), vec![]),
        (
            "name is a DNS-1035 label",
            json!({"metadata":{"name":"1web"}}),
            vec![
                r#"metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#,
            ],
        ),
        (
            "type",
            json!({"spec":{"type":"Internal"}}),
            vec![
                r#"spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort""#,
            ],
        ),
        (
            "several ports need names",
            json!({"spec":{"ports":[{"port":80},{"port":443,"name":"https"},{"port":70000,"name":"https"}]}}),
            vec![
                "spec.ports[0].name: Required value",
                r#"spec.ports[2].name: Duplicate value: "https""#,
                "spec.ports[2].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                // targetPort defaults to port.
                "spec.ports[2].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ],
        ),
        (
            "nodePort on ClusterIP",
            json!({"spec":{"ports":[{"port":80,"nodePort":30080}]}}),
            vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
        ),
        ("external name", json!({"spec":{"type":"ExternalName","externalName":"example.com.","ports":[]}}), vec![]),
    ];
    for (name, patch, want) in cases {
        assert_eq!(create_messages("", "services", merge(&svc, &patch)), want, "{name}");
    }
    let old = merge(&svc, &json!({"spec":{"clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"]}}));
    let new = merge(&old, &json!({"spec":{"clusterIP":"10.96.0.11","clusterIPs":["10.96.0.11"]}}));
    assert_eq!(
        update_messages("", "services", new, old),
        [r#"spec.clusterIPs[0]: Invalid value: ["10.96.0.11"]: may not change once set"#]
    );
}

#[test]
fn config_map_and_secret_rules() {
    let cm = json!({"metadata":{"name":"cfg","namespace":"default"},"data":{"good.key":"v","bad key":"v"}});
    assert_eq!(
        create_messages("", "configmaps", cm.clone()),
        [
            r#"data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"#
        ]
    );
    let frozen = json!({"metadata":{"name":"cfg","namespace":"default"},"data":{"a":"1"},"immutable":true});
    let changed = merge(&frozen, &json!({"data":{"a":"2"},"immutable":false}));
    assert_eq!(
        update_messages("", "configmaps", changed, frozen),
        [
            "immutable: Forbidden: field is immutable when `immutable` is set",
            "data: Forbidden: field is immutable when `immutable` is set",
        ]
    );
    let big = json!({"metadata":{"name":"cfg","namespace":"default"},"data":{"a":"x".repeat(1024 * 1024 + 1)}});
    assert_eq!(create_messages("", "configmaps", big), [": Too long: may not be more than 1048576 bytes"]);

    let tls =
        json!({"metadata":{"name":"s","namespace":"default"},"type":"kubernetes.io/tls","data":{"tls.crt":"eA=="}});
    assert_eq!(create_messages("", "secrets", tls.clone()), ["data[tls.key]: Required value"]);
    let opaque = json!({"metadata":{"name":"s","namespace":"default"},"stringData":{"password":"x"}});
    assert!(create_messages("", "secrets", opaque.clone()).is_empty());
    assert_eq!(
        update_messages("", "secrets", merge(&opaque, &json!({"type":"kubernetes.io/basic-auth"})), opaque),
        [r#"type: Invalid value: "kubernetes.io/basic-auth": field is immutable"#]
    );
}

#[test]
fn namespace_node_event_lease_rules() {
    assert_eq!(
        create_messages("", "namespaces", json!({"metadata":{"name":"team.a"}})),
        [r#"metadata.name: Invalid value: "team.a": must not contain dots"#]
    );
    assert!(create_messages("", "namespaces", json!({"metadata":{"name":"team-a"}})).is_empty());
    let ns_info = info("", "namespaces");
    let ns = defaulted("", "namespaces", json!({"metadata":{"name":"team-a"}}));
    let terminating = merge(&ns, &json!({"status":{"phase":"Terminating"}}));
    assert_eq!(
        validate_status_update(ns_info, &terminating, &ns).iter().map(FieldError::message).collect::<Vec<_>>(),
        [r#"status.Phase: Invalid value: "Terminating": may only be 'Active' if `deletionTimestamp` is empty"#]
    );

    assert!(create_messages("", "nodes", json!({"metadata":{"name":"node-1.example"}})).is_empty());
    assert_eq!(
        create_messages("", "nodes", json!({"metadata":{"name":"n","namespace":"default"}})),
        ["metadata.namespace: Forbidden: not allowed on this type"]
    );

    let event = json!({"metadata":{"name":"busybox.17a","namespace":"default"},"involvedObject":{"kind":"Pod","namespace":"other"}});
    assert_eq!(
        create_messages("", "events", event),
        [r#"involvedObject.namespace: Invalid value: "other": does not match event.namespace"#]
    );

    let lease = json!({"metadata":{"name":"node-1","namespace":"kube-node-lease"},"spec":{"leaseDurationSeconds":0}});
    assert_eq!(
        create_messages("coordination.k8s.io", "leases", lease),
        ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
    );
    assert_eq!(
        create_messages("", "serviceaccounts", json!({"metadata":{"namespace":"default"}})),
        ["metadata.name: Required value: name or generateName is required"]
    );
}

#[test]
fn odd_shapes_never_panic() {
    let shapes = [
        json!(null),
        json!([]),
        json!({"metadata": 5, "spec": "x"}),
        json!({"spec": {"containers": [null, 1, {"ports": "x", "resources": {"limits": {"cpu": 5, "memory": {}}}}],
            "volumes": [null], "tolerations": [7], "initContainers": {}}}),
        json!({"spec": {"template": 3, "selector": [], "strategy": {"rollingUpdate": {"maxSurge": [], "maxUnavailable": null}}},
            "data": {"k": 1}, "subsets": [{"ports": [{}]}]}),
    ];
    for info in resources::all() {
        for new in &shapes {
            for old in &shapes {
                let mut new = new.clone();
                apply_defaults(info, &mut new);
                let _ = validate_create(info, &new);
                let _ = validate_update(info, &new, old);
                let _ = validate_status_update(info, &new, old);
            }
        }
    }
}
