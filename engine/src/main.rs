//! berthd: Berth's engine daemon. Serves the Docker Engine API on a unix socket (and on TCP
//! with TLS client verification), keeps what users name (containers, their names, configs and
//! restart policies) and drives shimd over its gRPC API for images, snapshots and tasks.

mod api;
mod archive;
mod build;
mod config;
mod containers;
mod daemon;
mod engine;
mod error;
mod events;
mod execs;
mod images;
mod init_binary;
mod listen;
mod networks;
mod registry_auth;
mod rootfs;
mod shimd;
mod spec;
mod util;
mod volumes;

use clap::Parser;

fn main() {
    let args = config::Args::parse();
    // As dockerd does: files made for containers (/etc/hosts, /etc/resolv.conf, ...) and
    // the shimd started from here must not depend on the umask berthd inherited. Set while
    // berthd is single-threaded.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    if let Err(e) = daemon::run(args) {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}
