//! shimd: Berth's image and container manager. Serves the gRPC API of `proto/` on a unix
//! socket; stores content, images, snapshots and container records under `--root`; runs
//! each task through its own `berth-shim`, whose state lives under `--state`.

mod blob_sources;
mod config;
mod events;
mod filters;
mod gc;
mod image_error;
mod image_records;
mod leases;
mod metadata;
mod namespace;
mod pull;
mod push;
mod server;
mod services;
mod snapshotter;
mod tasks;
mod units;
mod unpack;

use std::path::PathBuf;

use clap::Parser;

/// Berth's image and container manager (gRPC on a unix socket).
#[derive(Parser, Debug)]
#[command(name = "shimd", version, about, long_about = None)]
pub struct Args {
    /// The unix socket to serve the gRPC API on.
    #[arg(long, short = 'a', value_name = "SOCK")]
    pub address: Option<PathBuf>,
    /// Where content, snapshots and the metadata database live.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Where per-task state (shim sockets, exit files, bundles) lives.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// A TOML config file (see README); flags override its values.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// trace, debug, info, warn or error (or a RUST_LOG-style filter).
    #[arg(long, short = 'l', value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// How many times its compressed size one layer may expand to (it may always expand
    /// to 64 MiB); 0: no bound. Stops decompression bombs early.
    #[arg(long, value_name = "N")]
    pub max_layer_ratio: Option<u64>,
    /// Uncompressed bytes all layers of one pull or import may expand to, e.g. 64GiB;
    /// 0: no bound.
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub max_unpack_bytes: Option<u64>,
    /// Garbage collection removes partial downloads nobody touched this long (e.g. 1h).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    pub ingest_expiry: Option<std::time::Duration>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("shimd: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    // What shimd makes for containers (snapshot directories, the rootfs mount point) must
    // not depend on the umask it was started with: a restrictive one made a container's
    // root directory unreadable for its non-root users. Set before any thread exists.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let cfg = config::Config::load(&args)?;
    init_logging(&cfg.log_level);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(server::serve(cfg))
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person watching; log files and journals get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
