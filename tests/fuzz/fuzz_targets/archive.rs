//! `docker cp` into a container (PUT /containers/{id}/archive). The extraction itself is
//! berthd's (engine/src/archive.rs, a binary crate); this target fuzzes the library parts
//! it stands on, with the input split at its first NUL byte:
//!
//! - before it, the destination path: resolved with berth-fs's in-root resolver (both the
//!   kernel's openat2 and the userspace walk) in a tree planted with escaping symlinks
//!   (`/`, `../../..`, a loop), and created with `mkdir_all`; whatever it resolves to must
//!   be inside the root, and nothing may be created outside it;
//! - after it, the tar stream: read entry by entry with the `tar` crate, every header
//!   field berthd reads taken, the data read through.

#![no_main]

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_fs::{host_path, open_root, InRoot, Resolver};
use berth_fuzz::sandbox::Sandbox;

/// A container root whose symlinks point out of it in every way a link can.
fn plant_tree(root: &Path) {
    std::fs::create_dir_all(root.join("dir/sub")).expect("making the tree");
    for (link, target) in [
        ("abs", "/"),
        ("up", "../../.."),
        ("loop", "loop"),
        ("dir/back", "../dir"),
        ("dir/etc", "/etc"),
    ] {
        std::os::unix::fs::symlink(target, root.join(link)).expect("planting a symlink");
    }
}

/// The device and inode of what `fd` holds.
fn id(fd: BorrowedFd) -> (u64, u64) {
    let m = File::from(fd.try_clone_to_owned().expect("duplicating a descriptor"))
        .metadata()
        .expect("fstat");
    (m.dev(), m.ino())
}

/// Whether the directory `fd` is `root` or below it: its `..` chain reaches `root` before
/// the top of the filesystem. (Its path may be too long for `/proc/self/fd` to name.)
fn is_inside(fd: BorrowedFd, root: (u64, u64)) -> bool {
    let mut cur = fd.try_clone_to_owned().expect("duplicating a descriptor");
    loop {
        let here = id(cur.as_fd());
        if here == root {
            return true;
        }
        // SAFETY: `cur` is an open descriptor and the name a NUL-terminated literal; the
        // result is checked before it is owned.
        let parent = unsafe {
            libc::openat(
                cur.as_raw_fd(),
                c"..".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        assert!(
            parent >= 0,
            "opening ..: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a fresh descriptor that nothing else owns.
        let parent = unsafe { OwnedFd::from_raw_fd(parent) };
        if id(parent.as_fd()) == here {
            return false;
        }
        cur = parent;
    }
}

/// Resolves and creates `dest` inside `root`: a result outside it is a finding.
fn resolve(root: &Path, dest: &Path) {
    let root_fd = open_root(root).expect("opening the root");
    let root_id = id(root_fd.as_fd());
    let inside = |fd: &OwnedFd| {
        assert!(
            is_inside(fd.as_fd(), root_id),
            "{dest:?} resolved outside the root, to {:?}",
            host_path(fd.as_fd())
        );
    };
    for resolver in [Resolver::Kernel, Resolver::Walk] {
        let r = InRoot::with(root_fd.as_fd(), resolver);
        if let Ok(fd) = r.open(dest, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
            inside(&fd);
        }
        if let Ok(fd) = r.mkdir_all(dest, 0o755) {
            inside(&fd);
        }
    }
}

/// Reads `tar` as berthd's extraction does, without writing anything.
fn read_tar(tar: &[u8]) {
    let mut ar = tar::Archive::new(tar);
    let Ok(entries) = ar.entries() else { return };
    let mut sink = [0u8; 4096];
    for entry in entries {
        let Ok(mut e) = entry else { return };
        let _ = e.path();
        let _ = e.link_name();
        let h = e.header().clone();
        let _ = (h.mode(), h.uid(), h.gid(), h.mtime(), h.entry_type());
        let _ = (h.device_major(), h.device_minor());
        while matches!(e.read(&mut sink), Ok(1..)) {}
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (dest, tar) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let sandbox = Sandbox::new();
    plant_tree(sandbox.root());
    resolve(sandbox.root(), Path::new(std::ffi::OsStr::from_bytes(dest)));
    sandbox.check();
    read_tar(tar);
});
