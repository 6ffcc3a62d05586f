//! The container's root filesystem, set up inside its new mount namespace: propagation,
//! the rootfs bind mount, the spec's mounts (resolved inside the rootfs, never following
//! symlinks out), /dev with its default devices and symlinks, pivot_root (or chroot), and
//! after it the read-only root, masked and read-only paths.

use crate::error::{bail, Context, Result};
use crate::mounts::{parse_options, propagation, Options};
use crate::sys::{Flags, Node, Sys};
use berth_fs::{fd_path, mountinfo, Entry, InRoot, Kind};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct Rootfs<'a> {
    pub sys: &'a dyn Sys,
    pub spec: &'a Spec,
    pub path: &'a Path,
    pub bundle: &'a Path,
    pub userns: bool,
    /// The container's cgroup directories (one per hierarchy), for `cgroup` mounts.
    pub cgroup_dirs: Vec<PathBuf>,
}

/// Devices every container gets (runc's list), as (path, major, minor): created in /dev
/// and allowed by the device rules (`device_rules`).
pub const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

fn root_propagation(spec: &Spec) -> Result<Option<Flags>> {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    {
        None | Some("") => Ok(None),
        Some(p) => match propagation(p) {
            Some(f) => Ok(Some(f)),
            None => bail!("linux.rootfsPropagation {p:?} is not a propagation mode"),
        },
    }
}

