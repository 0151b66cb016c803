//! PodSpec and PodTemplateSpec validation (ValidatePodSpec, validateContainers and friends in
//! `pkg/apis/core/validation/validation.go`), shared by Pods, Deployments and ReplicaSets.
//!
//! The spec is expected to be defaulted already (`crate::defaults`), as in kube-apiserver:
//! e.g. an absent `terminationGracePeriodSeconds` or `imagePullPolicy` is reported as required.
//! Volume sources are checked for the common kinds (emptyDir, hostPath, secret, configMap,
//! persistentVolumeClaim, downwardAPI, projected); cloud volume plugins only count as a source.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::fields::{arr_of, at, bool_of, child, int_of, obj_of, opt_int, opt_str, str_of, string_map};
use super::names;
use super::object_meta::{IS_NEGATIVE, validate_annotations, validate_labels};
use super::quantity::{self, QUANTITY_FORMAT_ERROR, Quantity};
use crate::FieldError;

/// What the spec is embedded in (PodValidationOptions.ResourceIsPod).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecContext {
    pub resource_is_pod: bool,
}

/// Volume source fields in Go struct order (the order errors are reported in); defaulting
/// uses it too (a volume with none of them is an emptyDir).
pub(crate) const VOLUME_SOURCES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const INIT_ONLY_ALWAYS: &str = "may not be set for init containers without restartPolicy=Always";

fn idx(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// ValidateNonnegativeField.
fn nonnegative(value: i64, path: &str) -> Vec<FieldError> {
    if value < 0 { vec![FieldError::invalid(path, value, IS_NEGATIVE)] } else { Vec::new() }
}

fn dns1123_label(value: &str, path: &str) -> Vec<FieldError> {
    names::is_dns1123_label(value).into_iter().map(|m| FieldError::invalid(path, value, m)).collect()
}

fn file_mode(obj: &Value, key: &str, path: &str) -> Vec<FieldError> {
    match opt_int(obj, key) {
        Some(mode) if !(0..=0o777).contains(&mode) => {
            vec![FieldError::invalid(format!("{path}.{key}"), mode, FILE_MODE_ERROR)]
        }
        _ => Vec::new(),
    }
}

/// validateLocalDescendingPath: relative, without `..` elements.
fn local_descending_path(value: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if value.starts_with('/') {
        errs.push(FieldError::invalid(path, value, "must be a relative path"));
    }
    if value.split(['/', '\\']).any(|part| part == "..") {
        errs.push(FieldError::invalid(path, value, "must not contain '..'"));
    }
    errs
}

fn key_to_paths(items: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_path = idx(path, i);
        if str_of(item, "key").is_empty() {
            errs.push(FieldError::required(format!("{item_path}.key"), ""));
        }
        let p = str_of(item, "path");
        if p.is_empty() {
            errs.push(FieldError::required(format!("{item_path}.path"), ""));
        }
        errs.extend(local_descending_path(p, &format!("{item_path}.path")));
        if p.starts_with("..") && !p.starts_with("../") {
            errs.push(FieldError::invalid(format!("{item_path}.path"), p, "must not start with '..'"));
        }
        errs.extend(file_mode(item, "mode", &item_path));
    }
    errs
}

