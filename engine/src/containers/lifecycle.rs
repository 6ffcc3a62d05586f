//! Start, stop, kill, restart, pause, wait, remove, rename and resize.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use berth_api::container::WaitResponse;
use berth_proto::v1;

use super::attach;
use super::signals;
use super::state::Refused;
use super::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Kind, Result};
use crate::networks::Mode;

/// How long to wait for a SIGKILLed container to be reported gone.
const KILL_WAIT: Duration = Duration::from_secs(30);

fn not_running(c: &Container) -> Error {
    Error::conflict(format!("Container {} is not running", c.id))
}

/// The docker CLI tells "command not found" (127) and "cannot run" (126) from other start
/// failures (125) by docker's lowercase wording; the runtime's message is completed with it
/// when it says the same in other words.
fn docker_wording(message: &str, code: i64) -> String {
    match code {
        127 if !message.contains("no such file or directory")
            && !message.contains("executable file not found") =>
        {
            format!("{message}: no such file or directory")
        }
        126 if !message.contains("permission denied") => format!("{message}: permission denied"),
        _ => message.to_string(),
    }
}

/// Exit code and message docker reports for a container whose start failed.
fn start_failure(message: &str) -> i64 {
    let m = message.to_ascii_lowercase();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        127
    } else if m.contains("permission denied") {
        126
    } else {
        128
    }
}

impl Engine {
    /// `POST /containers/{id}/start`.
    pub async fn container_start(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let _op = c.op.lock().await;
        // A start by the user begins the restart policy afresh, as on dockerd.
        if !c.with(|r| r.state.running) {
            c.update(|r| r.restart_count = 0)?;
            *c.restart_backoff.lock().unwrap_or_else(|p| p.into_inner()) = Duration::ZERO;
        }
        let r = self.start_locked(c).await;
        if let Err(e) = &r {
            // As with dockerd, a container that was to be removed when done goes when its
            // start fails (a client waiting for its removal is answered).
            if e.kind != Kind::NotModified
                && c.with(|r| r.host_config.auto_remove && !r.state.running)
            {
                let _ = self.remove_locked(c, true, true).await;
            }
        }
        r
    }

