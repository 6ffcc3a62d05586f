//! `inspect`, `container inspect`, `image inspect`: the daemon's JSON as an indented
//! array, or each object through a `--format` template.

use serde_json::Value;

use crate::cli::{InspectArgs, TypedInspectArgs};
use crate::client::http::{image_seg, Query};
use crate::client::{ApiError, Client};
use crate::context::Ctx;
use crate::error::{report, CliError, CmdResult};
use crate::output::{pretty_json, print};
use crate::template::Template;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Image,
    Volume,
}

fn fetch(client: &Client, kind: Kind, name: &str, size: bool) -> Result<Value, ApiError> {
    match kind {
        Kind::Container => client.get(
            &Query::new()
                .flag("size", size)
                .to_target(&super::cpath(name, "json")),
        ),
        Kind::Image => {
            let seg = image_seg(name).map_err(|m| ApiError::Daemon {
                status: 400,
                message: m,
            })?;
            client.get(&format!("/images/{seg}/json"))
        }
        Kind::Volume => client.get(&format!("/volumes/{}", crate::client::http::seg(name))),
    }
}

/// How every `inspect` verb prints what it found: the objects as one indented JSON array, or
/// each through the `--format` template (parsed before any request, so a bad template fails
/// alone); exit status 1 when any name was not found, after printing the others.
pub(super) struct InspectOutput {
    template: Option<Template>,
}

impl InspectOutput {
    pub(super) fn parse(format: Option<&str>) -> Result<InspectOutput, CliError> {
        let template = match format {
            None | Some("json") => None,
            Some(f) => Some(Template::parse(f)?),
        };
        Ok(InspectOutput { template })
    }

    pub(super) fn finish(self, found: &[Value], failed: bool) -> CmdResult {
        match self.template {
            None => print(&format!("{}\n", pretty_json(&Value::Array(found.to_vec())))),
            Some(t) => {
                let mut out = String::new();
                for v in found {
                    out.push_str(&t.render(v)?);
                    out.push('\n');
                }
                print(&out);
            }
        }
        if failed {
            Err(CliError::silent(1))
        } else {
            Ok(0)
        }
    }
}

/// Looks each name up (as the kinds given, in order) and prints the results.
pub(super) fn run(
    client: &Client,
    names: &[String],
    kinds: &[Kind],
    format: Option<&str>,
    size: bool,
) -> CmdResult {
    let output = InspectOutput::parse(format)?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in names {
        let mut last_err = None;
        let mut hit = None;
        for &k in kinds {
            match fetch(client, k, name, size) {
                Ok(v) => {
                    hit = Some(v);
                    break;
                }
                Err(e) if e.is_not_found() => last_err = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        match (hit, last_err) {
            (Some(v), _) => found.push(v),
            (None, Some(e)) if kinds.len() > 1 => {
                let _ = e;
                report(format!("Error: No such object: {name}"));
                failed = true;
            }
            (None, Some(e)) => {
                report(e);
                failed = true;
            }
            (None, None) => {}
        }
    }
    output.finish(&found, failed)
}

pub fn inspect(ctx: &Ctx, a: &InspectArgs) -> CmdResult {
    let kinds: &[Kind] = match a.kind.as_deref() {
        None | Some("") => &[Kind::Container, Kind::Image, Kind::Volume],
        Some("container") => &[Kind::Container],
        Some("image") => &[Kind::Image],
        Some("volume") => &[Kind::Volume],
        Some(other) => {
            return Err(CliError::new(format!(
                "\"{other}\" is not a valid value for --type (use container, image or volume)"
            )))
        }
    };
    run(ctx.client()?, &a.names, kinds, a.format.as_deref(), a.size)
}

pub fn typed(ctx: &Ctx, a: &TypedInspectArgs, kind: Kind) -> CmdResult {
    run(
        ctx.client()?,
        &a.names,
        &[kind],
        a.format.as_deref(),
        a.size,
    )
}
