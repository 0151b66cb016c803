//! The shim process itself: one thread, one epoll loop over the control socket, a signalfd
//! (SIGCHLD, SIGTERM, SIGINT) and the containers' output pipes.
//!
//! It owns the pod's IPC/UTS namespaces, the containers' stdio and their exit codes. It must
//! not block on a client (every connection is non-blocking with its own output buffer) and
//! must not allocate per log line (one shared read buffer, one entry buffer, one fixed line
//! buffer per stream). OCI runtime commands run synchronously: they take tens of
//! milliseconds, during which the pipes buffer the containers' output.

use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind as IoErrorKind, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, Flock, FlockArg, OFlag, fcntl};
use nix::sched::{CloneFlags, unshare};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::ShimError;
use super::log::{
    DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE, LineSplitter, LogFile, MAX_LINE, StreamKind, format_entry,
};
use super::protocol::{AttachStream, ContainerInfo, CreateContainer, ErrorKind, ExitEvent, Request, Response, Status};
use super::state;
use super::time::rfc3339;

/// What `peapod shim` is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimArgs {
    /// The pod's shim directory: `shim.sock`, `shim.pid`, `shim.log`, `containers/`.
    pub pod_dir: PathBuf,
    /// The OCI runtime (`crun` or `runc`).
    pub runtime_binary: PathBuf,
    /// The runtime's state directory (`--root`).
    pub runtime_root: PathBuf,
    /// The pod's UTS hostname; `None` keeps the node's name in the new namespace.
    pub hostname: Option<String>,
}

const LISTENER: u64 = 0;
const SIGNALS: u64 = 1;
const CONN_BASE: u64 = 1 << 40;
const STREAM_BASE: u64 = 1 << 41;
/// A client sending this much without a newline is dropped.
const MAX_REQUEST: usize = 1 << 20;
/// A subscriber that lets this much pile up unread is dropped rather than grow the shim.
const MAX_PENDING_OUTPUT: usize = 1 << 20;
/// How long `delete`/`shutdown` wait for a SIGKILLed init to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(10);

type Failure = (ErrorKind, String);

/// Runs the shim until `Shutdown`, SIGTERM or SIGINT. Call it from a process that has not
/// started any thread (it changes namespaces and the signal mask of the whole process).
pub fn run(args: ShimArgs) -> Result<(), ShimError> {
    std::fs::create_dir_all(args.pod_dir.join(state::CONTAINERS_DIR))?;
    redirect_stdio(&args.pod_dir)?;
    // A new session: the agent's terminal, process group and death do not reach the shim.
    // EPERM means it already leads a process group (started that way on purpose); keep it.
    match nix::unistd::setsid() {
        Ok(_) | Err(Errno::EPERM) => {}
        Err(e) => return Err(ShimError::Io(e.into())),
    }
    std::env::set_current_dir("/")?;
    let _lock = lock_pid_file(&args.pod_dir)?;
    // Container inits are reparented to the shim when the runtime's `create` exits, so the
    // shim can reap them and learn their exit status.
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
    unshare(CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS).map_err(io::Error::from)?;
    if let Some(name) = &args.hostname {
        nix::unistd::sethostname(name).map_err(io::Error::from)?;
    }
    let mut server = Server::new(args)?;
    tracing::info!(pid = std::process::id(), dir = %server.args.pod_dir.display(), "shim serving");
    server.serve()?;
    server.cleanup_files();
    Ok(())
}

/// stdin from /dev/null, stdout and stderr to `DIR/shim.log`: the agent's pipes or terminal
/// must not keep the shim alive or kill it with SIGPIPE.
fn redirect_stdio(dir: &Path) -> io::Result<()> {
    let log = OpenOptions::new().create(true).append(true).open(dir.join("shim.log"))?;
    let null = File::open("/dev/null")?;
    nix::unistd::dup2_stdin(&null)?;
    nix::unistd::dup2_stdout(&log)?;
    nix::unistd::dup2_stderr(&log)?;
    Ok(())
}

/// One shim per pod directory: an exclusive lock on `shim.pid`, held until exit.
fn lock_pid_file(dir: &Path) -> Result<Flock<File>, ShimError> {
    let file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(dir.join("shim.pid"))?;
    let mut lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| match e {
        Errno::EWOULDBLOCK => ShimError::AlreadyRunning(dir.to_path_buf()),
        e => ShimError::Io(e.into()),
    })?;
    lock.set_len(0)?;
    writeln!(*lock, "{}", std::process::id())?;
    Ok(lock)
}

struct Stream {
    fd: OwnedFd,
    kind: StreamKind,
    splitter: LineSplitter,
}

