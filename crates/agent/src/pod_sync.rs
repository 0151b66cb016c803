//! `SyncPod`: one pass of a pod worker over its pod, in the kubelet's order: active deadline,
//! network and sandbox, volumes (and the eviction of a pod whose emptyDir outgrew its
//! `sizeLimit`, the kubelet eviction manager's local storage check), then init containers in
//! order (regular ones must exit 0; sidecars, `restartPolicy: Always` init containers, must
//! have started), then the app
//! containers; restarts per restart policy behind CrashLoopBackOff; image pulls per
//! `imagePullPolicy` ([`crate::image_puller`]); liveness/startup probe failures kill the
//! container; a finished pod (Succeeded/Failed) keeps its object and containers but its
//! sandbox is stopped. Also the termination of a deleted pod (preStop, stop with the grace
//! period, sidecars last in reverse order, terminal status, teardown, final delete) and the
//! teardown of orphans.
//!
//! Every pass is level-triggered: it reads the runtime's containers and acts on the
//! difference with the spec, so an agent restart simply adopts what runs (restart counts
//! are the runtime's `attempt`). Only the pod's own worker calls these functions.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};

use crate::agent::Context;
use crate::container_config::{self, ContainerContext, MAX_TERMINATION_MESSAGE_BYTES};
use crate::crash_loop_backoff::{Backoff, go_duration};
use crate::events::{NORMAL, WARNING};
use crate::network::PodNetworkConfig;
use crate::pod_status::{self, FAILED, SUCCEEDED, StatusInput, Waiting, instances, is_sidecar, restart_policy};
use crate::prober_manager::ContainerProbes;
use crate::runtime::{ContainerState, ContainerStatus, SandboxConfig};
use crate::status_manager::{self, StatusCache};
use crate::volumes::PodVolumes;

/// The kubelet never gives a container less than this to stop (`minimumGracePeriodInSeconds`).
const MINIMUM_GRACE_PERIOD: Duration = Duration::from_secs(2);
/// Retry delay after a failed sandbox, volume or runtime call.
const RETRY: Duration = Duration::from_secs(2);
/// How often configMap/secret/downwardAPI volume contents are refreshed in running pods.
const VOLUME_RESYNC_PERIOD: Duration = Duration::from_secs(10);
const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";
/// The grace period of a local storage eviction (`immediateEvictionGracePeriodSeconds`); the
/// containers still get [`MINIMUM_GRACE_PERIOD`].
const EVICTION_GRACE_PERIOD: Duration = Duration::from_secs(1);

/// What a pod worker remembers between passes. Everything else is read from the runtime.
pub(crate) struct PodState {
    pub uid: String,
    pub pod_ip: Option<IpAddr>,
    pub sandbox_ready: bool,
    pub volumes: Option<PodVolumes>,
    pub volumes_synced: Option<Instant>,
    /// Waiting reasons decided by the worker (`CrashLoopBackOff`, `ErrImagePull`, ...).
    pub waiting: HashMap<String, Waiting>,
    pub status: StatusCache,
    pub start_time: Timestamp,
    /// The pod reached a terminal phase and its sandbox was stopped.
    pub finished: bool,
    /// `activeDeadlineSeconds` passed.
    pub deadline_exceeded: bool,
    /// The pod was evicted (an emptyDir over its `sizeLimit`): the message.
    pub evicted: Option<String>,
    /// When emptyDir usage was last measured.
    pub storage_checked: Option<Instant>,
    /// Termination messages read once per exited container instance (they never change).
    pub messages: HashMap<String, Option<String>>,
    /// Container starts attempted so far: a pass that attempted none need not list again.
    pub start_attempts: u64,
}

impl PodState {
    pub fn new(pod: &Pod) -> Self {
        PodState {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            pod_ip: None,
            sandbox_ready: false,
            volumes: None,
            volumes_synced: None,
            waiting: HashMap::new(),
            status: StatusCache::from_pod(pod),
            start_time: pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map_or_else(Timestamp::now, |t| t.0),
            finished: false,
            deadline_exceeded: false,
            evicted: None,
            storage_checked: None,
            messages: HashMap::new(),
            start_attempts: 0,
        }
    }
}

/// `name_namespace(uid)`, as the kubelet's `format.Pod` prints a pod in messages.
fn pod_label(pod: &Pod) -> String {
    let meta = &pod.metadata;
    format!(
        "{}_{}({})",
        meta.name.as_deref().unwrap_or_default(),
        meta.namespace.as_deref().unwrap_or_default(),
        meta.uid.as_deref().unwrap_or_default()
    )
}

