//! berth-seccomp in real processes: a forked child installs a compiled profile and makes
//! system calls; the parent checks what the kernel did (errno, SIGSYS, success).

use berth_seccomp::{compile, docker_default, Filter};
use serde_json::json;

/// Runs `body` in a forked child after installing `filter` (with no_new_privs set when
/// `nnp`). The child exits with what `body` returns; 200 + errno if install failed.
/// Returns the wait status.
fn in_child(filter: &Filter, nnp: bool, body: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only makes raw system calls (no allocation, no locks) and _exits.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            if nnp && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(199);
            }
            if let Err(e) = filter.install() {
                let code = match e {
                    berth_seccomp::Error::Install(io) => io.raw_os_error().unwrap_or(0),
                    _ => 0,
                };
                libc::_exit(200 + code);
            }
            libc::_exit(body());
        }
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        status
    }
}

fn exited(status: i32) -> Option<i32> {
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

fn signalled(status: i32) -> Option<i32> {
    libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status))
}

fn profile(v: serde_json::Value) -> Filter {
    compile(&serde_json::from_value(v).expect("valid profile")).expect("compiles")
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// mkdir of a path that cannot exist: 0 means the call was let through to the kernel
/// (which then says ENOENT), anything else is the errno seccomp returned.
fn try_mkdir() -> i32 {
    // SAFETY: a constant NUL-terminated path.
    let r = unsafe { libc::mkdir(c"/nonexistent-berth-dir/x".as_ptr(), 0o755) };
    match (r, errno()) {
        (_, libc::ENOENT) => 0,
        (0, _) => 0,
        (_, e) => e,
    }
}

#[test]
fn denied_call_returns_the_configured_errno_and_others_work() {
    for (errno_ret, want) in [(None, libc::EPERM), (Some(38), libc::ENOSYS)] {
        let mut rule = json!({ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" });
        if let Some(e) = errno_ret {
            rule["errnoRet"] = json!(e);
        }
        let f = profile(json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule] }));
        let status = in_child(&f, true, || {
            // SAFETY: plain system calls.
            let pid_ok = unsafe { libc::getpid() } > 0;
            if !pid_ok {
                return 99;
            }
            try_mkdir()
        });
        assert_eq!(exited(status), Some(want), "status {status:#x}");
    }
}

#[test]
fn kill_trap_and_trace_actions() {
    for (action, want_signal, want_errno) in [
        ("SCMP_ACT_KILL_PROCESS", Some(libc::SIGSYS), None),
        ("SCMP_ACT_KILL_THREAD", Some(libc::SIGSYS), None),
        ("SCMP_ACT_KILL", Some(libc::SIGSYS), None),
        ("SCMP_ACT_TRAP", Some(libc::SIGSYS), None),
        // no tracer attached: the kernel fails the call with ENOSYS
        ("SCMP_ACT_TRACE", None, Some(libc::ENOSYS)),
        ("SCMP_ACT_LOG", None, Some(0)),
    ] {
        let f = profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["mkdir"], "action": action }]
        }));
        let status = in_child(&f, true, try_mkdir);
        assert_eq!(
            signalled(status),
            want_signal,
            "{action}: status {status:#x}"
        );
        if want_errno.is_some() {
            assert_eq!(exited(status), want_errno, "{action}");
        }
    }
}

#[test]
fn argument_conditions_select_the_calls() {
    let f = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
            "args": [{ "index": 1, "value": libc::SIGUSR2, "op": "SCMP_CMP_EQ" }]
        }, {
            "names": ["personality"], "action": "SCMP_ACT_ERRNO",
            "args": [{ "index": 0, "value": 0xff00, "valueTwo": 0x0400, "op": "SCMP_CMP_MASKED_EQ" }]
        }]
    }));
    let status = in_child(&f, true, || unsafe {
        // SAFETY: signal 0 only probes; personality queries with 0xffffffff.
        let me = libc::getpid();
        if libc::kill(me, 0) != 0 {
            return 1;
        }
        if libc::kill(me, libc::SIGUSR2) == 0 || errno() != libc::EACCES {
            return 2;
        }
        if libc::personality(0xffff_ffff) == -1 {
            return 3;
        }
        if libc::personality(0x0400) != -1 || errno() != libc::EPERM {
            return 4;
        }
        0
    });
    assert_eq!(exited(status), Some(0), "check {status:#x} failed");
}

#[test]
fn docker_default_profile_in_a_process() {
    let f = compile(&docker_default(&[])).unwrap();
    let status = in_child(&f, true, || unsafe {
        // SAFETY: plain system calls with constant arguments.
        if libc::getpid() <= 0 {
            return 1;
        }
        if libc::unshare(libc::CLONE_NEWNS) != -1 || errno() != libc::EPERM {
            return 2;
        }
        let r = libc::mount(
            c"none".as_ptr(),
            c"/mnt".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        );
        if r != -1 || errno() != libc::EPERM {
            return 3;
        }
        if libc::syscall(libc::SYS_clone3, 0, 0) != -1 || errno() != libc::ENOSYS {
            return 4;
        }
        // fork works (clone without namespace flags)
        let child = libc::fork();
        if child == 0 {
            libc::_exit(0);
        }
        if child < 0 {
            return 5;
        }
        let mut st = 0;
        libc::waitpid(child, &mut st, 0);
        if libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) != -1 || errno() != libc::EPERM {
            return 6;
        }
        0
    });
    assert_eq!(exited(status), Some(0), "check {status:#x} failed");
}