impl Rootfs<'_> {
    /// Everything up to (not including) pivot_root. Returns the rootfs directory fd.
    pub fn prepare(&self) -> Result<OwnedFd> {
        let prop = root_propagation(self.spec)?;
        self.sys
            .mount(
                None,
                "/",
                None,
                prop.unwrap_or(libc::MS_SLAVE | libc::MS_REC),
                None,
            )
            .ctx("making / a slave mount")?;
        let rootfs = self.path.to_str().ok_or("rootfs path is not UTF-8")?;
        if prop.is_some_and(|f| f & libc::MS_SHARED != 0) {
            self.make_parent_private()?;
        }
        self.sys
            .mount(
                Some(rootfs),
                rootfs,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .with_ctx(|| format!("bind-mounting rootfs {rootfs}"))?;
        let root =
            std::fs::File::open(self.path).with_ctx(|| format!("opening rootfs {rootfs}"))?;
        let root: OwnedFd = root.into();
        let mounts = self.spec.mounts().as_deref().unwrap_or(&[]);
        for m in mounts {
            self.mount_entry(&root, m).with_ctx(|| {
                format!(
                    "mount {} ({})",
                    m.destination().display(),
                    m.typ().as_deref().unwrap_or("bind")
                )
            })?;
        }
        let dev_is_bind = mounts.iter().any(|m| {
            m.destination() == Path::new("/dev")
                && (m.typ().as_deref() == Some("bind")
                    || m.options()
                        .as_ref()
                        .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind")))
        });
        let old_umask = self.sys.umask(0);
        let r = if dev_is_bind {
            Ok(())
        } else {
            self.setup_dev(&root)
        };
        self.sys.umask(old_umask);
        r?;
        Ok(root)
    }

    /// pivot_root requires the new root's parent mount not to be shared.
    fn make_parent_private(&self) -> Result<()> {
        let infos = mountinfo::read_self().unwrap_or_default();
        let parent = infos
            .iter()
            .filter(|m| self.path.starts_with(&m.mount_point))
            .max_by_key(|m| m.mount_point.as_os_str().len());
        if let Some(p) = parent {
            if p.optional.iter().any(|o| o.starts_with("shared:")) {
                let mp = p.mount_point.to_string_lossy();
                self.sys
                    .mount(None, &mp, None, libc::MS_PRIVATE, None)
                    .with_ctx(|| format!("making {mp} private"))?;
            }
        }
        Ok(())
    }

    /// One spec mount: the mount itself, then its recursive attributes over everything it
    /// brought (an rbind's submounts too), as runc applies them.
    fn mount_entry(&self, root: &OwnedFd, m: &Mount) -> Result<()> {
        let mut opts = parse_options(m.options().as_deref().unwrap_or(&[]))?;
        let typ = m.typ().as_deref().unwrap_or("");
        let dest = m.destination();
        if typ == "cgroup" || typ == "cgroup2" {
            self.mount_cgroups(root, dest, opts.flags)?;
        } else {
            if made_read_only_later(m, &opts) {
                opts.flags &= !libc::MS_RDONLY;
            }
            self.mount_plain(root, m, typ, &opts)?;
        }
        match opts.attrs {
            Some(a) => {
                let now = InRoot::new(root.as_fd())
                    .open(dest, libc::O_PATH, 0)
                    .ctx("reopening the mount point")?;
                self.sys
                    .mount_setattr(&fd_path(now.as_fd()), a.attr_set(), a.attr_clr())
                    .ctx("setting recursive mount attributes (mount_setattr)")
            }
            None => Ok(()),
        }
    }

    /// A mount other than `cgroup`: a bind, or a filesystem mounted fresh.
    fn mount_plain(&self, root: &OwnedFd, m: &Mount, typ: &str, opts: &Options) -> Result<()> {
        let dest = m.destination();
        let data = opts.data.join(",");
        if opts.bind || typ == "bind" {
            let src = m.source().as_ref().ok_or("bind mount without a source")?;
            let src = if src.is_absolute() {
                src.clone()
            } else {
                self.bundle.join(src)
            };
            let meta = std::fs::metadata(&src).with_ctx(|| format!("source {}", src.display()))?;
            let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
            let target = InRoot::new(root.as_fd())
                .ensure(dest, kind)
                .ctx("creating the mount point in the rootfs")?;
            let flags = libc::MS_BIND | if opts.recursive { libc::MS_REC } else { 0 };
            self.sys
                .mount(
                    Some(&src.to_string_lossy()),
                    &fd_path(target.as_fd()),
                    None,
                    flags,
                    None,
                )
                .with_ctx(|| format!("binding {}", src.display()))?;
            let extra = opts.flags & !libc::MS_REMOUNT;
            if extra != 0 {
                let now = InRoot::new(root.as_fd())
                    .open(dest, libc::O_PATH, 0)
                    .ctx("reopening the mount point")?;
                let p = fd_path(now.as_fd());
                let keep = if self.userns {
                    self.sys.mount_flags(&p) & !libc::MS_RDONLY
                } else {
                    0
                };
                self.sys
                    .mount(
                        None,
                        &p,
                        None,
                        libc::MS_REMOUNT | libc::MS_BIND | extra | keep,
                        None,
                    )
                    .ctx("remounting with its options")?;
            }
            return self.apply_propagation(root, dest, &opts.propagation);
        }
        if typ == "proc" || typ == "sysfs" {
            refuse_unless_directory(root, dest, typ)?;
        }
        let target = InRoot::new(root.as_fd())
            .ensure(dest, Kind::Dir)
            .ctx("creating the mount point in the rootfs")?;
        let src = m
            .source()
            .as_ref()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| typ.to_string());
        let p = fd_path(target.as_fd());
        let r = self
            .sys
            .mount(Some(&src), &p, Some(typ), opts.flags, Some(&data));
        match r {
            Ok(()) => {}
            // In a user namespace without their own namespaces, sysfs and mqueue cannot be
            // mounted fresh: bind the runtime's view instead (what runc does).
            Err(e)
                if e.raw_os_error() == Some(libc::EPERM) && (typ == "sysfs" || typ == "mqueue") =>
            {
                let host = if typ == "sysfs" {
                    "/sys"
                } else {
                    "/dev/mqueue"
                };
                self.sys
                    .mount(Some(host), &p, None, libc::MS_BIND | libc::MS_REC, None)
                    .with_ctx(|| format!("binding {host} (fresh {typ} refused: {e})"))?;
                if opts.flags != 0 {
                    let now = InRoot::new(root.as_fd())
                        .open(dest, libc::O_PATH, 0)
                        .ctx("reopening the mount point")?;
                    let p = fd_path(now.as_fd());
                    let keep = self.sys.mount_flags(&p) & !libc::MS_RDONLY;
                    self.sys
                        .mount(
                            None,
                            &p,
                            None,
                            libc::MS_REMOUNT | libc::MS_BIND | opts.flags | keep,
                            None,
                        )
                        .ctx("remounting with its options")?;
                }
            }
            Err(e) => return Err(e).ctx(format!("mounting {typ} from {src}")),
        }
        self.apply_propagation(root, dest, &opts.propagation)
    }

    fn apply_propagation(&self, root: &OwnedFd, dest: &Path, props: &[Flags]) -> Result<()> {
        for &f in props {
            let now = InRoot::new(root.as_fd())
                .open(dest, libc::O_PATH, 0)
                .ctx("reopening the mount point")?;
            self.sys
                .mount(None, &fd_path(now.as_fd()), None, f, None)
                .ctx("setting propagation")?;
        }
        Ok(())
    }

    /// A `cgroup` mount: on cgroup v2 one cgroup2 mount; on v1 (and hybrid) a tmpfs holding
    /// one mount per hierarchy. With a cgroup namespace the filesystems are mounted fresh
    /// (the kernel roots them at the namespace); without, the container's own cgroup
    /// directories are bind-mounted, so the host's tree stays invisible.
    fn mount_cgroups(&self, root: &OwnedFd, dest: &Path, flags: Flags) -> Result<()> {
        let infos = mountinfo::read_self().unwrap_or_default();
        let base_flags =
            flags & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME);
        let readonly = flags & libc::MS_RDONLY != 0;
        let v1: Vec<_> = infos.iter().filter(|m| m.fstype == "cgroup").collect();
        let v2 = infos.iter().find(|m| m.fstype == "cgroup2");
        if v1.is_empty() {
            let v2 = v2.ok_or("no cgroup filesystem is mounted on the host")?;
            return self.mount_one_cgroup(root, dest, v2, base_flags | (flags & libc::MS_RDONLY));
        }
        let target = InRoot::new(root.as_fd())
            .ensure(dest, Kind::Dir)
            .ctx("creating the mount point")?;
        self.sys
            .mount(
                Some("tmpfs"),
                &fd_path(target.as_fd()),
                Some("tmpfs"),
                base_flags,
                Some("mode=755"),
            )
            .ctx("mounting the tmpfs for cgroup hierarchies")?;
        for m in &v1 {
            let name = m
                .mount_point
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.is_empty() {
                continue;
            }
            let sub = dest.join(&name);
            self.mount_one_cgroup(root, &sub, m, base_flags | (flags & libc::MS_RDONLY))?;
            // Co-mounted controllers ("cpu,cpuacct") get a symlink per controller.
            if name.contains(',') {
                for c in name.split(',') {
                    let parent = InRoot::new(root.as_fd())
                        .open(dest, libc::O_PATH | libc::O_DIRECTORY, 0)
                        .ctx("reopening the cgroup tmpfs")?;
                    symlinkat(self.sys, &name, &parent, c);
                }
            }
        }
        if let Some(v2) = v2 {
            if v2
                .mount_point
                .parent()
                .is_some_and(|p| v1.iter().any(|m| m.mount_point.parent() == Some(p)))
            {
                let name = v2
                    .mount_point
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "unified".into());
                self.mount_one_cgroup(
                    root,
                    &dest.join(name),
                    v2,
                    base_flags | (flags & libc::MS_RDONLY),
                )?;
            }
        }
        if readonly {
            let now = InRoot::new(root.as_fd())
                .open(dest, libc::O_PATH, 0)
                .ctx("reopening the mount point")?;
            self.sys
                .mount(
                    None,
                    &fd_path(now.as_fd()),
                    None,
                    libc::MS_REMOUNT | libc::MS_RDONLY | base_flags,
                    Some("mode=755"),
                )
                .ctx("making the cgroup tmpfs read-only")?;
        }
        Ok(())
    }

    fn mount_one_cgroup(
        &self,
        root: &OwnedFd,
        dest: &Path,
        host: &mountinfo::MountInfo,
        flags: Flags,
    ) -> Result<()> {
        // Only the container's own directory of each hierarchy is shown; a hierarchy it has
        // no directory in (e.g. name=systemd) is left out rather than exposing the host's.
        let Some(src) = self
            .cgroup_dirs
            .iter()
            .find(|d| d.starts_with(&host.mount_point))
        else {
            return Ok(());
        };
        let target = InRoot::new(root.as_fd())
            .ensure(dest, Kind::Dir)
            .ctx("creating the mount point")?;
        let p = fd_path(target.as_fd());
        self.sys
            .mount(
                Some(&src.to_string_lossy()),
                &p,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .with_ctx(|| format!("binding {}", src.display()))?;
        let now = InRoot::new(root.as_fd())
            .open(dest, libc::O_PATH, 0)
            .ctx("reopening the mount point")?;
        let p = fd_path(now.as_fd());
        let keep = if self.userns {
            self.sys.mount_flags(&p) & !libc::MS_RDONLY
        } else {
            0
        };
        self.sys
            .mount(
                None,
                &p,
                None,
                libc::MS_REMOUNT | libc::MS_BIND | flags | keep,
                None,
            )
            .with_ctx(|| format!("remounting {}", dest.display()))
    }

    fn setup_dev(&self, root: &OwnedFd) -> Result<()> {
        let configured = self
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().as_deref())
            .unwrap_or(&[]);
        for &(path, major, minor) in DEFAULT_DEVICES {
            if configured.iter().any(|d| d.path() == Path::new(path)) {
                continue;
            }
            self.create_device(
                root,
                Path::new(path),
                libc::S_IFCHR,
                major,
                minor,
                0o666,
                0,
                0,
            )
            .with_ctx(|| format!("device {path}"))?;
        }
        for d in configured {
            self.configured_device(root, d)
                .with_ctx(|| format!("device {}", d.path().display()))?;
        }
        let dev = InRoot::new(root.as_fd())
            .ensure(Path::new("/dev"), Kind::Dir)
            .ctx("/dev")?;
        for (link, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            symlinkat(self.sys, target, &dev, link);
        }
        if Path::new("/proc/kcore").exists() {
            symlinkat(self.sys, "/proc/kcore", &dev, "core");
        }
        // /dev/ptmx must be the container's own devpts instance.
        let _ = self.sys.unlinkat(dev.as_fd(), "ptmx");
        symlinkat(self.sys, "pts/ptmx", &dev, "ptmx");
        Ok(())
    }

    fn configured_device(&self, root: &OwnedFd, d: &LinuxDevice) -> Result<()> {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => bail!("device type \"a\" is only valid in cgroup rules"),
        };
        if !d.path().starts_with("/dev") {
            bail!("devices must be under /dev");
        }
        let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
        self.create_device(
            root,
            d.path(),
            kind,
            d.major() as u64,
            d.minor() as u64,
            mode,
            d.uid().unwrap_or(0),
            d.gid().unwrap_or(0),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn create_device(
        &self,
        root: &OwnedFd,
        path: &Path,
        kind: libc::mode_t,
        major: u64,
        minor: u64,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<()> {
        if self.userns {
            // Device nodes cannot be created in a user namespace: bind the host's.
            return bind_host_device(self.sys, root, path);
        }
        let parent = path.parent().unwrap_or(Path::new("/dev"));
        let name = path.file_name().ok_or("device path has no name")?;
        let pfd = InRoot::new(root.as_fd())
            .ensure(parent, Kind::Dir)
            .ctx("creating the parent directory")?;
        let name = name.to_str().ok_or("device name is not UTF-8")?;
        // A file of the same name in the image is replaced (never followed).
        let _ = self.sys.unlinkat(pfd.as_fd(), name);
        let dev = libc::makedev(major as u32, minor as u32);
        if let Err(e) = self.sys.mknodat(pfd.as_fd(), name, kind | mode, dev) {
            // The device rules can forbid creating a node they also forbid using
            // (cgroup v1 keeps "deny c 1:11" even after a later "allow c *:* m"). runc
            // creates nodes before its rules apply; the container gets the node and
            // cannot open it. Binding the host's identical node gives the same.
            if e.raw_os_error() == Some(libc::EPERM) && host_node_is(path, kind, major, minor) {
                return bind_host_device(self.sys, root, path);
            }
            bail!("mknod: {e}");
        }
        self.sys
            .fchownat(pfd.as_fd(), name, uid, gid)
            .map_err(|e| format!("chown: {e}"))?;
        Ok(())
    }
}

/// Bind-mounts the host's device node at `path` onto the same path in the rootfs.
fn bind_host_device(sys: &dyn Sys, root: &OwnedFd, path: &Path) -> Result<()> {
    let target = InRoot::new(root.as_fd())
        .ensure(path, Kind::File)
        .ctx("creating the mount point")?;
    sys.mount(
        Some(&path.to_string_lossy()),
        &fd_path(target.as_fd()),
        None,
        libc::MS_BIND,
        None,
    )
    .ctx("binding the host device")
}

/// Whether the host has a device node of this kind and number at `path`.
fn host_node_is(path: &Path, kind: libc::mode_t, major: u64, minor: u64) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    std::fs::symlink_metadata(path).is_ok_and(|m| {
        let t = m.file_type();
        let same_kind = (kind == libc::S_IFCHR && t.is_char_device())
            || (kind == libc::S_IFBLK && t.is_block_device());
        same_kind && m.rdev() == libc::makedev(major as u32, minor as u32)
    })
}

