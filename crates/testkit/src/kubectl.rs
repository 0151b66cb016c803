//! The real kubectl binaries, run against a [`Server`] with its kubeconfig and a private
//! `HOME` per kubectl version (so the discovery cache starts cold and versions never share
//! one), and never with the caller's kubeconfig or cluster.

use std::path::PathBuf;
use std::process::Command;

use crate::process::{self, Background, Output};
use crate::server::Server;

/// The kubectl versions the acceptance tests cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kubectl {
    V1_27,
    V1_32,
    V1_33,
}

impl Kubectl {
    /// Every covered version, newest first.
    pub const ALL: [Kubectl; 3] = [Kubectl::V1_33, Kubectl::V1_32, Kubectl::V1_27];

    /// The minor version, e.g. 33.
    pub fn minor(self) -> u32 {
        match self {
            Kubectl::V1_27 => 27,
            Kubectl::V1_32 => 32,
            Kubectl::V1_33 => 33,
        }
    }

    /// `$KUBECTL_DIR/kubectl.1.N`, default directory `/usr/lib/google-cloud-sdk/bin`.
    pub fn path(self) -> PathBuf {
        let dir = std::env::var_os("KUBECTL_DIR").unwrap_or_else(|| "/usr/lib/google-cloud-sdk/bin".into());
        PathBuf::from(dir).join(format!("kubectl.1.{}", self.minor()))
    }
}

impl std::fmt::Display for Kubectl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kubectl 1.{}", self.minor())
    }
}

impl Server {
    /// A `kubectl` command of that version, aimed at this server, with a private `HOME`.
    pub fn kubectl_command(&self, version: Kubectl, args: &[&str]) -> Command {
        let home = self.dir().join(format!("home-kubectl-1.{}", version.minor()));
        if let Err(error) = std::fs::create_dir_all(&home) {
            panic!("create {}: {error}", home.display());
        }
        let mut command = Command::new(version.path());
        command.env_clear();
        // Keep PATH (kubectl edit runs the editor through it) and nothing else of ours.
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command.env("HOME", &home).env("KUBECONFIG", self.kubeconfig()).env("LANG", "C").args(args);
        command
    }

    /// Runs kubectl 1.33 to completion.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_as(Kubectl::V1_33, args)
    }

    /// `kubectl get ARGS -o json` (1.33), which must succeed, parsed.
    pub fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(&all);
        out.assert_success();
        out.json()
    }

    /// Runs kubectl of that version to completion.
    pub fn kubectl_as(&self, version: Kubectl, args: &[&str]) -> Output {
        process::run(self.kubectl_command(version, args), None, process::COMMAND_DEADLINE)
    }

    /// Runs kubectl with `stdin` as its input (for `-f -`).
    pub fn kubectl_stdin(&self, version: Kubectl, args: &[&str], stdin: &str) -> Output {
        process::run(self.kubectl_command(version, args), Some(stdin.as_bytes()), process::COMMAND_DEADLINE)
    }

    /// Runs kubectl with extra environment variables (e.g. `EDITOR`).
    pub fn kubectl_env(&self, version: Kubectl, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.kubectl_command(version, args);
        command.envs(env.iter().copied());
        process::run(command, None, process::COMMAND_DEADLINE)
    }

    /// Starts kubectl in the background (e.g. `get -w`); its stdout lines are collected.
    pub fn kubectl_background(&self, version: Kubectl, args: &[&str]) -> Background {
        Background::spawn(self.kubectl_command(version, args))
    }
}
