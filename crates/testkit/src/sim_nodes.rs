//! Simulated nodes for tests: a real `peapod sim-nodes` process joined to a test server.

use std::process::Command;
use std::time::Duration;

use crate::{Background, Server, peapod_bin};

/// How long a `peapod sim-nodes` process may take to register its nodes.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);

impl Server {
    /// `peapod sim-nodes --count COUNT --name-prefix PREFIX EXTRA...` joined to this server,
    /// returned once it reports its nodes registered. Dropping the handle stops the nodes'
    /// heartbeats (the process is killed).
    pub fn sim_nodes(&self, prefix: &str, count: usize, extra: &[&str]) -> Background {
        let mut command = Command::new(peapod_bin());
        command
            .args(["sim-nodes", "--server", &self.url(), "--token", self.token()])
            .arg("--ca-file")
            .arg(self.ca_file())
            .args(["--count", &count.to_string(), "--name-prefix", prefix])
            .args(extra)
            .env("RUST_LOG", "warn");
        let mut process = Background::spawn(command);
        process.wait_for_line(REGISTRATION_TIMEOUT, |line| line.starts_with("ready:"));
        process
    }
}
