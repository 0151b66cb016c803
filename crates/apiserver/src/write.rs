//! The storage side of every verb: reading an object, creating it, the read-modify-write
//! loop behind update and patch (kube-apiserver's `GuaranteedUpdate`), and deletion with
//! grace periods and finalizers. Handlers decode and shape; this module decides what is
//! stored.

use api::ResourceInfo;
use serde_json::{Value, json};
use store::{Revision, StoreError};

use crate::ApiServer;
use crate::error::{ApiError, ApiResult};
use crate::objects::{self, from_kv, metadata_mut, to_bytes};

/// Kinds whose `metadata.generation` tracks spec changes (the others keep none, as in
/// Kubernetes 1.33 with default feature gates).
fn tracks_generation(info: &ResourceInfo) -> bool {
    info.group == "apps"
}

/// The current object and its revision, or 404.
pub async fn read(
    server: &ApiServer,
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: &str,
) -> ApiResult<(Value, Revision)> {
    let key = objects::key(info, namespace, name);
    match server.backend.get(&key).await? {
        Some(kv) => Ok((from_kv(info, &kv)?, kv.mod_revision)),
        None => Err(ApiError::not_found(info, name)),
    }
}

/// How long a read at a resourceVersion newer than the store waits for it, as
/// kube-apiserver's watch cache does (`waitUntilFreshAndBlock`), before answering 504.
const FRESHNESS_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Waits until the store has reached `revision`; a 504 `ResourceVersionTooLarge` if it does
/// not within [`FRESHNESS_WAIT`] (a client that remembers a version from before a store was
/// replaced must re-list rather than wait for events that will never come).
pub async fn wait_for_revision(server: &ApiServer, revision: Revision) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + FRESHNESS_WAIT;
    loop {
        let current = server.backend.current_revision().await?;
        if current >= revision {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::resource_version_too_large(revision, current));
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Whether the namespace exists and accepts new objects.
pub async fn check_namespace_accepts(
    server: &ApiServer,
    info: &ResourceInfo,
    name: &str,
    namespace: &str,
) -> ApiResult<()> {
    if server.namespace_lifecycle.recently_accepting(namespace) {
        return Ok(());
    }
    let namespaces = api::resources::find("", "v1", "namespaces").expect("namespaces are served");
    match read(server, namespaces, None, namespace).await {
        Ok((object, _)) if objects::is_being_deleted(&object) => {
            let mut error = forbidden(
                info,
                name,
                &format!("unable to create new content in namespace {namespace} because it is being terminated"),
            );
            if let Some(details) = error.details.as_mut() {
                details["causes"] = json!([{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {namespace} is being terminated"),
                    "field": "metadata.namespace",
                }]);
            }
            Err(error)
        }
        Ok(_) => {
            server.namespace_lifecycle.remember_accepting(namespace);
            Ok(())
        }
        Err(error) if error.code == 404 => Err(ApiError::namespace_not_found(namespace)),
        Err(error) => Err(error),
    }
}

/// Makes the NamespaceLifecycle memory forget a namespace when a write of it starts and
/// again when it ends (on drop), so no check can remember the state from before the write.
struct ForgetNamespace<'a> {
    server: &'a ApiServer,
    name: Option<&'a str>,
}

impl<'a> ForgetNamespace<'a> {
    fn around_write(server: &'a ApiServer, info: &ResourceInfo, name: &'a str) -> Self {
        let name = (info.group.is_empty() && info.kind == "Namespace").then_some(name);
        if let Some(name) = name {
            server.namespace_lifecycle.forget(name);
        }
        ForgetNamespace { server, name }
    }
}

impl Drop for ForgetNamespace<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.name {
            self.server.namespace_lifecycle.forget(name);
        }
    }
}

/// Fills server-set metadata and status on create, then defaults and validates.
/// `object` already has the request's namespace and a name.
pub fn prepare_create(info: &ResourceInfo, object: &mut Value, now: jiff::Timestamp) -> ApiResult<()> {
    {
        let metadata = metadata_mut(object);
        metadata.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        metadata.insert("creationTimestamp".into(), json!(objects::now_rfc3339(now)));
        metadata.remove("deletionTimestamp");
        metadata.remove("deletionGracePeriodSeconds");
        metadata.remove("selfLink");
        if tracks_generation(info) {
            metadata.insert("generation".into(), json!(1));
        } else {
            metadata.remove("generation");
        }
    }
    reset_status_on_create(info, object);
    api::defaults::apply_defaults(info, object);
    let errors = api::validation::validate_create(info, object);
    if !errors.is_empty() {
        return Err(ApiError::invalid(info, objects::name_of(object), &errors));
    }
    Ok(())
}

