//! The node's image store: references, content-addressed blobs, import of tarballs, registry
//! pulls, safe layer unpack and overlayfs root filesystems, image garbage collection.
//! It knows nothing of pods or the API: the agent names images and container IDs.

pub mod build;
pub mod digest;
pub mod gc;
pub mod import;
pub mod oci;
pub mod pull;
pub mod reference;
pub mod registries;
pub mod snapshot;
pub mod store;
pub mod unpack;

pub use reference::{Reference, ReferenceError};
pub use store::{ImageRecord, ImageStore, LayerRecord, StoreError};
