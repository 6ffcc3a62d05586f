//! berthctl leases: ls, create, rm, add, resources. A lease keeps content and snapshots
//! from garbage collection while a client works with them.

use berth_proto::v1::{
    CreateLeaseRequest, DeleteLeaseRequest, LeaseResource, LeaseResourceRequest,
    ListLeaseResourcesRequest, ListLeasesRequest,
};
use comfy_table::{presets::NOTHING, Table};

use crate::context::Context;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// List leases.
    #[command(visible_alias = "list")]
    Ls {
        /// Ids only.
        #[arg(short, long)]
        quiet: bool,
        #[arg(long = "filter", short = 'f')]
        filters: Vec<String>,
    },
    /// Create a lease and print its id.
    Create {
        /// The id (default: a generated one).
        #[arg(long)]
        id: Option<String>,
        /// Seconds until the lease stops protecting anything (default: never).
        #[arg(long, default_value_t = 0)]
        expire: i64,
        /// A label KEY=VALUE (repeatable).
        #[arg(long = "label", short = 'l', value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// Remove leases.
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Collect garbage before returning.
        #[arg(long)]
        sync: bool,
    },
    /// Protect a blob (`content sha256:...`) or a snapshot (`snapshots KEY`) with a lease.
    Add {
        id: String,
        #[arg(value_parser = ["content", "snapshots"])]
        kind: String,
        resource: String,
    },
    /// Stop protecting a resource with a lease.
    Del {
        id: String,
        #[arg(value_parser = ["content", "snapshots"])]
        kind: String,
        resource: String,
    },
    /// List what a lease protects.
    Resources { id: String },
}

fn parse_labels(list: &[String]) -> anyhow::Result<std::collections::HashMap<String, String>> {
    list.iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("invalid label {l:?}: use KEY=VALUE"))
        })
        .collect()
}

pub async fn run(ctx: &Context, cmd: Cmd) -> anyhow::Result<i32> {
    let mut c = ctx.leases().await?;
    let resource_req = |id: String, kind: String, resource: String| LeaseResourceRequest {
        lease_id: id,
        resource: Some(LeaseResource {
            id: resource,
            r#type: kind,
        }),
    };
    match cmd {
        Cmd::Ls { quiet, filters } => {
            let list = c
                .list(ListLeasesRequest { filters })
                .await?
                .into_inner()
                .leases;
            if quiet {
                for l in list {
                    println!("{}", l.id);
                }
                return Ok(0);
            }
            let mut t = Table::new();
            t.load_preset(NOTHING);
            t.set_header(["ID", "CREATED", "EXPIRES", "LABELS"]);
            let when = |ts: Option<prost_types::Timestamp>| {
                ts.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_else(|| "-".into())
            };
            for l in list {
                let mut labels: Vec<String> =
                    l.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                labels.sort();
                t.add_row([
                    l.id,
                    when(l.created_at),
                    when(l.expires_at),
                    labels.join(","),
                ]);
            }
            println!("{t}");
            Ok(0)
        }
        Cmd::Create { id, expire, labels } => {
            if expire < 0 {
                anyhow::bail!("--expire must be 0 (never) or a number of seconds");
            }
            let l = c
                .create(CreateLeaseRequest {
                    id: id.unwrap_or_default(),
                    labels: parse_labels(&labels)?,
                    expire_seconds: expire,
                })
                .await?
                .into_inner();
            println!("{}", l.id);
            Ok(0)
        }
        Cmd::Rm { ids, sync } => {
            let mut code = 0;
            for id in ids {
                match c
                    .delete(DeleteLeaseRequest {
                        id: id.clone(),
                        sync,
                    })
                    .await
                {
                    Ok(_) => println!("{id}"),
                    Err(e) => {
                        eprintln!("berthctl: removing lease {id}: {}", e.message());
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        Cmd::Add { id, kind, resource } => {
            c.add_resource(resource_req(id.clone(), kind, resource.clone()))
                .await
                .map_err(|e| anyhow::anyhow!("lease {id}: adding {resource}: {}", e.message()))?;
            Ok(0)
        }
        Cmd::Del { id, kind, resource } => {
            c.delete_resource(resource_req(id.clone(), kind, resource.clone()))
                .await
                .map_err(|e| anyhow::anyhow!("lease {id}: removing {resource}: {}", e.message()))?;
            Ok(0)
        }
        Cmd::Resources { id } => {
            let list = c
                .list_resources(ListLeaseResourcesRequest {
                    lease_id: id.clone(),
                })
                .await
                .map_err(|e| anyhow::anyhow!("lease {id}: {}", e.message()))?
                .into_inner()
                .resources;
            for r in list {
                println!("{} {}", r.r#type, r.id);
            }
            Ok(0)
        }
    }
}
