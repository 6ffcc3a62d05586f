//! IPv4 prefixes (`10.1.2.0/24`): parsing, containment and overlap.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// An IPv4 network in CIDR form. The address is always the network address (host bits
/// zero): `10.1.2.3/24` parses as `10.1.2.0/24` only through [`Ipv4Net::from_host`];
/// [`FromStr`] refuses host bits so a typo in `--subnet` is reported, not guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// The network of `prefix` bits containing `addr`.
    pub fn from_host(addr: Ipv4Addr, prefix: u8) -> Result<Self, Error> {
        if prefix > 32 {
            return Err(Error::invalid(format!(
                "invalid prefix length /{prefix}: must be 0 to 32"
            )));
        }
        Ok(Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The first address (the network address).
    pub fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    /// The last address (the broadcast address for prefixes shorter than /31).
    pub fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    /// Number of addresses in the prefix (2^(32-prefix)).
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.first()
    }

    /// True when `other` lies entirely within `self`.
    pub fn contains_net(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The `n`-th consecutive network of the same size after this one, if it exists.
    pub fn nth_next(&self, n: u64) -> Option<Ipv4Net> {
        let start = u64::from(self.first()) + n * self.size();
        if start + self.size() - 1 > u64::from(u32::MAX) {
            return None;
        }
        Some(Ipv4Net {
            addr: Ipv4Addr::from(start as u32),
            prefix: self.prefix,
        })
    }
}

/// The netmask of a prefix length as a host-order integer.
pub fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::invalid(format!("invalid subnet {s:?}: {why}"));
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| bad("expected CIDR notation like 10.1.0.0/16"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| bad("not an IPv4 address (IPv6 networks are not supported)"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| bad("the prefix length must be 0 to 32"))?;
        let net = Ipv4Net::from_host(addr, prefix)?;
        if net.addr != addr {
            return Err(bad(&format!("host bits are set; did you mean {net}?")));
        }
        Ok(net)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let n: Ipv4Net = "10.197.3.0/24".parse().unwrap();
        assert_eq!(n.to_string(), "10.197.3.0/24");
        assert_eq!(n.size(), 256);
        assert_eq!(Ipv4Addr::from(n.last()), Ipv4Addr::new(10, 197, 3, 255));
        assert!(n.contains(Ipv4Addr::new(10, 197, 3, 9)));
        assert!(!n.contains(Ipv4Addr::new(10, 197, 4, 9)));
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            "10.0.0.0",
            "10.0.0.1/24",
            "10.0.0.0/33",
            "fd00::/64",
            "x/8",
            "10.0.0.0/-1",
        ] {
            let e = bad.parse::<Ipv4Net>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
        let e = "10.0.0.1/24".parse::<Ipv4Net>().unwrap_err().to_string();
        assert!(e.contains("did you mean 10.0.0.0/24"), "{e}");
    }

    #[test]
    fn overlap_and_containment() {
        let a: Ipv4Net = "172.17.0.0/16".parse().unwrap();
        let b: Ipv4Net = "172.17.5.0/24".parse().unwrap();
        let c: Ipv4Net = "172.18.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(a.contains_net(&b) && !b.contains_net(&a));
        assert!(!a.overlaps(&c));
        assert_eq!(a.nth_next(1), Some(c));
        let z: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        assert!(z.overlaps(&a));
        assert_eq!(z.nth_next(1), None);
    }
}
