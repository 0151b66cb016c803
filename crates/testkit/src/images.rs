//! The quick-start images (`busybox`, `nginx`) as OCI tarballs, built once per machine from
//! the host's Debian packages the way `scripts/build-images.sh` builds them (`images/stage.sh`
//! and `peapod image build-local`), for servers whose node agent runs real containers.
//!
//! They are kept in `target/testkit-images/` and rebuilt only when missing; an flock there
//! keeps test processes that start together from building them twice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

/// `(busybox.tar, nginx.tar)`, built on first use. Needs root, busybox-static and nginx
/// (`scripts/install-test-deps.sh`).
pub fn quickstart_images() -> anyhow::Result<(PathBuf, PathBuf)> {
    static BUILT: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    BUILT.get_or_init(|| build().map_err(|error| format!("{error:#}"))).clone().map_err(anyhow::Error::msg)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn build() -> anyhow::Result<(PathBuf, PathBuf)> {
    let bin = crate::peapod_bin();
    let out = bin.parent().and_then(Path::parent).unwrap_or(Path::new("target")).join("testkit-images");
    std::fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;
    let lock_file = std::fs::File::create(out.join(".lock")).context("create the build lock")?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, error)| anyhow::anyhow!("lock {}: {error}", out.display()))?;
    let tars = (out.join("busybox.tar"), out.join("nginx.tar"));
    if tars.0.is_file() && tars.1.is_file() {
        return Ok(tars);
    }
    let stage = out.join("rootfs");
    run(Command::new("bash").arg(repo().join("images/stage.sh")).arg(&stage))?;
    for (name, tar) in [("busybox", &tars.0), ("nginx", &tars.1)] {
        let partial = tar.with_extension("tar.partial");
        run(Command::new(&bin)
            .args(["image", "build-local", "--rootfs"])
            .arg(stage.join(name))
            .arg("--spec")
            .arg(repo().join(format!("images/{name}.json")))
            .arg("--out")
            .arg(&partial))?;
        std::fs::rename(&partial, tar).with_context(|| format!("rename {}", partial.display()))?;
    }
    let _ = std::fs::remove_dir_all(&stage);
    Ok(tars)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("run {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}
