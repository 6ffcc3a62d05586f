//! A container's networks from start to stop: connect it to its networks, publish its
//! ports, write its /etc/hosts and /etc/resolv.conf, and report `NetworkSettings`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use berth_api::network::{EndpointSettings, NetworkSettings, PortBinding as ApiPortBinding};
use berth_api::networks::EndpointIpamConfig;
use berth_network::files::{DnsSettings, ExtraHost};
use berth_network::{EndpointInfo, EndpointRequest, MacAddr, PortSpec, SandboxSpec};

use super::{err, Networks};
use crate::containers::model::Record;
use crate::error::{Error, Result};

/// The network a `HostConfig.NetworkMode` names.
pub fn mode_network(network_mode: &str) -> &str {
    match network_mode {
        "" | "default" => berth_network::DEFAULT_NETWORK,
        m => m,
    }
}

/// The networks a container joins, in order: the one of its network mode first, then
/// the others of its endpoint configuration (`NetworkingConfig.EndpointsConfig`, kept in
/// `NetworkSettings.Networks` from create on).
pub fn requested(rec: &Record) -> Vec<(String, EndpointSettings)> {
    let first = mode_network(&rec.host_config.network_mode).to_string();
    let nets = &rec.network.networks;
    let mut out = vec![(first.clone(), nets.get(&first).cloned().unwrap_or_default())];
    for (name, s) in nets {
        if *name != first && !(first == "bridge" && name == "default") {
            out.push((name.clone(), s.clone()));
        }
    }
    out
}

fn ipv4_list(v: &Option<Vec<String>>, what: &str) -> Result<Vec<Ipv4Addr>> {
    v.as_deref()
        .unwrap_or(&[])
        .iter()
        .filter(|s| !s.contains(':')) // IPv6 servers are not reachable from containers
        .map(|s| {
            s.parse().map_err(|_| {
                Error::invalid(format!("invalid {what} {s:?}: expected an IP address"))
            })
        })
        .collect()
}

/// The publishing requests of `PortBindings` and, with `PublishAllPorts`, every exposed
/// port not bound otherwise (on a free host port).
pub fn port_specs(rec: &Record) -> Result<Vec<PortSpec>> {
    let hc = &rec.host_config;
    let mut specs = Vec::new();
    let bindings = hc.port_bindings.clone().unwrap_or_default();
    for (key, list) in &bindings {
        let list = list.clone().unwrap_or_default();
        if list.is_empty() {
            specs.push(PortSpec::from_api(key, "", "").map_err(err)?);
        }
        for b in list {
            specs.push(PortSpec::from_api(key, &b.host_ip, &b.host_port).map_err(err)?);
        }
    }
    if hc.publish_all_ports {
        for key in rec.config.exposed_ports.clone().unwrap_or_default().keys() {
            if !bindings.contains_key(key) {
                specs.push(PortSpec::from_api(key, "", "").map_err(err)?);
            }
        }
    }
    Ok(specs)
}

impl Networks {
    /// Connects the container (whose namespace is `netns`, `None` on the host network) to
    /// its networks, publishes its ports and writes its hosts and resolv.conf files. On
    /// failure everything made so far is released.
    pub async fn attach(&self, rec: &Record, netns: Option<&Path>) -> Result<NetworkSettings> {
        let r = self.attach_inner(rec, netns).await;
        if r.is_err() {
            self.detach(&rec.id).await;
        }
        r
    }