fn min_wakeup(current: &mut Option<Duration>, candidate: Duration) {
    *current = Some(current.map_or(candidate, |c| c.min(candidate)));
}

fn grace_period(pod: &Pod) -> Duration {
    let seconds = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30);
    Duration::from_secs(seconds.max(0) as u64)
}

fn probe_results(ctx: &Context) -> impl Fn(&ContainerStatus, &Container) -> ContainerProbes + '_ {
    move |status, container| ctx.probes.results(&status.id).unwrap_or_else(|| ContainerProbes::initial(container))
}

fn all_containers(pod: &Pod) -> Vec<Container> {
    let Some(spec) = pod.spec.as_ref() else { return Vec::new() };
    spec.init_containers.iter().flatten().chain(spec.containers.iter()).cloned().collect()
}

/// One pass over a live pod. Returns when the worker should look again at the latest
/// (besides pod updates, runtime events, probe changes and the relist).
pub(crate) async fn sync(ctx: &Context, state: &mut PodState, pod: &Pod) -> Option<Duration> {
    let spec = pod.spec.as_ref()?;
    if state.finished {
        return None;
    }
    let old_phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(old_phase, Some(SUCCEEDED | FAILED)) {
        // Already reported terminal (e.g. by a previous agent): only make sure the sandbox
        // is stopped; the runtime may not know its containers any more.
        finish(ctx, state, pod, false).await;
        return None;
    }
    let mut wakeup = None;
    if let Some(deadline) = spec.active_deadline_seconds {
        let deadline = Duration::from_secs(deadline.max(0) as u64);
        let elapsed = Timestamp::now().duration_since(state.start_time);
        let elapsed = if elapsed.is_negative() { Duration::ZERO } else { elapsed.unsigned_abs() };
        if elapsed >= deadline {
            if !state.deadline_exceeded {
                state.deadline_exceeded = true;
                ctx.events.pod(pod, None, NORMAL, "DeadlineExceeded", DEADLINE_MESSAGE.into());
            }
            if let Ok(containers) = ctx.runtime.list_containers(&state.uid).await {
                kill_containers(ctx, pod, &containers, grace_period(pod), None).await;
            }
            finish(ctx, state, pod, true).await;
            return None;
        }
        min_wakeup(&mut wakeup, deadline - elapsed);
    }

    if !state.sandbox_ready
        && let Err(message) = ensure_sandbox(ctx, state, pod).await
    {
        ctx.events.pod(
            pod,
            None,
            WARNING,
            "FailedCreatePodSandBox",
            format!("Failed to create pod sandbox: {message}"),
        );
        write_status(ctx, state, pod, &[]).await;
        return Some(RETRY);
    }
    match &state.volumes {
        None => match ctx.volumes.setup(pod).await {
            Ok(volumes) => {
                state.volumes = Some(volumes);
                state.volumes_synced = Some(Instant::now());
            }
            Err(error) => {
                ctx.events.pod(pod, None, WARNING, "FailedMount", format!("MountVolume.SetUp failed: {error}"));
                write_status(ctx, state, pod, &[]).await;
                return Some(RETRY);
            }
        },
        Some(_) if state.volumes_synced.is_none_or(|at| at.elapsed() >= VOLUME_RESYNC_PERIOD) => {
            if let Err(error) = ctx.volumes.resync(pod).await {
                tracing::warn!(pod = %pod_label(pod), %error, "volume resync failed");
            }
            state.volumes_synced = Some(Instant::now());
        }
        Some(_) => {}
    }
    if crate::volumes::empty_dir::has_size_limit(pod) {
        if let Some(message) = storage_over_limit(ctx, state, pod).await {
            evict(ctx, state, pod, message).await;
            return None;
        }
        min_wakeup(&mut wakeup, ctx.config.eviction_monitoring_period);
    }

    let Ok(mut containers) = ctx.runtime.list_containers(&state.uid).await else { return Some(RETRY) };
    if kill_unhealthy(ctx, pod, &containers).await {
        let Ok(listed) = ctx.runtime.list_containers(&state.uid).await else { return Some(RETRY) };
        containers = listed;
    }
    let attempts = state.start_attempts;
    start_what_is_missing(ctx, state, pod, &containers, &mut wakeup).await;
    if state.start_attempts != attempts {
        let Ok(listed) = ctx.runtime.list_containers(&state.uid).await else { return Some(RETRY) };
        containers = listed;
    }
    let running: HashSet<String> =
        containers.iter().filter(|c| c.state == ContainerState::Running).map(|c| c.id.clone()).collect();
    ctx.probes.retain(&state.uid, &running);
    let specs = all_containers(pod);
    for status in containers.iter().filter(|c| c.state == ContainerState::Running) {
        if let Some(container) = specs.iter().find(|c| c.name == status.name) {
            ctx.probes.ensure(pod, container, &status.id, state.pod_ip);
        }
    }
    let status = write_status(ctx, state, pod, &containers).await;
    if matches!(status.get("phase").and_then(|p| p.as_str()), Some(SUCCEEDED | FAILED)) {
        finish(ctx, state, pod, true).await;
        return None;
    }
    wakeup
}

