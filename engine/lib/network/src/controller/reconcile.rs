//! Recovery after a crash or restart.

use std::collections::HashMap;

use crate::error::Result;
use crate::model::{Driver, EndpointRecord, LiveContainer, ReconcileReport};
use crate::netlink::{self, with_netlink};
use crate::state::State;

use super::*;

impl NetworkController {
    /// Brings kernel objects and records in line after a restart: endpoints of containers
    /// that are not in `live` are removed with their veths and addresses; live containers
    /// get their DNS server and port reservations back; links on berth's bridges that no
    /// record knows, and berth bridges of networks that are gone, are deleted; the rules are
    /// rewritten whole (so nothing is doubled).
    pub async fn reconcile(&self, live: &[LiveContainer]) -> Result<ReconcileReport> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let mut report = ReconcileReport::default();
        let alive: HashMap<&str, &LiveContainer> =
            live.iter().map(|l| (l.container_id.as_str(), l)).collect();

        // Containers that are gone, or whose endpoints are broken.
        let known: Vec<String> = inner.state.sandboxes.keys().cloned().collect();
        let host_links = with_netlink(self.host_ns.as_ref(), |h| async move {
            netlink::links(&h).await
        })
        .await?;
        for cid in known {
            let mut healthy = false;
            if let Some(l) = alive.get(cid.as_str()) {
                // A container on the host network has no namespace of its own.
                let on_host = inner.state.endpoints_of_container(&cid).all(|e| {
                    inner.state.networks.get(&e.network_id).map(|n| n.driver) == Some(Driver::Host)
                });
                healthy = (on_host || self.sandbox_netns(inner, &cid, &l.netns).is_ok())
                    && inner
                        .state
                        .endpoints_of_container(&cid)
                        .all(|e| veth_on_bridge(&inner.state, e, &host_links));
                if let Some(sb) = inner.state.sandboxes.get_mut(&cid) {
                    sb.netns = l.netns.clone();
                }
            }
            if healthy {
                continue;
            }
            report.removed_endpoints += inner.state.endpoints_of_container(&cid).count();
            self.release_locked(inner, &cid).await?;
        }
        // Endpoints without a container record (a crash between the two writes).
        let orphans: Vec<EndpointRecord> = inner
            .state
            .endpoints
            .iter()
            .filter(|e| !inner.state.sandboxes.contains_key(&e.container_id))
            .cloned()
            .collect();
        for ep in &orphans {
            report.removed_endpoints += 1;
            self.remove_endpoint(inner, ep).await?;
        }

        // Links nobody knows: ports of berth bridges, bridges marked as berth's.
        let wanted_veths: Vec<String> = inner
            .state
            .endpoints
            .iter()
            .filter_map(|e| e.host_veth.clone())
            .collect();
        let bridges: Vec<String> = inner
            .state
            .networks
            .values()
            .filter_map(|n| n.bridge.as_ref().map(|b| b.name.clone()))
            .collect();
        let alias = self.bridge_alias();
        let links = with_netlink(self.host_ns.as_ref(), |h| async move {
            netlink::links(&h).await
        })
        .await?;
        let bridge_index: Vec<u32> = links
            .iter()
            .filter(|l| bridges.contains(&l.name))
            .map(|l| l.index)
            .collect();
        for l in &links {
            let stray_port = l.controller.is_some_and(|c| bridge_index.contains(&c))
                && !wanted_veths.contains(&l.name);
            let stray_bridge =
                l.alias.as_deref() == Some(alias.as_str()) && !bridges.contains(&l.name);
            if stray_port || stray_bridge {
                self.delete_host_link(&l.name).await;
                report.removed_links.push(l.name.clone());
            }
        }

        // Live containers: DNS servers and port reservations again.
        let cids: Vec<String> = inner.state.sandboxes.keys().cloned().collect();
        for cid in cids {
            let ports = inner.state.sandboxes[&cid].ports.clone();
            for b in &ports {
                if let Err(e) = inner.ports.hold_binding(b) {
                    tracing::warn!(container = %cid, "published port {}:{} could not be held again: {e}", b.host_ip, b.host_port);
                }
            }
            if let Err(e) = self.refresh_dns(inner, &cid).await {
                tracing::warn!(container = %cid, "embedded DNS not restored: {e}");
            }
            report.restored_containers += 1;
        }
        self.save(&inner.state)?;
        self.rewrite_rules(&inner.state)?;
        Ok(report)
    }
}

pub(super) fn veth_on_bridge(st: &State, e: &EndpointRecord, links: &[netlink::LinkInfo]) -> bool {
    let Some(v) = &e.host_veth else {
        return true; // host and none networks have no link
    };
    let Some(b) = st
        .networks
        .get(&e.network_id)
        .and_then(|n| n.bridge.as_ref())
    else {
        return false;
    };
    let Some(bridge) = links.iter().find(|l| l.name == b.name) else {
        return false;
    };
    links
        .iter()
        .any(|l| &l.name == v && l.controller == Some(bridge.index))
}