/// Status is owned by controllers and agents: creating an object sets the initial status
/// kube-apiserver's strategies set (`PrepareForCreate`).
fn reset_status_on_create(info: &ResourceInfo, object: &mut Value) {
    let Some(map) = object.as_object_mut() else { return };
    match (info.group, info.kind) {
        ("", "Pod") => {
            let qos = api::qos::pod_qos_class(map.get("spec").unwrap_or(&Value::Null));
            map.insert("status".into(), json!({"phase": "Pending", "qosClass": qos}));
        }
        ("apps", _) => {
            map.insert("status".into(), json!({}));
        }
        ("", "Namespace") => {
            map.insert("status".into(), json!({"phase": "Active"}));
            // The namespace controller's finalizer, required on create (and only then: it is
            // removed through `finalize` when the namespace's content is gone).
            let spec = map.entry("spec").or_insert_with(|| json!({}));
            if !spec.is_object() {
                *spec = json!({});
            }
            let finalizers =
                spec.as_object_mut().expect("spec is an object").entry("finalizers").or_insert_with(|| json!([]));
            if !finalizers.is_array() {
                *finalizers = json!([]);
            }
            let list = finalizers.as_array_mut().expect("finalizers is an array");
            if !list.iter().any(|f| f == "kubernetes") {
                list.push(json!("kubernetes"));
            }
        }
        ("", "Service") => {
            map.insert("status".into(), json!({"loadBalancer": {}}));
        }
        _ => {}
    }
}

/// Stores a prepared object. `dry_run` returns it as it would have been stored. Pods pass
/// the RuntimeClass admission plugin first ([`admit_runtime_class`]).
pub async fn create(server: &ApiServer, info: &ResourceInfo, mut object: Value, dry_run: bool) -> ApiResult<Value> {
    if info.group.is_empty() && info.kind == "Pod" {
        admit_runtime_class(server, info, &mut object).await?;
    }
    let name = objects::name_of(&object).to_string();
    let key = objects::key(info, objects::metadata_str(&object, "namespace"), &name);
    if dry_run {
        if server.backend.get(&key).await?.is_some() {
            return Err(ApiError::already_exists(info, &name));
        }
        return Ok(object);
    }
    match server.backend.create(&key, to_bytes(info, &mut object)).await {
        Ok(revision) => {
            objects::set_resource_version(&mut object, revision);
            Ok(object)
        }
        Err(StoreError::AlreadyExists) => Err(ApiError::already_exists(info, &name)),
        Err(other) => Err(other.into()),
    }
}

/// The RuntimeClass admission plugin on pod create: the class the pod names is read from the
/// store and its overhead and scheduling merged in (`api::defaults::runtime_class`); a missing
/// class or a conflicting pod is a 403, as kube-apiserver's admission chain answers.
async fn admit_runtime_class(server: &ApiServer, info: &ResourceInfo, pod: &mut Value) -> ApiResult<()> {
    use api::defaults::runtime_class::{RuntimeClassRejection, admit_pod, runtime_class_name};
    let refuse =
        |pod: &Value, rejection: RuntimeClassRejection| forbidden(info, objects::name_of(pod), &rejection.to_string());
    let class = match runtime_class_name(pod).map(str::to_string) {
        None => None,
        Some(class_name) => {
            let classes =
                api::resources::find("node.k8s.io", "v1", "runtimeclasses").expect("runtimeclasses are served");
            match read(server, classes, None, &class_name).await {
                Ok((class, _)) => Some(class),
                Err(error) if error.code == 404 => {
                    return Err(refuse(pod, RuntimeClassRejection::NotFound(class_name)));
                }
                Err(error) => return Err(error),
            }
        }
    };
    admit_pod(pod, class.as_ref()).map_err(|rejection| refuse(pod, rejection))
}

/// An admission plugin's refusal, as `admission.NewForbidden` words it.
fn forbidden(info: &ResourceInfo, name: &str, reason: &str) -> ApiError {
    let message = if name.is_empty() {
        format!("{} is forbidden: {reason}", info.group_resource())
    } else {
        format!("{} \"{name}\" is forbidden: {reason}", info.group_resource())
    };
    ApiError { details: Some(json!({"name": name, "kind": info.plural})), ..ApiError::forbidden(message) }
}

/// One object: its resource, namespace (for namespaced resources) and name.
#[derive(Clone, Copy)]
pub struct ObjectKey<'a> {
    pub info: &'a ResourceInfo,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

/// Which part of an object an update may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateScope {
    /// The main resource: everything but status (for kinds with a status subresource).
    Main,
    /// The status subresource: status only.
    Status,
    /// Internal writes that may change anything (binding, graceful deletion, finalize).
    Internal,
}

