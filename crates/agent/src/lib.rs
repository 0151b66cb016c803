//! The node agent (peapod's kubelet): it registers its Node, heartbeats through a Lease,
//! and runs the pods bound to it.
//!
//! - [`runtime`] and [`network`]: the traits the agent drives (shaped after CRI's
//!   RuntimeService/ImageService and a CNI-like pod network). The real implementations live
//!   in the `runtime` and `net` crates and are wired in by the binary; tests use fakes.
//! - pod workers: the single owner of each pod's lifecycle on this node.
//!
//! Architecture invariant: the agent reaches the API only through the `client` crate, so an
//! agent on another machine runs exactly this code.

pub mod container_config;
pub mod network;
pub mod probes;
pub mod runtime;
pub mod server;
pub mod volumes;

pub mod agent;
pub mod container_locator;
pub mod crash_loop_backoff;
pub mod events;
pub mod fake;
pub mod image_puller;
pub mod node_lease;
pub mod node_status;
pub mod pod_resources;
pub mod pod_status;
pub(crate) mod pod_sync;
pub(crate) mod pod_workers;
pub mod prober_manager;
pub mod pull_secrets;
pub mod status_manager;

pub use agent::{Agent, AgentConfig, AgentError};
