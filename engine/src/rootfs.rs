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

/// Splits mount(8)-style options into flags (with MS_BIND for binds) and filesystem data.
fn mount_flags(options: &[String]) -> (nix::mount::MsFlags, String) {
    let s = berth_fs::mount_options::split(options.iter().map(String::as_str));
    (
        nix::mount::MsFlags::from_bits_truncate(s.mount_flags()),
        s.data_string(),
    )
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
