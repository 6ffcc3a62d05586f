//! Mounting a task's rootfs from a list of mounts (a snapshot's, or the client's) and
//! taking it down again.

use std::path::{Component, Path, PathBuf};

use berth_proto::v1::Mount;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Splits mount(8)-style options into flags (with MS_BIND for binds) and filesystem data.
fn parse_options(options: &[String]) -> (MsFlags, String) {
    let s = berth_fs::mount_options::split(options.iter().map(String::as_str));
    (
        MsFlags::from_bits_truncate(s.mount_flags()),
        s.data_string(),
    )
}

/// `target` joined under `root`, refusing anything that would leave it.
fn under(root: &Path, target: &str) -> Result<PathBuf, String> {
    let rel = Path::new(target.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "mount target {target:?} must stay inside the rootfs"
        ));
    }
    Ok(root.join(rel))
}

fn mount_one(m: &Mount, root: &Path) -> Result<(), String> {
    let target = under(root, &m.target)?;
    let (mut flags, data) = parse_options(&m.options);
    if m.r#type == "bind" {
        flags |= MsFlags::MS_BIND;
    }
    let fstype = (!flags.contains(MsFlags::MS_BIND)).then_some(m.r#type.as_str());
    let source = if m.source.is_empty() {
        m.r#type.as_str()
    } else {
        m.source.as_str()
    };
    let what = || {
        format!(
            "mounting {} ({}) on {}",
            source,
            if m.r#type.is_empty() {
                "bind"
            } else {
                &m.r#type
            },
            target.display()
        )
    };
    let data_opt = (!data.is_empty()).then_some(data.as_str());
    // Overlays of deep images go through berth_image::mount (options over one page).
    berth_image::mount::mount(
        source,
        &target,
        fstype,
        if fstype.is_none() {
            flags & (MsFlags::MS_BIND | MsFlags::MS_REC)
        } else {
            flags
        },
        data_opt,
    )
    .map_err(|e| format!("{}: {e}", what()))?;
    // A bind mount takes its flags (read-only, ...) only from a remount.
    let per_mount =
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if fstype.is_none() && flags.intersects(per_mount) {
        let keep = flags & per_mount;
        if let Err(e) = mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | keep,
            None::<&str>,
        ) {
            let _ = umount2(&target, MntFlags::MNT_DETACH);
            return Err(format!("{}: remounting with its flags: {e}", what()));
        }
    }
    Ok(())
}

/// Mounts `mounts` in order on `root` (the first one usually on the root itself).
/// On failure, what was mounted is taken down again.
pub fn mount_all(mounts: &[Mount], root: &Path) -> Result<(), String> {
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, root) {
            for done in mounts[..i].iter().rev() {
                if let Ok(t) = under(root, &done.target) {
                    let _ = umount2(&t, MntFlags::MNT_DETACH);
                }
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Unmounts everything stacked on `root` (and below it). Not mounted is fine.
pub fn unmount_all(root: &Path) -> Result<(), String> {
    let mut targets = berth_fs::mountinfo::mounted_below(root);
    // Deepest first, each once.
    targets.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    targets.dedup();
    for t in targets {
        for _ in 0..16 {
            match umount2(&t, MntFlags::empty()) {
                Ok(()) => continue,
                Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
                Err(nix::errno::Errno::EBUSY) => {
                    umount2(&t, MntFlags::MNT_DETACH)
                        .map_err(|e| format!("unmounting {}: {e}", t.display()))?;
                }
                Err(e) => return Err(format!("unmounting {}: {e}", t.display())),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let (f, d) = parse_options(&[
            "ro".into(),
            "nosuid".into(),
            "lowerdir=/a:/b".into(),
            "upperdir=/u".into(),
        ]);
        assert!(f.contains(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID));
        assert_eq!(d, "lowerdir=/a:/b,upperdir=/u");
        let (f, _) = parse_options(&["rbind".into(), "rw".into()]);
        assert!(f.contains(MsFlags::MS_BIND | MsFlags::MS_REC));
        assert!(!f.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn targets_stay_inside() {
        let r = Path::new("/r");
        assert_eq!(under(r, "").unwrap(), PathBuf::from("/r"));
        assert_eq!(under(r, "/a/b").unwrap(), PathBuf::from("/r/a/b"));
        assert!(under(r, "../x").is_err());
        assert!(under(r, "a/../../x").is_err());
    }
}
