//! Resource limits: `HostConfig` memory, CPU, pids, cpuset and block I/O settings as OCI
//! `linux.resources`, checked the way dockerd checks them.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_api::container::HostConfig;
use serde_json::{json, Map, Value};

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

/// Major and minor numbers of a block or char device at `path`.
pub fn device_numbers(path: &str) -> Result<(char, u64, u64, u32, u32, u32)> {
    let md = std::fs::metadata(path).map_err(|e| {
        Error::invalid(format!(
            "error gathering device information while adding custom device \"{path}\": {e}"
        ))
    })?;
    let ft = md.file_type();
    let kind = if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else {
        return Err(Error::invalid(format!(
            "error gathering device information while adding custom device \"{path}\": not a device node"
        )));
    };
    let rdev = md.rdev();
    Ok((
        kind,
        libc::major(rdev) as u64,
        libc::minor(rdev) as u64,
        md.mode() & 0o7777,
        md.uid(),
        md.gid(),
    ))
}

fn weight_devices(list: &Option<Vec<berth_api::container::WeightDevice>>) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for d in list.iter().flatten() {
        let (_, major, minor, ..) = device_numbers(&d.path)?;
        out.push(json!({"major": major, "minor": minor, "weight": d.weight}));
    }
    Ok(out)
}

fn throttle_devices(
    list: &Option<Vec<berth_api::container::ThrottleDevice>>,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for d in list.iter().flatten() {
        let (_, major, minor, ..) = device_numbers(&d.path)?;
        out.push(json!({"major": major, "minor": minor, "rate": d.rate}));
    }
    Ok(out)
}

/// OCI `linux.resources` and `linux.devices` for `hc`, on top of the default device rules
/// in `base_rules`. Privileged containers may use every device; others get the defaults
/// plus `Devices` and `DeviceCgroupRules`.
pub fn build(hc: &HostConfig, base_rules: Vec<Value>) -> Result<(Value, Vec<Value>)> {
    let mut r = Map::new();
    let mut devices = Vec::new();
    let mut rules = if hc.privileged {
        vec![json!({"allow": true, "access": "rwm"})]
    } else {
        base_rules
    };
    for d in hc.devices.iter().flatten() {
        let (kind, major, minor, mode, uid, gid) = device_numbers(&d.path_on_host)?;
        let dest = if d.path_in_container.is_empty() {
            d.path_on_host.clone()
        } else {
            d.path_in_container.clone()
        };
        let perms = if d.cgroup_permissions.is_empty() {
            "rwm".to_string()
        } else {
            d.cgroup_permissions.clone()
        };
        if perms.chars().any(|c| !"rwm".contains(c)) {
            return Err(Error::invalid(format!(
                "invalid device permissions: {perms}"
            )));
        }
        devices.push(
            json!({"path": dest, "type": kind.to_string(), "major": major, "minor": minor,
            "fileMode": mode, "uid": uid, "gid": gid}),
        );
        rules.push(json!({"allow": true, "type": kind.to_string(), "major": major, "minor": minor, "access": perms}));
    }
    for rule in hc.device_cgroup_rules.iter().flatten() {
        rules.push(parse_cgroup_rule(rule)?);
    }
    r.insert("devices".into(), Value::Array(rules));

    let mut mem = Map::new();
    if hc.memory > 0 {
        mem.insert("limit".into(), json!(hc.memory));
        // Unset swap means as much swap as memory (docker's rule).
        let swap = match hc.memory_swap {
            0 => hc.memory * 2,
            s => s,
        };
        mem.insert("swap".into(), json!(swap));
    }
    if hc.memory_reservation > 0 {
        mem.insert("reservation".into(), json!(hc.memory_reservation));
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s >= 0) {
        mem.insert("swappiness".into(), json!(s));
    }
    if let Some(true) = hc.oom_kill_disable {
        mem.insert("disableOOMKiller".into(), json!(true));
    }
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }

    let mut cpu = Map::new();
    if hc.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(hc.cpu_shares));
    }
    if hc.nano_cpus > 0 {
        let period: i64 = 100_000;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(hc.nano_cpus * period / 1_000_000_000));
    } else {
        if hc.cpu_period > 0 {
            cpu.insert("period".into(), json!(hc.cpu_period));
        }
        if hc.cpu_quota != 0 {
            cpu.insert("quota".into(), json!(hc.cpu_quota));
        }
    }
    if hc.cpu_realtime_period > 0 {
        cpu.insert("realtimePeriod".into(), json!(hc.cpu_realtime_period));
    }
    if hc.cpu_realtime_runtime > 0 {
        cpu.insert("realtimeRuntime".into(), json!(hc.cpu_realtime_runtime));
    }
    if !hc.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(hc.cpuset_cpus));
    }
    if !hc.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(hc.cpuset_mems));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }

    if let Some(l) = hc.pids_limit.filter(|l| *l > 0) {
        r.insert("pids".into(), json!({"limit": l}));
    }

    let mut blkio = Map::new();
    if hc.blkio_weight > 0 {
        blkio.insert("weight".into(), json!(hc.blkio_weight));
    }
    for (key, list) in [
        ("throttleReadBpsDevice", &hc.blkio_device_read_bps),
        ("throttleWriteBpsDevice", &hc.blkio_device_write_bps),
        ("throttleReadIOPSDevice", &hc.blkio_device_read_iops),
        ("throttleWriteIOPSDevice", &hc.blkio_device_write_iops),
    ] {
        let v = throttle_devices(list)?;
        if !v.is_empty() {
            blkio.insert(key.into(), Value::Array(v));
        }
    }
    let wd = weight_devices(&hc.blkio_weight_device)?;
    if !wd.is_empty() {
        blkio.insert("weightDevice".into(), Value::Array(wd));
    }
    if !blkio.is_empty() {
        r.insert("blockIO".into(), Value::Object(blkio));
    }
    Ok((Value::Object(r), devices))
}

/// "c 1:3 rwm", "b *:* m", "c 136:* rw".
fn parse_cgroup_rule(rule: &str) -> Result<Value> {
    let bad = || Error::invalid(format!("invalid device cgroup rule format: '{rule}'"));
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [kind, nums, access] = parts.as_slice() else {
        return Err(bad());
    };
    if !matches!(*kind, "a" | "b" | "c")
        || access.is_empty()
        || access.chars().any(|c| !"rwm".contains(c))
    {
        return Err(bad());
    }
    let (maj, min) = nums.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| -> Result<Option<i64>> {
        if s == "*" {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|_| bad())
        }
    };
    let mut v = json!({"allow": true, "type": kind, "access": access});
    if let Some(m) = num(maj)? {
        v["major"] = json!(m);
    }
    if let Some(m) = num(min)? {
        v["minor"] = json!(m);
    }
    Ok(v)
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
        let base = vec![json!({"allow": false, "access": "rwm"})];
        let (r, devs) = build(&hc, base).unwrap();
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["memory"]["swap"], 128 << 20);
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(r["cpu"]["period"], 100_000);
        assert_eq!(r["pids"]["limit"], 50);
        assert!(devs.is_empty());
        let rules = r["devices"].as_array().unwrap();
        assert_eq!(rules[0], json!({"allow": false, "access": "rwm"}));
        assert!(rules.iter().any(|d| d["major"] == 10 && d["minor"] == 229));
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
        assert!(parse_cgroup_rule("c 1:x rwm").is_err());
        assert!(device_numbers("/etc/passwd").is_err());
        assert_eq!(device_numbers("/dev/null").unwrap().0, 'c');
    }
}
