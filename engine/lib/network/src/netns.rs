//! Network namespaces: named ones (a namespace kept alive by a bind mount on a file, like
//! `ip netns add`), handles to a container's namespace, and running code inside one.
//!
//! A namespace is entered only by a dedicated, short-lived OS thread: `setns` changes the
//! calling thread alone, so the thread that entered is never reused for anything else and
//! the async runtime's threads stay in the namespace they started in.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{Error, Result};

/// An open handle on a network namespace. While a handle (or a socket created inside the
/// namespace) is open, the kernel keeps the namespace.
#[derive(Debug, Clone)]
pub struct Netns {
    file: Arc<File>,
    path: PathBuf,
}

impl Netns {
    /// Opens the namespace at `path`: `/proc/<pid>/ns/net`, a bind-mounted namespace file,
    /// or `/proc/self/fd/<n>`.
    pub fn open(path: &Path) -> Result<Netns> {
        let file = File::open(path).map_err(|e| Error::Netns {
            path: path.to_path_buf(),
            cause: format!("cannot open: {e}"),
        })?;
        // NS_GET_NSTYPE would be stricter; a setns with CLONE_NEWNET on entry checks the type.
        Ok(Netns {
            file: Arc::new(file),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The namespace's inode number: equal for two handles on the same namespace.
    pub fn inode(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        self.file
            .metadata()
            .map(|m| m.ino())
            .map_err(|e| Error::Netns {
                path: self.path.clone(),
                cause: e.to_string(),
            })
    }

    /// Moves the calling thread into this namespace. Only for threads made for it.
    pub(crate) fn enter(&self) -> Result<()> {
        setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| Error::Netns {
            path: self.path.clone(),
            cause: format!("cannot enter (is it a network namespace?): {e}"),
        })
    }

    /// The raw descriptor, e.g. for moving a link into the namespace.
    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

/// Runs `f` on a new thread inside `ns` (or in the caller's namespace when `None`) and
/// returns its result.
pub fn run_in<T, F>(ns: Option<&Netns>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let ns = ns.cloned();
    std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            if let Some(ns) = &ns {
                ns.enter()?;
            }
            f()
        })
        .map_err(|e| Error::io("spawn a namespace thread", e))?
        .join()
        .unwrap_or_else(|_| Err(Error::invalid("a namespace thread panicked")))
}

/// Like [`run_in`], awaited without blocking the async runtime.
pub async fn run_in_async<T, F>(ns: Option<&Netns>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let ns = ns.cloned();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            let r = match &ns {
                Some(ns) => ns.enter().and_then(|_| f()),
                None => f(),
            };
            let _ = tx.send(r);
        })
        .map_err(|e| Error::io("spawn a namespace thread", e))?;
    rx.await
        .unwrap_or_else(|_| Err(Error::invalid("a namespace thread panicked")))
}

/// Creates a new network namespace with only loopback, up, kept alive by a bind mount on
/// `path` (created as an empty file), like `ip netns add`. A namespace already mounted there
/// (left by a run that did not see its end) is reused. Remove it with [`remove_named`].
pub fn create_named(path: &Path) -> Result<()> {
    let err = |cause: String| Error::Netns {
        path: path.to_path_buf(),
        cause,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create directory: {e}")))?;
    }
    if is_named(path) {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => {}
        // An unmounted file left behind: mount over it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(format!("cannot create the mount point file: {e}"))),
    }
    let target = path.to_path_buf();
    let r = run_in(None, move || {
        let fail = |what: &str, e: &dyn std::fmt::Display| Error::Netns {
            path: target.clone(),
            cause: format!("{what}: {e}"),
        };
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| fail("unshare", &e))?;
        loopback_up().map_err(|e| fail("setting loopback up", &e))?;
        let own = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
        mount(
            Some(own.as_str()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| fail("bind mount", &e))
    });
    if r.is_err() {
        let _ = std::fs::remove_file(path);
    }
    r
}

/// Whether a namespace is mounted on `path` (an nsfs bind mount has another device than
/// the directory holding it).
pub fn is_named(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

/// Sets `lo` up in the calling thread's network namespace.
fn loopback_up() -> std::io::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain C data (a name array and a union of integers and socket
    // addresses), for which all zeros is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        ifr.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name of the ifreq and writes its flags
    // into it, through a pointer to our live `ifr`; `sock` is open.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the flags are the union member SIOCGIFFLAGS just filled in.
    unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads the name and flags of our live `ifr`; `sock` is open.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Unmounts and deletes a namespace file made by [`create_named`]. The namespace itself
/// goes away when nothing else holds it. A missing file is not an error.
pub fn remove_named(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => {
            return Err(Error::Netns {
                path: path.to_path_buf(),
                cause: format!("unmount: {e}"),
            })
        }
    }
    std::fs::remove_file(path).map_err(|e| Error::Netns {
        path: path.to_path_buf(),
        cause: format!("remove: {e}"),
    })
}

/// Writes a sysctl of the calling thread's network namespace, e.g.
/// `net/ipv4/ip_forward`. Call from inside [`run_in`] to target another namespace.
pub fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{key}");
    std::fs::write(&path, value).map_err(|e| Error::io(format!("write {value} to {path}"), e))
}

/// Reads a sysctl of the calling thread's network namespace.
pub fn read_sysctl(key: &str) -> Result<String> {
    let path = format!("/proc/sys/{key}");
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io(format!("read {path}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A named namespace has loopback (up) and nothing else, is reused when made again on
    /// the same path, and is gone after `remove_named`.
    #[test]
    fn named_namespaces_have_loopback_up_and_are_reused() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("netns/t1");
        create_named(&p).unwrap();
        assert!(is_named(&p));
        let ino = Netns::open(&p).unwrap().inode().unwrap();
        create_named(&p).unwrap();
        assert_eq!(Netns::open(&p).unwrap().inode().unwrap(), ino, "reused");
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", p.display()))
            .args(["ip", "-o", "link", "show"])
            .output()
            .unwrap();
        let links = String::from_utf8_lossy(&out.stdout);
        assert_eq!(links.lines().count(), 1, "only loopback: {links}");
        assert!(links.contains("lo: <LOOPBACK,UP"), "lo is up: {links}");
        remove_named(&p).unwrap();
        assert!(!p.exists());
        remove_named(&p).unwrap();
    }
}
