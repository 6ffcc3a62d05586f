//! Finding the runtime and shim binaries.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

fn beside_shimd(name: &str) -> Option<PathBuf> {
    let p = std::env::current_exe().ok()?.parent()?.join(name);
    executable(&p).then_some(p)
}

/// An OCI runtime: a path, or a name looked up in PATH (then beside shimd's binary).
pub fn runtime(name: &str) -> Result<PathBuf, String> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(format!("OCI runtime {name:?} is not an executable file"))
        };
    }
    in_path(name).or_else(|| beside_shimd(name)).ok_or_else(|| {
        format!("OCI runtime {name:?} not found in PATH; install it or name another runtime")
    })
}

/// The shim: beside shimd's binary first (the same build), then PATH.
pub fn shim(name: &str) -> Result<PathBuf, String> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(format!("shim {name:?} is not an executable file"))
        };
    }
    beside_shimd(name)
        .or_else(|| in_path(name))
        .ok_or_else(|| format!("shim binary {name:?} not found beside shimd or in PATH"))
}