/// proc and sysfs go on an ordinary directory of the rootfs (or where nothing is yet), as
/// runc requires: through a symlink they would land wherever the image points, and the
/// path the container and the runtime use (/proc/self/..., masked paths) would be one the
/// image controls.
fn refuse_unless_directory(root: &OwnedFd, dest: &Path, typ: &str) -> Result<()> {
    let what = match InRoot::new(root.as_fd())
        .entry(dest)
        .ctx("looking at the mount point")?
    {
        Entry::Missing | Entry::Dir => return Ok(()),
        Entry::Symlink(to) => format!("a symlink (to {})", to.display()),
        Entry::Other => "not a directory".to_string(),
    };
    bail!(
        "filesystem {typ} must be mounted on an ordinary directory, but {} in the rootfs is \
         {what}: make it a directory in the image",
        dest.display()
    )
}

/// A symlink the container gets if nothing is in the way (an existing entry is kept).
fn symlinkat(sys: &dyn Sys, target: &str, dir: &OwnedFd, name: &str) {
    let _ = sys.symlinkat(target, dir.as_fd(), name);
}

/// Makes the rootfs the root: pivot_root, the old root detached; or, with `no_pivot`,
/// moved over `/` and chrooted (the mount namespace's root is then the rootfs, so exec's
/// setns lands in it too).
pub fn enter(sys: &dyn Sys, root: &OwnedFd, rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        let p = rootfs.to_string_lossy();
        sys.chdir(rootfs).ctx("chdir to the rootfs")?;
        sys.mount(Some(&p), "/", None, libc::MS_MOVE, None)
            .ctx("moving the rootfs to /")?;
        sys.chroot(".").ctx("chroot")?;
        return sys.chdir(Path::new("/")).ctx("chdir /");
    }
    let old = std::fs::File::open("/").ctx("opening the old root")?;
    let new = InRoot::new(root.as_fd())
        .open(Path::new("/"), libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .ctx("opening the rootfs")?;
    sys.fchdir(new.as_fd()).ctx("chdir to the rootfs")?;
    sys.pivot_root(".", ".").ctx("pivot_root")?;
    // The old root is now stacked on "."; detach it without touching the host's mounts.
    sys.fchdir(old.as_fd()).ctx("chdir to the old root")?;
    sys.mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None)
        .ctx("making the old root a slave")?;
    sys.umount2(".", libc::MNT_DETACH)
        .ctx("detaching the old root")?;
    sys.chdir(Path::new("/")).ctx("chdir /")
}

