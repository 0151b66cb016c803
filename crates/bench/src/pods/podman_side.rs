//! The podman column: the same pod as a Kubernetes YAML through `podman kube play` (podman
//! 4.3 from Debian). Podman has no API server, scheduler or watch: startup is the wall time
//! of `podman kube play`, which returns once the pod's containers are started (checked with
//! `podman ps` after, outside the timing); the 100 pods are played in sequence; memory is
//! what podman keeps per pod (a conmon per container, the infra container's catatonit);
//! delete is one `podman pod rm --force --time 0` of the 100 pods until their conmons are gone.
//!
//! It owns what it creates and removes it at the end, even on failure: its pods and their
//! containers, the images and networks that were not there before (the busybox image it
//! loads, podman's pause image, `podman-default-kube-network`), the bridges that network
//! brought up, and a private `containers.conf` (never the host's).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Burst, Figures, Outcome, Plan, command_output, processes, pss_sum, same_namespace_tree};
use crate::stats::Summary;

const IMAGE: &str = "docker.io/library/busybox:latest";

/// Root here has a hard `RLIMIT_NOFILE` of 20000 and no `CAP_SYS_RESOURCE`, while podman asks
/// crun for 1048576 open files and as many processes as root may have, which crun cannot set
/// ("setrlimit RLIMIT_NOFILE: Operation not permitted"). A private containers.conf lowers
/// both for this benchmark's containers only.
const CONTAINERS_CONF: &str = "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n";

pub async fn run(plan: &Plan) -> Outcome {
    if plan.args.skip_podman {
        return Outcome::Skipped("--skip-podman".into());
    }
    if find_podman().is_none() {
        if !plan.args.install_podman {
            return Outcome::Skipped("podman is not installed (pass --install-podman to apt-get install it)".into());
        }
        eprintln!("podman: apt-get install -y podman...");
        let installed = tokio::process::Command::new("apt-get")
            .args(["install", "-y", "-q", "podman"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .await;
        if !installed.is_ok_and(|status| status.success()) || find_podman().is_none() {
            return Outcome::Skipped("apt-get install podman failed".into());
        }
    }
    let dir = match tempfile::Builder::new().prefix("peapod-bench-podman-").tempdir() {
        Ok(dir) => dir,
        Err(error) => return Outcome::Failed(format!("create a temporary directory: {error}")),
    };
    let podman = Podman { conf: dir.path().join("containers.conf"), dir: dir.path().to_path_buf() };
    if let Err(error) = std::fs::write(&podman.conf, CONTAINERS_CONF) {
        return Outcome::Failed(format!("write the benchmark's containers.conf: {error}"));
    }
    let before = match Snapshot::take(&podman).await {
        Ok(snapshot) => snapshot,
        Err(error) => return Outcome::Failed(format!("{error:#}")),
    };
    let prefix = format!("pbench-{}", std::process::id());
    let outcome = match measure(plan, &podman, &prefix).await {
        Ok(figures) => Outcome::Measured(figures),
        Err(error) => Outcome::Failed(format!("{error:#}")),
    };
    let leftovers = cleanup(&podman, &prefix, &before).await;
    match outcome {
        Outcome::Measured(mut figures) => {
            figures.notes.extend(leftovers);
            Outcome::Measured(figures)
        }
        Outcome::Failed(error) if !leftovers.is_empty() => {
            Outcome::Failed(format!("{error}; cleanup: {}", leftovers.join("; ")))
        }
        other => other,
    }
}

/// Runs podman with the benchmark's containers.conf.
struct Podman {
    conf: PathBuf,
    dir: PathBuf,
}

impl Podman {
    async fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        command_output("podman", args, &[("CONTAINERS_CONF", &self.conf)]).await
    }

    /// `podman kube play` of one pod; returns its wall time.
    async fn play(&self, name: &str) -> anyhow::Result<Duration> {
        let path = self.dir.join(format!("{name}.yaml"));
        std::fs::write(&path, pod_yaml(name)).with_context(|| format!("write {}", path.display()))?;
        let path = path.to_string_lossy().into_owned();
        let started = Instant::now();
        self.run(&["kube", "play", "--quiet", &path]).await?;
        Ok(started.elapsed())
    }

    /// Fails unless every pod's `main` container is running.
    async fn check_running(&self, names: &[String]) -> anyhow::Result<()> {
        // `{{.State}}` prints "Up 2 seconds ago" in podman 4.3: filter on the state instead.
        let listing = self.run(&["ps", "--filter", "status=running", "--format", "{{.Names}}"]).await?;
        let running: HashSet<&str> = listing.lines().map(str::trim).collect();
        let missing: Vec<&String> =
            names.iter().filter(|name| !running.contains(format!("{name}-main").as_str())).collect();
        if !missing.is_empty() {
            bail!("podman kube play returned but these pods are not running: {missing:?}");
        }
        Ok(())
    }

    async fn remove_pods(&self, names: &[String]) -> anyhow::Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut args = vec!["pod", "rm", "--force", "--time", "0"];
        args.extend(names.iter().map(String::as_str));
        self.run(&args).await.map(|_| ())
    }

    /// `(container id, container name, pod name)` of every container of pods named `prefix*`.
    async fn containers(&self, prefix: &str) -> anyhow::Result<Vec<(String, String, String)>> {
        let listing =
            self.run(&["ps", "--all", "--pod", "--no-trunc", "--format", "{{.ID}}\t{{.Names}}\t{{.PodName}}"]).await?;
        Ok(listing
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                Some((fields.next()?.to_string(), fields.next()?.to_string(), fields.next()?.to_string()))
            })
            .filter(|(_, _, pod)| pod.starts_with(prefix))
            .collect())
    }
}

