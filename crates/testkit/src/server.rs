//! A real `peapod server` process (without its node agent unless asked) on a free loopback
//! port and a temporary data directory: start, wait for `/readyz`, read the generated kubeconfig, kill, restart on the
//! same data directory.
//!
//! The server runs under a small wrapper shell that reads its stdin: when the test process
//! exits, even without running destructors (the shared server is a static), the pipe closes
//! and the wrapper stops the server and removes the temporary directory. No server outlives
//! its tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The wrapper: starts the server in the background, reports its pid, waits for stdin to
/// close, then stops the server and, if it still owns the directory, stops the pods its agent
/// left running (`peapod killall`) and removes the directory.
const WRAPPER: &str = r#"
bin="$1"; root="$2"; port="$3"; clean="$4"; node="$5"; shift 5
if [ "$clean" = 1 ]; then echo $$ > "$root/.testkit-owner"; fi
"$bin" server --data-dir "$root" --https-port "$port" --bind-address 127.0.0.1 "$@" \
    >>"$root/server.log" 2>&1 </dev/null &
pid=$!
echo "$pid"
read -r _ignored
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if [ "$clean" = 1 ] && [ "$(cat "$root/.testkit-owner" 2>/dev/null)" = "$$" ]; then
    # An agent leaves its pods running when it stops: stop them, with their network.
    if [ "$node" != - ]; then "$bin" killall --data-dir "$root" $node >>"$root/server.log" 2>&1; fi
    rm -rf "$root"
fi
"#;

/// How long the server may take to answer `/readyz` with `ok`.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// The `peapod` binary the harness runs: `$PEAPOD_BIN`, else `target/debug/peapod` found from
/// the running test executable (`target/debug/deps/<test>`), else `target/debug/peapod`.
pub fn peapod_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PEAPOD_BIN") {
        return PathBuf::from(bin);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
        && let Some(profile) = deps.parent()
    {
        let candidate = profile.join("peapod");
        if candidate.is_file() {
            return candidate;
        }
    }
    PathBuf::from("target/debug/peapod")
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The binary (default: [`peapod_bin`]).
    pub bin: Option<PathBuf>,
    /// An existing data directory to reuse; it is then never removed. Default: a fresh
    /// temporary directory removed when the server stops.
    pub data_dir: Option<PathBuf>,
    /// Extra flags for `peapod server`.
    pub extra_args: Vec<String>,
    /// Run the in-process node agent (real containers: needs root), on a pod CIDR and bridge
    /// of its own and any free kubelet port. Default: `--disable-agent`.
    pub agent: bool,
    /// Image tarballs the agent imports when it starts (see [`crate::quickstart_images`]).
    pub import_images: Vec<PathBuf>,
}

/// The node flags of a server with an agent: the pod CIDR and bridge are derived from the API
/// port, which no other running server holds, so concurrent test servers never share them.
fn node_args(port: u16) -> Vec<String> {
    let cidr = format!("10.{}.{}.0/24", 200 + (port / 256) % 50, port % 256);
    ["--pod-cidr", &cidr, "--bridge-name", &format!("pp{port}")].map(String::from).to_vec()
}

/// A running `peapod server`.
pub struct Server {
    root: PathBuf,
    port: u16,
    bin: PathBuf,
    extra_args: Vec<String>,
    /// `--pod-cidr .. --bridge-name ..` of a server with an agent, for `peapod killall`.
    node_args: Option<Vec<String>>,
    clean: bool,
    wrapper: Option<Child>,
    wrapper_stdin: Option<ChildStdin>,
    pid: i32,
    token: String,
    ca_file: PathBuf,
}

impl Server {
    /// A fresh server on a temporary data directory.
    pub fn start() -> anyhow::Result<Server> {
        Server::start_with(ServerOptions::default())
    }