/// Reads the object, asks `mutate` for the desired object, prepares and validates it, and
/// writes it with compare-and-swap, retrying on conflicts unless the client pinned a
/// resourceVersion. An update that changes nothing writes nothing (no new revision).
/// Returns the object now stored (or that would be, under dry run); when the update removed
/// the last finalizer of an object being deleted, its last state (it is gone).
pub async fn update<F>(
    server: &ApiServer,
    object: ObjectKey<'_>,
    scope: UpdateScope,
    dry_run: bool,
    now: jiff::Timestamp,
    mut mutate: F,
) -> ApiResult<Value>
where
    F: FnMut(&Value) -> ApiResult<Value>,
{
    let ObjectKey { info, namespace, name } = object;
    let key = objects::key(info, namespace, name);
    let _forget = ForgetNamespace::around_write(server, info, name);
    loop {
        let (current, revision) = read(server, info, namespace, name).await?;
        let desired = mutate(&current)?;
        let pinned = objects::resource_version_of(&desired)?;
        if pinned.is_some_and(|pinned| pinned != revision) {
            return Err(ApiError::conflict(info, name));
        }
        let mut next = prepare_update(info, scope, desired, &current, now)?;
        objects::set_resource_version(&mut next, revision);
        if next == current {
            return Ok(current);
        }
        if finalized(info, &next) {
            if dry_run {
                return Ok(next);
            }
            match server.backend.delete(&key, Some(revision)).await {
                Ok(kv) => {
                    objects::set_resource_version(&mut next, kv.mod_revision);
                    return Ok(next);
                }
                Err(StoreError::Conflict { .. }) if pinned.is_none() => continue,
                Err(StoreError::Conflict { .. }) => return Err(ApiError::conflict(info, name)),
                Err(StoreError::NotFound) => return Err(ApiError::not_found(info, name)),
                Err(other) => return Err(other.into()),
            }
        }
        if dry_run {
            return Ok(next);
        }
        match server.backend.update(&key, to_bytes(info, &mut next), revision).await {
            Ok(new_revision) => {
                objects::set_resource_version(&mut next, new_revision);
                return Ok(next);
            }
            Err(StoreError::Conflict { .. }) if pinned.is_none() => continue,
            Err(StoreError::Conflict { .. }) => return Err(ApiError::conflict(info, name)),
            Err(StoreError::NotFound) => return Err(ApiError::not_found(info, name)),
            Err(other) => return Err(other.into()),
        }
    }
}

/// An object being deleted whose finalizers are all gone, and that waits for nothing else
/// (a pod in its grace period waits for its node agent), is removed.
fn finalized(info: &ResourceInfo, object: &Value) -> bool {
    if !objects::is_being_deleted(object) || !objects::finalizers(object).is_empty() {
        return false;
    }
    if info.kind == "Namespace" && info.group.is_empty() {
        // Namespaces also wait for their spec finalizers (the namespace controller's).
        let spec_finalizers = object.pointer("/spec/finalizers").and_then(Value::as_array).map_or(0, Vec::len);
        return spec_finalizers == 0;
    }
    let grace = object.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
    grace == 0
}

/// What kube-apiserver's strategies do on update (`PrepareForUpdate`) plus validation.
fn prepare_update(
    info: &ResourceInfo,
    scope: UpdateScope,
    desired: Value,
    current: &Value,
    now: jiff::Timestamp,
) -> ApiResult<Value> {
    let _ = now;
    let mut next = match scope {
        UpdateScope::Status => {
            // Only status (and metadata other than the immutable parts) may change.
            let mut next = desired;
            if let (Some(map), Some(current_map)) = (next.as_object_mut(), current.as_object()) {
                for (field, value) in current_map {
                    if field != "status" && field != "metadata" {
                        map.insert(field.clone(), value.clone());
                    }
                }
                for field in map.keys().cloned().collect::<Vec<_>>() {
                    if field != "status" && field != "metadata" && !current_map.contains_key(&field) {
                        map.remove(&field);
                    }
                }
            }
            next
        }
        UpdateScope::Main if info.has_status() => {
            let mut next = desired;
            if let Some(map) = next.as_object_mut() {
                match current.get("status") {
                    Some(status) => map.insert("status".into(), status.clone()),
                    None => map.remove("status"),
                };
            }
            next
        }
        UpdateScope::Main | UpdateScope::Internal => desired,
    };
    // Server-owned metadata cannot be changed by clients.
    if scope != UpdateScope::Internal {
        let metadata = metadata_mut(&mut next);
        for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"] {
            match current.get("metadata").and_then(|m| m.get(field)) {
                Some(value) => metadata.insert(field.into(), value.clone()),
                None => metadata.remove(field),
            };
        }
    }
    if tracks_generation(info) {
        let generation = current.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        let changed = next.get("spec") != current.get("spec");
        metadata_mut(&mut next).insert("generation".into(), json!(if changed { generation + 1 } else { generation }));
    }
    api::defaults::apply_defaults(info, &mut next);
    let errors = match scope {
        UpdateScope::Status => api::validation::validate_status_update(info, &next, current),
        UpdateScope::Main => api::validation::validate_update(info, &next, current),
        UpdateScope::Internal => Vec::new(),
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(info, objects::name_of(&next), &errors));
    }
    Ok(next)
}

