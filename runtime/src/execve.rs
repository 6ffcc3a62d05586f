//! The last steps before the container's program runs: finding it on the container's PATH,
//! closing every file descriptor the program must not inherit, and execve.

use crate::error::{bail, Result};
use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug)]
pub struct Program {
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte: {s:?}").into())
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves `args[0]` (on the PATH of `env` when it has no slash), in the current root.
pub fn resolve(args: &[String], env: &[String]) -> Result<Program> {
    let Some(arg0) = args.first() else {
        bail!("no program to run (args is empty)")
    };
    let path = if arg0.contains('/') {
        let p = Path::new(arg0);
        match std::fs::metadata(p) {
            Err(e) => bail!("exec {arg0:?}: {e}"),
            Ok(m) if m.is_dir() => bail!("exec {arg0:?}: is a directory"),
            Ok(_) if !is_executable(p) => {
                bail!("exec {arg0:?}: permission denied (not executable)")
            }
            Ok(_) => arg0.clone(),
        }
    } else {
        let search = env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        search
            .split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
            .find(|p| is_executable(p))
            .map(|p| p.to_string_lossy().into_owned())
            .ok_or_else(|| format!("exec {arg0:?}: executable file not found in $PATH"))?
    };
    Ok(Program {
        path: cstring(&path, "program path")?,
        argv: args
            .iter()
            .map(|a| cstring(a, "argument"))
            .collect::<Result<_>>()?,
        envp: env
            .iter()
            .map(|e| cstring(e, "environment entry"))
            .collect::<Result<_>>()?,
    })
}

/// Marks every fd from `first` on close-on-exec, so only stdio and the preserved fds
/// survive execve (a leaked directory fd would let the container reach the host).
pub fn cloexec_from(first: u32) {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    for fd in open_fds() {
        if fd >= first as i32 {
            // SAFETY: setting FD_CLOEXEC on a descriptor number has no memory effects.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// Closes every fd from `first` on except those in `keep`. Marking them close-on-exec is
/// not enough for a process that waits before its execve (init parked on the exec fifo):
/// until then anyone allowed to read its /proc/PID/fd could reach what the runtime's caller
/// had open (CVE-2024-21626). The caller must own nothing else at or above `first`: no
/// Rust object may use those numbers afterwards.
pub fn close_from(first: u32, keep: &[RawFd]) {
    let ranges = ranges_between(first, keep);
    // SAFETY: close_range closes descriptor numbers only; the caller guarantees no live
    // Rust object owns a descriptor in these ranges.
    let closed = ranges
        .iter()
        .all(|&(a, b)| unsafe { libc::syscall(libc::SYS_close_range, a, b, 0) == 0 });
    if closed {
        return;
    }
    // Kernels before 5.9 lack close_range: close what /proc lists.
    for fd in open_fds() {
        if fd >= first as i32 && !keep.contains(&fd) {
            // SAFETY: as above; EBADF (e.g. the listing's own, already closed fd) is harmless.
            unsafe { libc::close(fd) };
        }
    }
}

/// The inclusive ranges from `first` up that leave out the fds in `keep`.
fn ranges_between(first: u32, keep: &[RawFd]) -> Vec<(u32, u32)> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd >= first)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut lo = first;
    let mut ranges = Vec::with_capacity(keep.len() + 1);
    for k in keep {
        if k > lo {
            ranges.push((lo, k - 1));
        }
        lo = k + 1;
    }
    ranges.push((lo, u32::MAX));
    ranges
}

/// The fds of this process, from /proc/self/fd (the listing's own fd is closed again
/// when this returns).
fn open_fds() -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces the process image; returns only on failure.
pub fn exec(p: &Program) -> std::io::Error {
    reset_signals();
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: path, argv and envp are NUL-terminated strings and null-terminated arrays of them,
    // alive for the call.
    unsafe { libc::execve(p.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    std::io::Error::last_os_error()
}

/// The program starts with no signal blocked and SIGPIPE at its default action, whatever
/// our caller blocked (a shim reaping through a signalfd blocks SIGCHLD) and whatever the
/// Rust runtime set up for this binary (it ignores SIGPIPE). Both survive execve: a shell
/// with SIGCHLD blocked waits forever for its children.
fn reset_signals() {
    // SAFETY: sigemptyset fills a sigset we own; sigprocmask reads it; signal restores the
    // default action (no handler of ours is installed).
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::{ranges_between, resolve};

    #[test]
    fn ranges_leave_out_the_kept_fds() {
        assert_eq!(ranges_between(3, &[]), vec![(3, u32::MAX)]);
        // kept fds below `first` (stdio, preserved) and duplicates do not matter
        assert_eq!(
            ranges_between(5, &[9, 1, 6, 9]),
            vec![(5, 5), (7, 8), (10, u32::MAX)]
        );
        assert_eq!(ranges_between(3, &[3, 4]), vec![(5, u32::MAX)]);
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn programs_are_found_on_the_containers_path() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let tool = bin.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("PATH=/nonexistent:{}", bin.display());
        let p = resolve(&v(&["tool", "-x"]), &v(&["PATH=/ignored", &path])).unwrap();
        assert_eq!(p.path.to_str().unwrap(), tool.to_str().unwrap());
        assert_eq!(p.argv.len(), 2);
        assert_eq!(p.envp.len(), 2);
        let e = resolve(&v(&["tool"]), &v(&["PATH=/nonexistent"])).unwrap_err();
        assert_eq!(e.0, "exec \"tool\": executable file not found in $PATH");
    }

    #[test]
    fn paths_with_a_slash_are_checked_as_they_are() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("data");
        std::fs::write(&f, "").unwrap();
        let fs = f.to_str().unwrap();
        let ds = d.path().to_str().unwrap();
        assert_eq!(
            resolve(&v(&[fs]), &[]).unwrap_err().0,
            format!("exec {fs:?}: permission denied (not executable)")
        );
        assert_eq!(
            resolve(&v(&[ds]), &[]).unwrap_err().0,
            format!("exec {ds:?}: is a directory")
        );
        assert!(resolve(&v(&["/nonexistent/x"]), &[]).is_err());
        assert_eq!(
            resolve(&[], &[]).unwrap_err().0,
            "no program to run (args is empty)"
        );
        assert_eq!(
            resolve(&v(&["/bin/sh", "a\0b"]), &[]).unwrap_err().0,
            "argument contains a NUL byte: \"a\\0b\""
        );
    }
}
