//! Links `peapod` as a position-dependent executable. Every `peapod shim` (one per pod) is this
//! binary: as a PIE, the dynamic loader writes its relocations into the read-only-after-
//! relocation data (GNU_RELRO, ~750 KiB in release), a private copy per process; linked
//! non-PIE, those addresses are fixed at link time and the pages stay shared with the file.

fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
