//! A container's environment, as `makeEnvironmentVariables` builds it: `envFrom` sources first
//! (ConfigMaps and Secrets, with `prefix`), then `env` in order (`value` with `$(VAR)`
//! expansion over what is declared so far and the service variables, or `valueFrom`:
//! `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef`), then the service
//! variables nothing declared (`KUBERNETES_SERVICE_HOST`, `<NAME>_PORT_<port>_TCP`, ...).
//!
//! The image's own env comes first in the final list; that merge is [`super::generate`]'s.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};

use super::downward::{PodAddresses, field_value};
use super::expansion::{Lookup, expand, mapping_for};
use super::resources::{NodeAllocatable, resource_field_value};
use super::sources::{self, SourceError};

/// An ordered environment: names keep the position of their first declaration, values are
/// the last one's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvList {
    entries: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl EnvList {
    pub fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&position) => self.entries[position].1 = value,
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push((name, value));
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&position| self.entries[position].1.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    pub fn into_vec(self) -> Vec<(String, String)> {
        self.entries
    }

    pub fn as_slice(&self) -> &[(String, String)] {
        &self.entries
    }
}

impl Lookup for EnvList {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }
}

/// `makeEnvVariableName`: upper case, `-` to `_`.
fn env_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// `envvars.FromServices`: the Docker-link style variables of each service with a cluster IP.
pub fn service_env(services: &[Service]) -> Vec<(String, String)> {
    let mut result = Vec::new();
    for service in services {
        let Some(spec) = service.spec.as_ref() else { continue };
        let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
        if cluster_ip.is_empty() || cluster_ip == "None" {
            continue;
        }
        let prefix = env_name(service.metadata.name.as_deref().unwrap_or(""));
        result.push((format!("{prefix}_SERVICE_HOST"), cluster_ip.to_string()));
        let ports = spec.ports.as_deref().unwrap_or(&[]);
        let Some(first) = ports.first() else { continue };
        let port_name = format!("{prefix}_SERVICE_PORT");
        result.push((port_name.clone(), first.port.to_string()));
        for port in ports {
            if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
                result.push((format!("{port_name}_{}", env_name(name)), port.port.to_string()));
            }
        }
        for (i, port) in ports.iter().enumerate() {
            let protocol = port.protocol.as_deref().filter(|p| !p.is_empty()).unwrap_or("TCP");
            let lower = protocol.to_lowercase();
            let host_port = match cluster_ip.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(_)) => format!("[{cluster_ip}]:{}", port.port),
                _ => format!("{cluster_ip}:{}", port.port),
            };
            let url = format!("{lower}://{host_port}");
            if i == 0 {
                result.push((format!("{prefix}_PORT"), url.clone()));
            }
            let port_prefix = format!("{prefix}_PORT_{}_{}", port.port, protocol.to_uppercase());
            result.push((port_prefix.clone(), url));
            result.push((format!("{port_prefix}_PROTO"), lower));
            result.push((format!("{port_prefix}_PORT"), port.port.to_string()));
            result.push((format!("{port_prefix}_ADDR"), cluster_ip.to_string()));
        }
    }
    result
}

/// A name `envFrom` may define: non-empty printable ASCII without `=` (Kubernetes' relaxed env
/// var name rule); other keys of the source are skipped.
pub fn is_valid_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'=')
}

/// Everything the environment depends on besides the pod and the container.
pub struct EnvContext<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub addresses: &'a PodAddresses,
    pub node: NodeAllocatable,
}

/// Fetched objects, so a source named twice is read once (and consistently).
#[derive(Default)]
struct Cache {
    config_maps: BTreeMap<String, Option<ConfigMap>>,
    secrets: BTreeMap<String, Option<Secret>>,
}

impl Cache {
    /// `Ok(None)` for a missing object that is optional.
    async fn config_map(
        &mut self,
        client: &client::Client,
        namespace: &str,
        name: &str,
        optional: bool,
    ) -> Result<Option<&ConfigMap>, String> {
        if !self.config_maps.contains_key(name) {
            let fetched = match sources::config_map(client, namespace, name).await {
                Ok(object) => Some(object),
                Err(SourceError::NotFound(_)) if optional => None,
                Err(error) => return Err(error.to_string()),
            };
            self.config_maps.insert(name.to_string(), fetched);
        }
        match self.config_maps.get(name) {
            Some(Some(object)) => Ok(Some(object)),
            _ if optional => Ok(None),
            _ => Err(format!("configmap {name:?} not found")),
        }
    }

