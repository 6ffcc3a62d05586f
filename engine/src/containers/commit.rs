//! `POST /commit` (`docker commit`): a container's changes become a new image on top of
//! its own, with its config (and the request's overrides and `--change`s) as the image's.
//! A running container is paused while its changes are taken, unless told not to be.

use std::sync::Arc;

use berth_api::container::Config;
use berth_proto::v1;

use crate::containers::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::images::compose::{self, History, Layer, Lease, NewImage};
use crate::images::config_changes;
use crate::images::reference::normalize_new_name;

/// What the request asks for.
pub struct CommitOptions {
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    pub pause: bool,
    pub changes: Vec<String>,
    /// The request body: config fields that replace the container's.
    pub config: Option<Config>,
}

/// The image's config: the container's, with what the request sets on top (dockerd's
/// merge: set fields win, environment and labels are merged by key).
fn merged(container: &Config, over: Option<Config>) -> Config {
    let Some(o) = over else {
        return container.clone();
    };
    let mut c = container.clone();
    if !o.user.is_empty() {
        c.user = o.user;
    }
    if !o.working_dir.is_empty() {
        c.working_dir = o.working_dir;
    }
    if o.cmd.is_some() {
        c.cmd = o.cmd;
    }
    if o.entrypoint.is_some() {
        c.entrypoint = o.entrypoint;
    }
    if let Some(env) = o.env {
        let mut all = env.clone();
        for e in c.env.take().unwrap_or_default() {
            let key = e.split('=').next().unwrap_or_default();
            if !env.iter().any(|x| x.split('=').next() == Some(key)) {
                all.push(e);
            }
        }
        c.env = Some(all);
    }
    if let Some(l) = o.labels {
        c.labels.get_or_insert_with(Default::default).extend(l);
    }
    if let Some(p) = o.exposed_ports {
        c.exposed_ports
            .get_or_insert_with(Default::default)
            .extend(p);
    }
    if let Some(v) = o.volumes {
        c.volumes.get_or_insert_with(Default::default).extend(v);
    }
    if o.on_build.is_some() {
        c.on_build = o.on_build;
    }
    if o.healthcheck.is_some() {
        c.healthcheck = o.healthcheck;
    }
    if o.stop_signal.is_some() {
        c.stop_signal = o.stop_signal;
    }
    c
}

impl Engine {
    /// Commits the container; answers the new image's ID.
    pub async fn container_commit(&self, c: &Arc<Container>, o: CommitOptions) -> Result<String> {
        let name = normalize_new_name(&o.repo, &o.tag)?;
        let (container_config, parent) = c.with(|r| (r.config.clone(), r.image_id.clone()));
        let mut config = merged(&container_config, o.config);
        config_changes::apply(&mut config, &o.changes)?;
        let created_by = container_config
            .cmd
            .as_ref()
            .map(|c| c.0.join(" "))
            .unwrap_or_default();
        let _op = c.op.lock().await;
        let (running, paused) = c.with(|r| (r.state.running, r.state.paused));
        let pause = o.pause && running && !paused;
        if pause {
            self.shimd
                .tasks()
                .pause(v1::TaskRequest {
                    container_id: c.id.clone(),
                })
                .await
                .map_err(|s| Error::from(s).context(format!("pausing {} to commit it", c.id)))?;
        }
        let lease = Lease::new(&self.shimd, "commit").await?;
        let layer = Layer::from_snapshot(&self.shimd, &lease, &c.id).await;
        if pause {
            let resumed = self
                .shimd
                .tasks()
                .resume(v1::TaskRequest {
                    container_id: c.id.clone(),
                })
                .await;
            if let Err(s) = resumed {
                tracing::warn!(container = %c.id, "resuming after the commit: {}", s.message());
            }
        }
        let composed = match layer {
            Ok(layer) => {
                compose::compose(
                    &self.shimd,
                    &lease,
                    NewImage {
                        parent: (!parent.is_empty()).then_some(parent),
                        layer: Some(layer),
                        config,
                        history: History {
                            created_by,
                            comment: o.comment,
                            author: o.author,
                        },
                        container: Some((c.id.clone(), container_config)),
                        name: name.clone(),
                    },
                )
                .await
            }
            Err(e) => Err(e),
        };
        lease.finish(composed.is_ok()).await;
        let id = composed?;
        self.container_event_with(c, "commit", &[("comment", String::new())]);
        self.image_event("tag", &id, &crate::images::reference::familiar(&name));
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_wins_and_env_is_merged_by_key() {
        let base = Config {
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            cmd: Some(vec!["sh".to_string()].into()),
            user: "root".into(),
            ..Default::default()
        };
        let over = Config {
            env: Some(vec!["A=2".into()]),
            ..Default::default()
        };
        let c = merged(&base, Some(over));
        assert_eq!(c.env.unwrap(), vec!["A=2", "PATH=/bin"]);
        assert_eq!(c.cmd.unwrap().0, vec!["sh"]);
        assert_eq!(c.user, "root");
    }
}
