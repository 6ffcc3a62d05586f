//! A [`Sys`] for unit tests: it makes no system call, records each one (with descriptors
//! and `/proc/self/fd/N` targets shown as the paths they name), answers queries from what
//! the test configured, and fails the calls a test chooses with the errno it chooses.

use super::{CapSets, Flags, Node, Prctl, SchedAttr, Sys};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// One recorded system call and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mount {
        src: Option<String>,
        target: String,
        fstype: Option<String>,
        flags: Flags,
        data: Option<String>,
    },
    Umount2(String, libc::c_int),
    /// mount_setattr(2), recursive: target, attr_set, attr_clr.
    MountSetattr(String, u64, u64),
    PivotRoot(String, String),
    Chdir(String),
    MkdirAll(String),
    Fchdir(String),
    Chroot(String),
    Setns(String, libc::c_int),
    Unshare(libc::c_int),
    Sethostname(String),
    Setdomainname(String),
    Personality(libc::c_ulong),
    SetMempolicy(i32, Vec<libc::c_ulong>),
    Setsid,
    Setgroups(Vec<u32>),
    Setresgid(u32),
    Setresuid(u32),
    Capset(CapSets),
    Prctl(Prctl),
    Setrlimit(libc::__rlimit_resource_t, u64, u64),
    IoprioSet(libc::c_long),
    SchedSetattr(SchedAttr),
    Umask(libc::mode_t),
    SeccompLoad,
    Mknod(String, libc::mode_t, libc::dev_t),
    Chown(String, u32, u32),
    Unlink(String),
    Symlink(String, String),
    WriteFile(String, String),
}

type Rule = (Box<dyn Fn(&Call) -> bool>, i32);

/// The recording fake kernel.
#[derive(Default)]
pub struct Fake {
    calls: RefCell<Vec<Call>>,
    failures: RefCell<Vec<Rule>>,
    /// What `node` answers, by path (missing: nothing there).
    pub nodes: HashMap<String, Node>,
    /// What `read_file` answers, by path (missing: ENOENT).
    pub files: HashMap<String, String>,
    /// What `mount_flags` answers, by path as recorded (missing: 0).
    pub mount_flags: HashMap<String, Flags>,
    /// Capabilities the bounding set lacks (`capbset_read` is false for them).
    pub bset_lacks: Vec<u32>,
}

/// The path a descriptor names.
fn fd_path(fd: BorrowedFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("fd {}", fd.as_raw_fd()))
}

/// `/proc/self/fd/N` as the path it names (while the descriptor is open), other paths as is.
fn shown(path: &str) -> String {
    if let Some(n) = path.strip_prefix("/proc/self/fd/") {
        if let Ok(p) = std::fs::read_link(path) {
            if n.parse::<i32>().is_ok() {
                return p.to_string_lossy().into_owned();
            }
        }
    }
    path.to_string()
}

fn at(dir: BorrowedFd, name: &str) -> String {
    PathBuf::from(fd_path(dir))
        .join(name)
        .to_string_lossy()
        .into_owned()
}

impl Fake {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call for which `when` is true fail with `errno` (it is still recorded).
    pub fn fail(&self, errno: i32, when: impl Fn(&Call) -> bool + 'static) {
        self.failures.borrow_mut().push((Box::new(when), errno));
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// The calls so far with `prefix` (a rootfs directory) cut from every path, so tests
    /// read `/proc` rather than `/tmp/…/rootfs/proc`.
    pub fn calls_in(&self, prefix: &Path) -> Vec<Call> {
        let p = prefix.to_string_lossy().into_owned();
        let cut = |s: &String| -> String {
            if s == &p {
                "/".to_string()
            } else {
                match s.strip_prefix(&p) {
                    Some(rest) if rest.starts_with('/') => rest.to_string(),
                    _ => s.clone(),
                }
            }
        };
        self.calls()
            .into_iter()
            .map(|c| match c {
                Call::Mount {
                    src,
                    target,
                    fstype,
                    flags,
                    data,
                } => Call::Mount {
                    src: src.as_ref().map(cut),
                    target: cut(&target),
                    fstype,
                    flags,
                    data,
                },
                Call::MountSetattr(t, set, clr) => Call::MountSetattr(cut(&t), set, clr),
                Call::Mknod(p, m, d) => Call::Mknod(cut(&p), m, d),
                Call::Chown(p, u, g) => Call::Chown(cut(&p), u, g),
                Call::Unlink(p) => Call::Unlink(cut(&p)),
                Call::Symlink(t, p) => Call::Symlink(t, cut(&p)),
                Call::Fchdir(p) => Call::Fchdir(cut(&p)),
                other => other,
            })
            .collect()
    }

    /// Only the mounts among [`Fake::calls_in`].
    pub fn mounts_in(&self, prefix: &Path) -> Vec<Call> {
        self.calls_in(prefix)
            .into_iter()
            .filter(|c| matches!(c, Call::Mount { .. }))
            .collect()
    }

    fn record(&self, c: Call) -> io::Result<()> {
        let errno = self
            .failures
            .borrow()
            .iter()
            .find(|(when, _)| when(&c))
            .map(|(_, e)| *e);
        self.calls.borrow_mut().push(c);
        match errno {
            Some(e) => Err(io::Error::from_raw_os_error(e)),
            None => Ok(()),
        }
    }
}

/// A mount call as the fake records it, for comparing in tests.
pub fn mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: Flags,
    data: Option<&str>,
) -> Call {
    Call::Mount {
        src: src.map(str::to_string),
        target: target.to_string(),
        fstype: fstype.map(str::to_string),
        flags,
        data: data.map(str::to_string),
    }
}

