//! `network connect|disconnect` of containers: a running container is connected at once
//! (veth, address, DNS, its hosts and resolv.conf rewritten); a stopped one keeps the
//! endpoint configuration in its record and joins at its next start.

use std::sync::Arc;

use berth_api::network::EndpointSettings;
use berth_api::networks::EndpointIpamConfig;
use berth_network::{EndpointRequest, MacAddr, SandboxSpec};

use super::attach::settings_entry;
use super::err;
use crate::containers::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};

impl Engine {
    /// A network event (`network create|destroy|connect|disconnect`).
    pub fn network_event(&self, id: &str, name: &str, action: &str, container: Option<&str>) {
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert("name".to_string(), name.to_string());
        attrs.insert("type".to_string(), "bridge".to_string());
        if let Some(c) = container {
            attrs.insert("container".to_string(), c.to_string());
        }
        self.events.publish("network", action, id, attrs);
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(
        self: &Arc<Self>,
        c: &Arc<Container>,
        network: &str,
        cfg: EndpointSettings,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        let view = self.networks.ctl.network(network).await.map_err(err)?;
        let name = view.network.name.clone();
        let rec = c.record();
        if rec.host_config.network_mode == "host" || rec.host_config.network_mode == "none" {
            return Err(Error::invalid(format!(
                "container {} is on the {} network, which cannot be combined with others",
                rec.short_name(),
                rec.host_config.network_mode
            )));
        }
        if rec.network.networks.contains_key(&name)
            && (rec.state.running || !view.network.predefined)
        {
            return Err(Error::conflict(format!(
                "endpoint with name {} already exists in network {name}",
                rec.short_name()
            )));
        }
        if !rec.state.running {
            // Joins at the next start.
            c.update(|r| {
                r.network.networks.insert(name.clone(), cfg.clone());
            })?;
            self.network_event(&view.network.id, &name, "connect", Some(&c.id));
            return Ok(());
        }
        let ipam = EndpointIpamConfig::from_settings(&cfg).map_err(Error::invalid)?;
        let req = EndpointRequest {
            ip: match ipam.ipv4_address.as_str() {
                "" => None,
                a => Some(
                    a.parse()
                        .map_err(|_| Error::invalid(format!("invalid IPv4 address {a:?}")))?,
                ),
            },
            mac: match cfg.mac_address.as_str() {
                "" => None,
                m => Some(m.parse::<MacAddr>().map_err(err)?),
            },
            aliases: cfg.aliases.clone().unwrap_or_default(),
        };
        let sandbox = SandboxSpec {
            container_id: c.id.clone(),
            name: rec.short_name().to_string(),
            netns: super::netns_file(&self.settings.exec_root, &c.id),
            dns: Vec::new(),
        };
        let info = self
            .networks
            .ctl
            .connect(&sandbox, &name, req)
            .await
            .map_err(err)?;
        c.update(|r| {
            r.network
                .networks
                .insert(name.clone(), settings_entry(&cfg, &info));
        })?;
        self.networks.write_files(&c.record()).await?;
        self.network_event(&view.network.id, &name, "connect", Some(&c.id));
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(
        self: &Arc<Self>,
        c: &Arc<Container>,
        network: &str,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        let view = self.networks.ctl.network(network).await.map_err(err)?;
        let name = view.network.name.clone();
        let rec = c.record();
        if !rec.network.networks.contains_key(&name) {
            return Err(Error::not_found(format!(
                "container {} is not connected to network {name}",
                rec.short_name()
            )));
        }
        if rec.state.running {
            self.networks
                .ctl
                .disconnect(&c.id, &name)
                .await
                .map_err(err)?;
        }
        c.update(|r| {
            r.network.networks.remove(&name);
            if name == berth_network::DEFAULT_NETWORK {
                r.network.ip_address.clear();
                r.network.gateway.clear();
                r.network.ip_prefix_len = 0;
                r.network.mac_address.clear();
                r.network.endpoint_id.clear();
            }
        })?;
        if rec.state.running {
            self.networks.write_files(&c.record()).await?;
        }
        self.network_event(&view.network.id, &name, "disconnect", Some(&c.id));
        Ok(())
    }
}

impl Engine {
    /// Checks at create that the networks a container asks for exist (404 otherwise).
    pub async fn check_networks(
        &self,
        network_mode: &str,
        endpoints: &std::collections::BTreeMap<String, EndpointSettings>,
    ) -> Result<()> {
        let first = super::mode_network(network_mode);
        let all = std::iter::once(first).chain(endpoints.keys().map(|k| super::mode_network(k)));
        for name in all {
            self.networks.ctl.network(name).await.map_err(err)?;
        }
        Ok(())
    }

    /// After a restart: the network controller learns which containers still run; what
    /// belonged to the others is released, nothing is doubled.
    pub async fn reconcile_networks(&self) -> Result<()> {
        let live: Vec<berth_network::LiveContainer> = self
            .containers
            .list()
            .into_iter()
            .filter_map(|c| {
                c.with(|r| {
                    r.state.running.then(|| berth_network::LiveContainer {
                        container_id: r.id.clone(),
                        netns: super::netns_file(&self.settings.exec_root, &r.id),
                    })
                })
            })
            .collect();
        let report = self.networks.ctl.reconcile(&live).await.map_err(err)?;
        if report.removed_endpoints > 0 || !report.removed_links.is_empty() {
            tracing::info!(
                endpoints = report.removed_endpoints,
                links = ?report.removed_links,
                "network reconcile removed what belonged to stopped containers"
            );
        }
        Ok(())
    }
}
