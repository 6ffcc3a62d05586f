//! `logs`: the container's output as the daemon recorded it.

use std::io::{self, Write};

use serde_json::Value;

use crate::cli::LogsArgs;
use crate::client::frames::copy_demuxed;
use crate::client::http::{Body, Query};
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::output::units::api_timestamp;

pub fn logs(ctx: &Ctx, a: &LogsArgs) -> CmdResult {
    let client = ctx.client()?;
    let info = client.get(&super::cpath(&a.container, "json"))?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(&a.container)
        .to_string();
    let target = Query::new()
        .set("stdout", "1")
        .set("stderr", "1")
        .flag("follow", a.follow)
        .flag("timestamps", a.timestamps)
        .flag("details", a.details)
        .set("tail", a.tail.clone())
        .opt("since", a.since.as_deref().map(api_timestamp))
        .opt("until", a.until.as_deref().map(api_timestamp))
        .to_target(&super::cpath(&id, "logs"));
    let mut resp = client.call("GET", &target, &[], Body::Empty)?;
    let copied = if tty {
        let mut out = io::stdout().lock();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match io::Read::read(&mut resp, &mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            if let Err(e) = out.write_all(&buf[..n]).and_then(|_| out.flush()) {
                break Err(e);
            }
        }
    } else {
        copy_demuxed(resp, &mut io::stdout().lock(), &mut io::stderr().lock())
    };
    match copied {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(CliError::new(format!(
            "reading the logs of {}: {e}",
            a.container
        ))),
    }
}
