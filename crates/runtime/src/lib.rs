//! The node's container runtime. Today: the image store (`image`): pull, import,
//! content-addressed blobs, layer unpack with whiteouts, overlayfs root filesystems.
//! It must not depend on the API server or store crates.

pub mod container;
pub mod cri;
pub mod image;
pub mod shim;
