//! How every peapod component (scheduler, controllers, node agent, simulated nodes) talks
//! to the API server: over HTTPS, exactly as an external client would (in-process components
//! use the same API over the server's Unix socket, without TLS: [`unix`]).
//!
//! - [`Config`] and [`Client`]: kubeconfig, TLS against the cluster CA, bearer token,
//!   pooled HTTP/2 (HTTP/1.1 fallback) connections, timeouts, `Status` errors.
//! - [`Api`]: the verbs on one collection of a kind, typed over `k8s-openapi` structs (or
//!   `serde_json::Value` with an [`ApiResource`]).
//! - [`watcher`]: list + watch that resumes and relists by itself; [`reflector`]: a cache
//!   fed by it; [`leader`]: leader election on a Lease.
//!
//! Architecture invariant: this crate only speaks the public REST API. It never reaches
//! into the apiserver or the store, so a component on another machine runs the same code.

pub mod api;
pub mod client;
pub mod config;
pub mod error;
pub mod leader;
pub mod params;
pub mod reflector;
pub mod resource;
pub mod unix;
pub mod watch;
pub mod watcher;

pub use api::{Api, ListMeta, ObjectList};
pub use client::Client;
pub use client::insecure::AcceptAnyCertificate;
pub use config::Config;
pub use error::{Error, Result, Status};
pub use leader::{LeaderElectionConfig, LeaderElector};
pub use params::{DeleteParams, ListParams, Patch, Preconditions, PropagationPolicy, WatchParams};
pub use resource::{ApiResource, Object, Resource};
pub use watch::{Bookmark, WatchEvent};