#[test]
fn install_without_no_new_privs_needs_cap_sys_admin() {
    berth_tests::require!(root);
    let f = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }]
    }));
    // as root (CAP_SYS_ADMIN held), no_new_privs is not needed
    assert_eq!(exited(in_child(&f, false, try_mkdir)), Some(libc::EPERM));
    // without CAP_SYS_ADMIN and without no_new_privs, the kernel refuses the filter
    // SAFETY: fork; the child only makes system calls.
    let status = unsafe {
        let pid = libc::fork();
        if pid == 0 {
            if libc::setuid(65534) != 0 {
                libc::_exit(1);
            }
            let code = match f.install() {
                Err(berth_seccomp::Error::Install(e)) => e.raw_os_error().unwrap_or(2),
                _ => 3,
            };
            libc::_exit(code);
        }
        let mut st = 0;
        libc::waitpid(pid, &mut st, 0);
        st
    };
    assert_eq!(exited(status), Some(libc::EACCES));
}

/// The flags map to the kernel's bits: a wrong bit (NEW_LISTENER, say) would make the
/// install fail or return a descriptor.
#[test]
fn flags_are_accepted_by_the_kernel() {
    let f = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }]
    }));
    let status = in_child(&f, true, || {
        if try_mkdir() != libc::EPERM {
            return 1;
        }
        0
    });
    assert_eq!(exited(status), Some(0), "status {status:#x}");
}

/// Issues an i386 system call through `int 0x80` (32-bit arguments).
fn int80(nr: u32, a: u32, b: u32) -> i32 {
    let ret: i32;
    // SAFETY: int 0x80 with the i386 calling convention; the kernel preserves other registers.
    unsafe {
        // rbx is reserved by LLVM: swap the first argument in and out around the call
        std::arch::asm!(
            "xchg {a}, rbx",
            "int 0x80",
            "xchg {a}, rbx",
            a = inout(reg) u64::from(a) => _,
            inlateout("eax") nr as i32 => ret,
            in("ecx") b,
        );
    }
    ret
}

const I386_GETPID: u32 = 20;
const I386_MKDIR: u32 = 39;

#[test]
fn i386_calls_are_filtered_or_killed() {
    // does this kernel run i386 calls at all?
    let unfiltered = profile(json!({ "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"] }));
    let probe = in_child(&unfiltered, true, || {
        // SAFETY: getpid has no arguments
        let pid = unsafe { libc::getpid() };
        (int80(I386_GETPID, 0, 0) == pid) as i32
    });
    if exited(probe) != Some(1) {
        berth_tests::skip!(host::no_ia32_emulation);
    }
    // listed: the i386 numbering is filtered like the native one
    let both = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }]
    }));
    // mkdir(NULL): the kernel would say EFAULT; the filter answers first
    let status = in_child(&both, true, || -int80(I386_MKDIR, 0, 0o755));
    assert_eq!(
        exited(status),
        Some(libc::ENOSYS),
        "i386 mkdir: status {status:#x}"
    );
    let status = in_child(&unfiltered, true, || -int80(I386_MKDIR, 0, 0o755));
    assert_eq!(exited(status), Some(libc::EFAULT), "unfiltered i386 mkdir");
    // other i386 calls still work
    let status = in_child(&both, true, || {
        // SAFETY: getpid has no arguments
        (int80(I386_GETPID, 0, 0) == unsafe { libc::getpid() }) as i32
    });
    assert_eq!(exited(status), Some(1));
    // not listed: an i386 call cannot bypass the filter; the process is killed
    let only64 = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }]
    }));
    let status = in_child(&only64, true, || int80(I386_GETPID, 0, 0));
    assert_eq!(signalled(status), Some(libc::SIGSYS), "status {status:#x}");
}

#[test]
fn x32_calls_are_killed_unless_listed() {
    let f = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }]
    }));
    // SAFETY: an x32 getpid; no arguments
    let status = in_child(&f, true, || unsafe {
        libc::syscall(0x4000_0000 | libc::SYS_getpid) as i32
    });
    assert_eq!(signalled(status), Some(libc::SIGSYS), "status {status:#x}");
}

