//! The container's root filesystem, set up inside its new mount namespace: propagation,
//! the rootfs bind mount, the spec's mounts (resolved inside the rootfs, never following
//! symlinks out), /dev with its default devices and symlinks, pivot_root (or chroot), and
//! after it the read-only root, masked and read-only paths.

use crate::error::{bail, Context, Result};
use crate::mounts::{locked_flags, mount, parse_options, propagation, Flags};
use berth_fs::{fd_path, mountinfo, Entry, InRoot, Kind};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct Rootfs<'a> {
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
        mount(
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
        mount(
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
        let old_umask = unsafe { libc::umask(0) };
        let r = if dev_is_bind {
            Ok(())
        } else {
            self.setup_dev(&root)
        };
        unsafe { libc::umask(old_umask) };
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
                mount(None, &mp, None, libc::MS_PRIVATE, None)
                    .with_ctx(|| format!("making {mp} private"))?;
            }
        }
        Ok(())
    }

    fn mount_entry(&self, root: &OwnedFd, m: &Mount) -> Result<()> {
        let opts = parse_options(m.options().as_deref().unwrap_or(&[]))?;
        let typ = m.typ().as_deref().unwrap_or("");
        let dest = m.destination();
        if typ == "cgroup" || typ == "cgroup2" {
            return self.mount_cgroups(root, dest, opts.flags);
        }
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
            mount(
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
                    locked_flags(&p) & !libc::MS_RDONLY
                } else {
                    0
                };
                mount(
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
        let r = mount(Some(&src), &p, Some(typ), opts.flags, Some(&data));
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
                mount(Some(host), &p, None, libc::MS_BIND | libc::MS_REC, None)
                    .with_ctx(|| format!("binding {host} (fresh {typ} refused: {e})"))?;
                if opts.flags != 0 {
                    let now = InRoot::new(root.as_fd())
                        .open(dest, libc::O_PATH, 0)
                        .ctx("reopening the mount point")?;
                    let p = fd_path(now.as_fd());
                    let keep = locked_flags(&p) & !libc::MS_RDONLY;
                    mount(
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
            mount(None, &fd_path(now.as_fd()), None, f, None).ctx("setting propagation")?;
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
        mount(
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
                    symlinkat(&name, &parent, c);
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
            mount(
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
        mount(
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
            locked_flags(&p) & !libc::MS_RDONLY
        } else {
            0
        };
        mount(
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
            symlinkat(target, &dev, link);
        }
        if Path::new("/proc/kcore").exists() {
            symlinkat("/proc/kcore", &dev, "core");
        }
        // /dev/ptmx must be the container's own devpts instance.
        let name = CString::new("ptmx").unwrap();
        unsafe { libc::unlinkat(dev.as_raw_fd(), name.as_ptr(), 0) };
        symlinkat("pts/ptmx", &dev, "ptmx");
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
            return bind_host_device(root, path);
        }
        let parent = path.parent().unwrap_or(Path::new("/dev"));
        let name = path.file_name().ok_or("device path has no name")?;
        let pfd = InRoot::new(root.as_fd())
            .ensure(parent, Kind::Dir)
            .ctx("creating the parent directory")?;
        let cname =
            CString::new(name.to_string_lossy().as_bytes()).map_err(|_| "bad device name")?;
        // SAFETY: plain syscalls on a directory fd we own and a NUL-terminated name.
        unsafe {
            // A file of the same name in the image is replaced (never followed).
            libc::unlinkat(pfd.as_raw_fd(), cname.as_ptr(), 0);
            if libc::mknodat(
                pfd.as_raw_fd(),
                cname.as_ptr(),
                kind | mode,
                libc::makedev(major as u32, minor as u32),
            ) != 0
            {
                let e = std::io::Error::last_os_error();
                // The device rules can forbid creating a node they also forbid using
                // (cgroup v1 keeps "deny c 1:11" even after a later "allow c *:* m"). runc
                // creates nodes before its rules apply; the container gets the node and
                // cannot open it. Binding the host's identical node gives the same.
                if e.raw_os_error() == Some(libc::EPERM) && host_node_is(path, kind, major, minor) {
                    return bind_host_device(root, path);
                }
                bail!("mknod: {e}");
            }
            if libc::fchownat(
                pfd.as_raw_fd(),
                cname.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            ) != 0
            {
                bail!("chown: {}", std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Bind-mounts the host's device node at `path` onto the same path in the rootfs.
fn bind_host_device(root: &OwnedFd, path: &Path) -> Result<()> {
    let target = InRoot::new(root.as_fd())
        .ensure(path, Kind::File)
        .ctx("creating the mount point")?;
    mount(
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

fn symlinkat(target: &str, dir: &OwnedFd, name: &str) {
    let t = CString::new(target).unwrap();
    let n = CString::new(name).unwrap();
    unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) };
}

/// Makes the rootfs the root: pivot_root, the old root detached; or, with `no_pivot`,
/// moved over `/` and chrooted (the mount namespace's root is then the rootfs, so exec's
/// setns lands in it too).
pub fn enter(root: &OwnedFd, rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        let p = rootfs.to_string_lossy();
        std::env::set_current_dir(rootfs).ctx("chdir to the rootfs")?;
        mount(Some(&p), "/", None, libc::MS_MOVE, None).ctx("moving the rootfs to /")?;
        let dot = CString::new(".").unwrap();
        if unsafe { libc::chroot(dot.as_ptr()) } != 0 {
            bail!("chroot: {}", std::io::Error::last_os_error());
        }
        return std::env::set_current_dir("/").ctx("chdir /");
    }
    let old = std::fs::File::open("/").ctx("opening the old root")?;
    let new = InRoot::new(root.as_fd())
        .open(Path::new("/"), libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .ctx("opening the rootfs")?;
    unsafe {
        if libc::fchdir(new.as_raw_fd()) != 0 {
            bail!("chdir to the rootfs: {}", std::io::Error::last_os_error());
        }
        let dot = CString::new(".").unwrap();
        if libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) != 0 {
            bail!("pivot_root: {}", std::io::Error::last_os_error());
        }
        // The old root is now stacked on "."; detach it without touching the host's mounts.
        if libc::fchdir(old.as_raw_fd()) != 0 {
            bail!("chdir to the old root: {}", std::io::Error::last_os_error());
        }
    }
    mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None)
        .ctx("making the old root a slave")?;
    let dot = CString::new(".").unwrap();
    if unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) } != 0 {
        bail!(
            "detaching the old root: {}",
            std::io::Error::last_os_error()
        );
    }
    std::env::set_current_dir("/").ctx("chdir /")
}

/// After pivot_root: root propagation, sysctls, masked and read-only paths, read-only root.
pub fn finalize(spec: &Spec) -> Result<()> {
    if let Some(p) = root_propagation(spec)? {
        mount(None, "/", None, p, None).ctx("setting root propagation")?;
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if let Some(sysctl) = linux.sysctl() {
        for (k, v) in sysctl {
            let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
            std::fs::write(&path, v).with_ctx(|| format!("sysctl {k}={v}"))?;
        }
    }
    for p in linux.readonly_paths().as_deref().unwrap_or(&[]) {
        readonly_path(p).with_ctx(|| format!("read-only path {p}"))?;
    }
    for p in linux.masked_paths().as_deref().unwrap_or(&[]) {
        mask_path(p).with_ctx(|| format!("masked path {p}"))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let keep = locked_flags("/");
        mount(
            None,
            "/",
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | keep,
            None,
        )
        .ctx("making the root read-only")?;
    }
    Ok(())
}

fn readonly_path(p: &str) -> Result<()> {
    if std::fs::symlink_metadata(p).is_err() {
        return Ok(());
    }
    mount(Some(p), p, None, libc::MS_BIND | libc::MS_REC, None).ctx("bind")?;
    let keep = locked_flags(p);
    mount(
        None,
        p,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_REC | keep,
        None,
    )
    .ctx("remount read-only")
}

fn mask_path(p: &str) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => {
            mount(Some("tmpfs"), p, Some("tmpfs"), libc::MS_RDONLY, None).ctx("mounting tmpfs")
        }
        Ok(_) => mount(Some("/dev/null"), p, None, libc::MS_BIND, None).ctx("binding /dev/null"),
    }
}
