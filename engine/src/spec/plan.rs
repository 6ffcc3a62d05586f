//! A create request's host config checked once, up front: its limits, its security
//! options and its capability set. The plan carries what the checks worked out on to the
//! spec generator and the container's recorded defaults, so nothing is parsed twice.

use berth_api::container::HostConfig;

use super::{caps, resources, security};
use crate::error::Result;

/// What a valid host config asks for, worked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub security: security::SecurityOpts,
    /// The container's capabilities ("CAP_CHOWN", ...).
    pub caps: Vec<String>,
}

impl Plan {
    /// Checks `hc`'s resources, security options and capabilities (dockerd's order and
    /// messages).
    pub fn of(hc: &HostConfig) -> Result<Plan> {
        resources::validate(hc)?;
        let security = security::parse(hc.security_opt.as_deref().unwrap_or(&[]))?;
        let caps = caps::compute(
            hc.privileged,
            hc.cap_add.as_deref().unwrap_or(&[]),
            hc.cap_drop.as_deref().unwrap_or(&[]),
        )?;
        Ok(Plan { security, caps })
    }

    /// No masked or read-only paths by default: privileged, or `systempaths=unconfined`.
    pub fn unmasked(&self, hc: &HostConfig) -> bool {
        hc.privileged || self.security.unmask_system_paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_the_checked_request() {
        let hc = HostConfig {
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(vec!["chown".into()]),
            security_opt: Some(vec!["systempaths=unconfined".into()]),
            ..Default::default()
        };
        let p = Plan::of(&hc).unwrap();
        assert_eq!(p.caps, ["CAP_CHOWN"]);
        assert!(p.unmasked(&hc));
        assert!(!Plan::of(&HostConfig::default())
            .unwrap()
            .unmasked(&HostConfig::default()));
        for (hc, want) in [
            (
                HostConfig {
                    memory: 1,
                    ..Default::default()
                },
                "Minimum memory limit allowed is 6MB",
            ),
            (
                HostConfig {
                    security_opt: Some(vec!["bogus".into()]),
                    ..Default::default()
                },
                "invalid --security-opt 1: \"bogus\"",
            ),
            (
                HostConfig {
                    cap_add: Some(vec!["NOPE".into()]),
                    ..Default::default()
                },
                "unknown capability: \"NOPE\"",
            ),
        ] {
            assert_eq!(Plan::of(&hc).unwrap_err().message, want);
        }
    }
}