    async fn secret(
        &mut self,
        client: &client::Client,
        namespace: &str,
        name: &str,
        optional: bool,
    ) -> Result<Option<&Secret>, String> {
        if !self.secrets.contains_key(name) {
            let fetched = match sources::secret(client, namespace, name).await {
                Ok(object) => Some(object),
                Err(SourceError::NotFound(_)) if optional => None,
                Err(error) => return Err(error.to_string()),
            };
            self.secrets.insert(name.to_string(), fetched);
        }
        match self.secrets.get(name) {
            Some(Some(object)) => Ok(Some(object)),
            _ if optional => Ok(None),
            _ => Err(format!("secret {name:?} not found")),
        }
    }
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    if let Some(value) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return Some(String::from_utf8_lossy(&value.0).into_owned());
    }
    // `stringData` is folded into `data` on write; read it too for objects that skipped that.
    secret.string_data.as_ref().and_then(|d| d.get(key)).cloned()
}

/// The container's environment without the image's: `envFrom`, then `env`, then the service
/// variables not otherwise declared. Errors are the kubelet's messages.
pub async fn container_env(
    client: &client::Client,
    ctx: &EnvContext<'_>,
    services: &[Service],
) -> Result<Vec<(String, String)>, String> {
    let pod = ctx.pod;
    let container = ctx.container;
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let service_vars: EnvList = {
        let mut list = EnvList::default();
        for (name, value) in service_env(services) {
            list.set(name, value);
        }
        list
    };
    let mut cache = Cache::default();
    let mut declared = EnvList::default();

    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.as_deref().unwrap_or("");
        if let Some(reference) = &source.config_map_ref {
            let optional = reference.optional == Some(true);
            let Some(config_map) = cache.config_map(client, namespace, &reference.name, optional).await? else {
                continue;
            };
            for (key, value) in config_map.data.iter().flatten() {
                let name = format!("{prefix}{key}");
                if is_valid_env_name(&name) {
                    declared.set(name, value.clone());
                }
            }
        } else if let Some(reference) = &source.secret_ref {
            let optional = reference.optional == Some(true);
            let Some(secret) = cache.secret(client, namespace, &reference.name, optional).await? else {
                continue;
            };
            for (key, value) in secret.data.iter().flatten() {
                let name = format!("{prefix}{key}");
                if is_valid_env_name(&name) {
                    declared.set(name, String::from_utf8_lossy(&value.0).into_owned());
                }
            }
        }
    }

    for var in container.env.iter().flatten() {
        let literal = var.value.as_deref().unwrap_or("");
        let value = if !literal.is_empty() {
            let contexts: [&dyn Lookup; 2] = [&declared, &service_vars];
            expand(literal, mapping_for(&contexts))
        } else if let Some(from) = &var.value_from {
            if let Some(selector) = &from.field_ref {
                field_value(selector, pod, ctx.addresses)?
            } else if let Some(selector) = &from.resource_field_ref {
                resource_field_value(selector, pod, container, ctx.node)?
            } else if let Some(selector) = &from.config_map_key_ref {
                let optional = selector.optional == Some(true);
                let Some(config_map) = cache.config_map(client, namespace, &selector.name, optional).await? else {
                    continue;
                };
                let found = config_map.data.as_ref().and_then(|d| d.get(&selector.key)).cloned();
                match found {
                    Some(value) => value,
                    None if optional => continue,
                    None => {
                        return Err(format!(
                            "couldn't find key {} in ConfigMap {namespace}/{}",
                            selector.key, selector.name
                        ));
                    }
                }
            } else if let Some(selector) = &from.secret_key_ref {
                let optional = selector.optional == Some(true);
                let Some(secret) = cache.secret(client, namespace, &selector.name, optional).await? else {
                    continue;
                };
                match secret_value(secret, &selector.key) {
                    Some(value) => value,
                    None if optional => continue,
                    None => {
                        return Err(format!(
                            "couldn't find key {} in Secret {namespace}/{}",
                            selector.key, selector.name
                        ));
                    }
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        declared.set(var.name.clone(), value);
    }

    let mut result = declared.clone();
    for (name, value) in service_vars.into_vec() {
        if !declared.contains(&name) {
            result.set(name, value);
        }
    }
    Ok(result.into_vec())
}
