//! The init `--init` puts in front of a container's command (berth-init, see
//! `engine/init`): carried inside berthd as a static executable, written to the exec root
//! when berthd starts, and bound read-only into each such container at the path dockerd
//! uses for docker-init.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where the init is in the container.
pub const IN_CONTAINER: &str = "/sbin/docker-init";

/// The static executable built by `build.rs`.
static BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// Where berthd keeps the init on the host.
pub fn host_path(exec_root: &Path) -> PathBuf {
    exec_root.join("berth-init")
}

/// Writes the init to the exec root unless the same bytes are there already. A new file
/// replaces an older one by a rename: containers running with the old one keep it.
pub fn install(exec_root: &Path) -> io::Result<PathBuf> {
    let path = host_path(exec_root);
    if std::fs::read(&path).is_ok_and(|b| b == BINARY) {
        return Ok(path);
    }
    let tmp = exec_root.join(".berth-init.new");
    std::fs::write(&tmp, BINARY)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_once_as_an_executable_and_replaced_when_it_differs() {
        let d = tempfile::tempdir().unwrap();
        let p = install(d.path()).unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(std::fs::read(&p).unwrap(), BINARY);
        std::fs::write(&p, b"stale").unwrap();
        install(d.path()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), BINARY);
        assert!(!d.path().join(".berth-init.new").exists());
    }
}
