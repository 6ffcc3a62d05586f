//! The embedded DNS server of each container, started and stopped with its user networks.

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::dns::server::{self as dns_server, ServerContext};
use crate::error::Result;
use crate::files::{self, ResolvConf};
use crate::model::{Driver, EndpointRecord};

use super::*;

impl NetworkController {
    /// Starts, updates or stops the container's DNS server to match its networks.
    pub(super) async fn refresh_dns(&self, inner: &mut Inner, cid: &str) -> Result<()> {
        let st = &inner.state;
        let eps: Vec<&EndpointRecord> = st.endpoints_of_container(cid).collect();
        let user_nets: Vec<String> = eps
            .iter()
            .filter(|e| st.networks[&e.network_id].has_dns())
            .map(|e| e.network_id.clone())
            .collect();
        let forward = eps.iter().any(|e| {
            let n = &st.networks[&e.network_id];
            n.driver == Driver::Bridge && !n.internal
        });
        let dns = st
            .sandboxes
            .get(cid)
            .map(|s| s.dns.clone())
            .unwrap_or_default();
        let Some(live) = inner.live.get_mut(cid) else {
            return Ok(());
        };
        {
            let mut v = live.view.write().expect("view lock");
            v.networks = user_nets.clone();
            v.forward = forward;
        }
        if user_nets.is_empty() {
            if let Some(mut s) = live.dns.take() {
                s.stop();
            }
            return Ok(());
        }
        if live.dns.is_some() {
            return Ok(());
        }
        let Some(ns) = live.netns.clone() else {
            return Ok(());
        };
        let upstreams = self.upstreams(&dns)?;
        let server = dns_server::start(ServerContext {
            table: self.names.clone(),
            view: live.view.clone(),
            upstreams: Arc::new(upstreams),
            container_ns: ns,
            host_ns: self.host_ns.clone(),
        })
        .await?;
        live.dns = Some(server);
        Ok(())
    }

    /// Sets a container's legacy link aliases on its user networks, each (network name or
    /// id, alias, target name): from this container only, the alias resolves to the
    /// target's address on that network. Kept until the container's networks are released.
    pub async fn set_link_aliases(&self, cid: &str, links: &[(String, String, String)]) {
        let inner = self.inner.lock().await;
        let resolved: Vec<(String, String, String)> = links
            .iter()
            .filter_map(|(net, alias, target)| {
                let n = inner.state.find_network(net).ok()?;
                Some((n.id.clone(), alias.clone(), target.clone()))
            })
            .collect();
        if let Some(live) = inner.live.get(cid) {
            live.view.write().expect("view lock").links = resolved;
        }
    }

    /// Where the embedded DNS forwards: the container's `--dns`, else the daemon's, else
    /// the host's resolvers (loopback ones included: they are asked from the host's
    /// namespace), else docker's public fallback.
    pub(super) fn upstreams(
        &self,
        container_dns: &[Ipv4Addr],
    ) -> Result<Vec<std::net::SocketAddr>> {
        let ips: Vec<Ipv4Addr> = if !container_dns.is_empty() {
            container_dns.to_vec()
        } else if !self.cfg.dns.is_empty() {
            self.cfg.dns.clone()
        } else {
            let host = ResolvConf::read(&self.cfg.resolv_conf)?;
            let v4: Vec<Ipv4Addr> = host
                .nameservers
                .iter()
                .filter_map(|ip| match ip {
                    std::net::IpAddr::V4(v) => Some(*v),
                    _ => None,
                })
                .collect();
            if v4.is_empty() {
                files::FALLBACK_NAMESERVERS.to_vec()
            } else {
                v4
            }
        };
        Ok(ips.into_iter().map(|ip| (ip, 53).into()).collect())
    }
}
