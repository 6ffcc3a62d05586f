//! The seam between the runtime's logic and the kernel: every system call that turns a
//! container's config into kernel state (mounts, pivot_root, namespaces, identity,
//! capabilities, prctl, device nodes, hostname, seccomp, /proc and /sys writes) goes
//! through [`Sys`]. [`Linux`] makes the calls; the recording fake of the unit tests
//! (`sys::fake`) shows, without root, which calls a config becomes and in what order.

mod linux;

#[cfg(test)]
pub mod fake;

pub use linux::Linux;

use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// mount(2) flags.
pub type Flags = libc::c_ulong;

/// The prctl(2) operations the runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prctl {
    /// PR_SET_KEEPCAPS: keep the permitted set across the uid change.
    KeepCaps(bool),
    /// PR_SET_NO_NEW_PRIVS.
    NoNewPrivs,
    /// PR_SET_DUMPABLE.
    Dumpable(bool),
    /// PR_CAPBSET_DROP of one capability.
    CapBsetDrop(u32),
    /// PR_CAP_AMBIENT_CLEAR_ALL.
    AmbientClearAll,
    /// PR_CAP_AMBIENT_RAISE of one capability.
    AmbientRaise(u32),
}

/// The three capability sets capset(2) takes, as bit masks by capability number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// sched_setattr(2)'s `struct sched_attr`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// What is at a path (its last component not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Dir,
    /// Anything else: file, device, symlink, socket, fifo.
    Other,
}

/// The system calls of container setup. Paths are those the kernel sees (a target inside
/// the rootfs is `/proc/self/fd/N` of a descriptor resolved inside it).
pub trait Sys {
    fn mount(
        &self,
        src: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: Flags,
        data: Option<&str>,
    ) -> io::Result<()>;
    fn umount2(&self, target: &str, flags: libc::c_int) -> io::Result<()>;
    /// mount_setattr(2) with `AT_RECURSIVE`: sets and clears `MOUNT_ATTR_*` on the mount at
    /// `target` and every mount under it.
    fn mount_setattr(&self, target: &str, attr_set: u64, attr_clr: u64) -> io::Result<()>;
    fn pivot_root(&self, new_root: &str, put_old: &str) -> io::Result<()>;
    fn chdir(&self, path: &Path) -> io::Result<()>;
    /// Makes a directory and its missing parents (mode 0755), as this process resolves paths
    /// (after pivot_root: inside the container).
    fn mkdir_all(&self, path: &Path) -> io::Result<()>;
    fn fchdir(&self, dir: BorrowedFd) -> io::Result<()>;
    fn chroot(&self, path: &str) -> io::Result<()>;
    /// The mount(2) flags of the mount holding `path` that a remount must keep (the kernel
    /// refuses to clear locked ones in a user namespace); 0 when it cannot be read.
    fn mount_flags(&self, path: &str) -> Flags;
    /// What is at `path` in the current root, if anything.
    fn node(&self, path: &str) -> Option<Node>;

    fn setns(&self, fd: BorrowedFd, nstype: libc::c_int) -> io::Result<()>;
    fn unshare(&self, flags: libc::c_int) -> io::Result<()>;
    fn sethostname(&self, name: &str) -> io::Result<()>;
    fn setdomainname(&self, name: &str) -> io::Result<()>;
    fn personality(&self, persona: libc::c_ulong) -> io::Result<()>;
    /// set_mempolicy(2): `mode` with its flags, the nodemask and the kernel's `maxnode`.
    fn set_mempolicy(
        &self,
        mode: i32,
        nodes: &[libc::c_ulong],
        maxnode: libc::c_ulong,
    ) -> io::Result<()>;

    fn setsid(&self) -> io::Result<()>;
    fn setgroups(&self, gids: &[libc::gid_t]) -> io::Result<()>;
    /// setresgid(gid, gid, gid).
    fn setresgid(&self, gid: libc::gid_t) -> io::Result<()>;
    /// setresuid(uid, uid, uid).
    fn setresuid(&self, uid: libc::uid_t) -> io::Result<()>;
    fn capset(&self, sets: CapSets) -> io::Result<()>;
    /// PR_CAPBSET_READ: whether the bounding set holds `cap`.
    fn capbset_read(&self, cap: u32) -> bool;
    fn prctl(&self, op: Prctl) -> io::Result<()>;
    fn setrlimit(
        &self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> io::Result<()>;
    /// ioprio_set(IOPRIO_WHO_PROCESS, 0, value).
    fn ioprio_set(&self, value: libc::c_long) -> io::Result<()>;
    fn sched_setattr(&self, attr: &SchedAttr) -> io::Result<()>;
    /// Sets the umask; returns the previous one.
    fn umask(&self, mask: libc::mode_t) -> libc::mode_t;
    /// Installs a compiled seccomp filter.
    /// Installs the filter; returns its listener when it has SCMP_ACT_NOTIFY rules.
    fn seccomp_load(
        &self,
        filter: &berth_seccomp::Filter,
    ) -> Result<Option<std::os::fd::OwnedFd>, String>;

    fn mknodat(
        &self,
        dir: BorrowedFd,
        name: &str,
        mode: libc::mode_t,
        dev: libc::dev_t,
    ) -> io::Result<()>;
    /// fchownat without following a symlink.
    fn fchownat(&self, dir: BorrowedFd, name: &str, uid: u32, gid: u32) -> io::Result<()>;
    fn unlinkat(&self, dir: BorrowedFd, name: &str) -> io::Result<()>;
    fn symlinkat(&self, target: &str, dir: BorrowedFd, name: &str) -> io::Result<()>;

    /// Writes a kernel file (/proc/sys/..., /proc/PID/uid_map, /proc/self/attr/...).
    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Reads a kernel file (/proc/self/setgroups, /proc/sys/kernel/cap_last_cap).
    fn read_file(&self, path: &Path) -> io::Result<String>;
}
