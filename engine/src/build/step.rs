//! Containers of the steps that change files, made as `docker run` makes them (same
//! create/start path, same shimd tasks), and the step images committed from them or
//! from a config alone.
//!
//! A RUN step's container runs the command with the step's environment, user, working
//! directory and network; its output goes to the build's stream as it comes. COPY, ADD
//! and WORKDIR containers are never started: their rootfs is written through its mount.

use std::sync::Arc;

use berth_api::container::{Config, CreateRequest, HostConfig};
use berth_api::stdcopy::Demux;
use tokio_stream::StreamExt;

use super::stream::Out;
use crate::containers::create::Purpose;
use crate::containers::logs::LogsOptions;
use crate::containers::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::images::compose::{self, History, Layer, Lease, NewImage};

/// What a step image is made of.
pub struct StepImage {
    pub parent: Option<String>,
    /// The step's container, with its config.
    pub container: Option<(String, Config)>,
    /// Whether the container's changes are the image's new layer (not for config-only
    /// steps, recorded as `empty_layer`).
    pub layer: bool,
    pub config: Config,
    pub created_by: String,
    pub author: String,
    /// The shimd name (see [`super::cache::name`]).
    pub name: String,
}

/// How a RUN step's container ended.
pub enum RunEnd {
    /// It ran, and exited with this code.
    Exited(i64),
    /// It could not start (e.g. no `/bin/sh` on `scratch`): the runtime's error.
    NotStarted(Error),
}

impl Engine {
    /// A container for a step: `config` on `image`, not started.
    pub async fn build_container(
        self: &Arc<Self>,
        image: &str,
        mut config: Config,
        network_mode: &str,
    ) -> Result<Arc<Container>> {
        config.image = image.to_string();
        let created = self
            .container_create_for(
                None,
                CreateRequest {
                    config,
                    host_config: Some(HostConfig {
                        network_mode: network_mode.to_string(),
                        ..Default::default()
                    }),
                    networking_config: None,
                },
                Purpose::BuildStep,
            )
            .await?;
        self.container(&created.id)
    }

    /// Removes a step's container and everything it holds, its anonymous volumes (of the
    /// image's VOLUMEs) included, as dockerd's builder removes them.
    pub async fn build_remove(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        self.container_remove_with(c, true, true).await
    }

    /// Runs a RUN step's container to its end, its output sent to `out`; answers how it
    /// ended. A client that hangs up kills it (an error).
    pub async fn build_run(self: &Arc<Self>, c: &Arc<Container>, out: &Out) -> Result<RunEnd> {
        let exited = self.container_wait(c, "next-exit")?;
        if let Err(e) = self.container_start(c).await {
            return Ok(RunEnd::NotStarted(e));
        }
        let logs = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            since: None,
            until: None,
            tail: None,
            timestamps: false,
        };
        let (_tty, rx) = self.container_logs(c, logs).await?;
        let mut frames = tokio_stream::wrappers::ReceiverStream::new(rx);
        let mut demux = Demux::default();
        while let Some(chunk) = frames.next().await {
            demux.push(&chunk);
            while let Some((_, data)) = demux.next_frame() {
                let text = String::from_utf8_lossy(&data).into_owned();
                if let Err(e) = out.text(text).await {
                    let _ = self.container_kill(c, &c.id, "KILL").await;
                    return Err(e);
                }
            }
        }
        let status = tokio::select! {
            s = exited => s,
            _ = out.closed() => {
                let _ = self.container_kill(c, &c.id, "KILL").await;
                return Err(Error::invalid("the client closed the connection: build canceled"));
            }
        };
        if let Some(e) = status.error {
            return Err(Error::internal(e.message));
        }
        Ok(RunEnd::Exited(status.status_code))
    }

    /// Names `name` an image without layers: a step on `scratch` needs a container, whose
    /// rootfs is then an empty snapshot. Answers its ID.
    pub async fn build_empty_base(&self, name: String) -> Result<String> {
        let lease = Lease::new(&self.shimd, "build").await?;
        let composed = compose::compose(
            &self.shimd,
            &lease,
            NewImage {
                parent: None,
                layer: None,
                config: Config::default(),
                history: History::default(),
                container: None,
                name,
            },
        )
        .await;
        lease.finish(composed.is_ok()).await;
        composed
    }

    /// Commits a step image (with the container's changes as its layer, if any); answers
    /// its ID.
    pub async fn build_commit(&self, s: StepImage) -> Result<String> {
        let lease = Lease::new(&self.shimd, "build").await?;
        let layer = match &s.container {
            Some((id, _)) if s.layer => Layer::from_snapshot(&self.shimd, &lease, id)
                .await
                .map(Some),
            _ => Ok(None),
        };
        let composed = match layer {
            Ok(layer) => {
                compose::compose(
                    &self.shimd,
                    &lease,
                    NewImage {
                        parent: s.parent,
                        layer,
                        config: s.config,
                        history: History {
                            created_by: s.created_by,
                            comment: String::new(),
                            author: s.author,
                        },
                        container: s.container,
                        name: s.name,
                    },
                )
                .await
            }
            Err(e) => Err(e),
        };
        lease.finish(composed.is_ok()).await;
        composed
    }
}