    pub fn start_with(options: ServerOptions) -> anyhow::Result<Server> {
        let bin = options.bin.unwrap_or_else(peapod_bin);
        if !bin.is_file() {
            bail!("peapod binary {} not found: build it (cargo build -p peapod) or set PEAPOD_BIN", bin.display());
        }
        let keep = std::env::var_os("PEAPOD_TEST_KEEP").is_some();
        let (root, clean) = match options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
                (dir, false)
            }
            None => {
                let dir = tempfile::Builder::new().prefix("peapod-test-").tempdir().context("create a temp dir")?;
                (dir.keep(), !keep)
            }
        };
        if !options.import_images.is_empty() {
            let import = root.join("agent/images/import");
            std::fs::create_dir_all(&import).with_context(|| format!("create {}", import.display()))?;
            for image in &options.import_images {
                let name = image.file_name().context("image tarball without a file name")?;
                std::fs::copy(image, import.join(name)).with_context(|| format!("copy {}", image.display()))?;
            }
        }
        let mut last_error = None;
        // A port found free can be taken by someone else before the server binds it: retry.
        for _ in 0..3 {
            let port = free_port()?;
            let mut server = Server {
                root: root.clone(),
                port,
                bin: bin.clone(),
                node_args: options.agent.then(|| node_args(port)),
                extra_args: if options.agent {
                    ["--kubelet-port".to_string(), "0".to_string()]
                        .into_iter()
                        .chain(node_args(port))
                        .chain(options.extra_args.iter().cloned())
                        .collect()
                } else {
                    std::iter::once("--disable-agent".to_string()).chain(options.extra_args.iter().cloned()).collect()
                },
                clean,
                wrapper: None,
                wrapper_stdin: None,
                pid: 0,
                token: String::new(),
                ca_file: root.join("testkit-ca.pem"),
            };
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("server did not start")))
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WRAPPER)
            .arg("sh")
            .arg(&self.bin)
            .arg(&self.root)
            .arg(self.port.to_string())
            .arg(if self.clean { "1" } else { "0" })
            .arg(self.node_args.as_ref().map_or_else(|| "-".to_string(), |args| args.join(" ")))
            .args(&self.extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut wrapper = command.spawn().context("spawn sh")?;
        let stdin = wrapper.stdin.take();
        let pid = {
            use std::io::BufRead;
            let stdout = wrapper.stdout.take().context("wrapper stdout")?;
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line).context("read the server pid")?;
            line.trim().parse::<i32>().with_context(|| format!("server pid {line:?}"))?
        };
        self.wrapper = Some(wrapper);
        self.wrapper_stdin = stdin;
        self.pid = pid;
        if let Err(error) = self.wait_ready() {
            self.stop_process();
            return Err(error.context(format!("server log:\n{}", self.log())));
        }
        self.load_credentials()
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let url = format!("{}/readyz", self.url());
        loop {
            if kill(Pid::from_raw(self.pid), None).is_err() {
                bail!("peapod server exited before it was ready");
            }
            let output = Command::new("curl")
                .args(["-sk", "--max-time", "2", &url])
                .stderr(Stdio::null())
                .output()
                .context("run curl")?;
            if output.status.success() && output.stdout == b"ok" && self.kubeconfig().is_file() {
                return Ok(());
            }
            if started.elapsed() > READY_DEADLINE {
                bail!("/readyz did not answer ok within {READY_DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reads the admin token and the CA from the kubeconfig the server wrote.
    fn load_credentials(&mut self) -> anyhow::Result<()> {
        let kubeconfig = std::fs::read_to_string(self.kubeconfig()).context("read kubeconfig")?;
        let field = |name: &str| {
            kubeconfig.lines().find_map(|line| line.trim().strip_prefix(name).map(|value| value.trim().to_string()))
        };
        self.token = field("token:").context("kubeconfig has no token")?;
        let ca = field("certificate-authority-data:").context("kubeconfig has no CA")?;
        let pem = base64::engine::general_purpose::STANDARD.decode(ca).context("CA data is not base64")?;
        std::fs::write(&self.ca_file, pem).context("write the CA file")?;
        Ok(())
    }

    /// Stops the server process (SIGTERM through the wrapper, SIGKILL after 10 s).
    fn stop_process(&mut self) {
        self.wrapper_stdin.take();
        if let Some(mut wrapper) = self.wrapper.take() {
            let started = Instant::now();
            loop {
                match wrapper.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if started.elapsed() > Duration::from_secs(10) => {
                        let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
                        let _ = wrapper.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
    }

    /// Sends `signal` to the server process itself (not the wrapper), e.g. SIGKILL for the
    /// durability test, and waits until it has exited.
    pub fn signal(&mut self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.pid), signal);
        let started = Instant::now();
        while kill(Pid::from_raw(self.pid), None).is_ok() && started.elapsed() < Duration::from_secs(15) {
            // The process stays a zombie until the wrapper reaps it; the wrapper is blocked in
            // `read`, so check the state instead of existence.
            if is_zombie(self.pid) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `kill -9` of the server.
    pub fn kill9(&mut self) {
        self.signal(Signal::SIGKILL);
    }

    /// Starts a new server process on the same data directory and port, after the old one was
    /// killed or stopped.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.clean {
            // The old wrapper must not remove the directory the new one is about to use.
            std::fs::write(self.root.join(".testkit-owner"), "restarting").context("mark owner")?;
        }
        self.stop_process();
        // The port may stay busy for a moment after a kill: retry the launch for a while.
        let started = Instant::now();
        loop {
            match self.launch() {
                Ok(()) => return Ok(()),
                Err(error) if started.elapsed() > Duration::from_secs(20) => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The data directory (also the harness' scratch directory).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// `DATA_DIR/kubeconfig.yaml`
    pub fn kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig.yaml")
    }

    /// The admin bearer token from the kubeconfig.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The cluster CA certificate (PEM), extracted from the kubeconfig.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// Writes `contents` to `name` in a scratch directory of this server and returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let dir = self.root.join("files");
        let path = dir.join(name);
        let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, contents));
        if let Err(error) = written {
            panic!("write {}: {error}", path.display());
        }
        path
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_process();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn is_zombie(pid: i32) -> bool {
    // /proc/PID/stat: "pid (comm) S ..."; the state follows the last ')'.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}
