//! berthctl system: gc, df.

use berth_proto::v1::GarbageCollectRequest;

use crate::context::Context;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Remove content and snapshots of this namespace that no image, container, lease or
    /// snapshot uses (blobs go when no namespace uses them).
    #[command(visible_alias = "prune")]
    Gc {
        /// Only report what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Disk used by the content store and the snapshots.
    Df,
}

pub async fn run(ctx: &Context, cmd: Cmd) -> anyhow::Result<i32> {
    let mut c = ctx.system().await?;
    match cmd {
        Cmd::Gc { dry_run } => {
            let r = c
                .garbage_collect(GarbageCollectRequest { dry_run })
                .await?
                .into_inner();
            let verb = if dry_run { "would remove" } else { "removed" };
            println!(
                "{verb} {} blobs and {} snapshots, {} bytes",
                r.content_removed, r.snapshots_removed, r.bytes_reclaimed
            );
            Ok(0)
        }
        Cmd::Df => {
            let r = c.disk_usage(()).await?.into_inner();
            println!("TYPE       COUNT  BYTES");
            println!("content    {:<6} {}", r.content_count, r.content_bytes);
            println!("snapshots  {:<6} {}", r.snapshots_count, r.snapshots_bytes);
            Ok(0)
        }
    }
}
