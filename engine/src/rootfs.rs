//! Reaching into a container's filesystem safely: mounting a stopped container's snapshot
//! privately, and resolving paths inside a root without ever leaving it (openat2 with
//! RESOLVE_IN_ROOT: "..", absolute symlinks and mount crossings stay inside).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_proto::v1;

use crate::error::{Error, Result};

/// A snapshot mounted on a private directory; unmounted and removed on drop.
pub struct Mounted {
    dir: PathBuf,
}

impl Mounted {
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Splits mount(8)-style options into flags and filesystem data.
fn mount_flags(options: &[String]) -> (nix::mount::MsFlags, String) {
    use nix::mount::MsFlags as F;
    let mut flags = F::empty();
    let mut data = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags |= F::MS_RDONLY,
            "rw" => {}
            "bind" => flags |= F::MS_BIND,
            "rbind" => flags |= F::MS_BIND | F::MS_REC,
            "nosuid" => flags |= F::MS_NOSUID,
            "nodev" => flags |= F::MS_NODEV,
            "noexec" => flags |= F::MS_NOEXEC,
            other => data.push(other.to_string()),
        }
    }
    (flags, data.join(","))
}

/// Mounts `mounts` (as shimd describes a snapshot) on a new directory under `scratch`.
pub fn mount_all(mounts: &[v1::Mount], scratch: &Path) -> Result<Mounted> {
    std::fs::create_dir_all(scratch)?;
    let dir = tempfile::Builder::new()
        .prefix("rootfs-")
        .tempdir_in(scratch)
        .map_err(|e| {
            Error::internal(format!(
                "creating a mount point under {}: {e}",
                scratch.display()
            ))
        })?
        .keep();
    let m = Mounted { dir };
    for mount in mounts {
        let target = if mount.target.is_empty() {
            m.dir.clone()
        } else {
            m.dir.join(mount.target.trim_start_matches('/'))
        };
        let (flags, data) = mount_flags(&mount.options);
        let fstype =
            (!flags.contains(nix::mount::MsFlags::MS_BIND)).then_some(mount.r#type.as_str());
        // berth_image::mount handles overlays of deep images (options over one page).
        berth_image::mount::mount(
            mount.source.as_str(),
            &target,
            fstype,
            flags,
            (!data.is_empty()).then_some(data.as_str()),
        )
        .map_err(|e| {
            Error::internal(format!(
                "mounting the container's filesystem ({} on {}): {e}",
                mount.r#type,
                target.display()
            ))
        })?;
    }
    Ok(m)
}

/// Opens `path` inside the directory `root` (an fd), never resolving outside it.
pub fn open_in_root(root: &File, path: &Path, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let c = CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: open_how is plain data; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = if flags & libc::O_CREAT != 0 {
        mode as u64
    } else {
        0
    };
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 reads `how` and the path; the fd it returns is owned here.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Opens a directory to serve as a root for `open_in_root`.
pub fn open_root(dir: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "inside").unwrap();
        std::fs::write(d.path().join("secret"), "outside").unwrap();
        std::os::unix::fs::symlink("/../../secret", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../secret", root.join("etc/rel")).unwrap();
        let r = open_root(&root).unwrap();
        let read = |p: &str| -> Option<String> {
            use std::io::Read;
            let fd = open_in_root(&r, Path::new(p), libc::O_RDONLY, 0).ok()?;
            let mut s = String::new();
            File::from(fd).read_to_string(&mut s).ok()?;
            Some(s)
        };
        assert_eq!(read("/etc/passwd").as_deref(), Some("inside"));
        assert_eq!(read("../../secret"), None);
        assert_eq!(read("/abs"), None);
        assert_eq!(read("/etc/rel"), None);
    }
}
