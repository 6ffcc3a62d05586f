//! Copy-up: what the image has at a volume's destination is copied into the volume when the
//! volume is new and empty, as dockerd does (contents, ownership, permissions, times,
//! symlinks as symlinks, hard links kept, device nodes and fifos; not extended attributes).
//!
//! Everything goes through directory descriptors: the source path is resolved inside the
//! container's root (never out of it) and no symlink is ever followed on either side, so
//! neither the image nor a container writing into a shared volume can redirect the copy.
//! Only regular files are opened: FIFOs and device nodes are made anew with mknod, so a
//! FIFO in the image never blocks the copy.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

/// Hard-linked files remembered to link their other names to (beyond this they are copied).
const MAX_LINKS: usize = 4096;

fn open_at(dir: RawFd, name: &std::ffi::OsStr, flags: OFlag, mode: u32) -> nix::Result<OwnedFd> {
    let fd = nix::fcntl::openat(
        Some(dir),
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )?;
    // SAFETY: `openat` succeeded, so `fd` is a new open descriptor that nothing else owns
    // or closes; the OwnedFd becomes its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

/// Owner, permission bits and times of `st` onto the open `fd` (chown first: it clears
/// set-id bits).
fn set_attrs(fd: RawFd, st: &FileStat) -> nix::Result<()> {
    nix::unistd::fchown(
        fd,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    let (a, m) = times(st);
    nix::sys::stat::futimens(fd, &a, &m)
}

struct Copier {
    /// (device, inode) of multiply-linked sources to a descriptor of their first copy.
    links: HashMap<(u64, u64), OwnedFd>,
}

impl Copier {
    fn copy_dir(&mut self, src: BorrowedFd<'_>, dst: RawFd) -> nix::Result<()> {
        let mut dir = nix::dir::Dir::openat(
            Some(src.as_raw_fd()),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let names: Vec<std::ffi::OsString> = dir
            .iter()
            .filter_map(|e| e.ok())
            .map(|e| {
                use std::os::unix::ffi::OsStrExt;
                std::ffi::OsStr::from_bytes(e.file_name().to_bytes()).to_os_string()
            })
            .filter(|n| n != "." && n != "..")
            .collect();
        for name in names {
            self.copy_entry(src, dst, &name)?;
        }
        Ok(())
    }

    fn copy_entry(
        &mut self,
        src: BorrowedFd<'_>,
        dst: RawFd,
        name: &std::ffi::OsStr,
    ) -> nix::Result<()> {
        let st =
            nix::sys::stat::fstatat(Some(src.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        match kind {
            SFlag::S_IFDIR => {
                nix::sys::stat::mkdirat(Some(dst), name, Mode::from_bits_truncate(0o700))?;
                let s = open_at(
                    src.as_raw_fd(),
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                    0,
                )?;
                let d = open_at(dst, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)?;
                self.copy_dir(s.as_fd(), d.as_raw_fd())?;
                set_attrs(d.as_raw_fd(), &st)?;
            }
            SFlag::S_IFREG => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key) {
                        return nix::unistd::linkat(
                            Some(first.as_raw_fd()),
                            Path::new(""),
                            Some(dst),
                            Path::new(name),
                            AtFlags::AT_EMPTY_PATH,
                        );
                    }
                }
                let mut sf = berth_fs::open_regular_at(src, name).map_err(|e| {
                    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL))
                })?;
                let d = open_at(
                    dst,
                    name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                    0o600,
                )?;
                let mut df = File::from(d);
                std::io::copy(&mut sf, &mut df).map_err(|e| {
                    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
                })?;
                set_attrs(df.as_raw_fd(), &st)?;
                if st.st_nlink > 1 && self.links.len() < MAX_LINKS {
                    self.links.insert(key, OwnedFd::from(df));
                }
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(src.as_raw_fd()), name)?;
                nix::unistd::symlinkat(target.as_os_str(), Some(dst), name)?;
                nix::unistd::fchownat(
                    Some(dst),
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                let (a, m) = times(&st);
                nix::sys::stat::utimensat(
                    Some(dst),
                    name,
                    &a,
                    &m,
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                )?;
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                nix::sys::stat::mknodat(
                    Some(dst),
                    name,
                    kind,
                    Mode::from_bits_truncate(st.st_mode & 0o777),
                    st.st_rdev,
                )?;
                nix::unistd::fchownat(
                    Some(dst),
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                // mknod's mode went through the umask; the node itself is never opened.
                nix::sys::stat::fchmodat(
                    Some(dst),
                    name,
                    Mode::from_bits_truncate(st.st_mode & 0o7777),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )?;
            }
            // Sockets belong to the process that made them; nothing to copy.
            _ => {}
        }
        Ok(())
    }
}

/// Copies the directory at `path` inside `root` into the directory `dst` when `dst` is
/// empty; `dst` then takes the source directory's owner and permissions. Returns whether
/// anything was copied (not when the image has no directory there, or `dst` has content).
pub fn copy_into_empty(root: &Path, path: &str, dst: &Path) -> std::io::Result<bool> {
    let root = berth_fs::open_root(root)?;
    let src = match berth_fs::InRoot::new(root.as_fd()).open(
        Path::new(path),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    ) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    let dst = {
        use std::os::unix::fs::OpenOptionsExt;
        OwnedFd::from(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(dst)?,
        )
    };
    if !is_empty(dst.as_raw_fd())? {
        return Ok(false);
    }
    let st = nix::sys::stat::fstat(src.as_raw_fd())?;
    let mut c = Copier {
        links: HashMap::new(),
    };
    c.copy_dir(src.as_fd(), dst.as_raw_fd())?;
    set_attrs(dst.as_raw_fd(), &st)?;
    Ok(true)
}

fn is_empty(dir: RawFd) -> nix::Result<bool> {
    let mut d = nix::dir::Dir::openat(
        Some(dir),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let any = d.iter().filter_map(|e| e.ok()).any(|e| {
        let n = e.file_name().to_bytes();
        n != b"." && n != b".."
    });
    Ok(!any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_tree_with_owners_modes_links_and_symlinks() {
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let src = root.join("data");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "hello").unwrap();
        std::fs::set_permissions(src.join("sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::chown(src.join("sub/f"), Some(123), Some(456)).unwrap();
        std::fs::hard_link(src.join("sub/f"), src.join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("abs")).unwrap();
        std::os::unix::fs::chown(&src, Some(1000), Some(1000)).unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o750)).unwrap();
        let vol = d.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        assert!(copy_into_empty(&root, "/data", &vol).unwrap());
        assert_eq!(std::fs::read_to_string(vol.join("sub/f")).unwrap(), "hello");
        let m = std::fs::metadata(vol.join("sub/f")).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (123, 456, 0o640));
        assert_eq!(m.ino(), std::fs::metadata(vol.join("link")).unwrap().ino());
        assert_eq!(
            std::fs::read_link(vol.join("abs")).unwrap(),
            Path::new("/etc/passwd")
        );
        let r = std::fs::metadata(&vol).unwrap();
        assert_eq!((r.uid(), r.mode() & 0o777), (1000, 0o750));
        // Not empty any more: a second copy does nothing.
        assert!(!copy_into_empty(&root, "/data", &vol).unwrap());
        // Nothing in the image there: nothing to copy.
        let empty = d.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(!copy_into_empty(&root, "/missing", &empty).unwrap());
    }

    #[test]
    fn fifos_are_made_not_opened() {
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("root/data");
        std::fs::create_dir_all(&src).unwrap();
        nix::unistd::mkfifo(&src.join("pipe"), Mode::from_bits_truncate(0o640)).unwrap();
        std::fs::write(src.join("f"), "x").unwrap();
        let vol = d.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        // Would block for good if the FIFO were opened (nobody writes to it).
        assert!(copy_into_empty(&d.path().join("root"), "/data", &vol).unwrap());
        let m = std::fs::symlink_metadata(vol.join("pipe")).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(m.file_type().is_fifo());
        assert_eq!(m.mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_to_string(vol.join("f")).unwrap(), "x");
    }

    #[test]
    fn a_symlinked_destination_stays_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let outside = d.path().join("secret");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("key"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("data")).unwrap();
        let vol = d.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        assert!(!copy_into_empty(&root, "/data", &vol).unwrap());
        assert_eq!(std::fs::read_dir(&vol).unwrap().count(), 0);
    }
}
