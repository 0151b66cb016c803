//! hostPath: a path of the node mounted as is, after the type check of `type` with the
//! kubelet's messages (`hostPath type check failed: /x is not a directory`).
//! `DirectoryOrCreate` creates a 0755 directory, `FileOrCreate` an empty 0644 file.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::HostPathVolumeSource;

pub fn setup(source: &HostPathVolumeSource) -> Result<PathBuf, String> {
    let path = PathBuf::from(&source.path);
    check_type(&path, source.type_.as_deref().unwrap_or(""))?;
    Ok(path)
}

/// `checkTypeInternal`.
pub fn check_type(path: &Path, path_type: &str) -> Result<(), String> {
    let display = path.display();
    let metadata = std::fs::metadata(path).ok();
    let is_dir = metadata.as_ref().is_some_and(|m| m.is_dir());
    let exists = metadata.is_some();
    let file_type = metadata.as_ref().map(|m| m.file_type());
    match path_type {
        "" => Ok(()),
        "DirectoryOrCreate" if !exists => {
            std::fs::create_dir_all(path).map_err(|e| format!("failed to create directory {display}: {e}"))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("failed to set permissions of {display}: {e}"))
        }
        "DirectoryOrCreate" | "Directory" if is_dir => Ok(()),
        "DirectoryOrCreate" | "Directory" => Err(format!("hostPath type check failed: {display} is not a directory")),
        "FileOrCreate" if !exists => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("failed to create directory {display}: {e}"))?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(|e| format!("failed to create file {display}: {e}"))?;
            file.set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(|e| format!("failed to set permissions of {display}: {e}"))
        }
        // The kubelet's IsFile: anything that exists and is not a directory.
        "FileOrCreate" | "File" if exists && !is_dir => Ok(()),
        "FileOrCreate" | "File" => Err(format!("hostPath type check failed: {display} is not a file")),
        "Socket" if file_type.is_some_and(|t| t.is_socket()) => Ok(()),
        "Socket" => Err(format!("hostPath type check failed: {display} is not a socket file")),
        "CharDevice" if file_type.is_some_and(|t| t.is_char_device()) => Ok(()),
        "CharDevice" => Err(format!("hostPath type check failed: {display} is not a character device")),
        "BlockDevice" if file_type.is_some_and(|t| t.is_block_device()) => Ok(()),
        "BlockDevice" => Err(format!("hostPath type check failed: {display} is not a block device")),
        other => Err(format!("{other} is an invalid volume type")),
    }
}