/// Measures the pod's emptyDirs against their `sizeLimit`, at most once per
/// `eviction_monitoring_period`: the eviction message when one is over.
async fn storage_over_limit(ctx: &Context, state: &mut PodState, pod: &Pod) -> Option<String> {
    if state.storage_checked.is_some_and(|at| at.elapsed() < ctx.config.eviction_monitoring_period) {
        return None;
    }
    state.storage_checked = Some(Instant::now());
    let volumes = state.volumes.clone()?;
    let pod = pod.clone();
    // A walk of the volumes: off the async threads.
    tokio::task::spawn_blocking(move || crate::volumes::empty_dir::size_limit_exceeded(&pod, &volumes))
        .await
        .ok()
        .flatten()
}

/// Evicts the pod as the kubelet's eviction manager does for local storage: a `Evicted`
/// warning, its containers killed with the immediate grace period, then phase Failed with
/// reason `Evicted` and the message. The object stays (a controller replaces the pod).
async fn evict(ctx: &Context, state: &mut PodState, pod: &Pod, message: String) {
    tracing::info!(pod = %pod_label(pod), %message, "evicting pod");
    ctx.events.pod(pod, None, WARNING, "Evicted", message.clone());
    state.evicted = Some(message);
    if let Ok(containers) = ctx.runtime.list_containers(&state.uid).await {
        kill_containers(ctx, pod, &containers, EVICTION_GRACE_PERIOD, None).await;
    }
    finish(ctx, state, pod, true).await;
}

/// Computes the status from the runtime's containers and writes it if it changed.
async fn write_status(
    ctx: &Context,
    state: &mut PodState,
    pod: &Pod,
    containers: &[ContainerStatus],
) -> serde_json::Value {
    ctx.index.set(pod, containers, &state.waiting);
    read_termination_messages(state, pod, containers);
    let status = compute_status(ctx, state, pod, containers, false);
    if let Err(error) = state.status.write(&ctx.client, pod, status.clone()).await {
        tracing::warn!(%error, "pod status update failed");
    }
    status
}

/// Reads the termination message of exited instances not read yet: the file the container
/// wrote at its `terminationMessagePath`, else with `FallbackToLogsOnError` and a failure the
/// tail of its log.
fn read_termination_messages(state: &mut PodState, pod: &Pod, containers: &[ContainerStatus]) {
    let Some(volumes) = state.volumes.as_ref() else { return };
    let specs = all_containers(pod);
    for status in containers.iter().filter(|c| c.state == ContainerState::Exited) {
        if state.messages.contains_key(&status.id) {
            continue;
        }
        let Some(container) = specs.iter().find(|c| c.name == status.name) else { continue };
        let written = container_config::termination_message_path(volumes, container, status.attempt)
            .and_then(|path| container_config::read_termination_message(&path, MAX_TERMINATION_MESSAGE_BYTES));
        let fallback = container.termination_message_policy.as_deref() == Some("FallbackToLogsOnError")
            && status.exit_code.is_some_and(|code| code != 0);
        let message = written.or_else(|| fallback.then(|| log_tail(&status.log_path)).flatten());
        state.messages.insert(status.id.clone(), message);
    }
    let live: HashSet<&str> = containers.iter().map(|c| c.id.as_str()).collect();
    state.messages.retain(|id, _| live.contains(id.as_str()));
}

