//! The namespace controller (Kubernetes' `namespace/deletion`): a namespace being deleted
//! (`Terminating`) has every namespaced object in it deleted; while some remain (pods in
//! their grace period, objects held by finalizers) its status conditions say so, and once
//! it is empty the `kubernetes` finalizer is removed through `namespaces/{name}/finalize`,
//! after which the API server deletes the namespace.
//!
//! It deletes through the API only (background propagation, as upstream's delete
//! collection); it never removes other finalizers of the objects it deletes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use client::reflector::{ObjectKey, Store};
use client::{Api, ApiResource, Client, DeleteParams, ListParams, PropagationPolicy};
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use serde_json::Value;

use super::deployment_util::now_time;
use crate::runner::{Action, Change, Error, Informer, Result, WorkQueue};

/// The spec finalizer this controller owns.
pub const FINALIZER: &str = "kubernetes";

pub struct NamespaceController {
    client: Client,
    namespaces: Store<Namespace>,
    pub queue: WorkQueue<ObjectKey>,
}

/// What was left in a namespace after a deletion pass.
#[derive(Debug, Default, PartialEq)]
pub struct Remaining {
    /// `pods.` -> count (group-qualified resource names, as upstream prints them).
    pub resources: BTreeMap<String, usize>,
    /// finalizer -> count of objects holding it.
    pub finalizers: BTreeMap<String, usize>,
}

impl Remaining {
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

/// The five deletion conditions upstream reports, from what remains.
pub fn conditions(remaining: &Remaining, now: jiff::Timestamp) -> Vec<NamespaceCondition> {
    let condition = |type_: &str, status: &str, reason: &str, message: String| NamespaceCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message).filter(|m| !m.is_empty()),
        last_transition_time: Some(now_time(now)),
    };
    let content = if remaining.resources.is_empty() {
        condition("NamespaceContentRemaining", "False", "ContentRemoved", "All content successfully removed".into())
    } else {
        let parts: Vec<String> =
            remaining.resources.iter().map(|(r, n)| format!("{r} has {n} resource instances")).collect();
        condition(
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", parts.join(", ")),
        )
    };
    let finalizers = if remaining.finalizers.is_empty() {
        condition(
            "NamespaceFinalizersRemaining",
            "False",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".into(),
        )
    } else {
        let parts: Vec<String> =
            remaining.finalizers.iter().map(|(f, n)| format!("{f} in {n} resource instances")).collect();
        condition(
            "NamespaceFinalizersRemaining",
            "True",
            "SomeFinalizersRemain",
            format!("Some content in the namespace has finalizers remaining: {}", parts.join(", ")),
        )
    };
    vec![
        condition(
            "NamespaceDeletionDiscoveryFailure",
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        ),
        condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".into(),
        ),
        condition(
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into(),
        ),
        content,
        finalizers,
    ]
}

impl NamespaceController {
    pub fn new(client: Client, namespaces: &mut Informer<Namespace>) -> Arc<Self> {
        let controller =
            Arc::new(NamespaceController { client, namespaces: namespaces.store(), queue: WorkQueue::default() });
        let this = controller.clone();
        namespaces.on_change(move |change| {
            if let Change::Applied { new, .. } = change
                && new.metadata.deletion_timestamp.is_some()
                && let Some(key) = ObjectKey::of(*new)
            {
                this.queue.add(key);
            }
        });
        controller
    }