fn validate_volume_source(volume: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for source in VOLUME_SOURCES {
        let Some(body) = child(volume, source) else { continue };
        let source_path = format!("{path}.{source}");
        if count > 0 {
            errs.push(FieldError::forbidden(source_path, "may not specify more than 1 volume type"));
            continue;
        }
        count += 1;
        match *source {
            "hostPath" => {
                let p = str_of(body, "path");
                if p.is_empty() {
                    errs.push(FieldError::required(format!("{source_path}.path"), ""));
                } else if p.split('/').any(|part| part == "..") {
                    errs.push(FieldError::invalid(format!("{source_path}.path"), p, "must not contain '..'"));
                }
                if let Some(t) = opt_str(body, "type") {
                    const TYPES: &[&str] = &[
                        "",
                        "BlockDevice",
                        "CharDevice",
                        "Directory",
                        "DirectoryOrCreate",
                        "File",
                        "FileOrCreate",
                        "Socket",
                    ];
                    if !TYPES.contains(&t) {
                        errs.push(FieldError::not_supported(format!("{source_path}.type"), t, TYPES));
                    }
                }
            }
            "secret" => {
                if str_of(body, "secretName").is_empty() {
                    errs.push(FieldError::required(format!("{source_path}.secretName"), ""));
                }
                errs.extend(file_mode(body, "defaultMode", &source_path));
                errs.extend(key_to_paths(arr_of(body, "items"), &format!("{source_path}.items")));
            }
            "configMap" => {
                if str_of(body, "name").is_empty() {
                    errs.push(FieldError::required(format!("{source_path}.name"), ""));
                }
                errs.extend(file_mode(body, "defaultMode", &source_path));
                errs.extend(key_to_paths(arr_of(body, "items"), &format!("{source_path}.items")));
            }
            "persistentVolumeClaim" if str_of(body, "claimName").is_empty() => {
                errs.push(FieldError::required(format!("{source_path}.claimName"), ""));
            }
            "downwardAPI" | "projected" => errs.extend(file_mode(body, "defaultMode", &source_path)),
            "emptyDir" => {
                if let Some(q) = child(body, "sizeLimit").and_then(quantity::from_value)
                    && q.is_negative()
                {
                    errs.push(FieldError::forbidden(
                        format!("{source_path}.sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    ));
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    errs
}

/// ValidateVolumes: returns the valid volume names (name → the source kind) and the errors.
fn validate_volumes(volumes: &[Value], path: &str) -> (BTreeMap<String, String>, Vec<FieldError>) {
    let mut all = BTreeMap::new();
    let mut errs = Vec::new();
    for (i, volume) in volumes.iter().enumerate() {
        let vol_path = idx(path, i);
        let name_path = format!("{vol_path}.name");
        let name = str_of(volume, "name");
        let mut el = validate_volume_source(volume, &vol_path);
        if name.is_empty() {
            el.push(FieldError::required(&name_path, ""));
        } else {
            el.extend(dns1123_label(name, &name_path));
        }
        if all.contains_key(name) {
            el.push(FieldError::duplicate(&name_path, name));
        }
        if el.is_empty() {
            let kind = VOLUME_SOURCES.iter().find(|s| child(volume, s).is_some()).copied().unwrap_or("");
            all.insert(name.to_string(), kind.to_string());
        } else {
            errs.extend(el);
        }
    }
    (all, errs)
}

/// ValidatePortNumOrName for an IntOrString port.
fn port_num_or_name(port: Option<&Value>, path: &str) -> Vec<FieldError> {
    match port {
        Some(Value::Number(n)) => {
            let p = n.as_i64().unwrap_or(-1);
            names::is_valid_port_num(p).into_iter().map(|m| FieldError::invalid(path, p, m)).collect()
        }
        Some(Value::String(s)) => {
            names::is_valid_port_name(s).into_iter().map(|m| FieldError::invalid(path, s.as_str(), m)).collect()
        }
        // An absent IntOrString is the integer 0.
        _ => names::is_valid_port_num(0).into_iter().map(|m| FieldError::invalid(path, 0, m)).collect(),
    }
}

const SUPPORTED_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

fn validate_container_ports(ports: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = idx(path, i);
        let name = str_of(port, "name");
        if !name.is_empty() {
            let msgs = names::is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.extend(msgs.into_iter().map(|m| FieldError::invalid(format!("{p}.name"), name, m)));
            } else if !seen.insert(name) {
                errs.push(FieldError::duplicate(format!("{p}.name"), name));
            }
        }
        let container_port = int_of(port, "containerPort");
        if container_port == 0 {
            errs.push(FieldError::required(format!("{p}.containerPort"), ""));
        } else {
            errs.extend(
                names::is_valid_port_num(container_port)
                    .into_iter()
                    .map(|m| FieldError::invalid(format!("{p}.containerPort"), container_port, m)),
            );
        }
        let host_port = int_of(port, "hostPort");
        if host_port != 0 {
            errs.extend(
                names::is_valid_port_num(host_port)
                    .into_iter()
                    .map(|m| FieldError::invalid(format!("{p}.hostPort"), host_port, m)),
            );
        }
        let protocol = str_of(port, "protocol");
        if protocol.is_empty() {
            errs.push(FieldError::required(format!("{p}.protocol"), ""));
        } else if !SUPPORTED_PROTOCOLS.contains(&protocol) {
            errs.push(FieldError::not_supported(format!("{p}.protocol"), protocol, SUPPORTED_PROTOCOLS));
        }
    }
    errs
}

fn validate_env(vars: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, var) in vars.iter().enumerate() {
        let p = idx(path, i);
        let name = str_of(var, "name");
        if name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        } else {
            errs.extend(
                names::is_relaxed_env_var_name(name)
                    .into_iter()
                    .map(|m| FieldError::invalid(format!("{p}.name"), name, m)),
            );
        }
        if let Some(from) = child(var, "valueFrom") {
            let from_path = format!("{p}.valueFrom");
            let mut sources = 0;
            if let Some(field_ref) = child(from, "fieldRef") {
                sources += 1;
                if str_of(field_ref, "fieldPath").is_empty() {
                    errs.push(FieldError::required(format!("{from_path}.fieldRef.fieldPath"), ""));
                }
            }
            if let Some(resource_ref) = child(from, "resourceFieldRef") {
                sources += 1;
                if str_of(resource_ref, "resource").is_empty() {
                    errs.push(FieldError::required(format!("{from_path}.resourceFieldRef.resource"), ""));
                }
            }
            for kind in ["configMapKeyRef", "secretKeyRef"] {
                if let Some(selector) = child(from, kind) {
                    sources += 1;
                    let sel_path = format!("{from_path}.{kind}");
                    let ref_name = str_of(selector, "name");
                    errs.extend(
                        names::name_is_dns_subdomain(ref_name, false)
                            .into_iter()
                            .map(|m| FieldError::invalid(format!("{sel_path}.name"), ref_name, m)),
                    );
                    let key = str_of(selector, "key");
                    if key.is_empty() {
                        errs.push(FieldError::required(format!("{sel_path}.key"), ""));
                    } else {
                        errs.extend(
                            names::is_config_map_key(key)
                                .into_iter()
                                .map(|m| FieldError::invalid(format!("{sel_path}.key"), key, m)),
                        );
                    }
                }
            }
            if sources == 0 {
                errs.push(FieldError::invalid(
                    &from_path,
                    "",
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                ));
            } else if !str_of(var, "value").is_empty() {
                errs.push(FieldError::invalid(&from_path, "", "may not be specified when `value` is not empty"));
            } else if sources > 1 {
                errs.push(FieldError::invalid(&from_path, "", "may not have more than one field specified at a time"));
            }
        }
    }
    errs
}

fn validate_env_from(sources: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let p = idx(path, i);
        let prefix = str_of(source, "prefix");
        if !prefix.is_empty() {
            errs.extend(
                names::is_relaxed_env_var_name(prefix)
                    .into_iter()
                    .map(|m| FieldError::invalid(format!("{p}.prefix"), prefix, m)),
            );
        }
        let mut count = 0;
        for kind in ["configMapRef", "secretRef"] {
            if let Some(r) = child(source, kind) {
                count += 1;
                let name = str_of(r, "name");
                if name.is_empty() {
                    errs.push(FieldError::required(format!("{p}.{kind}.name"), ""));
                } else {
                    errs.extend(
                        names::name_is_dns_subdomain(name, true)
                            .into_iter()
                            .map(|m| FieldError::invalid(format!("{p}.{kind}.name"), name, m)),
                    );
                }
            }
        }
        if count == 0 {
            errs.push(FieldError::invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"));
        } else if count > 1 {
            errs.push(FieldError::invalid(path, "", "may not have more than one field specified at a time"));
        }
    }
    errs
}

fn validate_volume_mounts(mounts: &[Value], volumes: &BTreeMap<String, String>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut mount_points = BTreeSet::new();
    for (i, mount) in mounts.iter().enumerate() {
        let p = idx(path, i);
        let name = str_of(mount, "name");
        if name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        }
        if !volumes.contains_key(name) {
            errs.push(FieldError::not_found(format!("{p}.name"), name));
        }
        let mount_path = str_of(mount, "mountPath");
        if mount_path.is_empty() {
            errs.push(FieldError::required(format!("{p}.mountPath"), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(FieldError::invalid(format!("{p}.mountPath"), mount_path, "must be unique"));
        }
        let sub_path = str_of(mount, "subPath");
        let sub_path_expr = str_of(mount, "subPathExpr");
        if volumes.get(name).is_some_and(|kind| kind == "image") {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(format!("{p}.subPath"), sub_path, "not allowed in image volume sources"));
            }
            if !sub_path_expr.is_empty() {
                errs.push(FieldError::invalid(
                    format!("{p}.subPathExpr"),
                    sub_path_expr,
                    "not allowed in image volume sources",
                ));
            }
        }
        // Kubernetes reports subPath problems on the list's path, not the item's (sic).
        if !sub_path.is_empty() {
            errs.extend(local_descending_path(sub_path, &format!("{path}.subPath")));
        }
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    format!("{p}.subPathExpr"),
                    sub_path_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(local_descending_path(sub_path_expr, &format!("{path}.subPathExpr")));
        }
    }
    errs
}

const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];

