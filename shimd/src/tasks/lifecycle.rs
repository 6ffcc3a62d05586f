//! Creating, starting and deleting tasks and exec processes.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use berth_proto::shim::shim_request::Kind as Req;
use berth_proto::shim::{self as shim, shim_response};
use berth_proto::v1::{
    Container, CreateTaskRequest, CreateTaskResponse, DeleteTaskResponse, ExecProcessRequest,
    Mount, ProcessUser,
};
use oci_spec::runtime::{Root, Spec};
use tonic::Status;

use super::bundle::{self, TaskInfo};
use super::logs::LogRecord;
use super::oci;
use super::shim_client::{ShimClient, ShimError};
use super::supervisor::{self, record_exit_locked, watch_process};
use super::{binaries, lock, mounts, now_ns, timestamp, Exit, Proc, Task};
use crate::metadata::{CONTAINERS, CONTAINER_LOGS};
use crate::server::Core;

/// How long a new shim may take to report its address.
const SHIM_START_TIMEOUT: Duration = Duration::from_secs(10);

fn spec_of(c: &Container) -> Result<Spec, Status> {
    if c.spec.is_empty() {
        return Err(Status::failed_precondition(format!(
            "container {:?} has no OCI spec",
            c.id
        )));
    }
    let spec = oci::spec(&c.spec).map_err(|e| {
        Status::failed_precondition(format!("the OCI spec of container {:?} {e}", c.id))
    })?;
    if spec.process().is_none() {
        return Err(Status::failed_precondition(format!(
            "container {:?} has no process in its OCI spec",
            c.id
        )));
    }
    Ok(spec)
}

/// Fills in what only the task knows: the rootfs path, the terminal, and the identity of
/// the container's user resolved in the rootfs.
fn finish_spec(
    spec: &mut Spec,
    rootfs: &Path,
    terminal: bool,
    user: Option<&ProcessUser>,
) -> Result<(), Status> {
    let mut root = spec.root().clone().unwrap_or_else(|| {
        // Only the path: an absent `readonly` is a writable root.
        let mut r = Root::default();
        r.set_readonly(None);
        r
    });
    root.set_path(rootfs.to_path_buf());
    spec.set_root(Some(root));
    let identity = user.map(|u| identity(rootfs, u)).transpose()?;
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(terminal));
        if let Some(id) = identity {
            p.set_user(oci::user(&id));
        }
    }
    Ok(())
}

/// The identity of a process of the container whose rootfs is mounted at `rootfs`.
fn identity(rootfs: &Path, u: &ProcessUser) -> Result<berth_spec::user::User, Status> {
    berth_spec::user::identity(rootfs, &u.user, &u.additional_groups)
        .map_err(|e| Status::failed_precondition(e.to_string()))
}

