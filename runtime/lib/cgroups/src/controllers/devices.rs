//! Device access rules: written to the v1 devices controller in order; on cgroup v2 the same
//! rules become an eBPF program (see `device_bpf`).

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{FResult, Fault};
use crate::fsio;

/// One validated rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    /// None: all types ('a').
    pub kind: Option<Kind>,
    /// None: any ('*').
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Bits of `Access`.
    pub access: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Block,
    Char,
}

pub(crate) struct Access;
impl Access {
    pub const MKNOD: u8 = 1;
    pub const READ: u8 = 2;
    pub const WRITE: u8 = 4;
    pub const ALL: u8 = 7;
}

impl Rule {
    pub(crate) fn from_oci(d: &LinuxDeviceCgroup) -> FResult<Rule> {
        let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => None,
            LinuxDeviceType::B => Some(Kind::Block),
            LinuxDeviceType::C | LinuxDeviceType::U => Some(Kind::Char),
            LinuxDeviceType::P => {
                return Err(Fault::invalid(
                    "device rule type 'p' (fifo) cannot be used in linux.resources.devices: \
                     use a, b or c",
                ))
            }
        };
        let number = |n: Option<i64>, what: &str| -> FResult<Option<u32>> {
            match n {
                None | Some(-1) => Ok(None),
                Some(v) if (0..=u32::MAX as i64).contains(&v) => Ok(Some(v as u32)),
                Some(v) => Err(Fault::invalid(format!(
                    "device rule {what} number {v} is not valid"
                ))),
            }
        };
        let access_text = d.access().as_deref().unwrap_or("rwm");
        let access_text = if access_text.is_empty() {
            "rwm"
        } else {
            access_text
        };
        let mut access = 0;
        for c in access_text.chars() {
            access |= match c {
                'r' => Access::READ,
                'w' => Access::WRITE,
                'm' => Access::MKNOD,
                _ => {
                    return Err(Fault::invalid(format!(
                        "device rule access {access_text:?} is not valid: use letters from \"rwm\""
                    )))
                }
            };
        }
        Ok(Rule {
            allow: d.allow(),
            kind,
            major: number(d.major(), "major")?,
            minor: number(d.minor(), "minor")?,
            access,
        })
    }

    /// The v1 devices.allow/deny line: `c 1:3 rwm`, or `a` for everything.
    pub(crate) fn v1_line(&self) -> String {
        let wildcard = self.kind.is_none()
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == Access::ALL;
        if wildcard {
            return "a".to_string();
        }
        let kind = match self.kind {
            None => 'a',
            Some(Kind::Block) => 'b',
            Some(Kind::Char) => 'c',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |v| v.to_string());
        let mut access = String::new();
        for (bit, c) in [
            (Access::READ, 'r'),
            (Access::WRITE, 'w'),
            (Access::MKNOD, 'm'),
        ] {
            if self.access & bit != 0 {
                access.push(c);
            }
        }
        format!("{kind} {}:{} {access}", num(self.major), num(self.minor))
    }
}

pub(crate) fn rules(list: &[LinuxDeviceCgroup]) -> FResult<Vec<Rule>> {
    list.iter().map(Rule::from_oci).collect()
}

/// Writes the rules in order to devices.allow / devices.deny. On update, rules that the
/// cgroup already has are not written again: a "deny all" first would briefly refuse the
/// running container every device.
pub(crate) fn apply_v1(dir: &Path, rules: &[Rule], update: bool) -> FResult<()> {
    if update && already_applied(dir, rules) {
        return Ok(());
    }
    // one open per run of rules for the same file; the kernel takes one rule per write
    for run in rules.chunk_by(|a, b| a.allow == b.allow) {
        let file = if run[0].allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        let lines: Vec<String> = run.iter().map(Rule::v1_line).collect();
        fsio::write_each(dir, file, &lines)?;
    }
    Ok(())
}

/// True when the rules are "deny all, then allow these" and devices.list already lists
/// exactly those allowances.
fn already_applied(dir: &Path, rules: &[Rule]) -> bool {
    let Some((first, rest)) = rules.split_first() else {
        return false;
    };
    if first.allow || first.v1_line() != "a" || rest.iter().any(|r| !r.allow) {
        return false;
    }
    let Ok(list) = fsio::read(dir, "devices.list") else {
        return false;
    };
    let mut current: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut wanted: Vec<String> = rest.iter().map(Rule::v1_line).collect();
    current.sort_unstable();
    current.dedup();
    wanted.sort();
    wanted.dedup();
    current == wanted.iter().map(String::as_str).collect::<Vec<_>>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn lines() {
        let deny_all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(Rule::from_oci(&deny_all).unwrap().v1_line(), "a");
        let null = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rw")
            .build()
            .unwrap();
        assert_eq!(Rule::from_oci(&null).unwrap().v1_line(), "c 1:3 rw");
        let any_char_mknod = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .access("m")
            .build()
            .unwrap();
        assert_eq!(
            Rule::from_oci(&any_char_mknod).unwrap().v1_line(),
            "c *:* m"
        );
        let bad = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rwx")
            .build()
            .unwrap();
        assert!(Rule::from_oci(&bad).is_err());
    }

    #[test]
    fn unchanged_rules_are_not_rewritten() {
        let d = tempfile::tempdir().unwrap();
        let rules = vec![
            Rule {
                allow: false,
                kind: None,
                major: None,
                minor: None,
                access: Access::ALL,
            },
            Rule {
                allow: true,
                kind: Some(Kind::Char),
                major: Some(1),
                minor: Some(3),
                access: Access::ALL,
            },
            Rule {
                allow: true,
                kind: Some(Kind::Char),
                major: None,
                minor: None,
                access: Access::MKNOD,
            },
        ];
        std::fs::write(d.path().join("devices.list"), "c *:* m\nc 1:3 rwm\n").unwrap();
        // no devices.allow file: writing would fail, so success means nothing was written
        apply_v1(d.path(), &rules, true).unwrap();
        assert!(
            apply_v1(d.path(), &rules, false).is_err(),
            "create always writes"
        );
        std::fs::write(d.path().join("devices.list"), "c 1:3 rwm\n").unwrap();
        assert!(
            apply_v1(d.path(), &rules, true).is_err(),
            "a change is written"
        );
    }
}
