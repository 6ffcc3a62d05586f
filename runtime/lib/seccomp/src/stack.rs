//! The stack of BPF programs for a profile.
//!
//! seccompiler compiles filters with one action on match and one on mismatch, for one
//! architecture; the kernel runs every installed filter and keeps the most restrictive
//! result (KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > TRACE > LOG > ALLOW). So, for each
//! group of architectures with its own syscall numbering (x86_64 plus x32, and i386):
//!
//! - a *default* filter: a call that any rule names (with its conditions) → ALLOW, any
//!   other call → the default action (left out when the default is ALLOW);
//! - one filter per rule action: a call its rules match → that action, else ALLOW.
//!
//! ALLOW is neutral in the stack, so the result is: no rule matches → the default action;
//! rules match → the most restrictive of their actions. Each filter's architecture check is
//! rewritten to ALLOW calls of other architectures, and one small *gate* filter decides
//! those: an architecture (or the x32 ABI) the profile does not list is killed, as
//! libseccomp does.
//!
//! SCMP_ACT_NOTIFY is the exception: the kernel hands a notification to the listener of
//! the filter that returned it, and a process may hold one listener only. So the notifying
//! rules of every numbering go into one filter, the groups' programs chained (each one's
//! "other architecture" exit jumps to the next), installed last with the listener flag.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::arch::{Arch, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use crate::profile::{Action, Op, Profile, Rule, NOTIFY_PLACEHOLDER};
use crate::Error;

const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const RET_KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;

// classic BPF opcodes used by the gate
const LD_W_ABS: u16 = 0x20;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGE_K: u16 = 0x35;
const JMP_JA: u16 = 0x05;
const RET_K: u16 = 0x06;

/// Offsets in struct seccomp_data.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Syscall number → rule chain; an empty chain matches unconditionally.
type Chains = BTreeMap<i64, Vec<SeccompRule>>;

/// Adds a rule to a chain map: unconditional beats any conditional rule.
fn add(chains: &mut Chains, unconditional: &mut Vec<i64>, nr: i64, rule: Option<SeccompRule>) {
    if unconditional.contains(&nr) {
        return;
    }
    match rule {
        None => {
            unconditional.push(nr);
            chains.insert(nr, Vec::new());
        }
        Some(r) => chains.entry(nr).or_default().push(r),
    }
}

