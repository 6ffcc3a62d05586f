//! `save` and `load`: images as tar streams, to and from files or the standard streams.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;

use crate::cli::{LoadArgs, SaveArgs};
use crate::client::http::{Body, Query};
use crate::client::jsonlines;
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::output::progress::{Progress, Target};
use crate::refs::ImageRef;
use crate::term::is_tty;

pub fn save(ctx: &Ctx, a: &SaveArgs) -> CmdResult {
    if a.output.is_none() && is_tty(libc::STDOUT_FILENO) {
        return Err(CliError::new(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    for name in &a.images {
        ImageRef::parse(name)?;
    }
    let mut query = Query::new();
    for name in &a.images {
        query = query.set("names", name.clone());
    }
    let mut resp = ctx
        .client()?
        .call("GET", &query.to_target("/images/get"), &[], Body::Empty)?;
    match &a.output {
        Some(path) => {
            // Written beside the target and renamed, so a failed save leaves no partial file.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let tmp = dir.join(format!(
                ".{}.berth-save-{}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("image"),
                std::process::id()
            ));
            let result = (|| -> io::Result<()> {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&tmp)?;
                io::copy(&mut resp, &mut f)?;
                f.sync_all()?;
                std::fs::rename(&tmp, path)
            })();
            if let Err(e) = result {
                let _ = std::fs::remove_file(&tmp);
                return Err(CliError::new(format!(
                    "failed to save to {}: {e}",
                    path.display()
                )));
            }
        }
        None => {
            let mut out = io::stdout().lock();
            match io::copy(&mut resp, &mut out).and_then(|_| out.flush()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Err(CliError::silent(141))
                }
                Err(e) => return Err(CliError::new(format!("writing the archive: {e}"))),
            }
        }
    }
    Ok(0)
}

pub fn load(ctx: &Ctx, a: &LoadArgs) -> CmdResult {
    let input: Box<dyn Read + Send> = match &a.input {
        Some(path) => Box::new(
            File::open(path).map_err(|e| CliError::new(format!("open {}: {e}", path.display())))?,
        ),
        None => {
            if is_tty(libc::STDIN_FILENO) {
                return Err(CliError::new(
                    "requested load from stdin, but stdin is empty (use -i FILE or redirect an archive)",
                ));
            }
            Box::new(io::stdin())
        }
    };
    let target = Query::new()
        .flag("quiet", a.quiet || !is_tty(libc::STDOUT_FILENO))
        .to_target("/images/load");
    let resp = ctx.client()?.call(
        "POST",
        &target,
        &[],
        Body::Stream(input, "application/x-tar"),
    )?;
    let json = resp
        .head
        .header("content-type")
        .is_some_and(|t| t.contains("json"));
    if json {
        Progress::new(Target::Stdout, false).follow(jsonlines::values(resp))?;
    } else {
        let text = resp.bytes()?;
        crate::output::print(&String::from_utf8_lossy(&text));
    }
    Ok(0)
}
