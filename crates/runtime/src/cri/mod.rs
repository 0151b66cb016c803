//! [`NodeRuntime`]: the agent's [`Runtime`] over this crate's parts, as containerd's CRI
//! plugin is the kubelet's: the image store and puller for images, one `peapod shim` per pod
//! for the sandbox (IPC/UTS namespaces, container stdio, logs and exit codes), bundles built
//! by [`crate::container::build_spec`] on overlay root filesystems, the OCI runtime binary
//! for exec, and the pod cgroup.
//!
//! On disk, per pod, `DATA_DIR/agent/sandboxes/<pod uid>/`: the shim's directory (its socket,
//! pid and container records), `sandbox.json` (what the sandbox was created with),
//! `bundles/<container id>/config.json`, `meta/<container id>.json` ([`ContainerMeta`]: the
//! Kubernetes identity of a container, and its exit once seen, so that statuses survive the
//! shim's shutdown) and `shm/` (the pod's `/dev/shm`, a tmpfs). Everything is found again
//! from these files after an agent restart; nothing is held only in memory.
//!
//! RuntimeClass handlers map to OCI runtimes ([`NodeRuntimeConfig::handlers`]), as containerd's
//! `runtimes` table does: the handler a sandbox was created with is kept in `sandbox.json`, its
//! shim runs that runtime's binary, and exec into the pod's containers uses the same binary.
//!
//! It must not interpret Kubernetes semantics (restart policy, probes): that is the agent's.

mod images;
mod meta;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::runtime::{
    ContainerConfig, ContainerEvent, ContainerState, ContainerStatus, ExecOutput, ExecStreams, ImageInfo, RegistryAuth,
    Result, Runtime, RuntimeError, SandboxConfig, TerminalSize,
};
use async_trait::async_trait;
use jiff::Timestamp;
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, broadcast};

use crate::container::cgroups::Cgroups;
use crate::container::runtime_spec::ConsoleSize;
use crate::container::{ExecStdio, OciRuntime, SandboxInfo, build_spec, resolve_user, write_bundle};
use crate::image::pull::Puller;
use crate::image::store::ImageStore;
use crate::shim::{AttachStream, ContainerInfo, CreateContainer, ShimClient, ShimError, Status};
use meta::{ContainerMeta, SandboxRecord};

/// How the node runtime is put together; the binary fills it from its flags.
pub struct NodeRuntimeConfig {
    /// `DATA_DIR/agent`.
    pub agent_dir: PathBuf,
    /// The executable that runs `<exe> <shim_args_prefix...> --pod-dir ...` (the peapod binary
    /// and `["shim"]`).
    pub shim_exe: PathBuf,
    pub shim_args_prefix: Vec<String>,
    pub oci_runtime: OciRuntime,
    /// The RuntimeClass handlers (CRI `runtime_handler`) this node serves, by name; pods
    /// without one run on `oci_runtime`.
    pub handlers: BTreeMap<String, OciRuntime>,
    /// `/sys/fs/cgroup` (a fake root in tests).
    pub cgroup_root: PathBuf,
}

pub struct NodeRuntime {
    store: ImageStore,
    puller: Puller,
    oci: OciRuntime,
    handlers: BTreeMap<String, OciRuntime>,
    cgroups: Cgroups,
    sandboxes_dir: PathBuf,
    logs_dir: PathBuf,
    shim_exe: PathBuf,
    shim_args_prefix: Vec<String>,
    /// Connected shims by pod uid; a pod absent here is connected to on first use.
    shims: Mutex<HashMap<String, Arc<ShimClient>>>,
    events: broadcast::Sender<ContainerEvent>,
    rlimit_nofile_max: u64,
}

/// How long a container may take to die after SIGKILL before `stop_container` gives up.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// The pod's `/dev/shm`, as containerd sizes the sandbox's.
const SHM_SIZE: &str = "size=65536k";
/// How long an exec with a TTY waits for the client's first terminal size before starting
/// its command. kubectl sends it as soon as the stream is up; a client that never sends one
/// gets its command this much later, on the runtime's default size.
const FIRST_RESIZE_WAIT: Duration = Duration::from_millis(500);

