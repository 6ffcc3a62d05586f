//! cpu (and cpuacct on v1): shares/weight, CFS quota and period, burst, idle, realtime
//! budget; usage and throttling stats.

use oci_spec::runtime::LinuxCpu;

use super::At;
use crate::error::{FResult, Fault};
use crate::fsio;
use crate::stats::Cpu;

/// True when the block asks for a cpu-controller setting (cpus/mems belong to cpuset).
pub(crate) fn wanted(c: &LinuxCpu) -> bool {
    c.shares().is_some_and(|v| v != 0)
        || c.quota().is_some_and(|v| v != 0)
        || c.period().is_some_and(|v| v != 0)
        || c.burst().is_some()
        || c.idle().is_some()
        || c.realtime_runtime().is_some_and(|v| v != 0)
        || c.realtime_period().is_some_and(|v| v != 0)
}

/// cgroup v1 shares (2..262144, default 1024) to v2 weight (1..10000, default 100).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

pub(crate) fn apply(at: At, c: &LinuxCpu) -> FResult<()> {
    match at {
        At::V1(dir) => apply_v1(dir, c),
        At::V2(dir) => apply_v2(dir, c),
    }
}

fn apply_v1(dir: &std::path::Path, c: &LinuxCpu) -> FResult<()> {
    if let Some(shares) = c.shares().filter(|v| *v != 0) {
        fsio::write(dir, "cpu.shares", &shares.to_string())?;
        let got = fsio::read_u64(dir, "cpu.shares")?;
        if got != shares {
            return Err(Fault::invalid(format!(
                "cpu shares {shares} out of range: the kernel set {got} (range 2-262144)"
            )));
        }
    }
    let quota = c.quota().filter(|v| *v != 0);
    let period = c.period().filter(|v| *v != 0);
    if let Some(p) = period {
        // A shorter period can make the current quota invalid: then set the quota first.
        match fsio::write(dir, "cpu.cfs_period_us", &p.to_string()) {
            Err(f) if f.errno() == Some(libc::EINVAL) && quota.is_some() => {
                fsio::write(dir, "cpu.cfs_quota_us", &quota.unwrap_or(-1).to_string())?;
                fsio::write(dir, "cpu.cfs_period_us", &p.to_string())?;
            }
            r => r?,
        }
    }
    if let Some(q) = quota {
        fsio::write(dir, "cpu.cfs_quota_us", &q.max(-1).to_string())?;
    }
    if let Some(b) = c.burst() {
        fsio::write(dir, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        fsio::write(dir, "cpu.idle", &i.to_string())?;
    }
    // The realtime period must be set before the runtime it bounds.
    if let Some(p) = c.realtime_period().filter(|v| *v != 0) {
        fsio::write(dir, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|v| *v != 0) {
        fsio::write(dir, "cpu.rt_runtime_us", &r.to_string())?;
    }
    Ok(())
}

fn apply_v2(dir: &std::path::Path, c: &LinuxCpu) -> FResult<()> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Fault::invalid(
            "realtime CPU budgets (realtimeRuntime, realtimePeriod) are not available on \
             cgroup v2: remove them from linux.resources.cpu",
        ));
    }
    if let Some(shares) = c.shares().filter(|v| *v != 0) {
        fsio::write(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
    }
    let quota = c.quota().filter(|v| *v != 0);
    let period = c.period().filter(|v| *v != 0);
    if quota.is_some() || period.is_some() {
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".to_string(),
            // keep the current quota when only the period changes
            None => fsio::read(dir, "cpu.max")?
                .split_whitespace()
                .next()
                .unwrap_or("max")
                .to_string(),
        };
        let value = match period {
            Some(p) => format!("{q} {p}"),
            None => q,
        };
        fsio::write(dir, "cpu.max", &value)?;
    }
    if let Some(b) = c.burst() {
        fsio::write(dir, "cpu.max.burst", &b.to_string())?;
    }
    if let Some(i) = c.idle() {
        fsio::write(dir, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

/// v1: usage from cpuacct (`acct`), throttling from cpu (`cpu`). v2: both from cpu.stat.
pub(crate) fn stats(cpu: Option<At>, acct: Option<At>, out: &mut Cpu) -> FResult<()> {
    if let Some(At::V1(dir)) = acct {
        let u = &mut out.usage;
        u.total = fsio::read_u64(dir, "cpuacct.usage")?;
        u.percpu = read_list(dir, "cpuacct.usage_percpu")?;
        u.percpu_kernel = read_list(dir, "cpuacct.usage_percpu_sys").unwrap_or_default();
        u.percpu_user = read_list(dir, "cpuacct.usage_percpu_user").unwrap_or_default();
        match (
            fsio::read_u64_opt(dir, "cpuacct.usage_sys")?,
            fsio::read_u64_opt(dir, "cpuacct.usage_user")?,
        ) {
            (Some(sys), Some(user)) => {
                u.kernel = sys;
                u.user = user;
            }
            _ => {
                // cpuacct.stat counts USER_HZ ticks
                let text = fsio::read(dir, "cpuacct.stat")?;
                let ns = |k: &str| {
                    fsio::parse_keyed(&text)
                        .into_iter()
                        .find(|(key, _)| *key == k)
                        .map_or(0, |(_, v)| v * (1_000_000_000 / ticks_per_second()))
                };
                u.kernel = ns("system");
                u.user = ns("user");
            }
        }
    }
    match cpu {
        Some(At::V1(dir)) => {
            let text = fsio::read(dir, "cpu.stat")?;
            for (k, v) in fsio::parse_keyed(&text) {
                match k {
                    "nr_periods" => out.throttling.periods = v,
                    "nr_throttled" => out.throttling.throttled_periods = v,
                    "throttled_time" => out.throttling.throttled_time = v,
                    _ => {}
                }
            }
        }
        Some(At::V2(dir)) => {
            let text = fsio::read(dir, "cpu.stat")?;
            for (k, v) in fsio::parse_keyed(&text) {
                match k {
                    "usage_usec" => out.usage.total = v * 1000,
                    "user_usec" => out.usage.user = v * 1000,
                    "system_usec" => out.usage.kernel = v * 1000,
                    "nr_periods" => out.throttling.periods = v,
                    "nr_throttled" => out.throttling.throttled_periods = v,
                    "throttled_usec" => out.throttling.throttled_time = v * 1000,
                    _ => {}
                }
            }
        }
        None => {}
    }
    Ok(())
}

fn read_list(dir: &std::path::Path, file: &str) -> FResult<Vec<u64>> {
    Ok(fsio::read(dir, file)?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect())
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxCpuBuilder;

    #[test]
    fn weight_conversion() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn v2_cpu_max() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cpu.max"), "max 100000").unwrap();
        std::fs::write(d.path().join("cpu.weight"), "100").unwrap();
        let c = LinuxCpuBuilder::default()
            .quota(50_000)
            .period(100_000u64)
            .shares(512u64)
            .build()
            .unwrap();
        apply(At::V2(d.path()), &c).unwrap();
        let read = |f: &str| std::fs::read_to_string(d.path().join(f)).unwrap();
        assert_eq!(read("cpu.max"), "50000 100000");
        assert_eq!(read("cpu.weight"), "20");
        // period alone keeps the quota
        let p = LinuxCpuBuilder::default()
            .period(200_000u64)
            .build()
            .unwrap();
        apply(At::V2(d.path()), &p).unwrap();
        assert_eq!(read("cpu.max"), "50000 200000");
        let rt = LinuxCpuBuilder::default()
            .realtime_runtime(1000)
            .build()
            .unwrap();
        assert!(apply(At::V2(d.path()), &rt).is_err());
    }
}
