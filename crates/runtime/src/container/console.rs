//! The console socket of a TTY container or exec: the OCI runtime connects to a Unix socket
//! we listen on and sends the pseudo-terminal master as `SCM_RIGHTS` ancillary data. The fd
//! arrives as an [`OwnedFd`] (rustix's `recvmsg` hands out owned fds, so no `unsafe` is
//! needed; nix's gives raw fds). Resizing is `TIOCSWINSZ` on the master.

use super::{ContainerError, io_err};
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixListener;

/// A listening console socket; the socket file is removed on drop.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Listens at `path` (at most 107 bytes, the `sun_path` limit); a stale file is replaced.
    pub fn bind(path: &Path) -> Result<ConsoleSocket, ContainerError> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).map_err(io_err(format!("listen on {}", path.display())))?;
        Ok(ConsoleSocket { listener, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the runtime to connect and send the pty master.
    pub async fn receive_master(&self, timeout: Duration) -> Result<OwnedFd, ContainerError> {
        let (stream, _) = tokio::time::timeout(timeout, self.listener.accept())
            .await
            .map_err(|_| ContainerError::Timeout(timeout))?
            .map_err(io_err("accept on console socket"))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            tokio::time::timeout_at(deadline, stream.readable())
                .await
                .map_err(|_| ContainerError::Timeout(timeout))?
                .map_err(io_err("console socket"))?;
            match recv_fd(&stream) {
                Ok(Some(fd)) => return Ok(fd),
                Ok(None) => {
                    return Err(ContainerError::Invalid(
                        "the runtime closed the console socket without a terminal".into(),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(io_err("receive terminal over console socket")(e)),
            }
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One `recvmsg`: the first fd of an `SCM_RIGHTS` message, `None` at end of stream.
fn recv_fd(socket: impl AsFd) -> std::io::Result<Option<OwnedFd>> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
    // The runtime sends the terminal's name as the payload; it is not needed.
    let mut payload = [0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut payload)],
        &mut control,
        RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut received: Option<OwnedFd> = None;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            for fd in fds {
                // Extra fds (none expected) are closed as they drop.
                if received.is_none() {
                    received = Some(fd);
                }
            }
        }
    }
    match received {
        Some(fd) => Ok(Some(fd)),
        None if msg.bytes == 0 => Ok(None),
        None => Err(std::io::Error::other("console socket message carried no file descriptor")),
    }
}

/// Sets the terminal size of a pty (`TIOCSWINSZ` on the master).
pub fn set_window_size(master: impl AsFd, width: u16, height: u16) -> Result<(), ContainerError> {
    let ws = rustix::termios::Winsize { ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(master, ws).map_err(|e| io_err("set terminal size")(e.into()))
}
