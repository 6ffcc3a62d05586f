//! berthctl snapshots: ls, usage, rm, prepare, view, mounts, commit.

use berth_proto::v1::{
    CommitSnapshotRequest, ListSnapshotsRequest, Mount, PrepareSnapshotRequest, SnapshotKeyRequest,
    SnapshotKind,
};
use comfy_table::{presets::NOTHING, Table};

use crate::context::Context;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// List snapshots.
    #[command(visible_alias = "list")]
    Ls {
        #[arg(long = "filter", short = 'f')]
        filters: Vec<String>,
    },
    /// Disk usage of snapshots (all, or the ones named).
    #[command(visible_alias = "du")]
    Usage { keys: Vec<String> },
    /// Remove snapshots.
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Create a writable snapshot on top of PARENT (a committed snapshot, e.g. an image's
    /// chain ID) and print how to mount it.
    Prepare {
        key: String,
        parent: Option<String>,
        /// Print a mount(8) command mounting it on this directory.
        #[arg(long, value_name = "DIR")]
        mount_cmd: Option<String>,
    },
    /// Create a read-only snapshot of PARENT and print how to mount it.
    View {
        key: String,
        parent: String,
        /// Print a mount(8) command mounting it on this directory.
        #[arg(long, value_name = "DIR")]
        mount_cmd: Option<String>,
    },
    /// Print how to mount an active snapshot or a view.
    Mounts {
        key: String,
        /// Print a mount(8) command mounting it on this directory.
        #[arg(long, value_name = "DIR")]
        mount_cmd: Option<String>,
    },
    /// Commit the active snapshot KEY as NAME.
    Commit { name: String, key: String },
}

fn kind(k: i32) -> &'static str {
    match SnapshotKind::try_from(k).unwrap_or(SnapshotKind::Unknown) {
        SnapshotKind::View => "View",
        SnapshotKind::Active => "Active",
        SnapshotKind::Committed => "Committed",
        SnapshotKind::Unknown => "Unknown",
    }
}

/// One line per mount (`TYPE SOURCE OPTIONS`), or mount(8) commands onto `dir`.
fn print_mounts(mounts: &[Mount], dir: Option<&str>) {
    for m in mounts {
        let opts = m.options.join(",");
        match dir {
            Some(d) => println!("mount -t {} {} {d} -o {opts}", m.r#type, m.source),
            None => println!("{} {} {opts}", m.r#type, m.source),
        }
    }
}

pub async fn run(ctx: &Context, cmd: Cmd) -> anyhow::Result<i32> {
    let mut c = ctx.snapshots().await?;
    match cmd {
        Cmd::Ls { filters } => {
            let list = c
                .list(ListSnapshotsRequest { filters })
                .await?
                .into_inner()
                .infos;
            let mut t = Table::new();
            t.load_preset(NOTHING);
            t.set_header(["KEY", "PARENT", "KIND"]);
            for i in list {
                t.add_row([i.name, i.parent, kind(i.kind).to_string()]);
            }
            println!("{t}");
            Ok(0)
        }
        Cmd::Usage { keys } => {
            let keys = if keys.is_empty() {
                c.list(ListSnapshotsRequest { filters: vec![] })
                    .await?
                    .into_inner()
                    .infos
                    .into_iter()
                    .map(|i| i.name)
                    .collect()
            } else {
                keys
            };
            let mut t = Table::new();
            t.load_preset(NOTHING);
            t.set_header(["KEY", "SIZE", "INODES"]);
            for k in keys {
                let u = c
                    .usage(SnapshotKeyRequest { key: k.clone() })
                    .await
                    .map_err(|e| anyhow::anyhow!("snapshot {k}: {}", e.message()))?
                    .into_inner();
                t.add_row([k, u.size.to_string(), u.inodes.to_string()]);
            }
            println!("{t}");
            Ok(0)
        }
        Cmd::Rm { keys } => {
            let mut code = 0;
            for k in keys {
                match c.remove(SnapshotKeyRequest { key: k.clone() }).await {
                    Ok(_) => println!("{k}"),
                    Err(e) => {
                        eprintln!("berthctl: removing snapshot {k}: {}", e.message());
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        Cmd::Prepare {
            key,
            parent,
            mount_cmd,
        } => {
            let m = c
                .prepare(PrepareSnapshotRequest {
                    key: key.clone(),
                    parent: parent.unwrap_or_default(),
                    labels: Default::default(),
                })
                .await
                .map_err(|e| anyhow::anyhow!("preparing snapshot {key}: {}", e.message()))?
                .into_inner();
            print_mounts(&m.mounts, mount_cmd.as_deref());
            Ok(0)
        }
        Cmd::View {
            key,
            parent,
            mount_cmd,
        } => {
            let m = c
                .view(PrepareSnapshotRequest {
                    key: key.clone(),
                    parent,
                    labels: Default::default(),
                })
                .await
                .map_err(|e| anyhow::anyhow!("creating view {key}: {}", e.message()))?
                .into_inner();
            print_mounts(&m.mounts, mount_cmd.as_deref());
            Ok(0)
        }
        Cmd::Mounts { key, mount_cmd } => {
            let m = c
                .mounts(SnapshotKeyRequest { key: key.clone() })
                .await
                .map_err(|e| anyhow::anyhow!("snapshot {key}: {}", e.message()))?
                .into_inner();
            print_mounts(&m.mounts, mount_cmd.as_deref());
            Ok(0)
        }
        Cmd::Commit { name, key } => {
            c.commit(CommitSnapshotRequest {
                name: name.clone(),
                key: key.clone(),
                labels: Default::default(),
            })
            .await
            .map_err(|e| anyhow::anyhow!("committing snapshot {key} as {name}: {}", e.message()))?;
            println!("{name}");
            Ok(0)
        }
    }
}
