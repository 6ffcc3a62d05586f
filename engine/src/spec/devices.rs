//! Devices: the host's device nodes a container gets (`Devices`, every one when
//! privileged) as OCI `linux.devices`, and the device cgroup rules that let it use them
//! (`linux.resources.devices`, with `DeviceCgroupRules`).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use berth_api::container::HostConfig;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};

/// A device node of the host: its type, numbers, mode and owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub kind: LinuxDeviceType,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The block or char device at `path`.
pub fn node(path: &str) -> Result<Node> {
    let md = std::fs::metadata(path).map_err(|e| {
        Error::invalid(format!(
            "error gathering device information while adding custom device \"{path}\": {e}"
        ))
    })?;
    let ft = md.file_type();
    let kind = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Err(Error::invalid(format!(
            "error gathering device information while adding custom device \"{path}\": not a device node"
        )));
    };
    let rdev = md.rdev();
    Ok(Node {
        kind,
        major: libc::major(rdev) as i64,
        minor: libc::minor(rdev) as i64,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
    })
}

impl Node {
    /// This node at `path` in the container.
    pub fn oci(&self, path: &str) -> LinuxDevice {
        let mut d = LinuxDevice::default();
        d.set_path(PathBuf::from(path))
            .set_typ(self.kind)
            .set_major(self.major)
            .set_minor(self.minor)
            .set_file_mode(Some(self.mode))
            .set_uid(Some(self.uid))
            .set_gid(Some(self.gid));
        d
    }
}

/// A rule allowing `access` to the devices of `kind` (all without one) with the numbers
/// given (any without).
pub fn allow(
    kind: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true)
        .set_typ(kind)
        .set_major(major)
        .set_minor(minor)
        .set_access(Some(access.to_string()));
    r
}

/// The container's device nodes and cgroup rules: privileged containers may use every
/// device; others get `base_rules` (the defaults) plus `Devices` and `DeviceCgroupRules`.
pub fn build(
    hc: &HostConfig,
    base_rules: Vec<LinuxDeviceCgroup>,
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>)> {
    let mut devices = Vec::new();
    let mut rules = if hc.privileged {
        vec![allow(None, None, None, "rwm")]
    } else {
        base_rules
    };
    for d in hc.devices.iter().flatten() {
        let n = node(&d.path_on_host)?;
        let dest = if d.path_in_container.is_empty() {
            &d.path_on_host
        } else {
            &d.path_in_container
        };
        let perms = if d.cgroup_permissions.is_empty() {
            "rwm"
        } else {
            d.cgroup_permissions.as_str()
        };
        if perms.chars().any(|c| !"rwm".contains(c)) {
            return Err(Error::invalid(format!(
                "invalid device permissions: {perms}"
            )));
        }
        devices.push(n.oci(dest));
        rules.push(allow(Some(n.kind), Some(n.major), Some(n.minor), perms));
    }
    for rule in hc.device_cgroup_rules.iter().flatten() {
        rules.push(parse_cgroup_rule(rule)?);
    }
    Ok((devices, rules))
}

/// "c 1:3 rwm", "b *:* m", "c 136:* rw".
pub fn parse_cgroup_rule(rule: &str) -> Result<LinuxDeviceCgroup> {
    let bad = || Error::invalid(format!("invalid device cgroup rule format: '{rule}'"));
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [kind, nums, access] = parts.as_slice() else {
        return Err(bad());
    };
    let kind = match *kind {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    if access.is_empty() || access.chars().any(|c| !"rwm".contains(c)) {
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
    Ok(allow(Some(kind), num(maj)?, num(min)?, access))
}

/// Every char and block device of the host, for privileged containers.
pub fn host_devices() -> Vec<LinuxDevice> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name();
            let name = name.to_string_lossy();
            if ft.is_dir() {
                if !matches!(
                    name.as_ref(),
                    "pts" | "shm" | "mqueue" | ".lxc" | ".udev" | "fd"
                ) {
                    stack.push(p);
                }
                continue;
            }
            if name == "console" || name == "ptmx" {
                continue;
            }
            let s = p.to_string_lossy();
            if let Ok(n) = node(&s) {
                out.push(n.oci(&s));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_and_rules() {
        assert!(node("/etc/passwd").is_err());
        let null = node("/dev/null").unwrap();
        assert_eq!(
            (null.kind, null.major, null.minor),
            (LinuxDeviceType::C, 1, 3)
        );
        assert!(parse_cgroup_rule("c 1:x rwm").is_err());
        assert!(parse_cgroup_rule("x 1:3 rwm").is_err());
        assert!(parse_cgroup_rule("c 1:3 rwz").is_err());
        let r = parse_cgroup_rule("b *:7 m").unwrap();
        assert_eq!(
            (r.typ(), r.major(), r.minor(), r.access().as_deref()),
            (Some(LinuxDeviceType::B), None, Some(7), Some("m"))
        );
        let hc = HostConfig {
            devices: Some(vec![berth_api::container::DeviceMapping {
                path_on_host: "/dev/null".into(),
                path_in_container: String::new(),
                cgroup_permissions: "rwx".into(),
            }]),
            ..Default::default()
        };
        let e = build(&hc, Vec::new()).unwrap_err();
        assert_eq!(e.message, "invalid device permissions: rwx");
    }
}
