//! berthctl namespaces: ls, rm.

use berth_proto::v1::DeleteNamespaceRequest;

use crate::context::Context;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// List namespaces (one per line).
    #[command(visible_alias = "list")]
    Ls,
    /// Remove empty namespaces.
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub async fn run(ctx: &Context, cmd: Cmd) -> anyhow::Result<i32> {
    let mut c = ctx.system().await?;
    match cmd {
        Cmd::Ls => {
            for n in c.list_namespaces(()).await?.into_inner().namespaces {
                println!("{}", n.name);
            }
            Ok(0)
        }
        Cmd::Rm { names } => {
            for n in names {
                c.delete_namespace(DeleteNamespaceRequest { name: n.clone() })
                    .await
                    .map_err(|e| anyhow::anyhow!("removing namespace {n}: {}", e.message()))?;
                println!("{n}");
            }
            Ok(0)
        }
    }
}
