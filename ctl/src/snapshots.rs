//! berthctl snapshots: ls, usage, rm.

use berth_proto::v1::{ListSnapshotsRequest, SnapshotKeyRequest, SnapshotKind};
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
}

fn kind(k: i32) -> &'static str {
    match SnapshotKind::try_from(k).unwrap_or(SnapshotKind::Unknown) {
        SnapshotKind::View => "View",
        SnapshotKind::Active => "Active",
        SnapshotKind::Committed => "Committed",
        SnapshotKind::Unknown => "Unknown",
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
    }
}
