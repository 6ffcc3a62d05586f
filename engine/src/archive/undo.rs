//! What an extraction changed in the container, so that a failed one (a hard link to a
//! target that exists nowhere, a truncated archive) can be taken back: entries it created
//! are removed, files it replaced are put back, directories it removed are made again. An
//! archive is either extracted whole or not at all.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;

use crate::error::{Error, Result};

/// One change, with paths relative to the extraction's destination directory.
#[derive(Debug)]
enum Change {
    /// A file, link, node or directory that did not exist before.
    Created { rel: PathBuf, dir: bool },
    /// A non-directory that was replaced: renamed to `aside` in the same directory.
    MovedAside { rel: PathBuf, aside: OsString },
    /// An empty directory that was replaced by a non-directory.
    RemovedDir {
        rel: PathBuf,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

/// The changes of one extraction, in the order they were made.
#[derive(Debug, Default)]
pub struct Journal {
    changes: Vec<Change>,
    /// Makes the names of replaced files unique to this extraction.
    tag: u64,
}

impl Journal {
    pub fn new() -> Journal {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Journal {
            changes: Vec::new(),
            tag: nanos ^ u64::from(std::process::id()),
        }
    }

    pub fn created(&mut self, rel: &Path, dir: bool) {
        self.changes.push(Change::Created {
            rel: rel.to_path_buf(),
            dir,
        });
    }

    /// Moves the non-directory `name` (at `rel`) of directory `parent` out of the way,
    /// to be deleted when the extraction succeeds or put back when it fails.
    pub fn move_aside(&mut self, parent: RawFd, name: &OsString, rel: &Path) -> Result<()> {
        let aside: OsString = format!(".berth-cp-{:x}-{}", self.tag, self.changes.len()).into();
        nix::fcntl::renameat(
            Some(parent),
            name.as_os_str(),
            Some(parent),
            aside.as_os_str(),
        )
        .map_err(|e| Error::internal(format!("replacing {}: {e}", rel.display())))?;
        self.changes.push(Change::MovedAside {
            rel: rel.to_path_buf(),
            aside,
        });
        Ok(())
    }

    /// Removes the empty directory `name` (at `rel`) of `parent`, remembering how to
    /// make it again.
    pub fn remove_dir(&mut self, parent: RawFd, name: &OsString, rel: &Path) -> Result<()> {
        let st = nix::sys::stat::fstatat(
            Some(parent),
            name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::internal(format!("replacing {}: {e}", rel.display())))?;
        nix::unistd::unlinkat(Some(parent), name.as_os_str(), UnlinkatFlags::RemoveDir)
            .map_err(|e| Error::internal(format!("replacing {}: {e}", rel.display())))?;
        self.changes.push(Change::RemovedDir {
            rel: rel.to_path_buf(),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
        });
        Ok(())
    }

    /// The extraction is complete: the replaced files go for good.
    pub fn commit(self, dest: &OwnedFd) {
        for c in self.changes {
            if let Change::MovedAside { rel, aside } = c {
                let parent = rel.parent().unwrap_or(Path::new(""));
                if let Err(e) = unlink_in(dest, parent, &aside, false) {
                    tracing::warn!("removing the replaced {}: {e}", rel.display());
                }
            }
        }
    }

    /// The extraction failed: every change is taken back, the last first.
    pub fn roll_back(self, dest: &OwnedFd) {
        for c in self.changes.into_iter().rev() {
            let undone = match &c {
                Change::Created { rel, dir } => {
                    split(rel).and_then(|(parent, name)| unlink_in(dest, parent, name, *dir))
                }
                Change::MovedAside { rel, aside } => split(rel).and_then(|(parent, name)| {
                    let p = open_existing(dest, parent)?;
                    nix::fcntl::renameat(
                        Some(p.as_raw_fd()),
                        aside.as_os_str(),
                        Some(p.as_raw_fd()),
                        name,
                    )
                    .map_err(|e| e.to_string())
                }),
                Change::RemovedDir {
                    rel,
                    mode,
                    uid,
                    gid,
                } => split(rel).and_then(|(parent, name)| {
                    let p = open_existing(dest, parent)?;
                    remake_dir(&p, name, *mode, *uid, *gid).map_err(|e| e.to_string())
                }),
            };
            if let Err(e) = undone {
                tracing::warn!("taking back a failed extraction ({c:?}): {e}");
            }
        }
    }
}

/// Makes directory `name` of `parent` again with its mode and owner (set on the opened
/// directory itself, so nothing put in its place is followed).
fn remake_dir(parent: &OwnedFd, name: &OsStr, mode: u32, uid: u32, gid: u32) -> nix::Result<()> {
    let mode = Mode::from_bits_truncate(mode);
    nix::sys::stat::mkdirat(Some(parent.as_raw_fd()), name, mode)?;
    let fd = nix::fcntl::openat(
        Some(parent.as_raw_fd()),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: a fresh descriptor, owned from here on.
    let dir = unsafe { OwnedFd::from_raw_fd(fd) };
    // The mode as it was, whatever the umask.
    nix::sys::stat::fchmod(dir.as_raw_fd(), mode)?;
    nix::unistd::fchown(dir.as_raw_fd(), Some(uid.into()), Some(gid.into()))
}

fn split(rel: &Path) -> std::result::Result<(&Path, &OsStr), String> {
    let name = rel
        .file_name()
        .ok_or_else(|| format!("{} has no name", rel.display()))?;
    Ok((rel.parent().unwrap_or(Path::new("")), name))
}

fn open_existing(dest: &OwnedFd, parent: &Path) -> std::result::Result<OwnedFd, String> {
    super::open_dirs(dest.as_raw_fd(), parent, None).map_err(|e| e.to_string())
}

fn unlink_in(
    dest: &OwnedFd,
    parent: &Path,
    name: &OsStr,
    dir: bool,
) -> std::result::Result<(), String> {
    let p = open_existing(dest, parent)?;
    let flag = if dir {
        UnlinkatFlags::RemoveDir
    } else {
        UnlinkatFlags::NoRemoveDir
    };
    nix::unistd::unlinkat(Some(p.as_raw_fd()), name, flag).map_err(|e| e.to_string())
}
