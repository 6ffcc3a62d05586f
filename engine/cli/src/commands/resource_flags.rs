//! The `create`/`run` flags about devices, block IO, GPUs and health checks, parsed and
//! checked the way docker checks them (same rules, same messages), into the Engine API
//! fields docker sends for them.

use std::collections::BTreeMap;

use berth_api::container::{DeviceMapping, HealthConfig, ThrottleDevice, WeightDevice};
use berth_gocompat::units::ram_in_bytes;
use serde_json::{json, Value};

use crate::cli::ContainerOpts;

/// Splits `PATH:VALUE` of a per-device flag, requiring a `/dev/` path.
fn device_and_value(val: &str) -> Result<(&str, &str), String> {
    let (path, value) = match val.split_once(':') {
        Some((p, v)) if !p.is_empty() => (p, v),
        _ => return Err(format!("bad format: {val}")),
    };
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {val}"));
    }
    Ok((path, value))
}

/// `--blkio-weight-device /dev/sda:200` (weights 10 to 1000, or 0).
pub fn weight_device(val: &str) -> Result<WeightDevice, String> {
    let (path, value) = device_and_value(val)?;
    let weight: u16 = value
        .parse()
        .map_err(|_| format!("invalid weight for device: {val}"))?;
    if weight > 0 && !(10..=1000).contains(&weight) {
        return Err(format!("invalid weight for device: {val}"));
    }
    Ok(WeightDevice {
        path: path.to_string(),
        weight,
    })
}

/// `--device-read-bps /dev/sda:1mb` and `--device-write-bps`.
pub fn throttle_bps(val: &str) -> Result<ThrottleDevice, String> {
    let (path, value) = device_and_value(val)?;
    let rate = ram_in_bytes(value)
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            format!(
            "invalid rate for device: {val}. The correct format is <device-path>:<number>[<unit>]. \
Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
        )
        })?;
    Ok(ThrottleDevice {
        path: path.to_string(),
        rate: rate as u64,
    })
}

/// `--device-read-iops /dev/sda:100` and `--device-write-iops`.
pub fn throttle_iops(val: &str) -> Result<ThrottleDevice, String> {
    let (path, value) = device_and_value(val)?;
    let rate: u64 = value.parse().map_err(|_| {
        format!(
            "invalid rate for device: {val}. The correct format is <device-path>:<number>. \
Number must be a positive integer"
        )
    })?;
    Ok(ThrottleDevice {
        path: path.to_string(),
        rate,
    })
}

