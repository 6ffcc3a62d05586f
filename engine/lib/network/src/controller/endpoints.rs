//! Connecting containers to networks and disconnecting them.

use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};

use crate::dns::server::ContainerView;
use crate::dns::short_id;
use crate::error::{Error, Result};
use crate::mac::MacAddr;
use crate::model::{
    check_name, new_id, random_hex, Driver, EndpointInfo, EndpointRecord, EndpointRequest, Network,
    SandboxRecord, SandboxSpec,
};
use crate::netlink::{self, with_netlink, with_netlink_pair, VethConfig};
use crate::netns::Netns;

use super::views::*;
use super::*;

impl NetworkController {
    /// Connects a container to a network: an address from the pool, a veth pair into its
    /// namespace (the default route via the first non-internal network), its names in the
    /// network's DNS.
    pub async fn connect(
        &self,
        sandbox: &SandboxSpec,
        network: &str,
        req: EndpointRequest,
    ) -> Result<EndpointInfo> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let n = inner.state.find_network(network)?.clone();
        let cid = sandbox.container_id.clone();
        let cname = if sandbox.name.is_empty() {
            short_id(&cid).to_string()
        } else {
            sandbox.name.clone()
        };
        if inner
            .state
            .endpoints_of_container(&cid)
            .any(|e| e.network_id == n.id)
        {
            return Err(Error::AlreadyConnected {
                container: cname,
                network: n.name,
            });
        }
        let others: Vec<Driver> = inner
            .state
            .endpoints_of_container(&cid)
            .map(|e| inner.state.networks[&e.network_id].driver)
            .collect();
        let exclusive = |d: Driver| matches!(d, Driver::Host | Driver::Null);
        if !others.is_empty() && (exclusive(n.driver) || others.iter().any(|d| exclusive(*d))) {
            return Err(Error::invalid(format!(
                "container {cname} cannot be on network {} and other networks: host and none networks are exclusive",
                n.name
            )));
        }
        for a in &req.aliases {
            check_name("alias", a)?;
        }
        if n.is_default_bridge() || n.driver != Driver::Bridge {
            if req.ip.is_some() {
                return Err(Error::invalid(format!(
                    "user specified IP address is supported on user defined networks only (not on {})",
                    n.name
                )));
            }
            if !req.aliases.is_empty() {
                return Err(Error::invalid(format!(
                    "network-scoped alias is supported only for containers in user defined networks (not on {})",
                    n.name
                )));
            }
        }
        if req.mac.is_some() && n.driver != Driver::Bridge {
            return Err(Error::invalid(format!(
                "a MAC address cannot be set on network {}",
                n.name
            )));
        }
        let sb = inner
            .state
            .sandboxes
            .entry(cid.clone())
            .or_insert_with(|| SandboxRecord {
                container_id: cid.clone(),
                name: cname.clone(),
                netns: sandbox.netns.clone(),
                dns: sandbox.dns.clone(),
                port_specs: Vec::new(),
                ports: Vec::new(),
            });
        sb.name = cname.clone();
        sb.netns = sandbox.netns.clone();
        sb.dns = sandbox.dns.clone();
        let r = self
            .connect_locked(inner, &n, &cid, &cname, sandbox, req)
            .await;
        if r.is_err() {
            forget_if_unused(inner, &cid);
        }
        r
    }

    pub(super) async fn connect_locked(
        &self,
        inner: &mut Inner,
        n: &Network,
        cid: &str,
        cname: &str,
        sandbox: &SandboxSpec,
        req: EndpointRequest,
    ) -> Result<EndpointInfo> {
        let cid = cid.to_string();
        let t = std::time::Instant::now();
        let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1000.0;
        let mut ep = EndpointRecord {
            id: new_id(),
            network_id: n.id.clone(),
            container_id: cid.clone(),
            ip: None,
            requested_ip: req.ip,
            mac: None,
            host_veth: None,
            interface: None,
            aliases: req.aliases.clone(),
        };
        match n.driver {
            Driver::Host => {}
            Driver::Null => {
                let ns = self.sandbox_netns(inner, &cid, &sandbox.netns)?;
                with_netlink(Some(&ns), |h| async move { netlink::loopback_up(&h).await }).await?;
            }
            Driver::Bridge => {
                let ns = self.sandbox_netns(inner, &cid, &sandbox.netns)?;
                let pool = inner
                    .state
                    .networks
                    .get_mut(&n.id)
                    .and_then(|n| n.pool.as_mut())
                    .expect("bridge networks have a pool");
                let ip = match req.ip {
                    Some(ip) => pool.allocate_specific(ip, &n.name)?,
                    None => pool.allocate(&n.name)?,
                };
                let (prefix, gateway) = (pool.subnet.prefix(), pool.gateway);
                ep.ip = Some(ip);
                ep.mac = Some(req.mac.unwrap_or_else(|| MacAddr::from_ipv4(ip)));
                ep.host_veth = Some(format!("veth{}", random_hex(7)));
                ep.interface = Some(free_interface(&inner.state, &cid));
                // Written ahead: after a crash, reconcile knows this veth may exist.
                inner.state.endpoints.push(ep.clone());
                let attached = async {
                    self.save(&inner.state)?;
                    let saved_ms = ms(t);
                    let iface = self.attach(n, &ep, &ns, prefix, gateway).await?;
                    tracing::debug!(container = %cname, saved_ms, ms = ms(t), "veth connected");
                    Ok::<String, Error>(iface)
                }
                .await;
                match attached {
                    Err(e) => {
                        self.undo_endpoint(inner, &ep).await;
                        return Err(e);
                    }
                    // The container had an interface of that name already (rare): the
                    // record says which one it got.
                    Ok(iface) if ep.interface.as_deref() != Some(iface.as_str()) => {
                        ep.interface = Some(iface);
                        inner.state.endpoints.retain(|e| e.id != ep.id);
                        inner.state.endpoints.push(ep.clone());
                        if let Err(e) = self.save(&inner.state) {
                            self.undo_endpoint(inner, &ep).await;
                            return Err(e);
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
        if n.driver != Driver::Bridge {
            inner.state.endpoints.push(ep.clone());
            if let Err(e) = self.save(&inner.state) {
                self.undo_endpoint(inner, &ep).await;
                return Err(e);
            }
        }
        if let Some(entry) = dns_entry(&inner.state, &ep) {
            self.names
                .write()
                .expect("names lock")
                .add(&n.id, &n.name, entry);
        }
        if let Err(e) = self.refresh_dns(inner, &cid).await {
            self.undo_endpoint(inner, &ep).await;
            let _ = self.refresh_dns(inner, &cid).await;
            return Err(e);
        }
        if n.driver == Driver::Bridge {
            // The container may now have a gateway network for its published ports.
            self.apply_rules(&inner.state)?;
        }
        tracing::info!(container = %cname, network = %n.name, ip = ?ep.ip, ms = ms(t), "connected");
        Ok(endpoint_info(&inner.state, &ep))
    }

    /// The handle on a container's namespace, opened once and kept while it is connected.
    pub(super) fn sandbox_netns(
        &self,
        inner: &mut Inner,
        cid: &str,
        path: &std::path::Path,
    ) -> Result<Netns> {
        if let Some(ns) = inner.live.get(cid).and_then(|l| l.netns.clone()) {
            if ns.path() == path {
                return Ok(ns);
            }
        }
        let ns = Netns::open(path)?;
        let live = inner
            .live
            .entry(cid.to_string())
            .or_insert_with(|| LiveSandbox {
                netns: None,
                view: Arc::new(RwLock::new(ContainerView::default())),
                dns: None,
            });
        live.netns = Some(ns.clone());
        Ok(ns)
    }

    /// Creates the veth pair and configures the container's end; returns its interface name.
    pub(super) async fn attach(
        &self,
        n: &Network,
        ep: &EndpointRecord,
        ns: &Netns,
        prefix: u8,
        gateway: Ipv4Addr,
    ) -> Result<String> {
        let b = n.bridge.as_ref().expect("bridge network");
        let cfg = VethConfig {
            host_name: ep.host_veth.clone().expect("veth name"),
            bridge: b.name.clone(),
            mtu: b.mtu,
            ns_fd: ns.raw_fd(),
            name: ep.interface.clone().expect("interface name"),
            mac: ep.mac.expect("mac").bytes(),
            ip: ep.ip.expect("ip"),
            prefix,
            default_gateway: (!n.internal).then_some(gateway),
        };
        // The namespace's descriptor must stay open while the request uses it.
        let held = ns.clone();
        with_netlink_pair(self.host_ns.as_ref(), ns, move |host, ctr| async move {
            let r = netlink::connect_veth(&host, &ctr, &cfg).await;
            drop(held);
            r
        })
        .await
    }

    /// Removes what `connect` made for `ep`: veth, address, record, DNS names.
    pub(super) async fn undo_endpoint(&self, inner: &mut Inner, ep: &EndpointRecord) {
        if let Some(v) = &ep.host_veth {
            self.delete_host_link(v).await;
        }
        if let (Some(ip), Some(pool)) = (
            ep.ip,
            inner
                .state
                .networks
                .get_mut(&ep.network_id)
                .and_then(|n| n.pool.as_mut()),
        ) {
            pool.release(ip);
        }
        inner.state.endpoints.retain(|e| e.id != ep.id);
        self.names
            .write()
            .expect("names lock")
            .remove(&ep.network_id, &ep.container_id);
        if let Err(e) = self.save(&inner.state) {
            tracing::warn!("{e}");
        }
    }

    /// Disconnects a container from a network: its veth, address and names go.
    pub async fn disconnect(&self, container_id: &str, network: &str) -> Result<()> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let n = inner.state.find_network(network)?.clone();
        let Some(ep) = inner
            .state
            .endpoints_of_container(container_id)
            .find(|e| e.network_id == n.id)
            .cloned()
        else {
            return Err(Error::NotConnected {
                container: container_name(&inner.state, container_id),
                network: n.name,
            });
        };
        self.remove_endpoint(inner, &ep).await?;
        self.refresh_dns(inner, container_id).await?;
        self.apply_rules(&inner.state)?;
        tracing::info!(container = %container_id, network = %n.name, "disconnected");
        Ok(())
    }

    pub(super) async fn remove_endpoint(
        &self,
        inner: &mut Inner,
        ep: &EndpointRecord,
    ) -> Result<()> {
        if let Some(v) = ep.host_veth.clone() {
            with_netlink(self.host_ns.as_ref(), move |h| async move {
                netlink::delete_link(&h, &v).await
            })
            .await?;
        }
        self.undo_endpoint(inner, ep).await;
        Ok(())
    }

    /// Everything of a container goes: endpoints, published ports, DNS server, records.
    /// Called when the container stops or is removed. Unknown containers are fine.
    pub async fn release(&self, container_id: &str) -> Result<()> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        self.release_locked(inner, container_id).await?;
        self.apply_rules(&inner.state)
    }

    pub(super) async fn release_locked(&self, inner: &mut Inner, cid: &str) -> Result<()> {
        let eps: Vec<EndpointRecord> = inner.state.endpoints_of_container(cid).cloned().collect();
        for ep in &eps {
            self.remove_endpoint(inner, ep).await?;
        }
        if let Some(sb) = inner.state.sandboxes.remove(cid) {
            for b in &sb.ports {
                inner.ports.release(b);
            }
        }
        if let Some(mut live) = inner.live.remove(cid) {
            if let Some(mut s) = live.dns.take() {
                s.stop();
            }
        }
        self.save(&inner.state)
    }
}

/// The first `ethN` none of the container's endpoints has.
fn free_interface(st: &crate::state::State, cid: &str) -> String {
    let used: Vec<&str> = st
        .endpoints_of_container(cid)
        .filter_map(|e| e.interface.as_deref())
        .collect();
    (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !used.contains(&n.as_str()))
        .expect("some ethN is free")
}

/// Drops the records of a container that has neither endpoints nor ports (after a failed
/// first connect).
pub(super) fn forget_if_unused(inner: &mut Inner, cid: &str) {
    let unused = inner.state.endpoints_of_container(cid).next().is_none()
        && inner
            .state
            .sandboxes
            .get(cid)
            .is_none_or(|s| s.ports.is_empty());
    if unused {
        inner.state.sandboxes.remove(cid);
        if let Some(mut l) = inner.live.remove(cid) {
            if let Some(mut s) = l.dns.take() {
                s.stop();
            }
        }
    }
}