/// A resource name in the `kubernetes.io` namespace or without a domain (IsNativeResource).
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_huge_pages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// Container resources without a `/` (IsStandardContainerResourceName).
fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || is_huge_pages(name)
}

fn validate_container_resource_name(name: &str, path: &str) -> Vec<FieldError> {
    let errs: Vec<FieldError> =
        names::is_qualified_name(name).into_iter().map(|m| FieldError::invalid(path, name, m)).collect();
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        if !is_standard_container_resource(name) {
            return vec![FieldError::invalid(path, name, "must be a standard resource for containers")];
        }
    } else if !is_native_resource(name) && name.starts_with("requests.") {
        return vec![FieldError::invalid(path, name, "doesn't follow extended resource name standard")];
    }
    Vec::new()
}

/// validateResourceRequirements for a container: names, quantities, requests ≤ limits.
fn validate_resources(resources: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (lim_path, req_path) = (format!("{path}.limits"), format!("{path}.requests"));
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut cpu_or_memory = false;
    let mut huge_pages = false;
    let read = |map_key: &str| obj_of(resources, map_key).map(|m| m.iter().collect::<Vec<_>>()).unwrap_or_default();
    for (name, raw) in read("limits") {
        let p = format!("{lim_path}[{name}]");
        errs.extend(validate_container_resource_name(name, &p));
        match quantity::from_value(raw) {
            None => errs.push(FieldError::invalid(&p, raw.clone(), QUANTITY_FORMAT_ERROR)),
            Some(q) => {
                errs.extend(validate_quantity_value(name, &q, &p));
                limits.insert(name, q);
            }
        }
        huge_pages |= is_huge_pages(name);
        cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
    }
    for (name, raw) in read("requests") {
        let p = format!("{req_path}[{name}]");
        errs.extend(validate_container_resource_name(name, &p));
        let Some(q) = quantity::from_value(raw) else {
            errs.push(FieldError::invalid(&p, raw.clone(), QUANTITY_FORMAT_ERROR));
            continue;
        };
        errs.extend(validate_quantity_value(name, &q, &p));
        // Extended resources and huge pages cannot be overcommitted: requests must equal limits.
        let overcommit_allowed = is_native_resource(name) && !is_huge_pages(name);
        match limits.get(name.as_str()) {
            Some(limit) if q.cmp(limit).is_ne() && !overcommit_allowed => errs.push(FieldError::invalid(
                &req_path,
                q.canonical(),
                format!("must be equal to {name} limit of {}", limit.canonical()),
            )),
            Some(limit) if q.cmp(limit).is_gt() => errs.push(FieldError::invalid(
                &req_path,
                q.canonical(),
                format!("must be less than or equal to {name} limit of {}", limit.canonical()),
            )),
            None if !overcommit_allowed => {
                errs.push(FieldError::required(&lim_path, "Limit must be set for non overcommitable resources"))
            }
            _ => {}
        }
        huge_pages |= is_huge_pages(name);
        cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
    }
    if huge_pages && !cpu_or_memory {
        errs.push(FieldError::forbidden(path, "HugePages require cpu or memory"));
    }
    errs
}