    /// Starts a container; the caller holds its operation lock.
    pub(crate) async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let rec = c.record();
        if rec.state.removing {
            return Err(Error::conflict(format!(
                "container {} is marked for removal and cannot be started",
                c.id
            )));
        }
        if rec.state.paused {
            return Err(Error::conflict(
                "cannot start a paused container, try unpause instead",
            ));
        }
        if rec.state.running {
            return Err(Error::not_modified());
        }
        let mode = Mode::parse(&rec.host_config.network_mode)?;
        let (log_max_size, log_max_files) = self.log_rotation(&rec.host_config)?;
        // The previous run's task and network must be gone before this one starts.
        let _teardown = c.teardown.lock().await;
        if c.task_alive.swap(false, Ordering::SeqCst) {
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
        let fail = |e: Error| async move {
            self.volumes_after_run(&c.id, &c.with(|r| r.mounts.clone()));
            if c.net_attached.swap(false, Ordering::SeqCst) {
                self.networks.release(&c.id).await;
            }
            // Attach requests waiting for this start end with it.
            let pending =
                std::mem::take(&mut *c.pending_attach.lock().unwrap_or_else(|p| p.into_inner()));
            for p in pending {
                let _ = p.reply.send(Err(Error::new(e.kind, e.message.clone())));
            }
            let code = start_failure(&e.message);
            let _ = c.update(|r| r.state.record_start_failure(code, e.message.clone()));
            let kind = if code == 127 || code == 126 {
                Kind::InvalidParameter
            } else {
                e.kind
            };
            Err(Error::new(kind, docker_wording(&e.message, code)))
        };
        if let Err(e) = self.volumes_before_start(&c.id, &rec.mounts) {
            return fail(e).await;
        }
        if let Err(e) = self.apply_links(c).await {
            return fail(e).await;
        }
        // With its links' variables and hosts lines.
        let rec = c.record();
        let t = std::time::Instant::now();
        c.net_attached.store(true, Ordering::SeqCst);
        if let Err(e) = self.networks.prepare(&c.id, mode).await {
            return fail(e).await;
        }
        let driver = if rec.host_config.log_config.kind.is_empty() {
            self.settings.log_driver.clone()
        } else {
            rec.host_config.log_config.kind.clone()
        };
        // The runtime only needs the namespace to exist: the task is created while the
        // namespace is connected to its networks; the process starts once both are done.
        let mut tasks = self.shimd.tasks();
        let create = tasks.create(v1::CreateTaskRequest {
            container_id: c.id.clone(),
            rootfs: vec![],
            terminal: rec.config.tty,
            stdin: rec.config.open_stdin,
            log_path: rec.log_path.display().to_string(),
            log_max_size,
            log_max_files,
            no_log: driver == "none",
            no_pivot: false,
            no_new_keyring: false,
        });
        tracing::debug!(container = %c.id, ms = t.elapsed().as_millis() as u64, "start: namespace ready");
        // On a task of its own, so the network's work never holds up the task's.
        let connect = {
            let engine = self.clone();
            let rec = rec.clone();
            tokio::spawn(async move { engine.networks.connect(&rec, mode).await })
        };
        let (created, connected) = tokio::join!(create, connect);
        let connected = connected
            .unwrap_or_else(|e| Err(Error::internal(format!("connecting the network: {e}"))));
        tracing::debug!(container = %c.id, ms = t.elapsed().as_millis() as u64, "start: task created, network connected");
        if created.is_ok() {
            c.task_alive.store(true, Ordering::SeqCst);
        }
        let settings = match (created, connected) {
            (Ok(_), Ok(s)) => s,
            // The network's failure is the one to report (a port taken, say), even if the
            // task failed too.
            (Err(_), Err(e)) => return fail(e).await,
            (Err(s), Ok(_)) => {
                return fail(Error::from(s)).await;
            }
            (Ok(_), Err(e)) => {
                c.task_alive.store(false, Ordering::SeqCst);
                let _ = self
                    .shimd
                    .tasks()
                    .delete(v1::DeleteTaskRequest {
                        container_id: c.id.clone(),
                        exec_id: String::new(),
                        force: true,
                    })
                    .await;
                return fail(e).await;
            }
        };
        self.apply_link_aliases(&rec).await;
        // Attach requests that came before the start get the output from the first byte.
        let pending: Vec<attach::Pending> =
            std::mem::take(&mut *c.pending_attach.lock().unwrap_or_else(|p| p.into_inner()));
        let connects = pending
            .into_iter()
            .filter(|p| !p.reply.is_closed())
            .map(|p| {
                let shimd = self.shimd.clone();
                async move {
                    let r = attach::connect(&shimd, p.open, p.requests).await;
                    let _ = p.reply.send(r);
                }
            });
        futures::future::join_all(connects).await;
        tracing::debug!(container = %c.id, ms = t.elapsed().as_millis() as u64, "start: attached");
        let started = self
            .shimd
            .tasks()
            .start(v1::StartRequest {
                container_id: c.id.clone(),
                exec_id: String::new(),
            })
            .await;
        let pid = match started {
            Ok(r) => r.into_inner().pid,
            Err(s) => {
                c.task_alive.store(false, Ordering::SeqCst);
                let _ = self
                    .shimd
                    .tasks()
                    .delete(v1::DeleteTaskRequest {
                        container_id: c.id.clone(),
                        exec_id: String::new(),
                        force: true,
                    })
                    .await;
                return fail(Error::from(s)).await;
            }
        };
        tracing::debug!(container = %c.id, ms = t.elapsed().as_millis() as u64, "start: started");
        let generation = c.try_update(|r| {
            let generation = r.state.start(pid, chrono::Utc::now())?;
            r.network = settings;
            if super::health::command(&r.config).is_some() {
                r.health = Some(super::health::reset(r.health.take()));
            }
            Ok::<_, Refused>(generation)
        })?;
        self.spawn_monitor(c.clone(), generation);
        self.health_on_start(c, generation);
        self.container_event(c, "start");
        self.update_linkers_of(c).await;
        Ok(())
    }

