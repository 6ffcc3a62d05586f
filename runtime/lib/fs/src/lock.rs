//! One process per directory: an exclusive, non-blocking `flock` on a lock file inside it.
//! The lock goes with the process (a `kill -9` frees it), so nothing stale is ever left.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("{} is locked by another process", .0.display())]
    Held(PathBuf),
    #[error("opening {}: {cause}", .path.display())]
    Open { path: PathBuf, cause: io::Error },
}

/// Takes the lock file `name` in `dir` (created if missing), or says who is in the way.
pub fn lock_dir(dir: &Path, name: &str) -> Result<DirLock, LockError> {
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LockError::Open {
            path: path.clone(),
            cause: e,
        })?;
    // SAFETY: flock only takes the descriptor of `file`, which is open for this call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            LockError::Held(path)
        } else {
            LockError::Open { path, cause: e }
        });
    }
    Ok(DirLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let held = lock_dir(d.path(), "x.lock").unwrap();
        assert_eq!(held.path(), d.path().join("x.lock"));
        let e = lock_dir(d.path(), "x.lock").unwrap_err();
        assert!(matches!(e, LockError::Held(_)), "{e}");
        // Another name is another lock.
        let _other = lock_dir(d.path(), "y.lock").unwrap();
        drop(held);
        lock_dir(d.path(), "x.lock").unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_open_error() {
        let d = tempfile::tempdir().unwrap();
        let e = lock_dir(&d.path().join("nope"), "x.lock").unwrap_err();
        assert!(matches!(e, LockError::Open { .. }), "{e}");
    }
}
