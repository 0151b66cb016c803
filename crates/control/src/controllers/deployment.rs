//! The Deployment controller (Kubernetes' `deployment_controller.go`, `sync.go`,
//! `rolling.go`, `recreate.go`, `progress.go`): one ReplicaSet per pod template named
//! `<deployment>-<pod-template-hash>`, rolling updates bounded by maxSurge/maxUnavailable,
//! Recreate, proportional scaling mid-rollout, pause, revisions (so `kubectl rollout
//! undo|history` work client-side), history cleanup, and the `Progressing`/`Available`
//! conditions with the progress deadline.
//!
//! It sizes ReplicaSets only; pods are the ReplicaSet controller's.

use std::sync::Arc;
use std::time::Duration;

use client::reflector::{ObjectKey, Store};
use client::{Api, Client, DeleteParams};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::controller_ref::{self, Claim};
use super::deployment_util::{self as util, POD_TEMPLATE_HASH};
use super::pods;
use crate::events::{Recorder, reference};
use crate::runner::{Action, Change, Error, Informer, Result, WorkQueue};

pub struct DeploymentController {
    client: Client,
    deployments: Store<Deployment>,
    replicasets: Store<ReplicaSet>,
    pods: Store<Pod>,
    pub queue: WorkQueue<ObjectKey>,
    recorder: Recorder,
}

fn selector_of(d: &Deployment) -> Result<api::selector::LabelSelector> {
    let selector =
        d.spec.as_ref().map(|s| serde_json::to_value(&s.selector)).transpose().map_err(client::Error::Json)?;
    api::selector::LabelSelector::from_json(&selector.unwrap_or(serde_json::Value::Null))
        .map_err(|e| Error::Invalid(format!("invalid selector: {e}")))
}

/// One reconcile's view: the deployment (updated as its status is written) and its RSs.
struct Sync<'a> {
    controller: &'a DeploymentController,
    d: Deployment,
    rs_api: Api<ReplicaSet>,
    d_api: Api<Deployment>,
    now: Timestamp,
    requeue: Action,
}

impl DeploymentController {
    pub fn new(
        client: Client,
        pods: &mut Informer<Pod>,
        replicasets: &mut Informer<ReplicaSet>,
        deployments: &mut Informer<Deployment>,
    ) -> Arc<Self> {
        let controller = Arc::new(DeploymentController {
            recorder: Recorder::spawn(client.clone(), "deployment-controller"),
            client,
            deployments: deployments.store(),
            replicasets: replicasets.store(),
            pods: pods.store(),
            queue: WorkQueue::default(),
        });
        let this = controller.clone();
        deployments.on_change(move |change| {
            let object = match change {
                Change::Applied { new, .. } => *new,
                Change::Deleted(old) => *old,
            };
            if let Some(key) = ObjectKey::of(object) {
                this.queue.add(key);
            }
        });
        let this = controller.clone();
        replicasets.on_change(move |change| match change {
            Change::Applied { old, new } => {
                if let Some(old) = old {
                    if old.metadata.resource_version == new.metadata.resource_version {
                        return;
                    }
                    if controller_ref::controller_of(&old.metadata).map(|r| &r.uid)
                        != controller_ref::controller_of(&new.metadata).map(|r| &r.uid)
                    {
                        this.enqueue_owner(&old.metadata);
                    }
                }
                if controller_ref::controller_of(&new.metadata).is_some() {
                    this.enqueue_owner(&new.metadata);
                } else if old.is_none_or(|o| {
                    o.metadata.labels != new.metadata.labels || controller_ref::controller_of(&o.metadata).is_some()
                }) {
                    this.enqueue_matching(&new.metadata);
                }
            }
            Change::Deleted(old) => this.enqueue_owner(&old.metadata),
        });
        let this = controller.clone();
        pods.on_change(move |change| {
            // Recreate waits for old pods to be gone: their deletion is what it waits on.
            if let Change::Deleted(pod) = change
                && let Some(rs_ref) = controller_ref::controller_of(&pod.metadata)
                && let Some(rs) = this.replicasets.get(pod.metadata.namespace.as_deref(), &rs_ref.name)
                && let Some(d_ref) = controller_ref::controller_of(&rs.metadata)
                && let Some(d) = this.deployments.get(pod.metadata.namespace.as_deref(), &d_ref.name)
                && util::strategy_type(&d) == "Recreate"
                && let Some(key) = ObjectKey::of(d.as_ref())
            {
                this.queue.add(key);
            }
        });
        controller
    }