    pub async fn reconcile(self: Arc<Self>, key: ObjectKey) -> Result<Action> {
        let Some(namespace) = self.namespaces.get_key(&key) else { return Ok(Action::await_change()) };
        if namespace.metadata.deletion_timestamp.is_none() {
            return Ok(Action::await_change());
        }
        let spec_finalizers: Vec<String> =
            namespace.spec.as_ref().and_then(|s| s.finalizers.clone()).unwrap_or_default();
        if !spec_finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(Action::await_change());
        }
        let remaining = self.delete_content(&key.name).await?;
        let now = jiff::Timestamp::now();
        let new_conditions = conditions(&remaining, now);
        let current = namespace.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let same = |a: &[NamespaceCondition], b: &[NamespaceCondition]| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| x.type_ == y.type_ && x.status == y.status && x.message == y.message)
        };
        if !same(&current, &new_conditions) {
            let mut updated = (*namespace).clone();
            updated.status.get_or_insert_with(Default::default).conditions = Some(new_conditions);
            let api: Api<Namespace> = Api::all(self.client.clone());
            if let Err(error) = api.replace_status(&key.name, &updated).await {
                tracing::debug!(namespace = %key.name, %error, "could not update namespace conditions");
            }
        }
        if !remaining.is_empty() {
            // Pods in their grace period and finalizers take time; their deletions do not
            // reach us (we do not watch every kind), so poll.
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        self.finalize(&key.name).await?;
        Ok(Action::await_change())
    }

    /// Deletes every namespaced object; returns what still exists afterwards.
    async fn delete_content(&self, namespace: &str) -> Result<Remaining> {
        let mut remaining = Remaining::default();
        for info in api::resources::all() {
            // events.k8s.io Events are core Events stored once.
            if !info.namespaced || info.group == "events.k8s.io" {
                continue;
            }
            if !info.verbs.contains(&"list") || !info.verbs.contains(&"delete") {
                continue;
            }
            let api = Api::<Value>::with_resource(self.client.clone(), ApiResource::from_info(info), Some(namespace));
            let list = api.list_all(&ListParams::default()).await?;
            let params =
                DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
            for item in list.items {
                let Some(name) = item.pointer("/metadata/name").and_then(Value::as_str) else { continue };
                let left = if item.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
                    Some(item.clone())
                } else {
                    match api.delete(name, &params).await {
                        Ok(left) => left,
                        Err(error) if error.is_not_found() => None,
                        Err(error) => return Err(Error::Api(error)),
                    }
                };
                if let Some(left) = left {
                    *remaining.resources.entry(format!("{}.{}", info.plural, info.group)).or_default() += 1;
                    for finalizer in
                        left.pointer("/metadata/finalizers").and_then(Value::as_array).into_iter().flatten()
                    {
                        if let Some(finalizer) = finalizer.as_str() {
                            *remaining.finalizers.entry(finalizer.to_string()).or_default() += 1;
                        }
                    }
                }
            }
        }
        Ok(remaining)
    }

    /// PUT `namespaces/{name}/finalize` without our finalizer.
    async fn finalize(&self, name: &str) -> Result<()> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let Some(mut namespace) = api.get_opt(name).await? else { return Ok(()) };
        let spec = namespace.spec.get_or_insert_with(Default::default);
        let rest: Vec<String> =
            spec.finalizers.take().unwrap_or_default().into_iter().filter(|f| f != FINALIZER).collect();
        spec.finalizers = Some(rest);
        let body = serde_json::to_vec(&namespace).map_err(client::Error::Json)?;
        let path = format!("/api/v1/namespaces/{name}/finalize");
        match self.client.request::<Value>(http::Method::PUT, &path, Some((body, "application/json"))).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_describe_what_remains() {
        let now = jiff::Timestamp::from_second(1_700_000_000).expect("ts");
        let empty = conditions(&Remaining::default(), now);
        assert_eq!(empty.len(), 5);
        assert!(empty.iter().all(|c| c.status == "False"));
        let remaining = Remaining {
            resources: [("pods.".to_string(), 2)].into(),
            finalizers: [("example.com/x".to_string(), 1)].into(),
        };
        let some = conditions(&remaining, now);
        let content = some.iter().find(|c| c.type_ == "NamespaceContentRemaining").expect("content");
        assert_eq!(content.status, "True");
        assert_eq!(content.message.as_deref(), Some("Some resources are remaining: pods. has 2 resource instances"));
        let finalizers = some.iter().find(|c| c.type_ == "NamespaceFinalizersRemaining").expect("finalizers");
        assert_eq!(
            finalizers.message.as_deref(),
            Some("Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances")
        );
    }
}
