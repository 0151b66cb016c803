//! Defaulting tests: request bodies kubectl sends, defaulted, against what kube-apiserver 1.33
//! stores (for the fields defaulting and the adding admission plugins own).

use serde_json::{Value, json};

use super::apply_defaults;
use super::pod::default_pull_policy;
use crate::resources;

fn defaulted(group: &str, plural: &str, mut object: Value) -> Value {
    let info = resources::find(group, "v1", plural).expect("served resource");
    apply_defaults(info, &mut object);
    object
}

#[test]
fn kubectl_run_pod_gets_kubernetes_defaults() {
    // kubectl-wire.md §2.1
    let body = json!({"kind":"Pod","apiVersion":"v1","metadata":{"name":"busybox","creationTimestamp":null,"labels":{"run":"busybox"}},
        "spec":{"containers":[{"name":"busybox","image":"busybox","args":["echo","Hello World"],"resources":{}}],
                "restartPolicy":"Never","dnsPolicy":"ClusterFirst"},"status":{}});
    let pod = defaulted("", "pods", body);
    assert_eq!(
        pod["spec"],
        json!({
            "containers": [{
                "args": ["echo", "Hello World"],
                "image": "busybox",
                "imagePullPolicy": "Always",
                "name": "busybox",
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"
            }],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Never",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
            ]
        })
    );
    // Defaulting is idempotent (it also runs on update).
    assert_eq!(defaulted("", "pods", pod.clone()), pod);
}

#[test]
fn pull_policy_follows_the_tag() {
    for (image, want) in [
        ("busybox", "Always"),
        ("busybox:latest", "Always"),
        ("busybox:1.36", "IfNotPresent"),
        ("registry.k8s.io/pause:3.10", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v1", "IfNotPresent"),
        ("nginx@sha256:0123456789abcdef", "IfNotPresent"),
        ("nginx:latest@sha256:0123456789abcdef", "Always"),
        ("Busybox", "IfNotPresent"),
    ] {
        assert_eq!(default_pull_policy(image), want, "{image}");
    }
}

#[test]
fn pod_containers_probes_volumes_and_protobuf_zero_values() {
    let pod = defaulted(
        "",
        "pods",
        json!({"metadata":{"name":"p"},"spec":{
            "restartPolicy": "", "dnsPolicy": "",
            "containers":[{"name":"c","image":"nginx:1.27","imagePullPolicy":"",
                "ports":[{"containerPort":80}],
                "resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m"}},
                "livenessProbe":{"httpGet":{"port":80}},
                "readinessProbe":{"grpc":{"port":9000}},
                "env":[{"name":"NODE","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}]}],
            "initContainers":[{"name":"i","image":"busybox","restartPolicy":"Always"}],
            "volumes":[{"name":"a"},{"name":"b","secret":{"secretName":"s"}},{"name":"c","configMap":{"name":"m"}},
                       {"name":"d","hostPath":{"path":"/tmp"}}],
            "tolerations":[{"operator":"Exists"}]}}),
    );
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    let c = &spec["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["ports"][0], json!({"containerPort":80,"protocol":"TCP"}));
    assert_eq!(c["resources"]["requests"], json!({"cpu":"500m","memory":"1Gi"}));
    assert_eq!(
        c["livenessProbe"],
        json!({"httpGet":{"path":"/","port":80,"scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3})
    );
    assert_eq!(c["readinessProbe"]["grpc"], json!({"port":9000,"service":""}));
    assert_eq!(c["env"][0]["valueFrom"]["fieldRef"], json!({"apiVersion":"v1","fieldPath":"spec.nodeName"}));
    assert_eq!(spec["initContainers"][0]["terminationMessagePolicy"], "File");
    assert_eq!(spec["volumes"][0], json!({"name":"a","emptyDir":{}}));
    assert_eq!(spec["volumes"][1]["secret"]["defaultMode"], 420);
    assert_eq!(spec["volumes"][2]["configMap"]["defaultMode"], 420);
    assert_eq!(spec["volumes"][3]["hostPath"], json!({"path":"/tmp","type":""}));
    // A toleration of every taint already covers not-ready and unreachable.
    assert_eq!(spec["tolerations"], json!([{"operator":"Exists"}]));
}

#[test]
fn host_network_pods_get_host_ports() {
    let pod = defaulted(
        "",
        "pods",
        json!({"metadata":{"name":"p"},"spec":{"hostNetwork":true,"containers":[{"name":"c","image":"x","ports":[{"containerPort":8080}]}]}}),
    );
    assert_eq!(pod["spec"]["containers"][0]["ports"][0]["hostPort"], 8080);
}

#[test]
fn kubectl_create_deployment_gets_kubernetes_defaults() {
    // kubectl-wire.md §2.11, decoded from protobuf (zero values dropped, `strategy: {}`).
    let body = json!({"metadata":{"name":"web","labels":{"app":"web"}},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
        "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx","resources":{}}]}},
        "strategy":{}},"status":{}});
    let deployment = defaulted("apps", "deployments", body);
    assert_eq!(
        deployment["spec"],
        json!({
            "progressDeadlineSeconds": 600,
            "replicas": 3,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "image": "nginx",
                        "imagePullPolicy": "Always",
                        "name": "nginx",
                        "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30
                }
            }
        })
    );
}

