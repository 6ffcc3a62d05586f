//! [`Sys`] for real: each method is the one system call it names.

use super::{CapSets, Flags, Node, Prctl, SchedAttr, Sys};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

/// The kernel.
pub struct Linux;

fn c(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Ok for 0, the thread's errno otherwise.
fn check(r: libc::c_long) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Sys for Linux {
    fn mount(
        &self,
        src: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: Flags,
        data: Option<&str>,
    ) -> io::Result<()> {
        let src = src.map(c).transpose()?;
        let target = c(target)?;
        let fstype = fstype.map(c).transpose()?;
        let data = data.filter(|d| !d.is_empty()).map(c).transpose()?;
        // SAFETY: every pointer is null or a NUL-terminated string alive for the call.
        let r = unsafe {
            libc::mount(
                src.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
                target.as_ptr(),
                fstype.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
                flags,
                data.as_ref()
                    .map_or(std::ptr::null(), |s| s.as_ptr().cast()),
            )
        };
        check(r.into())
    }

    fn mount_setattr(&self, target: &str, attr_set: u64, attr_clr: u64) -> io::Result<()> {
        /// `struct mount_attr` of linux/mount.h (its first version, 32 bytes).
        #[repr(C)]
        struct MountAttr {
            attr_set: u64,
            attr_clr: u64,
            propagation: u64,
            userns_fd: u64,
        }
        let t = c(target)?;
        let attr = MountAttr {
            attr_set,
            attr_clr,
            propagation: 0,
            userns_fd: 0,
        };
        // SAFETY: a NUL-terminated path and a mount_attr of the size passed, both alive
        // for the call; the kernel only reads them.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                -1,
                t.as_ptr(),
                libc::AT_RECURSIVE as libc::c_uint,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        check(r)
    }

    fn umount2(&self, target: &str, flags: libc::c_int) -> io::Result<()> {
        let t = c(target)?;
        // SAFETY: a NUL-terminated path alive for the call.
        check(unsafe { libc::umount2(t.as_ptr(), flags) }.into())
    }

    fn pivot_root(&self, new_root: &str, put_old: &str) -> io::Result<()> {
        let (n, o) = (c(new_root)?, c(put_old)?);
        // SAFETY: pivot_root takes two NUL-terminated paths, alive for the call.
        check(unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) })
    }

    fn chdir(&self, path: &Path) -> io::Result<()> {
        std::env::set_current_dir(path)
    }

    fn mkdir_all(&self, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(path)
    }

    fn fchdir(&self, dir: BorrowedFd) -> io::Result<()> {
        // SAFETY: fchdir on a descriptor borrowed for the call; no memory is involved.
        check(unsafe { libc::fchdir(dir.as_raw_fd()) }.into())
    }

    fn chroot(&self, path: &str) -> io::Result<()> {
        let p = c(path)?;
        // SAFETY: a NUL-terminated path alive for the call.
        check(unsafe { libc::chroot(p.as_ptr()) }.into())
    }

    fn mount_flags(&self, path: &str) -> Flags {
        let Ok(p) = c(path) else { return 0 };
        // SAFETY: statvfs is plain old data; all zeroes is a valid value to be overwritten.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path and a statvfs buffer, both alive for the call.
        if unsafe { libc::statvfs(p.as_ptr(), &mut s) } != 0 {
            return 0;
        }
        let mut f = 0;
        for (st, ms) in [
            (libc::ST_NOSUID, libc::MS_NOSUID),
            (libc::ST_NODEV, libc::MS_NODEV),
            (libc::ST_NOEXEC, libc::MS_NOEXEC),
            (libc::ST_NOATIME, libc::MS_NOATIME),
            (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
            (libc::ST_RELATIME, libc::MS_RELATIME),
            (libc::ST_RDONLY, libc::MS_RDONLY),
        ] {
            if s.f_flag & st != 0 {
                f |= ms;
            }
        }
        f
    }

    fn node(&self, path: &str) -> Option<Node> {
        std::fs::symlink_metadata(path).ok().map(
            |m| {
                if m.is_dir() {
                    Node::Dir
                } else {
                    Node::Other
                }
            },
        )
    }

    fn setns(&self, fd: BorrowedFd, nstype: libc::c_int) -> io::Result<()> {
        // SAFETY: setns on a descriptor borrowed for the call; no memory is involved.
        check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }.into())
    }

    fn unshare(&self, flags: libc::c_int) -> io::Result<()> {
        // SAFETY: unshare takes flags only.
        check(unsafe { libc::unshare(flags) }.into())
    }

    fn sethostname(&self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(io::Error::from)
    }

    fn setdomainname(&self, name: &str) -> io::Result<()> {
        // SAFETY: the pointer and length describe `name`'s bytes, alive for the call.
        check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }.into())
    }

    fn set_mempolicy(
        &self,
        mode: i32,
        nodes: &[libc::c_ulong],
        maxnode: libc::c_ulong,
    ) -> io::Result<()> {
        // SAFETY: the kernel reads at most `maxnode - 1` bits from `nodes`, which holds
        // that many (see mempolicy::parse), alive for the call.
        let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, nodes.as_ptr(), maxnode) };
        check(r)
    }

    fn personality(&self, persona: libc::c_ulong) -> io::Result<()> {
        // SAFETY: personality takes a number only.
        if unsafe { libc::personality(persona) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn setsid(&self) -> io::Result<()> {
        // SAFETY: setsid takes no arguments.
        if unsafe { libc::setsid() } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn setgroups(&self, gids: &[libc::gid_t]) -> io::Result<()> {
        // SAFETY: the pointer and length describe `gids`, alive for the call.
        check(unsafe { libc::setgroups(gids.len(), gids.as_ptr()) }.into())
    }

    fn setresgid(&self, gid: libc::gid_t) -> io::Result<()> {
        // SAFETY: ids only.
        check(unsafe { libc::setresgid(gid, gid, gid) }.into())
    }

    fn setresuid(&self, uid: libc::uid_t) -> io::Result<()> {
        // SAFETY: ids only.
        check(unsafe { libc::setresuid(uid, uid, uid) }.into())
    }

    fn capset(&self, sets: CapSets) -> io::Result<()> {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let mut h = Header {
            // _LINUX_CAPABILITY_VERSION_3: two Data, low and high 32 capabilities.
            version: 0x2008_0522,
            pid: 0,
        };
        let half = |shift: u32| Data {
            effective: (sets.effective >> shift) as u32,
            permitted: (sets.permitted >> shift) as u32,
            inheritable: (sets.inheritable >> shift) as u32,
        };
        let d = [half(0), half(32)];
        // SAFETY: a version 3 header and the two data structs that version reads, both
        // alive for the call.
        check(unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()) })
    }

    fn capbset_read(&self, cap: u32) -> bool {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) == 1 }
    }

    fn prctl(&self, op: Prctl) -> io::Result<()> {
        let (option, arg2, arg3): (libc::c_int, libc::c_ulong, libc::c_ulong) = match op {
            Prctl::KeepCaps(on) => (libc::PR_SET_KEEPCAPS, on.into(), 0),
            Prctl::NoNewPrivs => (libc::PR_SET_NO_NEW_PRIVS, 1, 0),
            Prctl::Dumpable(on) => (libc::PR_SET_DUMPABLE, on.into(), 0),
            Prctl::CapBsetDrop(cap) => (libc::PR_CAPBSET_DROP, cap.into(), 0),
            Prctl::AmbientClearAll => (
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
            ),
            Prctl::AmbientRaise(cap) => (
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap.into(),
            ),
        };
        // SAFETY: prctl with integer arguments only (none of these options takes a pointer).
        check(unsafe { libc::prctl(option, arg2, arg3, 0, 0) }.into())
    }

    fn setrlimit(
        &self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> io::Result<()> {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: a pointer to an rlimit alive for the call.
        check(unsafe { libc::setrlimit(resource, &lim) }.into())
    }

    fn ioprio_set(&self, value: libc::c_long) -> io::Result<()> {
        // SAFETY: ioprio_set takes integers only (IOPRIO_WHO_PROCESS = 1, pid 0 = ourself).
        check(unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, value) })
    }

    fn sched_setattr(&self, attr: &SchedAttr) -> io::Result<()> {
        // SAFETY: a pointer to a sched_attr (layout and size of the kernel's) alive for the
        // call; pid 0 is ourself.
        check(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) })
    }

    fn umask(&self, mask: libc::mode_t) -> libc::mode_t {
        // SAFETY: umask takes a number and cannot fail.
        unsafe { libc::umask(mask) }
    }

    fn seccomp_load(
        &self,
        filter: &berth_seccomp::Filter,
    ) -> Result<Option<std::os::fd::OwnedFd>, String> {
        filter.install().map_err(|e| e.to_string())
    }

    fn mknodat(
        &self,
        dir: BorrowedFd,
        name: &str,
        mode: libc::mode_t,
        dev: libc::dev_t,
    ) -> io::Result<()> {
        let n = c(name)?;
        // SAFETY: a borrowed directory fd and a NUL-terminated name alive for the call.
        check(unsafe { libc::mknodat(dir.as_raw_fd(), n.as_ptr(), mode, dev) }.into())
    }

    fn fchownat(&self, dir: BorrowedFd, name: &str, uid: u32, gid: u32) -> io::Result<()> {
        let n = c(name)?;
        // SAFETY: a borrowed directory fd and a NUL-terminated name alive for the call.
        check(
            unsafe {
                libc::fchownat(
                    dir.as_raw_fd(),
                    n.as_ptr(),
                    uid,
                    gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            }
            .into(),
        )
    }

    fn unlinkat(&self, dir: BorrowedFd, name: &str) -> io::Result<()> {
        let n = c(name)?;
        // SAFETY: a borrowed directory fd and a NUL-terminated name alive for the call.
        check(unsafe { libc::unlinkat(dir.as_raw_fd(), n.as_ptr(), 0) }.into())
    }

    fn symlinkat(&self, target: &str, dir: BorrowedFd, name: &str) -> io::Result<()> {
        let (t, n) = (c(target)?, c(name)?);
        // SAFETY: NUL-terminated strings and a borrowed directory fd, alive for the call.
        check(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) }.into())
    }

    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(path, data)
    }

    fn read_file(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
}
