//! An OCI seccomp profile checked and normalized: the default action, the architectures,
//! the filter flags and one rule per (syscall name, action, conditions). Anything that
//! cannot be honoured exactly is refused here, before any BPF is built.

use oci_spec::runtime::{
    Arch as OciArch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::arch::Arch;
use crate::Error;

/// What the kernel does with a call. Ordered from most to least restrictive, the order in
/// which the kernel ranks the results of stacked filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Action {
    KillProcess,
    KillThread,
    Trap,
    Errno(u16),
    /// SECCOMP_RET_USER_NOTIF: the call waits for the seccomp agent's answer.
    Notify,
    Trace(u16),
    Log,
    Allow,
}

impl Action {
    fn from_oci(a: LinuxSeccompAction, errno: Option<u32>, what: &str) -> Result<Action, Error> {
        // runc's default errno for SCMP_ACT_ERRNO and SCMP_ACT_TRACE
        let data = || -> Result<u16, Error> {
            let v = errno.unwrap_or(libc::EPERM as u32);
            if v > 4095 {
                return Err(Error::Invalid(format!(
                    "{what}: errno {v} is out of range (0-4095)"
                )));
            }
            Ok(v as u16)
        };
        Ok(match a {
            LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
                Action::KillThread
            }
            LinuxSeccompAction::ScmpActKillProcess => Action::KillProcess,
            LinuxSeccompAction::ScmpActTrap => Action::Trap,
            LinuxSeccompAction::ScmpActErrno => Action::Errno(data()?),
            LinuxSeccompAction::ScmpActTrace => Action::Trace(data()?),
            LinuxSeccompAction::ScmpActLog => Action::Log,
            LinuxSeccompAction::ScmpActAllow => Action::Allow,
            LinuxSeccompAction::ScmpActNotify => Action::Notify,
        })
    }

    pub(crate) fn to_seccompiler(self) -> seccompiler::SeccompAction {
        use seccompiler::SeccompAction as S;
        match self {
            Action::KillProcess => S::KillProcess,
            Action::KillThread => S::KillThread,
            Action::Trap => S::Trap,
            Action::Errno(e) => S::Errno(u32::from(e)),
            Action::Trace(d) => S::Trace(u32::from(d)),
            Action::Log => S::Log,
            Action::Allow => S::Allow,
            // seccompiler has no user-notification action: compiled as a trace value no
            // profile can ask for (errnoRet stops at 4095), then rewritten (see `stack`).
            Action::Notify => S::Trace(NOTIFY_PLACEHOLDER),
        }
    }
}

/// The SECCOMP_RET_TRACE data that stands for SECCOMP_RET_USER_NOTIF in seccompiler's output.
pub(crate) const NOTIFY_PLACEHOLDER: u32 = 0xffff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// (arg & mask) == value
    MaskedEq {
        mask: u64,
    },
}

/// A condition on one argument; all conditions of a rule must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cond {
    pub index: u8,
    pub op: Op,
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub name: String,
    pub action: Action,
    pub conds: Vec<Cond>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    pub default: Action,
    /// Sorted, without duplicates.
    pub arches: Vec<Arch>,
    pub flags: libc::c_ulong,
    /// Flags for the notifying filter only (it is the one with a listener).
    pub listener_flags: libc::c_ulong,
    pub rules: Vec<Rule>,
}

/// Not in every libc release yet (Linux 5.19).
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;

