//! berth-shim: the per-container shim. Started by shimd with `--id ID --dir TASK_DIR`, it
//! detaches, runs the OCI runtime's `create`, then alone holds the container's stdio,
//! writes its log, reaps its processes and serves the shim protocol
//! (`proto/berth/v1/shim.proto`) on `TASK_DIR/shim.sock` until the task is deleted.
//!
//! Small by design: one thread, no async runtime, a `poll` loop over a signalfd.

mod console;
mod detach;
mod exitfile;
mod logfile;
mod pidns;
mod process;
mod reaper;
mod runtime;
mod server;
mod timefmt;
mod wire;

use std::path::PathBuf;

/// The shim's socket, relative to the task directory.
pub const SOCKET: &str = "shim.sock";

const USAGE: &str = "usage: berth-shim --id CONTAINER_ID --dir TASK_DIR [--init]";

struct Args {
    id: String,
    dir: PathBuf,
    /// Be PID 1 of the container's PID namespace.
    init: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut id = None;
    let mut dir = None;
    let mut init = false;
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy().into_owned();
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--id" => id = Some(value("--id")?.to_string_lossy().into_owned()),
            "--dir" => dir = Some(PathBuf::from(value("--dir")?)),
            "--init" => init = true,
            "--version" | "-v" => {
                println!("berth-shim {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let id = id
        .filter(|s| !s.is_empty())
        .ok_or(format!("--id is required\n{USAGE}"))?;
    let dir = dir.ok_or(format!("--dir is required\n{USAGE}"))?;
    if !dir.is_absolute() {
        return Err(format!(
            "--dir must be an absolute path, not {}",
            dir.display()
        ));
    }
    Ok(Some(Args { id, dir, init }))
}

fn main() {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return,
        Err(e) => {
            eprintln!("berth-shim: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = detach::start(&args.id, &args.dir, args.init) {
        eprintln!("berth-shim: {e}");
        std::process::exit(1);
    }
}
