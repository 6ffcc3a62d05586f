//! OCI seccomp profiles compiled to BPF and installed with seccomp(2).
//!
//! ```no_run
//! # fn main() -> Result<(), berth_seccomp::Error> {
//! let profile = berth_seccomp::docker_default(&["CAP_CHOWN".to_string()]);
//! let filter = berth_seccomp::compile(&profile)?; // before fork: allocates
//! // ... in the container's init, right before execve:
//! filter.install()?; // no allocation, no locks
//! # Ok(()) }
//! ```
//!
//! Everything a profile asks for is honoured exactly or refused with an error; see the
//! crate's README for the supported actions, operators, architectures and flags.

mod arch;
mod docker;
mod eval;
mod install;
mod profile;
mod stack;

pub use docker::docker_default;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp: {0}")]
    Invalid(String),
    #[error("seccomp: {0} is not supported")]
    Unsupported(String),
    #[error("seccomp: installing the filter: {0}")]
    Install(std::io::Error),
    #[error(
        "seccomp: installing the filter: thread {0} could not be synchronized (TSYNC); it has \
         a different filter already"
    )]
    ThreadSync(i64),
}

/// A compiled profile: a stack of BPF programs, installed in order.
#[derive(Debug, Clone)]
pub struct Filter {
    programs: Vec<seccompiler::BpfProgram>,
    flags: libc::c_ulong,
    /// The program with SCMP_ACT_NOTIFY rules, installed with a listener.
    listener: Option<usize>,
    /// Flags for that program only.
    listener_flags: libc::c_ulong,
}

/// Compiles a profile for the host architecture (x86_64, with its i386 and x32 ABIs when
/// the profile lists them). Everything the profile asks for is either honoured exactly or
/// refused with an error: never a silently weaker filter. Syscall names this host does not
/// know are skipped (as libseccomp does) and reported at debug level.
pub fn compile(profile: &oci_spec::runtime::LinuxSeccomp) -> Result<Filter, Error> {
    if !cfg!(target_arch = "x86_64") {
        return Err(Error::Unsupported(format!(
            "seccomp filtering on {}",
            std::env::consts::ARCH
        )));
    }
    let profile = profile::Profile::from_oci(profile)?;
    for rule in &profile.rules {
        if !profile
            .arches
            .iter()
            .any(|a| a.syscall(&rule.name).is_some())
        {
            tracing::debug!(syscall = %rule.name, "seccomp: unknown syscall name skipped");
        }
    }
    let stack = stack::build(&profile)?;
    Ok(Filter {
        programs: stack.programs,
        flags: profile.flags,
        listener: stack.listener,
        listener_flags: profile.listener_flags,
    })
}

impl Filter {
    /// Installs the filter on the calling thread (after fork, right before exec, or while
    /// CAP_SYS_ADMIN is still held when `no_new_privileges` is false): without
    /// no_new_privs the kernel requires CAP_SYS_ADMIN. Allocation-free.
    ///
    /// With SCMP_ACT_NOTIFY rules, returns the listener: the descriptor the seccomp agent
    /// reads notifications from. Until the agent holds it, a notified call of this thread
    /// waits; once every copy is closed, notified calls fail with ENOSYS.
    pub fn install(&self) -> Result<Option<std::os::fd::OwnedFd>, Error> {
        install::install(
            &self.programs,
            self.flags,
            self.listener.map(|i| (i, self.listener_flags)),
        )
    }

    /// Whether installing returns a listener for a seccomp agent (the profile has
    /// SCMP_ACT_NOTIFY rules).
    pub fn has_listener(&self) -> bool {
        self.listener.is_some()
    }

    /// How many BPF programs the stack holds.
    pub fn programs(&self) -> usize {
        self.programs.len()
    }