impl Sys for Fake {
    fn mount(
        &self,
        src: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: Flags,
        data: Option<&str>,
    ) -> io::Result<()> {
        self.record(Call::Mount {
            src: src.map(shown),
            target: shown(target),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.filter(|d| !d.is_empty()).map(str::to_string),
        })
    }
    fn umount2(&self, target: &str, flags: libc::c_int) -> io::Result<()> {
        self.record(Call::Umount2(target.into(), flags))
    }
    fn mount_setattr(&self, target: &str, attr_set: u64, attr_clr: u64) -> io::Result<()> {
        self.record(Call::MountSetattr(shown(target), attr_set, attr_clr))
    }
    fn pivot_root(&self, new_root: &str, put_old: &str) -> io::Result<()> {
        self.record(Call::PivotRoot(new_root.into(), put_old.into()))
    }
    fn chdir(&self, path: &Path) -> io::Result<()> {
        self.record(Call::Chdir(path.to_string_lossy().into_owned()))
    }
    fn mkdir_all(&self, path: &Path) -> io::Result<()> {
        self.record(Call::MkdirAll(path.to_string_lossy().into_owned()))
    }
    fn fchdir(&self, dir: BorrowedFd) -> io::Result<()> {
        self.record(Call::Fchdir(fd_path(dir)))
    }
    fn chroot(&self, path: &str) -> io::Result<()> {
        self.record(Call::Chroot(path.into()))
    }
    fn mount_flags(&self, path: &str) -> Flags {
        self.mount_flags.get(&shown(path)).copied().unwrap_or(0)
    }
    fn node(&self, path: &str) -> Option<Node> {
        self.nodes.get(path).copied()
    }
    fn setns(&self, fd: BorrowedFd, nstype: libc::c_int) -> io::Result<()> {
        self.record(Call::Setns(fd_path(fd), nstype))
    }
    fn unshare(&self, flags: libc::c_int) -> io::Result<()> {
        self.record(Call::Unshare(flags))
    }
    fn sethostname(&self, name: &str) -> io::Result<()> {
        self.record(Call::Sethostname(name.into()))
    }
    fn setdomainname(&self, name: &str) -> io::Result<()> {
        self.record(Call::Setdomainname(name.into()))
    }
    fn personality(&self, persona: libc::c_ulong) -> io::Result<()> {
        self.record(Call::Personality(persona))
    }
    fn set_mempolicy(
        &self,
        mode: i32,
        nodes: &[libc::c_ulong],
        _maxnode: libc::c_ulong,
    ) -> io::Result<()> {
        self.record(Call::SetMempolicy(mode, nodes.to_vec()))
    }
    fn setsid(&self) -> io::Result<()> {
        self.record(Call::Setsid)
    }
    fn setgroups(&self, gids: &[libc::gid_t]) -> io::Result<()> {
        self.record(Call::Setgroups(gids.to_vec()))
    }
    fn setresgid(&self, gid: libc::gid_t) -> io::Result<()> {
        self.record(Call::Setresgid(gid))
    }
    fn setresuid(&self, uid: libc::uid_t) -> io::Result<()> {
        self.record(Call::Setresuid(uid))
    }
    fn capset(&self, sets: CapSets) -> io::Result<()> {
        self.record(Call::Capset(sets))
    }
    fn capbset_read(&self, cap: u32) -> bool {
        !self.bset_lacks.contains(&cap)
    }
    fn prctl(&self, op: Prctl) -> io::Result<()> {
        self.record(Call::Prctl(op))
    }
    fn setrlimit(
        &self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> io::Result<()> {
        self.record(Call::Setrlimit(resource, soft, hard))
    }
    fn ioprio_set(&self, value: libc::c_long) -> io::Result<()> {
        self.record(Call::IoprioSet(value))
    }
    fn sched_setattr(&self, attr: &SchedAttr) -> io::Result<()> {
        self.record(Call::SchedSetattr(*attr))
    }
    fn umask(&self, mask: libc::mode_t) -> libc::mode_t {
        let _ = self.record(Call::Umask(mask));
        0o022
    }
    fn seccomp_load(
        &self,
        _filter: &berth_seccomp::Filter,
    ) -> Result<Option<std::os::fd::OwnedFd>, String> {
        self.record(Call::SeccompLoad)
            .map(|()| None)
            .map_err(|e| e.to_string())
    }
    fn mknodat(
        &self,
        dir: BorrowedFd,
        name: &str,
        mode: libc::mode_t,
        dev: libc::dev_t,
    ) -> io::Result<()> {
        self.record(Call::Mknod(at(dir, name), mode, dev))
    }
    fn fchownat(&self, dir: BorrowedFd, name: &str, uid: u32, gid: u32) -> io::Result<()> {
        self.record(Call::Chown(at(dir, name), uid, gid))
    }
    fn unlinkat(&self, dir: BorrowedFd, name: &str) -> io::Result<()> {
        self.record(Call::Unlink(at(dir, name)))
    }
    fn symlinkat(&self, target: &str, dir: BorrowedFd, name: &str) -> io::Result<()> {
        self.record(Call::Symlink(target.into(), at(dir, name)))
    }
    fn write_file(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.record(Call::WriteFile(
            path.to_string_lossy().into_owned(),
            String::from_utf8_lossy(data).into_owned(),
        ))
    }
    fn read_file(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(&*path.to_string_lossy())
            .cloned()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }
}
