//! Mounting a volume's directory for the volumes whose options ask for it, and finding
//! what is mounted where (from `/proc/self/mountinfo`).

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::options::MountSpec;

/// Mounts `spec` on `target`. A read-only bind needs a second, remounting call.
pub fn mount(spec: &MountSpec, target: &Path) -> nix::Result<()> {
    let data = (!spec.data.is_empty()).then_some(spec.data.as_str());
    if spec.is_bind() {
        let first = spec.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
        nix::mount::mount(
            Some(spec.device.as_str()),
            target,
            None::<&str>,
            first,
            None::<&str>,
        )?;
        let rest = spec.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
        if !rest.is_empty() {
            let r = nix::mount::mount(
                None::<&str>,
                target,
                None::<&str>,
                rest | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None::<&str>,
            );
            if let Err(e) = r {
                let _ = nix::mount::umount2(target, MntFlags::MNT_DETACH);
                return Err(e);
            }
        }
        return Ok(());
    }
    nix::mount::mount(
        Some(spec.device.as_str()),
        target,
        Some(spec.fstype.as_str()),
        spec.flags,
        data,
    )
}

/// Unmounts `target`; a mount still busy is detached (it goes when its last user does).
pub fn unmount(target: &Path) -> nix::Result<()> {
    match nix::mount::umount2(target, MntFlags::empty()) {
        Err(nix::errno::Errno::EBUSY) => nix::mount::umount2(target, MntFlags::MNT_DETACH),
        r => r,
    }
}

pub fn is_mounted(target: &Path) -> bool {
    berth_fs::mountinfo::read_self()
        .unwrap_or_default()
        .iter()
        .any(|m| m.mount_point == target)
}

/// Whatever is mounted on or below `dir`.
pub fn mounted_below(dir: &Path) -> Vec<PathBuf> {
    berth_fs::mountinfo::mounted_below(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_mounted_is_seen() {
        assert!(is_mounted(Path::new("/proc")));
        assert!(!mounted_below(Path::new("/proc")).is_empty());
    }

    #[test]
    fn tmpfs_mounts_and_unmounts() {
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let spec = MountSpec {
            fstype: "tmpfs".into(),
            device: "tmpfs".into(),
            flags: MsFlags::empty(),
            data: "size=1m".into(),
        };
        mount(&spec, d.path()).unwrap();
        assert!(is_mounted(d.path()));
        unmount(d.path()).unwrap();
        assert!(!is_mounted(d.path()));
    }
}