/// The kubelet's fallback message: the last 80 lines (at most 2048 bytes) of a CRI log.
fn log_tail(path: &std::path::Path) -> Option<String> {
    const MAX_LINES: usize = 80;
    const MAX_BYTES: usize = 2048;
    let text = std::fs::read_to_string(path).ok()?;
    let mut out = String::new();
    // CRI lines: `<time> <stream> <P|F> <text>`; P marks a partial line continued next.
    for line in text.lines() {
        let mut fields = line.splitn(4, ' ');
        let (_, _, tag, message) = (fields.next(), fields.next(), fields.next(), fields.next().unwrap_or_default());
        out.push_str(message);
        if tag != Some("P") {
            out.push('\n');
        }
    }
    // The last lines with their newlines, as the kubelet's log read with `tailLines` gives them.
    let body = out.strip_suffix('\n').unwrap_or(&out);
    let first = body.rmatch_indices('\n').nth(MAX_LINES - 1).map_or(0, |(i, _)| i + 1);
    let tail = &out[first..];
    let start = tail.len().saturating_sub(MAX_BYTES);
    let start = (start..=tail.len()).find(|&i| tail.is_char_boundary(i)).unwrap_or(tail.len());
    let tail = &tail[start..];
    (!tail.is_empty()).then(|| tail.to_string())
}

fn compute_status(
    ctx: &Context,
    state: &PodState,
    pod: &Pod,
    containers: &[ContainerStatus],
    terminating: bool,
) -> serde_json::Value {
    let probes = probe_results(ctx);
    let messages: HashMap<String, String> =
        state.messages.iter().filter_map(|(id, message)| Some((id.clone(), message.clone()?))).collect();
    let input = StatusInput {
        messages: &messages,
        pod,
        containers,
        waiting: &state.waiting,
        probes: &probes,
        runtime_prefix: &ctx.runtime_prefix,
        host_ip: ctx.config.node_ip,
        pod_ip: state.pod_ip,
        start_time: state.start_time,
        sandbox_ready: state.sandbox_ready,
        terminating,
        forced: state
            .deadline_exceeded
            .then_some((FAILED, "DeadlineExceeded", DEADLINE_MESSAGE))
            .or_else(|| state.evicted.as_deref().map(|message| (FAILED, "Evicted", message))),
        previous: state.status.last(),
        now: Timestamp::now(),
    };
    pod_status::compute(&input)
}

/// The `handler` of the pod's RuntimeClass, as the kubelet's `LookupRuntimeHandler`: `None`
/// without `runtimeClassName`; a class that does not exist (or cannot be read) fails the
/// sandbox, to be retried.
async fn runtime_handler(ctx: &Context, pod: &Pod) -> Result<Option<String>, String> {
    let class_name = pod.spec.as_ref().and_then(|spec| spec.runtime_class_name.as_deref()).filter(|n| !n.is_empty());
    let Some(class_name) = class_name else { return Ok(None) };
    let info = api::resources::find("node.k8s.io", "v1", "runtimeclasses")
        .ok_or_else(|| "the RuntimeClass resource is not known".to_string())?;
    let classes: client::Api<serde_json::Value> =
        client::Api::with_resource(ctx.client.clone(), client::ApiResource::from_info(info), None);
    match classes.get_opt(class_name).await {
        Ok(Some(class)) => {
            Ok(Some(class.get("handler").and_then(serde_json::Value::as_str).unwrap_or_default().to_string()))
        }
        // The kubelet's informer lister answers with the singular: `runtimeclass.node.k8s.io`.
        Ok(None) => Err(format!("{}.{} \"{class_name}\" not found", info.singular, info.group)),
        Err(error) => Err(format!("failed to lookup RuntimeClass {class_name}: {error}")),
    }
}

