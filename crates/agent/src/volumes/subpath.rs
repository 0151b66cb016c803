//! `subPath` and `subPathExpr`: a mount of one path inside a volume. The path must be
//! relative and free of `..`, and what it finally names (symlinks followed) must stay inside
//! the volume, else a container could reach any file of the node. A missing sub path is
//! created as a directory, as the kubelet does.
//!
//! The check resolves symlinks once, before the runtime bind-mounts the resolved path; the
//! runtime mounts that resolved path, so a symlink swapped in afterwards is not followed.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::container_config::expansion::expand;

/// `ExpandContainerVolumeMounts`: `$(VAR)` in `subPathExpr` from the container's env; a
/// reference to an unset or empty variable is an error.
pub fn expand_sub_path_expr(expr: &str, env: &[(String, String)]) -> Result<String, String> {
    let missing = std::cell::RefCell::new(BTreeSet::new());
    let expanded = expand(expr, |name| {
        let value = env.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        match value {
            Some(value) if !value.is_empty() => Some(value),
            _ => {
                missing.borrow_mut().insert(name.to_string());
                Some(String::new())
            }
        }
    });
    let missing = missing.into_inner();
    if !missing.is_empty() {
        return Err(format!("missing value for {}", missing.into_iter().collect::<Vec<_>>().join(", ")));
    }
    Ok(expanded)
}

/// The node path for `sub_path` inside the volume at `volume_path`, created when missing.
pub fn resolve(volume_path: &Path, sub_path: &str) -> Result<PathBuf, String> {
    let relative = Path::new(sub_path);
    if relative.is_absolute() {
        return Err(format!("error SubPath `{sub_path}` must not be an absolute path"));
    }
    if relative.components().any(|c| c == Component::ParentDir) {
        return Err(format!("error SubPath `{sub_path}` must not contain '..'"));
    }
    let base = volume_path
        .canonicalize()
        .map_err(|e| format!("failed to resolve volume path {}: {e}", volume_path.display()))?;
    let outside = || format!("subpath {sub_path:?} not within volume path {:?}", volume_path.display().to_string());

    // Walk the existing part first: a symlink on the way must not lead out of the volume
    // before anything is created there.
    let mut current = base.clone();
    let mut parts = relative.components().filter(|c| matches!(c, Component::Normal(_))).peekable();
    while let Some(part) = parts.next() {
        let candidate = current.join(part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(_) => {
                let resolved = candidate.canonicalize().map_err(|e| format!("failed to resolve subpath: {e}"))?;
                if !resolved.starts_with(&base) {
                    return Err(outside());
                }
                current = resolved;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Create the rest as directories (mode of the volume directory, as the kubelet
                // uses).
                let mut rest = candidate;
                for more in parts.by_ref() {
                    rest.push(more);
                }
                std::fs::create_dir_all(&rest).map_err(|e| format!("failed to create subpath directory: {e}"))?;
                if let Ok(metadata) = std::fs::metadata(&base) {
                    let _ = std::fs::set_permissions(&rest, metadata.permissions());
                }
                let resolved = rest.canonicalize().map_err(|e| format!("failed to resolve subpath: {e}"))?;
                if !resolved.starts_with(&base) {
                    return Err(outside());
                }
                return Ok(resolved);
            }
            Err(e) => return Err(format!("failed to check subpath: {e}")),
        }
    }
    Ok(current)
}
