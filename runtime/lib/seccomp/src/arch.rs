//! The architectures a profile can name on an x86_64 host, their audit values, and syscall
//! numbers by name.

use std::str::FromStr;

/// Audit architecture values the kernel reports in `seccomp_data.arch`.
pub(crate) const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
pub(crate) const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
/// x32 syscalls arrive with the x86_64 audit value and this bit set in the number.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Arch {
    X86_64,
    X32,
    X86,
}

/// x32 calls whose number differs from x86_64's: they live at 512 + index.
const X32_SPECIFIC: [&str; 36] = [
    "rt_sigaction",
    "rt_sigreturn",
    "ioctl",
    "readv",
    "writev",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "execve",
    "ptrace",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "sigaltstack",
    "timer_create",
    "mq_notify",
    "kexec_load",
    "waitid",
    "set_robust_list",
    "get_robust_list",
    "vmsplice",
    "move_pages",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "recvmmsg",
    "sendmmsg",
    "process_vm_readv",
    "process_vm_writev",
    "setsockopt",
    "getsockopt",
    "io_setup",
    "io_submit",
    "execveat",
    "preadv2",
    "pwritev2",
];

impl Arch {
    /// The number `name` has on this architecture, as the filter sees it.
    pub(crate) fn syscall(self, name: &str) -> Option<u32> {
        match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::from_str(name)
                .ok()
                .map(|s| s.id() as u32),
            Arch::X86 => syscalls::x86::Sysno::from_str(name)
                .ok()
                .map(|s| s.id() as u32),
            Arch::X32 => match X32_SPECIFIC.iter().position(|n| *n == name) {
                Some(i) => Some(X32_SYSCALL_BIT | (512 + i as u32)),
                // Everything else shares the x86_64 number. The x86_64-only entries among
                // them return ENOSYS for x32 callers, so allowing them grants nothing.
                None => Arch::X86_64.syscall(name).map(|n| X32_SYSCALL_BIT | n),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(Arch::X86_64.syscall("read"), Some(0));
        assert_eq!(Arch::X86_64.syscall("mkdir"), Some(83));
        assert_eq!(Arch::X86.syscall("mkdir"), Some(39));
        assert_eq!(Arch::X86.syscall("socketcall"), Some(102));
        assert_eq!(Arch::X86_64.syscall("socketcall"), None);
        assert_eq!(Arch::X32.syscall("mkdir"), Some(X32_SYSCALL_BIT | 83));
        assert_eq!(Arch::X32.syscall("ioctl"), Some(X32_SYSCALL_BIT | 514));
        assert_eq!(Arch::X32.syscall("pwritev2"), Some(X32_SYSCALL_BIT | 547));
        assert_eq!(Arch::X86_64.syscall("no_such_call"), None);
    }
}
