//! The last steps before the container's program runs: finding it on the container's PATH,
//! closing every file descriptor the program must not inherit, and execve.

use crate::error::{bail, Result};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        if fd >= first as i32 {
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// Replaces the process image; returns only on failure.
pub fn exec(p: &Program) -> std::io::Error {
    reset_signals();
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    unsafe { libc::execve(p.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    std::io::Error::last_os_error()
}

/// The program starts with no signal blocked and SIGPIPE at its default action, whatever
/// our caller blocked (a shim reaping through a signalfd blocks SIGCHLD) and whatever the
/// Rust runtime set up for this binary (it ignores SIGPIPE). Both survive execve: a shell
/// with SIGCHLD blocked waits forever for its children.
fn reset_signals() {
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