impl Profile {
    pub(crate) fn from_oci(p: &LinuxSeccomp) -> Result<Profile, Error> {
        let default = Action::from_oci(p.default_action(), p.default_errno_ret(), "defaultAction")?;
        // The runtime's init reports the listener with write(2) once the filter is in: a
        // notifying default or write could never reach the agent (runc refuses both too).
        if default == Action::Notify {
            return Err(Error::Invalid(
                "SCMP_ACT_NOTIFY cannot be used as default action".into(),
            ));
        }
        // The host's own ABI is always filtered, as libseccomp's filters (runc's, crun's)
        // always hold the native architecture. Architectures of other machines (a profile
        // written for x86 and arm hosts alike) are accepted and left out: the kernel never
        // reports them here, so their rules could never match.
        let mut arches = vec![Arch::X86_64];
        for a in p.architectures().iter().flatten() {
            match a {
                OciArch::ScmpArchNative | OciArch::ScmpArchX86_64 => {}
                OciArch::ScmpArchX86 => arches.push(Arch::X86),
                OciArch::ScmpArchX32 => arches.push(Arch::X32),
                other => {
                    tracing::debug!(arch = %other, "seccomp: architecture of another machine left out")
                }
            }
        }
        arches.sort();
        arches.dedup();
        let mut flags = 0;
        let mut listener_flags = 0;
        for f in p.flags().iter().flatten() {
            flags |= match f {
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
                LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                    libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
                }
                // only valid with a listener: given to the notifying filter alone
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                    listener_flags |= SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
                    0
                }
            };
        }
        let mut rules = Vec::new();
        for (i, s) in p.syscalls().iter().flatten().enumerate() {
            let what = format!("syscalls[{i}] ({})", s.names().join(","));
            let action = Action::from_oci(s.action(), s.errno_ret(), &what)?;
            if action == Action::Notify && s.names().iter().any(|n| n == "write") {
                return Err(Error::Invalid(format!(
                    "{what}: SCMP_ACT_NOTIFY cannot be used for the write syscall"
                )));
            }
            let mut conds = Vec::new();
            let mut satisfiable = true;
            for a in s.args().iter().flatten() {
                let index = u8::try_from(a.index())
                    .ok()
                    .filter(|i| *i <= 5)
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "{what}: argument index {} is out of range (0-5)",
                            a.index()
                        ))
                    })?;
                let (op, value) = match a.op() {
                    LinuxSeccompOperator::ScmpCmpNe => (Op::Ne, a.value()),
                    LinuxSeccompOperator::ScmpCmpLt => (Op::Lt, a.value()),
                    LinuxSeccompOperator::ScmpCmpLe => (Op::Le, a.value()),
                    LinuxSeccompOperator::ScmpCmpEq => (Op::Eq, a.value()),
                    LinuxSeccompOperator::ScmpCmpGe => (Op::Ge, a.value()),
                    LinuxSeccompOperator::ScmpCmpGt => (Op::Gt, a.value()),
                    LinuxSeccompOperator::ScmpCmpMaskedEq => {
                        let mask = a.value();
                        let want = a.value_two().unwrap_or(0);
                        // bits outside the mask can never be equal: the rule never matches
                        if want & !mask != 0 {
                            satisfiable = false;
                        }
                        (Op::MaskedEq { mask }, want)
                    }
                };
                conds.push(Cond { index, op, value });
            }
            // A rule whose action is the default changes nothing (runc skips it too).
            if !satisfiable || action == default {
                continue;
            }
            // Several conditions on the same argument are ORed, one rule each, as runc does
            // (libseccomp cannot AND them); otherwise the conditions of an entry are ANDed.
            let same_argument_twice = conds
                .iter()
                .enumerate()
                .any(|(i, c)| conds[..i].iter().any(|d| d.index == c.index));
            let alternatives: Vec<Vec<Cond>> = if same_argument_twice {
                conds.iter().map(|c| vec![*c]).collect()
            } else {
                vec![conds]
            };
            for name in s.names() {
                for conds in &alternatives {
                    rules.push(Rule {
                        name: name.clone(),
                        action,
                        conds: conds.clone(),
                    });
                }
            }
        }
        let notifies = rules.iter().any(|r| r.action == Action::Notify);
        if notifies
            && p.listener_path()
                .as_ref()
                .is_none_or(|l| l.as_os_str().is_empty())
        {
            return Err(Error::Invalid(
                "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath: the socket of the seccomp \
                 agent that answers the notified calls"
                    .into(),
            ));
        }
        Ok(Profile {
            default,
            arches,
            flags,
            listener_flags: if notifies { listener_flags } else { 0 },
            rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<Profile, Error> {
        Profile::from_oci(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn actions_and_defaults() {
        let p = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                { "names": ["read", "write"], "action": "SCMP_ACT_ALLOW" },
                { "names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 },
                { "names": ["rmdir"], "action": "SCMP_ACT_ERRNO" },
                { "names": ["kill"], "action": "SCMP_ACT_KILL" }
            ]
        }))
        .unwrap();
        assert_eq!(p.default, Action::Errno(1));
        assert_eq!(p.arches, vec![Arch::X86_64]);
        let names: Vec<(&str, Action)> = p
            .rules
            .iter()
            .map(|r| (r.name.as_str(), r.action))
            .collect();
        assert_eq!(
            names,
            vec![
                ("read", Action::Allow),
                ("write", Action::Allow),
                ("mkdir", Action::Errno(38)),
                ("kill", Action::KillThread),
            ],
            "rmdir's rule equals the default and is dropped"
        );
    }

    #[test]
    fn refusals() {
        let base = |extra: serde_json::Value| {
            let mut v = serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW" });
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            parse(v)
        };
        let notify = base(serde_json::json!({
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }]
        }));
        assert!(matches!(notify, Err(Error::Invalid(m)) if m.contains("listenerPath")));
        let empty_path = base(serde_json::json!({ "listenerPath": "",
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }]
        }));
        assert!(matches!(empty_path, Err(Error::Invalid(m)) if m.contains("listenerPath")));
        let write = base(serde_json::json!({ "listenerPath": "/run/agent.sock",
            "syscalls": [{ "names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY" }]
        }));
        assert!(matches!(write, Err(Error::Invalid(m))
            if m.contains("SCMP_ACT_NOTIFY cannot be used for the write syscall")));
        let default = parse(serde_json::json!({ "defaultAction": "SCMP_ACT_NOTIFY",
            "listenerPath": "/run/agent.sock" }));
        assert!(matches!(default, Err(Error::Invalid(m))
            if m.contains("SCMP_ACT_NOTIFY cannot be used as default action")));
        let arg = base(serde_json::json!({
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                           "args": [{ "index": 6, "value": 0, "op": "SCMP_CMP_EQ" }] }]
        }));
        assert!(matches!(arg, Err(Error::Invalid(m)) if m.contains("index 6")));
        let errno = base(serde_json::json!({
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000 }]
        }));
        assert!(matches!(errno, Err(Error::Invalid(_))));
    }

    #[test]
    fn notify_rules_with_a_listener() {
        let p = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "listenerMetadata": "bar",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{ "names": ["mkdir", "read"], "action": "SCMP_ACT_NOTIFY" }]
        }))
        .unwrap();
        assert_eq!(p.rules.len(), 2);
        assert!(p.rules.iter().all(|r| r.action == Action::Notify));
        assert_eq!(p.flags, libc::SECCOMP_FILTER_FLAG_LOG);
        assert_eq!(p.listener_flags, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
        // a listener without notifying rules is no error and makes no listener (as runc)
        let idle = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
        }))
        .unwrap();
        assert_eq!((idle.flags, idle.listener_flags), (0, 0));
    }

    #[test]
    fn masked_eq_with_bits_outside_the_mask_never_matches() {
        let p = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                { "names": ["clone"], "action": "SCMP_ACT_ERRNO",
                  "args": [{ "index": 0, "value": 255, "valueTwo": 256, "op": "SCMP_CMP_MASKED_EQ" }] },
                { "names": ["clone"], "action": "SCMP_ACT_ERRNO",
                  "args": [{ "index": 0, "value": 255, "valueTwo": 17, "op": "SCMP_CMP_MASKED_EQ" }] }
            ]
        }))
        .unwrap();
        assert_eq!(p.rules.len(), 1);
        assert_eq!(p.rules[0].conds[0].op, Op::MaskedEq { mask: 255 });
        assert_eq!(p.rules[0].conds[0].value, 17);
    }

    #[test]
    fn conditions_on_the_same_argument_are_ored() {
        let p = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [
                { "index": 0, "value": 16, "op": "SCMP_CMP_EQ" },
                { "index": 0, "value": 17, "op": "SCMP_CMP_EQ" }
            ] }]
        }))
        .unwrap();
        assert_eq!(p.rules.len(), 2);
        assert_eq!(p.rules[0].conds.len(), 1);
        assert_eq!(p.rules[1].conds[0].value, 17);
    }

    #[test]
    fn arches_and_flags() {
        let p = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_LOG",
            "architectures": ["SCMP_ARCH_X32", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_NATIVE"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
        }))
        .unwrap();
        assert_eq!(p.arches, vec![Arch::X86_64, Arch::X32, Arch::X86]);
        assert_eq!(
            p.flags,
            libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
        );
        assert_eq!(p.default, Action::Log);
    }

    #[test]
    fn native_always_and_foreign_arches_left_out() {
        let p = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X86"]
        }))
        .unwrap();
        assert_eq!(p.arches, vec![Arch::X86_64, Arch::X86]);
        let arm_only = parse(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390X"]
        }))
        .unwrap();
        assert_eq!(arm_only.arches, vec![Arch::X86_64]);
    }
}
