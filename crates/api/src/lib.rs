//! Kubernetes API knowledge, with no IO: the resource table, decoding of request bodies
//! (JSON, YAML, protobuf), defaulting, validation, label and field selectors, patches
//! (JSON, merge, strategic merge), OpenAPI documents and server-side printing (`Table`).
//!
//! Objects travel as `serde_json::Value` between the apiserver and this crate; typed
//! `k8s-openapi` structs are instantiated here only, so that serde's monomorphizations of the
//! large Kubernetes type tree are compiled once, in this crate.
//!
//! Architecture invariant: pure. No async runtime, no files, no sockets, no clock: callers pass
//! the current time in.

pub mod codec;
pub mod convert;
pub mod defaults;
pub mod field_error;
pub mod openapi;
pub mod patch;
pub mod projection;
pub mod protobuf;
pub mod qos;
pub mod resources;
pub mod selector;
pub mod table;
pub mod validation;

pub use field_error::{CauseType, FieldError};
pub use resources::{ResourceInfo, Subresource};
