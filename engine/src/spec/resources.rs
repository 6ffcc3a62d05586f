//! Resource limits: `HostConfig` memory, CPU, pids, cpuset and block I/O settings as OCI
//! `linux.resources`, checked the way dockerd checks them.

use berth_api::container::{HostConfig, ThrottleDevice, WeightDevice};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxMemory, LinuxPids, LinuxResources,
    LinuxThrottleDevice, LinuxThrottleDeviceBuilder, LinuxWeightDevice, LinuxWeightDeviceBuilder,
};

use super::devices;
use crate::error::{Error, Result};

/// The smallest memory limit dockerd accepts.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// Online CPUs of the host, e.g. [0, 1].
pub fn online_cpus() -> Vec<u32> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()).ok())
        .unwrap_or_else(|| (0..num_cpus() as u32).collect())
}

pub fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Parses "0-2,4" into [0, 1, 2, 4].
pub fn parse_cpu_list(s: &str) -> std::result::Result<Vec<u32>, ()> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().map_err(|_| ())?, b.parse().map_err(|_| ())?);
                if a > b {
                    return Err(());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| ())?),
        }
    }
    Ok(out)
}

/// Checks the limits; returns docker's warnings (none so far) or a 400 error.
pub fn validate(hc: &HostConfig) -> Result<()> {
    if hc.shm_size < 0 {
        return Err(Error::invalid("SHM size can not be less than 0"));
    }
    if hc.memory != 0 && hc.memory < MIN_MEMORY {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if hc.memory_swap > 0 && hc.memory > 0 && hc.memory_swap < hc.memory {
        return Err(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if hc.memory_swap > 0 && hc.memory == 0 {
        return Err(Error::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if let Some(s) = hc.memory_swappiness {
        if s != -1 && !(0..=100).contains(&s) {
            return Err(Error::invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    if hc.memory_reservation != 0 && hc.memory != 0 && hc.memory < hc.memory_reservation {
        return Err(Error::invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    let ncpu = num_cpus() as i64;
    if hc.nano_cpus != 0 {
        if hc.cpu_quota != 0 || hc.cpu_period != 0 {
            return Err(Error::invalid(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ));
        }
        if hc.nano_cpus < 0 || hc.nano_cpus > ncpu * 1_000_000_000 {
            return Err(Error::invalid(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )));
        }
    }
    if hc.cpu_period != 0 && !(1000..=1_000_000).contains(&hc.cpu_period) {
        return Err(Error::invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if hc.cpu_quota > 0 && hc.cpu_quota < 1000 {
        return Err(Error::invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if hc.cpu_shares < 0 {
        return Err(Error::invalid("invalid CPU shares: must not be negative"));
    }
    if !hc.cpuset_cpus.is_empty() {
        let want = parse_cpu_list(&hc.cpuset_cpus).map_err(|_| {
            Error::invalid(format!("Invalid value {} for cpuset cpus", hc.cpuset_cpus))
        })?;
        let online = online_cpus();
        if let Some(bad) = want.iter().find(|c| !online.contains(c)) {
            let avail =
                std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
            return Err(Error::invalid(format!(
                "Requested CPUs are not available - requested {}, available: {}",
                if want.len() == 1 {
                    bad.to_string()
                } else {
                    hc.cpuset_cpus.clone()
                },
                avail.trim()
            )));
        }
    }
    if !hc.cpuset_mems.is_empty() && parse_cpu_list(&hc.cpuset_mems).is_err() {
        return Err(Error::invalid(format!(
            "Invalid value {} for cpuset mems",
            hc.cpuset_mems
        )));
    }
    if hc.blkio_weight != 0 && !(10..=1000).contains(&hc.blkio_weight) {
        return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
    }
    if hc.oom_score_adj < -1000 || hc.oom_score_adj > 1000 {
        return Err(Error::invalid(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            hc.oom_score_adj
        )));
    }
    Ok(())
}

fn weight_devices(list: &Option<Vec<WeightDevice>>) -> Result<Vec<LinuxWeightDevice>> {
    let mut out = Vec::new();
    for d in list.iter().flatten() {
        let n = devices::node(&d.path)?;
        let w = LinuxWeightDeviceBuilder::default()
            .major(n.major)
            .minor(n.minor)
            .weight(d.weight)
            .build()
            .map_err(|e| Error::internal(format!("weight device {}: {e}", d.path)))?;
        out.push(w);
    }
    Ok(out)
}

fn throttle_devices(
    list: &Option<Vec<ThrottleDevice>>,
) -> Result<Option<Vec<LinuxThrottleDevice>>> {
    let mut out = Vec::new();
    for d in list.iter().flatten() {
        let n = devices::node(&d.path)?;
        let t = LinuxThrottleDeviceBuilder::default()
            .major(n.major)
            .minor(n.minor)
            .rate(d.rate)
            .build()
            .map_err(|e| Error::internal(format!("throttle device {}: {e}", d.path)))?;
        out.push(t);
    }
    Ok((!out.is_empty()).then_some(out))
}

/// `Some(x)` unless `x` sets nothing.
fn unless_empty<T: Default + PartialEq>(x: T) -> Option<T> {
    (x != T::default()).then_some(x)
}

fn memory(hc: &HostConfig) -> Option<LinuxMemory> {
    let mut m = LinuxMemory::default();
    if hc.memory > 0 {
        // Unset swap means as much swap as memory (docker's rule).
        let swap = match hc.memory_swap {
            0 => hc.memory * 2,
            s => s,
        };
        m.set_limit(Some(hc.memory)).set_swap(Some(swap));
    }
    if hc.memory_reservation > 0 {
        m.set_reservation(Some(hc.memory_reservation));
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s >= 0) {
        m.set_swappiness(Some(s as u64));
    }
    if let Some(true) = hc.oom_kill_disable {
        m.set_disable_oom_killer(Some(true));
    }
    unless_empty(m)
}

fn cpu(hc: &HostConfig) -> Option<LinuxCpu> {
    let mut c = LinuxCpu::default();
    if hc.cpu_shares > 0 {
        c.set_shares(Some(hc.cpu_shares as u64));
    }
    if hc.nano_cpus > 0 {
        let period: u64 = 100_000;
        c.set_period(Some(period))
            .set_quota(Some(hc.nano_cpus * period as i64 / 1_000_000_000));
    } else {
        if hc.cpu_period > 0 {
            c.set_period(Some(hc.cpu_period as u64));
        }
        if hc.cpu_quota != 0 {
            c.set_quota(Some(hc.cpu_quota));
        }
    }
    if hc.cpu_realtime_period > 0 {
        c.set_realtime_period(Some(hc.cpu_realtime_period as u64));
    }
    if hc.cpu_realtime_runtime > 0 {
        c.set_realtime_runtime(Some(hc.cpu_realtime_runtime));
    }
    if !hc.cpuset_cpus.is_empty() {
        c.set_cpus(Some(hc.cpuset_cpus.clone()));
    }
    if !hc.cpuset_mems.is_empty() {
        c.set_mems(Some(hc.cpuset_mems.clone()));
    }
    unless_empty(c)
}

fn block_io(hc: &HostConfig) -> Result<Option<LinuxBlockIo>> {
    let mut b = LinuxBlockIo::default();
    if hc.blkio_weight > 0 {
        b.set_weight(Some(hc.blkio_weight));
    }
    b.set_throttle_read_bps_device(throttle_devices(&hc.blkio_device_read_bps)?)
        .set_throttle_write_bps_device(throttle_devices(&hc.blkio_device_write_bps)?)
        .set_throttle_read_iops_device(throttle_devices(&hc.blkio_device_read_iops)?)
        .set_throttle_write_iops_device(throttle_devices(&hc.blkio_device_write_iops)?);
    let wd = weight_devices(&hc.blkio_weight_device)?;
    if !wd.is_empty() {
        b.set_weight_device(Some(wd));
    }
    Ok(unless_empty(b))
}

/// OCI `linux.resources` and `linux.devices` for `hc`, on top of the default device rules
/// in `base_rules` (see [`devices::build`]).
pub fn build(
    hc: &HostConfig,
    base_rules: Vec<LinuxDeviceCgroup>,
) -> Result<(LinuxResources, Vec<LinuxDevice>)> {
    let (nodes, rules) = devices::build(hc, base_rules)?;
    let mut r = LinuxResources::default();
    r.set_devices(Some(rules))
        .set_memory(memory(hc))
        .set_cpu(cpu(hc));
    if let Some(l) = hc.pids_limit.filter(|l| *l > 0) {
        let mut p = LinuxPids::default();
        p.set_limit(l);
        r.set_pids(Some(p));
    }
    r.set_block_io(block_io(hc)?);
    Ok((r, nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_become_oci_resources() {
        let hc = HostConfig {
            memory: 64 << 20,
            nano_cpus: 500_000_000,
            pids_limit: Some(50),
            cpu_shares: 512,
            device_cgroup_rules: Some(vec!["c 10:229 rwm".into()]),
            ..Default::default()
        };
        validate(&hc).unwrap();
        let mut deny = LinuxDeviceCgroup::default();
        deny.set_allow(false).set_access(Some("rwm".into()));
        let (r, devs) = build(&hc, vec![deny.clone()]).unwrap();
        let mem = r.memory().as_ref().unwrap();
        assert_eq!((mem.limit(), mem.swap()), (Some(64 << 20), Some(128 << 20)));
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(50_000), Some(100_000)));
        assert_eq!(cpu.shares(), Some(512));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 50);
        assert!(r.block_io().is_none());
        assert!(devs.is_empty());
        let rules = r.devices().as_ref().unwrap();
        assert_eq!(rules[0], deny);
        assert!(rules
            .iter()
            .any(|d| d.major() == Some(10) && d.minor() == Some(229)));
        // Nothing asked: no memory, cpu or pids sections at all.
        let (r, _) = build(&HostConfig::default(), Vec::new()).unwrap();
        assert!(r.memory().is_none() && r.cpu().is_none() && r.pids().is_none());
    }

    #[test]
    fn bad_limits_are_refused_with_dockers_messages() {
        let m = |hc: HostConfig| validate(&hc).unwrap_err().message;
        assert_eq!(
            m(HostConfig {
                memory: 1024,
                ..Default::default()
            }),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(
            m(HostConfig {
                shm_size: -1,
                ..Default::default()
            }),
            "SHM size can not be less than 0"
        );
        assert!(m(HostConfig {
            nano_cpus: 1_000_000_000_000,
            ..Default::default()
        })
        .starts_with("Range of CPUs"));
        assert!(m(HostConfig {
            cpuset_cpus: "999".into(),
            ..Default::default()
        })
        .starts_with("Requested CPUs are not available"));
        assert!(m(HostConfig {
            cpuset_cpus: "x".into(),
            ..Default::default()
        })
        .contains("Invalid value"));
    }
}
