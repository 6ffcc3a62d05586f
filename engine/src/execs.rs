//! Exec processes: `docker exec`. An exec is created (configured), then started once through
//! shimd's Tasks.Exec/Start, attached like a container, and inspected for its exit code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_api::exec::{CreateRequest, InspectResponse, ProcessConfig};
use berth_proto::v1;
use tokio::sync::watch;

use crate::containers::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Execs kept per container once finished (docker keeps a bounded history too).
const KEEP_FINISHED: usize = 64;

#[derive(Debug, Clone)]
pub struct ExecState {
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: u32,
}

pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: CreateRequest,
    /// The OCI process to run.
    pub process: serde_json::Value,
    state: Mutex<ExecState>,
    done: watch::Sender<bool>,
}

impl Exec {
    pub fn state(&self) -> ExecState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, f: impl FnOnce(&mut ExecState)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Records the exit, once.
    pub fn finish(&self, code: i64) {
        let mut first = false;
        self.set(|s| {
            if s.exit_code.is_none() {
                first = true;
                s.exit_code = Some(code);
            }
            s.running = false;
        });
        if first {
            self.done.send_replace(true);
        }
    }

    pub fn inspect(&self) -> InspectResponse {
        let s = self.state();
        let cmd = self.config.cmd.clone().unwrap_or_default();
        InspectResponse {
            id: self.id.clone(),
            running: s.running,
            exit_code: s.exit_code,
            process_config: ProcessConfig {
                privileged: self.config.privileged,
                user: self.config.user.clone(),
                tty: self.config.tty,
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                arguments: cmd.iter().skip(1).cloned().collect(),
            },
            open_stdin: self.config.attach_stdin,
            open_stderr: self.config.attach_stderr,
            open_stdout: self.config.attach_stdout,
            can_remove: !s.running,
            container_id: self.container_id.clone(),
            detach_keys: self.config.detach_keys.clone(),
            pid: s.pid as i64,
        }
    }
}

#[derive(Default)]
pub struct Execs {
    by_id: Mutex<HashMap<String, Arc<Exec>>>,
}

impl Execs {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Exec>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: &str) -> Result<Arc<Exec>> {
        self.map()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    pub fn ids_of(&self, container_id: &str) -> Vec<String> {
        self.map()
            .values()
            .filter(|e| e.container_id == container_id)
            .map(|e| e.id.clone())
            .collect()
    }

    fn insert(&self, e: Arc<Exec>) {
        let mut m = self.map();
        // Forget the oldest finished execs of the container beyond the bound.
        let finished: Vec<String> = m
            .values()
            .filter(|x| x.container_id == e.container_id && x.state().exit_code.is_some())
            .map(|x| x.id.clone())
            .collect();
        if finished.len() > KEEP_FINISHED {
            for id in finished.iter().take(finished.len() - KEEP_FINISHED) {
                m.remove(id);
            }
        }
        m.insert(e.id.clone(), e);
    }

    /// Processes of a stopped container are gone: their execs end with it.
    pub fn container_stopped(&self, container_id: &str) {
        for e in self
            .map()
            .values()
            .filter(|e| e.container_id == container_id)
        {
            if e.state().running {
                e.finish(137);
            }
        }
    }