/// ValidateResourceQuantityValue: non-negative, whole for extended resources.
fn validate_quantity_value(name: &str, q: &Quantity, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if q.is_negative() {
        errs.push(FieldError::invalid(path, q.canonical(), IS_NEGATIVE));
    }
    if !is_native_resource(name) && !q.is_integer() {
        errs.push(FieldError::invalid(path, q.canonical(), "must be an integer"));
    }
    errs
}

/// validateHandler: exactly one of exec, httpGet, tcpSocket, grpc (probes) or sleep (lifecycle).
fn validate_handler(handler: &Value, kinds: &[&str], grace_period: Option<i64>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for kind in kinds {
        let Some(body) = child(handler, kind) else { continue };
        let p = format!("{path}.{kind}");
        if count > 0 {
            errs.push(FieldError::forbidden(p, "may not specify more than 1 handler type"));
            continue;
        }
        count += 1;
        match *kind {
            "exec" if arr_of(body, "command").is_empty() => {
                errs.push(FieldError::required(format!("{p}.command"), ""));
            }
            "httpGet" => {
                if str_of(body, "path").is_empty() {
                    errs.push(FieldError::required(format!("{p}.path"), ""));
                }
                errs.extend(port_num_or_name(body.get("port"), &format!("{p}.port")));
                let scheme = str_of(body, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(FieldError::not_supported(format!("{p}.scheme"), scheme, &["HTTP", "HTTPS"]));
                }
                for header in arr_of(body, "httpHeaders") {
                    let name = str_of(header, "name");
                    errs.extend(
                        names::is_http_header_name(name)
                            .into_iter()
                            .map(|m| FieldError::invalid(format!("{p}.httpHeaders"), name, m)),
                    );
                }
            }
            "tcpSocket" => errs.extend(port_num_or_name(body.get("port"), &format!("{p}.port"))),
            "grpc" => {
                let port = int_of(body, "port");
                errs.extend(
                    names::is_valid_port_num(port)
                        .into_iter()
                        .map(|m| FieldError::invalid(format!("{p}.port"), port, m)),
                );
            }
            "sleep" => {
                let seconds = int_of(body, "seconds");
                if let Some(grace) = grace_period
                    && (seconds < 0 || seconds > grace)
                {
                    // AllowPodLifecycleSleepActionZeroValue is on by default in 1.33.
                    errs.push(FieldError::invalid(
                        p,
                        seconds,
                        format!("must be non-negative and less than terminationGracePeriodSeconds ({grace})"),
                    ));
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

const PROBE_HANDLERS: &[&str] = &["exec", "httpGet", "tcpSocket", "grpc"];
const LIFECYCLE_HANDLERS: &[&str] = &["exec", "httpGet", "tcpSocket", "sleep"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

fn validate_probe(probe: &Value, kind: ProbeKind, grace_period: Option<i64>, path: &str) -> Vec<FieldError> {
    let mut errs = validate_handler(probe, PROBE_HANDLERS, grace_period, path);
    for field in ["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"] {
        errs.extend(nonnegative(int_of(probe, field), &format!("{path}.{field}")));
    }
    if let Some(grace) = opt_int(probe, "terminationGracePeriodSeconds")
        && grace <= 0
    {
        errs.push(FieldError::invalid(
            format!("{path}.terminationGracePeriodSeconds"),
            grace,
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let threshold = int_of(probe, "successThreshold");
            if threshold != 1 {
                errs.push(FieldError::invalid(format!("{path}.successThreshold"), threshold, "must be 1"));
            }
        }
        ProbeKind::Readiness => {
            if let Some(grace) = child(probe, "terminationGracePeriodSeconds") {
                errs.push(FieldError::invalid(
                    format!("{path}.terminationGracePeriodSeconds"),
                    grace.clone(),
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

/// Lifecycle hooks and probes, for regular and restartable init containers.
fn validate_lifecycle_and_probes(container: &Value, grace_period: Option<i64>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(lifecycle) = child(container, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(handler) = child(lifecycle, hook) {
                errs.extend(validate_handler(
                    handler,
                    LIFECYCLE_HANDLERS,
                    grace_period,
                    &format!("{path}.lifecycle.{hook}"),
                ));
            }
        }
    }
    for (field, kind) in [
        ("livenessProbe", ProbeKind::Liveness),
        ("readinessProbe", ProbeKind::Readiness),
        ("startupProbe", ProbeKind::Startup),
    ] {
        if let Some(probe) = child(container, field) {
            errs.extend(validate_probe(probe, kind, grace_period, &format!("{path}.{field}")));
        }
    }
    errs
}

fn validate_uid_gid(obj: &Value, key: &str, path: &str) -> Vec<FieldError> {
    match opt_int(obj, key) {
        Some(id) if !(0..=i64::from(i32::MAX)).contains(&id) => {
            vec![FieldError::invalid(format!("{path}.{key}"), id, names::inclusive_range_error(0, i64::from(i32::MAX)))]
        }
        _ => Vec::new(),
    }
}

fn validate_security_context(sc: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = validate_uid_gid(sc, "runAsUser", path);
    errs.extend(validate_uid_gid(sc, "runAsGroup", path));
    if sc.get("allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false) && bool_of(sc, "privileged") {
        errs.push(FieldError::invalid(
            path,
            sc.clone(),
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
    errs
}

/// validateContainerCommon: what every container kind must satisfy.
fn validate_container_common(c: &Value, volumes: &BTreeMap<String, String>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_of(c, "name");
    if name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else {
        errs.extend(dns1123_label(name, &format!("{path}.name")));
    }
    if str_of(c, "image").is_empty() {
        errs.push(FieldError::required(format!("{path}.image"), ""));
    }
    match str_of(c, "terminationMessagePolicy") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(format!("{path}.terminationMessagePolicy"), "")),
        other => errs.push(FieldError::not_supported(
            format!("{path}.terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(validate_container_ports(arr_of(c, "ports"), &format!("{path}.ports")));
    errs.extend(validate_env(arr_of(c, "env"), &format!("{path}.env")));
    errs.extend(validate_env_from(arr_of(c, "envFrom"), &format!("{path}.envFrom")));
    errs.extend(validate_volume_mounts(arr_of(c, "volumeMounts"), volumes, &format!("{path}.volumeMounts")));
    match str_of(c, "imagePullPolicy") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(format!("{path}.imagePullPolicy"), "")),
        other => errs.push(FieldError::not_supported(format!("{path}.imagePullPolicy"), other, PULL_POLICIES)),
    }
    errs.extend(validate_resources(at(c, "resources"), &format!("{path}.resources")));
    if let Some(sc) = child(c, "securityContext") {
        errs.extend(validate_security_context(sc, &format!("{path}.securityContext")));
    }
    errs
}

/// Host ports must not collide (protocol/hostIP/port) within the given containers.
fn check_host_port_conflicts(containers: &[(usize, &Value)], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (ci, c) in containers {
        for (pi, port) in arr_of(c, "ports").iter().enumerate() {
            let host_port = int_of(port, "hostPort");
            if host_port == 0 {
                continue;
            }
            let key = format!("{}/{}/{host_port}", str_of(port, "protocol"), str_of(port, "hostIP"));
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(format!("{path}[{ci}].ports[{pi}].hostPort"), key));
            }
        }
    }
    errs
}

fn validate_containers(
    spec: &Value,
    volumes: &BTreeMap<String, String>,
    grace: Option<i64>,
    path: &str,
) -> Vec<FieldError> {
    let containers = arr_of(spec, "containers");
    if containers.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let p = idx(path, i);
        errs.extend(validate_container_common(c, volumes, &p));
        let name = str_of(c, "name");
        if !seen.insert(name) {
            errs.push(FieldError::duplicate(format!("{p}.name"), name));
        }
        errs.extend(validate_lifecycle_and_probes(c, grace, &p));
        if child(c, "restartPolicy").is_some() {
            errs.push(FieldError::forbidden(format!("{p}.restartPolicy"), "may not be set for non-init containers"));
        }
    }
    let all: Vec<(usize, &Value)> = containers.iter().enumerate().collect();
    errs.extend(check_host_port_conflicts(&all, path));
    errs
}

fn validate_init_containers(
    spec: &Value,
    volumes: &BTreeMap<String, String>,
    grace: Option<i64>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut all_names: BTreeSet<&str> = arr_of(spec, "containers").iter().map(|c| str_of(c, "name")).collect();
    for (i, c) in arr_of(spec, "initContainers").iter().enumerate() {
        let p = idx(path, i);
        errs.extend(validate_container_common(c, volumes, &p));
        let mut restart_always = false;
        if let Some(policy) = opt_str(c, "restartPolicy") {
            // Native sidecars: only `Always` is accepted on init containers.
            if policy != "Always" {
                errs.push(FieldError::not_supported(format!("{p}.restartPolicy"), policy, &["Always"]));
            }
            restart_always = policy == "Always";
        }
        let name = str_of(c, "name");
        if all_names.contains(name) {
            errs.push(FieldError::duplicate(format!("{p}.name"), name));
        } else if !name.is_empty() {
            all_names.insert(name);
        }
        errs.extend(check_host_port_conflicts(&[(i, c)], path));
        if restart_always {
            errs.extend(validate_lifecycle_and_probes(c, grace, &p));
        } else {
            for field in ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"] {
                if child(c, field).is_some() {
                    errs.push(FieldError::forbidden(format!("{p}.{field}"), INIT_ONLY_ALWAYS));
                }
            }
        }
        if !arr_of(c, "resizePolicy").is_empty() && !restart_always {
            errs.push(FieldError::invalid(
                format!("{p}.resizePolicy"),
                at(c, "resizePolicy").clone(),
                "must not be set for init containers",
            ));
        }
    }
    errs
}

/// ValidateTolerations.
pub fn validate_tolerations(tolerations: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = idx(path, i);
        let key = str_of(t, "key");
        let operator = str_of(t, "operator");
        let effect = str_of(t, "effect");
        let value = str_of(t, "value");
        if !key.is_empty() {
            errs.extend(
                names::is_qualified_name(key).into_iter().map(|m| FieldError::invalid(format!("{p}.key"), key, m)),
            );
        }
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                format!("{p}.operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if child(t, "tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                format!("{p}.effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let msgs = names::is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(format!("{p}.operator"), value, msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        format!("{p}.operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(format!("{p}.operator"), other, &["Equal", "Exists"])),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errs.push(FieldError::not_supported(
                format!("{p}.effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

fn named(path: &str, value: &str, msgs: Vec<String>) -> Vec<FieldError> {
    msgs.into_iter().map(|m| FieldError::invalid(path, value, m)).collect()
}

/// ValidatePodSpec. `path` is `spec` for a Pod, `spec.template.spec` in workloads.
pub fn validate_pod_spec(spec: &Value, path: &str, ctx: SpecContext) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let grace = opt_int(spec, "terminationGracePeriodSeconds");
    if grace.is_none() {
        errs.push(FieldError::required(format!("{path}.terminationGracePeriodSeconds"), ""));
    }
    let (volumes, volume_errs) = validate_volumes(arr_of(spec, "volumes"), &format!("{path}.volumes"));
    errs.extend(volume_errs);
    errs.extend(validate_containers(spec, &volumes, grace, &format!("{path}.containers")));
    errs.extend(validate_init_containers(spec, &volumes, grace, &format!("{path}.initContainers")));

    if bool_of(spec, "hostNetwork") {
        for (i, c) in arr_of(spec, "containers").iter().enumerate() {
            for (j, port) in arr_of(c, "ports").iter().enumerate() {
                let (host_port, container_port) = (int_of(port, "hostPort"), int_of(port, "containerPort"));
                if (ctx.resource_is_pod || host_port != 0) && host_port != container_port {
                    errs.push(FieldError::invalid(
                        format!("{path}.containers[{i}].ports[{j}].hostPort"),
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }

    match str_of(spec, "restartPolicy") {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(format!("{path}.restartPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dns_policy = str_of(spec, "dnsPolicy");
    match dns_policy {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(format!("{path}.dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            format!("{path}.dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(&string_map(spec, "nodeSelector"), &format!("{path}.nodeSelector")));
    if let Some(sc) = child(spec, "securityContext") {
        let sc_path = format!("{path}.securityContext");
        errs.extend(validate_uid_gid(sc, "runAsUser", &sc_path));
        errs.extend(validate_uid_gid(sc, "runAsGroup", &sc_path));
        errs.extend(validate_uid_gid(sc, "fsGroup", &sc_path));
    }
    for (i, secret) in arr_of(spec, "imagePullSecrets").iter().enumerate() {
        if secret.as_object().is_some_and(|m| m.keys().any(|k| k != "name")) {
            errs.push(FieldError::invalid(
                idx(&format!("{path}.imagePullSecrets"), i),
                secret.clone(),
                "only name may be set",
            ));
        }
    }
    if dns_policy == "None" {
        match child(spec, "dnsConfig") {
            None => errs.push(FieldError::required(
                format!("{path}.dnsConfig"),
                "must provide `dnsConfig` when `dnsPolicy` is None",
            )),
            Some(cfg) if arr_of(cfg, "nameservers").is_empty() => errs.push(FieldError::required(
                format!("{path}.dnsConfig.nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            )),
            _ => {}
        }
    }
    for (i, gate) in arr_of(spec, "readinessGates").iter().enumerate() {
        let p = format!("{path}.readinessGates[{i}].conditionType");
        let condition = str_of(gate, "conditionType");
        errs.extend(named(&p, condition, names::is_qualified_name(condition)));
    }
    let mut gates = BTreeSet::new();
    for (i, gate) in arr_of(spec, "schedulingGates").iter().enumerate() {
        let p = format!("{path}.schedulingGates[{i}]");
        let name = str_of(gate, "name");
        errs.extend(named(&p, name, names::is_qualified_name(name)));
        if !gates.insert(name) {
            errs.push(FieldError::duplicate(p, name));
        }
    }
    for (field, check) in [
        ("serviceAccountName", names::name_is_dns_subdomain as fn(&str, bool) -> Vec<String>),
        ("nodeName", names::name_is_dns_subdomain),
        ("priorityClassName", names::name_is_dns_subdomain),
    ] {
        let value = str_of(spec, field);
        if !value.is_empty() {
            errs.extend(named(&format!("{path}.{field}"), value, check(value, false)));
        }
    }
    if let Some(deadline) = opt_int(spec, "activeDeadlineSeconds")
        && !(1..=i64::from(i32::MAX)).contains(&deadline)
    {
        errs.push(FieldError::invalid(
            format!("{path}.activeDeadlineSeconds"),
            deadline,
            names::inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for field in ["hostname", "subdomain"] {
        let value = str_of(spec, field);
        if !value.is_empty() {
            errs.extend(dns1123_label(value, &format!("{path}.{field}")));
        }
    }
    errs.extend(validate_tolerations(arr_of(spec, "tolerations"), &format!("{path}.tolerations")));
    if let Some(runtime_class) = opt_str(spec, "runtimeClassName") {
        errs.extend(named(
            &format!("{path}.runtimeClassName"),
            runtime_class,
            names::name_is_dns_subdomain(runtime_class, false),
        ));
    }
    if let Some(policy) = opt_str(spec, "preemptionPolicy") {
        match policy {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(format!("{path}.preemptionPolicy"), "")),
            other => errs.push(FieldError::not_supported(
                format!("{path}.preemptionPolicy"),
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(os) = child(spec, "os") {
        let name = str_of(os, "name");
        if name.is_empty() {
            errs.push(FieldError::required(format!("{path}.os.name"), ""));
        } else if name != "linux" && name != "windows" {
            errs.push(FieldError::not_supported(format!("{path}.os.name"), name, &["linux", "windows"]));
        }
    }
    errs
}

/// The container lists of a spec with their field names, for code that walks all of them.
pub fn container_lists(spec: &Value) -> [(&'static str, &[Value]); 2] {
    [("containers", arr_of(spec, "containers")), ("initContainers", arr_of(spec, "initContainers"))]
}

/// ValidatePodTemplateSpec: template labels/annotations and the spec (`path` = `spec.template`).
pub fn validate_pod_template_spec(template: &Value, path: &str) -> Vec<FieldError> {
    let meta = at(template, "metadata");
    let mut errs = validate_labels(&string_map(meta, "labels"), &format!("{path}.labels"));
    errs.extend(validate_annotations(&string_map(meta, "annotations"), &format!("{path}.annotations")));
    let spec = at(template, "spec");
    errs.extend(validate_pod_spec(spec, &format!("{path}.spec"), SpecContext { resource_is_pod: false }));
    if !arr_of(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            format!("{path}.spec.ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// validateContainersOnlyForPod: images with surrounding whitespace (pods only, not templates).
pub fn validate_image_whitespace(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (list, containers) in container_lists(spec) {
        for (i, c) in containers.iter().enumerate() {
            let image = str_of(c, "image");
            if image.len() != image.trim().len() {
                errs.push(FieldError::invalid(
                    format!("{path}.{list}[{i}].image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    errs
}