async fn ensure_sandbox(ctx: &Context, state: &mut PodState, pod: &Pod) -> Result<(), String> {
    // Before the network: a pod whose RuntimeClass is missing gets nothing set up.
    let runtime_handler = runtime_handler(ctx, pod).await?;
    let meta = &pod.metadata;
    let (namespace, name) = (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default());
    let spec = pod.spec.clone().unwrap_or_default();
    let netns_path = if spec.host_network == Some(true) {
        state.pod_ip = None;
        None
    } else {
        let config = PodNetworkConfig { pod_uid: state.uid.clone(), namespace: namespace.clone(), name: name.clone() };
        let network = ctx.network.setup(&config).await.map_err(|e| e.to_string())?;
        state.pod_ip = Some(network.ip);
        Some(network.netns_path)
    };
    let log_directory = ctx.config.logs_dir().join(format!("{namespace}_{name}_{}", state.uid));
    std::fs::create_dir_all(&log_directory).map_err(|e| format!("create {}: {e}", log_directory.display()))?;
    let mut hostname = if netns_path.is_none() {
        // hostNetwork: the node's name (the kubelet gives such a sandbox no hostname, and the
        // runtime then uses the node's, for `HOSTNAME` too).
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
    } else {
        container_config::etc_files::pod_hostname_and_domain(pod).0
    };
    hostname.truncate(63);
    let config = SandboxConfig {
        pod_uid: state.uid.clone(),
        namespace,
        name,
        hostname,
        netns_path,
        resources: crate::pod_resources::pod_resources(pod),
        log_directory,
        runtime_handler,
    };
    ctx.runtime.run_pod_sandbox(&config).await.map_err(|e| e.to_string())?;
    state.sandbox_ready = true;
    Ok(())
}

/// Kills running containers whose liveness or startup probe failed. Returns whether any was.
async fn kill_unhealthy(ctx: &Context, pod: &Pod, containers: &[ContainerStatus]) -> bool {
    let specs = all_containers(pod);
    let mut killed = false;
    for status in containers.iter().filter(|c| c.state == ContainerState::Running) {
        let Some(results) = ctx.probes.results(&status.id) else { continue };
        let Some(container) = specs.iter().find(|c| c.name == status.name) else { continue };
        let (probe, kind) = match (results.liveness_failed, results.startup_failed) {
            (true, _) => (&container.liveness_probe, "liveness"),
            (_, true) => (&container.startup_probe, "startup"),
            _ => continue,
        };
        let grace = probe
            .as_ref()
            .and_then(|p| p.termination_grace_period_seconds)
            .map_or_else(|| grace_period(pod), |s| Duration::from_secs(s.max(0) as u64));
        let message = format!("Container {} failed {kind} probe, will be restarted", container.name);
        kill_container(ctx, pod, container, status, grace, message).await;
        killed = true;
    }
    killed
}

/// The init containers in order, then the app containers: start what should run.
async fn start_what_is_missing(
    ctx: &Context,
    state: &mut PodState,
    pod: &Pod,
    containers: &[ContainerStatus],
    wakeup: &mut Option<Duration>,
) {
    let Some(spec) = pod.spec.as_ref() else { return };
    let latest: HashMap<String, ContainerStatus> =
        instances(containers).into_iter().map(|(name, (latest, _))| (name.to_string(), latest.clone())).collect();
    let policy = restart_policy(pod).to_string();
    let initialized_before = spec.containers.iter().any(|c| latest.contains_key(&c.name));
    let probes = probe_results(ctx);

    for container in spec.init_containers.iter().flatten() {
        let instance = latest.get(&container.name);
        if is_sidecar(container) {
            let proceed = match instance {
                None => start_container(ctx, state, pod, container, 0).await && container.startup_probe.is_none(),
                Some(status) if status.state == ContainerState::Running => probes(status, container).started,
                Some(status) if status.state == ContainerState::Exited => {
                    // Sidecars restart whatever the pod's restart policy.
                    restart_after_backoff(ctx, state, pod, container, status, wakeup).await;
                    initialized_before
                }
                Some(_) => false,
            };
            if !proceed && !initialized_before {
                return;
            }
            continue;
        }
        if initialized_before {
            continue;
        }
        match instance {
            None => {
                start_container(ctx, state, pod, container, 0).await;
                return;
            }
            Some(status) if status.state == ContainerState::Exited && status.exit_code == Some(0) => {}
            Some(status) if status.state == ContainerState::Exited => {
                // With restartPolicy Never a failed init container fails the pod.
                if policy != "Never" {
                    restart_after_backoff(ctx, state, pod, container, status, wakeup).await;
                }
                return;
            }
            Some(_) => return,
        }
    }

    for container in &spec.containers {
        match latest.get(&container.name) {
            None => {
                start_container(ctx, state, pod, container, 0).await;
            }
            Some(status) if status.state == ContainerState::Exited => {
                let restart = match policy.as_str() {
                    "Never" => false,
                    "OnFailure" => status.exit_code != Some(0),
                    _ => true,
                };
                if restart {
                    restart_after_backoff(ctx, state, pod, container, status, wakeup).await;
                } else {
                    state.waiting.remove(&container.name);
                }
            }
            Some(_) => {}
        }
    }
}

