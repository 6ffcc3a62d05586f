//! Linux capabilities: docker's default set, and the add/drop arithmetic of `CapAdd`/`CapDrop`.

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};
use serde::de::IntoDeserializer;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Every capability name Linux defines, in number order.
pub const ALL: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities a container can have: those this kernel knows (`cap_last_cap`) that are
/// also in the engine's own bounding set (an engine itself running confined cannot hand out
/// more than it holds).
pub fn supported() -> Vec<String> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL.len() - 1);
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL.iter()
        .enumerate()
        .take(last + 1)
        .filter(|(i, _)| bounding & (1u64 << i) != 0)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" all name CAP_NET_ADMIN; "ALL" stays "ALL".
fn canonical(name: &str) -> Result<String> {
    let up = name.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::invalid(format!("unknown capability: \"{name}\"")))
    }
}

/// The capability set of a container: docker's defaults (or all, when privileged), plus
/// `add`, minus `drop`. "ALL" in either list means every capability.
pub fn compute(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<String>> {
    let add: Vec<String> = add.iter().map(|c| canonical(c)).collect::<Result<_>>()?;
    let drop: Vec<String> = drop.iter().map(|c| canonical(c)).collect::<Result<_>>()?;
    let supported = supported();
    if privileged {
        return Ok(supported);
    }
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        supported.clone()
    } else if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        berth_spec::DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    if !drop.iter().any(|c| c == "ALL") {
        caps.retain(|c| !drop.contains(c));
    }
    for c in add.iter().filter(|c| *c != "ALL") {
        if !supported.contains(c) {
            return Err(Error::invalid(format!(
                "capability {c} is not available: the engine does not hold it (its bounding set lacks it)"
            )));
        }
        if !caps.contains(c) {
            caps.push(c.clone());
        }
    }
    caps.retain(|c| supported.contains(c));
    if add.iter().any(|c| c == "ALL") {
        caps.retain(|c| !drop.contains(c));
    }
    Ok(caps)
}

/// A set of capability names ("CAP_CHOWN", ...) as OCI capabilities.
fn oci_set(caps: &[String]) -> Result<Capabilities> {
    caps.iter()
        .map(|c| {
            Capability::deserialize(c.as_str().into_deserializer()).map_err(
                |e: serde::de::value::Error| Error::internal(format!("capability {c}: {e}")),
            )
        })
        .collect()
}

/// A process's capabilities as docker sets them: `caps` bounding, effective and
/// permitted; nothing inheritable or ambient.
pub fn process_capabilities(caps: &[String]) -> Result<LinuxCapabilities> {
    let set = oci_set(caps)?;
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(set.clone()))
        .set_effective(Some(set.clone()))
        .set_permitted(Some(set))
        .set_inheritable(None)
        .set_ambient(None);
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn add_and_drop() {
        let c = compute(false, &s(&["net_admin"]), &s(&["CAP_MKNOD", "kill"])).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_MKNOD".to_string()));
        assert!(!c.contains(&"CAP_KILL".to_string()));
        assert_eq!(c.len(), berth_spec::DEFAULT_CAPABILITIES.len() - 1);
        let only = compute(false, &s(&["CHOWN"]), &s(&["ALL"])).unwrap();
        assert_eq!(only, vec!["CAP_CHOWN"]);
        let all = compute(false, &s(&["ALL"]), &s(&["SYS_ADMIN"])).unwrap();
        assert!(!all.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(all.len() > 30);
        assert!(compute(true, &[], &[])
            .unwrap()
            .contains(&"CAP_SYS_ADMIN".to_string()));
        let e = compute(false, &s(&["NOPE"]), &[]).unwrap_err();
        let every = process_capabilities(&s(ALL)).unwrap();
        assert_eq!(every.bounding().as_ref().map(|b| b.len()), Some(ALL.len()));
        assert_eq!(every.inheritable(), &None);
        assert_eq!(every.ambient(), &None);
        assert_eq!(e.message, "unknown capability: \"NOPE\"");
    }
}
