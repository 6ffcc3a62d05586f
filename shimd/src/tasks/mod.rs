//! Tasks: a container's init process and its exec processes, each task held by its own
//! berth-shim (see shimd/TASKS.md). shimd keeps one `Task` per running container, waits on
//! every process through its shim (so no exit is lost), and finds its shims again after a
//! restart.

pub mod binaries;
pub mod bundle;
pub mod lifecycle;
pub mod logs;
pub mod mounts;
pub mod oci;
pub mod shim_client;
pub mod shim_init;
pub mod stats;
pub mod supervisor;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_proto::shim::{ProcessState, Status as ShimStatus};
use berth_proto::v1::{Process, TaskStatus};
use tokio::sync::watch;
use tonic::Status;

use bundle::TaskInfo;
use shim_client::ShimClient;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exit {
    pub status: u32,
    /// Unix nanoseconds.
    pub at_ns: i64,
    pub oom: bool,
}

/// What shimd knows of one process of a task.
pub struct Proc {
    pub pid: u32,
    pub terminal: bool,
    pub stdin: bool,
    /// Set once, when the exit is known; waiters watch it.
    pub exit: watch::Sender<Option<Exit>>,
    pub exit_published: bool,
}

impl Proc {
    pub fn new(pid: u32, terminal: bool, stdin: bool) -> Proc {
        Proc {
            pid,
            terminal,
            stdin,
            exit: watch::channel(None).0,
            exit_published: false,
        }
    }

    pub fn exited(&self) -> Option<Exit> {
        *self.exit.borrow()
    }
}

pub struct Task {
    pub ns: String,
    pub id: String,
    pub dir: PathBuf,
    pub info: Mutex<TaskInfo>,
    pub shim: ShimClient,
    /// Serializes start, delete and exit handling, so events keep their order
    /// (create → start → exit → delete).
    pub ops: tokio::sync::Mutex<()>,
    /// By exec id; "" is the init process.
    pub procs: Mutex<HashMap<String, Proc>>,
    /// The shim is gone: the task was cleaned up and is stopped until deleted.
    pub dead: AtomicBool,
    /// A delete is under way: the shim going away is expected.
    pub deleting: AtomicBool,
}

impl Task {
    pub fn new(ns: &str, id: &str, dir: PathBuf, info: TaskInfo) -> Task {
        Task {
            ns: ns.to_string(),
            id: id.to_string(),
            shim: ShimClient::new(info.socket.clone()),
            dir,
            info: Mutex::new(info),
            ops: tokio::sync::Mutex::new(()),
            procs: Mutex::new(HashMap::new()),
            dead: AtomicBool::new(false),
            deleting: AtomicBool::new(false),
        }
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    pub fn info(&self) -> TaskInfo {
        lock(&self.info).clone()
    }

    pub fn init_exit(&self) -> Option<Exit> {
        lock(&self.procs).get("").and_then(Proc::exited)
    }

    /// A process as shimd last knew it (used when the shim cannot answer).
    pub fn cached_process(&self, exec_id: &str) -> Option<Process> {
        let procs = lock(&self.procs);
        let p = procs.get(exec_id)?;
        let exit = p.exited();
        Some(Process {
            container_id: self.id.clone(),
            exec_id: exec_id.to_string(),
            pid: p.pid,
            status: if exit.is_some() {
                TaskStatus::Stopped
            } else {
                TaskStatus::Unknown
            } as i32,
            terminal: p.terminal,
            stdin: p.stdin,
            exit_status: exit.map(|e| e.status).unwrap_or(0),
            exited_at: exit.map(|e| timestamp(e.at_ns)),
            started_at: None,
        })
    }

    /// A process as the shim reports it.
    pub fn process_from(&self, s: &ProcessState) -> Process {
        let status = match ShimStatus::try_from(s.status).unwrap_or(ShimStatus::Unknown) {
            ShimStatus::Unknown => TaskStatus::Unknown,
            ShimStatus::Created => TaskStatus::Created,
            ShimStatus::Running => TaskStatus::Running,
            ShimStatus::Stopped => TaskStatus::Stopped,
            ShimStatus::Paused => TaskStatus::Paused,
        };
        Process {
            container_id: self.id.clone(),
            exec_id: s.exec_id.clone(),
            pid: s.pid,
            status: status as i32,
            terminal: s.terminal,
            stdin: s.stdin,
            exit_status: s.exit_status,
            exited_at: (s.exited_at != 0).then(|| timestamp(s.exited_at)),
            started_at: (s.started_at != 0).then(|| timestamp(s.started_at)),
        }
    }
}

/// Locks a std mutex; a panic elsewhere never makes the state unusable.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn timestamp(ns: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ns.div_euclid(1_000_000_000),
        nanos: ns.rem_euclid(1_000_000_000) as i32,
    }
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// RFC 3339 text for event attributes.
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

type Key = (String, String);

/// Every task shimd holds, by namespace and container id.
#[derive(Default)]
pub struct TaskManager {
    tasks: Mutex<HashMap<Key, Arc<Task>>>,
    /// Containers whose task is being created right now.
    creating: Mutex<HashSet<Key>>,
}

/// Holds a container id while its task is created; released on drop.
pub struct Reservation<'a> {
    mgr: &'a TaskManager,
    key: Key,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        lock(&self.mgr.creating).remove(&self.key);
    }
}

impl TaskManager {
    pub fn get(&self, ns: &str, id: &str) -> Result<Arc<Task>, Status> {
        self.find(ns, id)
            .ok_or_else(|| Status::not_found(format!("container {id:?} has no task")))
    }

    pub fn find(&self, ns: &str, id: &str) -> Option<Arc<Task>> {
        lock(&self.tasks)
            .get(&(ns.to_string(), id.to_string()))
            .cloned()
    }

    /// Whether a container has a task (or one is being created).
    pub fn exists(&self, ns: &str, id: &str) -> bool {
        let key = (ns.to_string(), id.to_string());
        lock(&self.tasks).contains_key(&key) || lock(&self.creating).contains(&key)
    }

    pub fn list(&self, ns: &str) -> Vec<Arc<Task>> {
        let mut v: Vec<Arc<Task>> = lock(&self.tasks)
            .values()
            .filter(|t| t.ns == ns)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    pub fn reserve(&self, ns: &str, id: &str) -> Result<Reservation<'_>, Status> {
        let key = (ns.to_string(), id.to_string());
        let mut creating = lock(&self.creating);
        if lock(&self.tasks).contains_key(&key) || !creating.insert(key.clone()) {
            return Err(Status::already_exists(format!(
                "container {id:?} already has a task"
            )));
        }
        Ok(Reservation { mgr: self, key })
    }

    pub fn insert(&self, task: Arc<Task>) {
        lock(&self.tasks).insert((task.ns.clone(), task.id.clone()), task);
    }

    pub fn remove(&self, ns: &str, id: &str) {
        lock(&self.tasks).remove(&(ns.to_string(), id.to_string()));
    }
}
