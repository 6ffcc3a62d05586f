//! `container prune`, `image prune`, `system prune`: remove what nothing uses, after a
//! confirmation unless `--force`.

use std::io::{self, BufRead, Write};

use serde_json::Value;

use super::filters;
use crate::cli::{ImagePruneArgs, PruneArgs, SystemPruneArgs};
use crate::client::http::Query;
use crate::client::Client;
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::output::print;
use berth_gocompat::units::human_size_with_precision;

/// Asks on the terminal; anything but y/yes (including end of input) is a no.
pub(super) fn confirm(warning: &str) -> bool {
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = io::stderr().flush();
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `POST /{what}/prune` with docker-style `--filter` values.
pub(super) fn prune_call(
    client: &Client,
    what: &str,
    filter: &[String],
) -> Result<Value, CliError> {
    let target = Query::new()
        .opt("filters", filters::to_json(filter)?)
        .to_target(&format!("/{what}/prune"));
    Ok(client.post(&target, None)?)
}

/// Adds docker's listing of what a prune removed (`Deleted Networks:`, one name a line,
/// then an empty line) for the names in `v[key]`; nothing when there are none.
pub(super) fn list_deleted(v: &Value, key: &str, title: &str, out: &mut String) {
    let deleted: Vec<&str> = v
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !deleted.is_empty() {
        out.push_str(&format!("Deleted {title}:\n"));
        for name in deleted {
            out.push_str(name);
            out.push('\n');
        }
        out.push('\n');
    }
}

/// Prints the removed containers; returns the space reclaimed.
fn prune_containers(client: &Client, filter: &[String], out: &mut String) -> Result<u64, CliError> {
    let v = prune_call(client, "containers", filter)?;
    list_deleted(&v, "ContainersDeleted", "Containers", out);
    Ok(v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0))
}

fn prune_images(
    client: &Client,
    all: bool,
    filter: &[String],
    out: &mut String,
) -> Result<u64, CliError> {
    let mut filter = filter.to_vec();
    filter.push(format!("dangling={}", !all));
    let v = prune_call(client, "images", &filter)?;
    let items: Vec<&Value> = v
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    if !items.is_empty() {
        out.push_str("Deleted Images:\n");
        for item in items {
            if let Some(t) = item.get("Untagged").and_then(Value::as_str) {
                out.push_str(&format!("untagged: {t}\n"));
            }
            if let Some(d) = item.get("Deleted").and_then(Value::as_str) {
                out.push_str(&format!("deleted: {d}\n"));
            }
        }
        out.push('\n');
    }
    Ok(v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0))
}

pub(super) fn finish(out: String, space: u64) -> CmdResult {
    print(&format!(
        "{out}Total reclaimed space: {}\n",
        human_size_with_precision(space as f64, 3)
    ));
    Ok(0)
}

pub fn containers(ctx: &Ctx, a: &PruneArgs) -> CmdResult {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let mut out = String::new();
    let space = prune_containers(ctx.client()?, &a.filter, &mut out)?;
    finish(out, space)
}

pub fn images(ctx: &Ctx, a: &ImagePruneArgs) -> CmdResult {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let mut out = String::new();
    let space = prune_images(ctx.client()?, a.all, &a.filter, &mut out)?;
    finish(out, space)
}

pub fn system(ctx: &Ctx, a: &SystemPruneArgs) -> CmdResult {
    let mut warning = String::from(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
    );
    if a.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if a.all {
        "  - all images without at least one container associated to them"
    } else {
        "  - all dangling images"
    });
    if !a.force && !confirm(&warning) {
        return Ok(0);
    }
    let client = ctx.client()?;
    let mut out = String::new();
    let mut space = prune_containers(client, &a.filter, &mut out)?;
    let networks = prune_call(client, "networks", &a.filter)?;
    list_deleted(&networks, "NetworksDeleted", "Networks", &mut out);
    if a.volumes {
        space += super::volume::prune_volumes(client, false, &a.filter, &mut out)?;
    }
    space += prune_images(client, a.all, &a.filter, &mut out)?;
    finish(out, space)
}
