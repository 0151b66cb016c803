//! Reads the ConfigMaps, Secrets and Services a container's environment and volumes refer to,
//! through the client, with the kubelet's wording for what is missing (`configmap "x" not
//! found`, singular, as the kubelet's object managers say it).
//!
//! Reads only; no caching (each container start and each volume resync asks the API again).

use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};

/// Why a referenced object could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The object does not exist: `configmap "x" not found`.
    NotFound(String),
    /// Anything else (the API is unreachable, forbidden, ...).
    Other(String),
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::NotFound(message) | SourceError::Other(message) => f.write_str(message),
        }
    }
}

pub async fn config_map(client: &client::Client, namespace: &str, name: &str) -> Result<ConfigMap, SourceError> {
    let api: client::Api<ConfigMap> = client::Api::namespaced(client.clone(), namespace);
    match api.get(name).await {
        Ok(object) => Ok(object),
        Err(error) if error.is_not_found() => Err(SourceError::NotFound(format!("configmap {name:?} not found"))),
        Err(error) => Err(SourceError::Other(format!("couldn't get configMap {namespace}/{name}: {error}"))),
    }
}

pub async fn secret(client: &client::Client, namespace: &str, name: &str) -> Result<Secret, SourceError> {
    let api: client::Api<Secret> = client::Api::namespaced(client.clone(), namespace);
    match api.get(name).await {
        Ok(object) => Ok(object),
        Err(error) if error.is_not_found() => Err(SourceError::NotFound(format!("secret {name:?} not found"))),
        Err(error) => Err(SourceError::Other(format!("couldn't get secret {namespace}/{name}: {error}"))),
    }
}

/// The services whose environment variables a pod in `namespace` gets: the `kubernetes`
/// service of `default` always, and with `enableServiceLinks` every service of the namespace
/// (a namespace service wins over the master service of the same name).
pub async fn services_for_env(
    client: &client::Client,
    namespace: &str,
    enable_service_links: bool,
) -> Result<Vec<Service>, String> {
    let mut services: Vec<Service> = Vec::new();
    let default_api: client::Api<Service> = client::Api::namespaced(client.clone(), "default");
    match default_api.get_opt("kubernetes").await {
        Ok(Some(service)) => services.push(service),
        Ok(None) => {}
        Err(_) => return Err("failed to list services when setting up env vars".to_string()),
    }
    if enable_service_links {
        let api: client::Api<Service> = client::Api::namespaced(client.clone(), namespace);
        let list = api
            .list(&client::ListParams::default())
            .await
            .map_err(|_| "failed to list services when setting up env vars".to_string())?;
        for service in list.items {
            let name = service.metadata.name.clone();
            services.retain(|s| s.metadata.name != name);
            services.push(service);
        }
    }
    Ok(services)
}
