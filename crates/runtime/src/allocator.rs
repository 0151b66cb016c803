//! The process-wide allocator of the `peapod` binary: mimalloc for the long-running server
//! and agent, glibc's malloc for `peapod shim` processes.
//!
//! The API server allocates and frees many small JSON values per request, and mimalloc serves
//! them several times faster than glibc's malloc (the scheduler benchmark went from 286 to 393
//! pods/s with it). But every pod has a shim, which is this same binary, and mimalloc's
//! start-up reservations cost a shim about 3 MiB more anonymous memory than glibc's malloc:
//! per pod, that would quadruple peapod's overhead. So the choice is made per process, once,
//! at the first allocation (before `main`), from the process's own command line.
//!
//! mimalloc is built without its transparent-huge-page advice (the `no_thp` feature): with the
//! advice, every 2 MiB of its arenas that one small object touched became a resident huge page,
//! and the server started 22 MiB bigger and grew 0.3 MiB more per pod (`peapod-bench pods`:
//! memory per pod 0.83-1.15 MiB with it, 0.71-0.72 without).
//!
//! Owns only the choice; both allocators are used as they are.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const MIMALLOC: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// Install with `#[global_allocator] static A: runtime::allocator::ProcessAllocator =
/// runtime::allocator::ProcessAllocator;` in the binary.
pub struct ProcessAllocator;

/// Whether this process was started as `<binary> shim ...`, read from `/proc/self/cmdline`
/// without allocating (this runs inside the allocator).
fn started_as_shim() -> bool {
    let mut buffer = [0u8; 256];
    // SAFETY: the path is a NUL-terminated literal; the descriptor is only read into a stack
    // buffer of the length passed, and closed.
    let read = unsafe {
        let fd = libc::open(c"/proc/self/cmdline".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let read = libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len());
        libc::close(fd);
        read
    };
    let Ok(read) = usize::try_from(read) else { return false };
    buffer[..read].split(|b| *b == 0).nth(1) == Some(b"shim".as_slice())
}

/// Called on every allocation: one relaxed load once decided.
#[inline(always)]
fn use_system() -> bool {
    match CHOICE.load(Ordering::Relaxed) {
        SYSTEM => true,
        MIMALLOC => false,
        _ => decide(),
    }
}

#[cold]
#[inline(never)]
fn decide() -> bool {
    // The first allocation happens before any thread is spawned; were two to race, both
    // would read the same command line and decide the same.
    let system = started_as_shim();
    CHOICE.store(if system { SYSTEM } else { MIMALLOC }, Ordering::Relaxed);
    system
}

// SAFETY: every call is forwarded to one of two allocators that uphold `GlobalAlloc`'s
// contract, and always the same one within a process (the choice never changes once made), so
// memory is always freed or resized by the allocator that gave it out.
unsafe impl GlobalAlloc for ProcessAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { if use_system() { System.alloc(layout) } else { mimalloc::MiMalloc.alloc(layout) } }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { if use_system() { System.alloc_zeroed(layout) } else { mimalloc::MiMalloc.alloc_zeroed(layout) } }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees, to the allocator that gave `ptr` out.
        unsafe { if use_system() { System.dealloc(ptr, layout) } else { mimalloc::MiMalloc.dealloc(ptr, layout) } }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees, to the allocator that gave `ptr` out.
        unsafe {
            if use_system() {
                System.realloc(ptr, layout, new_size)
            } else {
                mimalloc::MiMalloc.realloc(ptr, layout, new_size)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_binary_is_not_a_shim_and_both_allocators_round_trip() {
        assert!(!started_as_shim());
        let layout = Layout::from_size_align(100, 8).expect("layout");
        // SAFETY: a non-zero-size layout; the memory is written within bounds and freed by the
        // allocator that gave it out, with the same layout.
        unsafe {
            let pointer = ProcessAllocator.alloc_zeroed(layout);
            assert!(!pointer.is_null());
            assert_eq!(*pointer.add(99), 0);
            let grown = ProcessAllocator.realloc(pointer, layout, 4096);
            assert!(!grown.is_null());
            ProcessAllocator.dealloc(grown, Layout::from_size_align(4096, 8).expect("layout"));
        }
    }
}
