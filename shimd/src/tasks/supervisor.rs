//! Watching tasks: one Wait per process to its shim, publishing `/tasks/exit`; cleaning up
//! after a shim that died; and finding every task again when shimd starts.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use berth_proto::shim::shim_request::Kind as Req;
use berth_proto::shim::{shim_response, Empty, ProcessRef, ShutdownRequest, Status as ShimStatus};

use super::bundle::{self, TaskInfo};
use super::shim_client::ShimError;
use super::{lock, now_ns, rfc3339, Exit, Proc, Task};
use crate::server::Core;

/// The exit status given to processes whose shim vanished without recording one.
pub const LOST_EXIT_STATUS: u32 = 137;

/// Waits (through the shim) for a process to exit, then records and publishes the exit.
pub fn watch_process(core: Arc<Core>, task: Arc<Task>, exec_id: String) {
    tokio::spawn(async move {
        let r = task
            .shim
            .call(Req::Wait(ProcessRef {
                exec_id: exec_id.clone(),
            }))
            .await;
        match r {
            Ok(shim_response::Kind::Exit(s)) => {
                let exit = Exit {
                    status: s.exit_status,
                    at_ns: s.exited_at,
                    oom: false,
                };
                record_exit(&core, &task, &exec_id, exit).await;
            }
            Ok(_) => tracing::warn!(id = %task.id, exec_id, "unexpected answer to wait"),
            Err(ShimError::Unavailable(e)) => {
                if !task.deleting.load(Ordering::SeqCst) {
                    tracing::warn!(namespace = %task.ns, id = %task.id, error = %e,
                        "lost the shim; cleaning up the task");
                    shim_died(&core, &task).await;
                }
            }
            // E.g. the exec process was deleted meanwhile.
            Err(ShimError::Failed { message, .. }) => {
                tracing::debug!(id = %task.id, exec_id, message, "wait ended")
            }
        }
    });
}

/// Records an exit (once) and publishes `/tasks/exit`, after any start in progress.
pub async fn record_exit(core: &Core, task: &Task, exec_id: &str, exit: Exit) {
    let _ops = task.ops.lock().await;
    record_exit_locked(core, task, exec_id, exit).await;
}

/// As `record_exit`, for callers already holding `task.ops`.
pub async fn record_exit_locked(core: &Core, task: &Task, exec_id: &str, mut exit: Exit) {
    let known = lock(&task.procs).get(exec_id).map(|p| p.exited());
    let Some(already) = known else { return };
    if let Some(prev) = already {
        exit = prev;
    } else if exec_id.is_empty() && exit.status == 137 {
        let info = task.info();
        exit.oom = super::stats::oom_killed(info.cgroups_path, task.id.clone()).await;
    }
    let publish = {
        let mut procs = lock(&task.procs);
        let Some(p) = procs.get_mut(exec_id) else {
            return;
        };
        if already.is_none() {
            p.exit.send_replace(Some(exit));
        }
        let first = !p.exit_published;
        p.exit_published = true;
        first.then_some(p.pid)
    };
    if let Some(pid) = publish {
        if exit.oom {
            core.events
                .publish(&task.ns, "/tasks/oom", [("container_id", task.id.clone())]);
        }
        let id = if exec_id.is_empty() {
            &task.id
        } else {
            exec_id
        };
        core.events.publish(
            &task.ns,
            "/tasks/exit",
            [
                ("container_id", task.id.clone()),
                ("id", id.to_string()),
                ("exec_id", exec_id.to_string()),
                ("pid", pid.to_string()),
                ("exit_status", exit.status.to_string()),
                ("exited_at", rfc3339(exit.at_ns)),
            ],
        );
    }
}

/// The shim is gone: clean up after it (the runtime's delete, the rootfs mount) and mark
/// every process stopped with the exit status on disk (or 137 when there is none).
pub async fn shim_died(core: &Core, task: &Task) {
    let _ops = task.ops.lock().await;
    if task.is_dead() || task.deleting.load(Ordering::SeqCst) {
        return;
    }
    let info = task.info();
    cleanup_after_shim(&task.dir, &task.id, &info).await;
    let init_exit = match bundle::read_exit_file(&task.dir) {
        Some((status, at_ns)) => Exit {
            status,
            at_ns,
            oom: false,
        },
        None => {
            let at_ns = now_ns();
            // Remember it, so another restart reports the same.
            let line = format!("{LOST_EXIT_STATUS} {at_ns} {}\n", info.pid);
            let _ = bundle::write_atomic(&task.dir.join(bundle::EXIT_FILE), line.as_bytes());
            Exit {
                status: LOST_EXIT_STATUS,
                at_ns,
                oom: false,
            }
        }
    };
    task.dead.store(true, Ordering::SeqCst);
    let exec_ids: Vec<String> = lock(&task.procs).keys().cloned().collect();
    for exec_id in exec_ids {
        let exit = if exec_id.is_empty() {
            init_exit
        } else {
            Exit {
                status: LOST_EXIT_STATUS,
                at_ns: init_exit.at_ns,
                oom: false,
            }
        };
        record_exit_locked(core, task, &exec_id, exit).await;
    }
}

