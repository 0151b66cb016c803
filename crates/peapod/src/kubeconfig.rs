//! The admin kubeconfig written to `DATA_DIR/kubeconfig.yaml`.

use std::path::Path;

use anyhow::Context;
use base64::Engine;

/// Writes the kubeconfig atomically (temp file + rename), readable by the owner only: it
/// holds the admin credential.
pub fn write(path: &Path, server_url: &str, ca_pem: &str, token: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let contents = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: peapod
  cluster:
    server: {server_url}
    certificate-authority-data: {ca_data}
users:
- name: admin
  user:
    token: {token}
contexts:
- name: peapod
  context:
    cluster: peapod
    user: admin
    namespace: default
current-context: peapod
preferences: {{}}
"
    );
    let temporary = path.with_extension("yaml.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("create {}", temporary.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}
