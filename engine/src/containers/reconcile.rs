//! Start-up: the engine's records against what shimd still has. Running containers stay
//! running (their exits are now watched), exits that happened while the engine was away are
//! recorded and their restart policies applied, stopped containers whose policy says so start
//! again, and leftovers of interrupted operations go.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use berth_proto::v1;

use super::model::Record;
use crate::engine::Engine;
use crate::error::Result;

/// Whether a stopped container starts when the daemon does, as dockerd decides it: one that
/// ran before, with policy `always` (even if the user stopped it), `unless-stopped` (unless
/// the user stopped it) or `on-failure` (after a failure, retries left).
fn starts_with_the_daemon(rec: &Record) -> bool {
    let p = &rec.host_config.restart_policy;
    if rec.state.started_at.is_none() {
        return false;
    }
    match p.name.as_str() {
        "always" => true,
        "unless-stopped" => !rec.state.manually_stopped,
        "on-failure" => {
            rec.state.exit_code != 0
                && (p.maximum_retry_count == 0 || rec.restart_count < p.maximum_retry_count)
        }
        _ => false,
    }
}

impl Engine {
    pub async fn reconcile(self: &Arc<Self>) -> Result<()> {
        let tasks: HashMap<String, v1::Process> = self
            .shimd
            .tasks()
            .list(v1::ListTasksRequest { filters: vec![] })
            .await?
            .into_inner()
            .tasks
            .into_iter()
            .filter(|t| t.exec_id.is_empty())
            .map(|t| (t.container_id.clone(), t))
            .collect();
        let mut known = HashSet::new();
        for c in self.containers.list() {
            let st = c.with(|r| r.state.clone());
            if st.removing {
                // A removal was interrupted: finish it. What this engine never attached
                // (its namespace) goes below with the other leftovers of unknown ids.
                let _ = c.try_update(|r| r.state.abort_removal());
                if let Err(e) = self.container_remove(&c, true).await {
                    tracing::warn!(container = %c.id, "finishing an interrupted removal: {e}");
                    known.insert(c.id.clone());
                }
                continue;
            }
            known.insert(c.id.clone());
            if st.running {
                if let Some(t) = tasks.get(&c.id) {
                    let paused = t.status == v1::TaskStatus::Paused as i32;
                    let _ = c.try_update(|r| match (paused, r.state.paused) {
                        (true, false) => r.state.pause(),
                        (false, true) => r.state.unpause(),
                        _ => Ok(()),
                    });
                }
                // Wait answers at once for a task that already exited, and NotFound for
                // one that is gone; either way the exit is processed like any other.
                self.spawn_monitor(c.clone(), st.generation);
                if !c.with(|r| r.state.paused) {
                    self.health_resume(&c, st.generation);
                }
                continue;
            }
            if tasks.contains_key(&c.id) {
                // A task from a start that never got recorded.
                let _ = self
                    .shimd
                    .tasks()
                    .delete(v1::DeleteTaskRequest {
                        container_id: c.id.clone(),
                        exec_id: String::new(),
                        force: true,
                    })
                    .await;
            }
            self.networks.release(&c.id).await;
            if st.restarting {
                self.schedule_restart(c.clone(), Duration::from_millis(100));
            } else if starts_with_the_daemon(&c.record()) {
                // Started as `docker start` would (restart count reset), in the background.
                let engine = self.clone();
                let c = c.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.container_start(&c).await {
                        tracing::warn!(container = %c.id, "starting at daemon start: {e}");
                    }
                });
            }
        }
        // What creates interrupted before their record was written left: containers and
        // writable snapshots in shimd, and directories here, under ids the engine has no
        // record of.
        let mut unfinished: HashSet<String> =
            self.containers.unrecorded_dirs().into_iter().collect();
        let theirs = self
            .shimd
            .containers()
            .list(v1::ListContainersRequest { filters: vec![] })
            .await?
            .into_inner()
            .containers;
        unfinished.extend(theirs.into_iter().map(|sc| sc.id));
        let snapshots = self
            .shimd
            .snapshots()
            .list(v1::ListSnapshotsRequest { filters: vec![] })
            .await?
            .into_inner()
            .infos;
        unfinished.extend(
            snapshots
                .into_iter()
                .filter(|s| s.kind == v1::SnapshotKind::Active as i32 && is_container_id(&s.name))
                .map(|s| s.name),
        );
        for id in unfinished.into_iter().filter(|id| !known.contains(id)) {
            tracing::info!(container = %id, "removing what an interrupted create left");
            self.remove_unfinished_create(&id).await;
        }
        // Namespaces made for creates that got no further.
        self.networks.remove_orphan_netns(&known).await;
        Ok(())
    }

    /// Removes everything a create may have made for `id` before it was recorded.
    async fn remove_unfinished_create(&self, id: &str) {
        let _ = super::release::release(&self.shimd, id, super::release::Held::ALL).await;
        self.networks.release(id).await;
        let _ = std::fs::remove_dir_all(self.containers.dir_of(id));
    }
}

/// A container ID as the engine makes them: 64 lowercase hex digits.
fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
