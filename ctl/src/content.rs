//! berthctl content: ls, get.

use std::io::Write;

use berth_proto::v1::{ListContentRequest, ReadContentRequest};
use comfy_table::{presets::NOTHING, Table};
use futures::StreamExt;

use crate::context::Context;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// List the blobs this namespace references.
    #[command(visible_alias = "list")]
    Ls {
        /// Digests only.
        #[arg(short, long)]
        quiet: bool,
        #[arg(long = "filter", short = 'f')]
        filters: Vec<String>,
    },
    /// Write a blob to stdout (verified against its digest).
    Get { digest: String },
}

pub async fn run(ctx: &Context, cmd: Cmd) -> anyhow::Result<i32> {
    let mut c = ctx.content().await?;
    match cmd {
        Cmd::Ls { quiet, filters } => {
            let list = c
                .list(ListContentRequest { filters })
                .await?
                .into_inner()
                .infos;
            if quiet {
                for i in list {
                    println!("{}", i.digest);
                }
                return Ok(0);
            }
            let mut t = Table::new();
            t.load_preset(NOTHING);
            t.set_header(["DIGEST", "SIZE", "AGE", "LABELS"]);
            let now = chrono::Utc::now().timestamp();
            for i in list {
                let age = i
                    .created_at
                    .map(|t| format!("{}s", now - t.seconds))
                    .unwrap_or_default();
                let mut labels: Vec<String> =
                    i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                labels.sort();
                t.add_row([i.digest, i.size.to_string(), age, labels.join(",")]);
            }
            println!("{t}");
            Ok(0)
        }
        Cmd::Get { digest } => {
            let mut s = c
                .read(ReadContentRequest {
                    digest: digest.clone(),
                    offset: 0,
                    size: 0,
                })
                .await
                .map_err(|e| anyhow::anyhow!("blob {digest}: {}", e.message()))?
                .into_inner();
            let mut out = std::io::stdout().lock();
            while let Some(m) = s.next().await {
                let m = m.map_err(|e| anyhow::anyhow!("blob {digest}: {}", e.message()))?;
                out.write_all(&m.data)?;
            }
            out.flush()?;
            Ok(0)
        }
    }
}