/// What a dead shim would have done: the runtime forgets (and kills) the container, and
/// the rootfs is unmounted.
pub async fn cleanup_after_shim(dir: &Path, id: &str, info: &TaskInfo) {
    if !info.runtime.is_empty() {
        let out = tokio::process::Command::new(&info.runtime)
            .args(&info.runtime_options)
            .args(["delete", "--force", id])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        match out {
            Ok(o) if !o.status.success() => tracing::warn!(id,
                error = %String::from_utf8_lossy(&o.stderr).trim(), "runtime delete --force failed"),
            Err(e) => tracing::warn!(id, error = %e, "cannot run the runtime to clean up"),
            _ => {}
        }
    }
    if let Err(e) = super::mounts::unmount_all(&dir.join("rootfs")) {
        tracing::warn!(id, error = %e, "cannot unmount the rootfs");
    }
}

/// Finds every task under the state directory: reconnects to live shims (re-issuing a
/// Wait per process, so exits that happened meanwhile are reported) and cleans up after
/// dead ones.
pub async fn recover(core: Arc<Core>) {
    let state = core.config.state.clone();
    let Ok(namespaces) = std::fs::read_dir(&state) else {
        return;
    };
    for ns in namespaces.flatten() {
        let ns_name = ns.file_name().to_string_lossy().into_owned();
        if crate::namespace::validate(&ns_name).is_err() || !ns.path().is_dir() {
            continue;
        }
        let Ok(ids) = std::fs::read_dir(ns.path()) else {
            continue;
        };
        for e in ids.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if id == bundle::RUNTIME_ROOT || !e.path().is_dir() {
                continue;
            }
            recover_one(&core, &ns_name, &id, &e.path()).await;
        }
    }
}

async fn recover_one(core: &Arc<Core>, ns: &str, id: &str, dir: &Path) {
    let info = match bundle::load_info(dir) {
        Ok(i) => i,
        Err(_) => {
            // No task record: a create cut short (or only the container's log is left).
            if dir.join("rootfs").exists() || dir.join(bundle::CONFIG_FILE).exists() {
                tracing::info!(
                    namespace = ns,
                    id,
                    "removing a task directory left by an interrupted create"
                );
                let _ = super::mounts::unmount_all(&dir.join("rootfs"));
                let _ = bundle::clear_task_dir(dir);
            }
            return;
        }
    };
    let task = Arc::new(Task::new(ns, id, dir.to_path_buf(), info.clone()));
    let probe = task
        .shim
        .call_within(Req::Connect(Empty {}), Duration::from_secs(3))
        .await;
    if probe.is_ok() {
        match task.shim.call(Req::List(Empty {})).await {
            Ok(shim_response::Kind::List(list)) if !list.processes.is_empty() => {
                {
                    let mut procs = lock(&task.procs);
                    for p in &list.processes {
                        procs.insert(p.exec_id.clone(), Proc::new(p.pid, p.terminal, p.stdin));
                    }
                }
                core.tasks.insert(task.clone());
                for p in list.processes {
                    // A stopped process answers at once: its exit is published now.
                    if ShimStatus::try_from(p.status) == Ok(ShimStatus::Stopped) || p.pid != 0 {
                        watch_process(core.clone(), task.clone(), p.exec_id);
                    }
                }
                tracing::info!(namespace = ns, id, "reconnected to the task's shim");
                return;
            }
            _ => {
                // A shim without a task: its create never finished.
                let _ = task
                    .shim
                    .call(Req::Shutdown(ShutdownRequest { now: true }))
                    .await;
                cleanup_after_shim(dir, id, &info).await;
                let _ = bundle::clear_task_dir(dir);
                return;
            }
        }
    }
    tracing::warn!(namespace = ns, id, "the task's shim is gone; cleaning up");
    lock(&task.procs).insert(
        String::new(),
        Proc::new(info.pid, info.terminal, info.stdin),
    );
    core.tasks.insert(task.clone());
    shim_died(core, &task).await;
}
