//! `container_config::generate` against a real peapod API server: env from values, fieldRef,
//! resourceFieldRef, ConfigMaps and Secrets (keys, optional, missing), envFrom with prefix,
//! service variables, the command/args rules, the managed files and their mounts.
//!
//! Needs the `peapod` binary next to the test executable's `deps/` (`cargo build -p peapod`
//! in the same target dir) or at `$PEAPOD_BIN`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use agent::container_config::{ContainerContext, generate, read_termination_message, termination_message_path};
use agent::runtime::{ContainerConfig, ImageConfig, ImageInfo};
use agent::volumes::{PodVolumes, VolumeManager};
use client::Api;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use serde_json::json;

const GIB: i64 = 1 << 30;

async fn cluster() -> (client::Client, String) {
    let server = tokio::task::spawn_blocking(testkit::shared).await.expect("start server");
    let client = client::Client::from_kubeconfig(server.kubeconfig()).expect("client");
    let namespace = testkit::unique_name("agentcfg");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}})).expect("namespace");
    Api::<Namespace>::all(client.clone()).create(&ns).await.expect("create namespace");
    (client, namespace)
}

async fn create_config_map(client: &client::Client, namespace: &str, name: &str, data: &[(&str, &str)]) {
    let data: BTreeMap<&str, &str> = data.iter().copied().collect();
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).expect("cm");
    Api::<ConfigMap>::namespaced(client.clone(), namespace).create(&cm).await.expect("create configmap");
}

async fn create_secret(client: &client::Client, namespace: &str, name: &str, data: &[(&str, &str)]) {
    let data: BTreeMap<&str, &str> = data.iter().copied().collect();
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).expect("secret");
    Api::<Secret>::namespaced(client.clone(), namespace).create(&secret).await.expect("create secret");
}

fn pod(namespace: &str, spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {
            "name": "web-0", "namespace": namespace, "uid": format!("uid-{namespace}"),
            "labels": {"app": "web"}, "annotations": {"team": "blue"},
        },
        "spec": spec,
    }))
    .expect("pod")
}

fn image() -> ImageInfo {
    ImageInfo {
        id: "sha256:abc".into(),
        names: vec!["docker.io/library/busybox:latest".into()],
        config: ImageConfig {
            entrypoint: vec![],
            cmd: vec!["sh".into()],
            env: vec!["PATH=/usr/bin:/bin".into(), "FROM_IMAGE=image".into(), "OVERRIDDEN=image".into()],
            working_dir: Some("/srv".into()),
            ..ImageConfig::default()
        },
        ..ImageInfo::default()
    }
}

async fn run(client: &client::Client, p: &Pod, volumes: &PodVolumes) -> Result<ContainerConfig, String> {
    let image = image();
    let container = &p.spec.as_ref().expect("spec").containers[0];
    let ctx = ContainerContext {
        pod: p,
        container,
        image: &image,
        attempt: 0,
        pod_ip: Some("10.42.0.9".parse::<IpAddr>().expect("ip")),
        node_name: "node-a",
        host_ip: Some("192.168.1.10".parse::<IpAddr>().expect("ip")),
        volumes,
        log_path: "/var/log/pods/x/app/0.log".into(),
        node_allocatable_cpu_millis: 4000,
        node_allocatable_memory_bytes: 8 * GIB,
    };
    generate(client, ctx).await.map_err(|e| e.to_string())
}

fn env_of(config: &ContainerConfig) -> BTreeMap<String, String> {
    config.env.iter().cloned().collect()
}

