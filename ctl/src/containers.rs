//! berthctl containers: ls, info, rm.

use std::time::Duration;

use berth_proto::v1::{
    DeleteContainerRequest, DeleteTaskRequest, GetContainerRequest, GetTaskRequest,
    ListContainersRequest, SnapshotKeyRequest, TaskStatus, WaitRequest,
};
use comfy_table::{presets::NOTHING, Table};

use crate::context::Context;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// List containers.
    #[command(visible_alias = "list")]
    Ls {
        /// Print ids only.
        #[arg(short, long)]
        quiet: bool,
        /// Filters like image~=*busybox* or labels.app==web.
        #[arg(long = "filter", short = 'f')]
        filters: Vec<String>,
    },
    /// Show a container record (its spec decoded) as JSON.
    Info { id: String },
    /// Remove containers (a stopped task is deleted first) and their snapshots.
    #[command(visible_alias = "delete", visible_alias = "remove")]
    Rm {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Also kill and delete a running task.
        #[arg(short, long)]
        force: bool,
        /// Keep the container's snapshot.
        #[arg(long)]
        keep_snapshot: bool,
    },
}

pub async fn run(ctx: &Context, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Ls { quiet, filters } => {
            let list = ctx
                .containers()
                .await?
                .list(ListContainersRequest { filters })
                .await?
                .into_inner()
                .containers;
            if quiet {
                for c in list {
                    println!("{}", c.id);
                }
                return Ok(0);
            }
            let mut t = Table::new();
            t.load_preset(NOTHING)
                .set_header(["CONTAINER", "IMAGE", "RUNTIME"]);
            for c in list {
                let rt = c
                    .runtime
                    .map(|r| r.binary)
                    .filter(|b| !b.is_empty())
                    .unwrap_or_else(|| "(default)".into());
                t.add_row([c.id, c.image, rt]);
            }
            println!("{t}");
            Ok(0)
        }
        Cmd::Info { id } => {
            let c = ctx
                .containers()
                .await?
                .get(GetContainerRequest { id })
                .await?
                .into_inner();
            let spec: serde_json::Value =
                serde_json::from_slice(&c.spec).unwrap_or(serde_json::Value::Null);
            let ts = |t: Option<prost_types::Timestamp>| {
                t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
                    .map(|d| d.to_rfc3339())
            };
            let v = serde_json::json!({
                "id": c.id,
                "image": c.image,
                "labels": c.labels,
                "runtime": c.runtime.map(|r| serde_json::json!({"binary": r.binary, "options": r.options})),
                "snapshot_key": c.snapshot_key,
                "created_at": ts(c.created_at),
                "updated_at": ts(c.updated_at),
                "extensions": c.extensions.keys().collect::<Vec<_>>(),
                "spec": spec,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
        Cmd::Rm {
            ids,
            force,
            keep_snapshot,
        } => {
            let mut code = 0;
            for id in ids {
                if let Err(e) = remove(ctx, &id, force, keep_snapshot).await {
                    eprintln!("berthctl: removing {id}: {}", crate::context::describe(&e));
                    code = 1;
                }
            }
            Ok(code)
        }
    }
}

/// Deletes the container's task (stopped; or any with `force`), the record, the snapshot.
async fn remove(ctx: &Context, id: &str, force: bool, keep_snapshot: bool) -> anyhow::Result<()> {
    let mut containers = ctx.containers().await?;
    let c = containers
        .get(GetContainerRequest { id: id.to_string() })
        .await?
        .into_inner();
    let mut tasks = ctx.tasks().await?;
    let task = tasks
        .get(GetTaskRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
        })
        .await;
    if let Ok(t) = task {
        let mut stopped = t.into_inner().status == TaskStatus::Stopped as i32;
        if !stopped && !force {
            // A task just killed may take a moment to be reaped.
            let wait = tasks.wait(WaitRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
            });
            stopped = matches!(
                tokio::time::timeout(Duration::from_secs(2), wait).await,
                Ok(Ok(_))
            );
        }
        if !stopped && !force {
            anyhow::bail!(
                "container {id} has a running task: kill it first (berthctl tasks kill), or use --force"
            );
        }
        tasks
            .delete(DeleteTaskRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
                force,
            })
            .await?;
    }
    containers
        .delete(DeleteContainerRequest { id: id.to_string() })
        .await?;
    if !keep_snapshot && !c.snapshot_key.is_empty() {
        let r = ctx
            .snapshots()
            .await?
            .remove(SnapshotKeyRequest {
                key: c.snapshot_key.clone(),
            })
            .await;
        if let Err(s) = r {
            if s.code() != tonic::Code::NotFound {
                return Err(s.into());
            }
        }
    }
    Ok(())
}
