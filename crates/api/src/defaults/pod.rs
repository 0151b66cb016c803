//! Pod and PodSpec defaults: SetDefaults_Pod, SetDefaults_PodSpec, SetDefaults_Container, the
//! probe, handler, port, volume and env defaults, and two admission plugins that only add fields:
//! DefaultTolerationSeconds (not-ready/unreachable tolerations) and Priority (priority 0 and
//! preemptionPolicy PreemptLowerPriority when no PriorityClass applies).
//!
//! `default_pod_spec` is also used for the pod templates of Deployments and ReplicaSets; the
//! pod-only parts (requests from limits, enableServiceLinks, admission) are not applied there.

use serde_json::{Map, Value, json};

use super::{each_object, ensure_object, is_unset, set_default, with_object};

/// v1.DefaultTerminationGracePeriodSeconds.
const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// The DefaultTolerationSeconds admission plugin's default (its flags' default).
const DEFAULT_TOLERATION_SECONDS: i64 = 300;
/// Default file mode of secret, configMap, downwardAPI and projected volumes (0644).
const DEFAULT_MODE: i64 = 0o644;

/// Pods: SetDefaults_Pod, then the spec defaults, then the admission plugins.
pub fn default_pod(pod: &mut Map<String, Value>) {
    ensure_object(pod, "spec", |spec| {
        // If limits are set and requests are not, requests default to the limits (pods only).
        for list in ["containers", "initContainers"] {
            each_object(spec, list, default_requests_from_limits);
        }
        if spec.get("enableServiceLinks").is_none_or(Value::is_null) {
            spec.insert("enableServiceLinks".to_string(), Value::Bool(true));
        }
        if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
            for list in ["containers", "initContainers"] {
                each_object(spec, list, |c| {
                    each_object(c, "ports", |port| {
                        let host_port = port.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
                        if host_port == 0
                            && let Some(container_port) = port.get("containerPort").cloned()
                        {
                            port.insert("hostPort".to_string(), container_port);
                        }
                    })
                });
            }
        }
        default_pod_spec(spec);
        admit_default_toleration_seconds(spec);
        admit_priority(spec);
    });
}

fn default_requests_from_limits(container: &mut Map<String, Value>) {
    let Some(limits) = container.get("resources").and_then(|r| r.get("limits")).and_then(Value::as_object).cloned()
    else {
        return;
    };
    if limits.is_empty() {
        return;
    }
    ensure_object(container, "resources", |resources| {
        ensure_object(resources, "requests", |requests| {
            for (name, quantity) in limits {
                requests.entry(name).or_insert(quantity);
            }
        })
    });
}

/// SetDefaults_PodSpec and everything below it (containers, volumes).
pub fn default_pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "dnsPolicy", "ClusterFirst");
    set_default(spec, "restartPolicy", "Always");
    if spec.get("securityContext").is_none_or(Value::is_null) {
        spec.insert("securityContext".to_string(), json!({}));
    }
    set_default(spec, "terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    set_default(spec, "schedulerName", "default-scheduler");
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        each_object(spec, list, default_container);
    }
    each_object(spec, "volumes", default_volume);
}

/// The pull policy Kubernetes picks from the image reference: `Always` for `:latest` or no
/// tag (and no digest), `IfNotPresent` otherwise, including for unparsable references.
pub fn default_pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    // The tag is after the last ':' of the last path component (a ':' before it is a port).
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.split_once(':').map(|(_, tag)| tag);
    let path = name.split_once('/').map_or(name, |(first, rest)| {
        // The first component is a registry host when it has a '.' or ':' or is localhost.
        if first.contains(['.', ':']) || first == "localhost" { rest } else { name }
    });
    let repository = path.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(path, |(r, _)| r);
    let valid = !name.is_empty()
        && !repository.is_empty()
        && repository.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-/".contains(&c));
    if !valid {
        return "IfNotPresent";
    }
    match (tag, digest) {
        (Some("latest"), _) | (None, None) => "Always",
        _ => "IfNotPresent",
    }
}