async fn measure(plan: &Plan, podman: &Podman, prefix: &str) -> anyhow::Result<Figures> {
    let mut notes = Vec::new();
    let version = podman.run(&["--version"]).await?;
    if podman.run(&["image", "exists", IMAGE]).await.is_err() {
        let tar = plan.busybox_tar();
        if !tar.is_file() {
            bail!("{} is missing: run scripts/build-images.sh", tar.display());
        }
        podman.run(&["load", "--quiet", "--input", &tar.to_string_lossy()]).await.context("load busybox")?;
    }

    let sequential: Vec<String> = (0..plan.args.sequential).map(|i| format!("{prefix}-s{i:03}")).collect();
    let mut samples = Vec::with_capacity(sequential.len());
    for name in &sequential {
        samples.push(podman.play(name).await?);
        podman.check_running(std::slice::from_ref(name)).await?;
    }
    podman.remove_pods(&sequential).await?;

    let burst: Vec<String> = (0..plan.args.burst).map(|i| format!("{prefix}-b{i:03}")).collect();
    let started = Instant::now();
    for name in &burst {
        podman.play(name).await?;
    }
    let elapsed = started.elapsed();
    podman.check_running(&burst).await?;

    let containers = podman.containers(&format!("{prefix}-b")).await?;
    let ids: HashSet<&str> = containers.iter().map(|(id, _, _)| id.as_str()).collect();
    let infra: HashSet<&str> =
        containers.iter().filter(|(_, name, _)| name.ends_with("-infra")).map(|(id, _, _)| id.as_str()).collect();
    let all = processes();
    let conmons: Vec<_> = all
        .iter()
        .filter(|p| p.comm == "conmon" && p.state != 'Z')
        .filter_map(|p| conmon_container(&p.cmdline).filter(|id| ids.contains(id)).map(|id| (p, infra.contains(id))))
        .collect();
    let helpers: Vec<_> = conmons.iter().flat_map(|(conmon, _)| same_namespace_tree(conmon, &all)).collect();
    // The infra container's own process (catatonit) is podman's, not the pod's: peapod has
    // no such process.
    let pauses: Vec<_> = conmons
        .iter()
        .filter(|(_, is_infra)| *is_infra)
        .flat_map(|(conmon, _)| {
            all.iter().filter(|p| p.ppid == conmon.pid && p.pid_namespace() != conmon.pid_namespace())
        })
        .cloned()
        .collect();
    let conmon_kib = pss_sum(&helpers);
    let pause_kib = pss_sum(&pauses);
    let pods = burst.len() as f64;
    notes.push(format!(
        "{}; startup is the wall time of `podman kube play` (returns with the containers started; checked \
         running after); the {} pods were played one after the other",
        version.trim(),
        burst.len()
    ));
    notes.push(format!(
        "memory: Pss of {} conmon processes ({} containers incl. infra; {:.2} MiB each) + {} infra processes \
         (catatonit, {:.2} MiB each), divided by {} pods",
        conmons.len(),
        containers.len(),
        conmon_kib as f64 / 1024.0 / conmons.len().max(1) as f64,
        pauses.len(),
        pause_kib as f64 / 1024.0 / pauses.len().max(1) as f64,
        burst.len()
    ));

    let started = Instant::now();
    podman.remove_pods(&burst).await?;
    let deadline = Instant::now() + plan.wait;
    loop {
        let alive = processes()
            .iter()
            .filter(|p| p.comm == "conmon" && p.state != 'Z')
            .filter(|p| conmon_container(&p.cmdline).is_some_and(|id| ids.contains(id)))
            .count();
        if alive == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{alive} conmon processes still run {:?} after `podman pod rm`", plan.wait);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delete = started.elapsed();
    notes.push(format!(
        "delete: one `podman pod rm --force --time 0` of the {} pods, until their conmons are gone",
        burst.len()
    ));

    Ok(Figures {
        startup: Summary::of(&mut samples),
        burst: Some(Burst { pods: burst.len(), elapsed }),
        overhead_kib_per_pod: Some((conmon_kib + pause_kib) as f64 / pods),
        delete: Some(delete),
        notes,
    })
}

/// What existed before the benchmark, so that only what it created is removed.
struct Snapshot {
    images: HashSet<String>,
    networks: HashSet<String>,
    links: HashSet<String>,
    cgroups: HashSet<PathBuf>,
}

impl Snapshot {
    async fn take(podman: &Podman) -> anyhow::Result<Snapshot> {
        let images = podman.run(&["images", "--quiet", "--no-trunc"]).await?;
        let networks = podman.run(&["network", "ls", "--format", "{{.Name}}"]).await?;
        Ok(Snapshot { images: lines(&images), networks: lines(&networks), links: links(), cgroups: libpod_cgroups() })
    }
}

fn lines(text: &str) -> HashSet<String> {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).map(String::from).collect()
}

