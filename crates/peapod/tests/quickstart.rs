//! Issue 5's quick start, run as the README gives it: `scripts/run.sh` (install what is missing,
//! import the local busybox and nginx images, start `peapod server` and print the `KUBECONFIG`
//! line), then the README's session with the real kubectl: `kubectl run busybox ... -- echo
//! "Hello World"` reaching Completed with `kubectl logs` printing `Hello World`, and `kubectl
//! run nginx` reaching Running and answering on its pod IP from the host. Then the script is
//! stopped as a user stops it (SIGTERM to its process group), `peapod killall` runs with the
//! same node flags, and nothing may be left: no process, mount, cgroup, netns, veth, bridge,
//! iptables rule or data directory.
//!
//! Isolated so it runs beside other tests and servers on the same host: its own data dir, API
//! and kubelet ports (0: any free one), bridge and pod CIDR (10.250-254.x.0/24, outside the
//! range testkit's servers use), all through run.sh's environment variables. It runs the debug
//! binary cargo built (`PEAPOD_BIN`) and the quick-start images testkit builds once per machine
//! the way scripts/build-images.sh does (`PEAPOD_IMAGES`), so nothing is compiled or rebuilt
//! and the repository's `images/out` (which benchmarks read) is never touched.
//!
//! Needs root and the packages of scripts/install-test-deps.sh (with them present run.sh's
//! install step does nothing); skips with a message otherwise.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use testkit::{Kubectl, Table};

/// What the test needs on the host; `None` when it can run, else why not.
fn missing_requirement() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (containers, network namespaces, cgroups)".into());
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    };
    for command in ["curl", "iptables", "ip"] {
        if !on_path(command) {
            return Some(format!("{command} is not installed (scripts/install-test-deps.sh)"));
        }
    }
    if !on_path("crun") && !on_path("runc") {
        return Some("neither crun nor runc is installed (scripts/install-test-deps.sh)".into());
    }
    for (file, package) in [("/bin/busybox", "busybox-static"), ("/usr/sbin/nginx", "nginx-light")] {
        if !Path::new(file).is_file() {
            return Some(format!("{package} is not installed (scripts/install-test-deps.sh)"));
        }
    }
    if !Kubectl::V1_33.path().is_file() {
        return Some(format!("{} is missing (set KUBECTL_DIR)", Kubectl::V1_33.path().display()));
    }
    None
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `scripts/run.sh` running in its own process group, and everything the test created for it.
struct QuickStart {
    child: Option<Child>,
    /// Holds the data dir, the script's stderr (the server's log) and kubectl's HOME.
    scratch: PathBuf,
    data_dir: PathBuf,
    bridge: String,
    pod_cidr: String,
    lines: Receiver<String>,
    seen: Vec<String>,
    cleaned: bool,
}

impl QuickStart {
    fn start() -> QuickStart {
        let images = match testkit::quickstart_images() {
            Ok((busybox, _nginx)) => busybox.parent().map(Path::to_path_buf).expect("images directory"),
            Err(error) => panic!("build the quick-start images: {error:#}"),
        };
        let scratch = tempfile::Builder::new().prefix("peapod-quickstart-").tempdir().expect("temp dir").keep();
        let data_dir = scratch.join("data");
        let pid = std::process::id();
        // A bridge name and a pod CIDR no other test or server on this host uses.
        let bridge = format!("ppq{}", pid % 100_000);
        let pod_cidr = format!("10.{}.{}.0/24", 250 + (pid / 256) % 5, pid % 256);
        let log = std::fs::File::create(scratch.join("run.log")).expect("create run.log");
        let mut command = Command::new("bash");
        command
            .arg(repo().join("scripts/run.sh"))
            .env("PEAPOD_DATA_DIR", &data_dir)
            .env("PEAPOD_BIN", env!("CARGO_BIN_EXE_peapod"))
            .env("PEAPOD_IMAGES", &images)
            .env("PEAPOD_HTTPS_PORT", "0")
            .env("PEAPOD_KUBELET_PORT", "0")
            .env("PEAPOD_BRIDGE_NAME", &bridge)
            .env("PEAPOD_POD_CIDR", &pod_cidr)
            // The caller's settings must not leak into the server (PEAPOD_TOKEN is a flag's env).
            .env_remove("PEAPOD_ARGS")
            .env_remove("PEAPOD_PROFILE")
            .env_remove("PEAPOD_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            // Its own group, so that stopping it is the terminal's Ctrl-C: one signal to all.
            .process_group(0);
        let mut child = command.spawn().expect("spawn scripts/run.sh");
        let stdout = child.stdout.take().expect("run.sh stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        QuickStart { child: Some(child), scratch, data_dir, bridge, pod_cidr, lines, seen: Vec::new(), cleaned: false }
    }

    /// The script's stdout so far and the tail of its stderr, for failure messages.
    fn diagnostics(&self) -> String {
        let log = std::fs::read_to_string(self.scratch.join("run.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
        format!("--- run.sh stdout ---\n{}\n--- run.sh stderr (tail) ---\n{}", self.seen.join("\n"), tail.join("\n"))
    }

    /// Reads the script's output until a line starts with `prefix` (after indentation).
    fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.trim_start().starts_with(prefix) {
                        return line.trim().to_string();
                    }
                }
                Err(_) => break,
            }
        }
        panic!("run.sh printed no line starting with {prefix:?} within {timeout:?}\n{}", self.diagnostics());
    }

    fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> std::process::Output {
        let home = self.scratch.join("home");
        std::fs::create_dir_all(&home).expect("create kubectl HOME");
        let mut command = Command::new("timeout");
        command
            .arg("60")
            .arg(Kubectl::V1_33.path())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("KUBECONFIG", kubeconfig)
            .env("LANG", "C");
        command.output().expect("run kubectl")
    }

    /// The STATUS column of `kubectl get pod NAME`, once the pod exists.
    fn status(&self, kubeconfig: &Path, pod: &str) -> Option<String> {
        let out = self.kubectl(kubeconfig, &["get", "pod", pod]);
        if !out.status.success() {
            return None;
        }
        let table = Table::parse(&String::from_utf8_lossy(&out.stdout));
        let column = table.column("STATUS");
        table.row(pod).map(|row| row[column].clone())
    }

    fn wait_status(&self, kubeconfig: &Path, pod: &str, expected: &str, timeout: Duration) {
        let mut last = None;
        let reached = testkit::eventually(timeout, || {
            last = self.status(kubeconfig, pod);
            last.as_deref() == Some(expected)
        });
        if !reached {
            let describe = self.kubectl(kubeconfig, &["describe", "pod", pod]);
            panic!(
                "pod {pod}: STATUS {last:?}, expected {expected:?} within {timeout:?}\n{}\n{}",
                String::from_utf8_lossy(&describe.stdout),
                self.diagnostics()
            );
        }
    }

    /// SIGTERM to the script's process group (the server, which run.sh `exec`s, and anything
    /// else it started), as Ctrl-C in its terminal; SIGKILL after 30 s. The exit status, or
    /// `None` when it had to be killed.
    fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let group = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        let _ = killpg(group, Signal::SIGTERM);
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if started.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = killpg(group, Signal::SIGKILL);
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }

    /// Stops the script, runs `peapod killall` with the script's node flags and removes the
    /// scratch directory (unless something is still mounted under it). Returns killall's output
    /// when it failed.
    fn clean_up(&mut self) -> Option<String> {
        if self.cleaned {
            return None;
        }
        self.cleaned = true;
        self.stop();
        let killall = Command::new(env!("CARGO_BIN_EXE_peapod"))
            .arg("killall")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--bridge-name", &self.bridge, "--pod-cidr", &self.pod_cidr])
            .output();
        let failure = match killall {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(format!(
                "peapod killall exited with {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(error) => Some(format!("run peapod killall: {error}")),
        };
        // Never recurse into a directory something is still mounted under.
        if mounts_under(&self.scratch).is_empty() {
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
        failure
    }

    /// What the quick start left on the host after [`QuickStart::clean_up`].
    fn leftovers(&self, pod_uids: &[String]) -> Vec<String> {
        let mut found = Vec::new();
        let scratch = self.scratch.to_string_lossy().into_owned();
        for (pid, cmdline) in processes() {
            if cmdline.contains(&scratch) || pod_uids.iter().any(|uid| cmdline.contains(uid.as_str())) {
                found.push(format!("process {pid}: {cmdline}"));
            }
        }
        found.extend(mounts_under(&self.scratch).into_iter().map(|line| format!("mount {line}")));
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for uid in pod_uids {
            found.extend(
                mountinfo.lines().filter(|line| line.contains(uid.as_str())).map(|line| format!("mount {line}")),
            );
            let mut cgroups = vec![Path::new("/sys/fs/cgroup/peapod").join(format!("pod{uid}"))];
            if let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") {
                cgroups.extend(controllers.flatten().map(|c| c.path().join("peapod").join(format!("pod{uid}"))));
            }
            found.extend(cgroups.iter().filter(|path| path.exists()).map(|path| format!("cgroup {}", path.display())));
            let veth = Path::new("/sys/class/net").join(net::host_veth_name(uid));
            if veth.exists() {
                found.push(format!("veth {}", veth.display()));
            }
            let netns = Path::new("/run/peapod/netns").join(uid);
            if netns.exists() {
                found.push(format!("netns {}", netns.display()));
            }
        }
        let bridge = Path::new("/sys/class/net").join(&self.bridge);
        if bridge.exists() {
            found.push(format!("bridge {}", bridge.display()));
        }
        if let Ok(rules) = Command::new("iptables-save").output() {
            let rules = String::from_utf8_lossy(&rules.stdout);
            found.extend(
                rules
                    .lines()
                    .filter(|rule| rule.split_whitespace().any(|word| word == self.pod_cidr || word == self.bridge))
                    .map(|rule| format!("iptables rule {rule}")),
            );
        }
        if self.scratch.exists() {
            found.push(format!("directory {}", self.scratch.display()));
        }
        found
    }
}

impl Drop for QuickStart {
    fn drop(&mut self) {
        // A failed test still stops the server and the pods and removes what it made.
        if let Some(failure) = self.clean_up() {
            eprintln!("{failure}");
        }
    }
}

fn processes() -> Vec<(i32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")))
        })
        .collect()
}

