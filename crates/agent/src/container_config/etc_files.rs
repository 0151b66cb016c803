//! The files the node manages inside every container: `/etc/hosts` (the kubelet's
//! managed hosts file with the pod IP, hostname and `hostAliases`), `/etc/hostname`,
//! `/etc/resolv.conf` (from `dnsPolicy` and `dnsConfig`) and the per-container termination
//! message file mounted at `terminationMessagePath`.
//!
//! They live in the pod's directory (`DATA_DIR/agent/pods/<uid>/`), next to its volumes, and
//! are removed with it by [`crate::volumes::VolumeManager::teardown`]. Files are rewritten in
//! place (same inode), so containers that already bind-mount them see the new contents.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{HostAlias, Pod, PodDNSConfig};

/// Kubernetes' default cluster domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The limit on the pod hostname (a DNS label).
const HOSTNAME_MAX_LEN: usize = 63;
/// What the kubelet keeps of a termination message.
pub const MAX_TERMINATION_MESSAGE_BYTES: usize = 4096;

/// The pod's hostname (`spec.hostname` or the pod name, cut to 63 characters without a
/// trailing `-` or `.`) and its domain (`<subdomain>.<namespace>.svc.cluster.local` when
/// `spec.subdomain` is set).
pub fn pod_hostname_and_domain(pod: &Pod) -> (String, Option<String>) {
    let spec = pod.spec.as_ref();
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let mut hostname = spec.and_then(|s| s.hostname.as_deref()).filter(|h| !h.is_empty()).unwrap_or(name).to_string();
    if hostname.len() > HOSTNAME_MAX_LEN {
        let mut end = HOSTNAME_MAX_LEN;
        while !hostname.is_char_boundary(end) {
            end -= 1;
        }
        hostname.truncate(end);
        while hostname.ends_with(['-', '.']) {
            hostname.pop();
        }
    }
    let domain = spec.and_then(|s| s.subdomain.as_deref()).filter(|d| !d.is_empty()).map(|subdomain| {
        format!("{subdomain}.{}.svc.{CLUSTER_DOMAIN}", pod.metadata.namespace.as_deref().unwrap_or("default"))
    });
    (hostname, domain)
}

fn host_aliases_block(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for alias in aliases {
        out.push_str(&format!("{}\t{}\n", alias.ip, alias.hostnames.as_deref().unwrap_or(&[]).join("\t")));
    }
    out
}

/// `managedHostsFileContent`.
pub fn managed_hosts(pod_ips: &[IpAddr], hostname: &str, domain: Option<&str>, aliases: &[HostAlias]) -> String {
    let mut out = String::from("# Kubernetes-managed hosts file.\n");
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        match domain {
            Some(domain) => out.push_str(&format!("{ip}\t{hostname}.{domain}\t{hostname}\n")),
            None => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    out.push_str(&host_aliases_block(aliases));
    out
}

/// The hosts file of a `hostNetwork` pod: the node's, plus `hostAliases`.
pub fn host_network_hosts(node_hosts: &str, aliases: &[HostAlias]) -> String {
    let mut out = String::from("# Kubernetes-managed hosts file (host network).\n");
    out.push_str(node_hosts);
    if !node_hosts.is_empty() && !node_hosts.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&host_aliases_block(aliases));
    out
}

/// A parsed `resolv.conf`: what a pod's resolver configuration is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl DnsConfig {
    /// Reads `nameserver`, `search`/`domain` and `options` lines.
    pub fn parse(text: &str) -> DnsConfig {
        let mut config = DnsConfig::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => config.nameservers.extend(fields.next().map(str::to_string)),
                // The last search/domain line wins, as in resolv.conf(5).
                Some("search") | Some("domain") => config.searches = fields.map(str::to_string).collect(),
                Some("options") => config.options.extend(fields.map(str::to_string)),
                _ => {}
            }
        }
        config
    }

    /// Drops loopback nameservers: the node's stub resolver (127.0.0.53, ::1, ...) is not
    /// reachable from a pod's network namespace.
    pub fn without_loopback(mut self) -> DnsConfig {
        self.nameservers.retain(|ns| !ns.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()));
        self
    }

    /// Merges `dnsConfig`: nameservers and searches appended without duplicates, options
    /// replaced by name (`getDNSConfig` / `appendDNSConfig`).
    pub fn merge(mut self, extra: &PodDNSConfig) -> DnsConfig {
        for ns in extra.nameservers.iter().flatten() {
            if !self.nameservers.contains(ns) {
                self.nameservers.push(ns.clone());
            }
        }
        for search in extra.searches.iter().flatten() {
            if !self.searches.contains(search) {
                self.searches.push(search.clone());
            }
        }
        for option in extra.options.iter().flatten() {
            let Some(name) = option.name.as_deref() else { continue };
            self.options.retain(|o| o.split(':').next() != Some(name));
            self.options.push(match option.value.as_deref() {
                Some(value) => format!("{name}:{value}"),
                None => name.to_string(),
            });
        }
        self
    }

    /// The file, in the order containerd writes it: search, nameserver, options. At most
    /// three nameservers are kept (the resolver ignores more).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in self.nameservers.iter().take(3) {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

/// The pod's resolver configuration from its `dnsPolicy`. There is no cluster DNS service yet,
/// so `ClusterFirst` falls back to `Default` exactly as the kubelet does without
/// `--cluster-dns`; `None` uses `dnsConfig` alone.
pub fn pod_dns_config(pod: &Pod, node_resolv_conf: &str) -> DnsConfig {
    let spec = pod.spec.as_ref();
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("ClusterFirst");
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let base = match policy {
        "None" => DnsConfig::default(),
        _ if host_network => DnsConfig::parse(node_resolv_conf),
        _ => DnsConfig::parse(node_resolv_conf).without_loopback(),
    };
    match spec.and_then(|s| s.dns_config.as_ref()) {
        Some(extra) => base.merge(extra),
        None => base,
    }
}

/// Writes `contents` to `path` in place (creating it), keeping the inode that running
/// containers have bind-mounted.
pub fn write_in_place(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if std::fs::read(path).is_ok_and(|current| current == contents) {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path)?;
    file.write_all(contents)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Where a container instance's termination message lives on the node:
/// `<pod dir>/containers/<container>/<attempt>`. The pod workers read it after the container
/// exits (see [`read_termination_message`]).
pub fn termination_message_file(pod_dir: &Path, container_name: &str, attempt: u32) -> PathBuf {
    pod_dir.join("containers").join(container_name).join(attempt.to_string())
}

/// Creates the empty, world-writable termination message file (the container may run as any
/// user), replacing one a previous instance with the same attempt left behind.
pub fn create_termination_message_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::File::create(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o666))?;
    Ok(())
}

/// The termination message a container wrote, cut to `max_bytes` (the kubelet keeps 4096
/// bytes per container, less when a pod has many); `None` when there is no file or it is empty.
pub fn read_termination_message(path: &Path, max_bytes: usize) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(u64::try_from(max_bytes).unwrap_or(u64::MAX)).read_to_end(&mut bytes).ok()?;
    if bytes.is_empty() {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