/// Restarts an exited container unless it is in CrashLoopBackOff.
async fn restart_after_backoff(
    ctx: &Context,
    state: &mut PodState,
    pod: &Pod,
    container: &Container,
    exited: &ContainerStatus,
    wakeup: &mut Option<Duration>,
) {
    let key = Backoff::key(&state.uid, &container.name);
    let finished = exited.finished_at.unwrap_or_else(Timestamp::now);
    if let Some((delay, remaining)) = ctx.crash_backoff.in_backoff_since(&key, finished, Timestamp::now()) {
        let message = format!(
            "back-off {} restarting failed container={} pod={}",
            go_duration(delay),
            container.name,
            pod_label(pod)
        );
        let waiting = Waiting::new("CrashLoopBackOff", message);
        if state.waiting.get(&container.name) != Some(&waiting) {
            ctx.events.pod(
                pod,
                Some(&container.name),
                WARNING,
                "BackOff",
                format!("Back-off restarting failed container {} in pod {}", container.name, pod_label(pod)),
            );
            state.waiting.insert(container.name.clone(), waiting);
        }
        min_wakeup(wakeup, remaining);
        return;
    }
    ctx.crash_backoff.next(&key, finished);
    start_container(ctx, state, pod, container, exited.attempt + 1).await;
}

/// Records a waiting reason; true when it differs from the current one, so that events of a
/// condition retried on every pass are recorded once per change.
pub(crate) fn set_waiting(state: &mut PodState, name: &str, waiting: Waiting) -> bool {
    if state.waiting.get(name) == Some(&waiting) {
        return false;
    }
    state.waiting.insert(name.to_string(), waiting);
    true
}

/// Pulls, creates and starts one container instance, then runs its postStart hook.
/// Returns whether it runs.
async fn start_container(ctx: &Context, state: &mut PodState, pod: &Pod, container: &Container, attempt: u32) -> bool {
    state.start_attempts += 1;
    let Some(image) = crate::image_puller::ensure_image(ctx, state, pod, container).await else { return false };
    let name = container.name.as_str();
    let meta = &pod.metadata;
    let log_dir = ctx
        .config
        .logs_dir()
        .join(format!(
            "{}_{}_{}",
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
            state.uid
        ))
        .join(name);
    if let Err(error) = std::fs::create_dir_all(&log_dir) {
        tracing::warn!(dir = %log_dir.display(), %error, "could not create the container log directory");
    }
    let volumes = state.volumes.clone().unwrap_or_default();
    let context = ContainerContext {
        pod,
        container,
        image: &image,
        attempt,
        pod_ip: state.pod_ip,
        node_name: &ctx.config.node_name,
        host_ip: Some(ctx.config.node_ip),
        volumes: &volumes,
        log_path: log_dir.join(format!("{attempt}.log")),
        node_allocatable_cpu_millis: ctx.allocatable_cpu_millis,
        node_allocatable_memory_bytes: ctx.allocatable_memory_bytes,
    };
    let config = match container_config::generate(&ctx.client, context).await {
        Ok(config) => config,
        Err(error) => {
            // Retried on every pass: record the event once per distinct error.
            if set_waiting(state, name, Waiting::new("CreateContainerConfigError", error.to_string())) {
                ctx.events.pod(pod, Some(name), WARNING, "Failed", format!("Error: {error}"));
            }
            return false;
        }
    };
    let id = match ctx.runtime.create_container(&state.uid, &config).await {
        Ok(id) => id,
        Err(error) => {
            ctx.events.pod(pod, Some(name), WARNING, "Failed", format!("Error: {error}"));
            state.waiting.insert(name.to_string(), Waiting::new("CreateContainerError", error.to_string()));
            return false;
        }
    };
    ctx.events.pod(pod, Some(name), NORMAL, "Created", format!("Created container: {name}"));
    if let Err(error) = ctx.runtime.start_container(&id).await {
        ctx.events.pod(pod, Some(name), WARNING, "Failed", format!("Error: {error}"));
        state.waiting.insert(name.to_string(), Waiting::new("RunContainerError", error.to_string()));
        let _ = ctx.runtime.remove_container(&id).await;
        return false;
    }
    ctx.events.pod(pod, Some(name), NORMAL, "Started", format!("Started container {name}"));
    state.waiting.remove(name);
    if let Some(handler) = container.lifecycle.as_ref().and_then(|l| l.post_start.as_ref())
        && let Err(error) =
            crate::probes::run_container_handler(&*ctx.runtime, &id, state.pod_ip, container, handler).await
    {
        tracing::info!(pod = %pod_label(pod), container = name, %error, "postStart hook failed");
        // The message is left out of the event: it may hold secrets (as the kubelet does).
        ctx.events.pod(pod, Some(name), WARNING, "FailedPostStartHook", "PostStartHook failed".into());
        if let Err(error) = ctx.runtime.stop_container(&id, grace_period(pod).max(MINIMUM_GRACE_PERIOD)).await {
            tracing::warn!(%error, "could not stop a container whose postStart hook failed");
        }
        return false;
    }
    true
}