/// SetDefaults_Container (plus ports, probes, lifecycle and env field refs).
fn default_container(c: &mut Map<String, Value>) {
    if is_unset(c, "imagePullPolicy") {
        let policy = default_pull_policy(c.get("image").and_then(Value::as_str).unwrap_or(""));
        c.insert("imagePullPolicy".to_string(), Value::from(policy));
    }
    set_default(c, "terminationMessagePath", "/dev/termination-log");
    set_default(c, "terminationMessagePolicy", "File");
    // ResourceRequirements is a non-pointer struct: Kubernetes always serializes `resources: {}`.
    if c.get("resources").is_none_or(Value::is_null) {
        c.insert("resources".to_string(), json!({}));
    }
    each_object(c, "ports", |port| set_default(port, "protocol", "TCP"));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        with_object(c, probe, default_probe);
    }
    with_object(c, "lifecycle", |lifecycle| {
        for hook in ["postStart", "preStop"] {
            with_object(lifecycle, hook, default_handler);
        }
    });
    each_object(c, "env", |var| {
        with_object(var, "valueFrom", |from| with_object(from, "fieldRef", |r| set_default(r, "apiVersion", "v1")));
    });
}

/// SetDefaults_Probe and the handler defaults.
fn default_probe(probe: &mut Map<String, Value>) {
    set_default(probe, "timeoutSeconds", 1);
    set_default(probe, "periodSeconds", 10);
    set_default(probe, "successThreshold", 1);
    set_default(probe, "failureThreshold", 3);
    default_handler(probe);
    with_object(probe, "grpc", |grpc| {
        if grpc.get("service").is_none_or(Value::is_null) {
            grpc.insert("service".to_string(), Value::from(""));
        }
    });
}

/// SetDefaults_HTTPGetAction: path `/`, scheme HTTP.
fn default_handler(handler: &mut Map<String, Value>) {
    with_object(handler, "httpGet", |http| {
        set_default(http, "path", "/");
        set_default(http, "scheme", "HTTP");
    });
}

/// SetDefaults_Volume (a volume without a source is an emptyDir) and the source defaults.
fn default_volume(volume: &mut Map<String, Value>) {
    let has_source =
        crate::validation::pod_spec::VOLUME_SOURCES.iter().any(|s| volume.get(*s).is_some_and(|v| !v.is_null()));
    if !has_source {
        volume.insert("emptyDir".to_string(), json!({}));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        with_object(volume, source, |s| {
            if s.get("defaultMode").is_none_or(Value::is_null) {
                s.insert("defaultMode".to_string(), Value::from(DEFAULT_MODE));
            }
        });
    }
    with_object(volume, "hostPath", |h| {
        if h.get("type").is_none_or(Value::is_null) {
            h.insert("type".to_string(), Value::from(""));
        }
    });
    with_object(volume, "downwardAPI", |d| {
        each_object(d, "items", |item| with_object(item, "fieldRef", |r| set_default(r, "apiVersion", "v1")));
    });
    with_object(volume, "projected", |p| {
        each_object(p, "sources", |source| {
            with_object(source, "serviceAccountToken", |t| set_default(t, "expirationSeconds", 3600));
            with_object(source, "downwardAPI", |d| {
                each_object(d, "items", |item| with_object(item, "fieldRef", |r| set_default(r, "apiVersion", "v1")));
            });
        })
    });
}

/// Admission plugin DefaultTolerationSeconds (enabled by default in kube-apiserver): a pod that
/// does not tolerate `node.kubernetes.io/not-ready` / `unreachable` NoExecute taints gets a
/// toleration for each, for 300 seconds.
fn admit_default_toleration_seconds(spec: &mut Map<String, Value>) {
    let existing: Vec<(String, String)> = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    let field = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    (field("key"), field("effect"))
                })
                .collect()
        })
        .unwrap_or_default();
    let tolerates = |taint: &str| {
        existing
            .iter()
            .any(|(key, effect)| (key == taint || key.is_empty()) && (effect == "NoExecute" || effect.is_empty()))
    };
    let mut additions = Vec::new();
    for taint in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        if !tolerates(taint) {
            additions.push(json!({
                "key": taint,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
    if additions.is_empty() {
        return;
    }
    match spec.get_mut("tolerations").and_then(Value::as_array_mut) {
        Some(list) => list.extend(additions),
        None => {
            spec.insert("tolerations".to_string(), Value::Array(additions));
        }
    }
}

/// Admission plugin Priority: the value of the pod's PriorityClass. Only the two built-in
/// system classes exist here; without a class (and no global default class) priority is 0.
fn admit_priority(spec: &mut Map<String, Value>) {
    if spec.get("priority").is_none_or(Value::is_null) {
        let priority = match spec.get("priorityClassName").and_then(Value::as_str) {
            Some("system-node-critical") => 2_000_001_000,
            Some("system-cluster-critical") => 2_000_000_000,
            _ => 0,
        };
        spec.insert("priority".to_string(), Value::from(priority));
    }
    set_default(spec, "preemptionPolicy", "PreemptLowerPriority");
}