    /// Total BPF instructions across the stack.
    pub fn instructions(&self) -> usize {
        self.programs.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
    use crate::stack::tests::run_stack;
    use serde_json::json;

    fn filter(v: serde_json::Value) -> Filter {
        compile(&serde_json::from_value(v).unwrap()).unwrap()
    }

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    fn errno(e: i32) -> u32 {
        libc::SECCOMP_RET_ERRNO | e as u32
    }
    fn nr(name: &str) -> u32 {
        arch::Arch::X86_64.syscall(name).unwrap()
    }
    fn x64(f: &Filter, name: &str, args: [u64; 6]) -> u32 {
        run_stack(&f.programs, AUDIT_ARCH_X86_64, nr(name), args)
    }

    #[test]
    fn allowlist_with_errno_default() {
        let f = filter(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "syscalls": [
                { "names": ["read", "write"], "action": "SCMP_ACT_ALLOW" },
                { "names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 }
            ]
        }));
        assert_eq!(x64(&f, "read", [0; 6]), ALLOW);
        assert_eq!(x64(&f, "mkdir", [0; 6]), errno(libc::EPERM));
        assert_eq!(x64(&f, "rmdir", [0; 6]), errno(libc::ENOSYS));
    }

    #[test]
    fn denylist_with_every_action() {
        let f = filter(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                { "names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS" },
                { "names": ["rmdir"], "action": "SCMP_ACT_KILL_THREAD" },
                { "names": ["unlink"], "action": "SCMP_ACT_TRAP" },
                { "names": ["chmod"], "action": "SCMP_ACT_TRACE", "errnoRet": 7 },
                { "names": ["chown"], "action": "SCMP_ACT_LOG" },
                { "names": ["link"], "action": "SCMP_ACT_ERRNO" }
            ]
        }));
        assert_eq!(x64(&f, "mkdir", [0; 6]), libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(x64(&f, "rmdir", [0; 6]), libc::SECCOMP_RET_KILL_THREAD);
        assert_eq!(x64(&f, "unlink", [0; 6]), libc::SECCOMP_RET_TRAP);
        assert_eq!(x64(&f, "chmod", [0; 6]), libc::SECCOMP_RET_TRACE | 7);
        assert_eq!(x64(&f, "chown", [0; 6]), libc::SECCOMP_RET_LOG);
        assert_eq!(x64(&f, "link", [0; 6]), errno(libc::EPERM));
        assert_eq!(x64(&f, "read", [0; 6]), ALLOW);
    }

    #[test]
    fn argument_conditions_every_operator() {
        let rule = |op: &str, value: u64, two: Option<u64>| {
            let mut arg = json!({ "index": 1, "value": value, "op": op });
            if let Some(t) = two {
                arg["valueTwo"] = json!(t);
            }
            filter(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{ "names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [arg] }]
            }))
        };
        let hit = |f: &Filter, v: u64| x64(f, "kill", [0, v, 0, 0, 0, 0]) != ALLOW;
        let f = rule("SCMP_CMP_EQ", 9, None);
        assert!(hit(&f, 9) && !hit(&f, 8) && !hit(&f, 9 | 1 << 40));
        let f = rule("SCMP_CMP_NE", 9, None);
        assert!(!hit(&f, 9) && hit(&f, 8) && hit(&f, 9 | 1 << 40));
        let f = rule("SCMP_CMP_LT", 9, None);
        assert!(hit(&f, 8) && !hit(&f, 9) && !hit(&f, u64::MAX));
        let f = rule("SCMP_CMP_LE", 9, None);
        assert!(hit(&f, 9) && !hit(&f, 10));
        let f = rule("SCMP_CMP_GT", 9, None);
        assert!(hit(&f, 10) && !hit(&f, 9) && hit(&f, 1 << 33));
        let f = rule("SCMP_CMP_GE", 9, None);
        assert!(hit(&f, 9) && !hit(&f, 8));
        let f = rule("SCMP_CMP_MASKED_EQ", 0xf0, Some(0x30));
        assert!(hit(&f, 0x35) && hit(&f, 0x3f) && !hit(&f, 0x45) && !hit(&f, 0x05));
        // no valueTwo: compare with 0 (Docker's clone rule)
        let f = rule("SCMP_CMP_MASKED_EQ", 0x7E02_0000, None);
        assert!(hit(&f, libc::SIGCHLD as u64) && !hit(&f, libc::CLONE_NEWNS as u64));
    }

    #[test]
    fn conditions_of_a_rule_are_anded_and_rules_are_ored() {
        let f = filter(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 0, "op": "SCMP_CMP_EQ" }] },
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 8, "op": "SCMP_CMP_EQ" }] },
                { "names": ["kill"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 1, "op": "SCMP_CMP_GT" },
                           { "index": 1, "value": 15, "op": "SCMP_CMP_EQ" }] }
            ]
        }));
        let p = |v| x64(&f, "personality", [v, 0, 0, 0, 0, 0]);
        assert_eq!((p(0), p(8), p(4)), (ALLOW, ALLOW, errno(1)));
        let k = |a, b| x64(&f, "kill", [a, b, 0, 0, 0, 0]);
        assert_eq!((k(5, 15), k(5, 9), k(1, 15)), (ALLOW, errno(1), errno(1)));
    }

    #[test]
    fn several_matching_rules_take_the_most_restrictive_action() {
        let f = filter(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                { "names": ["kill"], "action": "SCMP_ACT_LOG" },
                { "names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                  "args": [{ "index": 1, "value": 9, "op": "SCMP_CMP_EQ" }] }
            ]
        }));
        assert_eq!(x64(&f, "kill", [1, 9, 0, 0, 0, 0]), errno(13));
        assert_eq!(x64(&f, "kill", [1, 15, 0, 0, 0, 0]), libc::SECCOMP_RET_LOG);
    }

    #[test]
    fn architectures_are_filtered_or_killed() {
        let only64 = filter(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }]
        }));
        // an i386 or x32 call cannot bypass a denylist built for x86_64: it is killed
        let i386_mkdir = arch::Arch::X86.syscall("mkdir").unwrap();
        assert_eq!(
            run_stack(&only64.programs, AUDIT_ARCH_I386, i386_mkdir, [0; 6]),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        let x32_mkdir = X32_SYSCALL_BIT | nr("mkdir");
        assert_eq!(
            run_stack(&only64.programs, AUDIT_ARCH_X86_64, x32_mkdir, [0; 6]),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        let all = filter(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{ "names": ["mkdir", "socketcall"], "action": "SCMP_ACT_ERRNO" }]
        }));
        assert_eq!(
            run_stack(&all.programs, AUDIT_ARCH_I386, i386_mkdir, [0; 6]),
            errno(1)
        );
        assert_eq!(
            run_stack(&all.programs, AUDIT_ARCH_X86_64, x32_mkdir, [0; 6]),
            errno(1)
        );
        let i386_socketcall = arch::Arch::X86.syscall("socketcall").unwrap();
        assert_eq!(
            run_stack(&all.programs, AUDIT_ARCH_I386, i386_socketcall, [0; 6]),
            errno(1)
        );
        // i386's number for mkdir (39) is getpid on x86_64: not denied there
        assert_eq!(
            run_stack(&all.programs, AUDIT_ARCH_X86_64, 39, [0; 6]),
            ALLOW
        );
        assert_eq!(run_stack(&all.programs, AUDIT_ARCH_I386, 20, [0; 6]), ALLOW);
    }

    #[test]
    fn notifying_rules_of_every_numbering_live_in_one_listening_program() {
        let f = filter(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                { "names": ["mkdir", "chmod"], "action": "SCMP_ACT_NOTIFY" },
                { "names": ["rmdir"], "action": "SCMP_ACT_ERRNO" }
            ]
        }));
        assert!(f.has_listener());
        let notif = libc::SECCOMP_RET_USER_NOTIF;
        assert_eq!(x64(&f, "mkdir", [0; 6]), notif);
        assert_eq!(x64(&f, "chmod", [0; 6]), notif);
        assert_eq!(x64(&f, "rmdir", [0; 6]), errno(1));
        assert_eq!(x64(&f, "read", [0; 6]), ALLOW);
        let i386_mkdir = arch::Arch::X86.syscall("mkdir").unwrap();
        let x32_mkdir = X32_SYSCALL_BIT | nr("mkdir");
        let listening = &f.programs[f.listener.unwrap()];
        for (audit, call) in [
            (AUDIT_ARCH_X86_64, nr("mkdir")),
            (AUDIT_ARCH_I386, i386_mkdir),
            (AUDIT_ARCH_X86_64, x32_mkdir),
        ] {
            assert_eq!(run_stack(&f.programs, audit, call, [0; 6]), notif);
            // the kernel delivers to the listener of the filter that said so: this one
            assert_eq!(
                run_stack(std::slice::from_ref(listening), audit, call, [0; 6]),
                notif
            );
        }
        let none = filter(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [{ "names": ["rmdir"], "action": "SCMP_ACT_ERRNO" }]
        }));
        assert!(!none.has_listener());
    }

    #[test]
    fn the_program_refusing_seccomp_itself_is_installed_last() {
        let seccomp_call = |p: &seccompiler::BpfProgram| {
            crate::eval::run(p, AUDIT_ARCH_X86_64, nr("seccomp"), [1, 0, 0, 0, 0, 0]).unwrap()
        };
        // an allowlist without `seccomp`, and a second action: the default program (which
        // refuses seccomp) must come after the KILL program
        let f = filter(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                { "names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW" },
                { "names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS" },
                { "names": ["mkdir"], "action": "SCMP_ACT_LOG" }
            ]
        }));
        let (last, before) = f.programs.split_last().unwrap();
        assert_eq!(seccomp_call(last), errno(1));
        assert!(before.iter().all(|p| seccomp_call(p) == ALLOW));
        // a notified `seccomp` would hold the next install: the listening program goes last
        let g = filter(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [
                { "names": ["seccomp"], "action": "SCMP_ACT_NOTIFY" },
                { "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }
            ]
        }));
        assert_eq!(g.listener, Some(g.programs.len() - 1));
        // refusing seccomp in two programs cannot be installed at all
        let both = compile(
            &serde_json::from_value(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    { "names": ["seccomp"], "action": "SCMP_ACT_ERRNO",
                      "args": [{ "index": 1, "value": 0, "op": "SCMP_CMP_EQ" }] },
                    { "names": ["seccomp"], "action": "SCMP_ACT_KILL_PROCESS",
                      "args": [{ "index": 0, "value": 1, "op": "SCMP_CMP_EQ" }] }
                ]
            }))
            .unwrap(),
        );
        assert!(matches!(both, Err(Error::Invalid(m)) if m.contains("allow `seccomp`")));
    }

    #[test]
    fn unknown_names_are_skipped() {
        let f = filter(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{ "names": ["read", "no_such_syscall"], "action": "SCMP_ACT_ALLOW" }]
        }));
        assert_eq!(x64(&f, "read", [0; 6]), ALLOW);
    }

    #[test]
    fn docker_default_compiles_and_behaves() {
        let f = compile(&docker_default(&[])).unwrap();
        assert!(f.programs.iter().all(|p| p.len() <= 4096));
        let clone = |flags: u64| x64(&f, "clone", [flags, 0, 0, 0, 0, 0]);
        assert_eq!(clone(libc::SIGCHLD as u64), ALLOW, "fork-like clone");
        assert_eq!(
            clone(libc::CLONE_NEWNS as u64 | libc::SIGCHLD as u64),
            errno(1)
        );
        assert_eq!(x64(&f, "clone3", [0; 6]), errno(libc::ENOSYS));
        assert_eq!(x64(&f, "mount", [0; 6]), errno(1));
        assert_eq!(x64(&f, "read", [0; 6]), ALLOW);
        assert_eq!(x64(&f, "arch_prctl", [0; 6]), ALLOW);
        assert_eq!(x64(&f, "ptrace", [0; 6]), ALLOW, "allowed since kernel 4.8");
        assert_eq!(x64(&f, "personality", [0xffffffff, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(x64(&f, "personality", [0x0040000, 0, 0, 0, 0, 0]), errno(1));
        assert_eq!(
            x64(&f, "socket", [libc::AF_VSOCK as u64, 0, 0, 0, 0, 0]),
            errno(1)
        );
        assert_eq!(
            x64(&f, "socket", [libc::AF_INET as u64, 0, 0, 0, 0, 0]),
            ALLOW
        );
        let admin = compile(&docker_default(&["CAP_SYS_ADMIN".into()])).unwrap();
        assert_eq!(x64(&admin, "mount", [0; 6]), ALLOW);
        assert_eq!(x64(&admin, "clone3", [0; 6]), ALLOW);
        assert_eq!(
            x64(&admin, "clone", [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0]),
            ALLOW
        );
        // an i386 program is filtered too
        let i386_mount = arch::Arch::X86.syscall("mount").unwrap();
        assert_eq!(
            run_stack(&f.programs, AUDIT_ARCH_I386, i386_mount, [0; 6]),
            errno(1)
        );
    }
}
