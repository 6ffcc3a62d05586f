//! Exec processes: `docker exec`. An exec is created (configured), then started once through
//! shimd's Tasks.Exec/Start, attached like a container, and inspected for its exit code.
//! Who it runs as is shimd's to derive, as for the container's init: an exec without a
//! user runs as the container's init does; `-u` is resolved in the container's rootfs
//! with the container's `GroupAdd`, as dockerd does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_api::exec::{CreateRequest, InspectResponse, ProcessConfig};
use berth_proto::v1;
use oci_spec::runtime::{Process, User};
use tokio::sync::watch;

use crate::containers::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Execs kept per container once finished (docker keeps a bounded history too).
const KEEP_FINISHED: usize = 64;

/// dockerd's exit code of an exec that could not be started (a missing or non-executable
/// command, a user or working directory that is not there).
pub const START_FAILED: i64 = 126;

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
    /// The OCI process to run (its user is shimd's to fill in).
    pub process: Process,
    /// Who it runs as; None: as the container's init process.
    pub user: Option<v1::ProcessUser>,
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

/// An exec's process: the container's init process with the exec's command, terminal,
/// working directory and environment; all capabilities when privileged; no OOM score of
/// its own. Its user is left for shimd to decide.
fn exec_process(init: Process, req: &CreateRequest, cmd: Vec<String>) -> Result<Process> {
    let mut p = init;
    p.set_args(Some(cmd)).set_terminal(Some(req.tty));
    if !req.working_dir.is_empty() {
        p.set_cwd(req.working_dir.clone().into());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in req.env.iter().flatten() {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next().unwrap_or("") != key);
        env.push(e.clone());
    }
    if req.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    p.set_env(Some(env)).set_user(User::default());
    if req.privileged {
        let all = crate::spec::caps::supported();
        p.set_capabilities(Some(crate::spec::caps::process_capabilities(&all)?));
    }
    if let Some([h, w]) = req.console_size {
        if req.tty && h > 0 && w > 0 {
            let size = oci_spec::runtime::BoxBuilder::default()
                .height(h)
                .width(w)
                .build()
                .map_err(|e| Error::internal(format!("console size: {e}")))?;
            p.set_console_size(Some(size));
        }
    }
    p.set_oom_score_adj(None);
    Ok(p)
}

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub async fn exec_create(&self, c: &Arc<Container>, req: CreateRequest) -> Result<String> {
        let e = self.exec_new(c, req)?;
        self.execs.insert(e.clone());
        self.exec_created_event(c, &e);
        Ok(e.id.clone())
    }

    /// A configured exec of a running container, not yet listed (a health check's exec is
    /// never listed, as with dockerd once it ends).
    pub fn exec_new(&self, c: &Arc<Container>, req: CreateRequest) -> Result<Arc<Exec>> {
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
        if !req.working_dir.is_empty() && !req.working_dir.starts_with('/') {
            return Err(Error::invalid(format!(
                "the working directory '{}' is invalid, it needs to be an absolute path",
                req.working_dir
            )));
        }
        let init: Process = serde_json::from_value(rec.process.clone()).map_err(|e| {
            Error::internal(format!(
                "the recorded init process of container {} is not an OCI process: {e}",
                c.id
            ))
        })?;
        let p = exec_process(init, &req, cmd)?;
        let user = (!req.user.is_empty()).then(|| v1::ProcessUser {
            user: req.user.clone(),
            additional_groups: rec.host_config.group_add.clone().unwrap_or_default(),
        });
        let e = Arc::new(Exec {
            id: crate::util::new_id(),
            container_id: c.id.clone(),
            config: req,
            process: p,
            user,
            state: Mutex::new(ExecState {
                running: false,
                started: false,
                exit_code: None,
                pid: 0,
            }),
            done: watch::Sender::new(false),
        });
        Ok(e)
    }

    /// The `exec_create: <command>` event.
    pub fn exec_created_event(&self, c: &Container, e: &Exec) {
        let cmd_text = e.config.cmd.clone().unwrap_or_default().join(" ");
        self.container_event_with(
            c,
            &format!("exec_create: {cmd_text}"),
            &[("execID", e.id.clone())],
        );
    }

    /// Claims the exec's one start: refuses a second start, and a container that no
    /// longer runs.
    pub fn exec_claim(&self, e: &Exec) -> Result<()> {
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
        Ok(())
    }

    /// Adds the claimed exec to the container's task (not yet started); shimd derives
    /// who it runs as. A failure ends the exec with dockerd's code.
    pub async fn exec_add(&self, e: &Exec) -> Result<()> {
        let spec = serde_json::to_vec(&e.process).map_err(|x| Error::internal(x.to_string()))?;
        let r = self
            .shimd
            .tasks()
            .exec(v1::ExecProcessRequest {
                container_id: e.container_id.clone(),
                exec_id: e.id.clone(),
                spec,
                terminal: e.config.tty,
                stdin: e.config.attach_stdin,
                user: e.user.clone(),
            })
            .await;
        r.map(|_| ()).map_err(|s| {
            e.finish(START_FAILED);
            Error::from(s)
        })
    }

    /// Starts an added exec; its exit is collected in the background. A failure ends the
    /// exec with dockerd's code.
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
                self.exec_forget(e).await;
                e.finish(START_FAILED);
                return Err(Error::from(s));
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
                Err(_) => START_FAILED,
            };
            e.finish(code);
            engine.exec_forget(&e).await;
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

    /// Adds and starts a claimed exec (`docker exec -d`).
    pub async fn exec_launch(self: &Arc<Self>, e: &Arc<Exec>) -> Result<()> {
        self.exec_add(e).await?;
        self.exec_run(e).await
    }

    /// Removes the exec from the container's task in shimd (its exit is recorded here).
    pub async fn exec_forget(&self, e: &Exec) {
        let _ = self
            .shimd
            .tasks()
            .delete(v1::DeleteTaskRequest {
                container_id: e.container_id.clone(),
                exec_id: e.id.clone(),
                force: true,
            })
            .await;
    }

    /// Waits until the exec's exit is recorded.
    pub async fn exec_wait(&self, e: &Exec) {
        let mut rx = e.done.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> Process {
        let mut p = berth_spec::default_spec("berth", "x")
            .process()
            .clone()
            .unwrap();
        let mut u = User::default();
        u.set_uid(5).set_gid(6);
        p.set_env(Some(vec!["A=1".into(), "B=2".into()]))
            .set_cwd("/srv".into())
            .set_user(u)
            .set_oom_score_adj(Some(300));
        p
    }

    #[test]
    fn an_exec_starts_from_the_init_process() {
        let req = CreateRequest {
            tty: true,
            env: Some(vec!["B=3".into()]),
            console_size: Some([24, 80]),
            ..Default::default()
        };
        let p = exec_process(init(), &req, vec!["ls".into()]).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["ls".to_string()][..]));
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.cwd(), std::path::Path::new("/srv"));
        assert_eq!(
            p.env().as_deref().unwrap(),
            ["A=1", "B=3", "TERM=xterm"].map(String::from)
        );
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0), "shimd decides");
        assert_eq!(p.oom_score_adj(), None);
        let size = p.console_size().unwrap();
        assert_eq!((size.height(), size.width()), (24, 80));
        assert_eq!(p.capabilities(), init().capabilities());

        let req = CreateRequest {
            privileged: true,
            working_dir: "/tmp".into(),
            ..Default::default()
        };
        let p = exec_process(init(), &req, vec!["id".into()]).unwrap();
        assert_eq!(p.cwd(), std::path::Path::new("/tmp"));
        assert_eq!(p.terminal(), Some(false));
        assert!(p.console_size().is_none());
        let bounding = p.capabilities().as_ref().unwrap().bounding().clone();
        assert_eq!(
            bounding.map(|b| b.len()),
            Some(crate::spec::caps::supported().len())
        );
    }
}
