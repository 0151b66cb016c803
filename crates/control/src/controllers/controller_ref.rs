//! ownerReferences with `controller: true` (Kubernetes' `ControllerRefManager`): who controls
//! an object, and the claim decision (keep, adopt an orphan that matches the selector,
//! release a dependent that no longer matches), plus the patches that adopt and release.
//!
//! Patches carry the dependent's resourceVersion, so an adoption races safely with other
//! controllers (the loser gets a conflict and reconciles again).

use client::{Api, Object, Patch};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::json;

/// The controller reference of an object, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.as_ref()?.iter().find(|r| r.controller == Some(true))
}

/// A controller reference to `owner` (`metav1.NewControllerRef`).
pub fn new_controller_ref(api_version: &str, kind: &str, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: owner.name.clone().unwrap_or_default(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// What a controller does with a candidate dependent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours and matching.
    Keep,
    /// An orphan that matches: take it.
    Adopt,
    /// Ours but no longer matching: let go.
    Release,
    /// Someone else's, or not ours and not matching.
    Ignore,
}

/// `ClaimObject`: `owner_deleting` forbids adoption; a dependent being deleted is neither
/// adopted nor released.
pub fn decide(owner: &ObjectMeta, owner_deleting: bool, dependent: &ObjectMeta, matches: bool) -> Claim {
    let owner_uid = owner.uid.as_deref().unwrap_or_default();
    match controller_of(dependent) {
        Some(reference) if reference.uid == owner_uid => {
            if matches {
                Claim::Keep
            } else if owner_deleting || dependent.deletion_timestamp.is_some() {
                // Upstream keeps ignoring it rather than releasing while either is going.
                Claim::Ignore
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None => {
            if !matches || owner_deleting || dependent.deletion_timestamp.is_some() {
                Claim::Ignore
            } else {
                Claim::Adopt
            }
        }
    }
}

/// Adds the controller reference to an orphan. Errors (conflict, not found) mean "not
/// adopted"; callers skip the object this round.
pub async fn adopt<K: Object>(api: &Api<K>, dependent: &ObjectMeta, reference: OwnerReference) -> client::Result<K> {
    let mut references = dependent.owner_references.clone().unwrap_or_default();
    references.retain(|r| r.uid != reference.uid);
    references.push(reference);
    let patch = json!({"metadata": {
        "ownerReferences": references,
        "resourceVersion": dependent.resource_version,
    }});
    api.patch(dependent.name.as_deref().unwrap_or_default(), &Patch::Merge(patch)).await
}

/// Removes `owner_uid`'s reference from a dependent.
pub async fn release<K: Object>(api: &Api<K>, dependent: &ObjectMeta, owner_uid: &str) -> client::Result<K> {
    let mut references = dependent.owner_references.clone().unwrap_or_default();
    references.retain(|r| r.uid != owner_uid);
    let references = if references.is_empty() { serde_json::Value::Null } else { json!(references) };
    let patch = json!({"metadata": {
        "ownerReferences": references,
        "resourceVersion": dependent.resource_version,
    }});
    api.patch(dependent.name.as_deref().unwrap_or_default(), &Patch::Merge(patch)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: &str, controller: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            uid: Some(uid.into()),
            name: Some(uid.into()),
            owner_references: controller.map(|c| {
                vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: c.into(),
                    uid: c.into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]
            }),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn claim_decisions() {
        let owner = meta("rs", None);
        assert_eq!(decide(&owner, false, &meta("p", Some("rs")), true), Claim::Keep);
        assert_eq!(decide(&owner, false, &meta("p", Some("rs")), false), Claim::Release);
        assert_eq!(decide(&owner, true, &meta("p", Some("rs")), false), Claim::Ignore);
        assert_eq!(decide(&owner, false, &meta("p", None), true), Claim::Adopt);
        assert_eq!(decide(&owner, true, &meta("p", None), true), Claim::Ignore);
        assert_eq!(decide(&owner, false, &meta("p", None), false), Claim::Ignore);
        assert_eq!(decide(&owner, false, &meta("p", Some("other")), true), Claim::Ignore);
        let reference = new_controller_ref("apps/v1", "ReplicaSet", &owner);
        assert_eq!((reference.controller, reference.block_owner_deletion), (Some(true), Some(true)));
        assert_eq!(reference.uid, "rs");
    }
}
