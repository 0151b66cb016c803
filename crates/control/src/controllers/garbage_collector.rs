//! The garbage collector (Kubernetes' `garbagecollector`): ownerReferences across the
//! served namespaced kinds, handled generically as `serde_json::Value` metadata.
//!
//! - An object all of whose owners are gone (by uid) is deleted (background propagation, or
//!   what its own finalizers ask); dangling references next to a live owner are removed.
//! - An owner being deleted with the `orphan` finalizer has its reference removed from every
//!   dependent, then the finalizer, so the owner goes and the dependents stay.
//! - An owner being deleted with the `foregroundDeletion` finalizer has its dependents
//!   deleted first; the finalizer goes once no dependent with `blockOwnerDeletion` remains.
//!
//! The dependency graph comes from metadata-only watch caches (`PartialObjectMetadata`, as
//! upstream's metadata informers); an owner missing from the caches is confirmed absent with
//! a live GET before anything is deleted, so a lagging cache never deletes a live object's
//! dependents.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use client::reflector::Store;
use client::{Api, ApiResource, Client, DeleteParams, Patch, Preconditions, PropagationPolicy, watcher};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::runner::{self, Action, Change, Error, Informer, Result, WorkQueue};

pub const ORPHAN: &str = "orphan";
pub const FOREGROUND: &str = "foregroundDeletion";

/// The kinds whose objects the collector tracks (the served ones that carry or are named by
/// ownerReferences in practice: Nodes own their Leases; `events.k8s.io` Events are the same
/// objects as core Events).
const TRACKED: &[(&str, &str, &str)] = &[
    ("", "v1", "nodes"),
    ("", "v1", "pods"),
    ("apps", "v1", "replicasets"),
    ("apps", "v1", "deployments"),
    ("", "v1", "configmaps"),
    ("", "v1", "secrets"),
    ("", "v1", "services"),
    ("", "v1", "endpoints"),
    ("", "v1", "events"),
    ("coordination.k8s.io", "v1", "leases"),
    ("", "v1", "serviceaccounts"),
];

/// An object in the graph: which tracked kind, and where.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Item {
    kind: usize,
    namespace: String,
    name: String,
}

#[derive(Default)]
struct Graph {
    /// owner uid -> dependents.
    dependents: HashMap<String, HashSet<Item>>,
    /// uid -> item, for owners present in the caches.
    by_uid: HashMap<String, Item>,
}

pub struct GarbageCollector {
    client: Client,
    resources: Vec<ApiResource>,
    stores: Vec<Store<Value>>,
    graph: Mutex<Graph>,
    queue: WorkQueue<Item>,
}

/// What the collector keeps of an object: identity and metadata.
fn str_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

fn uid(object: &Value) -> Option<&str> {
    str_at(object, "/metadata/uid")
}