    async fn attach_inner(&self, rec: &Record, netns: Option<&Path>) -> Result<NetworkSettings> {
        let hc = &rec.host_config;
        let sandbox = SandboxSpec {
            container_id: rec.id.clone(),
            name: rec.short_name().to_string(),
            netns: netns.map(Path::to_path_buf).unwrap_or_default(),
            dns: ipv4_list(&hc.dns, "DNS server")?,
        };
        let mut infos = Vec::new();
        for (i, (name, s)) in requested(rec).into_iter().enumerate() {
            let ipam = EndpointIpamConfig::from_settings(&s).map_err(Error::invalid)?;
            let ip = match ipam.ipv4_address.as_str() {
                "" => None,
                a => Some(a.parse::<Ipv4Addr>().map_err(|_| {
                    Error::invalid(format!("invalid IPv4 address {a:?} for network {name}"))
                })?),
            };
            let mac_text = if !s.mac_address.is_empty() {
                s.mac_address.clone()
            } else if i == 0 {
                rec.config.mac_address.clone().unwrap_or_default()
            } else {
                String::new()
            };
            let mac = match mac_text.as_str() {
                "" => None,
                m => Some(m.parse::<MacAddr>().map_err(err)?),
            };
            let req = EndpointRequest {
                ip,
                mac,
                aliases: s.aliases.clone().unwrap_or_default(),
            };
            let info = self.ctl.connect(&sandbox, &name, req).await.map_err(err)?;
            infos.push((s, info));
        }
        let t = std::time::Instant::now();
        let bound = self
            .ctl
            .publish(&rec.id, &port_specs(rec)?)
            .await
            .map_err(err)?;
        let published_ms = t.elapsed().as_secs_f64() * 1000.0;
        if mode_network(&hc.network_mode) != berth_network::HOST_NETWORK {
            self.write_files(rec).await?;
        }
        tracing::debug!(
            container = %rec.id,
            published_ms,
            ms = t.elapsed().as_secs_f64() * 1000.0,
            "ports published, files written"
        );
        Ok(settings(rec, netns, &infos, &bound))
    }

    /// Writes the container's hosts and resolv.conf for its networks, in place (they are
    /// bind-mounted into the container).
    pub(crate) async fn write_files(&self, rec: &Record) -> Result<()> {
        let hc = &rec.host_config;
        let gateway = self.ctl.host_gateway().await;
        let extra = hc
            .extra_hosts
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|h| ExtraHost::parse(h, gateway).map_err(err))
            .collect::<Result<Vec<_>>>()?;
        // Legacy links' lines (`IP alias hostname name`) come after the extra hosts.
        let mut extra = extra;
        extra.extend(rec.link_hosts.iter().filter_map(|l| {
            Some(ExtraHost {
                name: l.names.clone(),
                ip: l.ip.parse().ok()?,
            })
        }));
        let hosts = self
            .ctl
            .hosts(
                &rec.id,
                &rec.config.hostname,
                &rec.config.domainname,
                &extra,
            )
            .await;
        let dns = DnsSettings {
            servers: ipv4_list(&hc.dns, "DNS server")?,
            search: hc.dns_search.clone().unwrap_or_default(),
            options: hc.dns_options.clone().unwrap_or_default(),
        };
        let resolv = self.ctl.resolv_conf(&rec.id, &dns).await.map_err(err)?;
        for (path, text) in [(&rec.hosts_path, hosts), (&rec.resolv_conf_path, resolv)] {
            std::fs::write(path, text)
                .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))?;
        }
        Ok(())
    }

    /// Releases everything of the container (addresses, veths, ports, DNS). Idempotent.
    pub async fn detach(&self, id: &str) {
        if let Err(e) = self.ctl.release(id).await {
            tracing::warn!(container = %id, "releasing its networks: {e}");
        }
    }
}

/// The container's `NetworkSettings`: one entry per network, the default bridge's also
/// at the top level (docker's legacy fields), the port map with exposed and published ports.
pub fn settings(
    rec: &Record,
    netns: Option<&Path>,
    infos: &[(EndpointSettings, EndpointInfo)],
    bound: &[berth_network::PortBinding],
) -> NetworkSettings {
    let mut s = NetworkSettings {
        sandbox_id: rec.id.clone(),
        sandbox_key: netns.map(|p| p.display().to_string()).unwrap_or_default(),
        ..Default::default()
    };
    for (req, info) in infos {
        let e = settings_entry(req, info);
        if info.network_name == berth_network::DEFAULT_NETWORK {
            s.endpoint_id = e.endpoint_id.clone();
            s.gateway = e.gateway.clone();
            s.ip_address = e.ip_address.clone();
            s.ip_prefix_len = e.ip_prefix_len;
            s.mac_address = e.mac_address.clone();
        }
        s.networks.insert(info.network_name.clone(), e);
    }
    s.ports = port_map(rec, bound);
    s
}

