//! The image half of the agent's [`agent::runtime::Runtime`]: lookups, pulls and the list the
//! node reports, over the image store. Store calls are blocking file IO and run on the
//! blocking pool.

use agent::runtime::{ImageConfig, ImageInfo, RegistryAuth, RuntimeError};

use crate::image::pull::PullOptions;
use crate::image::reference::Reference;
use crate::image::registries::Credentials;
use crate::image::store::{ImageRecord, ImageStore, StoreError};

/// The store's record and config, as the agent sees an image.
pub(crate) fn image_info(store: &ImageStore, record: &ImageRecord) -> Result<ImageInfo, RuntimeError> {
    let config = store.config(record).map_err(|error| RuntimeError::Other(error.to_string()))?.config;
    let repo_digest = Reference::parse_normalized(&record.name).ok().map(|r| r.with_digest(&record.target));
    Ok(ImageInfo {
        id: record.config.clone(),
        names: vec![record.name.clone()],
        repo_digest,
        size_bytes: record.size,
        config: ImageConfig {
            entrypoint: config.entrypoint.unwrap_or_default(),
            cmd: config.cmd.unwrap_or_default(),
            env: config.env.unwrap_or_default(),
            working_dir: config.working_dir.filter(|dir| !dir.is_empty()),
            user: config.user.filter(|user| !user.is_empty()),
            stop_signal: config.stop_signal.filter(|signal| !signal.is_empty()),
        },
    })
}

pub(crate) async fn image_status(store: &ImageStore, image: &str) -> Result<Option<ImageInfo>, RuntimeError> {
    let store = store.clone();
    let image = image.to_string();
    blocking(move || match store.get(&image) {
        Ok(record) => image_info(&store, &record).map(Some),
        Err(StoreError::ImageNotFound(_)) => Ok(None),
        Err(error) => Err(RuntimeError::Other(error.to_string())),
    })
    .await
}

pub(crate) async fn list_images(store: &ImageStore) -> Result<Vec<ImageInfo>, RuntimeError> {
    let store = store.clone();
    blocking(move || {
        let records = store.list().map_err(|error| RuntimeError::Other(error.to_string()))?;
        // One entry per config digest, with every name pointing at it (as `status.images`).
        let mut images: Vec<ImageInfo> = Vec::new();
        for record in records {
            match images.iter_mut().find(|info| info.id == record.config) {
                Some(info) => info.names.push(record.name.clone()),
                None => images.push(image_info(&store, &record)?),
            }
        }
        Ok(images)
    })
    .await
}

pub(crate) async fn pull_image(
    puller: &crate::image::pull::Puller,
    store: &ImageStore,
    image: &str,
    auth: &[RegistryAuth],
) -> Result<ImageInfo, RuntimeError> {
    let domain = Reference::parse_normalized(image).map_err(|error| RuntimeError::ImagePull(error.to_string()))?.domain;
    let options = PullOptions { credentials: credentials_for(&domain, auth), progress: None };
    let record = puller.pull(image, &options).await.map_err(|error| RuntimeError::ImagePull(error.to_string()))?;
    let store = store.clone();
    blocking(move || image_info(&store, &record)).await
}

/// The pull secret entry for a registry domain, matched the way the kubelet's credential
/// keyring does for the common forms (`https://index.docker.io/v1/` for Docker Hub, a bare
/// host, or a URL with a scheme and path).
fn credentials_for(domain: &str, auth: &[RegistryAuth]) -> Option<Credentials> {
    let wanted = if domain == "docker.io" { "index.docker.io" } else { domain };
    auth.iter()
        .find(|entry| {
            let host = entry.server.trim_start_matches("https://").trim_start_matches("http://");
            let host = host.split('/').next().unwrap_or(host);
            host == wanted || (domain == "docker.io" && host == "docker.io")
        })
        .map(|entry| Credentials { username: entry.username.clone(), password: entry.password.clone() })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RuntimeError> + Send + 'static,
) -> Result<T, RuntimeError> {
    super::setup_work(work).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(server: &str) -> RegistryAuth {
        RegistryAuth { server: server.into(), username: "u".into(), password: "p".into() }
    }

    #[test]
    fn docker_hub_secrets_match_docker_io_images() {
        assert!(credentials_for("docker.io", &[auth("https://index.docker.io/v1/")]).is_some());
        assert!(credentials_for("docker.io", &[auth("ghcr.io")]).is_none());
        assert!(credentials_for("ghcr.io", &[auth("https://ghcr.io")]).is_some());
        assert!(credentials_for("localhost:5000", &[auth("localhost:5000")]).is_some());
    }
}
