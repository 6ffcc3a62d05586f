//! Subnets for networks created without `--subnet`: carved from a list of default address
//! pools like docker's (172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/16 in /20s),
//! skipping every subnet that overlaps another network or a route or address of the host.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::subnet::Ipv4Net;

/// A range of addresses cut into subnets of one size: `base=172.17.0.0/12,size=16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    pub base: Ipv4Net,
    pub size: u8,
}

impl PoolSpec {
    pub fn new(base: Ipv4Net, size: u8) -> Result<Self, Error> {
        if size < base.prefix() || size > 30 {
            return Err(Error::invalid(format!(
                "invalid default address pool {base} size /{size}: the size must be between /{} and /30",
                base.prefix()
            )));
        }
        Ok(PoolSpec { base, size })
    }

    /// The subnets of this pool in order.
    pub fn subnets(&self) -> impl Iterator<Item = Ipv4Net> + '_ {
        let first = Ipv4Net::from_host(self.base.addr(), self.size).expect("size checked");
        let count = 1u64 << (self.size - self.base.prefix());
        (0..count).filter_map(move |i| first.nth_next(i))
    }
}

impl FromStr for PoolSpec {
    type Err = Error;

    /// Parses docker's `--default-address-pool` form: `base=10.10.0.0/16,size=24`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut base = None;
        let mut size = None;
        for kv in s.split(',') {
            match kv.split_once('=') {
                Some(("base", v)) => base = Some(v.parse::<Ipv4Net>()?),
                Some(("size", v)) => {
                    size = Some(v.parse::<u8>().map_err(|_| {
                        Error::invalid(format!(
                            "invalid default address pool {s:?}: size {v:?} is not a number"
                        ))
                    })?)
                }
                _ => {
                    return Err(Error::invalid(format!(
                    "invalid default address pool {s:?}: expected base=<cidr>,size=<prefix length>"
                )))
                }
            }
        }
        match (base, size) {
            (Some(b), Some(z)) => PoolSpec::new(b, z),
            _ => Err(Error::invalid(format!(
                "invalid default address pool {s:?}: both base and size are required"
            ))),
        }
    }
}

/// docker's default pools.
pub fn default_pools() -> Vec<PoolSpec> {
    vec![
        PoolSpec::new("172.17.0.0/16".parse().unwrap(), 16).unwrap(),
        PoolSpec::new("172.18.0.0/15".parse().unwrap(), 16).unwrap(),
        PoolSpec::new("172.20.0.0/14".parse().unwrap(), 16).unwrap(),
        PoolSpec::new("172.24.0.0/13".parse().unwrap(), 16).unwrap(),
        PoolSpec::new("192.168.0.0/16".parse().unwrap(), 20).unwrap(),
    ]
}

/// The first subnet of `pools` that overlaps neither `in_use` (other networks) nor `host`
/// (the host's routes and addresses).
pub fn pick(pools: &[PoolSpec], in_use: &[Ipv4Net], host: &[Ipv4Net]) -> Option<Ipv4Net> {
    pools
        .iter()
        .flat_map(|p| p.subnets())
        .find(|s| !in_use.iter().chain(host).any(|o| o.overlaps(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn first_free_default_is_docker_bridge_subnet() {
        assert_eq!(pick(&default_pools(), &[], &[]), Some(n("172.17.0.0/16")));
    }

    #[test]
    fn skips_networks_and_host_routes() {
        let host = [n("172.18.5.0/24"), n("192.0.2.0/24")];
        let in_use = [n("172.17.0.0/16")];
        assert_eq!(
            pick(&default_pools(), &in_use, &host),
            Some(n("172.19.0.0/16"))
        );
        // A host route covering all of 172.16/12 pushes the choice into 192.168/16.
        let host = [n("172.16.0.0/12")];
        assert_eq!(
            pick(&default_pools(), &[], &host),
            Some(n("192.168.0.0/20"))
        );
    }

    #[test]
    fn custom_pools_parse_and_exhaust() {
        let p: PoolSpec = "base=10.197.240.0/23,size=24".parse().unwrap();
        let subs: Vec<_> = p.subnets().collect();
        assert_eq!(subs, vec![n("10.197.240.0/24"), n("10.197.241.0/24")]);
        assert_eq!(pick(&[p], &subs, &[]), None);
        for bad in [
            "base=10.0.0.0/16",
            "size=24",
            "base=10.0.0.0/16,size=8",
            "base=10.0.0.0/16,size=x",
            "junk",
        ] {
            assert!(bad.parse::<PoolSpec>().is_err(), "{bad}");
        }
    }
}
