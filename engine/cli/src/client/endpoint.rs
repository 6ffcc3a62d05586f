//! Where the daemon listens: `unix:///path` or `tcp://host:port`, as given by `-H`,
//! `BERTH_HOST` or the default socket.

use std::fmt;
use std::path::PathBuf;

/// The engine socket used when neither `-H` nor `BERTH_HOST` names one.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A parsed daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
}

impl Endpoint {
    /// Parses a `-H` value. A TCP address without a port gets docker's defaults:
    /// 2376 with TLS, 2375 without.
    pub fn parse(s: &str, tls: bool) -> Result<Endpoint, String> {
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("invalid host {s:?}: the unix socket path is empty"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            let default_port = if tls { 2376 } else { 2375 };
            let (host, port) = split_host_port(rest, default_port)
                .ok_or_else(|| format!("invalid host {s:?}: expected tcp://HOST[:PORT]"))?;
            if host.is_empty() {
                return Err(format!("invalid host {s:?}: the host name is empty"));
            }
            return Ok(Endpoint::Tcp { host, port });
        }
        if s.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(s)));
        }
        match s.split_once("://") {
            Some((scheme, _)) => Err(format!(
                "invalid host {s:?}: the {scheme}:// scheme is not supported (use unix:// or tcp://)"
            )),
            None => Err(format!(
                "invalid host {s:?}: expected unix:///PATH or tcp://HOST[:PORT]"
            )),
        }
    }
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`.
fn split_host_port(s: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((s.to_string(), default_port)),
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_docker_accepts() {
        assert_eq!(
            Endpoint::parse("unix:///run/x.sock", false).unwrap(),
            Endpoint::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2376", true).unwrap(),
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 2376
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://localhost", false).unwrap(),
            Endpoint::Tcp {
                host: "localhost".into(),
                port: 2375
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:99", false).unwrap(),
            Endpoint::Tcp {
                host: "::1".into(),
                port: 99
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:99", false)
                .unwrap()
                .to_string(),
            "tcp://[::1]:99"
        );
    }

    #[test]
    fn refuses_what_it_cannot_reach() {
        assert!(Endpoint::parse("ssh://me@box", false)
            .unwrap_err()
            .contains("ssh://"));
        assert!(Endpoint::parse("unix://", false).is_err());
        assert!(Endpoint::parse("tcp://host:notaport", false).is_err());
        assert!(Endpoint::parse("host:1", false).is_err());
    }
}