#[test]
fn deployment_and_replicaset_edge_cases() {
    let d = defaulted(
        "apps",
        "deployments",
        json!({"spec":{"strategy":{"type":"Recreate"},"template":{"spec":{"containers":[]}}}}),
    );
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["spec"]["strategy"], json!({"type":"Recreate"}));
    let d = defaulted("apps", "deployments", json!({"spec":{"strategy":{"rollingUpdate":{"maxSurge":0}}}}));
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"], json!({"maxSurge":0,"maxUnavailable":"25%"}));
    let rs = defaulted(
        "apps",
        "replicasets",
        json!({"spec":{"template":{"spec":{"containers":[{"name":"c","image":"x:1"}]}}}}),
    );
    assert_eq!(rs["spec"]["replicas"], 1);
    assert_eq!(rs["spec"]["template"]["spec"]["restartPolicy"], "Always");
    assert!(rs["spec"]["template"]["spec"].get("enableServiceLinks").is_none());
}

#[test]
fn service_defaults() {
    let svc = defaulted(
        "",
        "services",
        json!({"metadata":{"name":"web"},"spec":{"ports":[{"port":80},{"port":443,"targetPort":"https"}],"selector":{"app":"web"}}}),
    );
    assert_eq!(
        svc["spec"],
        json!({
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}, {"port": 443, "protocol": "TCP", "targetPort": "https"}],
            "selector": {"app": "web"},
            "sessionAffinity": "None",
            "type": "ClusterIP"
        })
    );
    let lb = defaulted("", "services", json!({"spec":{"type":"LoadBalancer","sessionAffinity":"ClientIP"}}));
    assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(lb["spec"]["sessionAffinityConfig"], json!({"clientIP":{"timeoutSeconds":10800}}));
    let ext = defaulted("", "services", json!({"spec":{"type":"ExternalName","externalName":"example.com"}}));
    assert!(ext["spec"].get("ipFamilies").is_none());
    assert!(ext["spec"].get("internalTrafficPolicy").is_none());
}

#[test]
fn namespace_secret_node_endpoints_defaults() {
    let ns = defaulted("", "namespaces", json!({"metadata":{"name":"team"}}));
    assert_eq!(ns["status"], json!({"phase":"Active"}));
    // A finalized namespace does not get its finalizer back.
    let ns = defaulted(
        "",
        "namespaces",
        json!({"metadata":{"name":"team","resourceVersion":"5"},"spec":{},"status":{"phase":"Terminating"}}),
    );
    assert_eq!(ns["spec"], json!({}));
    assert_eq!(ns["status"]["phase"], "Terminating");

    let secret = defaulted(
        "",
        "secrets",
        json!({"metadata":{"name":"s"},"data":{"a":"eA=="},"stringData":{"b":"hello","a":"y"}}),
    );
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["data"], json!({"a":"eQ==","b":"aGVsbG8="}));
    assert!(secret.get("stringData").is_none());

    let node = defaulted("", "nodes", json!({"metadata":{"name":"n"},"status":{"capacity":{"cpu":"2"}}}));
    assert_eq!(node["status"]["allocatable"], json!({"cpu":"2"}));

    let ep = defaulted("", "endpoints", json!({"subsets":[{"addresses":[{"ip":"10.0.0.1"}],"ports":[{"port":80}]}]}));
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
}

#[test]
fn odd_shapes_do_not_panic() {
    for plural in ["pods", "services", "namespaces", "secrets", "nodes", "endpoints", "configmaps"] {
        for body in
            [json!(null), json!([]), json!({"spec": 5}), json!({"spec": {"containers": "x", "volumes": [1, null]}})]
        {
            defaulted("", plural, body);
        }
    }
    for plural in ["deployments", "replicasets"] {
        defaulted("apps", plural, json!({"spec": {"template": {"spec": null}, "strategy": "x"}}));
    }
}