fn owner_refs(object: &Value) -> Vec<Value> {
    object.pointer("/metadata/ownerReferences").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn being_deleted(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// What the owners of an object look like (`attemptToDeleteItem`'s classification).
#[derive(Debug, Default, PartialEq)]
pub struct Owners {
    /// uids of owners that exist and are not waiting for dependents.
    pub solid: Vec<String>,
    /// uids of owners that no longer exist.
    pub dangling: Vec<String>,
    /// uids of owners being deleted in the foreground that this object blocks.
    pub waiting: Vec<String>,
}

/// What to do with a dependent given its owners.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Nothing,
    /// Remove the dangling references and unblock the waiting owners.
    Patch,
    Delete(PropagationPolicy),
}

/// The decision of `attemptToDeleteItem` from the classified owners.
pub fn verdict(owners: &Owners, has_dependents: bool, item_finalizers: &[String]) -> Verdict {
    if !owners.solid.is_empty() {
        if owners.dangling.is_empty() && owners.waiting.is_empty() {
            return Verdict::Nothing;
        }
        return Verdict::Patch;
    }
    if owners.dangling.is_empty() && owners.waiting.is_empty() {
        return Verdict::Nothing;
    }
    if !owners.waiting.is_empty() && has_dependents {
        return Verdict::Delete(PropagationPolicy::Foreground);
    }
    let policy = if item_finalizers.iter().any(|f| f == ORPHAN) {
        PropagationPolicy::Orphan
    } else if item_finalizers.iter().any(|f| f == FOREGROUND) {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    Verdict::Delete(policy)
}

/// Runs the collector until `shutdown`.
pub async fn run(client: Client, shutdown: CancellationToken) {
    let mut informers = Vec::new();
    let mut resources = Vec::new();
    for (group, version, plural) in TRACKED {
        let Some(info) = api::resources::find(group, version, plural) else {
            tracing::warn!(%plural, "garbage collector: resource not served");
            continue;
        };
        let resource = ApiResource::from_info(info);
        let api = Api::<Value>::with_resource(client.clone(), resource.clone(), None).metadata_only();
        informers.push(Informer::new(api, watcher::Config::default()));
        resources.push(resource);
    }
    let gc = Arc::new(GarbageCollector {
        client,
        resources,
        stores: informers.iter().map(Informer::store).collect(),
        graph: Mutex::new(Graph::default()),
        queue: WorkQueue::default(),
    });
    let mut tasks = Vec::new();
    for (kind, mut informer) in informers.into_iter().enumerate() {
        let this = gc.clone();
        informer.on_change(move |change| this.changed(kind, change));
        tasks.push(informer.spawn(shutdown.clone()));
    }
    // Classifying owners before every cache is in would send a GET per dependent.
    for store in &gc.stores {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = store.wait_until_ready() => {}
        }
    }
    let this = gc.clone();
    runner::run_workers("garbage-collector", gc.queue.clone(), 4, move |item| this.clone().reconcile(item), shutdown)
        .await;
    for task in tasks {
        let _ = task.await;
    }
}

impl GarbageCollector {
    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn item_of(kind: usize, object: &Value) -> Option<Item> {
        Some(Item {
            kind,
            namespace: str_at(object, "/metadata/namespace").unwrap_or_default().to_string(),
            name: str_at(object, "/metadata/name")?.to_string(),
        })
    }

    fn changed(&self, kind: usize, change: &Change<'_, Value>) {
        match change {
            Change::Applied { old, new } => {
                let Some(item) = Self::item_of(kind, new) else { return };
                let new_refs = owner_refs(new);
                let old_refs = old.map(owner_refs).unwrap_or_default();
                {
                    let mut graph = self.graph();
                    if let Some(old) = old
                        && let Some(old_uid) = uid(old)
                        && Some(old_uid) != uid(new)
                    {
                        graph.by_uid.remove(old_uid);
                    }
                    for reference in &old_refs {
                        if let Some(owner) = str_at(reference, "/uid")
                            && let Some(set) = graph.dependents.get_mut(owner)
                        {
                            set.remove(&item);
                            if set.is_empty() {
                                graph.dependents.remove(owner);
                            }
                        }
                    }
                    for reference in &new_refs {
                        if let Some(owner) = str_at(reference, "/uid") {
                            graph.dependents.entry(owner.to_string()).or_default().insert(item.clone());
                        }
                    }
                    if let Some(uid) = uid(new) {
                        graph.by_uid.insert(uid.to_string(), item.clone());
                    }
                }
                let deleting_with_finalizer =
                    being_deleted(new) && finalizers(new).iter().any(|f| f == ORPHAN || f == FOREGROUND);
                // As upstream's `processGraphChanges`: an update matters only when it changes the
                // owner references or the deletion state; status churn (a pod's phase, a lease's
                // renewal) is not looked at again, which under load was a GET per lease renewal.
                let relevant = match old {
                    None => !new_refs.is_empty(),
                    Some(old) => old_refs != new_refs || being_deleted(old) != being_deleted(new),
                };
                if relevant || deleting_with_finalizer {
                    self.queue.add(item.clone());
                }
                // A dependent that stops blocking (being deleted) may release a waiting owner.
                if being_deleted(new) && !old.is_some_and(being_deleted) {
                    self.enqueue_owners(&new_refs);
                }
            }
            Change::Deleted(old) => {
                let Some(item) = Self::item_of(kind, old) else { return };
                let refs = owner_refs(old);
                let dependents = {
                    let mut graph = self.graph();
                    for reference in &refs {
                        if let Some(owner) = str_at(reference, "/uid")
                            && let Some(set) = graph.dependents.get_mut(owner)
                        {
                            set.remove(&item);
                            if set.is_empty() {
                                graph.dependents.remove(owner);
                            }
                        }
                    }
                    match uid(old) {
                        Some(uid) => {
                            if graph.by_uid.get(uid) == Some(&item) {
                                graph.by_uid.remove(uid);
                            }
                            graph.dependents.get(uid).cloned().unwrap_or_default()
                        }
                        None => HashSet::new(),
                    }
                };
                // Its dependents may now be dangling; its owners may be waiting for it.
                for dependent in dependents {
                    self.queue.add(dependent);
                }
                self.enqueue_owners(&refs);
            }
        }
    }

    fn enqueue_owners(&self, refs: &[Value]) {
        let graph = self.graph();
        for reference in refs {
            if let Some(owner) = str_at(reference, "/uid").and_then(|u| graph.by_uid.get(u)) {
                self.queue.add(owner.clone());
            }
        }
    }

    fn api(&self, item: &Item) -> Result<Api<Value>> {
        let resource = self
            .resources
            .get(item.kind)
            .cloned()
            .ok_or_else(|| Error::Invalid(format!("unknown kind {}", item.kind)))?;
        let namespace = Some(item.namespace.as_str()).filter(|n| !n.is_empty());
        Ok(Api::with_resource(self.client.clone(), resource, namespace))
    }

    fn cached(&self, item: &Item) -> Option<Arc<Value>> {
        self.stores.get(item.kind)?.get(Some(&item.namespace).filter(|n| !n.is_empty()).map(String::as_str), &item.name)
    }

    fn dependents_of(&self, uid: &str) -> Vec<Item> {
        self.graph().dependents.get(uid).map(|set| set.iter().cloned().collect()).unwrap_or_default()
    }

    pub async fn reconcile(self: Arc<Self>, item: Item) -> Result<Action> {
        let Some(object) = self.cached(&item) else { return Ok(Action::await_change()) };
        if being_deleted(&object) {
            let finalizers = finalizers(&object);
            if finalizers.iter().any(|f| f == ORPHAN) {
                self.orphan_dependents(&item, &object).await?;
                self.remove_finalizer(&item, &object, ORPHAN).await?;
                return Ok(Action::await_change());
            }
            if finalizers.iter().any(|f| f == FOREGROUND) {
                return self.delete_dependents_first(&item, &object).await;
            }
            return Ok(Action::await_change());
        }
        self.attempt_to_delete(&item, &object).await
    }

    /// Classifies the owners of `object` and acts on the verdict.
    async fn attempt_to_delete(&self, item: &Item, object: &Value) -> Result<Action> {
        let refs = owner_refs(object);
        if refs.is_empty() {
            return Ok(Action::await_change());
        }
        let mut owners = Owners::default();
        for reference in &refs {
            let owner_uid = str_at(reference, "/uid").unwrap_or_default().to_string();
            let blocks = reference.get("blockOwnerDeletion").and_then(Value::as_bool).unwrap_or(false);
            match self.owner_state(item, reference).await? {
                OwnerState::Absent => owners.dangling.push(owner_uid),
                OwnerState::Present { deleting_foreground } if deleting_foreground && blocks => {
                    owners.waiting.push(owner_uid)
                }
                OwnerState::Present { .. } => owners.solid.push(owner_uid),
            }
        }
        let uid = uid(object).unwrap_or_default().to_string();
        let has_dependents = !self.dependents_of(&uid).is_empty();
        let api = self.api(item)?;
        match verdict(&owners, has_dependents, &finalizers(object)) {
            Verdict::Nothing => {}
            Verdict::Patch => {
                let kept: Vec<Value> = refs
                    .iter()
                    .filter(|r| !owners.dangling.iter().any(|d| Some(d.as_str()) == str_at(r, "/uid")))
                    .map(|r| {
                        let mut r = r.clone();
                        if owners.waiting.iter().any(|w| Some(w.as_str()) == str_at(&r, "/uid")) {
                            r["blockOwnerDeletion"] = json!(false);
                        }
                        r
                    })
                    .collect();
                let patch = json!({"metadata": {
                    "ownerReferences": kept,
                    "resourceVersion": str_at(object, "/metadata/resourceVersion"),
                }});
                match api.patch(&item.name, &Patch::Merge(patch)).await {
                    Ok(_) => {}
                    Err(error) if error.is_not_found() => {}
                    Err(error) => return Err(error.into()),
                }
            }
            Verdict::Delete(policy) => {
                tracing::debug!(?item, ?policy, "garbage collecting an object whose owners are gone");
                let params = DeleteParams {
                    propagation_policy: Some(policy),
                    preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
                    ..DeleteParams::default()
                };
                match api.delete(&item.name, &params).await {
                    Ok(_) => {}
                    Err(error) if error.is_not_found() => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
        Ok(Action::await_change())
    }

    /// Whether the owner a reference names exists (same uid); the caches answer when they
    /// have it, a live GET otherwise.
    async fn owner_state(&self, item: &Item, reference: &Value) -> Result<OwnerState> {
        let owner_uid = str_at(reference, "/uid").unwrap_or_default();
        let cached = self.graph().by_uid.get(owner_uid).cloned();
        if let Some(owner) = cached.and_then(|key| self.cached(&key)) {
            let deleting_foreground = being_deleted(&owner) && finalizers(&owner).iter().any(|f| f == FOREGROUND);
            return Ok(OwnerState::Present { deleting_foreground });
        }
        let api_version = str_at(reference, "/apiVersion").unwrap_or_default();
        let kind = str_at(reference, "/kind").unwrap_or_default();
        let name = str_at(reference, "/name").unwrap_or_default();
        let Some(info) = api::resources::find_by_kind(api_version, kind) else {
            // An owner kind we do not serve cannot be judged: never delete on a guess.
            return Ok(OwnerState::Present { deleting_foreground: false });
        };
        if name.is_empty() {
            return Ok(OwnerState::Absent);
        }
        let api = Api::<Value>::with_resource(self.client.clone(), ApiResource::from_info(info), Some(&item.namespace))
            .metadata_only();
        match api.get_opt(name).await? {
            Some(owner) if uid(&owner) == Some(owner_uid) => {
                let deleting_foreground = being_deleted(&owner) && finalizers(&owner).iter().any(|f| f == FOREGROUND);
                Ok(OwnerState::Present { deleting_foreground })
            }
            _ => Ok(OwnerState::Absent),
        }
    }

    /// Removes the owner's reference from each dependent.
    async fn orphan_dependents(&self, item: &Item, owner: &Value) -> Result<()> {
        let owner_uid = uid(owner).unwrap_or_default();
        for dependent in self.dependents_of(owner_uid) {
            let Some(object) = self.cached(&dependent) else { continue };
            let kept: Vec<Value> =
                owner_refs(&object).into_iter().filter(|r| str_at(r, "/uid") != Some(owner_uid)).collect();
            let kept = if kept.is_empty() { Value::Null } else { Value::Array(kept) };
            let patch = json!({"metadata": {
                "ownerReferences": kept,
                "resourceVersion": str_at(&object, "/metadata/resourceVersion"),
            }});
            match self.api(&dependent)?.patch(&dependent.name, &Patch::Merge(patch)).await {
                Ok(_) => {}
                Err(error) if error.is_not_found() => {}
                Err(error) => return Err(error.into()),
            }
        }
        let _ = item;
        Ok(())
    }

    /// Deletes the dependents; removes the finalizer once no blocking dependent remains.
    async fn delete_dependents_first(&self, item: &Item, owner: &Value) -> Result<Action> {
        let owner_uid = uid(owner).unwrap_or_default().to_string();
        let mut blocking = 0;
        for dependent in self.dependents_of(&owner_uid) {
            let Some(object) = self.cached(&dependent) else { continue };
            let blocks = owner_refs(&object).iter().any(|r| {
                str_at(r, "/uid") == Some(owner_uid.as_str())
                    && r.get("blockOwnerDeletion").and_then(Value::as_bool).unwrap_or(false)
            });
            if blocks {
                blocking += 1;
            }
            if being_deleted(&object) {
                continue;
            }
            let has_dependents = uid(&object).is_some_and(|u| !self.dependents_of(u).is_empty());
            let policy = if has_dependents { PropagationPolicy::Foreground } else { PropagationPolicy::Background };
            let params = DeleteParams {
                propagation_policy: Some(policy),
                preconditions: Some(Preconditions { uid: uid(&object).map(str::to_string), resource_version: None }),
                ..DeleteParams::default()
            };
            match self.api(&dependent)?.delete(&dependent.name, &params).await {
                Ok(_) => {}
                Err(error) if error.is_not_found() || error.is_conflict() => {}
                Err(error) => return Err(error.into()),
            }
        }
        if blocking > 0 {
            // Their deletions enqueue us; the requeue is a safety net.
            return Ok(Action::requeue(Duration::from_secs(5)));
        }
        self.remove_finalizer(item, owner, FOREGROUND).await?;
        Ok(Action::await_change())
    }

    async fn remove_finalizer(&self, item: &Item, object: &Value, finalizer: &str) -> Result<()> {
        let rest: Vec<String> = finalizers(object).into_iter().filter(|f| f != finalizer).collect();
        let rest = if rest.is_empty() { Value::Null } else { json!(rest) };
        let patch = json!({"metadata": {
            "finalizers": rest,
            "resourceVersion": str_at(object, "/metadata/resourceVersion"),
        }});
        match self.api(item)?.patch(&item.name, &Patch::Merge(patch)).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

enum OwnerState {
    Absent,
    Present { deleting_foreground: bool },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(solid: &[&str], dangling: &[&str], waiting: &[&str]) -> Owners {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        Owners { solid: v(solid), dangling: v(dangling), waiting: v(waiting) }
    }

    #[test]
    fn verdicts_follow_attempt_to_delete_item() {
        assert_eq!(verdict(&owners(&["a"], &[], &[]), false, &[]), Verdict::Nothing);
        assert_eq!(verdict(&owners(&["a"], &["b"], &[]), false, &[]), Verdict::Patch);
        assert_eq!(verdict(&owners(&["a"], &[], &["c"]), false, &[]), Verdict::Patch);
        assert_eq!(verdict(&owners(&[], &["b"], &[]), false, &[]), Verdict::Delete(PropagationPolicy::Background));
        assert_eq!(
            verdict(&owners(&[], &[], &["c"]), true, &[]),
            Verdict::Delete(PropagationPolicy::Foreground),
            "an owner waiting in the foreground: delete our own dependents first"
        );
        assert_eq!(
            verdict(&owners(&[], &["b"], &[]), false, &[ORPHAN.to_string()]),
            Verdict::Delete(PropagationPolicy::Orphan)
        );
        assert_eq!(verdict(&owners(&[], &[], &[]), false, &[]), Verdict::Nothing);
    }
}
