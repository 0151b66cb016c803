//! The floor: `crun run` of `true` from a busybox bundle, timed from exec to exit, `runs`
//! times. crun 1.8 refuses hybrid cgroup hosts whose cgroup2 still has controllers ("cgroups
//! in hybrid mode not supported"); then, or when crun is missing, runc is the floor and the
//! notes say so.
//!
//! It owns one temporary bundle and a private runtime state dir (`--root`), both removed at
//! the end; it touches nothing of the host's runtimes' state.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, bail};

use super::{Figures, Outcome, Plan};
use crate::stats::Summary;

/// The busybox used for the rootfs: Debian's `busybox-static`, the one `images/out/busybox.tar`
/// is built from.
const BUSYBOX: &str = "/bin/busybox";

pub async fn run(plan: &Plan) -> Outcome {
    match measure(plan).await {
        Ok(figures) => Outcome::Measured(figures),
        Err(error) => Outcome::Failed(format!("{error:#}")),
    }
}

async fn measure(plan: &Plan) -> anyhow::Result<Figures> {
    let dir = tempfile::Builder::new().prefix("peapod-bench-floor-").tempdir().context("create the bundle dir")?;
    let mut notes = Vec::new();
    let mut chosen = None;
    for runtime in ["crun", "runc"] {
        let Some(binary) = find_in_path(runtime) else {
            notes.push(format!("{runtime} is not installed"));
            continue;
        };
        let bundle = dir.path().join(format!("bundle-{runtime}"));
        let state = dir.path().join(format!("state-{runtime}"));
        prepare_bundle(&binary, &bundle).await?;
        // One unmeasured try decides whether this runtime works on this host.
        match run_once(&binary, &state, &bundle, &format!("peapod-bench-floor-{}-probe", std::process::id())).await {
            Ok(_) => {
                chosen = Some((runtime, binary, bundle, state));
                break;
            }
            Err(error) if error.to_string().contains("hybrid") => {
                notes.push(format!("{runtime} refuses this hybrid cgroup host ({error}); falling back"));
            }
            Err(error) => notes.push(format!("{runtime} failed ({error:#}); falling back")),
        }
    }
    let Some((name, binary, bundle, state)) = chosen else {
        bail!("no usable OCI runtime: {}", notes.join("; "));
    };
    let mut samples = Vec::with_capacity(plan.args.floor_runs);
    for run in 0..plan.args.floor_runs {
        let id = format!("peapod-bench-floor-{}-{run}", std::process::id());
        samples.push(run_once(&binary, &state, &bundle, &id).await?);
    }
    notes.push(format!(
        "floor is `{name} run` of `/bin/busybox true` (bundle rootfs: {BUSYBOX}, the spec of `{name} spec`: own \
         PID, mount, network, IPC and UTS namespaces), {} runs, exec to exit",
        samples.len()
    ));
    Ok(Figures { startup: Summary::of(&mut samples), notes, ..Figures::default() })
}

/// A bundle whose rootfs holds only the static busybox, with the runtime's default spec
/// changed to run `busybox true` without a terminal.
async fn prepare_bundle(runtime: &Path, bundle: &Path) -> anyhow::Result<()> {
    let bin = bundle.join("rootfs/bin");
    std::fs::create_dir_all(&bin).with_context(|| format!("create {}", bin.display()))?;
    std::fs::copy(BUSYBOX, bin.join("busybox"))
        .with_context(|| format!("copy {BUSYBOX} (apt-get install busybox-static)"))?;
    let output = tokio::process::Command::new(runtime)
        .arg("spec")
        .current_dir(bundle)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("run {} spec", runtime.display()))?;
    if !output.status.success() {
        bail!("{} spec: {}", runtime.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut spec: serde_json::Value = serde_json::from_str(&text).context("parse the default spec")?;
    let Some(process) = spec.get_mut("process").and_then(|p| p.as_object_mut()) else {
        bail!("the default spec of {} has no process", runtime.display());
    };
    process.insert("terminal".into(), false.into());
    process.insert("args".into(), serde_json::json!(["/bin/busybox", "true"]));
    std::fs::write(&path, spec.to_string()).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// One `RUNTIME --root STATE run --bundle BUNDLE ID`, exec to exit. `run` deletes the
/// container when it exits, so nothing is left in STATE.
async fn run_once(runtime: &Path, state: &Path, bundle: &Path, id: &str) -> anyhow::Result<std::time::Duration> {
    let started = Instant::now();
    let output = tokio::process::Command::new(runtime)
        .arg("--root")
        .arg(state)
        .arg("run")
        .arg("--bundle")
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("run {}", runtime.display()))?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        // A failed run may leave its container behind in our private state dir.
        let _ = tokio::process::Command::new(runtime)
            .arg("--root")
            .arg(state)
            .args(["delete", "--force", id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        bail!("{} run: {}", runtime.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(elapsed)
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}