/// The mountinfo lines of mounts at or under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter(|line| {
            line.split(' ').nth(4).is_some_and(|point| point == dir || point.starts_with(&format!("{dir}/")))
        })
        .map(str::to_string)
        .collect()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn assert_success(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn readme_quick_start_with_run_sh() {
    if let Some(reason) = missing_requirement() {
        eprintln!("skipping: {reason}");
        return;
    }
    let started = Instant::now();
    let mut quick = QuickStart::start();

    // The line the README tells the user to paste: it names the data dir's kubeconfig.
    let line = quick.wait_for_line("export KUBECONFIG=", Duration::from_secs(180));
    let kubeconfig = PathBuf::from(line.trim_start_matches("export KUBECONFIG="));
    assert_eq!(kubeconfig, quick.data_dir.join("kubeconfig.yaml"), "{line}");

    // The script prints the line as it starts the server: the node is ready shortly after.
    let mut nodes = String::new();
    let node_ready = testkit::eventually(Duration::from_secs(60), || {
        let out = quick.kubectl(&kubeconfig, &["get", "nodes"]);
        nodes = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            return false;
        }
        let table = Table::parse(&nodes);
        let status =
            table.names().first().and_then(|name| table.row(name)).map(|row| row[table.column("STATUS")].clone());
        status.as_deref() == Some("Ready")
    });
    assert!(node_ready, "no Ready node: {nodes}\n{}", quick.diagnostics());

    // `kubectl run busybox --image=busybox --restart=Never -- echo "Hello World"`; the default
    // service account may take a moment to appear after the server starts.
    let mut run = None;
    let created = testkit::eventually(Duration::from_secs(30), || {
        let out = quick.kubectl(
            &kubeconfig,
            &["run", "busybox", "--image=busybox", "--restart=Never", "--", "echo", "Hello World"],
        );
        let ok = out.status.success();
        run = Some(out);
        ok
    });
    let run = run.expect("kubectl run ran");
    assert!(created, "kubectl run busybox: {}{}", stdout(&run), String::from_utf8_lossy(&run.stderr));
    assert_eq!(stdout(&run), "pod/busybox created\n");
    quick.wait_status(&kubeconfig, "busybox", "Completed", Duration::from_secs(90));
    let logs = quick.kubectl(&kubeconfig, &["logs", "busybox"]);
    assert_success(&logs, "kubectl logs busybox");
    assert_eq!(stdout(&logs), "Hello World\n");

    // `kubectl run nginx --image nginx`, then the page from the host on the pod IP.
    let nginx = quick.kubectl(&kubeconfig, &["run", "nginx", "--image", "nginx"]);
    assert_success(&nginx, "kubectl run nginx");
    assert_eq!(stdout(&nginx), "pod/nginx created\n");
    quick.wait_status(&kubeconfig, "nginx", "Running", Duration::from_secs(90));
    let ip = quick.kubectl(&kubeconfig, &["get", "pod", "nginx", "-o", "jsonpath={.status.podIP}"]);
    assert_success(&ip, "kubectl get pod nginx");
    let ip = stdout(&ip);
    assert!(ip.starts_with(quick.pod_cidr.trim_end_matches("0/24")), "pod IP {ip:?} not in {}", quick.pod_cidr);
    let url = format!("http://{ip}:80/");
    let mut page = String::new();
    // Running means started: nginx may need a moment more to listen.
    let served = testkit::eventually(Duration::from_secs(20), || {
        let out = Command::new("curl").args(["-s", "--max-time", "5", &url]).output().expect("run curl");
        page = stdout(&out);
        out.status.success() && page.contains("Welcome to nginx!")
    });
    assert!(served, "curl {url}: {page:?}\n{}", quick.diagnostics());

    let mut uids = Vec::new();
    for pod in ["busybox", "nginx"] {
        let uid = quick.kubectl(&kubeconfig, &["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"]);
        assert_success(&uid, "kubectl get pod uid");
        uids.push(stdout(&uid));
    }
    let session = started.elapsed();

    // Ctrl-C: the server stops by itself (and cleanly); the pods outlive it until killall.
    let status = quick.stop();
    let diagnostics = quick.diagnostics();
    assert!(status.is_some(), "run.sh did not stop within 30 s of SIGTERM\n{diagnostics}");
    assert!(status.is_some_and(|status| status.success()), "run.sh exited with {status:?} on SIGTERM\n{diagnostics}");
    if let Some(failure) = quick.clean_up() {
        panic!("{failure}\n{diagnostics}");
    }
    let mut left = Vec::new();
    let clean = testkit::eventually(Duration::from_secs(10), || {
        left = quick.leftovers(&uids);
        left.is_empty()
    });
    assert!(clean, "the quick start left behind: {left:#?}");
    eprintln!("quick start: session {session:?}, with stop and clean-up {:?}", started.elapsed());
}