fn is_device_mode(mode: &str) -> bool {
    !mode.is_empty() && mode.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

/// A CDI device name (`vendor.com/class=name`): docker sends it as a device request.
fn is_cdi_name(val: &str) -> bool {
    match val.split_once('=') {
        Some((kind, name)) => {
            !name.is_empty()
                && !kind.starts_with('/')
                && kind
                    .split_once('/')
                    .is_some_and(|(vendor, class)| !vendor.is_empty() && !class.is_empty())
        }
        None => false,
    }
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]` as a device mapping, or a CDI device name
/// as a device request.
pub enum Device {
    Mapping(DeviceMapping),
    Cdi(String),
}

pub fn device(val: &str) -> Result<Device, String> {
    if is_cdi_name(val) {
        return Ok(Device::Cdi(val.to_string()));
    }
    let parts: Vec<&str> = val.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, m] if is_device_mode(m) => (*h, *h, *m),
        [h, c] => (*h, *c, "rwm"),
        [h, c, m] => {
            if !is_device_mode(m) {
                return Err(format!("bad mode specified: {m}"));
            }
            (*h, *c, *m)
        }
        _ => return Err(format!("bad format for path: {val}")),
    };
    if !container.starts_with('/') {
        return Err(format!("{container} is not an absolute path"));
    }
    Ok(Device::Mapping(DeviceMapping {
        path_on_host: host.to_string(),
        path_in_container: container.to_string(),
        cgroup_permissions: mode.to_string(),
    }))
}

fn gpu_count(v: &str) -> Result<i64, String> {
    if v == "all" {
        return Ok(-1);
    }
    v.parse().map_err(|_| {
        format!("invalid count ({v}): value must be either \"all\" or an integer: invalid syntax")
    })
}

/// Splits a comma-separated list where a field may be double-quoted to hold commas
/// (`"device=0,1",capabilities=compute`).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!("extraneous or missing \" in quoted-field: {s}"));
    }
    fields.push(field);
    Ok(fields)
}

/// `--gpus all`, `--gpus 2`, `--gpus '"device=0,1",capabilities=compute'`: one device
/// request, with the `gpu` capability always present (docker's rules).
pub fn gpu_request(val: &str) -> Result<Value, String> {
    let mut seen = std::collections::HashSet::new();
    let mut driver = String::new();
    let mut count: Option<i64> = None;
    let mut device_ids: Option<Vec<String>> = None;
    let mut caps: Vec<String> = Vec::new();
    let mut options = BTreeMap::new();
    for field in csv_fields(val)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (field.clone(), None),
        };
        if !seen.insert(key.clone()) {
            return Err(format!(
                "gpu request key '{key}' can be specified only once"
            ));
        }
        let Some(value) = value else {
            if !seen.insert("count".into()) {
                return Err("gpu request key 'count' can be specified only once".into());
            }
            count = Some(gpu_count(&key)?);
            continue;
        };
        match key.as_str() {
            "driver" => driver = value,
            "count" => count = Some(gpu_count(&value)?),
            "device" => device_ids = Some(value.split(',').map(str::to_string).collect()),
            "capabilities" => caps = value.split(',').map(str::to_string).collect(),
            "options" => {
                for kv in csv_fields(&value)? {
                    let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                    options.insert(k.to_string(), v.to_string());
                }
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if count.is_some() && device_ids.is_some() {
        return Err("cannot set both Count and DeviceIDs on device request".into());
    }
    let count = match (count, &device_ids) {
        (Some(n), _) => n,
        (None, Some(_)) => 0,
        (None, None) => 1,
    };
    if !caps.iter().any(|c| c == "gpu") {
        caps.push("gpu".into());
    }
    caps.sort();
    Ok(json!({
        "Driver": driver,
        "Count": count,
        "DeviceIDs": device_ids,
        "Capabilities": [caps],
        "Options": options,
    }))
}

fn duration(val: &Option<String>, flag: &str) -> Result<i64, String> {
    match val {
        None => Ok(0),
        Some(v) => berth_gocompat::duration::parse(v)
            .map_err(|e| format!("invalid argument \"{v}\" for \"--{flag}\" flag: {e}")),
    }
}

/// `--health-*` and `--no-healthcheck` as the `Healthcheck` docker sends (none when no
/// health flag is given, so the image's check applies).
pub fn healthcheck(o: &ContainerOpts) -> Result<Option<HealthConfig>, String> {
    let interval = duration(&o.health_interval, "health-interval")?;
    let timeout = duration(&o.health_timeout, "health-timeout")?;
    let start_period = duration(&o.health_start_period, "health-start-period")?;
    let start_interval = duration(&o.health_start_interval, "health-start-interval")?;
    let cmd = o.health_cmd.as_deref().unwrap_or("");
    let any = !cmd.is_empty()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || start_interval != 0
        || o.health_retries != 0;
    if o.no_healthcheck {
        if any {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }));
    }
    if !any {
        return Ok(None);
    }
    for (value, flag) in [
        (interval, "--health-interval"),
        (timeout, "--health-timeout"),
        (o.health_retries, "--health-retries"),
        (start_period, "--health-start-period"),
        (start_interval, "--health-start-interval"),
    ] {
        if value < 0 {
            return Err(format!("{flag} cannot be negative"));
        }
    }
    Ok(Some(HealthConfig {
        test: (!cmd.is_empty()).then(|| vec!["CMD-SHELL".into(), cmd.to_string()]),
        interval,
        timeout,
        start_period,
        start_interval,
        retries: o.health_retries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_as_docker_reads_them() {
        let m = |v: &str| match device(v).unwrap() {
            Device::Mapping(m) => (m.path_on_host, m.path_in_container, m.cgroup_permissions),
            Device::Cdi(_) => panic!("{v} is not CDI"),
        };
        assert_eq!(
            m("/dev/null"),
            ("/dev/null".into(), "/dev/null".into(), "rwm".into())
        );
        assert_eq!(
            m("/dev/zero:/z"),
            ("/dev/zero".into(), "/z".into(), "rwm".into())
        );
        assert_eq!(
            m("/dev/full:rw"),
            ("/dev/full".into(), "/dev/full".into(), "rw".into())
        );
        assert_eq!(
            m("/dev/tty:/t:r"),
            ("/dev/tty".into(), "/t".into(), "r".into())
        );
        assert!(matches!(device("vendor.com/class=x"), Ok(Device::Cdi(_))));
        assert_eq!(device("/dev/a:b:c").err().unwrap(), "bad mode specified: c");
        assert_eq!(
            device("a:b:c:d").err().unwrap(),
            "bad format for path: a:b:c:d"
        );
        assert_eq!(
            device("/dev/a:rel").err().unwrap(),
            "rel is not an absolute path"
        );
    }

    #[test]
    fn block_io_values() {
        assert_eq!(throttle_bps("/dev/sda:1mb").unwrap().rate, 1 << 20);
        assert_eq!(throttle_iops("/dev/sda:100").unwrap().rate, 100);
        assert_eq!(weight_device("/dev/sda:200").unwrap().weight, 200);
        assert_eq!(
            throttle_bps("/dev/sda").unwrap_err(),
            "bad format: /dev/sda"
        );
        assert_eq!(
            throttle_bps("sda:1").unwrap_err(),
            "bad format for device path: sda:1"
        );
        assert!(throttle_iops("/dev/sda:1k")
            .unwrap_err()
            .starts_with("invalid rate"));
        assert!(weight_device("/dev/sda:5").is_err());
    }

    #[test]
    fn gpu_requests() {
        assert_eq!(gpu_request("all").unwrap()["Count"], -1);
        assert_eq!(gpu_request("2").unwrap()["Count"], 2);
        let r = gpu_request("\"device=0,1\",capabilities=compute").unwrap();
        assert_eq!(r["DeviceIDs"], json!(["0", "1"]));
        assert_eq!(r["Count"], 0);
        assert_eq!(r["Capabilities"], json!([["compute", "gpu"]]));
        let r = gpu_request("driver=nvidia,count=all,options=a=b").unwrap();
        assert_eq!(r["Options"], json!({"a": "b"}));
        assert_eq!(r["Driver"], "nvidia");
        assert!(gpu_request("1,count=2").unwrap_err().contains("only once"));
        assert!(gpu_request("bar=1").unwrap_err().contains("unexpected key"));
    }
}