/// Delete options from the query and the body (`DeleteOptions`), query first.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

pub enum Deleted {
    /// Removed from the store; the object's last state.
    Gone(Value),
    /// Marked for deletion (grace period or finalizers pending); the updated object.
    Pending(Value),
}

/// Deletes an object the Kubernetes way: pods bound to a node get a grace period and are
/// only marked (the node agent finishes them); objects with finalizers are marked and go
/// when the last finalizer is removed; everything else goes at once.
pub async fn delete(
    server: &ApiServer,
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: &str,
    options: &DeleteOptions,
    now: jiff::Timestamp,
) -> ApiResult<Deleted> {
    let key = objects::key(info, namespace, name);
    let _forget = ForgetNamespace::around_write(server, info, name);
    loop {
        let (current, revision) = read(server, info, namespace, name).await?;
        if let Some(uid) = &options.precondition_uid
            && objects::metadata_str(&current, "uid") != Some(uid.as_str())
        {
            {
                return Err(ApiError::conflict_message(
                    info,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        objects::metadata_str(&current, "uid").unwrap_or("")
                    ),
                ));
            }
        }
        if let Some(rv) = &options.precondition_resource_version
            && *rv != revision.to_string()
        {
            {
                return Err(ApiError::conflict_message(
                    info,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {revision}"
                    ),
                ));
            }
        }
        let grace = grace_period(info, &current, options.grace_period_seconds);
        let mut finalizers = objects::finalizers(&current);
        let added = match options.propagation_policy.as_deref() {
            Some("Orphan") => Some("orphan"),
            Some("Foreground") => Some("foregroundDeletion"),
            _ => None,
        };
        if let Some(finalizer) = added
            && !finalizers.iter().any(|f| f == finalizer)
        {
            finalizers.push(finalizer.to_string());
        }
        let is_namespace = info.group.is_empty() && info.kind == "Namespace";
        let must_wait = grace > 0 || !finalizers.is_empty() || is_namespace;
        if !must_wait {
            if options.dry_run {
                return Ok(Deleted::Gone(current));
            }
            match server.backend.delete(&key, Some(revision)).await {
                Ok(kv) => {
                    let mut last = current;
                    objects::set_resource_version(&mut last, kv.mod_revision);
                    return Ok(Deleted::Gone(last));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound) => return Err(ApiError::not_found(info, name)),
                Err(other) => return Err(other.into()),
            }
        }
        let mut next = current.clone();
        let already = objects::is_being_deleted(&current);
        let current_grace = current.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64);
        {
            let metadata = metadata_mut(&mut next);
            // A second delete may only shorten a pending grace period.
            if !already || current_grace.is_some_and(|g| grace < g) {
                let deadline = now + jiff::SignedDuration::from_secs(grace);
                metadata.insert("deletionTimestamp".into(), json!(objects::now_rfc3339(deadline)));
                metadata.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
            if !finalizers.is_empty() {
                metadata.insert("finalizers".into(), json!(finalizers));
            }
        }
        if is_namespace {
            next["status"]["phase"] = json!("Terminating");
        }
        if next == current {
            return Ok(Deleted::Pending(current));
        }
        if options.dry_run {
            return Ok(Deleted::Pending(next));
        }
        match server.backend.update(&key, to_bytes(info, &mut next), revision).await {
            Ok(new_revision) => {
                objects::set_resource_version(&mut next, new_revision);
                return Ok(Deleted::Pending(next));
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound) => return Err(ApiError::not_found(info, name)),
            Err(other) => return Err(other.into()),
        }
    }
}

/// The grace period of a delete: only pods have one, and only while a node agent must stop
/// their containers (bound and not finished). Kubernetes' `CheckGracefulDelete`.
fn grace_period(info: &ResourceInfo, object: &Value, requested: Option<i64>) -> i64 {
    if !(info.group.is_empty() && info.kind == "Pod") {
        return 0;
    }
    let bound = object.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let phase = object.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
    if !bound || phase == "Succeeded" || phase == "Failed" {
        return 0;
    }
    let default = object.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
    // A negative request means "use the default"; 0 is a force delete.
    match requested {
        Some(seconds) if seconds >= 0 => seconds,
        _ => default.max(0),
    }
}