#[tokio::test]
async fn environment_from_every_source() {
    let (client, ns) = cluster().await;
    create_config_map(&client, &ns, "app-config", &[("mode", "fast"), ("level", "3")]).await;
    create_secret(&client, &ns, "app-secret", &[("password", "s3cret"), ("user", "admin")]).await;
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "redis-primary"},
        "spec": {"clusterIP": "10.43.0.77", "ports": [{"name": "redis", "port": 6379, "protocol": "TCP"}]},
    }))
    .expect("service");
    let service = Api::<Service>::namespaced(client.clone(), &ns).create(&service).await.expect("create service");
    let cluster_ip = service.spec.as_ref().and_then(|s| s.cluster_ip.clone()).expect("cluster ip");

    let p = pod(
        &ns,
        json!({
            "nodeName": "node-a",
            "serviceAccountName": "builder",
            "containers": [{
                "name": "app",
                "image": "busybox",
                "command": ["echo"],
                "args": ["$(GREETING)", "$(MODE)", "$$(GREETING)"],
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "envFrom": [{"configMapRef": {"name": "app-config"}, "prefix": "CFG_"}, {"secretRef": {"name": "app-secret"}}],
                "env": [
                    {"name": "GREETING", "value": "hello"},
                    {"name": "COMPOSED", "value": "$(GREETING)-$(CFG_mode)-$(UNDEFINED)"},
                    {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "mode"}}},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "app-secret", "key": "password"}}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                    {"name": "APP_LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['team']"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                    {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                    {"name": "HOST_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIPs"}}},
                    {"name": "CPU_REQUEST", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                    {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                    {"name": "MEM_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "OVERRIDDEN", "value": "container"},
                    {"name": "user", "value": "env wins over envFrom"},
                    {"name": "EMPTY"},
                ],
            }],
        }),
    );
    let config = run(&client, &p, &PodVolumes::default()).await.expect("generate");
    let env = env_of(&config);
    let get = |name: &str| env.get(name).map(String::as_str);

    assert_eq!(config.args, vec!["echo", "hello", "fast", "$(GREETING)"]);
    assert_eq!(get("PATH"), Some("/usr/bin:/bin"));
    assert_eq!(get("FROM_IMAGE"), Some("image"));
    assert_eq!(get("OVERRIDDEN"), Some("container"), "the container's env wins over the image's");
    assert_eq!(get("CFG_mode"), Some("fast"));
    assert_eq!(get("CFG_level"), Some("3"));
    assert_eq!(get("password"), Some("s3cret"));
    assert_eq!(get("user"), Some("env wins over envFrom"));
    assert_eq!(get("COMPOSED"), Some("hello-fast-$(UNDEFINED)"));
    assert_eq!(get("MODE"), Some("fast"));
    assert_eq!(get("PASSWORD"), Some("s3cret"));
    assert_eq!(get("POD_NAME"), Some("web-0"));
    assert_eq!(get("POD_NAMESPACE"), Some(ns.as_str()));
    assert_eq!(get("POD_UID"), Some(format!("uid-{ns}").as_str()));
    assert_eq!(get("APP_LABEL"), Some("web"));
    assert_eq!(get("TEAM"), Some("blue"));
    assert_eq!(get("NODE"), Some("node-a"));
    assert_eq!(get("SA"), Some("builder"));
    assert_eq!(get("POD_IP"), Some("10.42.0.9"));
    assert_eq!(get("POD_IPS"), Some("10.42.0.9"));
    assert_eq!(get("HOST_IP"), Some("192.168.1.10"));
    assert_eq!(get("HOST_IPS"), Some("192.168.1.10"));
    assert_eq!(get("CPU_REQUEST"), Some("250"));
    assert_eq!(get("CPU_LIMIT"), Some("4"), "no cpu limit: the node's allocatable, in whole cores");
    assert_eq!(get("MEM_LIMIT"), Some("128"));
    assert_eq!(get("EMPTY"), Some(""));
    // Service links: the master service and the namespace's services.
    assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("10.43.0.1"));
    assert_eq!(get("KUBERNETES_SERVICE_PORT"), Some("443"));
    assert_eq!(get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
    assert_eq!(get("KUBERNETES_PORT"), Some("tcp://10.43.0.1:443"));
    assert_eq!(get("KUBERNETES_PORT_443_TCP_ADDR"), Some("10.43.0.1"));
    assert_eq!(get("REDIS_PRIMARY_SERVICE_HOST"), Some(cluster_ip.as_str()));
    assert_eq!(get("REDIS_PRIMARY_SERVICE_PORT_REDIS"), Some("6379"));
    assert_eq!(get("REDIS_PRIMARY_PORT_6379_TCP"), Some(format!("tcp://{cluster_ip}:6379").as_str()));
    assert_eq!(get("REDIS_PRIMARY_PORT_6379_TCP_PROTO"), Some("tcp"));
    // Image env first, in order, then the container's.
    assert_eq!(config.env[0].0, "PATH");
    assert_eq!(config.env[1].0, "FROM_IMAGE");
    assert!(
        config.env.iter().position(|(k, _)| k == "CFG_mode") < config.env.iter().position(|(k, _)| k == "GREETING")
    );

    assert_eq!(config.working_dir.as_deref(), Some("/srv"));
    assert_eq!(config.resources.cpu_shares, 256);
    assert_eq!(config.resources.memory_limit_bytes, Some(128 << 20));
    assert_eq!(config.resources.oom_score_adj, 1000 - 1000 * 64 / 8192);
    assert!(config.mounts.is_empty(), "no pod directory, no managed files");

    // enableServiceLinks: false keeps only the master service's variables.
    let mut no_links = p.clone();
    no_links.spec.as_mut().expect("spec").enable_service_links = Some(false);
    let env = env_of(&run(&client, &no_links, &PodVolumes::default()).await.expect("generate"));
    assert!(env.contains_key("KUBERNETES_SERVICE_HOST"));
    assert!(!env.contains_key("REDIS_PRIMARY_SERVICE_HOST"));
}