/// Runs preStop (within the grace period) and stops one container.
async fn kill_container(
    ctx: &Context,
    pod: &Pod,
    container: &Container,
    status: &ContainerStatus,
    grace: Duration,
    message: String,
) {
    ctx.events.pod(pod, Some(&container.name), NORMAL, "Killing", message);
    let started = Instant::now();
    if !grace.is_zero()
        && let Some(handler) = container.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref())
    {
        let pod_ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse().ok());
        let hook = crate::probes::run_container_handler(&*ctx.runtime, &status.id, pod_ip, container, handler);
        match tokio::time::timeout(grace, hook).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::info!(container = %container.name, %error, "preStop hook failed");
                ctx.events.pod(pod, Some(&container.name), WARNING, "FailedPreStopHook", "PreStopHook failed".into());
            }
            Err(_) => {
                tracing::info!(container = %container.name, "preStop hook did not finish within the grace period")
            }
        }
    }
    let remaining = grace.saturating_sub(started.elapsed()).max(MINIMUM_GRACE_PERIOD);
    if let Err(error) = ctx.runtime.stop_container(&status.id, remaining).await {
        tracing::warn!(container = %container.name, %error, "could not stop a container");
    }
}

/// Stops every running container: app and regular init containers together, then the
/// sidecars one by one in reverse order. `message` overrides "Stopping container <name>".
async fn kill_containers(
    ctx: &Context,
    pod: &Pod,
    containers: &[ContainerStatus],
    grace: Duration,
    message: Option<&str>,
) {
    let Some(spec) = pod.spec.as_ref() else { return };
    let text = |name: &str| message.map_or_else(|| format!("Stopping container {name}"), str::to_string);
    let regular = spec.init_containers.iter().flatten().filter(|c| !is_sidecar(c)).chain(spec.containers.iter());
    let mut stops = Vec::new();
    for container in regular {
        for status in running_instances(containers, &container.name) {
            stops.push(kill_container(ctx, pod, container, status, grace, text(&container.name)));
        }
    }
    futures::future::join_all(stops).await;
    for container in spec.init_containers.iter().flatten().filter(|c| is_sidecar(c)).rev() {
        for status in running_instances(containers, &container.name) {
            kill_container(ctx, pod, container, status, grace, text(&container.name)).await;
        }
    }
}

fn running_instances<'a>(
    containers: &'a [ContainerStatus],
    name: &'a str,
) -> impl Iterator<Item = &'a ContainerStatus> {
    containers
        .iter()
        .filter(move |c| c.name == name && matches!(c.state, ContainerState::Running | ContainerState::Created))
}

/// A pod that reached Succeeded or Failed: stop what still runs (sidecars), stop the sandbox
/// and release its network and volumes. The containers stay (for their statuses and logs)
/// until the pod object is deleted. `report`: write the final status.
async fn finish(ctx: &Context, state: &mut PodState, pod: &Pod, report: bool) {
    if let Ok(containers) = ctx.runtime.list_containers(&state.uid).await {
        kill_containers(ctx, pod, &containers, grace_period(pod), None).await;
    }
    ctx.probes.remove_pod(&state.uid);
    if let Err(error) = ctx.runtime.stop_pod_sandbox(&state.uid).await {
        tracing::warn!(pod = %pod_label(pod), %error, "could not stop the sandbox of a finished pod");
    }
    if let Err(error) = ctx.network.teardown(&state.uid).await {
        tracing::warn!(pod = %pod_label(pod), %error, "could not release the network of a finished pod");
    }
    if let Err(error) = ctx.volumes.teardown(&state.uid).await {
        tracing::warn!(pod = %pod_label(pod), %error, "could not tear down the volumes of a finished pod");
    }
    state.sandbox_ready = false;
    state.finished = true;
    state.waiting.clear();
    let containers = ctx.runtime.list_containers(&state.uid).await.unwrap_or_default();
    if report {
        write_status(ctx, state, pod, &containers).await;
    } else {
        ctx.index.set(pod, &containers, &state.waiting);
    }
}

