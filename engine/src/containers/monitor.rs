//! Watching running containers: one Tasks.Wait per running container. When it answers, the
//! exit is recorded, the task and network released, and then the restart policy (with
//! docker's backoff) or `AutoRemove` applies.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use berth_proto::v1;

use super::state::Refused;
use super::store::Container;
use crate::engine::Engine;

/// The first restart delay; it doubles with each restart, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run at least this long resets the delay.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Exit {
    pub code: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub oom_killed: bool,
    /// Set when the task was gone (e.g. the host rebooted while the engine was down).
    pub error: String,
}

impl Engine {
    /// Starts watching run `generation` of `c`.
    pub fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>, generation: u64) {
        let engine = self.clone();
        tokio::spawn(async move {
            let exit = engine.wait_task(&c.id).await;
            engine.handle_exit(&c, generation, exit).await;
        });
    }

    /// Waits for the container's init to exit, riding out shimd restarts.
    async fn wait_task(&self, id: &str) -> Exit {
        let mut backoff = Duration::from_millis(50);
        loop {
            match self
                .shimd
                .tasks()
                .wait(v1::WaitRequest {
                    container_id: id.to_string(),
                    exec_id: String::new(),
                })
                .await
            {
                Ok(r) => {
                    let r = r.into_inner();
                    return Exit {
                        code: r.exit_status as i64,
                        at: r
                            .exited_at
                            .and_then(|t| {
                                chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32)
                            })
                            .unwrap_or_else(chrono::Utc::now),
                        oom_killed: r.oom_killed,
                        error: String::new(),
                    };
                }
                Err(s) if s.code() == tonic::Code::NotFound => {
                    return Exit {
                        code: 255,
                        at: chrono::Utc::now(),
                        oom_killed: false,
                        error: "the container's task was lost (no shim holds it any more)".into(),
                    }
                }
                Err(s) => {
                    tracing::debug!(
                        container = id,
                        "waiting for the task: {}; retrying",
                        s.message()
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Records an exit, then applies `AutoRemove` or the restart policy.
    pub(crate) async fn handle_exit(
        self: &Arc<Self>,
        c: &Arc<Container>,
        generation: u64,
        exit: Exit,
    ) {
        if c.with(|r| r.state.generation != generation || !r.state.running) {
            return;
        }
        // The task and the network are released after the exit is recorded (waiters need
        // not wait for them); a start or a removal waits for this teardown to finish.
        let teardown = c.teardown.clone().lock_owned().await;
        {
            let engine = self.clone();
            let c = c.clone();
            self.releases.spawn(async move {
                let t = std::time::Instant::now();
                let task = async {
                    if c.task_alive.swap(false, Ordering::SeqCst) {
                        let _ = engine
                            .shimd
                            .tasks()
                            .delete(v1::DeleteTaskRequest {
                                container_id: c.id.clone(),
                                exec_id: String::new(),
                                force: true,
                            })
                            .await;
                    }
                };
                let net = async {
                    if c.net_attached.swap(false, Ordering::SeqCst) {
                        engine.networks.release(&c.id).await;
                    }
                };
                tokio::join!(task, net);
                engine.volumes_after_run(&c.id, &c.with(|r| r.mounts.clone()));
                tracing::debug!(container = %c.id, ms = t.elapsed().as_millis() as u64, "task and network of the run released");
                drop(teardown);
            });
        }
        let ran = c
            .with(|r| r.state.started_at)
            .map(|s| (exit.at - s).to_std().unwrap_or_default())
            .unwrap_or_default();
        // A container its policy restarts goes from running straight to restarting (one
        // update), as in dockerd: never seen "exited" between two runs.
        let restart = {
            let rec = c.record();
            !rec.state.removing && self.should_restart(&rec, exit.code)
        };
        let updated = c.try_update(|r| {
            r.state.exit(exit.code, exit.at, exit.oom_killed)?;
            if !exit.error.is_empty() {
                r.state.error = exit.error.clone();
            }
            // Not when a removal began meanwhile.
            if restart && !r.state.removing {
                r.state.begin_restart()?;
            }
            Ok::<_, Refused>(())
        });
        if let Err(e) = updated {
            tracing::error!(container = %c.id, "recording the exit: {e}");
        }
        self.health.stop(&c.id);
        self.execs.container_stopped(&c.id);
        c.notify_exit(exit.code, exit.error.clone());
        if exit.oom_killed {
            self.container_event(c, "oom");
        }
        self.container_event_with(c, "die", &[("exitCode", exit.code.to_string())]);

        let rec = c.record();
        if rec.state.removing {
            return;
        }
        if restart {
            let delay = {
                let mut b = c.restart_backoff.lock().unwrap_or_else(|p| p.into_inner());
                *b = if ran >= RESET_AFTER || b.is_zero() {
                    FIRST_BACKOFF
                } else {
                    (*b * 2).min(MAX_BACKOFF)
                };
                *b
            };
            self.schedule_restart(c.clone(), delay);
        } else if rec.host_config.auto_remove {
            let _op = c.op.lock().await;
            if let Err(e) = self.remove_locked(c, true, true).await {
                if e.kind != crate::error::Kind::NotFound {
                    tracing::warn!(container = %c.id, "auto-remove failed: {e}");
                }
            }
        }
    }

    fn should_restart(&self, rec: &super::model::Record, code: i64) -> bool {
        let p = &rec.host_config.restart_policy;
        if rec.state.manually_stopped {
            return false;
        }
        match p.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                code != 0
                    && (p.maximum_retry_count == 0 || rec.restart_count < p.maximum_retry_count)
            }
            _ => false,
        }
    }

    /// Restarts `c` after `delay` unless stopped or removed meanwhile.
    pub(crate) fn schedule_restart(self: &Arc<Self>, c: Arc<Container>, delay: Duration) {
        if c.try_update(|r| r.state.begin_restart()).is_err() {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let cancelled = tokio::select! {
                _ = tokio::time::sleep(delay) => false,
                _ = c.restart_cancel.notified() => true,
            };
            let _op = c.op.lock().await;
            let still = c.with(|r| r.state.restarting && !r.state.removing && !r.state.running);
            if cancelled || !still {
                return;
            }
            // The container stays "restarting" until it runs again (start clears the flag),
            // as dockerd shows it: never "exited" with the new count while it starts.
            let _ = c.update(|r| r.restart_count += 1);
            if let Err(e) = engine.start_locked(&c).await {
                tracing::warn!(container = %c.id, "restart failed: {e}");
                let _ = c.try_update(|r| r.state.cancel_restart());
                let code = c.with(|r| r.state.exit_code);
                let rec = c.record();
                c.notify_exit(code, e.message.clone());
                if engine.should_restart(&rec, code) {
                    let delay = {
                        let mut b = c.restart_backoff.lock().unwrap_or_else(|p| p.into_inner());
                        *b = (*b * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
                        *b
                    };
                    drop(_op);
                    engine.schedule_restart(c.clone(), delay);
                }
            }
        });
    }
}