struct Container {
    info: ContainerInfo,
    log: Option<LogFile>,
    /// stdout (or the pty master) and stderr.
    streams: [Option<Stream>; 2],
    /// The write end of the stdin pipe (or a duplicate of the pty master), non-blocking.
    /// Held while no one is attached, so the container's reads block instead of seeing end
    /// of file; dropped (end of file) when a `close_stdin` attachment ends.
    stdin: Option<OwnedFd>,
    /// The connection attached to stdin (one at a time).
    stdin_conn: Option<usize>,
}

struct Conn {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    subscribed: bool,
    /// The epoll interest registered: IN unless an attached stdin is backlogged, OUT while
    /// output is pending.
    flags: EpollFlags,
    /// A raw stream of one container (after `attach`).
    attach: Option<Attach>,
    /// Close once `output` is written (the attached stream ended).
    close_when_flushed: bool,
}

#[derive(Clone, Copy)]
struct Attach {
    slot: usize,
    stream: AttachStream,
    close_stdin: bool,
}

struct Server {
    args: ShimArgs,
    epoll: Epoll,
    listener: UnixListener,
    signals: SignalFd,
    containers: Vec<Option<Container>>,
    conns: Vec<Option<Conn>>,
    read_buf: Box<[u8]>,
    entry: Vec<u8>,
    exit: bool,
}

