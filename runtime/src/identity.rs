//! The container process's identity and limits, applied in the order the kernel needs:
//! rlimits and OOM score while still privileged, then (keeping capabilities across the
//! uid change) the bounding set, groups, gid, uid, the effective/permitted/inheritable
//! sets in one capset, and the ambient set.

use crate::error::{bail, Context, Result};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, PosixRlimitType, Process};
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

pub fn set_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().as_deref().unwrap_or(&[]) {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        if unsafe { libc::setrlimit(rlimit_resource(r.typ()), &lim) } != 0 {
            bail!(
                "rlimit {:?} (soft {}, hard {}): {}",
                r.typ(),
                r.soft(),
                r.hard(),
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

pub fn set_oom_score_adj(p: &Process) -> Result<()> {
    if let Some(adj) = p.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .with_ctx(|| format!("oomScoreAdj {adj} (lowering it needs CAP_SYS_RESOURCE)"))?;
    }
    Ok(())
}

pub fn set_io_priority(p: &Process) -> Result<()> {
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
        if unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, (class << 13) | prio) } != 0 {
            bail!("ioPriority: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// `process.scheduler` with sched_setattr(2); inherited by the program across execve.
pub fn set_scheduler(p: &Process) -> Result<()> {
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
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } != 0 {
        bail!(
            "process.scheduler {:?}: {}",
            s.policy(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

pub fn set_no_new_privileges(p: &Process) -> Result<()> {
    if p.no_new_privileges().unwrap_or(false)
        && unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0
    {
        bail!("noNewPrivileges: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// The highest capability this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
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

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn capset(effective: u64, permitted: u64, inheritable: u64) -> std::io::Result<()> {
    let mut h = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let d = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    if unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut CapHeader, d.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() != "deny")
}

/// Switches to the process's user and capability sets. Returns the ambient capabilities
/// the kernel refused (a warning, as with runc), if any.
pub fn switch_user(p: &Process) -> Result<()> {
    let empty = LinuxCapabilities::default();
    let none = Capabilities::new();
    let c = p.capabilities().as_ref().unwrap_or(&empty);
    let last = last_cap();
    let (bounding, effective, permitted, inheritable, ambient) = if p.capabilities().is_some() {
        (
            mask(c.bounding(), last),
            mask(c.effective(), last),
            mask(c.permitted(), last),
            mask(c.inheritable(), last),
            mask(c.ambient(), last),
        )
    } else {
        let _ = none;
        (0, 0, 0, 0, 0)
    };
    unsafe {
        if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            bail!("keeping capabilities: {}", std::io::Error::last_os_error());
        }
        for i in 0..=last {
            if bounding & (1 << i) == 0
                && libc::prctl(libc::PR_CAPBSET_READ, i as libc::c_ulong, 0, 0, 0) == 1
                && libc::prctl(libc::PR_CAPBSET_DROP, i as libc::c_ulong, 0, 0, 0) != 0
            {
                bail!(
                    "dropping capability {i} from the bounding set: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
    let u = p.user();
    if setgroups_allowed() {
        let gids: Vec<libc::gid_t> = u.additional_gids().clone().unwrap_or_default();
        if unsafe { libc::setgroups(gids.len(), gids.as_ptr()) } != 0 {
            bail!("setgroups {gids:?}: {}", std::io::Error::last_os_error());
        }
    } else if u.additional_gids().as_ref().is_some_and(|g| !g.is_empty()) {
        bail!("additionalGids cannot be set: setgroups is denied in this user namespace");
    }
    unsafe {
        if libc::setresgid(u.gid(), u.gid(), u.gid()) != 0 {
            bail!(
                "setgid {}: {} (is the gid mapped?)",
                u.gid(),
                std::io::Error::last_os_error()
            );
        }
        if libc::setresuid(u.uid(), u.uid(), u.uid()) != 0 {
            bail!(
                "setuid {}: {} (is the uid mapped?)",
                u.uid(),
                std::io::Error::last_os_error()
            );
        }
    }
    capset(effective, permitted, inheritable)
        .ctx("setting capabilities (effective must be within permitted)")?;
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        for i in 0..=last {
            if ambient & (1 << i) != 0 {
                // Raising needs the capability in permitted and inheritable; runc ignores refusals.
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE,
                    i as libc::c_ulong,
                    0,
                    0,
                );
            }
        }
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
    }
    Ok(())
}

/// Applies the AppArmor profile / SELinux label where the host has them (the runtime
/// warned before creating the container when it does not).
pub fn apply_lsm_labels(p: &Process) -> Result<()> {
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        if apparmor_enabled() {
            let attr = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
                "/proc/self/attr/apparmor/exec"
            } else {
                "/proc/self/attr/exec"
            };
            std::fs::write(attr, format!("exec {profile}"))
                .with_ctx(|| format!("apparmor profile {profile}"))?;
        }
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        if selinux_enabled() {
            std::fs::write("/proc/self/attr/exec", label)
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
}
