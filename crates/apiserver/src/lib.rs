//! The Kubernetes REST surface over a `store::Backend`: discovery, OpenAPI, the CRUD verbs,
//! list and watch, patches, subresources, authentication, metrics and TLS serving.
//!
//! Architecture invariants: this is the only crate that writes to the store, and the only
//! one that knows the HTTP wire format. Kubernetes semantics that need no IO (validation,
//! defaulting, selectors, patches, printing) live in the `api` crate; this crate applies
//! them at the right moment of each request.
//!
//! Start reading at [`ApiServer::router`] and `dispatch.rs`.

mod auth;
mod bootstrap;
mod discovery;
mod dispatch;
mod error;
mod handlers;
mod metrics;
mod namespace_lifecycle;
mod objects;
mod output;
mod request;
mod response;
mod serve;
mod subresources;
pub mod tls;
mod watch_cache;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use error::ApiError;
pub use serve::{serve_tls, serve_unix};

/// What the binary decides about the API server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bearer tokens that authenticate a client as cluster admin.
    pub admin_tokens: Vec<String>,
    /// The largest request body accepted (kube-apiserver: 3 MiB).
    pub max_body_bytes: usize,
    /// The address clients use to reach this server, for discovery's
    /// `serverAddressByClientCIDRs` (`host:port`).
    pub advertise_address: String,
    /// The bearer token presented to node agents when proxying `pods/log`, `exec` and
    /// `attach` to them (kube-apiserver's kubelet client credentials).
    pub kubelet_token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            admin_tokens: Vec::new(),
            max_body_bytes: 3 * 1024 * 1024,
            advertise_address: "127.0.0.1:6443".into(),
            kubelet_token: None,
        }
    }
}

/// The API server: shared by every request and long-lived task.
pub struct ApiServer {
    backend: Arc<dyn store::Backend>,
    config: Config,
    metrics: metrics::Metrics,
    watch_cache: watch_cache::WatchCache,
    ready: AtomicBool,
    /// Serializes cluster IP allocation (one allocator per server, as kube-apiserver's
    /// bitmap allocator is guarded by its own storage transaction).
    cluster_ip_allocation: tokio::sync::Mutex<()>,
    namespace_lifecycle: namespace_lifecycle::NamespaceLifecycle,
}

impl ApiServer {
    pub fn new(backend: Arc<dyn store::Backend>, config: Config) -> Arc<ApiServer> {
        Arc::new(ApiServer {
            watch_cache: watch_cache::WatchCache::new(backend.clone()),
            backend,
            config,
            metrics: metrics::Metrics::new(),
            ready: AtomicBool::new(false),
            cluster_ip_allocation: tokio::sync::Mutex::new(()),
            namespace_lifecycle: namespace_lifecycle::NamespaceLifecycle::default(),
        })
    }

    /// Creates what every cluster has: the default namespaces and the `kubernetes` service.
    /// Idempotent; run at every start.
    pub async fn bootstrap(&self) -> Result<(), ApiError> {
        bootstrap::ensure_defaults(self).await?;
        self.watch_cache.start_all().await.map_err(ApiError::from)
    }

    /// From now on `/readyz` answers `ok`. The binary calls it once the kubeconfig is written.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The HTTP service: every path goes through [`dispatch`](dispatch::dispatch).
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new().fallback(dispatch::dispatch).with_state(self.clone())
    }

    pub fn backend(&self) -> &Arc<dyn store::Backend> {
        &self.backend
    }
}