    /// Log rotation from the container's log options, else the daemon's.
    fn log_rotation(&self, hc: &berth_api::container::HostConfig) -> Result<(i64, u32)> {
        let opt = |k: &str| {
            hc.log_config
                .config
                .get(k)
                .or_else(|| self.settings.log_opts.get(k))
                .cloned()
        };
        let size = match opt("max-size") {
            // As docker's json-file driver reads it: decimal multiples ("10m" is 10 MB).
            Some(s) => berth_gocompat::units::from_human_size(&s)
                .map_err(|e| Error::invalid(format!("invalid log opt max-size: {e}")))?,
            None => 0,
        };
        let files = match opt("max-file") {
            Some(f) => f
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| Error::invalid(format!("invalid log opt max-file: {f:?}")))?,
            None => 1,
        };
        Ok((size, files))
    }

    /// `POST /containers/{id}/stop`.
    pub async fn container_stop(
        &self,
        c: &Arc<Container>,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        self.stop_locked(c, timeout, signal).await
    }

    pub(crate) async fn stop_locked(
        &self,
        c: &Arc<Container>,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let mut rx = c.subscribe();
        let seen = rx.borrow().exits;
        let rec = c.record();
        if rec.state.restarting {
            c.try_update(|r| {
                r.state.cancel_restart()?;
                r.state.manually_stopped = true;
                Ok::<_, Refused>(())
            })?;
            c.restart_cancel.notify_waiters();
            return Ok(());
        }
        if !rec.state.running {
            return Err(Error::not_modified());
        }
        let sig = match signal
            .filter(|s| !s.is_empty())
            .or(rec.config.stop_signal.as_deref())
        {
            Some(s) => signals::parse(s)?,
            None => libc::SIGTERM,
        };
        let timeout = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        c.update(|r| r.state.manually_stopped = true)?;
        let exited = |rx: &mut tokio::sync::watch::Receiver<super::store::ExitNotice>| {
            let mut rx = rx.clone();
            async move { rx.wait_for(|n| n.exits > seen || n.removed).await.is_ok() }
        };
        if let Err(e) = self.signal(c, sig).await {
            // The process ended just before the signal (its exit not yet recorded): the
            // container is stopping anyway.
            if tokio::time::timeout(Duration::from_secs(2), exited(&mut rx))
                .await
                .unwrap_or(false)
            {
                self.container_event(c, "stop");
                return Ok(());
            }
            return Err(e);
        }
        let graceful = if timeout < 0 {
            exited(&mut rx).await
        } else {
            tokio::time::timeout(Duration::from_secs(timeout as u64), exited(&mut rx))
                .await
                .unwrap_or(false)
        };
        if !graceful {
            // An error here most likely means it ended meanwhile: the wait below tells.
            let _ = self.signal(c, libc::SIGKILL).await;
            if !tokio::time::timeout(KILL_WAIT, exited(&mut rx))
                .await
                .unwrap_or(false)
            {
                return Err(Error::internal(format!(
                    "container {} did not stop after SIGKILL",
                    c.id
                )));
            }
        }
        self.container_event(c, "stop");
        Ok(())
    }

    /// Sends `sig` to the container's init, thawing a paused container so the signal is
    /// acted on. (Without a PID namespace of its own, the rest of the container is killed
    /// by its shim when the init exits, as the init of a PID namespace takes everything
    /// with it.)
    async fn signal(&self, c: &Container, sig: i32) -> Result<()> {
        self.shimd
            .tasks()
            .kill(v1::KillRequest {
                container_id: c.id.clone(),
                exec_id: String::new(),
                signal: sig as u32,
                all: false,
            })
            .await
            .map_err(Error::from)?;
        if c.with(|r| r.state.paused) {
            let _ = self
                .shimd
                .tasks()
                .resume(v1::TaskRequest {
                    container_id: c.id.clone(),
                })
                .await;
            // Unless its exit was recorded meanwhile.
            c.try_update(|r| match r.state.paused {
                true => r.state.unpause(),
                false => Ok(()),
            })?;
        }
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub async fn container_kill(
        &self,
        c: &Arc<Container>,
        reference: &str,
        signal: &str,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        let sig = if signal.is_empty() {
            libc::SIGKILL
        } else {
            signals::parse(signal)?
        };
        let rec = c.record();
        if !rec.state.running {
            return Err(Error::conflict(format!(
                "Cannot kill container: {reference}: Container {} is not running",
                c.id
            )));
        }
        let stop_sig = rec
            .config
            .stop_signal
            .as_deref()
            .map(signals::parse)
            .transpose()?
            .unwrap_or(libc::SIGTERM);
        if sig == libc::SIGKILL || sig == stop_sig {
            // A container the user killed is not restarted by its policy.
            c.update(|r| r.state.manually_stopped = true)?;
        }
        let mut rx = c.subscribe();
        let seen = rx.borrow().exits;
        let sent = self.signal(c, sig).await;
        if sig != libc::SIGKILL {
            sent?;
            self.container_event_with(c, "kill", &[("signal", sig.to_string())]);
            return Ok(());
        }
        // As dockerd does, a SIGKILL is answered once the container has stopped, so
        // `docker kill x && docker rm x` works. A failed signal most likely means the
        // process had just ended: its exit tells.
        let wait = if sent.is_ok() {
            KILL_WAIT
        } else {
            Duration::from_secs(2)
        };
        let stopped = tokio::time::timeout(wait, rx.wait_for(|n| n.exits > seen || n.removed))
            .await
            .is_ok_and(|r| r.is_ok());
        match (sent, stopped) {
            (Err(e), false) => Err(e),
            (Ok(()), false) => Err(Error::internal(format!(
                "container {} did not stop after SIGKILL",
                c.id
            ))),
            (_, true) => {
                self.container_event_with(c, "kill", &[("signal", sig.to_string())]);
                Ok(())
            }
        }
    }

    /// `POST /containers/{id}/restart`.
    pub async fn container_restart(
        self: &Arc<Self>,
        c: &Arc<Container>,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        match self.stop_locked(c, timeout, signal).await {
            Ok(()) => {}
            Err(e) if e.kind == Kind::NotModified => {}
            Err(e) => return Err(e),
        }
        // The exit is processed by the monitor; wait for it to finish before starting again.
        let mut rx = c.subscribe();
        let _ =
            tokio::time::timeout(KILL_WAIT, rx.wait_for(|_| !c.with(|r| r.state.running))).await;
        self.start_locked(c).await?;
        self.container_event(c, "restart");
        Ok(())
    }

    /// `POST /containers/{id}/pause`.
    pub async fn container_pause(&self, c: &Arc<Container>) -> Result<()> {
        let _op = c.op.lock().await;
        let st = c.with(|r| r.state.clone());
        if !st.running {
            return Err(not_running(c));
        }
        if st.paused {
            return Err(Error::conflict(format!(
                "Container {} is already paused",
                c.id
            )));
        }
        self.shimd
            .tasks()
            .pause(v1::TaskRequest {
                container_id: c.id.clone(),
            })
            .await
            .map_err(Error::from)?;
        c.try_update(|r| r.state.pause())?;
        self.health.stop(&c.id);
        self.container_event(c, "pause");
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn container_unpause(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let _op = c.op.lock().await;
        if !c.with(|r| r.state.paused) {
            return Err(Error::conflict(format!("Container {} is not paused", c.id)));
        }
        self.shimd
            .tasks()
            .resume(v1::TaskRequest {
                container_id: c.id.clone(),
            })
            .await
            .map_err(Error::from)?;
        c.try_update(|r| r.state.unpause())?;
        self.health_resume(c, c.with(|r| r.state.generation));
        self.container_event(c, "unpause");
        Ok(())
    }

    /// `POST /containers/{id}/wait`: the registration happens at once; the future resolves
    /// when the condition holds.
    pub fn container_wait(
        &self,
        c: &Arc<Container>,
        condition: &str,
    ) -> Result<impl std::future::Future<Output = WaitResponse> + Send + 'static> {
        let mut rx = c.subscribe();
        let seen = rx.borrow().exits;
        let state = c.with(|r| r.state.clone());
        let cond = match condition {
            "" | "not-running" => 0,
            "next-exit" => 1,
            "removed" => 2,
            other => {
                return Err(Error::invalid(format!(
                    "invalid condition: \"{other}\" (use not-running, next-exit or removed)"
                )))
            }
        };
        let immediate = cond == 0 && !state.running && !state.restarting;
        Ok(async move {
            let n = if immediate {
                rx.borrow().clone()
            } else {
                let r = rx
                    .wait_for(|n| match cond {
                        2 => n.removed,
                        _ => n.exits > seen || n.removed,
                    })
                    .await
                    .map(|n| n.clone());
                match r {
                    Ok(n) => n,
                    Err(_) => rx.borrow().clone(),
                }
            };
            let exit_code = if immediate {
                state.exit_code
            } else {
                n.exit_code
            };
            WaitResponse {
                status_code: exit_code,
                error: (!n.error.is_empty() && !immediate).then(|| {
                    berth_api::container::WaitError {
                        message: n.error.clone(),
                    }
                }),
            }
        })
    }

    /// `DELETE /containers/{id}`: everything is released before the answer.
    pub async fn container_remove(self: &Arc<Self>, c: &Arc<Container>, force: bool) -> Result<()> {
        self.container_remove_with(c, force, false).await
    }

    /// `DELETE /containers/{id}?v=1`: with `volumes`, its anonymous volumes go too.
    pub async fn container_remove_with(
        self: &Arc<Self>,
        c: &Arc<Container>,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let _op = c.op.lock().await;
        self.remove_locked_with(c, force, false, volumes).await
    }

    /// Removes a container; with `background`, it is gone for clients at once and its
    /// resources are released afterwards (`AutoRemove`, on the path of `docker run --rm`,
    /// which removes the anonymous volumes too).
    pub(crate) async fn remove_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        force: bool,
        background: bool,
    ) -> Result<()> {
        self.remove_locked_with(c, force, background, background)
            .await
    }

    /// [`Self::remove_locked`]; with `volumes`, the container's anonymous volumes go too.
    pub(crate) async fn remove_locked_with(
        self: &Arc<Self>,
        c: &Arc<Container>,
        force: bool,
        background: bool,
        volumes: bool,
    ) -> Result<()> {
        let mut rx = c.subscribe();
        let seen = rx.borrow().exits;
        let st = c.with(|r| r.state.clone());
        if st.removing {
            return Err(Error::conflict(format!(
                "removal of container {} is already in progress",
                c.id
            )));
        }
        if st.running && !force {
            let what = if st.paused { "paused" } else { "running" };
            return Err(Error::conflict(format!(
                "cannot remove container \"{}\": container is {what}: stop the container before removing or force remove",
                c.with(|r| r.name.clone())
            )));
        }
        c.try_update(|r| r.state.begin_removal())?;
        if st.restarting {
            c.restart_cancel.notify_waiters();
        }
        if st.running {
            let killed = self.signal(c, libc::SIGKILL).await;
            let wait = if killed.is_ok() {
                KILL_WAIT
            } else {
                Duration::from_secs(2)
            };
            let exited = tokio::time::timeout(wait, rx.wait_for(|n| n.exits > seen))
                .await
                .is_ok();
            // A kill that failed because the process had just ended is no error.
            if let (Err(e), false) = (killed, exited) {
                if e.kind != Kind::NotFound {
                    let _ = c.try_update(|r| r.state.abort_removal());
                    return Err(e);
                }
            }
        }
        if background {
            // Gone for clients at once (a waiter on "removed" is answered now); the task,
            // snapshot, network and files go in the background. The directory is moved out
            // of sight first, so a crash meanwhile does not bring the container back.
            let trash = self.containers.trash_of(&c.id);
            let dir = if std::fs::rename(&c.dir, &trash).is_ok() {
                trash
            } else {
                c.dir.clone()
            };
            self.forget(c);
            self.volumes_after_remove(&c.id, &c.with(|r| r.mounts.clone()), volumes);
            let engine = self.clone();
            let c = c.clone();
            self.releases.spawn(async move {
                if let Err(e) = engine.release_resources(&c).await {
                    tracing::warn!(container = %c.id, "releasing a removed container: {e} (cleaned up at the next start of the engine)");
                }
                let _ = std::fs::remove_dir_all(&dir);
            });
            return Ok(());
        }
        if let Err(e) = self.release_resources(c).await {
            let _ = c.try_update(|r| {
                r.state.mark_dead()?;
                r.state.error = e.message.clone();
                Ok::<_, Refused>(())
            });
            return Err(e.context(format!("removing container {}", c.id)));
        }
        let _ = std::fs::remove_dir_all(&c.dir);
        self.forget(c);
        self.volumes_after_remove(&c.id, &c.with(|r| r.mounts.clone()), volumes);
        Ok(())
    }

    /// Drops a removed container from the engine and tells waiters.
    fn forget(&self, c: &Arc<Container>) {
        self.health.stop(&c.id);
        self.execs.forget_container(&c.id);
        self.containers.remove(c);
        c.notify_removed();
        self.container_event(c, "destroy");
    }

    /// Deletes what shimd and the network hold for a container: its task (once the last
    /// run's teardown is done), its record, its snapshot and its network.
    async fn release_resources(&self, c: &Container) -> Result<()> {
        let _teardown = c.teardown.lock().await;
        let id = c.id.clone();
        let t = std::time::Instant::now();
        use super::release::{release, Held};
        // The task goes first: nothing may run in the network while it is taken down.
        if c.task_alive.swap(false, Ordering::SeqCst) {
            let task = Held {
                task: true,
                record: false,
                snapshot: false,
            };
            release(&self.shimd, &id, task).await?;
        }
        let rest = Held {
            task: false,
            ..Held::ALL
        };
        let release_network = async {
            if c.net_attached.swap(false, Ordering::SeqCst) {
                self.networks.release(&id).await;
            }
        };
        let (released, _) = tokio::join!(release(&self.shimd, &id, rest), release_network);
        released?;
        tracing::debug!(container = %id, ms = t.elapsed().as_millis() as u64, "task, record, snapshot and network released");
        Ok(())
    }

    /// `POST /containers/{id}/rename`.
    pub async fn container_rename(&self, c: &Arc<Container>, new: &str) -> Result<()> {
        let new = super::names::validate(new).map_err(Error::invalid)?;
        let old = c.with(|r| r.name.clone());
        if old.trim_start_matches('/') == new {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        self.containers.rename(c, &new)?;
        if let Err(e) = self.networks.ctl.rename(&c.id, &new).await {
            tracing::warn!(container = %c.id, "renaming in the network records: {e}");
        }
        self.container_event_with(c, "rename", &[("oldName", old)]);
        Ok(())
    }

    /// `POST /containers/{id}/resize` and the exec variant.
    pub async fn resize(&self, container_id: &str, exec_id: &str, h: u32, w: u32) -> Result<()> {
        self.shimd
            .tasks()
            .resize_pty(v1::ResizePtyRequest {
                container_id: container_id.into(),
                exec_id: exec_id.into(),
                width: w,
                height: h,
            })
            .await
            .map_err(Error::from)?;
        Ok(())
    }
}
