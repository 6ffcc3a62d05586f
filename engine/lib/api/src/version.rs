//! API versions: what the daemon advertises, the oldest it accepts, and comparison of
//! "1.NN" version strings.

use serde::{Deserialize, Serialize};

/// The API version berthd speaks and advertises (`Api-Version` header, `/version`).
pub const API_VERSION: &str = "1.47";
/// The oldest API version berthd accepts requests for.
pub const MIN_API_VERSION: &str = "1.24";

/// A parsed "MAJOR.MINOR" API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        ApiVersion { major, minor }
    }

    /// Parses "1.47"; `None` for anything else.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        if a.is_empty() || b.is_empty() || !a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(ApiVersion {
            major: a.parse().ok()?,
            minor: b.parse().ok()?,
        })
    }

    pub fn current() -> ApiVersion {
        ApiVersion::parse(API_VERSION).expect("valid API_VERSION")
    }

    pub fn minimum() -> ApiVersion {
        ApiVersion::parse(MIN_API_VERSION).expect("valid MIN_API_VERSION")
    }

    /// True when this version is older than `major.minor`.
    pub fn before(self, major: u32, minor: u32) -> bool {
        self < ApiVersion::new(major, minor)
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// `GET /version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VersionResponse {
    pub platform: Platform,
    pub components: Vec<ComponentVersion>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub experimental: bool,
    pub build_time: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<std::collections::BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_versions() {
        let v = ApiVersion::parse("1.47").unwrap();
        assert_eq!(v, ApiVersion::new(1, 47));
        assert!(ApiVersion::parse("1.9").unwrap() < ApiVersion::parse("1.10").unwrap());
        assert!(v.before(1, 48) && !v.before(1, 47));
        for bad in ["", "1", "1.", ".2", "1.x", "v1.2", "1.2.3"] {
            assert!(ApiVersion::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(ApiVersion::current().to_string(), API_VERSION);
    }
}