#[test]
fn profiles_that_cannot_work_are_refused_clearly() {
    for (p, want) in [
        (
            json!({ "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }] }),
            "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath",
        ),
        (
            json!({ "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
                    "syscalls": [{ "names": ["write"], "action": "SCMP_ACT_NOTIFY" }] }),
            "SCMP_ACT_NOTIFY cannot be used for the write syscall",
        ),
    ] {
        let err = compile(&serde_json::from_value(p).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
    }
}

/// An allowlist without `seccomp` plus rules of other actions compiles to several filters;
/// each is installed with seccomp(2), so the one refusing that call goes in last.
#[test]
fn a_profile_refusing_seccomp_itself_installs() {
    let f = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            { "names": ["getpid", "exit_group", "exit"], "action": "SCMP_ACT_ALLOW" },
            { "names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS" },
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }
        ]
    }));
    assert!(f.programs() >= 3, "{} programs", f.programs());
    let status = in_child(&f, true, || {
        // SAFETY: plain system calls.
        if unsafe { libc::getpid() } <= 0 {
            return 98;
        }
        // not allowlisted: EPERM (the default), mkdir: its own errno
        // SAFETY: a plain system call.
        if unsafe { libc::syscall(libc::SYS_getppid) } != -1 || errno() != libc::EPERM {
            return 97;
        }
        try_mkdir()
    });
    assert_eq!(exited(status), Some(libc::ENOSYS), "status {status:#x}");
}

// ---- containers: berth-runtime applies the profile of config.json ----

mod containers {
    use berth_tests::oci_runtime::{busybox_config, Runtime};
    use berth_tests::rootfs::Bundle;
    use berth_tests::{require, unique};
    use serde_json::json;

    /// Runs `script` in a busybox container with `seccomp` and returns (exit code, output).
    fn run(script: &str, seccomp: serde_json::Value) -> (i32, String) {
        run_on(&Runtime::new(), script, seccomp)
    }

    fn run_on(rt: &Runtime, script: &str, seccomp: serde_json::Value) -> (i32, String) {
        let mut config = busybox_config(&["/bin/sh", "-c", script]);
        config["linux"]["seccomp"] = seccomp;
        let bundle = Bundle::new(&config);
        let id = unique("seccomp");
        let bundle_path = bundle.path().to_str().unwrap();
        let out = rt.cmd(&["run", "--bundle", bundle_path, &id]);
        rt.force_delete(&id);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    fn deny_mkdir(extra: serde_json::Value) -> serde_json::Value {
        let mut rule = json!({ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" });
        rule.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [rule] })
    }

    #[test]
    fn mkdir_denied_with_eperm_or_enosys() {
        require!(root);
        let (code, out) = run("mkdir /tmp/d; echo rc=$?", deny_mkdir(json!({})));
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("Operation not permitted") && out.contains("rc=1"),
            "{out}"
        );
        let (_, out) = run(
            "mkdir /tmp/d; echo rc=$?",
            deny_mkdir(json!({ "errnoRet": libc::ENOSYS })),
        );
        assert!(
            out.contains("Function not implemented") && out.contains("rc=1"),
            "{out}"
        );
        // the rest of the container works: other calls are allowed
        let (_, out) = run("touch /tmp/f && echo touched", deny_mkdir(json!({})));
        assert!(out.contains("touched"), "{out}");
    }

    /// A profile written for several machines (Docker's lists x86 and arm together) works
    /// unchanged: the host's own calls are filtered even when only other machines are
    /// listed, and the foreign entries are no error. Same outcome on runc.
    #[test]
    fn profiles_naming_other_machines_filter_the_native_calls() {
        require!(root);
        for rt in Runtime::both() {
            for arches in [
                json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
                // little-endian only: libseccomp (runc) cannot mix byte orders in one filter
                json!([
                    "SCMP_ARCH_AARCH64",
                    "SCMP_ARCH_PPC64LE",
                    "SCMP_ARCH_MIPSEL64"
                ]),
            ] {
                let mut profile = deny_mkdir(json!({}));
                profile["architectures"] = arches.clone();
                let (code, out) = run_on(&rt, "mkdir /tmp/d; echo rc=$?", profile);
                let who = rt.name();
                assert_eq!(code, 0, "{who} {arches}: {out}");
                assert!(
                    out.contains("Operation not permitted") && out.contains("rc=1"),
                    "{who} {arches}: {out}"
                );
            }
        }
    }

    #[test]
    fn kill_action_ends_the_process_with_sigsys() {
        require!(root);
        let (_, out) = run(
            "mkdir /tmp/d; echo rc=$?",
            deny_mkdir(json!({ "action": "SCMP_ACT_KILL_PROCESS" })),
        );
        // sh reports a child killed by signal 31 (SIGSYS) as 128+31
        assert!(out.contains("rc=159"), "{out}");
    }

    #[test]
    fn docker_default_profile_runs_busybox() {
        require!(root);
        let caps: Vec<String> = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let profile = serde_json::to_value(berth_seccomp::docker_default(&caps)).unwrap();
        let (code, out) = run(
            "echo hello | cat; ls / >/dev/null && sleep 0 && echo ok; exit 3",
            profile,
        );
        assert_eq!(code, 3, "{out}");
        assert!(out.contains("hello") && out.contains("ok"), "{out}");
    }

    #[test]
    fn unsupported_profile_is_refused_before_the_container_runs() {
        require!(root);
        let (code, out) = run(
            "echo should-not-run",
            json!({ "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }] }),
        );
        assert_ne!(code, 0);
        assert!(!out.contains("should-not-run"), "{out}");
        assert!(out.contains("SCMP_ACT_NOTIFY"), "{out}");
    }
}
