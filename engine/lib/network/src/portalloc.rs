//! Host ports held for published container ports. Each published port is reserved by a
//! socket bound (not listening) to the host address and port, in the host's namespace: the
//! kernel then refuses the port to any other program, and a port another program holds is
//! refused to us with a clear error. The DNAT rules make the traffic reach the container.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::os::fd::OwnedFd;

use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockType, SockaddrIn};

use crate::error::{Error, Result};
use crate::netns::{run_in, Netns};
use crate::ports::{PortBinding, PortSpec, Proto};

type Key = (Proto, Ipv4Addr, u16);

/// The reservations of one engine.
#[derive(Debug)]
pub struct PortAllocator {
    ns: Option<Netns>,
    range: RangeInclusive<u16>,
    next: u16,
    held: HashMap<Key, OwnedFd>,
}

impl PortAllocator {
    /// Reservations made inside `ns` (the caller's namespace when `None`); ports picked for
    /// host port 0 come from `range`.
    pub fn new(ns: Option<Netns>, range: RangeInclusive<u16>) -> Self {
        let next = *range.start();
        PortAllocator {
            ns,
            range,
            next,
            held: HashMap::new(),
        }
    }

    /// The ephemeral port range of the namespace, like docker's default.
    pub fn ephemeral_range(ns: Option<&Netns>) -> RangeInclusive<u16> {
        let read = run_in(ns, || {
            crate::netns::read_sysctl("net/ipv4/ip_local_port_range")
        });
        let parsed = read.ok().and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            match (it.next().flatten(), it.next().flatten()) {
                (Some(a), Some(b)) if a <= b && a > 0 => Some(a..=b),
                _ => None,
            }
        });
        parsed.unwrap_or(49153..=65535)
    }

    /// Reserves a port for `spec`: its host port, or the first free port of its range, or
    /// of the ephemeral range for host port 0.
    pub fn reserve(&mut self, spec: &PortSpec) -> Result<PortBinding> {
        let ip = spec.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let make = |host_port| PortBinding {
            container_port: spec.container_port,
            proto: spec.proto,
            host_ip: ip,
            host_port,
        };
        if spec.host_port_start != 0 && spec.host_port_start == spec.host_port_end {
            self.hold(spec.proto, ip, spec.host_port_start)?;
            return Ok(make(spec.host_port_start));
        }
        let (range, rotate) = if spec.host_port_start == 0 {
            (self.range.clone(), true)
        } else {
            (spec.host_port_start..=spec.host_port_end, false)
        };
        let (lo, hi) = (*range.start(), *range.end());
        let start = if rotate && range.contains(&self.next) {
            self.next
        } else {
            lo
        };
        for port in (start..=hi).chain(lo..start) {
            if self.held.contains_key(&(spec.proto, ip, port)) {
                continue;
            }
            match self.hold(spec.proto, ip, port) {
                Ok(()) => {
                    if rotate {
                        self.next = if port == hi { lo } else { port + 1 };
                    }
                    return Ok(make(port));
                }
                Err(Error::PortInUse { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoFreePort {
            proto: spec.proto.to_string(),
            range: format!("{lo}-{hi}"),
            ip: ip.to_string(),
        })
    }

    /// Holds exactly this port again (after a restart), or fails if it is taken.
    pub fn hold_binding(&mut self, b: &PortBinding) -> Result<()> {
        if self.held.contains_key(&(b.proto, b.host_ip, b.host_port)) {
            return Ok(());
        }
        self.hold(b.proto, b.host_ip, b.host_port)
    }

    fn hold(&mut self, proto: Proto, ip: Ipv4Addr, port: u16) -> Result<()> {
        let key = (proto, ip, port);
        if self.held.contains_key(&key) {
            return Err(Error::PortInUse {
                addr: format!("{ip}:{port}/{proto}"),
            });
        }
        let fd = run_in(self.ns.as_ref(), move || bind_socket(proto, ip, port))?;
        self.held.insert(key, fd);
        Ok(())
    }

    /// Lets go of a reservation.
    pub fn release(&mut self, b: &PortBinding) {
        self.held.remove(&(b.proto, b.host_ip, b.host_port));
    }
}

fn bind_socket(proto: Proto, ip: Ipv4Addr, port: u16) -> Result<OwnedFd> {
    let ty = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::io("create a port reservation socket", e.into()))?;
    let addr = SockaddrIn::from(SocketAddrV4::new(ip, port));
    match bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr) {
        Ok(()) => Ok(fd),
        Err(nix::errno::Errno::EADDRINUSE) => Err(Error::PortInUse {
            addr: format!("{ip}:{port}/{proto}"),
        }),
        Err(nix::errno::Errno::EADDRNOTAVAIL) => Err(Error::invalid(format!(
            "cannot publish on {ip}:{port}/{proto}: {ip} is not an address of this host"
        ))),
        Err(e) => Err(Error::io(
            format!("bind {ip}:{port}/{proto}"),
            std::io::Error::from(e),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(port: u16, end: u16) -> PortSpec {
        PortSpec {
            container_port: 80,
            proto: Proto::Tcp,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port_start: port,
            host_port_end: end,
        }
    }

    #[test]
    fn reserves_refuses_and_releases() {
        // Let the kernel pick a port nobody holds, then ask for it.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        let mut a = PortAllocator::new(None, 40000..=40010);
        let e = a.reserve(&spec(port, port)).unwrap_err();
        assert!(e.to_string().contains("already allocated"), "{e}");
        drop(probe);
        let b = a.reserve(&spec(port, port)).unwrap();
        assert_eq!(b.host_port, port);
        // Held by us: a second program cannot take it.
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
        assert!(a.reserve(&spec(port, port)).is_err());
        a.release(&b);
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }

    #[test]
    fn picks_free_ports_for_port_zero() {
        let mut a = PortAllocator::new(None, PortAllocator::ephemeral_range(None));
        let b1 = a.reserve(&spec(0, 0)).unwrap();
        let b2 = a.reserve(&spec(0, 0)).unwrap();
        assert_ne!(b1.host_port, b2.host_port);
        assert!(PortAllocator::ephemeral_range(None).contains(&b1.host_port));
    }

    #[test]
    fn address_not_on_host_is_refused() {
        let mut a = PortAllocator::new(None, 40000..=40010);
        let mut s = spec(40001, 40001);
        s.host_ip = Some(Ipv4Addr::new(203, 0, 113, 77));
        let e = a.reserve(&s).unwrap_err().to_string();
        assert!(e.contains("not an address of this host"), "{e}");
    }
}
