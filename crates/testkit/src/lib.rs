//! testkit: the harness the acceptance tests drive a real `peapod server` with.
//!
//! It starts the already built `peapod` binary (it builds nothing: cargo builds the binary for
//! the peapod crate's integration tests, and `PEAPOD_BIN` points elsewhere), waits for
//! `/readyz`, and offers the three ways tests talk to the server: the real `kubectl` binaries
//! with a private `HOME` ([`Kubectl`]), raw HTTPS requests through `curl` ([`Request`]), and
//! background processes whose output lines are collected as they come ([`Background`]).
//!
//! It must not depend on any crate of the project: the tests it serves check the server from
//! the outside, exactly as a user's kubectl sees it.

mod http;
mod images;
mod kubectl;
mod process;
mod server;
mod sim_nodes;
mod table;

pub use http::{HttpResponse, Request};
pub use images::quickstart_images;
pub use kubectl::Kubectl;
pub use process::{Background, Output};
pub use server::{Server, ServerOptions, peapod_bin};
pub use table::{Table, is_age};

use std::sync::OnceLock;

/// One server per test binary, shared by its tests (each test works in its own namespace).
///
/// Statics are never dropped, so this server is stopped by its wrapper shell when the test
/// process exits (its stdin pipe closes), see [`Server`].
pub fn shared() -> &'static Server {
    static SHARED: OnceLock<Server> = OnceLock::new();
    SHARED.get_or_init(|| match Server::start() {
        Ok(server) => server,
        Err(error) => panic!("start the shared peapod server: {error:#}"),
    })
}

/// A namespace name unique within this process, for tests sharing one server.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id() % 10_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Polls `predicate` every 50 ms until it holds or `timeout` passes; returns its last answer.
pub fn eventually(timeout: std::time::Duration, mut predicate: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < timeout {
        if predicate() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    predicate()
}
