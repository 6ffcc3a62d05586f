//! `pull` and `push`, and the implicit pull of `run`/`create`: progress from the daemon's
//! JSON stream, credentials from the config file.

use crate::cli::{PullArgs, PushArgs};
use crate::client::http::{Body, Query};
use crate::client::jsonlines;
use crate::config::{registry_auth_header, Config};
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::output::print;
use crate::output::progress::{Progress, Target};
use crate::refs::{auth_key, ImageRef};

/// Where pull progress goes: stdout for `pull`, stderr when `run` pulls on its own.
pub enum PullOutput {
    Stdout { quiet: bool },
    Stderr { quiet: bool },
}

/// The `X-Registry-Auth` header for the image's registry.
fn auth_header(ctx: &Ctx, reference: &ImageRef) -> Result<String, CliError> {
    let config = Config::load(&ctx.config_dir()).map_err(CliError::new)?;
    let key = auth_key(&reference.registry());
    Ok(registry_auth_header(
        config.credentials(&key).as_ref(),
        &key,
    ))
}

pub fn pull_image(
    ctx: &Ctx,
    reference: &ImageRef,
    platform: Option<&str>,
    out: PullOutput,
) -> Result<(), CliError> {
    pull_with(ctx, reference, platform, false, out)
}

fn pull_with(
    ctx: &Ctx,
    reference: &ImageRef,
    platform: Option<&str>,
    all_tags: bool,
    out: PullOutput,
) -> Result<(), CliError> {
    let client = ctx.client()?;
    let target = Query::new()
        .set("fromImage", reference.name.clone())
        .opt("tag", (!all_tags).then(|| reference.api_tag()))
        .opt("platform", platform.map(str::to_string))
        .to_target("/images/create");
    let headers = [("X-Registry-Auth", auth_header(ctx, reference)?)];
    let resp = client.call("POST", &target, &headers, Body::Empty)?;
    let mut progress = match out {
        PullOutput::Stdout { quiet } => Progress::new(Target::Stdout, quiet),
        PullOutput::Stderr { quiet } => Progress::new(Target::Stderr, quiet),
    };
    progress.follow(jsonlines::values(resp))
}

pub fn pull(ctx: &Ctx, a: &PullArgs) -> CmdResult {
    let reference = ImageRef::parse(&a.image)?;
    if a.all_tags && (reference.tag.is_some() || reference.digest.is_some()) {
        return Err(CliError::new("tag can't be used with --all-tags/-a"));
    }
    pull_with(
        ctx,
        &reference,
        a.platform.as_deref(),
        a.all_tags,
        PullOutput::Stdout { quiet: a.quiet },
    )?;
    let mut name = reference.canonical();
    if a.all_tags {
        name = name
            .rsplit_once(':')
            .map(|(n, _)| n.to_string())
            .unwrap_or(name);
    }
    print(&format!("{name}\n"));
    Ok(0)
}

pub fn push(ctx: &Ctx, a: &PushArgs) -> CmdResult {
    let reference = ImageRef::parse(&a.image)?;
    if a.all_tags && reference.tag.is_some() {
        return Err(CliError::new("tag can't be used with --all-tags/-a"));
    }
    let client = ctx.client()?;
    let target = Query::new()
        .opt("tag", (!a.all_tags).then(|| reference.api_tag()))
        .to_target(&format!("/images/{}/push", reference.name));
    let headers = [("X-Registry-Auth", auth_header(ctx, &reference)?)];
    let resp = client.call("POST", &target, &headers, Body::Empty)?;
    Progress::new(Target::Stdout, a.quiet).follow(jsonlines::values(resp))?;
    if a.quiet {
        print(&format!("{}\n", reference.familiar()));
    }
    Ok(0)
}
