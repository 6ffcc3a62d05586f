//! The engine: everything the API handlers work with.

use crate::config::Settings;
use crate::containers::store::Store;
use crate::events::Bus;
use crate::execs::Execs;
use crate::images::Cache;
use crate::shimd::Shimd;

pub struct Engine {
    pub settings: Settings,
    pub shimd: Shimd,
    pub containers: Store,
    pub execs: Execs,
    /// Health check monitors of running containers.
    pub health: crate::containers::health::Monitors,
    pub images: Cache,
    pub events: Bus,
    pub networks: crate::networks::Networks,
    pub volumes: crate::volumes::Volumes,
    /// A stable id of this engine (kept in `<data-root>/engine-id`).
    pub id: String,
    /// Work that releases what a container held (its task, network, snapshot, files) after
    /// the client already has its answer. A shutdown lets it finish (briefly) rather than
    /// leave a task or a mounted rootfs for the next start to clean.
    pub releases: tokio_util::task::TaskTracker,
}

impl Engine {
    /// Publishes a container event with docker's attributes: name, image and the labels.
    pub fn container_event(&self, c: &crate::containers::store::Container, action: &str) {
        self.container_event_with(c, action, &[]);
    }

    pub fn container_event_with(
        &self,
        c: &crate::containers::store::Container,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let attrs = c.with(|r| {
            let mut a: std::collections::BTreeMap<String, String> = r
                .config
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            a.insert("name".into(), r.short_name().to_string());
            a.insert("image".into(), r.image_ref.clone());
            a
        });
        let mut attrs = attrs;
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events.publish("container", action, &c.id, attrs);
    }

    pub fn image_event(&self, action: &str, id: &str, name: &str) {
        let mut attrs = std::collections::BTreeMap::new();
        if !name.is_empty() {
            attrs.insert("name".to_string(), name.to_string());
        }
        self.events.publish("image", action, id, attrs);
    }
}
