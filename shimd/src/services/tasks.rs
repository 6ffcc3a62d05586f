//! berth.v1.Tasks: running containers through their shims (see shimd/TASKS.md).

use std::pin::Pin;
use std::sync::Arc;

use berth_proto::shim::shim_request::Kind as Req;
use berth_proto::shim::{self as shim, shim_frame, shim_response, ShimFrame};
use berth_proto::v1::tasks_server::{Tasks, TasksServer};
use berth_proto::v1::{
    attach_request, attach_response, AttachRequest, AttachResponse, CloseIoRequest, Container,
    CreateTaskRequest, CreateTaskResponse, DeleteTaskRequest, DeleteTaskResponse,
    ExecProcessRequest, GetTaskRequest, KillRequest, ListTasksRequest, ListTasksResponse, LogEntry,
    LogStream, LogsRequest, PidsResponse, Process, ProcessInfo, ResizePtyRequest, StartRequest,
    StartResponse, TaskRequest, TaskStats, TaskStatus, UpdateTaskRequest, WaitRequest,
    WaitResponse,
};
use futures::Stream;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use crate::events::async_stream;
use crate::filters::Filters;
use crate::metadata::{CONTAINERS, CONTAINER_LOGS};
use crate::namespace;
use crate::server::Core;
use crate::tasks::logs::{self, LogRecord, Query};
use crate::tasks::shim_client::{read_frame, write_frame};
use crate::tasks::{lifecycle, lock, stats, timestamp, Exit, Task};

pub struct TasksService {
    core: Arc<Core>,
}

pub fn server(core: Arc<Core>) -> TasksServer<TasksService> {
    TasksServer::new(TasksService { core })
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn status_name(s: i32) -> &'static str {
    match TaskStatus::try_from(s).unwrap_or(TaskStatus::Unknown) {
        TaskStatus::Unknown => "unknown",
        TaskStatus::Created => "created",
        TaskStatus::Running => "running",
        TaskStatus::Stopped => "stopped",
        TaskStatus::Paused => "paused",
        TaskStatus::Pausing => "pausing",
    }
}

fn ns_of_ts(t: &Option<prost_types::Timestamp>) -> Option<i64> {
    t.as_ref()
        .map(|t| t.seconds * 1_000_000_000 + i64::from(t.nanos))
}

fn wait_response(e: Exit) -> WaitResponse {
    WaitResponse {
        exit_status: e.status,
        exited_at: Some(timestamp(e.at_ns)),
        oom_killed: e.oom,
    }
}

impl TasksService {
    fn task<T>(&self, req: &Request<T>, id: &str) -> Result<(String, Arc<Task>), Status> {
        let ns = namespace::of(req)?;
        let t = self.core.tasks.get(&ns, id)?;
        Ok((ns, t))
    }

    /// A process's state from its shim (or from what shimd recorded, when the shim is gone).
    async fn process(&self, task: &Task, exec_id: &str) -> Result<Process, Status> {
        let cached = || {
            task.cached_process(exec_id).ok_or_else(|| {
                Status::not_found(format!(
                    "exec process {exec_id:?} not found in container {:?}",
                    task.id
                ))
            })
        };
        if task.is_dead() {
            return cached();
        }
        match task
            .shim
            .call(Req::State(shim::ProcessRef {
                exec_id: exec_id.to_string(),
            }))
            .await
        {
            Ok(shim_response::Kind::State(s)) => Ok(task.process_from(&s)),
            Ok(_) => Err(Status::internal("the shim answered state without a state")),
            Err(crate::tasks::shim_client::ShimError::Unavailable(_)) => cached(),
            Err(e) => Err(e.into_status(&format!("container {:?}", task.id))),
        }
    }

    async fn simple(&self, task: &Task, req: Req, what: &str) -> Result<(), Status> {
        if task.is_dead() {
            return Err(Status::failed_precondition(format!(
                "{what}: the task of container {:?} is stopped",
                task.id
            )));
        }
        task.shim
            .call(req)
            .await
            .map(|_| ())
            .map_err(|e| e.into_status(what))
    }
}

/// Runs a lifecycle step to its end even if the client goes away meanwhile (a dropped
/// request would otherwise leave a half-made or half-removed task behind).
async fn finish<T: Send + 'static>(
    f: impl std::future::Future<Output = Result<T, Status>> + Send + 'static,
) -> Result<T, Status> {
    tokio::spawn(f)
        .await
        .map_err(|e| Status::internal(format!("task operation failed: {e}")))?
}

