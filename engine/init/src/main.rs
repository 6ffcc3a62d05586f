//! berth-init: the init that `docker run --init` puts in front of a container's command,
//! as dockerd's docker-init. It is PID 1 inside the container (its mount namespace,
//! cgroup and credentials, nothing of the host): it starts the command in a process group
//! of its own (with the terminal, if there is one), forwards every signal it receives to
//! it, reaps each orphan that ends up as its child, and exits with the command's status
//! (128 + the signal when a signal ended it).
//!
//! Usage: `berth-init [--] COMMAND [ARG...]`. berthd compiles this file with plain rustc
//! as a static executable (it must run in images without a C library, or with another
//! one), so it uses the standard library and a few C library calls declared below only.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

/// The C library calls std does not offer, with Linux's constants.
mod sys {
    use std::os::raw::{c_int, c_long, c_void};

    /// glibc's and musl's `sigset_t`: 1024 bits.
    #[repr(C)]
    pub struct SigSet {
        _bits: [u64; 16],
    }

    #[repr(C)]
    pub struct Timespec {
        pub tv_sec: c_long,
        pub tv_nsec: c_long,
    }

    pub const SIG_SETMASK: c_int = 2;
    pub const SIG_DFL: usize = 0;
    pub const SIG_IGN: usize = 1;
    pub const SIGCHLD: c_int = 17;
    pub const SIGTTIN: c_int = 21;
    pub const SIGTTOU: c_int = 22;
    pub const EAGAIN: c_int = 11;
    pub const WNOHANG: c_int = 1;
    pub const PR_SET_CHILD_SUBREAPER: c_int = 36;
    /// Signals the kernel raises for a fault of the process itself; blocking them would
    /// turn a fault into a hang.
    pub const SYNCHRONOUS: [c_int; 7] = [4, 5, 6, 7, 8, 11, 31];

    extern "C" {
        pub fn sigfillset(set: *mut SigSet) -> c_int;
        pub fn sigemptyset(set: *mut SigSet) -> c_int;
        pub fn sigdelset(set: *mut SigSet, sig: c_int) -> c_int;
        pub fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
        pub fn sigtimedwait(
            set: *const SigSet,
            info: *mut c_void,
            timeout: *const Timespec,
        ) -> c_int;
        pub fn signal(sig: c_int, handler: usize) -> usize;
        pub fn kill(pid: c_int, sig: c_int) -> c_int;
        pub fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        pub fn tcsetpgrp(fd: c_int, pgrp: c_int) -> c_int;
        pub fn getpgrp() -> c_int;
        pub fn prctl(option: c_int, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> c_int;
    }
}

/// The command to run: the arguments after an optional leading `--`.
fn command(args: Vec<OsString>) -> Option<Vec<OsString>> {
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|a| a == "--") {
        args.next();
    }
    let cmd: Vec<OsString> = args.collect();
    (!cmd.is_empty()).then_some(cmd)
}

/// The exit code for a wait status: the code of a normal exit, 128 + the signal that
/// ended the process otherwise (as a shell reports it).
fn exit_code(status: i32) -> i32 {
    let sig = status & 0x7f;
    if sig == 0 {
        (status >> 8) & 0xff
    } else {
        128 + sig
    }
}

/// The exit code when the command cannot be started, as a shell gives it: 127 when it
/// is not found, 126 when it is found but cannot be run.
fn exec_failure_code(kind: ErrorKind, raw: Option<i32>) -> i32 {
    match (kind, raw) {
        (ErrorKind::NotFound, _) => 127,
        (ErrorKind::PermissionDenied, _) => 126,
        // ENOEXEC (not an executable format), EISDIR, ETXTBSY: found, cannot run.
        (_, Some(8 | 21 | 26)) => 126,
        _ => 1,
    }
}

fn fatal(msg: &str, code: i32) -> ! {
    eprintln!("berth-init: {msg}");
    exit(code)
}