    fn enqueue_owner(&self, meta: &ObjectMeta) {
        if let Some(reference) = controller_ref::controller_of(meta).filter(|r| r.kind == "Deployment") {
            self.queue.add(ObjectKey::new(meta.namespace.as_deref(), &reference.name));
        }
    }

    fn enqueue_matching(&self, meta: &ObjectMeta) {
        for d in self.deployments.list() {
            if d.metadata.namespace == meta.namespace
                && selector_of(&d).is_ok_and(|s| !s.is_empty() && s.matches(&meta.labels.clone().unwrap_or_default()))
                && let Some(key) = ObjectKey::of(d.as_ref())
            {
                self.queue.add(key);
            }
        }
    }

    pub async fn reconcile(self: Arc<Self>, key: ObjectKey) -> Result<Action> {
        if !self.deployments.is_ready() || !self.replicasets.is_ready() || !self.pods.is_ready() {
            return Err(Error::NotSynced);
        }
        let Some(d) = self.deployments.get_key(&key) else { return Ok(Action::await_change()) };
        let namespace = key.namespace.as_deref().unwrap_or_default();
        let mut sync = Sync {
            controller: &self,
            d: (*d).clone(),
            rs_api: Api::namespaced(self.client.clone(), namespace),
            d_api: Api::namespaced(self.client.clone(), namespace),
            now: Timestamp::now(),
            requeue: Action::await_change(),
        };
        let selector = selector_of(&sync.d)?;
        if selector.is_empty() {
            self.recorder.record(
                reference("apps/v1", "Deployment", &sync.d.metadata),
                "Warning",
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            );
            return Ok(Action::await_change());
        }
        let rs_list = sync.claim_replicasets(&selector).await?;
        if sync.d.metadata.deletion_timestamp.is_some() {
            sync.sync_status_only(&rs_list).await?;
            return Ok(sync.requeue);
        }
        sync.check_paused_conditions().await?;
        let paused = sync.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        if paused || sync.is_scaling_event(&rs_list) {
            sync.sync(&rs_list).await?;
            return Ok(sync.requeue);
        }
        if util::strategy_type(&sync.d) == "Recreate" {
            sync.rollout_recreate(rs_list).await?;
        } else {
            sync.rollout_rolling(rs_list).await?;
        }
        Ok(sync.requeue)
    }
}

fn template_of(rs: &ReplicaSet) -> k8s_openapi::api::core::v1::PodTemplateSpec {
    rs.spec.as_ref().and_then(|s| s.template.clone()).unwrap_or_default()
}

fn is_active(rs: &ReplicaSet) -> bool {
    util::spec_replicas(rs) > 0
}