#[tokio::test]
async fn missing_sources() {
    let (client, ns) = cluster().await;
    create_config_map(&client, &ns, "present", &[("k", "v")]).await;
    create_secret(&client, &ns, "creds", &[("k", "v")]).await;
    let with_env = |env: serde_json::Value, env_from: serde_json::Value| {
        pod(&ns, json!({"containers": [{"name": "app", "image": "busybox", "env": env, "envFrom": env_from}]}))
    };
    let cases = [
        (
            json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]),
            json!([]),
            "configmap \"absent\" not found".to_string(),
        ),
        (
            json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "present", "key": "nope"}}}]),
            json!([]),
            format!("couldn't find key nope in ConfigMap {ns}/present"),
        ),
        (
            json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]),
            json!([]),
            "secret \"absent\" not found".to_string(),
        ),
        (
            json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope"}}}]),
            json!([]),
            format!("couldn't find key nope in Secret {ns}/creds"),
        ),
        (json!([]), json!([{"configMapRef": {"name": "absent"}}]), "configmap \"absent\" not found".to_string()),
        (json!([]), json!([{"secretRef": {"name": "absent"}}]), "secret \"absent\" not found".to_string()),
    ];
    for (env, env_from, expected) in cases {
        let error =
            run(&client, &with_env(env.clone(), env_from.clone()), &PodVolumes::default()).await.expect_err("missing");
        assert_eq!(error, expected, "env {env} envFrom {env_from}");
    }
    // Optional: the variable is simply absent.
    let optional = with_env(
        json!([
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": true}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "present", "key": "nope", "optional": true}}},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": true}}},
            {"name": "D", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k", "optional": true}}},
        ]),
        json!([{"configMapRef": {"name": "absent", "optional": true}}, {"secretRef": {"name": "absent", "optional": true}}]),
    );
    let env = env_of(&run(&client, &optional, &PodVolumes::default()).await.expect("optional"));
    assert!(!env.contains_key("A") && !env.contains_key("B") && !env.contains_key("C"));
    assert_eq!(env.get("D").map(String::as_str), Some("v"));
}