fn main() {
    let Some(cmd) = command(std::env::args_os().skip(1).collect()) else {
        fatal(
            "no command given: run as `berth-init [--] COMMAND [ARG...]` (docker run --init puts it in front of the container's command)",
            1,
        );
    };
    let mut all = std::mem::MaybeUninit::<sys::SigSet>::uninit();
    // SAFETY: sigfillset initialises the set it is given (a valid, writable sigset_t);
    // sigdelset, sigprocmask and signal only read it or take plain integers. The init is
    // single-threaded, so changing its mask and dispositions affects no one else.
    let all = unsafe {
        sys::sigfillset(all.as_mut_ptr());
        for s in sys::SYNCHRONOUS {
            sys::sigdelset(all.as_mut_ptr(), s);
        }
        let all = all.assume_init();
        // Every other signal waits for the loop below, which forwards it. As PID 1, a
        // signal left at its default action would be dropped by the kernel instead.
        sys::sigprocmask(sys::SIG_SETMASK, &all, std::ptr::null_mut());
        // Handing the terminal to the command's process group raises these here.
        sys::signal(sys::SIGTTIN, sys::SIG_IGN);
        sys::signal(sys::SIGTTOU, sys::SIG_IGN);
        all
    };
    if std::process::id() != 1 {
        // Not PID 1 (the host's PID namespace): orphans of the command still come here.
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes integers only.
        unsafe { sys::prctl(sys::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let mut c = Command::new(&cmd[0]);
    c.args(&cmd[1..]).process_group(0);
    // SAFETY: runs in the forked child before exec and calls only async-signal-safe
    // functions (tcsetpgrp, getpgrp, signal, sigemptyset, sigprocmask) on a set of its
    // own stack. The command starts with no signal blocked and default dispositions.
    unsafe {
        c.pre_exec(|| {
            // The command's own group gets the terminal; no terminal is no error.
            sys::tcsetpgrp(0, sys::getpgrp());
            sys::signal(sys::SIGTTIN, sys::SIG_DFL);
            sys::signal(sys::SIGTTOU, sys::SIG_DFL);
            let mut none = std::mem::MaybeUninit::<sys::SigSet>::uninit();
            sys::sigemptyset(none.as_mut_ptr());
            sys::sigprocmask(sys::SIG_SETMASK, none.as_ptr(), std::ptr::null_mut());
            Ok(())
        });
    }
    let child = match c.spawn() {
        Ok(child) => child.id() as i32,
        Err(e) => fatal(
            &format!("exec {} failed: {e}", cmd[0].to_string_lossy()),
            exec_failure_code(e.kind(), e.raw_os_error()),
        ),
    };
    let tick = sys::Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: `all` is an initialised sigset_t and `tick` a valid timespec; a null
        // siginfo pointer is allowed.
        let sig = unsafe { sys::sigtimedwait(&all, std::ptr::null_mut(), &tick) };
        if sig > 0 && sig != sys::SIGCHLD {
            // SAFETY: kill takes integers only; the child may be gone already (ESRCH).
            unsafe { sys::kill(child, sig) };
        } else if sig < 0 {
            let e = std::io::Error::last_os_error().raw_os_error();
            if e != Some(sys::EAGAIN) && e != Some(4) {
                fatal(&format!("waiting for signals: {e:?}"), 1);
            }
        }
        // Reap everything that has ended: the command and any orphan.
        let mut code = None;
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status into a local integer.
            let pid = unsafe { sys::waitpid(-1, &mut status, sys::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == child {
                code = Some(exit_code(status));
            }
        }
        if let Some(code) = code {
            exit(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_command_follows_an_optional_double_dash() {
        assert_eq!(
            command(os(&["--", "sh", "-c", "x"])),
            Some(os(&["sh", "-c", "x"]))
        );
        assert_eq!(command(os(&["sleep", "1"])), Some(os(&["sleep", "1"])));
        // Only the first `--` is ours.
        assert_eq!(command(os(&["--", "--", "a"])), Some(os(&["--", "a"])));
        assert_eq!(command(os(&["--"])), None);
        assert_eq!(command(os(&[])), None);
    }

    #[test]
    fn exit_codes_as_a_shell_reports_them() {
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(5 << 8), 5);
        assert_eq!(exit_code(255 << 8), 255);
        assert_eq!(exit_code(9), 137);
        assert_eq!(exit_code(15), 143);
        // A core dump flag does not change the signal.
        assert_eq!(exit_code(11 | 0x80), 139);
    }

    #[test]
    fn a_command_that_cannot_start_exits_as_a_shell_does() {
        assert_eq!(exec_failure_code(ErrorKind::NotFound, Some(2)), 127);
        assert_eq!(
            exec_failure_code(ErrorKind::PermissionDenied, Some(13)),
            126
        );
        assert_eq!(exec_failure_code(ErrorKind::Other, Some(8)), 126);
        assert_eq!(exec_failure_code(ErrorKind::Other, Some(7)), 1);
    }
}