/// Terminates a deleted pod: stops its containers within the grace period, reports the
/// terminal phase, removes everything from the node, then deletes the object (unless it is
/// already gone from the API). Returns false when something must be retried.
pub(crate) async fn terminate(ctx: &Context, state: &mut PodState, pod: &Pod, removed: bool) -> bool {
    let Ok(containers) = ctx.runtime.list_containers(&state.uid).await else { return false };
    kill_containers(ctx, pod, &containers, grace_period(pod), None).await;
    ctx.probes.remove_pod(&state.uid);
    let already_terminal = matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some(SUCCEEDED | FAILED));
    if !removed && !already_terminal {
        let Ok(containers) = ctx.runtime.list_containers(&state.uid).await else { return false };
        state.sandbox_ready = false;
        state.waiting.clear();
        read_termination_messages(state, pod, &containers);
        let status = compute_status(ctx, state, pod, &containers, true);
        if let Err(error) = state.status.write(&ctx.client, pod, status).await {
            tracing::warn!(%error, "could not report the terminal status of a deleted pod");
        }
    }
    teardown(ctx, &state.uid).await;
    ctx.index.remove(pod);
    if !removed && let Err(error) = status_manager::delete_pod(&ctx.client, pod).await {
        tracing::warn!(%error, "could not delete a terminated pod");
        return false;
    }
    ctx.crash_backoff.forget_pod(&state.uid);
    ctx.image_backoff.forget_pod(&state.uid);
    true
}

/// Removes everything a pod has on the node: containers, sandbox, logs, volumes, network.
/// Absent pieces are fine; failures are logged (the next start's orphan cleanup retries).
pub(crate) async fn teardown(ctx: &Context, pod_uid: &str) {
    ctx.probes.remove_pod(pod_uid);
    if let Ok(containers) = ctx.runtime.list_containers(pod_uid).await {
        for container in containers {
            if let Err(error) = ctx.runtime.remove_container(&container.id).await {
                tracing::warn!(%pod_uid, %error, "could not remove a container");
            }
        }
    }
    if let Err(error) = ctx.runtime.stop_pod_sandbox(pod_uid).await {
        tracing::debug!(%pod_uid, %error, "could not stop the pod sandbox");
    }
    if let Err(error) = ctx.runtime.remove_pod_sandbox(pod_uid).await {
        tracing::warn!(%pod_uid, %error, "could not remove the pod sandbox");
    }
    if let Err(error) = ctx.runtime.remove_pod_logs(pod_uid).await {
        tracing::warn!(%pod_uid, %error, "could not remove the pod's logs");
    }
    if let Err(error) = ctx.volumes.teardown(pod_uid).await {
        tracing::warn!(%pod_uid, %error, "could not tear down the pod's volumes");
    }
    if let Err(error) = ctx.network.teardown(pod_uid).await {
        tracing::warn!(%pod_uid, %error, "could not tear down the pod's network");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_messages_are_the_log_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("0.log");
        let mut log = String::new();
        for i in 0..100 {
            log.push_str(&format!("2024-01-01T00:00:00.000000000Z stdout F line {i}\n"));
        }
        log.push_str("2024-01-01T00:00:00.000000000Z stderr P par\n2024-01-01T00:00:00.000000000Z stderr F tial\n");
        std::fs::write(&path, log).expect("write log");
        let tail = log_tail(&path).expect("tail");
        assert!(tail.ends_with("line 99\npartial\n"), "{tail}");
        assert_eq!(tail.lines().count(), 80);
        assert!(tail.starts_with("line 21"), "{tail}");
        assert_eq!(log_tail(&dir.path().join("missing.log")), None);
    }

    #[test]
    fn pods_print_as_the_kubelet_prints_them() {
        let pod = Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("1234".into()),
                ..Default::default()
            },
            ..Pod::default()
        };
        assert_eq!(pod_label(&pod), "web_default(1234)");
    }
}
