//! `SecurityOpt`: no-new-privileges, seccomp, systempaths, apparmor and label options.

use oci_spec::runtime::LinuxSeccomp;
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Seccomp {
    /// Docker's default profile for the container's capabilities.
    Default,
    Unconfined,
    /// A profile the client sent (docker's JSON format or OCI's).
    Profile(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    /// `systempaths=unconfined`: no masked or read-only paths.
    pub unmask_system_paths: bool,
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::invalid(format!(
            "invalid --security-opt {key}: {v:?}"
        ))),
    }
}

/// Parses the `SecurityOpt` list ("key=value" or the legacy "key:value").
pub fn parse(opts: &[String]) -> Result<SecurityOpts> {
    let mut s = SecurityOpts {
        no_new_privileges: false,
        seccomp: Seccomp::Default,
        unmask_system_paths: false,
    };
    for (i, opt) in opts.iter().enumerate() {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, v),
            None => match opt.split_once(':') {
                Some((k, v))
                    if k == "no-new-privileges"
                        || k == "seccomp"
                        || k == "apparmor"
                        || k == "label" =>
                {
                    (k, v)
                }
                _ => (opt.as_str(), ""),
            },
        };
        match key {
            "no-new-privileges" => s.no_new_privileges = parse_bool(key, value)?,
            "seccomp" => {
                s.seccomp = match value {
                    "unconfined" => Seccomp::Unconfined,
                    "" => {
                        return Err(Error::invalid(
                            "invalid --security-opt seccomp: empty profile",
                        ))
                    }
                    json => Seccomp::Profile(serde_json::from_str(json).map_err(|e| {
                        Error::invalid(format!("decoding seccomp profile failed: {e}"))
                    })?),
                }
            }
            "systempaths" if value == "unconfined" => s.unmask_system_paths = true,
            // AppArmor and SELinux are not enforced on this engine; "unconfined" and
            // disabling labels ask for nothing, anything else is refused rather than ignored.
            "apparmor" if value == "unconfined" => {}
            "label" if value == "disable" => {}
            _ => {
                return Err(Error::invalid(format!(
                    "invalid --security-opt {}: {opt:?}",
                    i + 1
                )))
            }
        }
    }
    Ok(s)
}

/// The seccomp architecture name of this host ("SCMP_ARCH_X86_64", ...).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "x86" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        other => other,
    }
}

fn kernel_at_least(min: &str) -> bool {
    let parse = |s: &str| -> Vec<u32> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|x| !x.is_empty())
            .take(2)
            .filter_map(|x| x.parse().ok())
            .collect()
    };
    let have = nix::sys::utsname::uname()
        .map(|u| parse(&u.release().to_string_lossy()))
        .unwrap_or_default();
    have >= parse(min)
}

/// A seccomp profile the client sent — docker's format (`archMap`, rules conditioned on
/// capabilities, architectures or kernel versions) or plain OCI — as the OCI profile for a
/// container with `caps`, checked by compiling it.
pub fn oci_profile(profile: &Value, caps: &[String]) -> Result<LinuxSeccomp> {
    let obj = profile
        .as_object()
        .ok_or_else(|| Error::invalid("decoding seccomp profile failed: not a JSON object"))?;
    let arch = host_arch();
    let mut out = serde_json::Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "archMap" | "syscalls" | "comment" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(map) = obj.get("archMap").and_then(Value::as_array) {
        let mut archs = Vec::new();
        for m in map.iter().filter(|m| m["architecture"] == arch) {
            archs.push(Value::from(arch));
            archs.extend(
                m["subArchitectures"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        out.insert("architectures".into(), Value::Array(archs));
    }
    let has_cap = |c: &Value| {
        c.as_str()
            .map(|c| caps.iter().any(|x| x.eq_ignore_ascii_case(c)))
            .unwrap_or(false)
    };
    let mut rules = Vec::new();
    for rule in obj
        .get("syscalls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let inc = &rule["includes"];
        let exc = &rule["excludes"];
        let list = |v: &Value, k: &str| v[k].as_array().cloned().unwrap_or_default();
        let included = list(inc, "caps").iter().all(has_cap)
            && (list(inc, "arches").is_empty() || list(inc, "arches").iter().any(|a| a == arch))
            && inc["minKernel"]
                .as_str()
                .map(kernel_at_least)
                .unwrap_or(true);
        let excluded =
            list(exc, "caps").iter().any(has_cap) || list(exc, "arches").iter().any(|a| a == arch);
        if !included || excluded {
            continue;
        }
        let mut r = rule.clone();
        if let Some(o) = r.as_object_mut() {
            for k in ["includes", "excludes", "comment"] {
                o.remove(k);
            }
        }
        rules.push(r);
    }
    out.insert("syscalls".into(), Value::Array(rules));
    let parsed: LinuxSeccomp = serde_json::from_value(Value::Object(out))
        .map_err(|e| Error::invalid(format!("decoding seccomp profile failed: {e}")))?;
    berth_seccomp::compile(&parsed)
        .map_err(|e| Error::invalid(format!("invalid seccomp profile: {e}")))?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<SecurityOpts> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn docker_profiles_become_oci_profiles() {
        let p = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}},
                {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_CHROOT"]}}
            ]
        });
        let caps = vec!["CAP_SYS_CHROOT".to_string()];
        let v = oci_profile(&p, &caps).unwrap();
        let names: Vec<&str> = v
            .syscalls()
            .iter()
            .flatten()
            .map(|r| r.names()[0].as_str())
            .collect();
        assert_eq!(names, ["mkdir"]);
        assert_eq!(v.syscalls().as_ref().unwrap()[0].errno_ret(), Some(1));
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(
                serde_json::to_value(v.architectures()).unwrap(),
                serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
            );
        }
        assert!(oci_profile(&serde_json::json!({"defaultAction": "NOPE"}), &caps).is_err());
        assert!(oci_profile(&serde_json::json!([]), &caps).is_err());
    }

    #[test]
    fn options() {
        let s = p(&["no-new-privileges", "seccomp=unconfined"]).unwrap();
        assert!(s.no_new_privileges);
        assert_eq!(s.seccomp, Seccomp::Unconfined);
        assert!(!p(&["no-new-privileges:false"]).unwrap().no_new_privileges);
        let s = p(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#]).unwrap();
        assert!(matches!(s.seccomp, Seccomp::Profile(_)));
        assert!(p(&["seccomp={bad"]).is_err());
        assert!(p(&["bogus=1"]).is_err());
        assert!(p(&["apparmor=myprofile"]).is_err());
        assert!(p(&["systempaths=unconfined"]).unwrap().unmask_system_paths);
    }
}