impl Sync<'_> {
    fn regarding(&self) -> ObjectReference {
        reference("apps/v1", "Deployment", &self.d.metadata)
    }

    fn template(&self) -> k8s_openapi::api::core::v1::PodTemplateSpec {
        self.d.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default()
    }

    /// The RSs of the namespace this deployment controls, adopting and releasing by selector.
    async fn claim_replicasets(&self, selector: &api::selector::LabelSelector) -> Result<Vec<ReplicaSet>> {
        let namespace = self.d.metadata.namespace.clone();
        let deleting = self.d.metadata.deletion_timestamp.is_some();
        let mut claimed = Vec::new();
        for rs in self.controller.replicasets.list() {
            if rs.metadata.namespace != namespace {
                continue;
            }
            let matches = selector.matches(&rs.metadata.labels.clone().unwrap_or_default());
            match controller_ref::decide(&self.d.metadata, deleting, &rs.metadata, matches) {
                Claim::Keep => claimed.push((*rs).clone()),
                Claim::Adopt => {
                    let reference = controller_ref::new_controller_ref("apps/v1", "Deployment", &self.d.metadata);
                    match controller_ref::adopt(&self.rs_api, &rs.metadata, reference).await {
                        Ok(adopted) => claimed.push(adopted),
                        Err(error) if error.is_not_found() => {}
                        Err(error) => return Err(error.into()),
                    }
                }
                Claim::Release => {
                    let uid = self.d.metadata.uid.as_deref().unwrap_or_default();
                    match controller_ref::release(&self.rs_api, &rs.metadata, uid).await {
                        Ok(_) => {}
                        Err(error) if error.is_not_found() => {}
                        Err(error) => return Err(error.into()),
                    }
                }
                Claim::Ignore => {}
            }
        }
        Ok(claimed)
    }

    async fn update_status(&mut self) -> Result<()> {
        let name = self.d.metadata.name.clone().unwrap_or_default();
        self.d = self.d_api.replace_status(&name, &self.d).await?;
        Ok(())
    }

    /// `getAllReplicaSetsAndSyncRevision`: the new RS (created if asked) and the old ones.
    async fn all_replicasets(
        &mut self,
        rs_list: &[ReplicaSet],
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
        let template = self.template();
        let mut sorted: Vec<&ReplicaSet> = rs_list.iter().collect();
        util::sort_by_creation(&mut sorted);
        let new_rs =
            sorted.iter().find(|rs| util::equal_ignore_hash(&template_of(rs), &template)).map(|rs| (*rs).clone());
        let new_uid = new_rs.as_ref().and_then(|rs| rs.metadata.uid.clone());
        let old: Vec<ReplicaSet> =
            rs_list.iter().filter(|rs| new_uid.is_none() || rs.metadata.uid != new_uid).cloned().collect();
        let new_rs = self.new_replicaset(new_rs, &old, create).await?;
        Ok((new_rs, old))
    }

    /// `getNewReplicaSet`.
    async fn new_replicaset(
        &mut self,
        existing: Option<ReplicaSet>,
        old: &[ReplicaSet],
        create: bool,
    ) -> Result<Option<ReplicaSet>> {
        let new_revision = old.iter().map(util::revision).max().unwrap_or(0) + 1;
        let progress_deadline = util::progress_deadline(&self.d).is_some();
        let min_ready_seconds = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
        if let Some(existing) = existing {
            let mut copy = existing.clone();
            let annotations_updated = util::set_new_rs_annotations(&self.d, &mut copy, new_revision, true);
            let spec = copy.spec.get_or_insert_with(ReplicaSetSpec::default);
            let min_ready_changed = spec.min_ready_seconds.unwrap_or(0) != min_ready_seconds.unwrap_or(0);
            if annotations_updated || min_ready_changed {
                spec.min_ready_seconds = min_ready_seconds;
                let name = copy.metadata.name.clone().unwrap_or_default();
                return Ok(Some(self.rs_api.replace(&name, &copy).await?));
            }
            let revision = util::annotation(&copy.metadata, util::REVISION).unwrap_or_default().to_string();
            let mut needs_update = util::set_deployment_revision(&mut self.d, &revision);
            let status = self.d.status.get_or_insert_with(Default::default);
            if progress_deadline && util::get_condition(status, util::PROGRESSING).is_none() {
                let message = format!("Found new replica set {:?}", copy.metadata.name.as_deref().unwrap_or_default());
                util::set_condition(
                    status,
                    util::new_condition(util::PROGRESSING, "True", util::FOUND_NEW_RS, message, self.now),
                );
                needs_update = true;
            }
            if needs_update {
                self.update_status().await?;
            }
            return Ok(Some(copy));
        }
        if !create {
            return Ok(None);
        }
        let collision_count = self.d.status.as_ref().and_then(|s| s.collision_count);
        let template = self.template();
        let hash = util::compute_hash(&template, collision_count);
        let mut rs_template = template.clone();
        let template_meta = rs_template.metadata.get_or_insert_with(Default::default);
        template_meta.labels.get_or_insert_with(Default::default).insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let template_labels = template_meta.labels.clone();
        let mut selector = self.d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
        selector.match_labels.get_or_insert_with(Default::default).insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let d_name = self.d.metadata.name.clone().unwrap_or_default();
        let name = format!("{d_name}-{hash}");
        let mut new_rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                owner_references: Some(vec![controller_ref::new_controller_ref(
                    "apps/v1",
                    "Deployment",
                    &self.d.metadata,
                )]),
                labels: template_labels,
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec { replicas: Some(0), min_ready_seconds, selector, template: Some(rs_template) }),
            status: None,
        };
        let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(&new_rs)).collect();
        let replicas = util::new_rs_new_replicas(&self.d, &all, &new_rs);
        if let Some(spec) = new_rs.spec.as_mut() {
            spec.replicas = Some(replicas);
        }
        util::set_new_rs_annotations(&self.d, &mut new_rs, new_revision, false);
        let (created, already_existed) = match self.rs_api.create(&new_rs).await {
            Ok(created) => (created, false),
            Err(error) if error.is_already_exists() => {
                let current = self.rs_api.get(&name).await?;
                let ours = controller_ref::controller_of(&current.metadata).map(|r| r.uid.as_str())
                    == self.d.metadata.uid.as_deref();
                if ours && util::equal_ignore_hash(&template_of(&current), &template) {
                    (current, true)
                } else {
                    // A hash collision: bump the count so the next hash differs.
                    let status = self.d.status.get_or_insert_with(Default::default);
                    status.collision_count = Some(status.collision_count.unwrap_or(0).saturating_add(1));
                    self.update_status().await?;
                    return Err(Error::Invalid(format!("hash collision for ReplicaSet {name}")));
                }
            }
            Err(error) => {
                if progress_deadline {
                    let message = format!("Failed to create new replica set {name:?}: {error}");
                    let status = self.d.status.get_or_insert_with(Default::default);
                    util::set_condition(
                        status,
                        util::new_condition(util::PROGRESSING, "False", util::FAILED_RS_CREATE, message, self.now),
                    );
                    let _ = self.update_status().await;
                }
                return Err(error.into());
            }
        };
        if !already_existed && replicas > 0 {
            self.controller.recorder.record(
                self.regarding(),
                "Normal",
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} from 0 to {replicas}"),
            );
        }
        let mut needs_update = util::set_deployment_revision(&mut self.d, &new_revision.to_string());
        if !already_existed && progress_deadline {
            let status = self.d.status.get_or_insert_with(Default::default);
            let message = format!("Created new replica set {name:?}");
            util::set_condition(
                status,
                util::new_condition(util::PROGRESSING, "True", util::NEW_RS_CREATED, message, self.now),
            );
            needs_update = true;
        }
        if needs_update {
            self.update_status().await?;
        }
        Ok(Some(created))
    }

    /// `scaleReplicaSet`: sets the size and the replicas annotations.
    async fn scale_replicaset(
        &mut self,
        rs: &ReplicaSet,
        new_scale: i32,
        operation: &str,
    ) -> Result<(bool, ReplicaSet)> {
        let size_changed = util::spec_replicas(rs) != new_scale;
        let desired = util::replicas(&self.d);
        let max = desired + util::max_surge(&self.d);
        if !size_changed && !util::replicas_annotations_need_update(rs, desired, max) {
            return Ok((false, rs.clone()));
        }
        let mut copy = rs.clone();
        copy.spec.get_or_insert_with(Default::default).replicas = Some(new_scale);
        util::set_replicas_annotations(&mut copy, desired, max);
        let name = copy.metadata.name.clone().unwrap_or_default();
        let updated = self.rs_api.replace(&name, &copy).await?;
        if size_changed {
            self.controller.recorder.record(
                self.regarding(),
                "Normal",
                "ScalingReplicaSet",
                format!("Scaled {operation} replica set {name} from {} to {new_scale}", util::spec_replicas(rs)),
            );
        }
        Ok((size_changed, updated))
    }

    async fn scale_and_record(&mut self, rs: &ReplicaSet, new_scale: i32) -> Result<(bool, ReplicaSet)> {
        if util::spec_replicas(rs) == new_scale {
            return Ok((false, rs.clone()));
        }
        let operation = if util::spec_replicas(rs) < new_scale { "up" } else { "down" };
        self.scale_replicaset(rs, new_scale, operation).await
    }

    /// `isScalingEvent`: an active RS's desired-replicas annotation differs from replicas.
    fn is_scaling_event(&self, rs_list: &[ReplicaSet]) -> bool {
        let template = self.template();
        let desired = util::replicas(&self.d).to_string();
        // The new RS is not created here; the annotations of what exists decide.
        rs_list.iter().filter(|rs| is_active(rs) || util::equal_ignore_hash(&template_of(rs), &template)).any(|rs| {
            util::annotation(&rs.metadata, util::DESIRED_REPLICAS).is_some_and(|d| d != desired) && is_active(rs)
        })
    }

    /// `sync`: scaling and pausing, without rolling anything out.
    async fn sync(&mut self, rs_list: &[ReplicaSet]) -> Result<()> {
        let (new_rs, old) = self.all_replicasets(rs_list, false).await?;
        self.scale(new_rs.as_ref(), &old).await?;
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        if paused {
            self.cleanup(&old).await?;
        }
        // Re-read sizes written by `scale` from the cache-independent copies we hold.
        let refreshed = self.refresh(rs_list).await;
        let (new_rs, old) = split_new(&refreshed, new_rs.as_ref());
        self.sync_deployment_status(&old, new_rs.as_ref()).await
    }

    /// The latest RS states: the cached ones (written RSs come back through the watch).
    async fn refresh(&self, rs_list: &[ReplicaSet]) -> Vec<ReplicaSet> {
        rs_list
            .iter()
            .map(|rs| {
                self.controller
                    .replicasets
                    .get(rs.metadata.namespace.as_deref(), rs.metadata.name.as_deref().unwrap_or_default())
                    .filter(|cached| cached.metadata.uid == rs.metadata.uid)
                    .map(|cached| (*cached).clone())
                    .unwrap_or_else(|| rs.clone())
            })
            .collect()
    }

    /// `scale`: resizes for a changed `replicas`, proportionally during a rollout.
    async fn scale(&mut self, new_rs: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Result<()> {
        let desired = util::replicas(&self.d);
        if let Some(active) = find_active_or_latest(new_rs, old) {
            if util::spec_replicas(&active) != desired {
                self.scale_and_record(&active, desired).await?;
            }
            return Ok(());
        }
        if util::is_saturated(&self.d, new_rs) {
            for rs in old.iter().filter(|rs| is_active(rs)) {
                self.scale_and_record(rs, 0).await?;
            }
            return Ok(());
        }
        if util::is_rolling_update(&self.d) {
            let active: Vec<&ReplicaSet> = old.iter().chain(new_rs).filter(|rs| is_active(rs)).collect();
            let (sizes, up) = util::proportional_sizes(&self.d, &active);
            let operation = if up { "up" } else { "down" };
            let all: Vec<ReplicaSet> = active.into_iter().cloned().collect();
            for rs in &all {
                let name = rs.metadata.name.clone().unwrap_or_default();
                let size = sizes.iter().find(|(n, _)| *n == name).map_or(util::spec_replicas(rs), |(_, s)| *s);
                self.scale_replicaset(rs, size, operation).await?;
            }
        }
        Ok(())
    }

    /// `rolloutRolling`.
    async fn rollout_rolling(&mut self, rs_list: Vec<ReplicaSet>) -> Result<()> {
        let (new_rs, old) = self.all_replicasets(&rs_list, true).await?;
        let Some(mut new_rs) = new_rs else { return Ok(()) };
        // Scale up the new RS.
        let desired = util::replicas(&self.d);
        let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(&new_rs)).collect();
        let target = if util::spec_replicas(&new_rs) > desired {
            desired
        } else {
            util::new_rs_new_replicas(&self.d, &all, &new_rs)
        };
        let (scaled_up, updated) = self.scale_and_record(&new_rs, target).await?;
        new_rs = updated;
        if scaled_up {
            return self.sync_rollout_status(&old, Some(&new_rs)).await;
        }
        // Scale down old RSs.
        let old = self.reconcile_old_replicasets(old, &new_rs).await?;
        let (old, scaled_down) = old;
        if scaled_down {
            return self.sync_rollout_status(&old, Some(&new_rs)).await;
        }
        let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(&new_rs)).collect();
        let status = util::calculate_status(&all, Some(&new_rs), &self.d, self.now);
        if util::deployment_complete(&self.d, &status) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(&old, Some(&new_rs)).await
    }

    /// `reconcileOldReplicaSets`: scale unhealthy old pods away first, then healthy ones as
    /// far as maxUnavailable allows.
    async fn reconcile_old_replicasets(
        &mut self,
        mut old: Vec<ReplicaSet>,
        new_rs: &ReplicaSet,
    ) -> Result<(Vec<ReplicaSet>, bool)> {
        let old_count: i32 = old.iter().map(util::spec_replicas).sum();
        if old_count == 0 {
            return Ok((old, false));
        }
        let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(new_rs)).collect();
        let max_scaled_down = util::max_scaled_down(&self.d, &all, Some(new_rs));
        if max_scaled_down <= 0 {
            return Ok((old, false));
        }
        // cleanupUnhealthyReplicas: oldest first.
        old.sort_by_key(|rs| (rs.metadata.creation_timestamp.as_ref().map(|t| t.0), rs.metadata.name.clone()));
        let mut cleaned = 0;
        for rs in old.iter_mut() {
            if cleaned >= max_scaled_down {
                break;
            }
            let replicas = util::spec_replicas(rs);
            let available = util::available_replicas(rs);
            if replicas == 0 || replicas == available {
                continue;
            }
            let count = (max_scaled_down - cleaned).min(replicas - available);
            let (_, updated) = self.scale_and_record(rs, replicas - count).await?;
            *rs = updated;
            cleaned += count;
        }
        // scaleDownOldReplicaSetsForRollingUpdate.
        let min_available = util::replicas(&self.d) - util::max_unavailable(&self.d);
        let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(new_rs)).collect();
        let available = util::available_count(&all);
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for rs in old.iter_mut() {
                if scaled >= total {
                    break;
                }
                let replicas = util::spec_replicas(rs);
                if replicas == 0 {
                    continue;
                }
                let count = replicas.min(total - scaled);
                let (_, updated) = self.scale_and_record(rs, replicas - count).await?;
                *rs = updated;
                scaled += count;
            }
        }
        Ok((old, cleaned + scaled > 0))
    }

    /// `rolloutRecreate`: all old pods gone before the new RS scales up.
    async fn rollout_recreate(&mut self, rs_list: Vec<ReplicaSet>) -> Result<()> {
        let (new_rs, mut old) = self.all_replicasets(&rs_list, false).await?;
        let mut scaled_down = false;
        for rs in old.iter_mut().filter(|rs| is_active(rs)) {
            let (scaled, updated) = self.scale_and_record(rs, 0).await?;
            *rs = updated;
            scaled_down |= scaled;
        }
        if scaled_down {
            return self.sync_rollout_status(&old, new_rs.as_ref()).await;
        }
        if self.old_pods_running(new_rs.as_ref(), &old) {
            return self.sync_rollout_status(&old, new_rs.as_ref()).await;
        }
        let (new_rs, old) = match new_rs {
            Some(rs) => (rs, old),
            None => match self.all_replicasets(&rs_list, true).await? {
                (Some(rs), old) => (rs, old),
                (None, _) => return Ok(()),
            },
        };
        let (_, new_rs) = self.scale_and_record(&new_rs, util::replicas(&self.d)).await?;
        let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(&new_rs)).collect();
        let status = util::calculate_status(&all, Some(&new_rs), &self.d, self.now);
        if util::deployment_complete(&self.d, &status) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(&old, Some(&new_rs)).await
    }

    /// `oldPodsRunning`.
    fn old_pods_running(&self, new_rs: Option<&ReplicaSet>, old: &[ReplicaSet]) -> bool {
        if old.iter().map(util::status_replicas).sum::<i32>() > 0 {
            return true;
        }
        let old_uids: Vec<&str> = old.iter().filter_map(|rs| rs.metadata.uid.as_deref()).collect();
        let new_uid = new_rs.and_then(|rs| rs.metadata.uid.as_deref());
        let namespace = self.d.metadata.namespace.as_deref().unwrap_or_default();
        old_uids.into_iter().filter(|uid| Some(*uid) != new_uid).any(|uid| {
            pods::controlled_by(&self.controller.pods, namespace, uid).iter().any(|p| !pods::is_terminated(p))
        })
    }

    /// `cleanupDeployment`: old, empty RSs beyond `revisionHistoryLimit`, oldest revision first.
    async fn cleanup(&mut self, old: &[ReplicaSet]) -> Result<()> {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else { return Ok(()) };
        let mut cleanable: Vec<&ReplicaSet> =
            old.iter().filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
        let diff = cleanable.len() as i64 - i64::from(limit.max(0));
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by_key(|rs| (util::revision(rs), rs.metadata.name.clone()));
        for rs in cleanable.into_iter().take(diff as usize) {
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
            if util::status_replicas(rs) != 0
                || util::spec_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            let name = rs.metadata.name.clone().unwrap_or_default();
            match self.rs_api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(error) if error.is_not_found() => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// `checkPausedConditions`.
    async fn check_paused_conditions(&mut self) -> Result<()> {
        if util::progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let status = self.d.status.get_or_insert_with(Default::default);
        let reason = util::get_condition(status, util::PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(util::TIMED_OUT) {
            return Ok(());
        }
        let paused_condition = reason.as_deref() == Some(util::PAUSED);
        let condition = if paused && !paused_condition {
            util::new_condition(util::PROGRESSING, "Unknown", util::PAUSED, "Deployment is paused".into(), self.now)
        } else if !paused && paused_condition {
            util::new_condition(util::PROGRESSING, "Unknown", util::RESUMED, "Deployment is resumed".into(), self.now)
        } else {
            return Ok(());
        };
        util::set_condition(status, condition);
        self.update_status().await
    }

    async fn sync_status_only(&mut self, rs_list: &[ReplicaSet]) -> Result<()> {
        let (new_rs, old) = self.all_replicasets(rs_list, false).await?;
        self.sync_deployment_status(&old, new_rs.as_ref()).await
    }

    async fn sync_deployment_status(&mut self, old: &[ReplicaSet], new_rs: Option<&ReplicaSet>) -> Result<()> {
        let all: Vec<&ReplicaSet> = old.iter().chain(new_rs).collect();
        let status = util::calculate_status(&all, new_rs, &self.d, self.now);
        if self.d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        self.d.status = Some(status);
        self.update_status().await
    }

    /// `syncRolloutStatus`: status plus the Progressing condition, and a requeue for the
    /// progress deadline.
    async fn sync_rollout_status(&mut self, old: &[ReplicaSet], new_rs: Option<&ReplicaSet>) -> Result<()> {
        let all: Vec<&ReplicaSet> = old.iter().chain(new_rs).collect();
        let mut status = util::calculate_status(&all, new_rs, &self.d, self.now);
        let deadline = util::progress_deadline(&self.d);
        if deadline.is_none() {
            util::remove_condition(&mut status, util::PROGRESSING);
        }
        let current = util::get_condition(&status, util::PROGRESSING).cloned();
        let complete = n(status.replicas) == n(status.updated_replicas)
            && current.as_ref().is_some_and(|c| c.reason.as_deref() == Some(util::NEW_RS_AVAILABLE));
        let rs_name = new_rs.and_then(|rs| rs.metadata.name.clone()).unwrap_or_default();
        if deadline.is_some() && !complete {
            if util::deployment_complete(&self.d, &status) {
                let message = format!("ReplicaSet {rs_name:?} has successfully progressed.");
                util::set_condition(
                    &mut status,
                    util::new_condition(util::PROGRESSING, "True", util::NEW_RS_AVAILABLE, message, self.now),
                );
            } else if util::deployment_progressing(&self.d, &status) {
                let message = if new_rs.is_some() {
                    format!("ReplicaSet {rs_name:?} is progressing.")
                } else {
                    format!("Deployment {:?} is progressing.", self.d.metadata.name.as_deref().unwrap_or_default())
                };
                let mut condition = util::new_condition(util::PROGRESSING, "True", util::RS_UPDATED, message, self.now);
                if let Some(current) = current.as_ref().filter(|c| c.status == "True") {
                    condition.last_transition_time = current.last_transition_time.clone();
                }
                util::remove_condition(&mut status, util::PROGRESSING);
                util::set_condition(&mut status, condition);
            } else if util::deployment_timed_out(&self.d, &status, self.now) {
                let message = format!("ReplicaSet {rs_name:?} has timed out progressing.");
                util::set_condition(
                    &mut status,
                    util::new_condition(util::PROGRESSING, "False", util::TIMED_OUT, message, self.now),
                );
            }
        }
        self.requeue = self.requeue.min(self.requeue_stuck(&status));
        if self.d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        self.d.status = Some(status);
        self.update_status().await
    }

    /// `requeueStuckDeployment`: check again when the progress deadline would pass.
    fn requeue_stuck(&self, status: &k8s_openapi::api::apps::v1::DeploymentStatus) -> Action {
        let Some(deadline) = util::progress_deadline(&self.d) else { return Action::await_change() };
        let Some(condition) = util::get_condition(status, util::PROGRESSING) else { return Action::await_change() };
        if matches!(condition.reason.as_deref(), Some(util::NEW_RS_AVAILABLE) | Some(util::TIMED_OUT))
            || util::deployment_complete(&self.d, status)
        {
            return Action::await_change();
        }
        let Some(from) = condition.last_update_time.as_ref() else { return Action::await_change() };
        let at = from.0 + jiff::SignedDuration::from_secs(i64::from(deadline));
        let after = Duration::try_from(at - self.now).unwrap_or_default();
        if after < Duration::from_secs(1) {
            Action::requeue(Duration::from_millis(100))
        } else {
            Action::requeue(after + Duration::from_secs(1))
        }
    }
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// `FindActiveOrLatest`: the one active RS, or the newest when none is active.
fn find_active_or_latest(new_rs: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Option<ReplicaSet> {
    if new_rs.is_none() && old.is_empty() {
        return None;
    }
    let mut sorted: Vec<&ReplicaSet> = old.iter().collect();
    util::sort_by_creation(&mut sorted);
    sorted.reverse();
    let active: Vec<&ReplicaSet> = sorted.iter().copied().chain(new_rs).filter(|rs| is_active(rs)).collect();
    match active.len() {
        0 => new_rs.or(sorted.first().copied()).cloned(),
        1 => Some(active[0].clone()),
        _ => None,
    }
}

fn split_new(all: &[ReplicaSet], new_rs: Option<&ReplicaSet>) -> (Option<ReplicaSet>, Vec<ReplicaSet>) {
    let new_uid = new_rs.and_then(|rs| rs.metadata.uid.clone());
    let mut new = None;
    let mut old = Vec::new();
    for rs in all {
        if new_uid.is_some() && rs.metadata.uid == new_uid {
            new = Some(rs.clone());
        } else {
            old.push(rs.clone());
        }
    }
    (new.or_else(|| new_rs.cloned()), old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn rs(name: &str, replicas: i32, age: i64) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(name.into()),
                creation_timestamp: Some(Time(Timestamp::from_second(1_700_000_000 + age).expect("ts"))),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec { replicas: Some(replicas), ..ReplicaSetSpec::default() }),
            status: None,
        }
    }

    #[test]
    fn active_or_latest() {
        assert!(find_active_or_latest(None, &[]).is_none());
        let (a, b) = (rs("a", 0, 0), rs("b", 0, 10));
        assert_eq!(
            find_active_or_latest(None, &[a.clone(), b.clone()]).and_then(|r| r.metadata.name),
            Some("b".into())
        );
        let c = rs("c", 2, 5);
        assert_eq!(
            find_active_or_latest(None, &[a.clone(), c.clone()]).and_then(|r| r.metadata.name),
            Some("c".into())
        );
        let d = rs("d", 1, 20);
        assert!(find_active_or_latest(Some(&d), &[c]).is_none(), "two active: a rollout is in progress");
    }
}
