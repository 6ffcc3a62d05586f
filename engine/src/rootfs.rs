//! Reaching into a stopped container's filesystem: its snapshot mounted on a private
//! directory (paths inside it are then resolved by berth-fs, never leaving it).

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