/// After pivot_root: root propagation, sysctls, masked and read-only paths, read-only root.
pub fn finalize(sys: &dyn Sys, spec: &Spec) -> Result<()> {
    if let Some(p) = root_propagation(spec)? {
        sys.mount(None, "/", None, p, None)
            .ctx("setting root propagation")?;
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if let Some(sysctl) = linux.sysctl() {
        for (k, v) in sysctl {
            let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
            sys.write_file(&path, v.as_bytes())
                .with_ctx(|| format!("sysctl {k}={v}"))?;
        }
    }
    for dest in read_only_later(spec) {
        let d = dest.to_string_lossy();
        remount_read_only(sys, &d).with_ctx(|| format!("making {d} read-only"))?;
    }
    for p in linux.readonly_paths().as_deref().unwrap_or(&[]) {
        readonly_path(sys, p).with_ctx(|| format!("read-only path {p}"))?;
    }
    for p in linux.masked_paths().as_deref().unwrap_or(&[]) {
        mask_path(sys, p).with_ctx(|| format!("masked path {p}"))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_read_only(sys, "/").ctx("making the root read-only")?;
    }
    Ok(())
}

/// Makes the mount at `path` read-only, keeping its other flags.
fn remount_read_only(sys: &dyn Sys, path: &str) -> io::Result<()> {
    let keep = sys.mount_flags(path);
    sys.mount(
        None,
        path,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | keep,
        None,
    )
}

/// A read-only tmpfs, or a read-only filesystem at `/dev` (not a bind), is mounted writable,
/// so that devices, symlinks and the mount points of later mounts under it can be made;
/// [`finalize`] makes it read-only (as runc 1.1 does).
fn made_read_only_later(m: &Mount, opts: &Options) -> bool {
    let typ = m.typ().as_deref();
    opts.flags & libc::MS_RDONLY != 0
        && !opts.bind
        && typ != Some("bind")
        && (typ == Some("tmpfs") || clean(m.destination()) == Path::new("/dev"))
}

fn clean(dest: &Path) -> PathBuf {
    dest.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Where the mounts [`made_read_only_later`] are, in the order listed, leaving out those a
/// later mount covers (at the same place or above it).
fn read_only_later(spec: &Spec) -> Vec<PathBuf> {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            parse_options(m.options().as_deref().unwrap_or(&[]))
                .is_ok_and(|o| made_read_only_later(m, &o))
        })
        .map(|(i, m)| (i, clean(m.destination())))
        .filter(|(i, dest)| {
            !mounts[i + 1..]
                .iter()
                .any(|later| dest.starts_with(clean(later.destination())))
        })
        .map(|(_, dest)| dest)
        .collect()
}

fn readonly_path(sys: &dyn Sys, p: &str) -> Result<()> {
    if sys.node(p).is_none() {
        return Ok(());
    }
    sys.mount(Some(p), p, None, libc::MS_BIND | libc::MS_REC, None)
        .ctx("bind")?;
    let keep = sys.mount_flags(p);
    sys.mount(
        None,
        p,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_REC | keep,
        None,
    )
    .ctx("remount read-only")
}

fn mask_path(sys: &dyn Sys, p: &str) -> Result<()> {
    match sys.node(p) {
        None => Ok(()),
        Some(Node::Dir) => sys
            .mount(Some("tmpfs"), p, Some("tmpfs"), libc::MS_RDONLY, None)
            .ctx("mounting tmpfs"),
        Some(Node::Other) => sys
            .mount(Some("/dev/null"), p, None, libc::MS_BIND, None)
            .ctx("binding /dev/null"),
    }
}

#[cfg(test)]
mod tests {
    //! How config.json's root, mounts, devices, masked and read-only paths become
    //! system calls, shown with the recording fake (the rootfs is a temporary directory:
    //! mount points are really created in it, nothing is mounted).
    use super::*;
    use crate::sys::fake::{mount as m, Call, Fake};
    use crate::testing::{spec, TempBundle};
    use serde_json::json;

    const BIND: Flags = libc::MS_BIND;
    const REC: Flags = libc::MS_REC;
    const RO: Flags = libc::MS_RDONLY;
    const REMOUNT: Flags = libc::MS_REMOUNT;

    fn prepare(b: &TempBundle, spec: &Spec, userns: bool, fake: &Fake) -> Result<()> {
        let rootfs = b.rootfs();
        let r = Rootfs {
            sys: fake,
            spec,
            path: &rootfs,
            bundle: b.path(),
            userns,
            cgroup_dirs: Vec::new(),
        };
        r.prepare().map(drop)
    }

    /// The mounts of a prepared rootfs, paths relative to it.
    fn mounts(b: &TempBundle, s: &Spec, userns: bool) -> Vec<Call> {
        let fake = Fake::new();
        prepare(b, s, userns, &fake).unwrap();
        fake.mounts_in(&b.rootfs())
    }

    #[test]
    fn root_becomes_a_recursive_slave_then_the_rootfs_is_bound_onto_itself() {
        let b = TempBundle::new();
        let got = mounts(&b, &spec(json!({})), false);
        assert_eq!(
            got,
            [
                m(None, "/", None, libc::MS_SLAVE | REC, None),
                m(Some("/"), "/", None, BIND | REC, None),
            ]
        );
    }

    #[test]
    fn rootfs_propagation_replaces_the_default_slave_and_is_set_again_after_pivot() {
        let b = TempBundle::new();
        let s = spec(json!({"linux": {"rootfsPropagation": "rprivate"}}));
        let got = mounts(&b, &s, false);
        assert_eq!(got[0], m(None, "/", None, libc::MS_PRIVATE | REC, None));
        let fake = Fake::new();
        finalize(&fake, &s).unwrap();
        assert_eq!(
            fake.calls(),
            [m(None, "/", None, libc::MS_PRIVATE | REC, None)]
        );
    }

    #[test]
    fn unknown_rootfs_propagation_is_refused_before_any_mount() {
        let b = TempBundle::new();
        let fake = Fake::new();
        let s = spec(json!({"linux": {"rootfsPropagation": "sideways"}}));
        let e = prepare(&b, &s, false, &fake).unwrap_err();
        assert_eq!(
            e.0,
            "linux.rootfsPropagation \"sideways\" is not a propagation mode"
        );
        assert!(fake.calls().is_empty());
    }

