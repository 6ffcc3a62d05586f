//! mount(2) for snapshot mounts, including overlay mounts of deep images.
//!
//! The kernel takes at most one page of mount data. An overlay of many layers names every
//! lower directory by its absolute path and soon exceeds that. All of a snapshotter's
//! directories share one parent, so such a mount is made from that parent as the working
//! directory, with relative paths (a few bytes per layer). The working directory belongs
//! to the whole process, so the mount is done by a forked child that changes directory,
//! mounts and exits; mounts are shared with the parent (same mount namespace).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// The longest mount data the kernel accepts (one page, with its NUL).
pub const MOUNT_DATA_MAX: usize = 4095;

/// Like `nix::mount::mount`, but an overlay whose data exceeds one page is mounted with
/// paths relative to its directories' common parent.
pub fn mount(
    source: &str,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), Errno> {
    let long = data.filter(|d| d.len() > MOUNT_DATA_MAX);
    match (fstype, long) {
        (Some("overlay"), Some(d)) => {
            let (dir, short) = relative_overlay_data(d).ok_or(Errno::E2BIG)?;
            if short.len() > MOUNT_DATA_MAX {
                return Err(Errno::E2BIG);
            }
            mount_from(&dir, source, target, "overlay", flags, &short)
        }
        _ => nix::mount::mount(Some(source), target, fstype, flags, data),
    }
}

/// The common parent of the overlay's directories and the data with paths relative to it.
/// None when the data holds no directories or paths overlay would need escaped.
pub fn relative_overlay_data(data: &str) -> Option<(PathBuf, String)> {
    let mut parts: Vec<(String, Vec<String>)> = Vec::new();
    for opt in data.split(',') {
        match opt.split_once('=') {
            Some((k @ ("lowerdir" | "upperdir" | "workdir"), v)) => {
                if v.contains('\\') {
                    return None;
                }
                let sep = if k == "lowerdir" { ':' } else { '\0' };
                parts.push((k.to_string(), v.split(sep).map(str::to_string).collect()));
            }
            _ => parts.push((opt.to_string(), vec![])),
        }
    }
    let dirs: Vec<&Path> = parts
        .iter()
        .flat_map(|(_, v)| v.iter().map(Path::new))
        .collect();
    if dirs.is_empty() || dirs.iter().any(|d| !is_plain_absolute(d)) {
        return None;
    }
    let mut common: PathBuf = dirs[0].parent()?.to_path_buf();
    for d in &dirs[1..] {
        while !d.starts_with(&common) {
            common = common.parent()?.to_path_buf();
        }
    }
    let rel = |p: &str| -> String {
        let r = Path::new(p).strip_prefix(&common).expect("common parent");
        if r.as_os_str().is_empty() {
            ".".into()
        } else {
            r.to_string_lossy().into_owned()
        }
    };
    let out: Vec<String> = parts
        .iter()
        .map(|(k, v)| match k.as_str() {
            "lowerdir" => format!(
                "lowerdir={}",
                v.iter().map(|p| rel(p)).collect::<Vec<_>>().join(":")
            ),
            "upperdir" | "workdir" if !v.is_empty() => format!("{k}={}", rel(&v[0])),
            _ => k.clone(),
        })
        .collect();
    Some((common, out.join(",")))
}

/// Absolute, no `.`/`..`, nothing overlay treats specially.
fn is_plain_absolute(p: &Path) -> bool {
    p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && !p.as_os_str().as_bytes().contains(&b',')
}

/// mount(2) with `dir` as the working directory, in a forked child.
fn mount_from(
    dir: &Path,
    source: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: &str,
) -> Result<(), Errno> {
    let target = if target.is_absolute() {
        target.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|_| Errno::ENOENT)?
            .join(target)
    };
    let c = |s: &[u8]| CString::new(s).map_err(|_| Errno::EINVAL);
    let (dir, source, target, fstype, data) = (
        c(dir.as_os_str().as_bytes())?,
        c(source.as_bytes())?,
        c(target.as_os_str().as_bytes())?,
        c(fstype.as_bytes())?,
        c(data.as_bytes())?,
    );
    // SAFETY: the child only makes async-signal-safe system calls (chdir, mount, _exit)
    // on memory prepared before the fork, so forking a threaded process is sound here.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Errno::last());
    }
    if pid == 0 {
        // SAFETY: in the forked child: chdir, mount and _exit are async-signal-safe system
        // calls, every pointer is to a C string built before the fork (the child's copy
        // of the parent's memory), and nothing allocates, locks or returns.
        unsafe {
            let code = if libc::chdir(dir.as_ptr()) != 0
                || libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    fstype.as_ptr(),
                    flags.bits(),
                    data.as_ptr().cast(),
                ) != 0
            {
                *libc::__errno_location()
            } else {
                0
            };
            libc::_exit(code);
        }
    }
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
            Ok(WaitStatus::Exited(_, errno)) => return Err(Errno::from_raw(errno)),
            Ok(_) => return Err(Errno::EINTR),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_paths_become_relative_to_their_common_parent() {
        let (dir, d) = relative_overlay_data(
            "workdir=/r/snapshots/9/work,upperdir=/r/snapshots/9/fs,lowerdir=/r/snapshots/3/fs:/r/snapshots/12/fs,index=off",
        )
        .unwrap();
        assert_eq!(dir, Path::new("/r/snapshots"));
        assert_eq!(
            d,
            "workdir=9/work,upperdir=9/fs,lowerdir=3/fs:12/fs,index=off"
        );
        let (dir, d) = relative_overlay_data("lowerdir=/a/x/fs:/b/y/fs").unwrap();
        assert_eq!(dir, Path::new("/"));
        assert_eq!(d, "lowerdir=a/x/fs:b/y/fs");
        assert!(relative_overlay_data("lowerdir=rel/fs:/a").is_none());
        assert!(relative_overlay_data("lowerdir=/a/../b:/a/c").is_none());
        assert!(relative_overlay_data("lowerdir=/a/b\\:c:/a/d").is_none());
        assert!(relative_overlay_data("ro").is_none());
    }

    #[test]
    fn a_deep_overlay_mounts_from_the_common_parent() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        // Long directory names so 150 layers are far over a page.
        let base = t.path().join("snapshots-with-a-rather-long-name");
        let mut lower = Vec::new();
        for i in 0..150 {
            let fs = base.join(format!("{i:04}-padding-padding")).join("fs");
            std::fs::create_dir_all(&fs).unwrap();
            std::fs::write(fs.join(format!("f{i}")), i.to_string()).unwrap();
            lower.insert(0, fs.display().to_string());
        }
        let data = format!("lowerdir={}", lower.join(":"));
        assert!(data.len() > MOUNT_DATA_MAX);
        let at = t.path().join("merged");
        std::fs::create_dir(&at).unwrap();
        mount(
            "overlay",
            &at,
            Some("overlay"),
            MsFlags::MS_RDONLY,
            Some(&data),
        )
        .unwrap();
        let files = std::fs::read_dir(&at).unwrap().count();
        let first = std::fs::read_to_string(at.join("f0"));
        nix::mount::umount2(&at, nix::mount::MntFlags::MNT_DETACH).unwrap();
        assert_eq!(files, 150);
        assert_eq!(first.unwrap(), "0");
    }
}
