//! The container process's identity and limits, applied in the order the kernel needs:
//! rlimits and OOM score while still privileged, then (keeping capabilities across the
//! uid change) the bounding set, groups, gid, uid, the effective/permitted/inheritable
//! sets in one capset, and the ambient set. Also what the process's user changes about
//! it: `HOME` from the container's passwd, and stdio owned by that user.

use crate::error::{bail, Context, Result};
use crate::sys::{CapSets, Prctl, SchedAttr, Sys};
use oci_spec::runtime::{Capabilities, Capability, PosixRlimitType, Process};
use std::str::FromStr;

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// The process's environment, with `HOME` from the container's /etc/passwd entry of its
/// uid when it has none (read in the container's root, before the user switch).
pub fn environment(sys: &dyn Sys, p: &Process) -> Vec<String> {
    crate::passwd::with_home(
        p.env().as_deref().unwrap_or(&[]),
        || sys.read_file(std::path::Path::new("/etc/passwd")).ok(),
        p.user().uid(),
    )
}

pub fn set_rlimits(sys: &dyn Sys, p: &Process) -> Result<()> {
    for r in p.rlimits().as_deref().unwrap_or(&[]) {
        if let Err(e) = sys.setrlimit(rlimit_resource(r.typ()), r.soft(), r.hard()) {
            bail!(
                "rlimit {:?} (soft {}, hard {}): {e}",
                r.typ(),
                r.soft(),
                r.hard()
            );
        }
    }
    Ok(())
}

pub fn set_oom_score_adj(sys: &dyn Sys, p: &Process) -> Result<()> {
    if let Some(adj) = p.oom_score_adj() {
        sys.write_file(
            std::path::Path::new("/proc/self/oom_score_adj"),
            adj.to_string().as_bytes(),
        )
        .with_ctx(|| format!("oomScoreAdj {adj} (lowering it needs CAP_SYS_RESOURCE)"))?;
    }
    Ok(())
}

pub fn set_io_priority(sys: &dyn Sys, p: &Process) -> Result<()> {
    if let Some(io) = p.io_priority() {
        let class = match io.class() {
            oci_spec::runtime::IOPriorityClass::IoprioClassRt => 1,
            oci_spec::runtime::IOPriorityClass::IoprioClassBe => 2,
            oci_spec::runtime::IOPriorityClass::IoprioClassIdle => 3,
        };
        let prio = io.priority();
        if !(0..=7).contains(&prio) {
            bail!("ioPriority.priority {prio} must be 0..7");
        }
        // IOPRIO_WHO_PROCESS = 1, value = class << 13 | priority.
        sys.ioprio_set((class << 13) | prio).ctx("ioPriority")?;
    }
    Ok(())
}

/// `process.scheduler` with sched_setattr(2); inherited by the program across execve.
pub fn set_scheduler(sys: &dyn Sys, p: &Process) -> Result<()> {
    use oci_spec::runtime::{LinuxSchedulerFlag as F, LinuxSchedulerPolicy as P};
    let Some(s) = p.scheduler() else {
        return Ok(());
    };
    let policy = match s.policy() {
        P::SchedOther => 0,
        P::SchedFifo => 1,
        P::SchedRr => 2,
        P::SchedBatch => 3,
        P::SchedIso => bail!("process.scheduler: SCHED_ISO does not exist in Linux"),
        P::SchedIdle => 5,
        P::SchedDeadline => 6,
    };
    let flags = s.flags().iter().flatten().fold(0u64, |f, x| {
        f | match x {
            F::SchedResetOnFork => 0x01,
            F::SchedFlagReclaim => 0x02,
            F::SchedFlagDLOverrun => 0x04,
            F::SchedFlagKeepPolicy => 0x08,
            F::SchedFlagKeepParams => 0x10,
            F::SchedFlagUtilClampMin => 0x20,
            F::SchedFlagUtilClampMax => 0x40,
        }
    });
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    };
    if let Err(e) = sys.sched_setattr(&attr) {
        bail!("process.scheduler {:?}: {e}", s.policy());
    }
    Ok(())
}