fn seccompiler_rule(rule: &Rule) -> Result<Option<SeccompRule>, Error> {
    if rule.conds.is_empty() {
        return Ok(None);
    }
    let conds = rule
        .conds
        .iter()
        .map(|c| {
            let op = match c.op {
                Op::Ne => SeccompCmpOp::Ne,
                Op::Lt => SeccompCmpOp::Lt,
                Op::Le => SeccompCmpOp::Le,
                Op::Eq => SeccompCmpOp::Eq,
                Op::Ge => SeccompCmpOp::Ge,
                Op::Gt => SeccompCmpOp::Gt,
                Op::MaskedEq { mask } => SeccompCmpOp::MaskedEq(mask),
            };
            // full 64-bit compares; 32-bit callers' arguments arrive zero-extended
            SeccompCondition::new(c.index, SeccompCmpArgLen::Qword, op, c.value)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Invalid(format!("syscall {}: {e}", rule.name)))?;
    SeccompRule::new(conds)
        .map(Some)
        .map_err(|e| Error::Invalid(format!("syscall {}: {e}", rule.name)))
}

/// Compiles one filter and retargets its architecture check: calls of `audit` are
/// filtered, calls of any other architecture pass (the gate handles them).
fn compile_filter(
    chains: Chains,
    on_mismatch: Action,
    on_match: Action,
    audit: u32,
) -> Result<BpfProgram, Error> {
    let filter = SeccompFilter::new(
        chains,
        on_mismatch.to_seccompiler(),
        on_match.to_seccompiler(),
        TargetArch::x86_64,
    )
    .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut prog: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| Error::Invalid(e.to_string()))?;
    // seccompiler starts every program with: load arch; if arch == x86_64 skip 1; kill
    let expected = [
        stmt(LD_W_ABS, DATA_ARCH),
        jump(JMP_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
    ];
    if prog.len() < 3 || prog[..3] != expected {
        return Err(Error::Invalid(
            "unexpected architecture check in the compiled filter (seccompiler changed?)".into(),
        ));
    }
    prog[1].k = audit;
    prog[2].k = RET_ALLOW;
    if on_match == Action::Notify || on_mismatch == Action::Notify {
        let placeholder = libc::SECCOMP_RET_TRACE | NOTIFY_PLACEHOLDER;
        for i in prog
            .iter_mut()
            .filter(|i| i.code == RET_K && i.k == placeholder)
        {
            i.k = libc::SECCOMP_RET_USER_NOTIF;
        }
    }
    Ok(prog)
}

/// One program out of several compiled by `compile_filter`: where a part lets a call of
/// another architecture through, it jumps to the next part instead; the last part's exit
/// stays.
fn chain(parts: Vec<BpfProgram>) -> BpfProgram {
    let count = parts.len();
    let mut out = Vec::new();
    for (i, mut part) in parts.into_iter().enumerate() {
        if i + 1 < count {
            // instruction 2 is the "other architecture: ALLOW" exit; the next part starts
            // right after this one's last instruction
            part[2] = stmt(JMP_JA, (part.len() - 3) as u32);
        }
        out.extend(part);
    }
    out
}

/// The compiled stack: programs in install order, and which one notifies (it is installed
/// with a listener).
pub(crate) struct Stack {
    pub programs: Vec<BpfProgram>,
    pub listener: Option<usize>,
}

/// The programs for `profile`, in install order.
pub(crate) fn build(profile: &Profile) -> Result<Stack, Error> {
    let mut programs = vec![gate(&profile.arches)];
    let mut notify_parts = Vec::new();
    let groups: [(u32, &[Arch]); 2] = [
        (AUDIT_ARCH_X86_64, &[Arch::X86_64, Arch::X32]),
        (AUDIT_ARCH_I386, &[Arch::X86]),
    ];
    for (audit, members) in groups {
        let arches: Vec<Arch> = members
            .iter()
            .copied()
            .filter(|a| profile.arches.contains(a))
            .collect();
        if arches.is_empty() {
            continue;
        }
        let mut any: Chains = BTreeMap::new();
        let mut any_unconditional = Vec::new();
        let mut by_action: BTreeMap<Action, (Chains, Vec<i64>)> = BTreeMap::new();
        for rule in &profile.rules {
            let numbers: Vec<u32> = arches
                .iter()
                .filter_map(|a| a.syscall(&rule.name))
                .collect();
            if numbers.is_empty() {
                continue;
            }
            let compiled = seccompiler_rule(rule)?;
            for nr in numbers {
                let nr = i64::from(nr);
                add(&mut any, &mut any_unconditional, nr, compiled.clone());
                if rule.action != Action::Allow {
                    let (chains, uncond) = by_action.entry(rule.action).or_default();
                    add(chains, uncond, nr, compiled.clone());
                }
            }
        }
        if profile.default != Action::Allow {
            programs.push(compile_filter(any, profile.default, Action::Allow, audit)?);
        }
        for (action, (chains, _)) in by_action {
            let program = compile_filter(chains, Action::Allow, action, audit)?;
            if action == Action::Notify {
                notify_parts.push(program);
            } else {
                programs.push(program);
            }
        }
    }
    let notifying = (!notify_parts.is_empty()).then(|| {
        programs.push(chain(notify_parts));
        programs.len() - 1
    });
    for p in &programs {
        if p.len() > 4096 {
            return Err(Error::Invalid(format!(
                "the profile compiles to a filter of {} instructions; the kernel allows 4096",
                p.len()
            )));
        }
    }
    install_order(programs, notifying, profile.flags)
}

/// Each program is installed with a seccomp(2) call that the programs already installed
/// judge too. A program that would refuse that call (a default action denying every call
/// no rule names, say, when no rule names `seccomp`) or hold it (a notifying one) must
/// therefore be the last one in; two of them cannot both be last, and are refused.
fn install_order(
    programs: Vec<BpfProgram>,
    notifying: Option<usize>,
    flags: libc::c_ulong,
) -> Result<Stack, Error> {
    let seccomp_nr = Arch::X86_64.syscall("seccomp").unwrap_or(317);
    let install_call = [u64::from(libc::SECCOMP_SET_MODE_FILTER), flags, 0, 0, 0, 0];
    let lets_through = |p: &BpfProgram| {
        crate::eval::run(p, AUDIT_ARCH_X86_64, seccomp_nr, install_call).is_some_and(|r| {
            matches!(
                r & libc::SECCOMP_RET_ACTION_FULL,
                libc::SECCOMP_RET_ALLOW | libc::SECCOMP_RET_LOG
            )
        })
    };
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for (i, p) in programs.into_iter().enumerate() {
        if lets_through(&p) {
            first.push((i, p));
        } else {
            last.push((i, p));
        }
    }
    if last.len() > 1 {
        return Err(Error::Invalid(
            "the profile refuses (or notifies) the seccomp system call in more than one way, \
             so its filters cannot be installed one after the other: allow `seccomp`"
                .into(),
        ));
    }
    first.extend(last);
    Ok(Stack {
        listener: first.iter().position(|(i, _)| Some(*i) == notifying),
        programs: first.into_iter().map(|(_, p)| p).collect(),
    })
}

/// Kills calls from architectures (or the x32 ABI) the profile does not list; passes the
/// rest to the other filters.
fn gate(arches: &[Arch]) -> BpfProgram {
    let verdict = |a: Arch| {
        if arches.contains(&a) {
            RET_ALLOW
        } else {
            RET_KILL_PROCESS
        }
    };
    vec![
        stmt(LD_W_ABS, DATA_ARCH),
        jump(JMP_JEQ_K, AUDIT_ARCH_I386, 0, 1),
        stmt(RET_K, verdict(Arch::X86)),
        jump(JMP_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, DATA_NR),
        jump(JMP_JGE_K, X32_SYSCALL_BIT, 1, 0),
        stmt(RET_K, verdict(Arch::X86_64)),
        stmt(RET_K, verdict(Arch::X32)),
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::eval::run as eval;

    /// What `prog` returns for a call (every instruction the compiler emits is known).
    pub(crate) fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        eval(prog, arch, nr, args).expect("an instruction the evaluator does not know")
    }

    /// The kernel's combination: the most restrictive action wins; among equal actions the
    /// most recently installed filter's data.
    pub(crate) fn run_stack(progs: &[BpfProgram], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let rank = |r: u32| -> i64 {
            match r & libc::SECCOMP_RET_ACTION_FULL {
                libc::SECCOMP_RET_KILL_PROCESS => 0,
                libc::SECCOMP_RET_KILL_THREAD => 1,
                libc::SECCOMP_RET_TRAP => 2,
                libc::SECCOMP_RET_ERRNO => 3,
                libc::SECCOMP_RET_USER_NOTIF => 4,
                libc::SECCOMP_RET_TRACE => 5,
                libc::SECCOMP_RET_LOG => 6,
                _ => 7,
            }
        };
        let mut best = RET_ALLOW;
        for p in progs.iter().rev() {
            let r = run(p, arch, nr, args);
            if rank(r) < rank(best) {
                best = r;
            }
        }
        best
    }

    #[test]
    fn chained_parts_each_judge_their_own_architecture() {
        let part = |nr: i64, audit: u32| {
            let chains: Chains = [(nr, Vec::new())].into_iter().collect();
            compile_filter(chains, Action::Allow, Action::Notify, audit).unwrap()
        };
        let one = chain(vec![part(83, AUDIT_ARCH_X86_64), part(39, AUDIT_ARCH_I386)]);
        let notif = libc::SECCOMP_RET_USER_NOTIF;
        assert_eq!(run(&one, AUDIT_ARCH_X86_64, 83, [0; 6]), notif);
        assert_eq!(run(&one, AUDIT_ARCH_X86_64, 39, [0; 6]), RET_ALLOW);
        assert_eq!(run(&one, AUDIT_ARCH_I386, 39, [0; 6]), notif);
        assert_eq!(run(&one, AUDIT_ARCH_I386, 83, [0; 6]), RET_ALLOW);
        assert_eq!(
            run(&one, 0xdead, 83, [0; 6]),
            RET_ALLOW,
            "the gate decides those"
        );
    }

    #[test]
    fn gate_verdicts() {
        let g = gate(&[Arch::X86_64]);
        assert_eq!(run(&g, AUDIT_ARCH_X86_64, 0, [0; 6]), RET_ALLOW);
        assert_eq!(
            run(&g, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1, [0; 6]),
            RET_KILL_PROCESS
        );
        assert_eq!(run(&g, AUDIT_ARCH_I386, 1, [0; 6]), RET_KILL_PROCESS);
        assert_eq!(run(&g, 0xdead, 1, [0; 6]), RET_KILL_PROCESS);
        let all = gate(&[Arch::X86_64, Arch::X32, Arch::X86]);
        assert_eq!(run(&all, AUDIT_ARCH_I386, 1, [0; 6]), RET_ALLOW);
        assert_eq!(
            run(&all, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1, [0; 6]),
            RET_ALLOW
        );
    }
}
