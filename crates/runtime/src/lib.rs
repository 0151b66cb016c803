//! The node's container runtime: the image store (`image`: pull, import, content-addressed
//! blobs, layer unpack with whiteouts, overlayfs root filesystems), OCI containers through
//! crun or runc (`container`), the per-pod `peapod shim` (`shim`), the CRI-shaped runtime the
//! agent drives (`cri`), and the binary's per-process allocator choice (`allocator`).
//! It must not depend on the API server or store crates.

pub mod allocator;
pub mod container;
pub mod cri;
pub mod image;
pub mod shim;
