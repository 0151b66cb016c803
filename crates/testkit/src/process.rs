//! Child processes for tests: run-to-completion with a deadline ([`Output`]) and long-running
//! ones whose stdout lines are collected while they run ([`Background`], for `kubectl get -w`
//! and raw watch streams). Never leaves a child behind: a hung command is killed at its
//! deadline, a background one when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The command line, for failure messages.
    pub command: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code (-1 when killed by a signal).
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Panics with the whole transcript unless the command exited 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command failed: {self}");
        self
    }

    /// Panics with the whole transcript unless the command failed.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(!self.success(), "command unexpectedly succeeded: {self}");
        self
    }

    /// Panics unless stdout is exactly `expected`.
    #[track_caller]
    pub fn assert_stdout(&self, expected: &str) -> &Self {
        assert_eq!(self.stdout, expected, "unexpected stdout of {self}");
        self
    }

    /// Panics unless stdout contains `needle`.
    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert!(self.stdout.contains(needle), "stdout lacks {needle:?}: {self}");
        self
    }

    /// Panics unless stderr contains `needle`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}: {self}");
        self
    }

    /// stdout split into lines, each with trailing spaces removed (kubectl pads table cells).
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lines().map(|line| line.trim_end().to_string()).collect()
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(value) => value,
            Err(error) => panic!("stdout is not JSON ({error}): {self}"),
        }
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// How long a command may run before it is killed as hung.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(90);

/// Runs `command` to completion, feeding `stdin`, and kills it after `deadline`.
pub fn run(mut command: Command, stdin: Option<&[u8]>, deadline: Duration) -> Output {
    let description = describe(&command);
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => panic!("spawn `{description}`: {error}"),
    };
    // Feed stdin and drain both pipes on threads, so that a child blocked on a full pipe
    // never deadlocks against us.
    let writer = stdin.zip(child.stdin.take()).map(|(bytes, mut pipe)| {
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            // A child that exits early closes the pipe: that is its business, not an error here.
            let _ = pipe.write_all(&bytes);
        })
    });
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > deadline => {
                let _ = child.kill();
                match child.wait() {
                    Ok(status) => break status,
                    Err(error) => panic!("wait for `{description}`: {error}"),
                }
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(error) => panic!("wait for `{description}`: {error}"),
        }
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let mut stderr = joined(stderr);
    if started.elapsed() > deadline {
        stderr.push_str(&format!("\n[testkit: killed after {deadline:?}]"));
    }
    Output { status, stdout: joined(stdout), stderr, command: description }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    })
}

fn joined(handle: Option<JoinHandle<Vec<u8>>>) -> String {
    let bytes = handle.and_then(|handle| handle.join().ok()).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub(crate) fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|arg| arg.to_string_lossy().into_owned()));
    words.join(" ")
}

/// A long-running child whose stdout lines are collected as they arrive. Killed on drop.
pub struct Background {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    pub command: String,
}

impl Background {
    pub fn spawn(mut command: Command) -> Background {
        let description = describe(&command);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => panic!("spawn `{description}`: {error}"),
        };
        let (sender, lines) = channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = drain(child.stderr.take());
        Background { child, lines, seen: Vec::new(), stderr, command: description }
    }

    /// The next line, or `None` after `timeout` or at end of output.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Reads lines until one satisfies `predicate`; panics with everything seen after `timeout`.
    #[track_caller]
    pub fn wait_for_line(&mut self, timeout: Duration, predicate: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left) {
                Some(line) if predicate(&line) => return line,
                Some(_) => {}
                None => panic!(
                    "no matching line from `{}` within {timeout:?}; saw:\n{}",
                    self.command,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Collects lines until none arrives for `quiet`.
    pub fn drain_lines(&mut self, quiet: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.next_line(quiet) {
            lines.push(line);
        }
        lines
    }

    /// Every line read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Waits up to `timeout` for the process to exit by itself; kills it otherwise. Returns
    /// the exit status and the remaining stdout lines.
    pub fn finish(mut self, timeout: Duration) -> (ExitStatus, Vec<String>, String) {
        let started = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > timeout => {
                    let _ = self.child.kill();
                    match self.child.wait() {
                        Ok(status) => break status,
                        Err(error) => panic!("wait for `{}`: {error}", self.command),
                    }
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(error) => panic!("wait for `{}`: {error}", self.command),
            }
        };
        let rest = self.drain_lines(Duration::from_millis(200));
        let stderr = joined(self.stderr.take());
        (status, rest, stderr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
