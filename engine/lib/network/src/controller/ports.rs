//! Published ports of containers.

use crate::error::{Error, Result};
use crate::ports::{PortBinding, PortSpec};

use super::views::*;
use super::*;

impl NetworkController {
    /// Publishes a container's ports (replacing earlier ones) on the host: reserves the host
    /// ports and adds DNAT rules to its address on its first non-internal bridge network.
    /// A container on no such network publishes nothing (like docker with `host`/`none`).
    pub async fn publish(
        &self,
        container_id: &str,
        specs: &[PortSpec],
    ) -> Result<Vec<PortBinding>> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let Some(sb) = inner.state.sandboxes.get(container_id).cloned() else {
            return Err(Error::invalid(format!(
                "cannot publish ports of container {container_id}: it is not connected to a network"
            )));
        };
        if specs.is_empty() && sb.port_specs.is_empty() && sb.ports.is_empty() {
            return Ok(Vec::new()); // nothing published before or now: nothing to write
        }
        let Some(gw) = gateway_endpoint(&inner.state, container_id) else {
            if !specs.is_empty() {
                tracing::warn!(container = %sb.name, "published ports are discarded: the container is on no network with outside access");
            }
            return Ok(Vec::new());
        };
        let default_ip = inner.state.networks[&gw.network_id]
            .bridge
            .as_ref()
            .and_then(|b| b.host_binding);
        for b in &sb.ports {
            inner.ports.release(b);
        }
        let mut bound = Vec::new();
        for s in specs {
            let mut s = *s;
            if s.host_ip.is_none() {
                s.host_ip = default_ip;
            }
            match inner.ports.reserve(&s) {
                Ok(b) => bound.push(b),
                Err(e) => {
                    for b in &bound {
                        inner.ports.release(b);
                    }
                    for b in &sb.ports {
                        let _ = inner.ports.hold_binding(b);
                    }
                    return Err(e);
                }
            }
        }
        let rec = inner
            .state
            .sandboxes
            .get_mut(container_id)
            .expect("checked");
        rec.port_specs = specs.to_vec();
        rec.ports = bound.clone();
        let r = self
            .save(&inner.state)
            .and_then(|_| self.apply_rules(&inner.state));
        if let Err(e) = r {
            for b in &bound {
                inner.ports.release(b);
            }
            let rec = inner
                .state
                .sandboxes
                .get_mut(container_id)
                .expect("checked");
            rec.port_specs.clear();
            rec.ports.clear();
            let _ = self.save(&inner.state);
            return Err(e);
        }
        Ok(bound)
    }

    /// The ports published for a container.
    pub async fn ports(&self, container_id: &str) -> Vec<PortBinding> {
        let inner = self.inner.lock().await;
        inner
            .state
            .sandboxes
            .get(container_id)
            .map(|s| s.ports.clone())
            .unwrap_or_default()
    }
}