    pub fn forget_container(&self, container_id: &str) {
        self.map().retain(|_, e| e.container_id != container_id);
    }
}

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub async fn exec_create(&self, c: &Arc<Container>, req: CreateRequest) -> Result<String> {
        let rec = c.record();
        if !rec.state.running {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if rec.state.paused {
            return Err(Error::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        let cmd = req.cmd.clone().unwrap_or_default();
        if cmd.is_empty() {
            return Err(Error::invalid("No exec command specified"));
        }
        if !req.detach_keys.is_empty() {
            crate::containers::attach::parse_detach_keys(&req.detach_keys)?;
        }
        let mut p = rec.process.clone();
        p["args"] = serde_json::json!(cmd);
        p["terminal"] = serde_json::json!(req.tty);
        if !req.working_dir.is_empty() {
            if !req.working_dir.starts_with('/') {
                return Err(Error::invalid(format!(
                    "the working directory '{}' is invalid, it needs to be an absolute path",
                    req.working_dir
                )));
            }
            p["cwd"] = serde_json::json!(req.working_dir);
        }
        let mut env: Vec<String> = p["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for e in req.env.iter().flatten() {
            let key = e.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next().unwrap_or("") != key);
            env.push(e.clone());
        }
        if req.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        p["env"] = serde_json::json!(env);
        if !req.user.is_empty() {
            let u = self.resolve_exec_user(c, &req.user).await?;
            p["user"] = serde_json::json!({"uid": u.uid, "gid": u.gid});
            if !u.additional_gids.is_empty() {
                p["user"]["additionalGids"] = serde_json::json!(u.additional_gids);
            }
        }
        if req.privileged {
            let all = crate::spec::caps::supported();
            p["capabilities"] =
                serde_json::json!({"bounding": all, "effective": all, "permitted": all});
        }
        if let Some([h, w]) = req.console_size {
            if req.tty && h > 0 && w > 0 {
                p["consoleSize"] = serde_json::json!({"height": h, "width": w});
            }
        }
        if let Some(o) = p.as_object_mut() {
            o.remove("oomScoreAdj");
        }
        let id = crate::util::new_id();
        let e = Arc::new(Exec {
            id: id.clone(),
            container_id: c.id.clone(),
            config: req,
            process: p,
            state: Mutex::new(ExecState {
                running: false,
                started: false,
                exit_code: None,
                pid: 0,
            }),
            done: watch::Sender::new(false),
        });
        self.execs.insert(e.clone());
        let cmd_text = e.config.cmd.clone().unwrap_or_default().join(" ");
        self.container_event_with(
            c,
            &format!("exec_create: {cmd_text}"),
            &[("execID", id.clone())],
        );
        Ok(id)
    }

    /// The user of an exec, resolved in the running container's /etc/passwd and /etc/group.
    async fn resolve_exec_user(&self, c: &Container, user: &str) -> Result<berth_spec::user::User> {
        if let Some((uid, gid)) =
            berth_spec::user::numeric(user).map_err(|e| Error::invalid(e.to_string()))?
        {
            return Ok(berth_spec::user::User {
                uid,
                gid,
                additional_gids: vec![],
            });
        }
        let pid = c.with(|r| r.state.pid);
        let root = std::path::PathBuf::from(format!("/proc/{pid}/root"));
        let user = user.to_string();
        tokio::task::spawn_blocking(move || berth_spec::user::resolve(&root, &user))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(|e| Error::invalid(e.to_string()))
    }

    /// Adds the exec to the task (not yet started). Refuses a second start.
    pub async fn exec_prepare(&self, e: &Exec) -> Result<()> {
        let mut already = false;
        e.set(|s| {
            already = s.started;
            s.started = true;
        });
        if already {
            return Err(Error::conflict(format!(
                "Error: Exec command {} has already run",
                e.id
            )));
        }
        let c = self.containers.get(&e.container_id)?;
        if !c.with(|r| r.state.running) {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                e.container_id
            )));
        }
        self.shimd
            .tasks()
            .exec(v1::ExecProcessRequest {
                container_id: e.container_id.clone(),
                exec_id: e.id.clone(),
                spec: serde_json::to_vec(&e.process).map_err(|x| Error::internal(x.to_string()))?,
                terminal: e.config.tty,
                stdin: e.config.attach_stdin,
            })
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    /// Starts a prepared exec; its exit is collected in the background.
    pub async fn exec_run(self: &Arc<Self>, e: &Arc<Exec>) -> Result<()> {
        let started = self
            .shimd
            .tasks()
            .start(v1::StartRequest {
                container_id: e.container_id.clone(),
                exec_id: e.id.clone(),
            })
            .await;
        let pid = match started {
            Ok(r) => r.into_inner().pid,
            Err(s) => {
                let _ = self
                    .shimd
                    .tasks()
                    .delete(v1::DeleteTaskRequest {
                        container_id: e.container_id.clone(),
                        exec_id: e.id.clone(),
                        force: true,
                    })
                    .await;
                let err = Error::from(s);
                let code =
                    if err.message.contains("not found") || err.message.contains("no such file") {
                        127
                    } else {
                        126
                    };
                e.finish(code);
                return Err(err);
            }
        };
        e.set(|s| {
            s.running = true;
            s.pid = pid;
        });
        if let Ok(c) = self.containers.get(&e.container_id) {
            let cmd_text = e.config.cmd.clone().unwrap_or_default().join(" ");
            self.container_event_with(
                &c,
                &format!("exec_start: {cmd_text}"),
                &[("execID", e.id.clone())],
            );
        }
        let engine = self.clone();
        let e = e.clone();
        tokio::spawn(async move {
            let r = engine
                .shimd
                .tasks()
                .wait(v1::WaitRequest {
                    container_id: e.container_id.clone(),
                    exec_id: e.id.clone(),
                })
                .await;
            let code = match r {
                Ok(w) => w.into_inner().exit_status as i64,
                Err(_) => 126,
            };
            e.finish(code);
            let _ = engine
                .shimd
                .tasks()
                .delete(v1::DeleteTaskRequest {
                    container_id: e.container_id.clone(),
                    exec_id: e.id.clone(),
                    force: false,
                })
                .await;
            if let Ok(c) = engine.containers.get(&e.container_id) {
                engine.container_event_with(
                    &c,
                    "exec_die",
                    &[("execID", e.id.clone()), ("exitCode", code.to_string())],
                );
            }
        });
        Ok(())
    }

    /// Waits until the exec's exit is recorded.
    pub async fn exec_wait(&self, e: &Exec) {
        let mut rx = e.done.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }
}
