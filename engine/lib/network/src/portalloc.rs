//! Host ports held for published container ports. Each published port is reserved by a
//! socket bound to the host address and port, in the host's namespace: the kernel then
//! refuses the port to any other program, and a port another program holds is refused to us
//! with a clear error. The DNAT rules make the traffic reach the container, so the socket
//! never sees any.
//!
//! A TCP reservation sets `SO_REUSEADDR` and listens, as docker's proxy does: connections
//! left in TIME-WAIT by an earlier server do not block the port, while the listening state
//! still keeps every other program (with or without `SO_REUSEADDR`) off it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::os::fd::OwnedFd;

use nix::sys::socket::{
    bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
    SockaddrIn,
};

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
    if proto == Proto::Tcp {
        setsockopt(&fd, sockopt::ReuseAddr, &true)
            .map_err(|e| Error::io("set SO_REUSEADDR on a port reservation", e.into()))?;
    }
    let addr = SockaddrIn::from(SocketAddrV4::new(ip, port));
    let bound = bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).and_then(|()| {
        if proto == Proto::Tcp {
            // A backlog of one: nothing is ever accepted here (see the module comment).
            listen(&fd, Backlog::new(1).expect("a backlog of 1 is valid"))
        } else {
            Ok(())
        }
    });
    match bound {
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

    /// Ports below the ephemeral range: the kernel never hands them out for `bind(0)` or
    /// `connect`, so no other test or program takes one between our steps.
    fn quiet_range() -> RangeInclusive<u16> {
        let start = *PortAllocator::ephemeral_range(None).start();
        start - 2000..=start - 1000
    }

    #[test]
    fn a_port_another_program_listens_on_is_refused() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = other.local_addr().unwrap().port();
        let mut a = PortAllocator::new(None, quiet_range());
        let e = a.reserve(&spec(port, port)).unwrap_err();
        assert!(e.to_string().contains("already allocated"), "{e}");
        // On the wildcard address too.
        let mut s = spec(port, port);
        s.host_ip = None;
        assert!(a.reserve(&s).is_err());
    }

    #[test]
    fn reserves_refuses_and_releases() {
        let r = quiet_range();
        let mut a = PortAllocator::new(None, r.clone());
        let b = a.reserve(&spec(*r.start(), *r.end())).unwrap();
        let port = b.host_port;
        // Held by us: another program cannot take it, with SO_REUSEADDR (as std sets it) or
        // without, on the same address or the wildcard one; nor can the engine twice.
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
        assert!(std::net::TcpListener::bind(("0.0.0.0", port)).is_err());
        let plain = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .unwrap();
        let addr = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        assert!(bind(std::os::fd::AsRawFd::as_raw_fd(&plain), &addr).is_err());
        assert!(a.reserve(&spec(port, port)).is_err());
        a.release(&b);
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }

    #[test]
    fn a_port_with_only_time_wait_left_can_be_reserved() {
        use std::io::Read;
        let r = quiet_range();
        let mut a = PortAllocator::new(None, r.clone());
        let b = a.reserve(&spec(*r.start(), *r.end())).unwrap();
        let port = b.host_port;
        a.release(&b);
        // A server that closes first leaves its side of the connection in TIME-WAIT.
        let server = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (conn, _) = server.accept().unwrap();
        drop(conn);
        let _ = client.read(&mut [0u8; 1]);
        drop(client);
        drop(server);
        let again = a.reserve(&spec(port, port)).unwrap();
        assert_eq!(again.host_port, port);
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