/// Streams log entries read on a blocking thread.
fn spawn_log_reader(
    core: Arc<Core>,
    ns: String,
    id: String,
    path: std::path::PathBuf,
    q: Query,
) -> mpsc::Receiver<logs::Entry> {
    let (tx, rx) = mpsc::channel(256);
    tokio::task::spawn_blocking(move || {
        let running = || {
            !tx.is_closed()
                && core
                    .tasks
                    .find(&ns, &id)
                    .is_some_and(|t| !t.is_dead() && t.init_exit().is_none())
        };
        logs::read(&path, &q, &running, &mut |e| tx.blocking_send(e).is_ok());
    });
    rx
}

#[tonic::async_trait]
impl Tasks for TasksService {
    async fn create(
        &self,
        req: Request<CreateTaskRequest>,
    ) -> Result<Response<CreateTaskResponse>, Status> {
        let ns = namespace::of(&req)?;
        let core = self.core.clone();
        let r =
            finish(async move { lifecycle::create(&core, &ns, req.into_inner()).await }).await?;
        Ok(Response::new(r))
    }

    async fn start(&self, req: Request<StartRequest>) -> Result<Response<StartResponse>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        let (core, exec_id) = (self.core.clone(), req.into_inner().exec_id);
        let pid = finish(async move { lifecycle::start(&core, &task, &exec_id).await }).await?;
        Ok(Response::new(StartResponse { pid }))
    }

    async fn delete(
        &self,
        req: Request<DeleteTaskRequest>,
    ) -> Result<Response<DeleteTaskResponse>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        let (core, r) = (self.core.clone(), req.into_inner());
        let resp =
            finish(async move { lifecycle::delete(&core, &task, &r.exec_id, r.force).await })
                .await?;
        Ok(Response::new(resp))
    }

    async fn get(&self, req: Request<GetTaskRequest>) -> Result<Response<Process>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        let p = self.process(&task, &req.get_ref().exec_id).await?;
        Ok(Response::new(p))
    }

    async fn list(
        &self,
        req: Request<ListTasksRequest>,
    ) -> Result<Response<ListTasksResponse>, Status> {
        let ns = namespace::of(&req)?;
        let filters = Filters::parse(&req.get_ref().filters)?;
        let mut tasks = Vec::new();
        for t in self.core.tasks.list(&ns) {
            let Ok(p) = self.process(&t, "").await else {
                continue;
            };
            let field = |f: &str| match f {
                "container_id" | "id" => Some(p.container_id.clone()),
                "status" => Some(status_name(p.status).to_string()),
                "pid" => Some(p.pid.to_string()),
                _ => None,
            };
            if filters.matches(field) {
                tasks.push(p);
            }
        }
        Ok(Response::new(ListTasksResponse { tasks }))
    }

    async fn kill(&self, req: Request<KillRequest>) -> Result<Response<()>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        let r = req.into_inner();
        let what = format!("killing container {:?}", task.id);
        self.simple(
            &task,
            Req::Kill(shim::KillRequest {
                exec_id: r.exec_id,
                signal: r.signal,
                all: r.all,
            }),
            &what,
        )
        .await?;
        Ok(Response::new(()))
    }

    async fn exec(&self, req: Request<ExecProcessRequest>) -> Result<Response<()>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        lifecycle::exec(&self.core, &task, req.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn resize_pty(&self, req: Request<ResizePtyRequest>) -> Result<Response<()>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        let r = req.into_inner();
        let what = format!("resizing the terminal of container {:?}", task.id);
        self.simple(
            &task,
            Req::Resize(shim::ResizeRequest {
                exec_id: r.exec_id,
                width: r.width,
                height: r.height,
            }),
            &what,
        )
        .await?;
        Ok(Response::new(()))
    }

    async fn close_io(&self, req: Request<CloseIoRequest>) -> Result<Response<()>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        let r = req.into_inner();
        let what = format!("closing stdin in container {:?}", task.id);
        self.simple(
            &task,
            Req::CloseStdin(shim::ProcessRef { exec_id: r.exec_id }),
            &what,
        )
        .await?;
        Ok(Response::new(()))
    }

    async fn pause(&self, req: Request<TaskRequest>) -> Result<Response<()>, Status> {
        let (ns, task) = self.task(&req, &req.get_ref().container_id)?;
        let _ops = task.ops.lock().await;
        let what = format!("pausing container {:?}", task.id);
        self.simple(&task, Req::Pause(shim::Empty {}), &what)
            .await?;
        self.core
            .events
            .publish(&ns, "/tasks/paused", [("container_id", task.id.clone())]);
        Ok(Response::new(()))
    }

    async fn resume(&self, req: Request<TaskRequest>) -> Result<Response<()>, Status> {
        let (ns, task) = self.task(&req, &req.get_ref().container_id)?;
        let _ops = task.ops.lock().await;
        let what = format!("resuming container {:?}", task.id);
        self.simple(&task, Req::Resume(shim::Empty {}), &what)
            .await?;
        self.core
            .events
            .publish(&ns, "/tasks/resumed", [("container_id", task.id.clone())]);
        Ok(Response::new(()))
    }

    async fn pids(&self, req: Request<TaskRequest>) -> Result<Response<PidsResponse>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        if task.is_dead() {
            return Ok(Response::new(PidsResponse { processes: vec![] }));
        }
        let r = task
            .shim
            .call(Req::Pids(shim::Empty {}))
            .await
            .map_err(|e| {
                e.into_status(&format!("listing the processes of container {:?}", task.id))
            })?;
        let processes = match r {
            shim_response::Kind::Pids(l) => l
                .pids
                .into_iter()
                .map(|p| ProcessInfo {
                    pid: p.pid,
                    exec_id: p.exec_id,
                })
                .collect(),
            _ => return Err(Status::internal("the shim answered pids without pids")),
        };
        Ok(Response::new(PidsResponse { processes }))
    }

    async fn wait(&self, req: Request<WaitRequest>) -> Result<Response<WaitResponse>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        let exec_id = req.get_ref().exec_id.clone();
        let mut rx = lock(&task.procs)
            .get(&exec_id)
            .map(|p| p.exit.subscribe())
            .ok_or_else(|| {
                Status::not_found(format!(
                    "exec process {exec_id:?} not found in container {:?}",
                    task.id
                ))
            })?;
        drop(task);
        let exit = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Status::aborted("the process was deleted before it exited"))?
            .ok_or_else(|| Status::internal("exit missing"))?;
        Ok(Response::new(wait_response(exit)))
    }

    async fn update(&self, req: Request<UpdateTaskRequest>) -> Result<Response<()>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        let resources = req.into_inner().resources;
        match serde_json::from_slice::<serde_json::Value>(&resources) {
            Ok(v) if v.is_object() => {}
            _ => {
                return Err(Status::invalid_argument(
                    "resources must be an OCI linux.resources JSON object",
                ))
            }
        }
        let what = format!("updating container {:?}", task.id);
        self.simple(&task, Req::Update(shim::UpdateRequest { resources }), &what)
            .await?;
        Ok(Response::new(()))
    }

    async fn stats(&self, req: Request<TaskRequest>) -> Result<Response<TaskStats>, Status> {
        let (_, task) = self.task(&req, &req.get_ref().container_id)?;
        if task.is_dead() || task.init_exit().is_some() {
            return Err(Status::failed_precondition(format!(
                "container {:?} is not running",
                task.id
            )));
        }
        let info = task.info();
        let s = stats::read(info.cgroups_path, task.id.clone())
            .await
            .map_err(|e| Status::internal(format!("stats of container {:?}: {e}", task.id)))?;
        Ok(Response::new(s))
    }

    type AttachStream = BoxStream<AttachResponse>;

    async fn attach(
        &self,
        req: Request<Streaming<AttachRequest>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let ns = namespace::of(&req)?;
        let mut inbound = req.into_inner();
        let open = match inbound.message().await? {
            Some(AttachRequest {
                kind: Some(attach_request::Kind::Open(o)),
            }) => o,
            _ => {
                return Err(Status::invalid_argument(
                    "attach: the first message must be `open`",
                ))
            }
        };
        let task = self.core.tasks.get(&ns, &open.container_id)?;
        let mut exit_rx = lock(&task.procs)
            .get(&open.exec_id)
            .map(|p| p.exit.subscribe())
            .ok_or_else(|| {
                Status::not_found(format!(
                    "exec process {:?} not found in container {:?}",
                    open.exec_id, task.id
                ))
            })?;
        let log_path = (open.logs && open.exec_id.is_empty())
            .then(|| task.info().log_path)
            .flatten();
        let shim_conn = if task.is_dead() {
            None
        } else {
            Some(
                task.shim
                    .attach(shim::AttachRequest {
                        exec_id: open.exec_id.clone(),
                        stdin: open.stdin,
                        stdout: open.stdout,
                        stderr: open.stderr,
                    })
                    .await
                    .map_err(|e| e.into_status(&format!("attaching to container {:?}", task.id)))?,
            )
        };
        let (mut reader, writer) = match shim_conn {
            Some(c) => (Some(c.reader), Some(c.writer)),
            None => (None, None),
        };
        if let Some(mut writer) = writer {
            tokio::spawn(async move {
                while let Ok(Some(msg)) = inbound.message().await {
                    let frame = match msg.kind {
                        Some(attach_request::Kind::Stdin(data)) => ShimFrame {
                            kind: shim_frame::Kind::Stdin as i32,
                            data,
                            ..Default::default()
                        },
                        Some(attach_request::Kind::CloseStdin(true)) => ShimFrame {
                            kind: shim_frame::Kind::CloseStdin as i32,
                            ..Default::default()
                        },
                        Some(attach_request::Kind::Resize(r)) => ShimFrame {
                            kind: shim_frame::Kind::Resize as i32,
                            width: r.width,
                            height: r.height,
                            ..Default::default()
                        },
                        _ => continue,
                    };
                    if write_frame(&mut writer, &frame).await.is_err() {
                        return;
                    }
                }
            });
        }
        let core = self.core.clone();
        let (want_out, want_err) = (open.stdout, open.stderr);
        let id = task.id.clone();
        drop(task);
        let stream = async_stream(move |tx| async move {
            use attach_response::Kind as K;
            let send = |k: K| {
                let tx = tx.clone();
                async move { tx.send(Ok(AttachResponse { kind: Some(k) })).await.is_ok() }
            };
            if !send(K::Ready(true)).await {
                return;
            }
            if let Some(path) = log_path {
                let q = Query {
                    stdout: want_out,
                    stderr: want_err,
                    ..Default::default()
                };
                let mut rx = spawn_log_reader(core.clone(), ns.clone(), id.clone(), path, q);
                while let Some(e) = rx.recv().await {
                    let k = match e.stream {
                        LogStream::Stdout if want_out => K::Stdout(e.data),
                        LogStream::Stderr if want_err => K::Stderr(e.data),
                        _ => continue,
                    };
                    if !send(k).await {
                        return;
                    }
                }
            }
            if let Some(reader) = reader.as_mut() {
                loop {
                    let frame = tokio::select! {
                        f = read_frame::<_, ShimFrame>(reader) => f,
                        _ = tx.closed() => return,
                    };
                    let f = match frame {
                        Ok(Some(f)) => f,
                        // The shim went away (task deleted or shim died): report the exit
                        // shimd learns, if it learns one.
                        _ => break,
                    };
                    let k = match shim_frame::Kind::try_from(f.kind) {
                        Ok(shim_frame::Kind::Stdout) => K::Stdout(f.data),
                        Ok(shim_frame::Kind::Stderr) => K::Stderr(f.data),
                        Ok(shim_frame::Kind::Exit) => {
                            let s = f.exit.unwrap_or_default();
                            let _ = send(K::Exit(WaitResponse {
                                exit_status: s.exit_status,
                                exited_at: Some(timestamp(s.exited_at)),
                                oom_killed: false,
                            }))
                            .await;
                            return;
                        }
                        _ => continue,
                    };
                    if !send(k).await {
                        return;
                    }
                }
            }
            let exit = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                exit_rx.wait_for(Option::is_some),
            )
            .await;
            let exit = exit.map(|r| r.map(|e| *e));
            match exit {
                Ok(Ok(e)) => {
                    if let Some(e) = e {
                        let _ = send(K::Exit(wait_response(e))).await;
                    }
                }
                _ => {
                    let _ = tx
                        .send(Err(Status::unavailable(
                            "attach: lost the connection to the container's shim",
                        )))
                        .await;
                }
            }
        });
        Ok(Response::new(stream))
    }

    type LogsStream = BoxStream<LogEntry>;

    async fn logs(&self, req: Request<LogsRequest>) -> Result<Response<Self::LogsStream>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let id = r.container_id.clone();
        let record: Option<LogRecord> = self.core.db.get(CONTAINER_LOGS, &ns, &id)?;
        let record = match record {
            Some(rec) => rec,
            None => {
                let exists = self
                    .core
                    .db
                    .get::<Container>(CONTAINERS, &ns, &id)?
                    .is_some();
                return Err(if exists {
                    Status::not_found(format!(
                        "container {id:?} has no log: it never ran, or ran without one"
                    ))
                } else {
                    Status::not_found(format!("container {id:?} not found"))
                });
            }
        };
        let q = Query {
            follow: r.follow,
            stdout: r.stdout,
            stderr: r.stderr,
            since: ns_of_ts(&r.since),
            until: ns_of_ts(&r.until),
            tail: r.tail,
        };
        let mut rx = spawn_log_reader(
            self.core.clone(),
            ns,
            id,
            std::path::PathBuf::from(record.path),
            q,
        );
        let stream = async_stream(move |tx| async move {
            while let Some(e) = rx.recv().await {
                if tx.send(Ok(e.to_proto())).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(stream))
    }
}