#[tokio::test]
async fn security_errors_and_empty_commands() {
    let (client, ns) = cluster().await;
    let root = pod(&ns, json!({"securityContext": {"runAsNonRoot": true}, "containers": [{"name": "app"}]}));
    let error = run(&client, &root, &PodVolumes::default()).await.expect_err("root");
    assert!(error.starts_with("container has runAsNonRoot and image will run as root"), "{error}");

    let mut nothing = pod(&ns, json!({"containers": [{"name": "app"}]}));
    let image_without_cmd = ImageInfo::default();
    let container = nothing.spec.as_mut().expect("spec").containers[0].clone();
    let volumes = PodVolumes::default();
    let ctx = ContainerContext {
        pod: &nothing,
        container: &container,
        image: &image_without_cmd,
        attempt: 0,
        pod_ip: None,
        node_name: "n",
        host_ip: None,
        volumes: &volumes,
        log_path: "/tmp/x.log".into(),
        node_allocatable_cpu_millis: 1000,
        node_allocatable_memory_bytes: GIB,
    };
    let error = generate(&client, ctx).await.expect_err("no command");
    assert!(error.to_string().contains("no command specified"), "{error}");
}

#[tokio::test]
async fn managed_files_are_written_and_mounted() {
    let (client, ns) = cluster().await;
    let data = tempfile::tempdir().expect("tempdir");
    let manager = VolumeManager::new(client.clone(), data.path().join("pods"));
    let p = pod(
        &ns,
        json!({
            "hostAliases": [{"ip": "10.9.9.9", "hostnames": ["legacy.local"]}],
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["svc.example"], "options": [{"name": "ndots", "value": "2"}]},
            "volumes": [{"name": "scratch", "emptyDir": {}}],
            "containers": [{
                "name": "app", "image": "busybox",
                "terminationMessagePath": "/tmp/message",
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch", "subPathExpr": "$(POD)"}],
                "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            }],
        }),
    );
    let volumes = manager.setup(&p).await.expect("setup");
    let config = run(&client, &p, &volumes).await.expect("generate");
    let mount = |path: &str| {
        config.mounts.iter().find(|m| m.container_path == path).unwrap_or_else(|| panic!("{path} mounted"))
    };
    let pod_dir = volumes.pod_dir().expect("pod dir").to_path_buf();

    assert!(
        mount("/scratch").host_path.ends_with("volumes/kubernetes.io~empty-dir/scratch/web-0"),
        "subPathExpr from the resolved env"
    );
    let hosts = std::fs::read_to_string(&mount("/etc/hosts").host_path).expect("hosts");
    assert_eq!(mount("/etc/hosts").host_path, pod_dir.join("etc-hosts"));
    assert!(hosts.contains("10.42.0.9\tweb-0\n"), "{hosts}");
    assert!(hosts.contains("10.9.9.9\tlegacy.local\n"), "{hosts}");
    assert_eq!(std::fs::read_to_string(&mount("/etc/hostname").host_path).expect("hostname"), "web-0\n");
    assert_eq!(
        std::fs::read_to_string(&mount("/etc/resolv.conf").host_path).expect("resolv"),
        "search svc.example\nnameserver 1.1.1.1\noptions ndots:2\n"
    );
    let message = mount("/tmp/message");
    assert!(!message.read_only);
    let container = &p.spec.as_ref().expect("spec").containers[0];
    assert_eq!(termination_message_path(&volumes, container, 0).as_deref(), Some(message.host_path.as_path()));
    assert_eq!(std::fs::read(&message.host_path).expect("message file"), b"");
    std::fs::write(&message.host_path, "bye").expect("container writes");
    assert_eq!(read_termination_message(&message.host_path, 4096).as_deref(), Some("bye"));

    // A container mounting its own /etc/hosts keeps it.
    let mut own = p.clone();
    own.spec.as_mut().expect("spec").containers[0].volume_mounts =
        Some(vec![serde_json::from_value(json!({"name": "scratch", "mountPath": "/etc/hosts"})).expect("mount")]);
    let config = run(&client, &own, &volumes).await.expect("generate");
    let hosts_mounts: Vec<_> = config.mounts.iter().filter(|m| m.container_path == "/etc/hosts").collect();
    assert_eq!(hosts_mounts.len(), 1);
    assert!(hosts_mounts[0].host_path.ends_with("scratch"));

    manager.teardown(p.metadata.uid.as_deref().expect("uid")).await.expect("teardown");
    assert!(!Path::new(&pod_dir).exists(), "the managed files go with the pod directory");
}