pub fn set_no_new_privileges(sys: &dyn Sys, p: &Process) -> Result<()> {
    if p.no_new_privileges().unwrap_or(false) {
        sys.prctl(Prctl::NoNewPrivs).ctx("noNewPrivileges")?;
    }
    Ok(())
}

/// The highest capability this kernel knows.
pub fn last_cap(sys: &dyn Sys) -> u32 {
    sys.read_file(std::path::Path::new("/proc/sys/kernel/cap_last_cap"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

fn cap_index(c: &Capability) -> Option<u32> {
    let name = serde_json::to_value(c).ok()?;
    caps::Capability::from_str(name.as_str()?)
        .ok()
        .map(|c| c.index() as u32)
}

fn mask(set: &Option<Capabilities>, last: u32) -> u64 {
    set.iter()
        .flatten()
        .filter_map(cap_index)
        .filter(|i| *i <= last)
        .fold(0u64, |m, i| m | (1u64 << i))
}

fn setgroups_allowed(sys: &dyn Sys) -> bool {
    sys.read_file(std::path::Path::new("/proc/self/setgroups"))
        .map_or(true, |s| s.trim() != "deny")
}

/// Switches to the process's user and capability sets: bounding set, groups, gid, uid (with
/// the permitted set kept across the uid change), then effective/permitted/inheritable in
/// one capset and the ambient set. Ambient capabilities the kernel refuses are left out, as
/// runc leaves them.
pub fn switch_user(sys: &dyn Sys, p: &Process) -> Result<()> {
    let c = p.capabilities().clone().unwrap_or_default();
    let last = last_cap(sys);
    let (bounding, sets, ambient) = if p.capabilities().is_some() {
        (
            mask(c.bounding(), last),
            CapSets {
                effective: mask(c.effective(), last),
                permitted: mask(c.permitted(), last),
                inheritable: mask(c.inheritable(), last),
            },
            mask(c.ambient(), last),
        )
    } else {
        (0, CapSets::default(), 0)
    };
    sys.prctl(Prctl::KeepCaps(true))
        .ctx("keeping capabilities")?;
    for i in 0..=last {
        if bounding & (1 << i) == 0 && sys.capbset_read(i) {
            sys.prctl(Prctl::CapBsetDrop(i))
                .with_ctx(|| format!("dropping capability {i} from the bounding set"))?;
        }
    }
    let u = p.user();
    if setgroups_allowed(sys) {
        let gids: Vec<libc::gid_t> = u.additional_gids().clone().unwrap_or_default();
        sys.setgroups(&gids)
            .with_ctx(|| format!("setgroups {gids:?}"))?;
    } else if u.additional_gids().as_ref().is_some_and(|g| !g.is_empty()) {
        bail!("additionalGids cannot be set: setgroups is denied in this user namespace");
    }
    if let Err(e) = sys.setresgid(u.gid()) {
        bail!("setgid {}: {e} (is the gid mapped?)", u.gid());
    }
    if let Err(e) = sys.setresuid(u.uid()) {
        bail!("setuid {}: {e} (is the uid mapped?)", u.uid());
    }
    sys.capset(sets)
        .ctx("setting capabilities (effective must be within permitted)")?;
    let _ = sys.prctl(Prctl::AmbientClearAll);
    for i in 0..=last {
        if ambient & (1 << i) != 0 {
            // Raising needs the capability in permitted and inheritable; runc ignores refusals.
            let _ = sys.prctl(Prctl::AmbientRaise(i));
        }
    }
    let _ = sys.prctl(Prctl::KeepCaps(false));
    Ok(())
}

/// Applies the AppArmor profile / SELinux label where the host has them (the runtime
/// warned before creating the container when it does not).
pub fn apply_lsm_labels(sys: &dyn Sys, p: &Process) -> Result<()> {
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        if apparmor_enabled() {
            let attr = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
                "/proc/self/attr/apparmor/exec"
            } else {
                "/proc/self/attr/exec"
            };
            sys.write_file(attr.as_ref(), format!("exec {profile}").as_bytes())
                .with_ctx(|| format!("apparmor profile {profile}"))?;
        }
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        if selinux_enabled() {
            sys.write_file("/proc/self/attr/exec".as_ref(), label.as_bytes())
                .with_ctx(|| format!("selinux label {label}"))?;
        }
    }
    Ok(())
}

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// Warnings (from the runtime, before anything starts) for labels the host cannot apply.
pub fn lsm_warnings(p: &Process) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        if !apparmor_enabled() {
            w.push(format!(
                "apparmor profile {profile:?} ignored: AppArmor is not enabled on this host"
            ));
        }
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        if !selinux_enabled() {
            w.push(format!(
                "selinux label {label:?} ignored: SELinux is not enabled on this host"
            ));
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_masks() {
        let set: Capabilities = [
            Capability::Chown,
            Capability::Kill,
            Capability::NetBindService,
        ]
        .into_iter()
        .collect();
        let m = mask(&Some(set), 40);
        assert_eq!(m, (1 << 0) | (1 << 5) | (1 << 10));
        assert_eq!(mask(&None, 40), 0);
    }

    use crate::sys::fake::{Call, Fake};
    use crate::testing::spec;
    use serde_json::json;

    fn process(p: serde_json::Value) -> Process {
        spec(json!({ "process": p })).process().clone().unwrap()
    }

    /// A fake kernel with 41 capabilities (0..=40) whose bounding set holds them all.
    fn fake() -> Fake {
        let mut f = Fake::new();
        f.files
            .insert("/proc/sys/kernel/cap_last_cap".into(), "40\n".into());
        f
    }

    fn bit(caps: &[u32]) -> u64 {
        caps.iter().fold(0, |m, c| m | 1 << c)
    }

    #[test]
    fn user_switch_order_groups_gid_uid_then_capabilities() {
        let f = fake();
        let p = process(json!({
            "user": {"uid": 1000, "gid": 100, "additionalGids": [10, 20]},
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "inheritable": ["CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_NET_BIND_SERVICE"]
            }
        }));
        switch_user(&f, &p).unwrap();
        let mut want = vec![Call::Prctl(Prctl::KeepCaps(true))];
        for i in 0..=40 {
            if ![0, 5, 10].contains(&i) {
                want.push(Call::Prctl(Prctl::CapBsetDrop(i)));
            }
        }
        want.extend([
            Call::Setgroups(vec![10, 20]),
            Call::Setresgid(100),
            Call::Setresuid(1000),
            Call::Capset(CapSets {
                effective: bit(&[5]),
                permitted: bit(&[5, 10]),
                inheritable: bit(&[10]),
            }),
            Call::Prctl(Prctl::AmbientClearAll),
            Call::Prctl(Prctl::AmbientRaise(10)),
            Call::Prctl(Prctl::KeepCaps(false)),
        ]);
        assert_eq!(f.calls(), want);
    }

    #[test]
    fn only_capabilities_still_in_the_bounding_set_are_dropped() {
        let mut f = fake();
        f.bset_lacks = (2..=40).collect();
        switch_user(&f, &process(json!({}))).unwrap();
        let drops: Vec<_> = f
            .calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Prctl(Prctl::CapBsetDrop(_))))
            .collect();
        assert_eq!(
            drops,
            [
                Call::Prctl(Prctl::CapBsetDrop(0)),
                Call::Prctl(Prctl::CapBsetDrop(1))
            ]
        );
    }

    #[test]
    fn no_capabilities_means_every_set_empty() {
        let f = fake();
        switch_user(&f, &process(json!({"user": {"uid": 0, "gid": 0}}))).unwrap();
        let calls = f.calls();
        assert!(calls.contains(&Call::Capset(CapSets::default())));
        assert!(calls.contains(&Call::Prctl(Prctl::CapBsetDrop(40))));
        assert!(!calls
            .iter()
            .any(|c| matches!(c, Call::Prctl(Prctl::AmbientRaise(_)))));
        // no additionalGids: the supplementary groups are cleared
        assert!(calls.contains(&Call::Setgroups(vec![])));
    }

    #[test]
    fn capabilities_this_kernel_lacks_are_left_out() {
        let mut f = fake();
        f.files
            .insert("/proc/sys/kernel/cap_last_cap".into(), "37".into());
        let all = json!([
            "CAP_CHOWN",
            "CAP_PERFMON",
            "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE"
        ]);
        let p =
            process(json!({"capabilities": {"bounding": all, "permitted": all, "effective": all}}));
        switch_user(&f, &p).unwrap();
        let calls = f.calls();
        assert!(calls.contains(&Call::Capset(CapSets {
            effective: 1,
            permitted: 1,
            inheritable: 0
        })));
        // 1..=37 dropped, nothing above the kernel's last capability touched
        assert!(calls.contains(&Call::Prctl(Prctl::CapBsetDrop(37))));
        assert!(!calls.contains(&Call::Prctl(Prctl::CapBsetDrop(38))));
    }

    #[test]
    fn setgroups_denied_skips_it_or_refuses_additional_gids() {
        let mut f = fake();
        f.files
            .insert("/proc/self/setgroups".into(), "deny\n".into());
        switch_user(&f, &process(json!({"user": {"uid": 1, "gid": 1}}))).unwrap();
        assert!(!f.calls().iter().any(|c| matches!(c, Call::Setgroups(_))));
        let mut f = fake();
        f.files
            .insert("/proc/self/setgroups".into(), "deny\n".into());
        let p = process(json!({"user": {"uid": 1, "gid": 1, "additionalGids": [5]}}));
        let e = switch_user(&f, &p).unwrap_err();
        assert_eq!(
            e.0,
            "additionalGids cannot be set: setgroups is denied in this user namespace"
        );
        assert!(!f.calls().iter().any(|c| matches!(c, Call::Setresuid(_))));
    }

    #[test]
    fn an_unmapped_uid_or_gid_is_a_clear_error_and_nothing_after_runs() {
        let f = fake();
        f.fail(libc::EINVAL, |c| matches!(c, Call::Setresuid(_)));
        let e = switch_user(&f, &process(json!({"user": {"uid": 1000, "gid": 0}}))).unwrap_err();
        assert_eq!(
            e.0,
            "setuid 1000: Invalid argument (os error 22) (is the uid mapped?)"
        );
        assert!(!f.calls().iter().any(|c| matches!(c, Call::Capset(_))));
        let f = fake();
        f.fail(libc::EINVAL, |c| matches!(c, Call::Setresgid(_)));
        let e = switch_user(&f, &process(json!({"user": {"uid": 0, "gid": 7}}))).unwrap_err();
        assert_eq!(
            e.0,
            "setgid 7: Invalid argument (os error 22) (is the gid mapped?)"
        );
    }

    #[test]
    fn failures_of_bounding_drop_setgroups_and_capset_name_the_step() {
        for (fail, msg) in [
            (
                Call::Prctl(Prctl::CapBsetDrop(3)),
                "dropping capability 3 from the bounding set: Operation not permitted (os error 1)",
            ),
            (
                Call::Setgroups(vec![]),
                "setgroups []: Operation not permitted (os error 1)",
            ),
            (
                Call::Capset(CapSets::default()),
                "setting capabilities (effective must be within permitted): Operation not permitted (os error 1)",
            ),
        ] {
            let f = fake();
            f.fail(libc::EPERM, move |c| c == &fail);
            let e = switch_user(&f, &process(json!({}))).unwrap_err();
            assert_eq!(e.0, msg);
        }
    }

    #[test]
    fn refused_ambient_capabilities_are_ignored_as_runc_does() {
        let f = fake();
        f.fail(libc::EPERM, |c| {
            matches!(c, Call::Prctl(Prctl::AmbientRaise(_)))
        });
        let p = process(json!({"capabilities": {"ambient": ["CAP_KILL"]}}));
        switch_user(&f, &p).unwrap();
        assert_eq!(f.calls().last(), Some(&Call::Prctl(Prctl::KeepCaps(false))));
    }

    #[test]
    fn no_new_privileges_is_one_prctl_only_when_asked() {
        let f = Fake::new();
        set_no_new_privileges(&f, &process(json!({"noNewPrivileges": false}))).unwrap();
        set_no_new_privileges(&f, &process(json!({}))).unwrap();
        assert!(f.calls().is_empty());
        set_no_new_privileges(&f, &process(json!({"noNewPrivileges": true}))).unwrap();
        assert_eq!(f.calls(), [Call::Prctl(Prctl::NoNewPrivs)]);
        let f = Fake::new();
        f.fail(libc::EINVAL, |_| true);
        let e = set_no_new_privileges(&f, &process(json!({"noNewPrivileges": true}))).unwrap_err();
        assert_eq!(e.0, "noNewPrivileges: Invalid argument (os error 22)");
    }

    #[test]
    fn rlimits_in_listed_order_and_a_refusal_names_the_limit() {
        let f = Fake::new();
        let p = process(json!({"rlimits": [
            {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
        ]}));
        set_rlimits(&f, &p).unwrap();
        assert_eq!(
            f.calls(),
            [
                Call::Setrlimit(libc::RLIMIT_NOFILE, 1024, 4096),
                Call::Setrlimit(libc::RLIMIT_CORE, 0, 0)
            ]
        );
        let f = Fake::new();
        f.fail(libc::EPERM, |_| true);
        let e = set_rlimits(&f, &p).unwrap_err();
        assert_eq!(
            e.0,
            "rlimit RlimitNofile (soft 1024, hard 4096): Operation not permitted (os error 1)"
        );
    }

    #[test]
    fn oom_score_adj_is_written_to_proc() {
        let f = Fake::new();
        set_oom_score_adj(&f, &process(json!({"oomScoreAdj": -500}))).unwrap();
        assert_eq!(
            f.calls(),
            [Call::WriteFile(
                "/proc/self/oom_score_adj".into(),
                "-500".into()
            )]
        );
        f.fail(libc::EACCES, |_| true);
        let e = set_oom_score_adj(&f, &process(json!({"oomScoreAdj": -999}))).unwrap_err();
        assert!(e
            .0
            .starts_with("oomScoreAdj -999 (lowering it needs CAP_SYS_RESOURCE): "));
    }

    #[test]
    fn io_priority_is_class_and_level_in_one_value() {
        let f = Fake::new();
        let p = process(json!({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4}}));
        set_io_priority(&f, &p).unwrap();
        assert_eq!(f.calls(), [Call::IoprioSet((2 << 13) | 4)]);
        let p = process(json!({"ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 9}}));
        let e = set_io_priority(&f, &p).unwrap_err();
        assert_eq!(e.0, "ioPriority.priority 9 must be 0..7");
    }

    #[test]
    fn scheduler_fields_become_sched_attr() {
        let f = Fake::new();
        let p = process(json!({"scheduler": {"policy": "SCHED_FIFO", "priority": 10,
                                             "flags": ["SCHED_RESET_ON_FORK"]}}));
        set_scheduler(&f, &p).unwrap();
        assert_eq!(
            f.calls(),
            [Call::SchedSetattr(SchedAttr {
                size: 48,
                policy: 1,
                flags: 1,
                priority: 10,
                ..Default::default()
            })]
        );
        let p = process(json!({"scheduler": {"policy": "SCHED_ISO"}}));
        assert_eq!(
            set_scheduler(&f, &p).unwrap_err().0,
            "process.scheduler: SCHED_ISO does not exist in Linux"
        );
    }
}