impl Server {
    fn new(args: ShimArgs) -> Result<Self, ShimError> {
        let mut mask = SigSet::empty();
        for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            mask.add(s);
        }
        // Blocked so that they only arrive through the signalfd; children get an empty mask
        // back from std's spawn.
        mask.thread_block().map_err(io::Error::from)?;
        let signals =
            SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(io::Error::from)?;
        let sock = args.pod_dir.join("shim.sock");
        // A socket left by a dead shim (the pid-file lock proves none is alive).
        match std::fs::remove_file(&sock) {
            Err(e) if e.kind() != IoErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let listener = UnixListener::bind(&sock)?;
        listener.set_nonblocking(true)?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(io::Error::from)?;
        epoll.add(&listener, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER)).map_err(io::Error::from)?;
        epoll.add(&signals, EpollEvent::new(EpollFlags::EPOLLIN, SIGNALS)).map_err(io::Error::from)?;
        let mut server = Server {
            args,
            epoll,
            listener,
            signals,
            containers: Vec::new(),
            conns: Vec::new(),
            read_buf: vec![0; 64 * 1024].into_boxed_slice(),
            entry: Vec::with_capacity(MAX_LINE + 64),
            exit: false,
        };
        server.adopt_records();
        Ok(server)
    }

    /// Records left by an earlier shim of this pod. Exited containers keep their exit code;
    /// containers that were created or running lost their watcher and their stdio: they are
    /// removed from the runtime and reported exited with the unknown code 255.
    fn adopt_records(&mut self) {
        for mut info in state::load_all(&self.args.pod_dir) {
            if info.status != Status::Exited {
                tracing::warn!(id = %info.id, "container outlived its shim; killing it");
                let _ = self.runtime(&["delete", "--force", &info.id]);
                info.status = Status::Exited;
                info.exit_code = Some(255);
                info.finished_at = Some(rfc3339(SystemTime::now()));
                self.persist(&info);
            }
            let c = Container { info, log: None, streams: [None, None], stdin: None, stdin_conn: None };
            self.containers.push(Some(c));
        }
    }

    fn serve(&mut self) -> Result<(), ShimError> {
        let mut events = [EpollEvent::empty(); 64];
        while !self.exit {
            let n = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(ShimError::Io(e.into())),
            };
            for ev in &events[..n] {
                match ev.data() {
                    LISTENER => self.accept(),
                    SIGNALS => self.on_signals(),
                    t if t >= STREAM_BASE => {
                        let t = t - STREAM_BASE;
                        let (slot, idx) = ((t / 3) as usize, (t % 3) as usize);
                        if idx == 2 { self.write_stdin(slot) } else { self.pump(slot, idx, false) }
                    }
                    t if t >= CONN_BASE => self.on_conn((t - CONN_BASE) as usize, ev.events()),
                    _ => {}
                }
                if self.exit {
                    break;
                }
            }
        }
        Ok(())
    }

    fn cleanup_files(&self) {
        let _ = std::fs::remove_file(self.args.pod_dir.join("shim.sock"));
        let _ = std::fs::remove_file(self.args.pod_dir.join("shim.pid"));
    }

    // ---- signals and exits ----

    fn on_signals(&mut self) {
        loop {
            match self.signals.read_signal() {
                Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) => self.reap(),
                    Ok(Signal::SIGTERM | Signal::SIGINT) => {
                        tracing::info!("signal received: shutting down the pod's containers");
                        self.shutdown_all();
                        self.exit = true;
                    }
                    _ => {}
                },
                Ok(None) => return,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    tracing::warn!("signalfd: {e}");
                    return;
                }
            }
        }
    }

    /// Reaps every exited child: container inits (exit recorded) and anything else that was
    /// reparented to the shim (discarded).
    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.on_exit(pid, code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => self.on_exit(pid, 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    tracing::warn!("waitpid: {e}");
                    return;
                }
            }
        }
    }

    fn on_exit(&mut self, pid: Pid, code: i32) {
        let pid = pid.as_raw() as u32;
        let Some(slot) = self
            .containers
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.info.pid == Some(pid) && c.info.status != Status::Exited))
        else {
            return;
        };
        // What the container wrote before exiting is in the pipes: log it before anyone can
        // learn of the exit and read the log.
        self.pump(slot, 0, true);
        self.pump(slot, 1, true);
        let Some(c) = self.containers[slot].as_mut() else { return };
        let finished = rfc3339(SystemTime::now());
        c.info.status = Status::Exited;
        c.info.exit_code = Some(code);
        c.info.finished_at = Some(finished.clone());
        let event = ExitEvent { id: c.info.id.clone(), pid: Some(pid), exit_code: code, finished_at: finished };
        let info = c.info.clone();
        self.persist(&info);
        tracing::info!(id = %event.id, code, "container exited");
        self.broadcast(&Response::Exit(event));
    }

    fn persist(&self, info: &ContainerInfo) {
        if let Err(e) = state::save(&self.args.pod_dir, info) {
            tracing::error!(id = %info.id, "persisting container state: {e}");
        }
    }

    // ---- container output ----

    /// Copies available output of one stream into the log (`drain`: until the pipe is empty,
    /// else one read, the level-triggered epoll calling again).
    fn pump(&mut self, slot: usize, idx: usize, drain: bool) {
        self.pump_inner(slot, idx, drain);
        // Attached clients of this container: write what was queued, drop the slow ones,
        // close those whose stream ended.
        for c in 0..self.conns.len() {
            let Some(conn) = &self.conns[c] else { continue };
            if conn.attach.is_some_and(|a| a.slot == slot) {
                if conn.output.len() > MAX_PENDING_OUTPUT {
                    tracing::warn!("dropping an attached client that does not read");
                    self.close(c);
                } else {
                    self.flush(c);
                }
            }
        }
    }

    fn pump_inner(&mut self, slot: usize, idx: usize, drain: bool) {
        let Server { containers, read_buf, entry, epoll, conns, .. } = self;
        let attached = if idx == 0 { AttachStream::Stdout } else { AttachStream::Stderr };
        let Some(Some(c)) = containers.get_mut(slot) else { return };
        let Container { log, streams, info, .. } = c;
        loop {
            let Some(stream) = streams[idx].as_mut() else { return };
            let kind = stream.kind;
            let mut emit = |partial: bool, content: &[u8]| {
                format_entry(entry, SystemTime::now(), kind, partial, content);
                if let Some(log) = log.as_mut()
                    && let Err(e) = log.write_entry(entry)
                {
                    tracing::warn!(id = %info.id, "writing the container log: {e}");
                }
            };
            match nix::unistd::read(&stream.fd, read_buf) {
                Ok(0) | Err(Errno::EIO) => {
                    // End of stream (EIO: the pty's last slave closed).
                    stream.splitter.finish(&mut emit);
                    for conn in conns.iter_mut().flatten() {
                        if conn.attach.is_some_and(|a| a.slot == slot && a.stream == attached) {
                            conn.close_when_flushed = true;
                        }
                    }
                    let _ = epoll.delete(&stream.fd);
                    streams[idx] = None;
                    if streams.iter().all(Option::is_none) {
                        *log = None;
                    }
                    return;
                }
                Ok(n) => {
                    stream.splitter.feed(&read_buf[..n], &mut emit);
                    for conn in conns.iter_mut().flatten() {
                        if conn.attach.is_some_and(|a| a.slot == slot && a.stream == attached)
                            && conn.output.len() <= MAX_PENDING_OUTPUT
                        {
                            conn.output.extend_from_slice(&read_buf[..n]);
                        }
                    }
                    if !drain {
                        return;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(e) => {
                    tracing::warn!(id = %info.id, "reading container output: {e}");
                    let _ = epoll.delete(&stream.fd);
                    streams[idx] = None;
                    return;
                }
            }
        }
    }

    // ---- connections ----

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if let Err(e) = stream.set_nonblocking(true) {
                        tracing::warn!("accept: {e}");
                        continue;
                    }
                    let slot = free_slot(&mut self.conns);
                    let token = CONN_BASE + slot as u64;
                    if let Err(e) = self.epoll.add(&stream, EpollEvent::new(EpollFlags::EPOLLIN, token)) {
                        tracing::warn!("epoll: {e}");
                        continue;
                    }
                    self.conns[slot] = Some(Conn {
                        stream,
                        input: Vec::new(),
                        output: Vec::new(),
                        subscribed: false,
                        flags: EpollFlags::EPOLLIN,
                        attach: None,
                        close_when_flushed: false,
                    });
                }
                Err(e) if e.kind() == IoErrorKind::WouldBlock => return,
                Err(e) if e.kind() == IoErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn on_conn(&mut self, slot: usize, events: EpollFlags) {
        if events.contains(EpollFlags::EPOLLOUT) {
            self.flush(slot);
        }
        if !events.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
            return;
        }
        let mut closed = false;
        let attach = {
            let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
            let mut buf = [0u8; 4096];
            match conn.stream.read(&mut buf) {
                Ok(0) => closed = true,
                Ok(n) => conn.input.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), IoErrorKind::WouldBlock | IoErrorKind::Interrupted) => {}
                Err(_) => closed = true,
            }
            conn.attach
        };
        match attach {
            Some(a) if a.stream == AttachStream::Stdin => {
                self.write_stdin(a.slot);
                if closed {
                    self.close(slot);
                }
                return;
            }
            Some(_) => {
                // An output attachment: what the client sends is not for anyone.
                if let Some(Some(conn)) = self.conns.get_mut(slot) {
                    conn.input.clear();
                }
                if closed {
                    self.close(slot);
                }
                return;
            }
            None => {}
        }
        while let Some(line) = self.next_line(slot) {
            let response = self.handle(slot, &line);
            self.send(slot, &response);
            if self.exit {
                // Shutdown: the answer must reach the client before the process exits.
                if let Some(Some(conn)) = self.conns.get_mut(slot) {
                    let _ = conn.stream.set_nonblocking(false);
                    let _ = conn.stream.set_write_timeout(Some(Duration::from_secs(1)));
                    let _ = conn.stream.write_all(&conn.output);
                }
                return;
            }
            // After `attach` the rest of the input is the stream's, not requests.
            if let Some(Some(Conn { attach: Some(a), .. })) = self.conns.get(slot) {
                if a.stream == AttachStream::Stdin {
                    self.write_stdin(a.slot);
                }
                break;
            }
        }
        let oversized =
            matches!(self.conns.get(slot), Some(Some(c)) if c.attach.is_none() && c.input.len() > MAX_REQUEST);
        if closed || oversized {
            self.close(slot);
        }
    }

    /// Writes the attached stdin connection's pending bytes to the container's stdin. When
    /// the pipe is full the connection stops being read and the pipe is watched for room.
    fn write_stdin(&mut self, cslot: usize) {
        let Some(Some(c)) = self.containers.get_mut(cslot) else { return };
        let (Some(conn_slot), Some(fd)) = (c.stdin_conn, c.stdin.as_ref()) else { return };
        let Some(Some(conn)) = self.conns.get_mut(conn_slot) else { return };
        let mut broken = false;
        while !conn.input.is_empty() {
            match nix::unistd::write(fd, &conn.input) {
                Ok(n) => {
                    conn.input.drain(..n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => break,
                Err(_) => {
                    // EPIPE: nothing reads the container's stdin any more.
                    broken = true;
                    break;
                }
            }
        }
        if conn.input.is_empty() || broken {
            let _ = self.epoll.delete(fd);
        } else {
            let token = STREAM_BASE + (cslot as u64) * 3 + 2;
            if self.epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLOUT, token)).is_err() {
                let _ = self.epoll.modify(fd, &mut EpollEvent::new(EpollFlags::EPOLLOUT, token));
            }
        }
        if broken {
            self.close(conn_slot);
        } else {
            self.update_interest(conn_slot);
        }
    }

    fn next_line(&mut self, slot: usize) -> Option<Vec<u8>> {
        let conn = self.conns.get_mut(slot)?.as_mut()?;
        let pos = conn.input.iter().position(|&b| b == b'\n')?;
        let mut line: Vec<u8> = conn.input.drain(..=pos).collect();
        line.pop();
        Some(line)
    }

    fn send(&mut self, slot: usize, response: &Response) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        if serde_json::to_writer(&mut conn.output, response).is_err() {
            return;
        }
        conn.output.push(b'\n');
        if conn.output.len() > MAX_PENDING_OUTPUT {
            tracing::warn!("dropping a client that does not read");
            self.close(slot);
            return;
        }
        self.flush(slot);
    }

    fn flush(&mut self, slot: usize) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        while !conn.output.is_empty() {
            match conn.stream.write(&conn.output) {
                Ok(n) => {
                    conn.output.drain(..n);
                }
                Err(e) if e.kind() == IoErrorKind::Interrupted => {}
                Err(e) if e.kind() == IoErrorKind::WouldBlock => break,
                Err(_) => {
                    self.close(slot);
                    return;
                }
            }
        }
        if conn.output.is_empty() && conn.close_when_flushed {
            self.close(slot);
            return;
        }
        self.update_interest(slot);
    }

    fn update_interest(&mut self, slot: usize) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        let backlogged = conn.attach.is_some_and(|a| a.stream == AttachStream::Stdin) && !conn.input.is_empty();
        let mut flags = EpollFlags::empty();
        if !backlogged {
            flags |= EpollFlags::EPOLLIN;
        }
        if !conn.output.is_empty() {
            flags |= EpollFlags::EPOLLOUT;
        }
        if flags != conn.flags {
            let mut ev = EpollEvent::new(flags, CONN_BASE + slot as u64);
            if self.epoll.modify(&conn.stream, &mut ev).is_ok() {
                conn.flags = flags;
            }
        }
    }

    fn close(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::take) else { return };
        let _ = self.epoll.delete(&conn.stream);
        let Some(a) = conn.attach else { return };
        if a.stream != AttachStream::Stdin {
            return;
        }
        if let Some(Some(c)) = self.containers.get_mut(a.slot)
            && c.stdin_conn == Some(slot)
        {
            c.stdin_conn = None;
            // `stdinOnce`: the end of the attachment is the end of the container's stdin.
            if a.close_stdin
                && let Some(fd) = c.stdin.take()
            {
                let _ = self.epoll.delete(&fd);
            }
        }
    }

    fn broadcast(&mut self, response: &Response) {
        for slot in 0..self.conns.len() {
            if matches!(&self.conns[slot], Some(c) if c.subscribed) {
                self.send(slot, response);
            }
        }
    }

    // ---- requests ----

    fn handle(&mut self, slot: usize, line: &[u8]) -> Response {
        let request: Request = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => return error(ErrorKind::Invalid, format!("bad request: {e}")),
        };
        let result = match request {
            Request::Create(spec) => self.create(spec).map(Response::Container),
            Request::Start { id } => self.start(&id).map(Response::Container),
            Request::Kill { id, signal } => self.kill(&id, signal).map(|()| Response::Ok),
            Request::Delete { id } => self.delete(&id).map(|()| Response::Ok),
            Request::State => {
                let mut containers: Vec<ContainerInfo> =
                    self.containers.iter().flatten().map(|c| c.info.clone()).collect();
                // Slots are reused: order by creation (fixed-width timestamps sort as text).
                containers.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
                Ok(Response::State { shim_pid: std::process::id(), containers })
            }
            Request::Subscribe => {
                if let Some(Some(conn)) = self.conns.get_mut(slot) {
                    conn.subscribed = true;
                }
                Ok(Response::Subscribed)
            }
            Request::Attach { id, stream, close_stdin } => {
                self.attach(slot, &id, stream, close_stdin).map(|()| Response::Attached)
            }
            Request::Resize { id, width, height } => self.resize(&id, width, height).map(|()| Response::Ok),
            Request::Shutdown => {
                self.shutdown_all();
                self.exit = true;
                Ok(Response::Ok)
            }
        };
        result.unwrap_or_else(|(kind, message)| error(kind, message))
    }

    fn find(&self, id: &str) -> Result<usize, Failure> {
        self.containers
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.info.id == id))
            .ok_or_else(|| (ErrorKind::NotFound, format!("container {id:?} not found")))
    }

    /// Resizes the pty of a terminal container (`TIOCSWINSZ` on the master it holds).
    fn resize(&mut self, id: &str, width: u16, height: u16) -> Result<(), Failure> {
        let cslot = self.find(id)?;
        let invalid = |m: String| Err((ErrorKind::Invalid, m));
        let Some(c) = self.containers[cslot].as_ref() else { return invalid(format!("container {id:?} not found")) };
        if !c.info.tty {
            return invalid(format!("container {id:?} has no terminal"));
        }
        let Some(master) = c.streams[0].as_ref() else {
            return invalid(format!("the terminal of container {id:?} has ended"));
        };
        crate::container::console::set_window_size(&master.fd, width, height)
            .map_err(|e| (ErrorKind::Runtime, e.to_string()))
    }

    fn attach(&mut self, conn_slot: usize, id: &str, stream: AttachStream, close_stdin: bool) -> Result<(), Failure> {
        let cslot = self.find(id)?;
        let invalid = |m: String| Err((ErrorKind::Invalid, m));
        let Some(c) = self.containers[cslot].as_mut() else { return invalid(format!("container {id:?} not found")) };
        match stream {
            AttachStream::Stdin => {
                if c.stdin.is_none() {
                    return invalid(format!("container {id:?} has no open stdin"));
                }
                if c.stdin_conn.is_some() {
                    return invalid(format!("the stdin of container {id:?} is already attached"));
                }
                c.stdin_conn = Some(conn_slot);
            }
            AttachStream::Stdout | AttachStream::Stderr => {
                let idx = usize::from(stream == AttachStream::Stderr);
                if c.streams[idx].is_none() {
                    return invalid(format!("the {stream:?} of container {id:?} has ended or does not exist"));
                }
            }
        }
        if let Some(Some(conn)) = self.conns.get_mut(conn_slot) {
            conn.attach = Some(Attach { slot: cslot, stream, close_stdin });
        }
        Ok(())
    }

    fn create(&mut self, spec: CreateContainer) -> Result<ContainerInfo, Failure> {
        validate_id(&spec.id)?;
        for (field, path) in [("bundle", &spec.bundle), ("log_path", &spec.log_path)] {
            if !path.is_absolute() {
                return Err((ErrorKind::Invalid, format!("{field} must be an absolute path, got {path:?}")));
            }
        }
        // Also refuse an id the runtime still holds from elsewhere: the cleanup of a failed
        // create below must only ever delete what this create made.
        if self.find(&spec.id).is_ok() || self.args.runtime_root.join(&spec.id).exists() {
            return Err((ErrorKind::AlreadyExists, format!("container {:?} already exists", spec.id)));
        }
        let runtime_err = |what: &str, e: &dyn std::fmt::Display| (ErrorKind::Runtime, format!("{what}: {e}"));
        let max_size = spec.log_max_size.unwrap_or(DEFAULT_LOG_MAX_SIZE);
        let max_files = spec.log_max_files.unwrap_or(DEFAULT_LOG_MAX_FILES);
        let log = LogFile::open(&spec.log_path, max_size, max_files)
            .map_err(|e| runtime_err(&format!("opening log {}", spec.log_path.display()), &e))?;
        let pid_file = state::pid_file(&self.args.pod_dir, &spec.id);
        let _ = std::fs::remove_file(&pid_file);
        let mut cmd = self.runtime_command();
        cmd.arg("create").arg("--bundle").arg(&spec.bundle).arg("--pid-file").arg(&pid_file);
        let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| runtime_err("pipe", &e));
        let mut stdin_keep = None;
        let mut console = None;
        let mut out_read = None;
        // The runtime's own errors come on stderr: in pass-through mode that is also the
        // container's stderr, read here only if `create` fails.
        let (err_read, err_write) = pipe()?;
        if spec.tty {
            let path = state::console_socket(&self.args.pod_dir);
            let _ = std::fs::remove_file(&path);
            let listener = UnixListener::bind(&path).map_err(|e| runtime_err("console socket", &e))?;
            cmd.arg("--console-socket").arg(&path);
            cmd.stdin(Stdio::null()).stdout(Stdio::null());
            console = Some((listener, path));
        } else {
            if spec.stdin {
                let (r, w) = pipe()?;
                // Only the shim's end is non-blocking: a full pipe must not stall the loop.
                fcntl(&w, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(|e| runtime_err("pipe", &e))?;
                cmd.stdin(Stdio::from(r));
                stdin_keep = Some(w);
            } else {
                cmd.stdin(Stdio::null());
            }
            let (r, w) = pipe()?;
            cmd.stdout(Stdio::from(w));
            out_read = Some(r);
        }
        cmd.stderr(Stdio::from(err_write));
        cmd.arg(&spec.id);
        let status = cmd.status();
        // Drops the parent's copies of the write ends: EOF then comes when the container's
        // processes are gone.
        drop(cmd);
        let failed = match status {
            Ok(s) if s.success() => None,
            Ok(s) => Some(format!("{} create: {s}: {}", self.runtime_name(), read_available(&err_read))),
            Err(e) => Some(format!("running {}: {e}", self.args.runtime_binary.display())),
        };
        let result = match failed {
            Some(message) => Err((ErrorKind::Runtime, message)),
            None => self.finish_create(&spec, &pid_file, console.as_ref().map(|(l, _)| l)),
        };
        if let Some((_, path)) = &console {
            let _ = std::fs::remove_file(path);
        }
        let (pid, master) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = self.runtime(&["delete", "--force", &spec.id]);
                let _ = std::fs::remove_file(&pid_file);
                return Err(e);
            }
        };
        let mut streams = [None, None];
        match master {
            Some(master) => {
                if spec.stdin {
                    stdin_keep = master.try_clone().ok();
                }
                streams[0] = Some(master);
            }
            None => {
                streams[0] = out_read;
                streams[1] = Some(err_read);
            }
        }
        let slot = free_slot(&mut self.containers);
        let mut registered: [Option<Stream>; 2] = [None, None];
        for (idx, fd) in streams.into_iter().enumerate() {
            let Some(fd) = fd else { continue };
            let token = STREAM_BASE + (slot as u64) * 3 + idx as u64;
            let ok = fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).is_ok()
                && self.epoll.add(&fd, EpollEvent::new(EpollFlags::EPOLLIN, token)).is_ok();
            if !ok {
                tracing::warn!(id = %spec.id, "cannot watch the container's output");
                continue;
            }
            let kind = if idx == 0 { StreamKind::Stdout } else { StreamKind::Stderr };
            registered[idx] = Some(Stream { fd, kind, splitter: LineSplitter::new(MAX_LINE) });
        }
        let info = ContainerInfo {
            id: spec.id,
            bundle: spec.bundle,
            log_path: spec.log_path,
            stdin: spec.stdin,
            tty: spec.tty,
            pid: Some(pid),
            status: Status::Created,
            exit_code: None,
            created_at: rfc3339(SystemTime::now()),
            started_at: None,
            finished_at: None,
            log_max_size: max_size,
            log_max_files: max_files,
        };
        self.persist(&info);
        self.containers[slot] = Some(Container {
            info: info.clone(),
            log: Some(log),
            streams: registered,
            stdin: stdin_keep,
            stdin_conn: None,
        });
        Ok(info)
    }

    /// After a successful `create`: the init pid, and with a terminal the pty master the
    /// runtime sent over the console socket.
    fn finish_create(
        &self,
        spec: &CreateContainer,
        pid_file: &Path,
        console: Option<&UnixListener>,
    ) -> Result<(u32, Option<OwnedFd>), Failure> {
        let text = std::fs::read_to_string(pid_file)
            .map_err(|e| (ErrorKind::Runtime, format!("reading {}: {e}", pid_file.display())))?;
        let pid: u32 = text
            .trim()
            .parse()
            .map_err(|_| (ErrorKind::Runtime, format!("bad pid {:?} in {}", text.trim(), pid_file.display())))?;
        let master = match console {
            Some(listener) => Some(receive_pty_master(listener).map_err(|e| {
                (ErrorKind::Runtime, format!("receiving the terminal of {:?} from the console socket: {e}", spec.id))
            })?),
            None => None,
        };
        Ok((pid, master))
    }

    fn start(&mut self, id: &str) -> Result<ContainerInfo, Failure> {
        let slot = self.find(id)?;
        if let Some(c) = &self.containers[slot]
            && c.info.status != Status::Created
        {
            return Err((ErrorKind::Invalid, format!("container {id:?} is not in created state")));
        }
        self.runtime(&["start", id]).map_err(|e| (ErrorKind::Runtime, e))?;
        let Some(c) = self.containers[slot].as_mut() else {
            return Err((ErrorKind::NotFound, format!("container {id:?} not found")));
        };
        c.info.status = Status::Running;
        c.info.started_at = Some(rfc3339(SystemTime::now()));
        let info = c.info.clone();
        self.persist(&info);
        Ok(info)
    }

    fn kill(&mut self, id: &str, signal: i32) -> Result<(), Failure> {
        let slot = self.find(id)?;
        let signal = Signal::try_from(signal).map_err(|_| (ErrorKind::Invalid, format!("bad signal {signal}")))?;
        let Some(c) = &self.containers[slot] else { return Ok(()) };
        // Signalling an exited container is a no-op, like CRI's StopContainer. While it is
        // not exited its init is a child of the shim that has not been reaped, so the pid
        // cannot have been reused.
        if c.info.status == Status::Exited {
            return Ok(());
        }
        let Some(pid) = c.info.pid else { return Ok(()) };
        match kill(Pid::from_raw(pid as i32), signal) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err((ErrorKind::Runtime, format!("kill {id:?}: {e}"))),
        }
    }

    fn delete(&mut self, id: &str) -> Result<(), Failure> {
        let slot = self.find(id)?;
        self.kill_and_reap(slot);
        if let Err(e) = self.runtime(&["delete", "--force", id])
            && self.args.runtime_root.join(id).exists()
        {
            return Err((ErrorKind::Runtime, e));
        }
        // Output still buffered (a process that outlived the init can hold the pipes) is
        // logged, a pending partial line included, before the streams close.
        self.pump(slot, 0, true);
        self.pump(slot, 1, true);
        for conn in 0..self.conns.len() {
            if matches!(&self.conns[conn], Some(Conn { attach: Some(a), .. }) if a.slot == slot) {
                self.flush(conn);
                self.close(conn);
            }
        }
        if let Some(mut c) = self.containers[slot].take() {
            if let Some(fd) = &c.stdin {
                let _ = self.epoll.delete(fd);
            }
            let Container { log, streams, .. } = &mut c;
            for s in streams.iter_mut().flatten() {
                let kind = s.kind;
                let entry = &mut self.entry;
                s.splitter.finish(&mut |partial, content| {
                    format_entry(entry, SystemTime::now(), kind, partial, content);
                    if let Some(log) = log.as_mut() {
                        let _ = log.write_entry(entry);
                    }
                });
                let _ = self.epoll.delete(&s.fd);
            }
        }
        state::remove(&self.args.pod_dir, id);
        Ok(())
    }

    /// SIGKILLs a container that has not exited and waits (bounded) for its exit to be
    /// recorded, so that `delete` never loses an exit code or output.
    fn kill_and_reap(&mut self, slot: usize) {
        let Some(c) = &self.containers[slot] else { return };
        let (Some(pid), false) = (c.info.pid, c.info.status == Status::Exited) else { return };
        let pid = Pid::from_raw(pid as i32);
        let _ = kill(pid, Signal::SIGKILL);
        let deadline = Instant::now() + KILL_WAIT;
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) => return self.on_exit(p, code),
                Ok(WaitStatus::Signaled(p, sig, _)) => return self.on_exit(p, 128 + sig as i32),
                Ok(_) | Err(Errno::EINTR) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Ok(_) | Err(_) => return,
            }
        }
    }

    fn shutdown_all(&mut self) {
        let ids: Vec<String> = self.containers.iter().flatten().map(|c| c.info.id.clone()).collect();
        for id in ids {
            if let Err((_, e)) = self.delete(&id) {
                tracing::warn!(%id, "shutdown: {e}");
            }
        }
    }

    // ---- the OCI runtime ----

    fn runtime_command(&self) -> Command {
        let mut cmd = Command::new(&self.args.runtime_binary);
        cmd.arg("--root").arg(&self.args.runtime_root);
        cmd
    }

    fn runtime_name(&self) -> String {
        self.args.runtime_binary.file_name().unwrap_or(self.args.runtime_binary.as_os_str()).to_string_lossy().into()
    }

    /// Runs `<runtime> --root ROOT args...`; the error is the runtime's stderr.
    fn runtime(&self, args: &[&str]) -> Result<(), String> {
        let out = self
            .runtime_command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", self.args.runtime_binary.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!("{} {}: {}: {}", self.runtime_name(), args.join(" "), out.status, stderr.trim()))
    }
}

