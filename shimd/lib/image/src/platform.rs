//! Platforms ("linux/amd64", "linux/arm/v7") and choosing a manifest from an index.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "String::is_empty"
    )]
    pub os_version: String,
}

impl Platform {
    /// The platform this process runs on.
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", ""),
            "x86" => ("386", ""),
            "aarch64" => ("arm64", "v8"),
            "arm" => ("arm", "v7"),
            "powerpc64" => ("ppc64le", ""),
            "s390x" => ("s390x", ""),
            "riscv64" => ("riscv64", ""),
            other => (other, ""),
        };
        Platform {
            architecture: arch.into(),
            os: std::env::consts::OS.into(),
            variant: variant.into(),
            os_version: String::new(),
        }
    }

    /// Parses "os/arch[/variant]"; empty fields are left to `or_host`.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::InvalidArgument(format!(
                "invalid platform {s:?}: want os/arch[/variant], e.g. linux/amd64"
            )));
        }
        Ok(Platform {
            os: parts[0].into(),
            architecture: normalize_arch(parts[1]).into(),
            variant: parts.get(2).copied().unwrap_or("").into(),
            os_version: String::new(),
        })
    }

    /// Fills empty os/arch from the host.
    pub fn or_host(self) -> Platform {
        if self.os.is_empty() && self.architecture.is_empty() {
            return Platform::host();
        }
        let h = Platform::host();
        Platform {
            os: if self.os.is_empty() { h.os } else { self.os },
            architecture: if self.architecture.is_empty() {
                h.architecture
            } else {
                normalize_arch(&self.architecture).into()
            },
            ..self
        }
    }

    /// Does a manifest for `candidate` run here? os and arch must be equal; a variant asked
    /// for must be equal too (arm64's "v8" is its default).
    pub fn matches(&self, candidate: &Platform) -> bool {
        if self.os != candidate.os || self.architecture != normalize_arch(&candidate.architecture) {
            return false;
        }
        let norm = |p: &Platform| -> String {
            if p.architecture == "arm64" && p.variant.is_empty() {
                "v8".into()
            } else {
                p.variant.clone()
            }
        };
        let (want, have) = (norm(self), norm(candidate));
        want.is_empty() || have.is_empty() || want == have
    }
}

fn normalize_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        other => other,
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert!(p.matches(&Platform::parse("linux/arm64/v8").unwrap()));
        assert!(!p.matches(&Platform::parse("linux/amd64").unwrap()));
        let arm7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(!arm7.matches(&Platform::parse("linux/arm/v6").unwrap()));
        assert!(Platform::parse("linux").is_err());
        assert_eq!(Platform::default().or_host(), Platform::host());
    }
}
