//! Registry credentials: `POST /auth` and the `X-Registry-Auth` header (base64url JSON).

use base64::Engine;
use serde::{Deserialize, Serialize};

/// The header pull and push take credentials in.
pub const REGISTRY_AUTH_HEADER: &str = "X-Registry-Auth";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// Legacy base64 "user:password".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(rename = "serveraddress", skip_serializing_if = "String::is_empty")]
    pub server_address: String,
    #[serde(rename = "identitytoken", skip_serializing_if = "String::is_empty")]
    pub identity_token: String,
    #[serde(rename = "registrytoken", skip_serializing_if = "String::is_empty")]
    pub registry_token: String,
}

impl AuthConfig {
    /// Encodes for the `X-Registry-Auth` header.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE
            .encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes an `X-Registry-Auth` header. An empty header, or "{}" encoded, gives the
    /// empty config. Padding is optional, as clients differ.
    pub fn decode(header: &str) -> Result<AuthConfig, String> {
        let h = header.trim();
        if h.is_empty() {
            return Ok(AuthConfig::default());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(h))
            .map_err(|_| "invalid X-Registry-Auth header: not base64".to_string())?;
        let mut a: AuthConfig = serde_json::from_slice(&bytes)
            .map_err(|e| format!("invalid X-Registry-Auth header: {e}"))?;
        a.fill_from_legacy_auth();
        Ok(a)
    }

    /// Fills username and password from the legacy `auth` field ("user:password" base64).
    pub fn fill_from_legacy_auth(&mut self) {
        if self.username.is_empty() && !self.auth.is_empty() {
            if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(&self.auth) {
                if let Some((u, p)) = String::from_utf8_lossy(&raw).split_once(':') {
                    self.username = u.to_string();
                    self.password = p.to_string();
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identity_token.is_empty()
            && self.registry_token.is_empty()
    }
}

/// The answer of `POST /auth`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AuthResponse {
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identity_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_with_or_without_padding() {
        let a = AuthConfig {
            username: "u".into(),
            password: "p?x".into(),
            server_address: "127.0.0.1:5000".into(),
            ..Default::default()
        };
        let h = a.encode();
        assert_eq!(AuthConfig::decode(&h).unwrap(), a);
        assert_eq!(AuthConfig::decode(h.trim_end_matches('=')).unwrap(), a);
        assert!(AuthConfig::decode("").unwrap().is_empty());
        assert!(AuthConfig::decode("!!!").is_err());
    }

    #[test]
    fn legacy_auth_field_gives_user_and_password() {
        let mut a = AuthConfig {
            auth: "dTpwOmM=".into(), // "u:p:c"
            ..Default::default()
        };
        a.fill_from_legacy_auth();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("u", "p:c"));
    }
}