fn error(kind: ErrorKind, message: String) -> Response {
    Response::Error { kind, message }
}

fn free_slot<T>(slots: &mut Vec<Option<T>>) -> usize {
    match slots.iter().position(Option::is_none) {
        Some(i) => i,
        None => {
            slots.push(None);
            slots.len() - 1
        }
    }
}

/// Container ids become file names and runtime arguments: keep them to the characters runc
/// accepts, and never `.`/`..` or an option.
fn validate_id(id: &str) -> Result<(), Failure> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with(['.', '-'])
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'));
    if ok { Ok(()) } else { Err((ErrorKind::Invalid, format!("invalid container id {id:?}"))) }
}

/// Whatever is already in a pipe, without blocking, at most 4 KiB, as trimmed text.
fn read_available(fd: &OwnedFd) -> String {
    let _ = fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        match nix::unistd::read(fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&buf[..len]).trim().to_string()
}

/// Accepts the runtime's connection on the console socket and takes the pty master it sent
/// with SCM_RIGHTS. The runtime has exited by now, so its message is already queued.
fn receive_pty_master(listener: &UnixListener) -> io::Result<OwnedFd> {
    listener.set_nonblocking(true)?;
    let (stream, _) = listener.accept()?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!(std::os::fd::RawFd);
    let msg = recvmsg::<()>(stream.as_fd().as_raw_fd(), &mut iov, Some(&mut space[..]), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut received = None;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for fd in fds {
                // SAFETY: the kernel just installed `fd` in this process for this message
                // (SCM_RIGHTS); nothing else refers to it, so ownership is ours alone.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if received.is_none() {
                    received = Some(owned);
                }
            }
        }
    }
    received.ok_or_else(|| io::Error::new(IoErrorKind::InvalidData, "no file descriptor in the console message"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids() {
        for ok in ["abc", "a-b_c.d+e", "0123456789abcdef"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "-rf", "a b", "x\n", &"a".repeat(129)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