impl NodeRuntime {
    pub fn new(config: NodeRuntimeConfig) -> Result<Arc<NodeRuntime>> {
        let data_dir = config.agent_dir.parent().map(Path::to_path_buf).unwrap_or_else(|| config.agent_dir.clone());
        let store = ImageStore::open(&data_dir).map_err(other)?;
        let registries_path = crate::image::pull::registries_path(&data_dir);
        let registries = if registries_path.exists() {
            crate::image::registries::Registries::load(&registries_path).map_err(other)?
        } else {
            crate::image::registries::Registries::default()
        };
        let cgroups = Cgroups::detect(&config.cgroup_root).map_err(other)?;
        let sandboxes_dir = config.agent_dir.join("sandboxes");
        let logs_dir = config.agent_dir.join("logs");
        for dir in [&sandboxes_dir, &logs_dir] {
            std::fs::create_dir_all(dir).map_err(|e| RuntimeError::Other(format!("create {}: {e}", dir.display())))?;
        }
        let rlimit_nofile_max = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(_, hard)| hard)
            .unwrap_or(1024);
        let (events, _) = broadcast::channel(1024);
        Ok(Arc::new(NodeRuntime {
            puller: Puller::new(store.clone(), registries),
            store,
            oci: config.oci_runtime,
            handlers: config.handlers,
            cgroups,
            sandboxes_dir,
            logs_dir,
            shim_exe: config.shim_exe,
            shim_args_prefix: config.shim_args_prefix,
            shims: Mutex::new(HashMap::new()),
            events,
            rlimit_nofile_max,
        }))
    }

    /// The image store, for the agent's start-up import and image garbage collection.
    pub fn image_store(&self) -> &ImageStore {
        &self.store
    }

    /// `DATA_DIR/agent/logs`: where pods' log directories go.
    pub fn logs_dir(&self) -> &Path {
        &self.logs_dir
    }

    /// The OCI runtime of a RuntimeClass handler (`None`: the default). An unknown handler is
    /// refused with containerd's wording, which the kubelet shows in its event.
    fn oci_for(&self, handler: Option<&str>) -> Result<&OciRuntime> {
        match handler {
            None => Ok(&self.oci),
            Some(handler) => self
                .handlers
                .get(handler)
                .ok_or_else(|| RuntimeError::Other(format!("no runtime for {handler:?} is configured"))),
        }
    }

    /// The OCI runtime the pod's sandbox was created with.
    fn pod_oci(&self, pod_uid: &str) -> Result<&OciRuntime> {
        let record = SandboxRecord::read(&self.pod_dir(pod_uid)?)?;
        self.oci_for(record.runtime_handler.as_deref())
    }

    fn pod_dir(&self, pod_uid: &str) -> Result<PathBuf> {
        check_name(pod_uid)?;
        Ok(self.sandboxes_dir.join(pod_uid))
    }

    /// The pod's shim, connecting (re-adopting) when this process has not talked to it yet.
    async fn shim(&self, pod_uid: &str) -> Result<Arc<ShimClient>> {
        if let Some(shim) = self.shims.lock().await.get(pod_uid) {
            return Ok(shim.clone());
        }
        let pod_dir = self.pod_dir(pod_uid)?;
        let shim = Arc::new(
            ShimClient::connect(&pod_dir).await.map_err(|_| RuntimeError::NotFound(format!("sandbox {pod_uid}")))?,
        );
        self.adopt(pod_uid, shim.clone()).await;
        Ok(shim)
    }

    /// Remembers a shim and forwards its exits as [`ContainerEvent`]s, recording each exit
    /// (and whether the kernel OOM-killed the container) in the container's meta first.
    async fn adopt(&self, pod_uid: &str, shim: Arc<ShimClient>) {
        self.shims.lock().await.insert(pod_uid.to_string(), shim.clone());
        let Ok(mut exits) = shim.subscribe().await else { return };
        let events = self.events.clone();
        let cgroups = self.cgroups.clone();
        let pod_uid = pod_uid.to_string();
        let meta_dir = shim.pod_dir().join("meta");
        // Exits that happened before the subscription are in `state`; record them too.
        if let Ok(containers) = shim.state().await {
            for info in containers.iter().filter(|info| info.status == Status::Exited) {
                record_exit(
                    &cgroups,
                    &meta_dir,
                    &pod_uid,
                    &info.id,
                    info.exit_code.unwrap_or(255),
                    info.finished_at.as_deref(),
                );
            }
        }
        tokio::spawn(async move {
            while let Some(exit) = exits.recv().await {
                record_exit(&cgroups, &meta_dir, &pod_uid, &exit.id, exit.exit_code, Some(&exit.finished_at));
                let _ = events.send(ContainerEvent { pod_uid: pod_uid.clone(), container_id: exit.id });
            }
        });
    }

    /// The pod a container belongs to, from the meta files.
    fn pod_of(&self, container_id: &str) -> Result<String> {
        check_name(container_id)?;
        let entries = std::fs::read_dir(&self.sandboxes_dir).map_err(other)?;
        for entry in entries.flatten() {
            if entry.path().join("meta").join(format!("{container_id}.json")).is_file() {
                return Ok(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Err(RuntimeError::NotFound(format!("container {container_id}")))
    }

    async fn container_info(&self, pod_uid: &str, container_id: &str) -> Result<Option<ContainerInfo>> {
        let shim = self.shim(pod_uid).await?;
        let state = shim.state().await.map_err(shim_error)?;
        Ok(state.into_iter().find(|info| info.id == container_id))
    }

    async fn wait_exited(&self, pod_uid: &str, container_id: &str, deadline: Instant) -> Result<bool> {
        loop {
            match self.container_info(pod_uid, container_id).await? {
                None => return Ok(true),
                Some(info) if info.status != Status::Running => return Ok(true),
                Some(_) if Instant::now() >= deadline => return Ok(false),
                Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

#[async_trait]
impl Runtime for NodeRuntime {
    fn runtime_version(&self) -> String {
        self.oci.runtime_version()
    }

    async fn image_status(&self, image: &str) -> Result<Option<ImageInfo>> {
        images::image_status(&self.store, image).await
    }

    async fn pull_image(&self, image: &str, auth: &[RegistryAuth]) -> Result<ImageInfo> {
        images::pull_image(&self.puller, &self.store, image, auth).await
    }

    async fn list_images(&self) -> Result<Vec<ImageInfo>> {
        images::list_images(&self.store).await
    }

    async fn run_pod_sandbox(&self, config: &SandboxConfig) -> Result<()> {
        let pod_dir = self.pod_dir(&config.pod_uid)?;
        if self.shim(&config.pod_uid).await.is_ok() {
            return Ok(());
        }
        // Refused before anything of the sandbox exists.
        let oci = self.oci_for(config.runtime_handler.as_deref())?;
        for sub in ["meta", "bundles", "shm"] {
            std::fs::create_dir_all(pod_dir.join(sub)).map_err(other)?;
        }
        std::fs::create_dir_all(&config.log_directory).map_err(other)?;
        let shm = pod_dir.join("shm");
        if !crate::image::snapshot::is_mountpoint(&shm) {
            nix::mount::mount(
                Some("shm"),
                &shm,
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV | nix::mount::MsFlags::MS_NOEXEC,
                Some(SHM_SIZE),
            )
            .map_err(|e| RuntimeError::Other(format!("mount the pod's /dev/shm: {e}")))?;
        }
        let cgroups = self.cgroups.clone();
        let (uid, resources) = (config.pod_uid.clone(), config.resources.clone());
        setup_work(move || cgroups.create_pod_cgroup(&uid, &resources)).await?.map_err(other)?;
        SandboxRecord::from_config(config).write(&pod_dir)?;
        let args: Vec<&str> = self.shim_args_prefix.iter().map(String::as_str).collect();
        // hostNetwork: the containers see the node's name, as with the kubelet, which gives a
        // host-network sandbox no hostname (the shim's new UTS namespace starts as the host's).
        let hostname = config.netns_path.is_some().then_some(config.hostname.as_str());
        let shim = ShimClient::spawn(&self.shim_exe, &args, &pod_dir, &oci.binary, &oci.root, hostname)
            .await
            .map_err(shim_error)?;
        self.adopt(&config.pod_uid, Arc::new(shim)).await;
        Ok(())
    }

    async fn stop_pod_sandbox(&self, pod_uid: &str) -> Result<()> {
        let shim = self.shims.lock().await.remove(pod_uid);
        let shim = match shim {
            Some(shim) => Some(shim),
            None => ShimClient::connect(&self.pod_dir(pod_uid)?).await.ok().map(Arc::new),
        };
        let Some(shim) = shim else { return Ok(()) };
        // Record every exit before the shim forgets its containers.
        let meta_dir = shim.pod_dir().join("meta");
        for info in shim.state().await.map_err(shim_error)? {
            if info.status == Status::Running {
                let _ = shim.kill(&info.id, Signal::SIGKILL).await;
            }
        }
        let deadline = Instant::now() + KILL_WAIT;
        loop {
            let state = shim.state().await.map_err(shim_error)?;
            if state.iter().all(|info| info.status != Status::Running) || Instant::now() >= deadline {
                for info in state.iter().filter(|info| info.status == Status::Exited) {
                    record_exit(
                        &self.cgroups,
                        &meta_dir,
                        pod_uid,
                        &info.id,
                        info.exit_code.unwrap_or(255),
                        info.finished_at.as_deref(),
                    );
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // `shutdown` consumes its client, and other tasks may still hold this one: use a
        // connection of its own.
        let pod_dir = shim.pod_dir().to_path_buf();
        drop(shim);
        match ShimClient::connect(&pod_dir).await {
            Ok(own) => own.shutdown().await.map_err(shim_error),
            Err(_) => Ok(()),
        }
    }

    async fn remove_pod_sandbox(&self, pod_uid: &str) -> Result<()> {
        self.stop_pod_sandbox(pod_uid).await?;
        let pod_dir = self.pod_dir(pod_uid)?;
        let store = self.store.clone();
        let cgroups = self.cgroups.clone();
        let uid = pod_uid.to_string();
        teardown_work(move || -> Result<()> {
            for meta in ContainerMeta::list(&pod_dir.join("meta")) {
                store.remove_rootfs(&meta.id).map_err(other)?;
            }
            let shm = pod_dir.join("shm");
            if crate::image::snapshot::is_mountpoint(&shm) {
                nix::mount::umount2(&shm, nix::mount::MntFlags::MNT_DETACH).map_err(other)?;
            }
            cgroups.remove_pod_cgroup(&uid).map_err(other)?;
            match std::fs::remove_dir_all(&pod_dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(other(e)),
                _ => Ok(()),
            }
        })
        .await?
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.sandboxes_dir).map_err(other)?;
        Ok(entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    }

    async fn remove_pod_logs(&self, pod_uid: &str) -> Result<()> {
        check_name(pod_uid)?;
        let suffix = format!("_{pod_uid}");
        for entry in std::fs::read_dir(&self.logs_dir).map_err(other)?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(&suffix) {
                std::fs::remove_dir_all(entry.path()).map_err(other)?;
            }
        }
        Ok(())
    }

    async fn create_container(&self, pod_uid: &str, config: &ContainerConfig) -> Result<String> {
        let shim = self.shim(pod_uid).await?;
        let pod_dir = self.pod_dir(pod_uid)?;
        let sandbox = SandboxRecord::read(&pod_dir)?;
        let oci = self.oci_for(sandbox.runtime_handler.as_deref())?;
        let id = new_container_id();
        let record = self.store.get(&config.image.id).or_else(|_| self.store.get(&config.image_ref)).map_err(|e| {
            RuntimeError::CreateContainer(format!("image {:?} is not in the store: {e}", config.image_ref))
        })?;
        let meta = ContainerMeta::new(&id, config);
        meta.write(&pod_dir.join("meta"))?;
        let store = self.store.clone();
        let cid = id.clone();
        let rootfs = setup_work(move || store.prepare_rootfs(&cid, &record))
            .await?
            .map_err(|e| RuntimeError::CreateContainer(format!("prepare the root filesystem: {e}")))?;
        let user = resolve_user(
            &rootfs,
            config.image.config.user.as_deref(),
            config.security.run_as_user,
            config.security.run_as_group,
            &config.security.supplemental_groups,
        )
        .map_err(|e| RuntimeError::CreateContainer(e.to_string()))?;
        let shim_ns = PathBuf::from(format!("/proc/{}/ns", shim.pid()));
        let info = SandboxInfo {
            hostname: sandbox.hostname.clone(),
            netns_path: sandbox.netns_path.clone(),
            ipc_ns_path: Some(shim_ns.join("ipc")),
            uts_ns_path: Some(shim_ns.join("uts")),
            shm_path: Some(pod_dir.join("shm")),
        };
        let cgroups_path = Cgroups::container_cgroups_path(pod_uid, &id).map_err(other)?;
        let mut spec = build_spec(&info, config, &rootfs, user, &cgroups_path, self.rlimit_nofile_max)
            .map_err(|e| RuntimeError::CreateContainer(e.to_string()))?;
        // crun compiles a seccomp profile in ~40 ms per container; reuse the first compile.
        oci.use_cached_seccomp(&mut spec);
        let bundle = pod_dir.join("bundles").join(&id);
        write_bundle(&bundle, &spec).map_err(|e| RuntimeError::CreateContainer(e.to_string()))?;
        if let Some(dir) = config.log_path.parent() {
            std::fs::create_dir_all(dir).map_err(other)?;
        }
        let request = CreateContainer {
            id: id.clone(),
            bundle,
            log_path: config.log_path.clone(),
            stdin: config.stdin,
            tty: config.tty,
            log_max_size: None,
            log_max_files: None,
        };
        if let Err(error) = shim.create(&request).await {
            let _ = self.store.remove_rootfs(&id);
            let _ = std::fs::remove_file(pod_dir.join("meta").join(format!("{id}.json")));
            return Err(RuntimeError::CreateContainer(error.to_string()));
        }
        oci.remember_seccomp(&id, &spec);
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<()> {
        let pod_uid = self.pod_of(container_id)?;
        let shim = self.shim(&pod_uid).await?;
        let info = shim.start(container_id).await.map_err(|e| RuntimeError::StartContainer(e.to_string()))?;
        let meta_dir = self.pod_dir(&pod_uid)?.join("meta");
        ContainerMeta::update(&meta_dir, container_id, |meta| meta.started_at = info.started_at)
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> Result<()> {
        let pod_uid = self.pod_of(container_id)?;
        let shim = self.shim(&pod_uid).await?;
        let meta = ContainerMeta::read(&self.pod_dir(&pod_uid)?.join("meta"), container_id)?;
        let signal = meta.stop_signal.as_deref().and_then(parse_signal).unwrap_or(Signal::SIGTERM);
        if !grace.is_zero() {
            shim.kill(container_id, signal).await.map_err(shim_error)?;
            if self.wait_exited(&pod_uid, container_id, Instant::now() + grace).await? {
                return Ok(());
            }
        }
        shim.kill(container_id, Signal::SIGKILL).await.map_err(shim_error)?;
        if self.wait_exited(&pod_uid, container_id, Instant::now() + KILL_WAIT).await? {
            Ok(())
        } else {
            Err(RuntimeError::Other(format!("container {container_id} did not die after SIGKILL")))
        }
    }

    async fn remove_container(&self, container_id: &str) -> Result<()> {
        let pod_uid = self.pod_of(container_id)?;
        let pod_dir = self.pod_dir(&pod_uid)?;
        let meta_dir = pod_dir.join("meta");
        if let Ok(shim) = self.shim(&pod_uid).await {
            if let Some(info) = shim.state().await.map_err(shim_error)?.into_iter().find(|i| i.id == container_id)
                && info.status == Status::Exited
            {
                record_exit(
                    &self.cgroups,
                    &meta_dir,
                    &pod_uid,
                    container_id,
                    info.exit_code.unwrap_or(255),
                    info.finished_at.as_deref(),
                );
            }
            match shim.delete(container_id).await {
                Ok(()) | Err(ShimError::NotFound(_)) => {}
                Err(error) => return Err(shim_error(error)),
            }
        }
        let store = self.store.clone();
        let id = container_id.to_string();
        teardown_work(move || store.remove_rootfs(&id)).await?.map_err(other)?;
        let _ = std::fs::remove_dir_all(pod_dir.join("bundles").join(container_id));
        let _ = std::fs::remove_file(meta_dir.join(format!("{container_id}.json")));
        Ok(())
    }

    async fn list_containers(&self, pod_uid: &str) -> Result<Vec<ContainerStatus>> {
        let pod_dir = self.pod_dir(pod_uid)?;
        let metas = ContainerMeta::list(&pod_dir.join("meta"));
        let live: HashMap<String, ContainerInfo> = match self.shim(pod_uid).await {
            Ok(shim) => shim.state().await.map_err(shim_error)?.into_iter().map(|i| (i.id.clone(), i)).collect(),
            Err(_) => HashMap::new(),
        };
        Ok(metas.into_iter().map(|meta| meta.status(live.get(&meta.id))).collect())
    }

    fn subscribe_events(&self) -> broadcast::Receiver<ContainerEvent> {
        self.events.subscribe()
    }

    async fn exec_sync(&self, container_id: &str, command: &[String], timeout: Duration) -> Result<ExecOutput> {
        let oci = self.pod_oci(&self.pod_of(container_id)?)?;
        let (exit_code, stdout, stderr) =
            oci.exec_sync(container_id, command, &[], timeout).await.map_err(|e| RuntimeError::Other(e.to_string()))?;
        Ok(ExecOutput { exit_code, stdout, stderr })
    }

    async fn exec(&self, container_id: &str, command: &[String], mut streams: ExecStreams) -> Result<i32> {
        let oci = self.pod_oci(&self.pod_of(container_id)?)?;
        let first_size = match (streams.tty, streams.resize.as_mut()) {
            (true, Some(resize)) => first_terminal_size(resize).await,
            _ => None,
        };
        let console_size = first_size.map(|size| ConsoleSize { height: size.height.into(), width: size.width.into() });
        let mut process = oci
            .exec_streaming_sized(container_id, command, &[], streams.tty, streams.stdin.is_some(), console_size)
            .await
            .map_err(|e| RuntimeError::Other(e.to_string()))?;
        let ExecStreams { stdin, stdout, stderr, resize, .. } = streams;
        if let (Some(mut resize), Some(handle)) = (resize, process.resize_handle().map_err(other)?) {
            // Also through the pty, for a runtime that ignores `consoleSize`.
            if let Some(size) = first_size {
                let _ = handle.resize(size.width, size.height);
            }
            tokio::spawn(async move {
                while let Some(size) = resize.recv().await {
                    let _ = handle.resize(size.width, size.height);
                }
            });
        }
        let pumps = match process.stdio.take() {
            Some(ExecStdio::Pipes { stdin: child_stdin, stdout: child_stdout, stderr: child_stderr }) => {
                let input = async move {
                    if let (Some(mut from), Some(mut to)) = (stdin, child_stdin) {
                        let _ = tokio::io::copy(&mut from, &mut to).await;
                        let _ = to.shutdown().await;
                    }
                };
                tokio::spawn(input);
                let out = copy_out(child_stdout, stdout);
                let err = copy_out(child_stderr, stderr);
                tokio::join!(out, err);
                Ok(())
            }
            Some(ExecStdio::Tty { master }) => {
                let master = tokio::fs::File::from_std(std::fs::File::from(master));
                let reader = master.try_clone().await.map_err(other)?;
                if let Some(mut from) = stdin {
                    let mut writer = master;
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut from, &mut writer).await;
                    });
                }
                // The pty answers EIO once the last process holding the terminal exits.
                copy_out(reader, stdout).await;
                Ok(())
            }
            None => Ok(()),
        };
        pumps?;
        process.wait().await.map_err(other)
    }

    async fn attach(&self, container_id: &str, streams: ExecStreams) -> Result<()> {
        let pod_uid = self.pod_of(container_id)?;
        let shim = self.shim(&pod_uid).await?;
        let ExecStreams { stdin, stdout, stderr, resize, tty } = streams;
        if let (true, Some(mut resize)) = (tty, resize) {
            // The container's own terminal follows the attached client's.
            let (shim, id) = (shim.clone(), container_id.to_string());
            tokio::spawn(async move {
                while let Some(size) = resize.recv().await {
                    if size.width > 0
                        && size.height > 0
                        && let Err(error) = shim.resize(&id, size.width, size.height).await
                    {
                        tracing::debug!(container = %id, %error, "could not resize an attached terminal");
                    }
                }
            });
        }
        if let Some(mut from) = stdin {
            // `stdinOnce` semantics: the container's stdin closes when this client's does.
            let mut to = shim.attach(container_id, AttachStream::Stdin, true).await.map_err(shim_error)?;
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from, &mut to).await;
                let _ = to.shutdown().await;
            });
        }
        let out = match stdout {
            Some(to) => Some((shim.attach(container_id, AttachStream::Stdout, false).await.map_err(shim_error)?, to)),
            None => None,
        };
        let err = match stderr {
            Some(to) => Some((shim.attach(container_id, AttachStream::Stderr, false).await.map_err(shim_error)?, to)),
            None => None,
        };
        let copy = |pair: Option<(tokio::net::UnixStream, Box<dyn tokio::io::AsyncWrite + Send + Unpin>)>| async move {
            if let Some((from, to)) = pair {
                copy_out(from, Some(to)).await;
            }
        };
        tokio::join!(copy(out), copy(err));
        Ok(())
    }
}

/// The client's first terminal size, if it comes within [`FIRST_RESIZE_WAIT`]; later sizes
/// stay in the channel. A 0x0 size (a client without a terminal) counts as none.
async fn first_terminal_size(resize: &mut tokio::sync::mpsc::Receiver<TerminalSize>) -> Option<TerminalSize> {
    let size = tokio::time::timeout(FIRST_RESIZE_WAIT, resize.recv()).await.ok().flatten()?;
    (size.width > 0 && size.height > 0).then_some(size)
}

/// Copies a child's output to a client stream (or drains it when the client did not ask).
async fn copy_out(
    mut from: impl tokio::io::AsyncRead + Unpin,
    to: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
) {
    match to {
        Some(mut to) => {
            let _ = tokio::io::copy(&mut from, &mut to).await;
            let _ = to.flush().await;
        }
        None => {
            let mut sink = [0u8; 8192];
            while matches!(from.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    }
}

/// Writes an exit into the container's meta once (the first observation wins), with the
/// OOM verdict read from its cgroup while the cgroup still exists. A quick container exits
/// while `start_container` records its start: both go through [`ContainerMeta::update`].
fn record_exit(
    cgroups: &Cgroups,
    meta_dir: &Path,
    pod_uid: &str,
    container_id: &str,
    exit_code: i32,
    finished_at: Option<&str>,
) {
    let oom = Cgroups::container_cgroups_path(pod_uid, container_id)
        .ok()
        .and_then(|path| cgroups.oom_killed(&path).ok())
        .unwrap_or(false);
    let recorded = ContainerMeta::update(meta_dir, container_id, |meta| {
        if meta.exit_code.is_none() {
            meta.exit_code = Some(exit_code);
            meta.finished_at = finished_at.map(str::to_string);
            meta.oom_killed = oom;
        }
    });
    match recorded {
        Ok(()) | Err(RuntimeError::NotFound(_)) => {}
        Err(error) => tracing::warn!("recording the exit of container {container_id}: {error}"),
    }
}

fn parse_signal(name: &str) -> Option<Signal> {
    let name = name.trim();
    if let Ok(number) = name.parse::<i32>() {
        return Signal::try_from(number).ok();
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    full.parse().ok()
}

/// 32 random hex characters, like (half) a containerd container id.
fn new_container_id() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = file.read_exact(&mut bytes);
    }
    if bytes == [0u8; 16] {
        let nanos = Timestamp::now().as_nanosecond();
        bytes = (nanos as u128 ^ ((std::process::id() as u128) << 64)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Pod uids and container ids become path components: refuse anything else.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok { Ok(()) } else { Err(RuntimeError::Other(format!("invalid identifier {name:?}"))) }
}

/// Blocking file work of the node runtime (mounts, cgroup files, image records; removing
/// trees) runs in at most this many threads at once for set-up, and as many for tear-down, so
/// that removing big writable layers never holds up pods starting. Each step is usually a few
/// milliseconds of syscalls. Unbounded, a burst of pods started a blocking thread per step, and
/// each of those threads kept its own allocator heap: in `peapod-bench pods` memory per pod was
/// 1.40 MiB, 0.83-0.89 MiB with this bound.
const FILESYSTEM_WORKERS: usize = 4;
static SETUP_PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(FILESYSTEM_WORKERS);
static TEARDOWN_PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(FILESYSTEM_WORKERS);

/// Set-up work (and image records) on the bounded blocking threads.
pub(crate) async fn setup_work<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    bounded_blocking(&SETUP_PERMITS, work).await
}

/// Tear-down work on threads of its own bound.
async fn teardown_work<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    bounded_blocking(&TEARDOWN_PERMITS, work).await
}

async fn bounded_blocking<T: Send + 'static>(
    permits: &'static tokio::sync::Semaphore,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    // The semaphores are never closed. The permit moves into the thread, so a caller that gives
    // up waiting does not free it while the work still runs.
    let permit = permits.acquire().await.map_err(other)?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(other)
}

fn other(error: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(error.to_string())
}

fn shim_error(error: ShimError) -> RuntimeError {
    match error {
        ShimError::NotFound(message) => RuntimeError::NotFound(message),
        other => RuntimeError::Other(other.to_string()),
    }
}

/// The agent's [`ContainerState`] of a shim record.
fn container_state(status: Status) -> ContainerState {
    match status {
        Status::Created => ContainerState::Created,
        Status::Running => ContainerState::Running,
        Status::Exited => ContainerState::Exited,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_exec_terminal_starts_at_the_first_size_the_client_sent() {
        let (sender, mut receiver) = tokio::sync::mpsc::channel(8);
        sender.try_send(TerminalSize { width: 100, height: 30 }).expect("send");
        sender.try_send(TerminalSize { width: 120, height: 40 }).expect("send");
        assert_eq!(first_terminal_size(&mut receiver).await, Some(TerminalSize { width: 100, height: 30 }));
        // Later sizes stay for the resize task.
        assert_eq!(receiver.try_recv().ok(), Some(TerminalSize { width: 120, height: 40 }));
        // A client without a terminal size: the command starts after the wait, unsized.
        let started = Instant::now();
        assert_eq!(first_terminal_size(&mut receiver).await, None);
        assert!(started.elapsed() >= FIRST_RESIZE_WAIT);
        sender.try_send(TerminalSize { width: 0, height: 0 }).expect("send");
        assert_eq!(first_terminal_size(&mut receiver).await, None);
        drop(sender);
        assert_eq!(first_terminal_size(&mut receiver).await, None);
    }

    #[test]
    fn stop_signals_parse_as_images_write_them() {
        assert_eq!(parse_signal("SIGQUIT"), Some(Signal::SIGQUIT));
        assert_eq!(parse_signal("quit"), Some(Signal::SIGQUIT));
        assert_eq!(parse_signal("9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("SIGNOPE"), None);
    }

    #[test]
    fn identifiers_that_could_escape_a_directory_are_refused() {
        assert!(check_name("0123abcd-ef").is_ok());
        for bad in ["", "..", ".hidden", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(new_container_id().len(), 32);
    }
}
