//! The device cgroup rules of a container, with runc's semantics: access to every device is
//! refused, then the spec's `linux.resources.devices` rules apply in order, then the
//! devices every container needs are allowed (mknod of any node, the default device
//! nodes, ptys, /dev/net/tun). Creating a node (`linux.devices`) grants no access to it:
//! only a rule does, so a config that lists /dev/kmsg but denies every device cannot
//! reach the host's kernel log.

use crate::rootfs::DEFAULT_DEVICES;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// Character devices allowed beyond the default nodes: /dev/ptmx (5:2) and /dev/net/tun
/// (10:200), as runc 1.1 allows them. /dev/console needs no rule: it is a bind mount of a
/// pty slave (136:N).
const EXTRA_ALLOWED: &[(i64, i64)] = &[(5, 2), (10, 200)];
/// The major number of pty slaves (/dev/pts/N).
const PTY_SLAVE_MAJOR: i64 = 136;

fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// True for "deny every access to every device" (`{"allow": false}` with access rwm or
/// none given).
fn denies_everything(r: &LinuxDeviceCgroup) -> bool {
    !r.allow()
        && matches!(r.typ(), None | Some(LinuxDeviceType::A))
        && r.major().unwrap_or(-1) == -1
        && r.minor().unwrap_or(-1) == -1
        && r.access().as_deref().is_none_or(|a| {
            a.is_empty() || (a.len() == 3 && ['r', 'w', 'm'].iter().all(|c| a.contains(*c)))
        })
}

/// The rules to give the cgroup for a spec's `linux.resources.devices`.
pub fn effective(spec_rules: &[LinuxDeviceCgroup]) -> Vec<LinuxDeviceCgroup> {
    let mut rules = Vec::with_capacity(spec_rules.len() + 16);
    if !spec_rules.first().is_some_and(denies_everything) {
        rules.push(rule(false, LinuxDeviceType::A, None, None, "rwm"));
    }
    rules.extend(spec_rules.iter().cloned());
    rules.push(rule(true, LinuxDeviceType::C, None, None, "m"));
    rules.push(rule(true, LinuxDeviceType::B, None, None, "m"));
    let nodes = DEFAULT_DEVICES
        .iter()
        .map(|&(_, major, minor)| (major as i64, minor as i64));
    for (major, minor) in nodes.chain(EXTRA_ALLOWED.iter().copied()) {
        rules.push(rule(
            true,
            LinuxDeviceType::C,
            Some(major),
            Some(minor),
            "rwm",
        ));
    }
    rules.push(rule(
        true,
        LinuxDeviceType::C,
        Some(PTY_SLAVE_MAJOR),
        None,
        "rwm",
    ));
    rules
}

/// The spec's resources with the effective device rules.
pub fn with_effective_devices(mut r: LinuxResources) -> LinuxResources {
    let rules = effective(r.devices().as_deref().unwrap_or(&[]));
    r.set_devices(Some(rules));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json(v: serde_json::Value) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_value(v).unwrap()
    }

    fn summary(rules: &[LinuxDeviceCgroup]) -> Vec<String> {
        rules
            .iter()
            .map(|r| {
                let t = match r.typ() {
                    Some(LinuxDeviceType::B) => "b",
                    Some(LinuxDeviceType::C) => "c",
                    _ => "a",
                };
                let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
                format!(
                    "{} {t} {}:{} {}",
                    if r.allow() { "allow" } else { "deny" },
                    n(r.major()),
                    n(r.minor()),
                    r.access().as_deref().unwrap_or("")
                )
            })
            .collect()
    }

    const DEFAULTS: &[&str] = &[
        "allow c *:* m",
        "allow b *:* m",
        "allow c 1:3 rwm",
        "allow c 1:5 rwm",
        "allow c 1:7 rwm",
        "allow c 1:8 rwm",
        "allow c 1:9 rwm",
        "allow c 5:0 rwm",
        "allow c 5:2 rwm",
        "allow c 10:200 rwm",
        "allow c 136:* rwm",
    ];

    #[test]
    fn deny_all_first_then_spec_then_defaults() {
        let spec = from_json(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}
        ]));
        let got = summary(&effective(&spec));
        let mut want = vec!["deny a *:* rwm", "allow c 1:11 r"];
        want.extend_from_slice(DEFAULTS);
        assert_eq!(got, want);
    }

    #[test]
    fn no_rules_still_deny_everything_else() {
        let got = summary(&effective(&[]));
        let mut want = vec!["deny a *:* rwm"];
        want.extend_from_slice(DEFAULTS);
        assert_eq!(got, want);
        // an allow-all spec (privileged) follows the leading deny and wins
        let spec = from_json(serde_json::json!([{"allow": true, "access": "rwm"}]));
        let got = summary(&effective(&spec));
        assert_eq!(&got[..2], ["deny a *:* rwm", "allow a *:* rwm"]);
    }
}
