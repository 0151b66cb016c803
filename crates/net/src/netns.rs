//! Pod network namespaces as bind-mounted files `<netns_dir>/<pod_uid>` (the `ip netns` layout
//! under another directory), and netlink connections that live inside them.
//!
//! A namespace is created by a short-lived dedicated thread that calls `unshare(CLONE_NEWNET)`
//! and bind-mounts `/proc/thread-self/ns/net` onto the file; an existing one is entered with
//! `setns`. Only that thread ever changes namespace (never a tokio worker, whose later tasks
//! would run in the pod's namespace). The thread also opens the netlink socket: a socket stays
//! bound to the namespace it was created in, so the async side can then configure the pod's
//! interfaces from any thread. This module never forks and never touches links itself.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

use crate::error::NetError;

/// This thread's own network namespace, for the bind mount.
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// An open pod network namespace and a netlink handle inside it. The handle works only while
/// the matching [`NetnsConnection`] is being polled; the namespace lives on through its bind
/// mount after both are dropped.
pub(crate) struct PodNetns {
    pub(crate) path: PathBuf,
    /// An fd of the namespace, for moving links into it (`IFLA_NET_NS_FD`).
    pub(crate) file: File,
    /// Netlink handle whose socket sits inside the pod's namespace.
    pub(crate) handle: rtnetlink::Handle,
    /// True if this call created the namespace (it is empty: no eth0 yet).
    pub(crate) created: bool,
}

/// The future that drives the netlink socket inside the pod's namespace. The caller polls it
/// next to its work and drops it right after, rather than spawning it: the socket holds a
/// reference on the namespace, and a spawned task would outlive the call until the runtime gets
/// round to dropping it, keeping a torn-down namespace (and its veth) alive meanwhile.
pub(crate) type NetnsConnection = rtnetlink::proto::Connection<rtnetlink::packet_route::RouteNetlinkMessage>;

type Opened = (File, bool, NetnsConnection, rtnetlink::Handle);

/// Opens the pod's namespace, creating it (and its file) if absent. A file that exists but is
/// not a mounted namespace (e.g. left over after a reboot emptied the mounts) is reused as the
/// mount point of a fresh namespace.
pub(crate) async fn open_or_create(path: PathBuf) -> Result<(PodNetns, NetnsConnection), NetError> {
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread_path = path.clone();
    let spawned = std::thread::Builder::new().name("netns".into()).spawn(move || {
        let _ = tx.send(enter_or_create(&thread_path, &runtime));
    });
    spawned.map_err(|source| NetError::Netns { path: path.clone(), op: "spawn thread", source })?;
    let (file, created, connection, handle) = rx.await.map_err(|_| NetError::NetnsThread(path.clone()))??;
    Ok((PodNetns { path, file, handle, created }, connection))
}

/// Runs on the dedicated thread, which exits right after, taking its namespace change with it.
fn enter_or_create(path: &Path, runtime: &tokio::runtime::Handle) -> Result<Opened, NetError> {
    let err = |op: &'static str| {
        let path = path.to_path_buf();
        move |source: io::Error| NetError::Netns { path, op, source }
    };
    let (file, created) = match open_existing(path)? {
        Some(file) => {
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| err("setns")(e.into()))?;
            (file, false)
        }
        None => {
            // The mount point must exist; an existing (unmounted) file is fine.
            File::create(path).map_err(err("create mount point"))?;
            let mounted =
                nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| err("unshare")(e.into())).and_then(|()| {
                    nix::mount::mount(Some(THREAD_NETNS), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                        .map_err(|e| err("bind mount")(e.into()))
                });
            if let Err(e) = mounted {
                let _ = fs::remove_file(path);
                return Err(e);
            }
            (File::open(path).map_err(err("open"))?, true)
        }
    };
    // The socket is created here, inside the pod's namespace; registering it with tokio's
    // reactor needs the runtime context, which this plain thread lacks by default.
    let _guard = runtime.enter();
    let (connection, handle, _) = rtnetlink::new_connection().map_err(NetError::NetlinkSocket)?;
    Ok((file, created, connection, handle))
}

/// The namespace file if it exists and really is a mounted network namespace.
fn open_existing(path: &Path) -> Result<Option<File>, NetError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(NetError::Netns { path: path.to_path_buf(), op: "open", source }),
    };
    let stat =
        fstatfs(&file).map_err(|e| NetError::Netns { path: path.to_path_buf(), op: "statfs", source: e.into() })?;
    Ok((stat.filesystem_type() == NSFS_MAGIC).then_some(file))
}

/// Unmounts and deletes the namespace file; absent is fine. The kernel destroys the namespace
/// (and with it the pod's veth end, which takes the host end along) once the last process in it
/// is gone; this never waits for that.
pub(crate) fn remove(path: &Path) -> Result<(), NetError> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a leftover file); ENOENT: already gone.
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(NetError::Netns { path: path.to_path_buf(), op: "unmount", source: e.into() }),
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(NetError::Netns { path: path.to_path_buf(), op: "remove", source: e })
        }
        _ => Ok(()),
    }
}