/// Starts a shim for the task in `dir` (as the init of the container's PID namespace
/// with `init`); returns its socket once it has detached.
async fn start_shim(core: &Core, id: &str, dir: &Path, init: bool) -> Result<PathBuf, Status> {
    let bin = binaries::shim(&core.config.shim).map_err(Status::failed_precondition)?;
    let child = tokio::process::Command::new(&bin)
        .arg("--id")
        .arg(id)
        .arg("--dir")
        .arg(dir)
        .args(init.then_some("--init"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Status::internal(format!("starting the shim {}: {e}", bin.display())))?;
    let out = tokio::time::timeout(SHIM_START_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| Status::internal("the shim did not report its address in time"))?
        .map_err(|e| Status::internal(format!("waiting for the shim: {e}")))?;
    if !out.status.success() {
        return Err(Status::internal(format!(
            "the shim failed to start: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let addr = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if addr.is_empty() {
        return Err(Status::internal("the shim reported no address"));
    }
    Ok(PathBuf::from(addr))
}

/// The mounts that make up the task's rootfs.
fn rootfs_mounts(
    core: &Core,
    ns: &str,
    c: &Container,
    req: &[Mount],
) -> Result<Vec<Mount>, Status> {
    if !req.is_empty() {
        return Ok(req.to_vec());
    }
    if c.snapshot_key.is_empty() {
        return Err(Status::failed_precondition(format!(
            "container {:?} has no snapshot and the request gives no rootfs mounts",
            c.id
        )));
    }
    core.snapshots.mounts(ns, &c.snapshot_key).map_err(|e| {
        Status::new(
            e.code(),
            format!("rootfs of container {:?}: {}", c.id, e.message()),
        )
    })
}

/// Where the container's log goes.
enum LogTarget {
    None,
    /// `log.json` in the task directory (shimd's own; removed with the container).
    InTaskDir,
    /// A path the client chose (never removed by shimd).
    Client(PathBuf),
}

/// What to undo when a create fails half-way.
struct Undo<'a> {
    dir: &'a Path,
    mounted: bool,
    shim: Option<ShimClient>,
}

impl Undo<'_> {
    async fn run(self) {
        if let Some(s) = self.shim {
            let _ = s
                .call_within(
                    Req::Shutdown(shim::ShutdownRequest { now: true }),
                    Duration::from_secs(2),
                )
                .await;
        }
        if self.mounted {
            if let Err(e) = mounts::unmount_all(&self.dir.join("rootfs")) {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cleaning up a failed create");
            }
        }
        if let Err(e) = bundle::clear_task_dir(self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cleaning up a failed create");
        }
    }
}

pub async fn create(
    core: &Arc<Core>,
    ns: &str,
    req: CreateTaskRequest,
) -> Result<CreateTaskResponse, Status> {
    let id = req.container_id.clone();
    let container: Container = core
        .db
        .get(CONTAINERS, ns, &id)?
        .ok_or_else(|| Status::not_found(format!("container {id:?} not found")))?;
    let _reservation = core.tasks.reserve(ns, &id)?;
    let mut spec = spec_of(&container)?;
    let mounts_list = rootfs_mounts(core, ns, &container, &req.rootfs)?;
    let runtime_name = match container.runtime.as_ref().map(|r| r.binary.as_str()) {
        Some(b) if !b.is_empty() => b.to_string(),
        _ => core.config.runtime.clone(),
    };
    let runtime = binaries::runtime(&runtime_name).map_err(Status::failed_precondition)?;
    let log = if req.no_log {
        LogTarget::None
    } else if req.log_path.is_empty() {
        LogTarget::InTaskDir
    } else if !Path::new(&req.log_path).is_absolute() {
        return Err(Status::invalid_argument(format!(
            "log path {:?} must be absolute",
            req.log_path
        )));
    } else {
        LogTarget::Client(PathBuf::from(&req.log_path))
    };

    let state = &core.config.state;
    let dir = bundle::task_dir(state, ns, &id);
    let runtime_root = bundle::runtime_root(state, ns);
    // Leftovers of an earlier task of this container (never its logs) go first.
    let _ = mounts::unmount_all(&dir.join("rootfs"));
    bundle::clear_task_dir(&dir)
        .map_err(|e| Status::internal(format!("clearing {}: {e}", dir.display())))?;
    for d in [&dir, &runtime_root] {
        bundle::make_private_dir(d)
            .map_err(|e| Status::internal(format!("creating {}: {e}", d.display())))?;
    }
    let mut undo = Undo {
        dir: &dir,
        mounted: false,
        shim: None,
    };
    let r = create_in(
        core,
        ns,
        &req,
        &container,
        &mut spec,
        &mounts_list,
        runtime,
        runtime_root,
        log,
        &mut undo,
    )
    .await;
    match r {
        Ok(resp) => Ok(resp),
        Err(e) => {
            undo.run().await;
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn create_in(
    core: &Arc<Core>,
    ns: &str,
    req: &CreateTaskRequest,
    container: &Container,
    spec: &mut Spec,
    mounts_list: &[Mount],
    runtime: PathBuf,
    runtime_root: PathBuf,
    log: LogTarget,
    undo: &mut Undo<'_>,
) -> Result<CreateTaskResponse, Status> {
    let id = &container.id;
    let t = std::time::Instant::now();
    let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1000.0;
    let dir = undo.dir.to_path_buf();
    let rootfs = dir.join("rootfs");
    bundle::make_private_dir(&rootfs)
        .map_err(|e| Status::internal(format!("creating {}: {e}", rootfs.display())))?;
    std::fs::set_permissions(&rootfs, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| Status::internal(format!("{}: {e}", rootfs.display())))?;
    mounts::mount_all(mounts_list, &rootfs)
        .map_err(|e| Status::failed_precondition(format!("rootfs of container {id:?}: {e}")))?;
    undo.mounted = true;
    let mounted_ms = ms(t);
    finish_spec(spec, &rootfs, req.terminal, container.user.as_ref())?;
    let shim_init = container.init && super::shim_init::adopt(spec);
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let config = serde_json::to_vec_pretty(spec).map_err(|e| Status::internal(e.to_string()))?;
    bundle::write_atomic(&dir.join(bundle::CONFIG_FILE), &config)
        .map_err(|e| Status::internal(format!("writing config.json: {e}")))?;

    let log_path = match log {
        LogTarget::None => None,
        LogTarget::InTaskDir => {
            let p = dir.join(bundle::DEFAULT_LOG);
            remember_log(core, ns, id, &p, true)?;
            Some(p)
        }
        LogTarget::Client(p) => {
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Status::failed_precondition(format!(
                        "creating the log directory {}: {e}",
                        parent.display()
                    ))
                })?;
            }
            remember_log(core, ns, id, &p, false)?;
            Some(p)
        }
    };
    let mut runtime_options = vec!["--root".to_string(), runtime_root.display().to_string()];
    if let Some(r) = &container.runtime {
        runtime_options.extend(r.options.iter().cloned());
    }
    let mut info = TaskInfo {
        runtime: runtime.display().to_string(),
        runtime_options: runtime_options.clone(),
        socket: dir.join("shim.sock"),
        shim_pid: 0,
        pid: 0,
        terminal: req.terminal,
        stdin: req.stdin,
        log_path: log_path.clone(),
        cgroups_path,
        created_at: now_ns(),
    };
    // Recorded before the shim runs anything, so a restart always finds the task.
    bundle::save_info(&dir, &info)
        .map_err(|e| Status::internal(format!("writing task.json: {e}")))?;

    let bundle_ms = ms(t);
    let socket = start_shim(core, id, &dir, shim_init).await?;
    let shim_ms = ms(t);
    info.socket = socket.clone();
    info.shim_pid = std::fs::read_to_string(dir.join("shim.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let client = ShimClient::new(socket);
    undo.shim = Some(client.clone());
    let created = client
        .call(Req::Create(shim::CreateRequest {
            bundle: dir.display().to_string(),
            runtime: info.runtime.clone(),
            runtime_options,
            terminal: req.terminal,
            stdin: req.stdin,
            log_path: log_path
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            log_max_size: req.log_max_size,
            log_max_files: req.log_max_files,
            no_log: req.no_log,
            no_pivot: req.no_pivot,
            no_new_keyring: req.no_new_keyring,
        }))
        .await
        .map_err(|e| e.into_status(&format!("creating the task of container {id:?}")))?;
    let pid = match created {
        shim_response::Kind::Pid(p) => p,
        _ => return Err(Status::internal("the shim answered create without a pid")),
    };
    let runtime_ms = ms(t);
    info.pid = pid;
    bundle::save_info(&dir, &info)
        .map_err(|e| Status::internal(format!("writing task.json: {e}")))?;
    tracing::debug!(
        container = %id,
        mounted_ms,
        bundle_ms,
        shim_ms,
        runtime_ms,
        ms = ms(t),
        "task created"
    );

    let task = Arc::new(Task::new(ns, id, dir.clone(), info));
    lock(&task.procs).insert(String::new(), Proc::new(pid, req.terminal, req.stdin));
    core.tasks.insert(task.clone());
    undo.shim = None;
    undo.mounted = false;
    core.events.publish(
        ns,
        "/tasks/create",
        [
            ("container_id", id.clone()),
            ("pid", pid.to_string()),
            ("bundle", dir.display().to_string()),
        ],
    );
    watch_process(core.clone(), task, String::new());
    Ok(CreateTaskResponse {
        container_id: id.clone(),
        pid,
    })
}

fn remember_log(core: &Core, ns: &str, id: &str, path: &Path, owned: bool) -> Result<(), Status> {
    core.db.put(
        CONTAINER_LOGS,
        ns,
        id,
        &LogRecord {
            path: path.display().to_string(),
            owned,
        },
    )
}

fn live(task: &Task) -> Result<(), Status> {
    if task.is_dead() {
        return Err(Status::failed_precondition(format!(
            "the task of container {:?} is stopped (its shim is gone); delete it",
            task.id
        )));
    }
    Ok(())
}

pub async fn start(core: &Arc<Core>, task: &Arc<Task>, exec_id: &str) -> Result<u32, Status> {
    let _ops = task.ops.lock().await;
    live(task)?;
    let what = if exec_id.is_empty() {
        format!("starting container {:?}", task.id)
    } else {
        format!(
            "starting exec process {exec_id:?} in container {:?}",
            task.id
        )
    };
    let pid = match task
        .shim
        .call(Req::Start(shim::ProcessRef {
            exec_id: exec_id.to_string(),
        }))
        .await
        .map_err(|e| e.into_status(&what))?
    {
        shim_response::Kind::Pid(p) => p,
        _ => return Err(Status::internal("the shim answered start without a pid")),
    };
    if let Some(p) = lock(&task.procs).get_mut(exec_id) {
        p.pid = pid;
    }
    if exec_id.is_empty() {
        core.events.publish(
            &task.ns,
            "/tasks/start",
            [("container_id", task.id.clone()), ("pid", pid.to_string())],
        );
    } else {
        core.events.publish(
            &task.ns,
            "/tasks/exec-started",
            [
                ("container_id", task.id.clone()),
                ("exec_id", exec_id.to_string()),
                ("pid", pid.to_string()),
            ],
        );
        watch_process(core.clone(), task.clone(), exec_id.to_string());
    }
    Ok(pid)
}

pub async fn exec(core: &Core, task: &Task, req: ExecProcessRequest) -> Result<(), Status> {
    live(task)?;
    let mut p =
        oci::process(&req.spec).map_err(|e| Status::invalid_argument(format!("exec spec {e}")))?;
    if p.args().as_ref().is_none_or(Vec::is_empty) {
        return Err(Status::invalid_argument(
            "exec spec must be an OCI process with non-empty args",
        ));
    }
    let user = match &req.user {
        Some(u) => oci::user(&identity(&task.dir.join("rootfs"), u)?),
        None => bundle::init_user(&task.dir).map_err(|e| {
            Status::internal(format!(
                "the user of container {:?}'s init process: {e}",
                task.id
            ))
        })?,
    };
    p.set_terminal(Some(req.terminal)).set_user(user);
    let spec = serde_json::to_vec(&p).map_err(|e| Status::internal(e.to_string()))?;
    task.shim
        .call(Req::Exec(shim::ExecRequest {
            exec_id: req.exec_id.clone(),
            spec,
            terminal: req.terminal,
            stdin: req.stdin,
        }))
        .await
        .map_err(|e| e.into_status(&format!("exec in container {:?}", task.id)))?;
    lock(&task.procs).insert(req.exec_id.clone(), Proc::new(0, req.terminal, req.stdin));
    core.events.publish(
        &task.ns,
        "/tasks/exec-added",
        [("container_id", task.id.clone()), ("exec_id", req.exec_id)],
    );
    Ok(())
}

fn response(id: &str, pid: u32, exit: Exit) -> DeleteTaskResponse {
    DeleteTaskResponse {
        id: id.to_string(),
        pid,
        exit_status: exit.status,
        exited_at: Some(timestamp(exit.at_ns)),
    }
}

pub async fn delete(
    core: &Arc<Core>,
    task: &Arc<Task>,
    exec_id: &str,
    force: bool,
) -> Result<DeleteTaskResponse, Status> {
    if !exec_id.is_empty() {
        return delete_exec(core, task, exec_id, force).await;
    }
    let _ops = task.ops.lock().await;
    let t = std::time::Instant::now();
    let mut shim_ms = 0.0;
    if !task.is_dead() {
        task.deleting.store(true, Ordering::SeqCst);
        let r = task
            .shim
            .call(Req::Delete(shim::DeleteRequest {
                exec_id: String::new(),
                force,
            }))
            .await;
        match r {
            Ok(shim_response::Kind::Exit(s)) => {
                let exit = Exit {
                    status: s.exit_status,
                    at_ns: s.exited_at,
                    oom: false,
                };
                record_exit_locked(core, task, "", exit).await;
                shim_ms = t.elapsed().as_secs_f64() * 1000.0;
                wait_gone(task.info().shim_pid).await;
            }
            Ok(_) => {
                task.deleting.store(false, Ordering::SeqCst);
                return Err(Status::internal("the shim answered delete without an exit"));
            }
            Err(ShimError::Unavailable(_)) => {
                // Gone meanwhile: clean up as after any dead shim.
                task.deleting.store(false, Ordering::SeqCst);
                drop(_ops);
                supervisor::shim_died(core, task).await;
                return Box::pin(delete(core, task, exec_id, force)).await;
            }
            Err(e) => {
                task.deleting.store(false, Ordering::SeqCst);
                return Err(e.into_status(&format!("deleting the task of container {:?}", task.id)));
            }
        }
    }
    if let Err(e) = mounts::unmount_all(&task.dir.join("rootfs")) {
        return Err(Status::internal(format!(
            "deleting the task of container {:?}: {e}",
            task.id
        )));
    }
    bundle::clear_task_dir(&task.dir)
        .map_err(|e| Status::internal(format!("removing {}: {e}", task.dir.display())))?;
    core.tasks.remove(&task.ns, &task.id);
    tracing::debug!(
        container = %task.id,
        shim_ms,
        ms = t.elapsed().as_secs_f64() * 1000.0,
        "task deleted"
    );
    let pid = task.info().pid;
    let exit = task.init_exit().unwrap_or(Exit {
        status: supervisor::LOST_EXIT_STATUS,
        at_ns: now_ns(),
        oom: false,
    });
    core.events.publish(
        &task.ns,
        "/tasks/delete",
        [
            ("container_id", task.id.clone()),
            ("pid", pid.to_string()),
            ("exit_status", exit.status.to_string()),
            ("exited_at", super::rfc3339(exit.at_ns)),
        ],
    );
    Ok(response(&task.id, pid, exit))
}

/// Deletes an exec process. Its exit is published first if its watcher has not done it
/// yet: a client that learns the exit from its attach stream and deletes the process at
/// once must not take the `/tasks/exit` event with it.
async fn delete_exec(
    core: &Core,
    task: &Task,
    exec_id: &str,
    force: bool,
) -> Result<DeleteTaskResponse, Status> {
    // Serialized with exit handling, as the init's delete is.
    let _ops = task.ops.lock().await;
    if task.is_dead() {
        let p = lock(&task.procs).remove(exec_id);
        let p =
            p.ok_or_else(|| Status::not_found(format!("exec process {exec_id:?} not found")))?;
        let exit = p.exited().unwrap_or(Exit {
            status: supervisor::LOST_EXIT_STATUS,
            at_ns: now_ns(),
            oom: false,
        });
        return Ok(response(exec_id, p.pid, exit));
    }
    let r = task
        .shim
        .call(Req::Delete(shim::DeleteRequest {
            exec_id: exec_id.to_string(),
            force,
        }))
        .await
        .map_err(|e| e.into_status(&format!("deleting exec process {exec_id:?}")))?;
    let s = match r {
        shim_response::Kind::Exit(s) => s,
        _ => return Err(Status::internal("the shim answered delete without an exit")),
    };
    let exit = Exit {
        status: s.exit_status,
        at_ns: s.exited_at,
        oom: false,
    };
    // A process that never started has no exit to publish.
    if s.pid != 0 {
        record_exit_locked(core, task, exec_id, exit).await;
    }
    lock(&task.procs).remove(exec_id);
    Ok(response(exec_id, s.pid, exit))
}

/// Waits (at most 2 s) until the shim `pid` has exited: its pidfd turns readable then.
/// Without a pidfd (an old kernel, or the shim already reaped), /proc is polled.
async fn wait_gone(pid: u32) {
    if pid == 0 {
        return;
    }
    let limit = Duration::from_secs(2);
    if let Ok(fd) = berth_fs::pidfd::open(pid as i32) {
        // SAFETY: the AsyncFd owns the OwnedFd, an open pidfd that stays open (and the
        // same descriptor) until the AsyncFd is dropped.
        let watched = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        };
        if let Ok(fd) = watched {
            let _ = tokio::time::timeout(limit, fd.readable()).await;
            return;
        }
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        let gone = match std::fs::read_to_string(proc_dir.join("stat")) {
            Err(_) => true,
            // A zombie (state Z) has exited too.
            Ok(s) => s
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z')),
        };
        if gone {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
