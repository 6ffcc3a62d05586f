//! `SecurityOpt`: no-new-privileges, seccomp, systempaths, apparmor and label options.

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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<SecurityOpts> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
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