/// Podman's cgroups (cgroupfs manager): `libpod_parent` and the per-pod directories under it
/// in every hierarchy. On this cgroup v1 host podman leaves the pods' directories in the
/// `name=systemd` and unified hierarchies behind after `podman pod rm`.
fn libpod_cgroups() -> HashSet<PathBuf> {
    let mut found = HashSet::new();
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else { return found };
    for hierarchy in hierarchies.flatten() {
        let parent = hierarchy.path().join("libpod_parent");
        if !parent.is_dir() {
            continue;
        }
        let mut stack = vec![parent];
        while let Some(dir) = stack.pop() {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                stack.extend(entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()));
            }
            found.insert(dir);
        }
    }
    found
}

fn links() -> HashSet<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default()
}

/// Removes what the benchmark created; returns what could not be removed.
async fn cleanup(podman: &Podman, prefix: &str, before: &Snapshot) -> Vec<String> {
    let mut problems = Vec::new();
    match podman.run(&["pod", "ps", "--format", "{{.Name}}"]).await {
        Ok(listing) => {
            let ours: Vec<String> = listing.lines().filter(|name| name.starts_with(prefix)).map(String::from).collect();
            if let Err(error) = podman.remove_pods(&ours).await {
                problems.push(format!("removing pods: {error:#}"));
            }
        }
        Err(error) => problems.push(format!("listing pods: {error:#}")),
    }
    if let Ok(listing) = podman.run(&["network", "ls", "--format", "{{.Name}}"]).await {
        for network in lines(&listing).difference(&before.networks) {
            if let Err(error) = podman.run(&["network", "rm", "--force", network]).await {
                problems.push(format!("removing network {network}: {error:#}"));
            }
        }
    }
    if let Ok(listing) = podman.run(&["images", "--quiet", "--no-trunc"]).await {
        for image in lines(&listing).difference(&before.images) {
            if let Err(error) = podman.run(&["rmi", "--force", image]).await {
                problems.push(format!("removing image {image}: {error:#}"));
            }
        }
    }
    // New cgroup directories, deepest first; `rmdir` refuses (harmlessly) any that still
    // holds a process.
    let mut cgroups: Vec<PathBuf> = libpod_cgroups().difference(&before.cgroups).cloned().collect();
    cgroups.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
    for dir in cgroups {
        if let Err(error) = std::fs::remove_dir(&dir) {
            problems.push(format!("removing cgroup {}: {error}", dir.display()));
        }
    }
    // Removing a CNI network leaves its bridge up when containers were attached.
    for link in links().difference(&before.links) {
        if (link.starts_with("cni-podman") || link.starts_with("podman"))
            && let Err(error) = command_output("ip", &["link", "delete", link], &[]).await
        {
            problems.push(format!("removing bridge {link}: {error:#}"));
        }
    }
    problems
}

/// The container id conmon holds (`-c ID` or `--cid ID`).
fn conmon_container(cmdline: &[String]) -> Option<&str> {
    let position = cmdline.iter().position(|arg| arg == "-c" || arg == "--cid")?;
    cmdline.get(position + 1).map(String::as_str)
}

/// The benchmark's pod as a Kubernetes manifest: the peapod side creates the same pod.
fn pod_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 0\n  \
         containers:\n  - name: main\n    image: {IMAGE}\n    imagePullPolicy: IfNotPresent\n    \
         command: [\"sleep\", \"3600\"]\n"
    )
}

fn find_podman() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("podman")).find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_the_one_container_busybox_pod() {
        let yaml = pod_yaml("pbench-1-s000");
        assert!(yaml.contains("  name: pbench-1-s000\n"), "{yaml}");
        assert!(yaml.contains("terminationGracePeriodSeconds: 0"));
        assert!(yaml.contains("image: docker.io/library/busybox:latest"));
        assert!(yaml.contains("imagePullPolicy: IfNotPresent"));
        assert!(yaml.contains("command: [\"sleep\", \"3600\"]"));
        // Block indentation: the container's fields sit under the `- name:` item.
        assert!(yaml.contains("  - name: main\n    image:"));
    }

    #[test]
    fn conmon_container_ids_are_read_from_either_flag() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            conmon_container(&args(&["/usr/bin/conmon", "--api-version", "1", "-c", "abc", "-u", "abc"])),
            Some("abc")
        );
        assert_eq!(conmon_container(&args(&["conmon", "--cid", "def"])), Some("def"));
        assert_eq!(conmon_container(&args(&["conmon", "-c"])), None);
        assert_eq!(conmon_container(&args(&["sleep", "3600"])), None);
    }

    #[test]
    fn line_sets_ignore_blank_lines() {
        assert_eq!(lines("a\n\n b \n"), HashSet::from(["a".to_string(), "b".to_string()]));
    }
}
