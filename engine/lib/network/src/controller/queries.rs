//! What the engine asks about containers: their connections and generated files.

use std::net::Ipv4Addr;

use crate::error::Result;
use crate::files::{self, DnsSettings, ExtraHost, ResolvConf};
use crate::model::EndpointInfo;

use super::views::*;
use super::*;

impl NetworkController {
    /// A container's connections, in the order they were made.
    pub async fn endpoints(&self, container_id: &str) -> Vec<EndpointInfo> {
        let inner = self.inner.lock().await;
        inner
            .state
            .endpoints_of_container(container_id)
            .map(|e| endpoint_info(&inner.state, e))
            .collect()
    }

    /// Follows a container rename in the records and the DNS.
    pub async fn rename(&self, container_id: &str, new_name: &str) -> Result<()> {
        let mut inner = self.inner.lock().await;
        if let Some(sb) = inner.state.sandboxes.get_mut(container_id) {
            sb.name = new_name.to_string();
            self.save(&inner.state)?;
        }
        self.names
            .write()
            .expect("names lock")
            .rename(container_id, new_name);
        Ok(())
    }

    /// The gateway of the default bridge (what `host-gateway` in `--add-host` stands for).
    pub async fn host_gateway(&self) -> Option<Ipv4Addr> {
        let inner = self.inner.lock().await;
        inner
            .state
            .networks
            .values()
            .find(|n| n.is_default_bridge())
            .and_then(|n| n.pool.as_ref().map(|p| p.gateway))
    }

    /// `/etc/resolv.conf` for a container, given its current networks.
    pub async fn resolv_conf(&self, container_id: &str, dns: &DnsSettings) -> Result<String> {
        let embedded = {
            let inner = self.inner.lock().await;
            let st = &inner.state;
            let any = st
                .endpoints_of_container(container_id)
                .any(|e| st.networks[&e.network_id].has_dns());
            any
        };
        let host = ResolvConf::read(&self.cfg.resolv_conf)?;
        let mut dns = dns.clone();
        if dns.servers.is_empty() {
            dns.servers = self.cfg.dns.clone();
        }
        Ok(files::resolv_conf(&host, &dns, embedded))
    }

    /// `/etc/hosts` for a container, given its current addresses.
    pub async fn hosts(
        &self,
        container_id: &str,
        hostname: &str,
        domainname: &str,
        extra: &[ExtraHost],
    ) -> String {
        let addrs: Vec<Ipv4Addr> = {
            let inner = self.inner.lock().await;
            let v = inner
                .state
                .endpoints_of_container(container_id)
                .filter_map(|e| e.ip)
                .collect();
            v
        };
        files::hosts(hostname, domainname, &addrs, extra)
    }
}
