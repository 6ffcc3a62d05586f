//! Creating, listing and removing networks.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::error::{Error, Result};
use crate::ipam::Pool;
use crate::model::{
    check_name, new_id, options as opt, BridgeSettings, CreateRequest, Driver, Network,
};
use crate::netlink::{self, with_netlink};
use crate::pools::{self};
use crate::subnet::Ipv4Net;
use crate::time::now;

use super::views::*;
use super::*;

impl NetworkController {
    /// Creates a bridge network.
    pub async fn create_network(&self, req: CreateRequest) -> Result<Network> {
        check_name("network", &req.name)?;
        match req.driver.as_str() {
            "" | "bridge" => {}
            "host" | "null" | "none" => {
                return Err(Error::invalid(format!(
                    "only one instance of \"{}\" network is allowed",
                    req.driver
                )))
            }
            d @ ("overlay" | "macvlan" | "ipvlan") => {
                return Err(Error::invalid(format!(
                    "network driver {d:?} is not supported: berth creates bridge networks (host and none are predefined)"
                )))
            }
            d => return Err(Error::UnknownDriver(d.to_string())),
        }
        if req.enable_ipv6 {
            return Err(Error::invalid(
                "IPv6 networks are not supported: create the network without --ipv6",
            ));
        }
        let _host_lock = self.host_lock().await?;
        let mut inner = self.inner.lock().await;
        if inner.state.networks.values().any(|n| n.name == req.name) {
            return Err(Error::NetworkExists(req.name));
        }
        let id = new_id();
        let bridge = parse_bridge_options(&req.options, &id, self.cfg.mtu)?;
        if let Some(other) = inner
            .state
            .networks
            .values()
            .find(|n| n.bridge.as_ref().is_some_and(|b| b.name == bridge.name))
        {
            return Err(Error::invalid(format!(
                "bridge name {} is already used by network {}",
                bridge.name, other.name
            )));
        }
        let parse_ip = |what: &str, s: &Option<String>| -> Result<Option<Ipv4Addr>> {
            s.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<Ipv4Addr>().map_err(|_| {
                        Error::invalid(format!("invalid {what} {s:?}: expected an IPv4 address"))
                    })
                })
                .transpose()
        };
        let gateway = parse_ip("gateway", &req.gateway)?;
        let ip_range = req
            .ip_range
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(str::parse::<Ipv4Net>)
            .transpose()?;
        let in_use: Vec<(&Network, Ipv4Net)> = inner
            .state
            .networks
            .values()
            .filter_map(|n| n.pool.as_ref().map(|p| (n, p.subnet)))
            .collect();
        let subnet = match req.subnet.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => {
                let subnet: Ipv4Net = s.parse()?;
                if let Some((other, os)) = in_use.iter().find(|(_, os)| os.overlaps(&subnet)) {
                    return Err(Error::PoolOverlap {
                        subnet: subnet.to_string(),
                        other: other.name.clone(),
                        other_subnet: os.to_string(),
                    });
                }
                subnet
            }
            None => {
                if gateway.is_some() || ip_range.is_some() {
                    return Err(Error::invalid("--gateway and --ip-range need --subnet"));
                }
                let taken: Vec<Ipv4Net> = in_use.iter().map(|(_, s)| *s).collect();
                let host = self.host_prefixes().await?;
                pools::pick(&self.cfg.default_pools, &taken, &host).ok_or(Error::NoFreePool)?
            }
        };
        let pool = Pool::new(subnet, gateway, ip_range)?;
        let n = Network {
            id: id.clone(),
            name: req.name.clone(),
            driver: Driver::Bridge,
            created: now(),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels,
            options: req.options,
            pool: Some(pool),
            bridge: Some(bridge),
            predefined: false,
        };
        inner.state.networks.insert(id.clone(), n.clone());
        self.save(&inner.state)?;
        let made = async {
            self.ensure_bridge(&n).await?;
            self.apply_rules(&inner.state)
        }
        .await;
        if let Err(e) = made {
            inner.state.networks.remove(&id);
            self.delete_host_link(&n.bridge.as_ref().expect("bridge").name)
                .await;
            let _ = self.save(&inner.state);
            let _ = self.apply_rules(&inner.state);
            return Err(e);
        }
        tracing::info!(network = %n.name, id = %n.short_id(), subnet = %subnet, "network created");
        Ok(n)
    }

    pub(super) async fn delete_host_link(&self, name: &str) {
        let name = name.to_string();
        let r = with_netlink(self.host_ns.as_ref(), move |h| async move {
            netlink::delete_link(&h, &name).await
        })
        .await;
        if let Err(e) = r {
            tracing::warn!("{e}");
        }
    }

    /// Removes a network without endpoints, with its bridge and rules.
    pub async fn remove_network(&self, key: &str) -> Result<()> {
        let mut inner = self.inner.lock().await;
        let n = inner.state.find_network(key)?.clone();
        if n.predefined {
            return Err(Error::Predefined(n.name));
        }
        let users: Vec<String> = inner
            .state
            .endpoints_of_network(&n.id)
            .map(|e| container_name(&inner.state, &e.container_id))
            .collect();
        if !users.is_empty() {
            return Err(Error::NetworkInUse {
                name: n.name,
                id: n.id,
                containers: users.join(", "),
            });
        }
        if let Some(b) = &n.bridge {
            let name = b.name.clone();
            with_netlink(self.host_ns.as_ref(), move |h| async move {
                netlink::delete_link(&h, &name).await
            })
            .await?;
        }
        inner.state.networks.remove(&n.id);
        self.save(&inner.state)?;
        self.apply_rules(&inner.state)?;
        tracing::info!(network = %n.name, "network removed");
        Ok(())
    }

    /// Removes every user network without endpoints for which `keep` is false; returns
    /// their names.
    pub async fn prune(&self, keep: impl Fn(&Network) -> bool) -> Result<Vec<String>> {
        let candidates: Vec<Network> = {
            let inner = self.inner.lock().await;
            let st = &inner.state;
            st.networks
                .values()
                .filter(|n| !n.predefined && !keep(n))
                .filter(|n| st.endpoints_of_network(&n.id).next().is_none())
                .cloned()
                .collect()
        };
        let mut removed = Vec::new();
        for n in candidates {
            match self.remove_network(&n.id).await {
                Ok(()) => removed.push(n.name),
                // Someone connected to it meanwhile: not unused any more.
                Err(Error::NetworkInUse { .. }) | Err(Error::NetworkNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Every network, predefined first, then by name.
    pub async fn networks(&self) -> Vec<NetworkView> {
        let inner = self.inner.lock().await;
        let mut v: Vec<NetworkView> = inner
            .state
            .networks
            .values()
            .map(|n| view_of(&inner.state, n))
            .collect();
        v.sort_by(|a, b| {
            (!a.network.predefined, &a.network.name).cmp(&(!b.network.predefined, &b.network.name))
        });
        v
    }

    /// One network by id, name or unique id prefix.
    pub async fn network(&self, key: &str) -> Result<NetworkView> {
        let inner = self.inner.lock().await;
        let n = inner.state.find_network(key)?;
        Ok(view_of(&inner.state, n))
    }
}

pub(super) fn check_bridge_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 15
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(Error::invalid(format!(
            "invalid bridge name {name:?}: 1 to 15 letters, digits, '_', '-' or '.'"
        )));
    }
    Ok(())
}

/// The bridge settings from a create request's driver options.
pub(super) fn parse_bridge_options(
    options: &BTreeMap<String, String>,
    id: &str,
    default_mtu: u32,
) -> Result<BridgeSettings> {
    let mut b = BridgeSettings {
        name: format!("br-{}", &id[..12]),
        mtu: default_mtu,
        masquerade: true,
        host_binding: None,
    };
    let parse_bool = |k: &str, v: &str| -> Result<bool> {
        match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(Error::invalid(format!(
                "invalid value {v:?} for option {k}: expected true or false"
            ))),
        }
    };
    for (k, v) in options {
        match k.as_str() {
            opt::BRIDGE_NAME => {
                check_bridge_name(v)?;
                b.name = v.clone();
            }
            opt::MTU => {
                b.mtu = v
                    .parse::<u32>()
                    .ok()
                    .filter(|m| (68..=65535).contains(m))
                    .ok_or_else(|| {
                        Error::invalid(format!("invalid MTU {v:?}: must be 68 to 65535"))
                    })?;
            }
            opt::MASQUERADE => b.masquerade = parse_bool(k, v)?,
            opt::ICC if !parse_bool(k, v)? => {
                return Err(Error::invalid(
                    "enable_icc=false is not supported: containers on a bridge network always reach each other",
                ));
            }
            opt::ICC => {}
            opt::HOST_BINDING => {
                let ip: Ipv4Addr = v.parse().map_err(|_| {
                    Error::invalid(format!("invalid {k} {v:?}: expected an IPv4 address"))
                })?;
                b.host_binding = (!ip.is_unspecified()).then_some(ip);
            }
            k if k.starts_with("com.docker.network.") => {
                return Err(Error::invalid(format!(
                    "network option {k} is not supported"
                )));
            }
            _ => {} // free-form options are kept and shown, like labels
        }
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn bridge_options() {
        let id = new_id();
        let b = parse_bridge_options(&BTreeMap::new(), &id, 1500).unwrap();
        assert_eq!(b.name, format!("br-{}", &id[..12]));
        let mut o = BTreeMap::new();
        o.insert(opt::BRIDGE_NAME.to_string(), "mybr0".to_string());
        o.insert(opt::MTU.to_string(), "1400".to_string());
        o.insert(opt::MASQUERADE.to_string(), "false".to_string());
        o.insert("custom.key".to_string(), "x".to_string());
        let b = parse_bridge_options(&o, &id, 1500).unwrap();
        assert_eq!(
            (b.name.as_str(), b.mtu, b.masquerade),
            ("mybr0", 1400, false)
        );
        for (k, v) in [
            (opt::BRIDGE_NAME, "a-name-much-too-long"),
            (opt::MTU, "20"),
            (opt::MASQUERADE, "maybe"),
            (opt::ICC, "false"),
            (opt::HOST_BINDING, "::1"),
            ("com.docker.network.bridge.unknown", "1"),
        ] {
            let mut o = BTreeMap::new();
            o.insert(k.to_string(), v.to_string());
            assert!(parse_bridge_options(&o, &id, 1500).is_err(), "{k}={v}");
        }
    }
}
