//! berthctl: the low-level debug CLI of Berth. Speaks shimd's gRPC API directly, like
//! containerd's `ctr`; every command works in one namespace (`-n`, default "default").

mod attach;
mod containers;
mod content;
mod context;
mod events;
mod images;
mod leases;
mod namespaces;
mod run;
mod snapshots;
mod system;
mod tasks;

use clap::{Parser, Subcommand};

/// Low-level debug CLI for shimd, Berth's image and container manager.
#[derive(Parser, Debug)]
#[command(name = "berthctl", version, about, long_about = None)]
struct Cli {
    /// shimd's socket.
    #[arg(
        long,
        short = 'a',
        global = true,
        env = "BERTH_SHIMD_ADDRESS",
        default_value = "/run/berth/shimd.sock",
        value_name = "SOCK"
    )]
    address: std::path::PathBuf,
    /// The namespace to work in.
    #[arg(
        long,
        short = 'n',
        global = true,
        env = "BERTH_NAMESPACE",
        default_value = "default"
    )]
    namespace: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Pull, list, tag, remove, import, export and push images.
    #[command(subcommand, visible_alias = "image", visible_alias = "i")]
    Images(images::Cmd),
    /// Run a container from an image (create, start, attach, wait).
    Run(run::Args),
    /// Container records.
    #[command(subcommand, visible_alias = "container", visible_alias = "c")]
    Containers(containers::Cmd),
    /// Running containers and their processes.
    #[command(subcommand, visible_alias = "task", visible_alias = "t")]
    Tasks(tasks::Cmd),
    /// Snapshots of the snapshotter.
    #[command(subcommand, visible_alias = "snapshot")]
    Snapshots(snapshots::Cmd),
    /// Blobs of the content store.
    #[command(subcommand)]
    Content(content::Cmd),
    /// Stream events as they happen.
    Events(events::Args),
    /// Namespaces.
    #[command(subcommand, visible_alias = "ns")]
    Namespaces(namespaces::Cmd),
    /// Leases that keep content and snapshots from garbage collection.
    #[command(subcommand, visible_alias = "lease")]
    Leases(leases::Cmd),
    /// Garbage collection and disk usage.
    #[command(subcommand)]
    System(system::Cmd),
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async move {
        let ctx = context::Context::new(cli.address, cli.namespace);
        let r = match cli.command {
            Command::Images(c) => images::run(&ctx, c).await,
            Command::Run(a) => run::run(&ctx, a).await,
            Command::Containers(c) => containers::run(&ctx, c).await,
            Command::Tasks(c) => tasks::run(&ctx, c).await,
            Command::Snapshots(c) => snapshots::run(&ctx, c).await,
            Command::Content(c) => content::run(&ctx, c).await,
            Command::Events(a) => events::run(&ctx, a).await,
            Command::Namespaces(c) => namespaces::run(&ctx, c).await,
            Command::Leases(c) => leases::run(&ctx, c).await,
            Command::System(c) => system::run(&ctx, c).await,
        };
        match r {
            Ok(code) => code,
            Err(e) => {
                eprintln!("berthctl: {}", context::describe(&e));
                1
            }
        }
    });
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