/// The `NetworkSettings.Networks` entry of one connection.
pub fn settings_entry(req: &EndpointSettings, info: &EndpointInfo) -> EndpointSettings {
    EndpointSettings {
        ipam_config: req.ipam_config.clone(),
        links: req.links.clone(),
        aliases: Some(info.aliases.clone()).filter(|a| !a.is_empty()),
        mac_address: info.mac.map(|m| m.to_string()).unwrap_or_default(),
        driver_opts: req.driver_opts.clone(),
        network_id: info.network_id.clone(),
        endpoint_id: info.endpoint_id.clone(),
        gateway: info.gateway.map(|g| g.to_string()).unwrap_or_default(),
        ip_address: info.ip.map(|i| i.to_string()).unwrap_or_default(),
        ip_prefix_len: i64::from(info.prefix_len),
        dns_names: Some(info.dns_names.clone()).filter(|d| !d.is_empty()),
        ..Default::default()
    }
}

/// `NetworkSettings.Ports`: every exposed or bound port, with its host bindings (`null`
/// when not published).
fn port_map(
    rec: &Record,
    bound: &[berth_network::PortBinding],
) -> BTreeMap<String, Option<Vec<ApiPortBinding>>> {
    let mut m: BTreeMap<String, Option<Vec<ApiPortBinding>>> = BTreeMap::new();
    for k in rec.config.exposed_ports.clone().unwrap_or_default().keys() {
        m.insert(normalize_key(k), None);
    }
    for b in bound {
        m.entry(b.key())
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(ApiPortBinding {
                host_ip: b.host_ip.to_string(),
                host_port: b.host_port.to_string(),
            });
    }
    m
}

/// `80` → `80/tcp`.
fn normalize_key(k: &str) -> String {
    if k.contains('/') {
        k.to_string()
    } else {
        format!("{k}/tcp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::container::Empty;

    fn rec(json_hc: &str) -> Record {
        Record {
            id: "c".repeat(64),
            name: "/web".into(),
            host_config: serde_json::from_str(json_hc).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn requested_networks_start_with_the_mode() {
        let mut r = rec(r#"{"NetworkMode":"front"}"#);
        r.network
            .networks
            .insert("back".into(), EndpointSettings::default());
        r.network.networks.insert(
            "front".into(),
            EndpointSettings {
                aliases: Some(vec!["www".into()]),
                ..Default::default()
            },
        );
        let got = requested(&r);
        assert_eq!(
            got.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            vec!["front", "back"]
        );
        assert_eq!(got[0].1.aliases, Some(vec!["www".to_string()]));
        assert_eq!(
            requested(&rec(r#"{"NetworkMode":"default"}"#))[0].0,
            "bridge"
        );
    }

    #[test]
    fn port_specs_from_bindings_and_publish_all() {
        let mut r = rec(
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],"53/udp":null},"PublishAllPorts":true}"#,
        );
        let mut exposed = BTreeMap::new();
        exposed.insert("80/tcp".to_string(), Empty {});
        exposed.insert("443/tcp".to_string(), Empty {});
        r.config.exposed_ports = Some(exposed);
        let specs = port_specs(&r).unwrap();
        assert_eq!(specs.len(), 3);
        assert!(specs
            .iter()
            .any(|s| s.container_port == 443 && s.host_port_start == 0));
        assert!(specs
            .iter()
            .any(|s| s.container_port == 80 && s.host_port_start == 8080));
        let bound = vec![berth_network::PortBinding {
            container_port: 80,
            proto: berth_network::Proto::Tcp,
            host_ip: Ipv4Addr::LOCALHOST,
            host_port: 8080,
        }];
        let m = port_map(&r, &bound);
        assert_eq!(m["80/tcp"].as_ref().unwrap()[0].host_port, "8080");
        assert_eq!(m["443/tcp"], None);
        let bad = rec(r#"{"PortBindings":{"80/tcp":[{"HostPort":"x"}]}}"#);
        assert!(port_specs(&bad).is_err());
    }
}