    #[test]
    fn spec_mounts_in_listed_order_with_flags_and_data() {
        let b = TempBundle::new();
        let s = spec(json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/run", "type": "tmpfs"}
        ]}));
        let got = mounts(&b, &s, false);
        let (nosuid, noexec, nodev) = (libc::MS_NOSUID, libc::MS_NOEXEC, libc::MS_NODEV);
        assert_eq!(
            got[2..],
            [
                m(Some("proc"), "/proc", Some("proc"), 0, None),
                m(
                    Some("tmpfs"),
                    "/dev",
                    Some("tmpfs"),
                    nosuid | libc::MS_STRICTATIME,
                    Some("mode=755,size=65536k")
                ),
                m(
                    Some("devpts"),
                    "/dev/pts",
                    Some("devpts"),
                    nosuid | noexec,
                    Some("newinstance,ptmxmode=0666,mode=0620,gid=5")
                ),
                m(
                    Some("shm"),
                    "/dev/shm",
                    Some("tmpfs"),
                    nosuid | noexec | nodev,
                    Some("mode=1777,size=65536k")
                ),
                m(
                    Some("mqueue"),
                    "/dev/mqueue",
                    Some("mqueue"),
                    nosuid | noexec | nodev,
                    None
                ),
                m(
                    Some("sysfs"),
                    "/sys",
                    Some("sysfs"),
                    nosuid | noexec | nodev | RO,
                    None
                ),
                // no source: the type is the source
                m(Some("tmpfs"), "/run", Some("tmpfs"), 0, None),
            ]
        );
        // mount points were made inside the rootfs
        for d in ["proc", "dev/pts", "dev/shm", "dev/mqueue", "sys", "run"] {
            assert!(b.rootfs().join(d).is_dir(), "{d}");
        }
    }

    #[test]
    fn read_only_bind_is_a_bind_then_a_remount_with_the_flags() {
        let b = TempBundle::new();
        let src = b.path().join("data");
        std::fs::create_dir(&src).unwrap();
        let src = src.to_str().unwrap();
        let s = spec(
            json!({"mounts": [{"destination": "/data", "type": "bind", "source": src,
                                        "options": ["rbind", "ro", "nosuid", "nodev"]}]}),
        );
        let got = mounts(&b, &s, false);
        assert_eq!(
            got[2..],
            [
                m(Some(src), "/data", None, BIND | REC, None),
                m(
                    None,
                    "/data",
                    None,
                    REMOUNT | BIND | RO | libc::MS_NOSUID | libc::MS_NODEV,
                    None
                ),
            ]
        );
    }

    #[test]
    fn recursive_attributes_are_set_after_the_mount_and_its_propagation() {
        use berth_fs::mount_options::attr;
        let b = TempBundle::new();
        let src = b.path().join("data");
        std::fs::create_dir(&src).unwrap();
        let src = src.to_str().unwrap();
        let s = spec(json!({"mounts": [
            {"destination": "/data", "type": "bind", "source": src,
             "options": ["rbind", "rro", "rprivate", "rnoatime"]},
            {"destination": "/t", "type": "tmpfs", "source": "tmpfs",
             "options": ["rsuid", "size=1m"]}
        ]}));
        let fake = Fake::new();
        prepare(&b, &s, false, &fake).unwrap();
        let calls = fake.calls_in(&b.rootfs());
        let first = calls
            .iter()
            .position(|c| matches!(c, Call::Mount { target, .. } if target == "/data"))
            .unwrap();
        assert_eq!(
            calls[first..first + 6],
            [
                m(Some(src), "/data", None, BIND | REC, None),
                m(None, "/data", None, libc::MS_PRIVATE | REC, None),
                Call::MountSetattr(
                    "/data".into(),
                    attr::RDONLY | attr::NOATIME,
                    attr::ATIME_MASK
                ),
                m(Some("tmpfs"), "/t", Some("tmpfs"), 0, Some("size=1m")),
                // the recursive words are not filesystem data
                Call::MountSetattr("/t".into(), 0, attr::NOSUID),
                Call::Umask(0),
            ]
        );
    }

    #[test]
    fn a_failed_mount_setattr_names_the_mount() {
        let b = TempBundle::new();
        let fake = Fake::new();
        fake.fail(libc::EINVAL, |c| matches!(c, Call::MountSetattr(..)));
        let s = spec(json!({"mounts": [{"destination": "/x", "type": "tmpfs",
                                        "source": "tmpfs", "options": ["rro"]}]}));
        assert_eq!(
            prepare(&b, &s, false, &fake).unwrap_err().0,
            "mount /x (tmpfs): setting recursive mount attributes (mount_setattr): \
             Invalid argument (os error 22)"
        );
    }

    #[test]
    fn read_only_tmpfs_and_dev_are_mounted_writable_and_made_read_only_after_pivot() {
        let b = TempBundle::new();
        let s = spec(json!({"mounts": [
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "ro", "mode=755"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["ro"]},
            {"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
            {"destination": "/x/y", "type": "tmpfs", "source": "tmpfs"},
            // covered by the mount after it: nothing to make read-only later
            {"destination": "/z/", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
            {"destination": "/z", "type": "tmpfs", "source": "tmpfs"}
        ]}));
        let got = mounts(&b, &s, false);
        assert_eq!(
            got[2..6],
            [
                m(
                    Some("tmpfs"),
                    "/dev",
                    Some("tmpfs"),
                    libc::MS_NOSUID,
                    Some("mode=755")
                ),
                m(Some("shm"), "/dev/shm", Some("tmpfs"), 0, None),
                m(Some("tmpfs"), "/x", Some("tmpfs"), 0, None),
                m(Some("tmpfs"), "/x/y", Some("tmpfs"), 0, None),
            ]
        );
        let mut fake = Fake::new();
        fake.mount_flags.insert("/dev".into(), libc::MS_NOSUID);
        finalize(&fake, &s).unwrap();
        assert_eq!(
            fake.calls(),
            [
                m(
                    None,
                    "/dev",
                    None,
                    REMOUNT | BIND | RO | libc::MS_NOSUID,
                    None
                ),
                m(None, "/dev/shm", None, REMOUNT | BIND | RO, None),
                m(None, "/x", None, REMOUNT | BIND | RO, None),
            ]
        );
        // a writable /dev, a bind at /dev, or a read-only proc elsewhere are left as they are
        for (dest, typ, opts) in [
            ("/dev/", "tmpfs", json!(["nosuid"])),
            ("/dev", "tmpfs", json!(["rbind", "ro"])),
            ("/proc", "proc", json!(["ro"])),
        ] {
            let s = spec(json!({"mounts": [{"destination": dest, "type": typ,
                                            "source": "x", "options": opts}]}));
            let fake = Fake::new();
            finalize(&fake, &s).unwrap();
            assert_eq!(fake.calls(), [], "{opts}");
        }
    }

    #[test]
    fn plain_bind_is_one_non_recursive_mount_and_a_relative_source_is_in_the_bundle() {
        let b = TempBundle::new();
        std::fs::create_dir(b.path().join("conf")).unwrap();
        let s = spec(
            json!({"mounts": [{"destination": "/etc/conf", "source": "conf",
                                        "options": ["bind"]}]}),
        );
        let got = mounts(&b, &s, false);
        let src = b.path().join("conf");
        assert_eq!(
            got[2..],
            [m(
                Some(src.to_str().unwrap()),
                "/etc/conf",
                None,
                BIND,
                None
            )]
        );
    }

    #[test]
    fn bind_of_a_file_gets_a_file_as_mount_point() {
        let b = TempBundle::new();
        let src = b.path().join("hosts");
        std::fs::write(&src, "127.0.0.1 localhost\n").unwrap();
        let s = spec(
            json!({"mounts": [{"destination": "/etc/hosts", "type": "bind",
                                        "source": src, "options": ["rbind", "rprivate"]}]}),
        );
        let got = mounts(&b, &s, false);
        assert!(b.rootfs().join("etc/hosts").is_file());
        assert_eq!(got.len(), 4, "{got:?}");
    }

    #[test]
    fn propagation_options_are_separate_mounts_after_the_mount() {
        let b = TempBundle::new();
        std::fs::create_dir(b.path().join("vol")).unwrap();
        let s = spec(
            json!({"mounts": [{"destination": "/vol", "type": "bind", "source": "vol",
                                        "options": ["rbind", "rshared", "unbindable"]}]}),
        );
        let got = mounts(&b, &s, false);
        assert_eq!(
            got[3..],
            [
                m(None, "/vol", None, libc::MS_SHARED | REC, None),
                m(None, "/vol", None, libc::MS_UNBINDABLE, None),
            ]
        );
    }

    #[test]
    fn in_a_user_namespace_a_remount_keeps_the_locked_flags() {
        let b = TempBundle::new();
        std::fs::create_dir(b.path().join("vol")).unwrap();
        std::fs::create_dir(b.rootfs().join("vol")).unwrap();
        let s = spec(
            json!({"mounts": [{"destination": "/vol", "type": "bind", "source": "vol",
                                        "options": ["rbind", "noexec"]}]}),
        );
        let mut fake = Fake::new();
        let target = b.rootfs().join("vol").to_string_lossy().into_owned();
        fake.mount_flags
            .insert(target, libc::MS_NOSUID | libc::MS_NODEV | RO);
        prepare(&b, &s, true, &fake).unwrap();
        let got = fake.mounts_in(&b.rootfs());
        // nosuid and nodev are kept (the kernel refuses to clear them); ro is not asked for
        assert_eq!(
            got[3],
            m(
                None,
                "/vol",
                None,
                REMOUNT | BIND | libc::MS_NOEXEC | libc::MS_NOSUID | libc::MS_NODEV,
                None
            )
        );
    }

    #[test]
    fn bind_from_a_missing_source_names_the_mount_and_the_source() {
        let b = TempBundle::new();
        let fake = Fake::new();
        let s = spec(json!({"mounts": [{"destination": "/data", "type": "bind",
                                        "source": "/nonexistent/berth-src"}]}));
        let e = prepare(&b, &s, false, &fake).unwrap_err();
        assert!(
            e.0.starts_with("mount /data (bind): source /nonexistent/berth-src: "),
            "{e}"
        );
    }

    #[test]
    fn proc_on_a_symlink_in_the_image_is_refused() {
        let b = TempBundle::new();
        std::os::unix::fs::symlink("/etc", b.rootfs().join("proc")).unwrap();
        let fake = Fake::new();
        let s = spec(json!({"mounts": [{"destination": "/proc", "type": "proc"}]}));
        let e = prepare(&b, &s, false, &fake).unwrap_err();
        assert_eq!(
            e.0,
            "mount /proc (proc): filesystem proc must be mounted on an ordinary directory, \
             but /proc in the rootfs is a symlink (to /etc): make it a directory in the image"
        );
        assert_eq!(fake.mounts_in(&b.rootfs()).len(), 2);
    }

    #[test]
    fn sysfs_refused_with_eperm_becomes_a_bind_of_the_hosts_sys() {
        let b = TempBundle::new();
        let fake = Fake::new();
        fake.fail(
            libc::EPERM,
            |c| matches!(c, Call::Mount { fstype: Some(t), .. } if t == "sysfs"),
        );
        let s = spec(
            json!({"mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs",
                                        "options": ["nosuid", "ro"]}]}),
        );
        prepare(&b, &s, true, &fake).unwrap();
        let got = fake.mounts_in(&b.rootfs());
        assert_eq!(
            got[2..5],
            [
                m(
                    Some("sysfs"),
                    "/sys",
                    Some("sysfs"),
                    libc::MS_NOSUID | RO,
                    None
                ),
                m(Some("/sys"), "/sys", None, BIND | REC, None),
                m(
                    None,
                    "/sys",
                    None,
                    REMOUNT | BIND | libc::MS_NOSUID | RO,
                    None
                ),
            ]
        );
    }

    #[test]
    fn a_failed_mount_says_which_mount_and_why() {
        let b = TempBundle::new();
        let fake = Fake::new();
        fake.fail(
            libc::EACCES,
            |c| matches!(c, Call::Mount { fstype: Some(t), .. } if t == "tmpfs"),
        );
        let s = spec(json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
            {"destination": "/never", "type": "tmpfs", "source": "tmpfs"}
        ]}));
        let e = prepare(&b, &s, false, &fake).unwrap_err();
        assert_eq!(
            e.0,
            "mount /dev/shm (tmpfs): mounting tmpfs from shm: Permission denied (os error 13)"
        );
        // nothing after the failed mount was attempted
        assert_eq!(fake.mounts_in(&b.rootfs()).len(), 4);
    }

    #[test]
    fn idmap_and_tmpcopyup_options_are_refused_naming_the_option() {
        let b = TempBundle::new();
        for (opt, msg) in [
            (
                "idmap",
                "mount option idmap (id-mapped mounts) is not supported",
            ),
            ("tmpcopyup", "mount option tmpcopyup is not supported"),
        ] {
            let fake = Fake::new();
            let s = spec(json!({"mounts": [{"destination": "/x", "type": "tmpfs",
                                            "options": [opt]}]}));
            let e = prepare(&b, &s, false, &fake).unwrap_err();
            assert_eq!(e.0, format!("mount /x (tmpfs): {msg}"));
        }
    }

    #[test]
    fn default_devices_are_made_with_mknod_and_chowned_to_root() {
        let b = TempBundle::new();
        let fake = Fake::new();
        prepare(&b, &spec(json!({})), false, &fake).unwrap();
        let calls = fake.calls_in(&b.rootfs());
        let mut want = vec![Call::Umask(0)];
        for &(path, major, minor) in DEFAULT_DEVICES {
            want.push(Call::Unlink(path.into()));
            want.push(Call::Mknod(
                path.into(),
                libc::S_IFCHR | 0o666,
                libc::makedev(major as u32, minor as u32),
            ));
            want.push(Call::Chown(path.into(), 0, 0));
        }
        let start = calls.iter().position(|c| c == &Call::Umask(0)).unwrap();
        assert_eq!(calls[start..start + want.len()], want);
        let rest = &calls[start + want.len()..];
        let links: Vec<_> = rest
            .iter()
            .filter(|c| !matches!(c, Call::Symlink(t, _) if t == "/proc/kcore"))
            .cloned()
            .collect();
        let sl = |t: &str, p: &str| Call::Symlink(t.into(), p.into());
        assert_eq!(
            links,
            [
                sl("/proc/self/fd", "/dev/fd"),
                sl("/proc/self/fd/0", "/dev/stdin"),
                sl("/proc/self/fd/1", "/dev/stdout"),
                sl("/proc/self/fd/2", "/dev/stderr"),
                Call::Unlink("/dev/ptmx".into()),
                sl("pts/ptmx", "/dev/ptmx"),
                // the umask is given back
                Call::Umask(0o022),
            ]
        );
    }

    #[test]
    fn configured_devices_replace_defaults_with_their_mode_and_owner() {
        let b = TempBundle::new();
        let fake = Fake::new();
        let s = spec(json!({"linux": {"devices": [
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600},
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "uid": 1000, "gid": 100},
            {"path": "/dev/loop9", "type": "b", "major": 7, "minor": 9},
            {"path": "/dev/pipe", "type": "p", "major": 0, "minor": 0}
        ]}}));
        prepare(&b, &s, false, &fake).unwrap();
        let made: Vec<_> = fake
            .calls_in(&b.rootfs())
            .into_iter()
            .filter(|c| matches!(c, Call::Mknod(..) | Call::Chown(..)))
            .collect();
        let dev = |a, b| libc::makedev(a, b);
        // the defaults other than /dev/null come first
        assert_eq!(made.len(), 2 * (DEFAULT_DEVICES.len() - 1 + 4));
        assert_eq!(
            made[made.len() - 8..],
            [
                Call::Mknod("/dev/null".into(), libc::S_IFCHR | 0o600, dev(1, 3)),
                Call::Chown("/dev/null".into(), 0, 0),
                Call::Mknod("/dev/fuse".into(), libc::S_IFCHR | 0o666, dev(10, 229)),
                Call::Chown("/dev/fuse".into(), 1000, 100),
                Call::Mknod("/dev/loop9".into(), libc::S_IFBLK | 0o666, dev(7, 9)),
                Call::Chown("/dev/loop9".into(), 0, 0),
                Call::Mknod("/dev/pipe".into(), libc::S_IFIFO | 0o666, dev(0, 0)),
                Call::Chown("/dev/pipe".into(), 0, 0),
            ]
        );
    }

    #[test]
    fn devices_outside_dev_or_of_type_a_are_refused() {
        let b = TempBundle::new();
        for (dev, msg) in [
            (
                json!({"path": "/etc/evil", "type": "c", "major": 1, "minor": 3}),
                "device /etc/evil: devices must be under /dev",
            ),
            (
                json!({"path": "/dev/all", "type": "a", "major": 1, "minor": 3}),
                "device /dev/all: device type \"a\" is only valid in cgroup rules",
            ),
        ] {
            let fake = Fake::new();
            let s = spec(json!({"linux": {"devices": [dev]}}));
            assert_eq!(prepare(&b, &s, false, &fake).unwrap_err().0, msg);
        }
    }

    #[test]
    fn in_a_user_namespace_devices_are_bind_mounts_of_the_hosts() {
        let b = TempBundle::new();
        let fake = Fake::new();
        prepare(&b, &spec(json!({})), true, &fake).unwrap();
        let calls = fake.calls_in(&b.rootfs());
        assert!(!calls.iter().any(|c| matches!(c, Call::Mknod(..))));
        let binds: Vec<_> = fake.mounts_in(&b.rootfs())[2..].to_vec();
        let want: Vec<_> = DEFAULT_DEVICES
            .iter()
            .map(|&(p, _, _)| m(Some(p), p, None, BIND, None))
            .collect();
        assert_eq!(binds, want);
        assert!(b.rootfs().join("dev/null").is_file());
    }

    #[test]
    fn mknod_refused_by_the_device_rules_binds_the_identical_host_node() {
        let b = TempBundle::new();
        let fake = Fake::new();
        fake.fail(
            libc::EPERM,
            |c| matches!(c, Call::Mknod(p, ..) if p.ends_with("/dev/null")),
        );
        prepare(&b, &spec(json!({})), false, &fake).unwrap();
        assert_eq!(
            fake.mounts_in(&b.rootfs())[2..],
            [m(Some("/dev/null"), "/dev/null", None, BIND, None)]
        );
    }

    #[test]
    fn mknod_failing_otherwise_names_the_device() {
        let b = TempBundle::new();
        let fake = Fake::new();
        fake.fail(libc::ENOSPC, |c| matches!(c, Call::Mknod(..)));
        let e = prepare(&b, &spec(json!({})), false, &fake).unwrap_err();
        assert_eq!(
            e.0,
            "device /dev/null: mknod: No space left on device (os error 28)"
        );
        // the umask is given back on failure too
        assert_eq!(fake.calls().last(), Some(&Call::Umask(0o022)));
    }

    #[test]
    fn a_bind_mounted_dev_gets_no_device_nodes() {
        let b = TempBundle::new();
        std::fs::create_dir(b.path().join("hostdev")).unwrap();
        let fake = Fake::new();
        let s = spec(json!({"mounts": [{"destination": "/dev", "type": "bind",
                                        "source": "hostdev", "options": ["rbind"]}]}));
        prepare(&b, &s, false, &fake).unwrap();
        assert!(!fake
            .calls()
            .iter()
            .any(|c| matches!(c, Call::Mknod(..) | Call::Symlink(..))));
    }

    #[test]
    fn pivot_root_sequence_detaches_the_old_root() {
        let b = TempBundle::new();
        let root: OwnedFd = std::fs::File::open(b.rootfs()).unwrap().into();
        let fake = Fake::new();
        enter(&fake, &root, &b.rootfs(), false).unwrap();
        let r = b.rootfs().to_string_lossy().into_owned();
        assert_eq!(
            fake.calls(),
            [
                Call::Fchdir(r),
                Call::PivotRoot(".".into(), ".".into()),
                Call::Fchdir("/".into()),
                m(None, ".", None, libc::MS_SLAVE | REC, None),
                Call::Umount2(".".into(), libc::MNT_DETACH),
                Call::Chdir("/".into()),
            ]
        );
    }

    #[test]
    fn no_pivot_moves_the_rootfs_over_root_and_chroots() {
        let b = TempBundle::new();
        let root: OwnedFd = std::fs::File::open(b.rootfs()).unwrap().into();
        let fake = Fake::new();
        enter(&fake, &root, &b.rootfs(), true).unwrap();
        let r = b.rootfs().to_string_lossy().into_owned();
        assert_eq!(
            fake.calls(),
            [
                Call::Chdir(r.clone()),
                m(Some(&r), "/", None, libc::MS_MOVE, None),
                Call::Chroot(".".into()),
                Call::Chdir("/".into()),
            ]
        );
    }

    #[test]
    fn pivot_root_failure_is_named_and_stops_there() {
        let b = TempBundle::new();
        let root: OwnedFd = std::fs::File::open(b.rootfs()).unwrap().into();
        let fake = Fake::new();
        fake.fail(libc::EINVAL, |c| matches!(c, Call::PivotRoot(..)));
        let e = enter(&fake, &root, &b.rootfs(), false).unwrap_err();
        assert_eq!(e.0, "pivot_root: Invalid argument (os error 22)");
        assert_eq!(fake.calls().len(), 2);
    }

    fn finalized(s: &Spec, nodes: &[(&str, Node)]) -> (Fake, Result<()>) {
        let mut fake = Fake::new();
        for (p, n) in nodes {
            fake.nodes.insert(p.to_string(), *n);
        }
        let r = finalize(&fake, s);
        (fake, r)
    }

    #[test]
    fn readonly_paths_are_bound_then_remounted_read_only_missing_ones_skipped() {
        let s = spec(
            json!({"linux": {"readonlyPaths": ["/proc/bus", "/proc/none", "/proc/sysrq-trigger"]}}),
        );
        let (fake, r) = finalized(
            &s,
            &[
                ("/proc/bus", Node::Dir),
                ("/proc/sysrq-trigger", Node::Other),
            ],
        );
        r.unwrap();
        let mut want = Vec::new();
        for p in ["/proc/bus", "/proc/sysrq-trigger"] {
            want.push(m(Some(p), p, None, BIND | REC, None));
            want.push(m(None, p, None, REMOUNT | BIND | RO | REC, None));
        }
        assert_eq!(fake.calls(), want);
    }

    #[test]
    fn readonly_remount_keeps_the_mounts_locked_flags() {
        let s = spec(json!({"linux": {"readonlyPaths": ["/proc/bus"]}}));
        let mut fake = Fake::new();
        fake.nodes.insert("/proc/bus".into(), Node::Dir);
        fake.mount_flags
            .insert("/proc/bus".into(), libc::MS_NOSUID | libc::MS_NOEXEC);
        finalize(&fake, &s).unwrap();
        assert_eq!(
            fake.calls()[1],
            m(
                None,
                "/proc/bus",
                None,
                REMOUNT | BIND | RO | REC | libc::MS_NOSUID | libc::MS_NOEXEC,
                None
            )
        );
    }

    #[test]
    fn masked_files_get_dev_null_and_masked_directories_a_read_only_tmpfs() {
        let s =
            spec(json!({"linux": {"maskedPaths": ["/proc/kcore", "/proc/acpi", "/proc/missing"]}}));
        let (fake, r) = finalized(
            &s,
            &[("/proc/kcore", Node::Other), ("/proc/acpi", Node::Dir)],
        );
        r.unwrap();
        assert_eq!(
            fake.calls(),
            [
                m(Some("/dev/null"), "/proc/kcore", None, BIND, None),
                m(Some("tmpfs"), "/proc/acpi", Some("tmpfs"), RO, None),
            ]
        );
    }

    #[test]
    fn sysctls_then_readonly_then_masked_then_read_only_root() {
        let s = spec(json!({
            "root": {"path": "rootfs", "readonly": true},
            "linux": {"sysctl": {"net.ipv4.ip_forward": "1"},
                      "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]}
        }));
        let mut fake = Fake::new();
        fake.nodes.insert("/proc/kcore".into(), Node::Other);
        fake.nodes.insert("/proc/sys".into(), Node::Dir);
        fake.mount_flags.insert("/".into(), libc::MS_NODEV);
        finalize(&fake, &s).unwrap();
        assert_eq!(
            fake.calls(),
            [
                Call::WriteFile("/proc/sys/net/ipv4/ip_forward".into(), "1".into()),
                m(Some("/proc/sys"), "/proc/sys", None, BIND | REC, None),
                m(None, "/proc/sys", None, REMOUNT | BIND | RO | REC, None),
                m(Some("/dev/null"), "/proc/kcore", None, BIND, None),
                m(None, "/", None, REMOUNT | BIND | RO | libc::MS_NODEV, None),
            ]
        );
    }

    #[test]
    fn a_failed_mask_names_the_path_and_the_step() {
        let s = spec(json!({"linux": {"maskedPaths": ["/proc/kcore"]}}));
        let mut fake = Fake::new();
        fake.nodes.insert("/proc/kcore".into(), Node::Other);
        fake.fail(libc::EPERM, |_| true);
        let e = finalize(&fake, &s).unwrap_err();
        assert_eq!(
            e.0,
            "masked path /proc/kcore: binding /dev/null: Operation not permitted (os error 1)"
        );
    }

    #[test]
    fn a_failed_sysctl_write_names_key_and_value() {
        let s = spec(json!({"linux": {"sysctl": {"kernel.shmmax": "1024"}}}));
        let fake = Fake::new();
        fake.fail(libc::EACCES, |c| matches!(c, Call::WriteFile(..)));
        let e = finalize(&fake, &s).unwrap_err();
        assert_eq!(
            e.0,
            "sysctl kernel.shmmax=1024: Permission denied (os error 13)"
        );
    }
}
