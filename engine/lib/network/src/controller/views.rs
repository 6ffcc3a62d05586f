//! The state seen from outside: endpoint and network views, the rules it calls for.

use crate::dns::{short_id, DnsEntry};
use crate::model::{Driver, EndpointInfo, EndpointRecord, Network};
use crate::nft::{RuleNetwork, RulePort, Ruleset};
use crate::state::State;

use super::*;

/// The rules the state calls for.
pub(super) fn rules_of(st: &State) -> Ruleset {
    let mut r = Ruleset::default();
    for n in st.networks.values() {
        if let (Some(b), Some(p)) = (&n.bridge, &n.pool) {
            r.networks.push(RuleNetwork {
                tag: if n.predefined {
                    n.name.clone()
                } else {
                    n.short_id().to_string()
                },
                bridge: b.name.clone(),
                subnet: p.subnet,
                internal: n.internal,
                masquerade: b.masquerade,
            });
        }
    }
    for sb in st.sandboxes.values() {
        let Some(ip) = gateway_endpoint(st, &sb.container_id).and_then(|e| e.ip) else {
            continue;
        };
        for b in &sb.ports {
            r.ports.push(RulePort {
                tag: short_id(&sb.container_id).to_string(),
                binding: *b,
                container_ip: ip,
            });
        }
    }
    r
}

/// The endpoint published ports lead to: the first on a non-internal bridge network.
pub(super) fn gateway_endpoint<'a>(st: &'a State, cid: &'a str) -> Option<&'a EndpointRecord> {
    st.endpoints_of_container(cid).find(|e| {
        let n = &st.networks[&e.network_id];
        n.driver == Driver::Bridge && !n.internal && e.ip.is_some()
    })
}

pub(super) fn container_name(st: &State, cid: &str) -> String {
    st.sandboxes
        .get(cid)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| short_id(cid).to_string())
}

pub(super) fn dns_entry(st: &State, ep: &EndpointRecord) -> Option<DnsEntry> {
    let n = st.networks.get(&ep.network_id)?;
    if !n.has_dns() {
        return None;
    }
    Some(DnsEntry {
        container_id: ep.container_id.clone(),
        name: container_name(st, &ep.container_id),
        aliases: ep.aliases.clone(),
        ip: ep.ip?,
    })
}

pub(super) fn endpoint_info(st: &State, ep: &EndpointRecord) -> EndpointInfo {
    let n = &st.networks[&ep.network_id];
    let pool = n.pool.as_ref();
    EndpointInfo {
        endpoint_id: ep.id.clone(),
        network_id: n.id.clone(),
        network_name: n.name.clone(),
        container_id: ep.container_id.clone(),
        container_name: container_name(st, &ep.container_id),
        ip: ep.ip,
        prefix_len: if ep.ip.is_some() {
            pool.map(|p| p.subnet.prefix()).unwrap_or(0)
        } else {
            0
        },
        gateway: if ep.ip.is_some() {
            pool.map(|p| p.gateway)
        } else {
            None
        },
        mac: ep.mac,
        interface: ep.interface.clone(),
        aliases: ep.aliases.clone(),
        dns_names: dns_entry(st, ep).map(|e| e.names()).unwrap_or_default(),
        requested_ip: ep.requested_ip,
    }
}

pub(super) fn view_of(st: &State, n: &Network) -> NetworkView {
    NetworkView {
        network: n.clone(),
        endpoints: st
            .endpoints_of_network(&n.id)
            .map(|e| endpoint_info(st, e))
            .collect(),
    }
}
