//! Address management of one network: its subnet, gateway and the range containers get
//! addresses from; which addresses are taken. Allocation walks on from the last address
//! handed out (wrapping around), so an address just released is not reused at once.
//!
//! The pool is part of the network's persisted record; the controller saves it (atomically)
//! before an allocation becomes visible to anyone.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::subnet::Ipv4Net;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Where container addresses come from (`--ip-range`); the whole subnet when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv4Net>,
    /// Addresses held by endpoints (the gateway is never in here: it is never handed out).
    #[serde(default)]
    pub allocated: BTreeSet<Ipv4Addr>,
    /// The address handed out last; the next search starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Ipv4Addr>,
}

impl Pool {
    /// Checks a user's `--subnet/--gateway/--ip-range` combination and builds the pool.
    /// Without a gateway the first usable address of the subnet is the gateway.
    pub fn new(
        subnet: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        ip_range: Option<Ipv4Net>,
    ) -> Result<Pool> {
        if subnet.prefix() > 30 {
            return Err(Error::invalid(format!(
                "subnet {subnet} is too small: a bridge network needs at least a /30 (gateway and one container)"
            )));
        }
        let gateway = match gateway {
            Some(g) => {
                if !subnet.contains(g) {
                    return Err(Error::invalid(format!(
                        "gateway {g} is not in subnet {subnet}"
                    )));
                }
                if u32::from(g) == subnet.first() || u32::from(g) == subnet.last() {
                    return Err(Error::invalid(format!(
                        "gateway {g} is the network or broadcast address of subnet {subnet}"
                    )));
                }
                g
            }
            None => Ipv4Addr::from(subnet.first() + 1),
        };
        if let Some(r) = ip_range {
            if !subnet.contains_net(&r) {
                return Err(Error::invalid(format!(
                    "ip-range {r} is not within subnet {subnet}"
                )));
            }
        }
        Ok(Pool {
            subnet,
            gateway,
            ip_range,
            allocated: BTreeSet::new(),
            last: None,
        })
    }

    /// The range addresses are handed out from, as printed in errors.
    pub fn range(&self) -> Ipv4Net {
        self.ip_range.unwrap_or(self.subnet)
    }

    /// True when `ip` can never belong to a container: outside the subnet, the network or
    /// broadcast address, or the gateway.
    fn reserved(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        !self.subnet.contains(ip)
            || n == self.subnet.first()
            || n == self.subnet.last()
            || ip == self.gateway
    }

    /// Takes the next free address of the range.
    pub fn allocate(&mut self, network: &str) -> Result<Ipv4Addr> {
        let range = self.range();
        let (first, last) = (range.first(), range.last());
        let start = match self.last {
            Some(l) if range.contains(l) && u32::from(l) < last => u32::from(l) + 1,
            _ => first,
        };
        // Walk start..=last, then first..start.
        let candidates = (start..=last).chain(first..start);
        for n in candidates {
            let ip = Ipv4Addr::from(n);
            if !self.reserved(ip) && !self.allocated.contains(&ip) {
                self.allocated.insert(ip);
                self.last = Some(ip);
                return Ok(ip);
            }
        }
        Err(Error::PoolExhausted {
            network: network.to_string(),
            range: range.to_string(),
        })
    }

    /// Takes a specific address (`--ip`): it must lie in the subnet (docker allows any
    /// address of the subnet, also outside `--ip-range`) and be free.
    pub fn allocate_specific(&mut self, ip: Ipv4Addr, network: &str) -> Result<Ipv4Addr> {
        if !self.subnet.contains(ip) {
            return Err(Error::invalid(format!(
                "requested address {ip} is not in subnet {} of network {network}",
                self.subnet
            )));
        }
        if self.reserved(ip) {
            return Err(Error::invalid(format!(
                "requested address {ip} is reserved on network {network} (network, broadcast or gateway address)"
            )));
        }
        if !self.allocated.insert(ip) {
            return Err(Error::AddressInUse {
                ip: ip.to_string(),
                network: network.to_string(),
            });
        }
        Ok(ip)
    }

