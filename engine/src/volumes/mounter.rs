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

/// Mount points as mountinfo lists them (octal escapes decoded).
fn mount_points() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn is_mounted(target: &Path) -> bool {
    mount_points().iter().any(|p| p == target)
}

/// Whatever is mounted on or below `dir`.
pub fn mounted_below(dir: &Path) -> Vec<PathBuf> {
    mount_points()
        .into_iter()
        .filter(|p| p.starts_with(dir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_paths_are_decoded() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/x\134y"), r"/x\y");
        assert_eq!(unescape(r"/plain"), "/plain");
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
