//! Published ports: what the user asked for (`-p [ip:]host:container[/proto]`, `-P`) and
//! what was bound.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

impl FromStr for Proto {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Err(Error::invalid(
                "sctp ports cannot be published: only tcp and udp are supported",
            )),
            other => Err(Error::invalid(format!(
                "invalid protocol {other:?}: expected tcp or udp"
            ))),
        }
    }
}

/// A container port as docker names it: `80/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    pub port: u16,
    pub proto: Proto,
}

impl fmt::Display for ContainerPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

impl FromStr for ContainerPort {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let port = parse_port(port, s)?;
        if port == 0 {
            return Err(Error::invalid(format!(
                "invalid container port {s:?}: must be 1 to 65535"
            )));
        }
        Ok(ContainerPort {
            port,
            proto: proto.parse()?,
        })
    }
}

fn parse_port(p: &str, whole: &str) -> Result<u16, Error> {
    p.parse::<u16>().map_err(|_| {
        Error::invalid(format!(
            "invalid port {p:?} in {whole:?}: must be 0 to 65535"
        ))
    })
}

/// One publishing request: container port, host address (all addresses when absent) and a
/// host port range (`0..=0` picks a free port from the ephemeral range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub container_port: u16,
    pub proto: Proto,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<Ipv4Addr>,
    pub host_port_start: u16,
    pub host_port_end: u16,
}

impl PortSpec {
    /// From the Docker API's `PortBindings` entry: key `80/tcp`, `HostIp`, `HostPort`
    /// (empty, `8080` or a range `8000-8010`).
    pub fn from_api(key: &str, host_ip: &str, host_port: &str) -> Result<Self, Error> {
        let cp: ContainerPort = key.parse()?;
        let host_ip = match host_ip {
            "" | "0.0.0.0" => None,
            ip => Some(ip.parse::<Ipv4Addr>().map_err(|_| {
                Error::invalid(format!(
                    "invalid host address {ip:?} for port {key}: expected an IPv4 address (IPv6 is not supported)"
                ))
            })?),
        };
        let (start, end) = match host_port {
            "" => (0, 0),
            p => match p.split_once('-') {
                Some((a, b)) => (parse_port(a, p)?, parse_port(b, p)?),
                None => {
                    let v = parse_port(p, p)?;
                    (v, v)
                }
            },
        };
        if start > end || (start == 0) != (end == 0) {
            return Err(Error::invalid(format!(
                "invalid host port range {host_port:?} for {key}"
            )));
        }
        Ok(PortSpec {
            container_port: cp.port,
            proto: cp.proto,
            host_ip,
            host_port_start: start,
            host_port_end: end,
        })
    }
}

/// A port that is published: traffic to `host_ip:host_port` goes to the container's
/// `container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortBinding {
    pub container_port: u16,
    pub proto: Proto,
    /// `0.0.0.0` for every address of the host.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
}

impl PortBinding {
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.proto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_bindings_parse() {
        let s = PortSpec::from_api("80/tcp", "", "8080").unwrap();
        assert_eq!(
            (s.container_port, s.proto, s.host_ip, s.host_port_start),
            (80, Proto::Tcp, None, 8080)
        );
        let s = PortSpec::from_api("53/udp", "127.0.0.1", "").unwrap();
        assert_eq!(
            (s.proto, s.host_ip, s.host_port_start, s.host_port_end),
            (Proto::Udp, Some(Ipv4Addr::LOCALHOST), 0, 0)
        );
        let s = PortSpec::from_api("80", "0.0.0.0", "9000-9005").unwrap();
        assert_eq!(
            (s.host_ip, s.host_port_start, s.host_port_end),
            (None, 9000, 9005)
        );
    }

    #[test]
    fn bad_bindings_are_refused() {
        for (k, ip, p) in [
            ("0/tcp", "", ""),
            ("80/sctp", "", ""),
            ("80/icmp", "", ""),
            ("x/tcp", "", ""),
            ("80/tcp", "::1", ""),
            ("80/tcp", "", "70000"),
            ("80/tcp", "", "9005-9000"),
            ("80/tcp", "", "0-10"),
        ] {
            assert!(PortSpec::from_api(k, ip, p).is_err(), "{k} {ip} {p}");
        }
    }
}