    /// Gives an address back; releasing an address that is not held is a no-op.
    pub fn release(&mut self, ip: Ipv4Addr) {
        self.allocated.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(s: &str) -> Pool {
        Pool::new(s.parse().unwrap(), None, None).unwrap()
    }

    #[test]
    fn gateway_defaults_to_first_host() {
        let p = pool("10.197.1.0/24");
        assert_eq!(p.gateway, Ipv4Addr::new(10, 197, 1, 1));
    }

    #[test]
    fn never_hands_out_an_address_twice_and_does_not_reuse_at_once() {
        let mut p = pool("10.197.1.0/29"); // .1 gateway, .2-.6 usable, .7 broadcast
        let got: Vec<_> = (0..5).map(|_| p.allocate("n").unwrap()).collect();
        let want: Vec<_> = (2..=6).map(|i| Ipv4Addr::new(10, 197, 1, i)).collect();
        assert_eq!(got, want);
        let e = p.allocate("n").unwrap_err().to_string();
        assert!(
            e.contains("no available IPv4 addresses on network n"),
            "{e}"
        );
        p.release(Ipv4Addr::new(10, 197, 1, 3));
        assert_eq!(p.allocate("n").unwrap(), Ipv4Addr::new(10, 197, 1, 3));
        // After a release, the walk continues after the last one handed out.
        p.release(Ipv4Addr::new(10, 197, 1, 2));
        p.release(Ipv4Addr::new(10, 197, 1, 5));
        assert_eq!(p.allocate("n").unwrap(), Ipv4Addr::new(10, 197, 1, 5));
        assert_eq!(p.allocate("n").unwrap(), Ipv4Addr::new(10, 197, 1, 2));
    }

    #[test]
    fn ip_range_limits_dynamic_allocation() {
        let mut p = Pool::new(
            "10.197.2.0/24".parse().unwrap(),
            Some(Ipv4Addr::new(10, 197, 2, 254)),
            Some("10.197.2.128/30".parse().unwrap()),
        )
        .unwrap();
        let got: Vec<_> = (0..4).map(|_| p.allocate("n").unwrap()).collect();
        assert_eq!(got[0], Ipv4Addr::new(10, 197, 2, 128));
        assert_eq!(got[3], Ipv4Addr::new(10, 197, 2, 131));
        assert!(p.allocate("n").is_err());
        // --ip outside the range but inside the subnet is fine.
        p.allocate_specific(Ipv4Addr::new(10, 197, 2, 9), "n")
            .unwrap();
    }

    #[test]
    fn specific_requests_are_checked() {
        let mut p = pool("10.197.3.0/24");
        let ip = Ipv4Addr::new(10, 197, 3, 50);
        p.allocate_specific(ip, "n").unwrap();
        let e = p.allocate_specific(ip, "n").unwrap_err().to_string();
        assert!(e.contains("already in use"), "{e}");
        for (bad, why) in [
            (Ipv4Addr::new(10, 197, 4, 1), "not in subnet"),
            (Ipv4Addr::new(10, 197, 3, 1), "reserved"),
            (Ipv4Addr::new(10, 197, 3, 255), "reserved"),
            (Ipv4Addr::new(10, 197, 3, 0), "reserved"),
        ] {
            let e = p.allocate_specific(bad, "n").unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        // Dynamic allocation skips the taken address.
        for _ in 0..60 {
            assert_ne!(p.allocate("n").unwrap(), ip);
        }
    }

    #[test]
    fn bad_configs_are_refused() {
        let s: Ipv4Net = "10.197.5.0/24".parse().unwrap();
        assert!(Pool::new(s, Some(Ipv4Addr::new(10, 197, 6, 1)), None).is_err());
        assert!(Pool::new(s, Some(Ipv4Addr::new(10, 197, 5, 0)), None).is_err());
        assert!(Pool::new(s, None, Some("10.197.6.0/25".parse().unwrap())).is_err());
        assert!(Pool::new("10.197.5.0/31".parse().unwrap(), None, None).is_err());
    }
}
