//! `volume create|ls|inspect|rm|prune` over the `/volumes` endpoints.

use serde_json::{json, Value};

use super::filters;
use super::inspect::Kind;
use super::network::key_values;
use crate::cli::{
    VolumeCommand, VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs,
};
use crate::client::http::{seg, Query};
use crate::client::Client;
use crate::context::Ctx;
use crate::error::{report, CliError, CmdResult};
use crate::output::listing::ListFormat;
use crate::output::print;

pub fn dispatch(ctx: &Ctx, cmd: VolumeCommand) -> CmdResult {
    match cmd {
        VolumeCommand::Create(a) => create(ctx, &a),
        VolumeCommand::Inspect(a) => inspect(ctx, &a),
        VolumeCommand::Ls(a) => ls(ctx, &a),
        VolumeCommand::Prune(a) => prune(ctx, &a),
        VolumeCommand::Rm(a) => rm(ctx, &a),
    }
}

/// The create request for the flags.
fn create_body(a: &VolumeCreateArgs) -> Result<Value, CliError> {
    let name = match (&a.name, &a.name_flag) {
        (Some(n), Some(f)) if n != f => {
            return Err(CliError::new(format!(
                "conflicting options: either specify --name or provide positional arg, not both ({f} and {n})"
            )))
        }
        (Some(n), _) | (None, Some(n)) => n.clone(),
        (None, None) => String::new(),
    };
    Ok(json!({
        "Name": name,
        "Driver": a.driver,
        "DriverOpts": key_values("--opt", &a.opt)?,
        "Labels": key_values("--label", &a.label)?,
    }))
}

fn create(ctx: &Ctx, a: &VolumeCreateArgs) -> CmdResult {
    let v = ctx
        .client()?
        .post("/volumes/create", Some(&create_body(a)?))?;
    print(&format!(
        "{}\n",
        v.get("Name").and_then(Value::as_str).unwrap_or("")
    ));
    Ok(0)
}

fn headers() -> Value {
    json!({
        "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
        "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "CreatedAt": "CREATED AT",
    })
}

/// The fields `volume ls` templates see, as docker names them.
fn row(v: &Value) -> Value {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let labels: Vec<String> = v
        .get("Labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
        .collect();
    let usage = |k: &str| {
        v.pointer(&format!("/UsageData/{k}"))
            .and_then(Value::as_i64)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "N/A".into())
    };
    json!({
        "Name": s("Name"),
        "Driver": s("Driver"),
        "Scope": s("Scope"),
        "Mountpoint": s("Mountpoint"),
        "Labels": labels.join(","),
        "Links": usage("RefCount"),
        "Size": usage("Size"),
        "CreatedAt": s("CreatedAt"),
    })
}

fn ls(ctx: &Ctx, a: &VolumeLsArgs) -> CmdResult {
    let target = Query::new()
        .opt("filters", filters::to_json(&a.filter)?)
        .to_target("/volumes");
    let v = ctx.client()?.get(&target)?;
    for w in v
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        eprintln!("WARNING: {w}");
    }
    let mut vols: Vec<&Value> = v
        .get("Volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    vols.sort_by_key(|x| {
        x.get("Name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    });
    let rows: Vec<Value> = vols.iter().map(|x| row(x)).collect();
    if a.quiet {
        let mut out = String::new();
        for r in &rows {
            out.push_str(r["Name"].as_str().unwrap_or(""));
            out.push('\n');
        }
        print(&out);
        return Ok(0);
    }
    let format = ListFormat::parse(a.format.as_deref(), "{{.Driver}}\t{{.Name}}")?;
    print(&format.render(&headers(), &rows)?);
    Ok(0)
}

fn inspect(ctx: &Ctx, a: &VolumeInspectArgs) -> CmdResult {
    super::inspect::run(
        ctx.client()?,
        &a.volumes,
        &[Kind::Volume],
        a.format.as_deref(),
        false,
    )
}

fn rm(ctx: &Ctx, a: &VolumeRmArgs) -> CmdResult {
    let client = ctx.client()?;
    let mut failed = false;
    for name in &a.volumes {
        let target = Query::new()
            .flag("force", a.force)
            .to_target(&format!("/volumes/{}", seg(name)));
        match client.delete(&target) {
            Ok(_) => print(&format!("{name}\n")),
            Err(e) => {
                report(e);
                failed = true;
            }
        }
    }
    if failed {
        Err(CliError::silent(1))
    } else {
        Ok(0)
    }
}

/// `/volumes/prune`; adds to `out` the names removed and returns the space reclaimed.
pub(super) fn prune_volumes(
    client: &Client,
    all: bool,
    filter: &[String],
    out: &mut String,
) -> Result<u64, CliError> {
    let mut filter = filter.to_vec();
    if all {
        filter.push("all=true".into());
    }
    let v = super::prune::prune_call(client, "volumes", &filter)?;
    super::prune::list_deleted(&v, "VolumesDeleted", "Volumes", out);
    Ok(v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0))
}

fn prune(ctx: &Ctx, a: &VolumePruneArgs) -> CmdResult {
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !super::prune::confirm(warning) {
        return Ok(0);
    }
    let mut out = String::new();
    let space = prune_volumes(ctx.client()?, a.all, &a.filter, &mut out)?;
    super::prune::finish(out, space)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> VolumeCreateArgs {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: VolumeCreateArgs,
        }
        T::try_parse_from(std::iter::once("create").chain(args.iter().copied()))
            .unwrap()
            .a
    }

    #[test]
    fn create_flags_become_the_api_request() {
        let b = create_body(&parse(&[
            "-o",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--label",
            "tier=db",
            "data",
        ]))
        .unwrap();
        assert_eq!(b["Name"], "data");
        assert_eq!(b["Driver"], "local");
        assert_eq!(b["DriverOpts"], json!({"type": "tmpfs", "device": "tmpfs"}));
        assert_eq!(b["Labels"], json!({"tier": "db"}));
        assert_eq!(create_body(&parse(&[])).unwrap()["Name"], "");
        assert!(create_body(&parse(&["--name", "a", "b"])).is_err());
        assert!(create_body(&parse(&["-o", "=x"])).is_err());
    }

    #[test]
    fn ls_rows() {
        let v = json!({"Name": "db", "Driver": "local", "Scope": "local", "Labels": {"a": "b"},
            "Mountpoint": "/v/db/_data", "UsageData": {"Size": 10, "RefCount": 2}});
        let r = row(&v);
        assert_eq!(r["Labels"], "a=b");
        assert_eq!(
            (r["Size"].as_str(), r["Links"].as_str()),
            (Some("10"), Some("2"))
        );
        assert_eq!(row(&json!({"Name": "x", "Labels": null}))["Size"], "N/A");
    }
}
