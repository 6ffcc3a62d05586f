//! `context create/ls/use/inspect/rm/show`: docker contexts in the docker CLI's store
//! (see `daemon_contexts`), with docker's output.

use serde_json::{json, Value};

use super::inspect::InspectOutput;
use crate::cli::{
    ContextCommand, ContextCreateArgs, ContextInspectArgs, ContextLsArgs, ContextRmArgs,
    ContextUseArgs,
};
use crate::config::Config;
use crate::context::{berth_or_docker_env, Ctx};
use crate::daemon_contexts::{Context, NewEndpoint, Store, DEFAULT_CONTEXT};
use crate::error::{report, CliError, CmdResult};
use crate::output::listing::ListFormat;
use crate::output::print;

pub fn dispatch(ctx: &Ctx, cmd: ContextCommand) -> CmdResult {
    match cmd {
        ContextCommand::Create(a) => create(ctx, &a),
        ContextCommand::Inspect(a) => inspect(ctx, &a),
        ContextCommand::Ls(a) => ls(ctx, &a),
        ContextCommand::Rm(a) => rm(ctx, &a),
        ContextCommand::Show => {
            print(&format!("{}\n", ctx.current_context_name()?));
            Ok(0)
        }
        ContextCommand::Use(a) => use_context(ctx, &a),
    }
}

/// Reads a TLS file named in `--docker` (`~/` is the home directory, as docker expands it).
fn read_tls_file(path: &str) -> Result<Vec<u8>, CliError> {
    let expanded = match path.strip_prefix("~/") {
        Some(rest) => std::path::Path::new(&std::env::var("HOME").unwrap_or_default()).join(rest),
        None => path.into(),
    };
    std::fs::read(&expanded)
        .map_err(|e| CliError::new(format!("unable to read {}: {e}", expanded.display())))
}

/// `--docker host=...,ca=...,cert=...,key=...,skip-tls-verify=...,from=...`.
fn docker_endpoint(ctx: &Ctx, spec: &str) -> Result<NewEndpoint, CliError> {
    let mut host = None;
    let mut skip = false;
    let mut tls = Vec::new();
    let mut from = None;
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = field.split_once('=').ok_or_else(|| {
            CliError::new(format!(
                "invalid docker endpoint option {field:?}: expected KEY=VALUE"
            ))
        })?;
        match k {
            "host" => host = Some(v.to_string()),
            "ca" => tls.push(("ca.pem", read_tls_file(v)?)),
            "cert" => tls.push(("cert.pem", read_tls_file(v)?)),
            "key" => tls.push(("key.pem", read_tls_file(v)?)),
            "skip-tls-verify" => {
                skip = match v {
                    "true" | "1" | "t" | "T" | "TRUE" | "True" => true,
                    "false" | "0" | "f" | "F" | "FALSE" | "False" => false,
                    _ => {
                        return Err(CliError::new(format!(
                            "invalid value {v:?} for skip-tls-verify: expected true or false"
                        )))
                    }
                }
            }
            "from" => from = Some(v.to_string()),
            _ => {
                return Err(CliError::new(format!(
                "unrecognized config key: {k} (use host, ca, cert, key, skip-tls-verify or from)"
            )))
            }
        }
    }
    if let Some(name) = from {
        let mut ep = endpoint_of(ctx, &name)?;
        if let Some(h) = host {
            ep.host = h;
        }
        return Ok(ep);
    }
    let host = host.unwrap_or_else(|| ctx.default_host());
    crate::client::endpoint::Endpoint::parse(&host, !tls.is_empty()).map_err(CliError::new)?;
    Ok(NewEndpoint {
        host,
        skip_tls_verify: skip,
        tls,
    })
}

/// A copy of an existing context's docker endpoint (`--from`, `from=`).
fn endpoint_of(ctx: &Ctx, name: &str) -> Result<NewEndpoint, CliError> {
    if name == DEFAULT_CONTEXT {
        return Ok(NewEndpoint {
            host: ctx.default_host(),
            skip_tls_verify: false,
            tls: Vec::new(),
        });
    }
    let store = ctx.context_store();
    let c = store.get(name).map_err(CliError::new)?;
    let dir = store.tls_dir(name);
    let tls = c
        .tls_files
        .iter()
        .map(|f| Ok((*f, std::fs::read(dir.join(f))?)))
        .collect::<Result<Vec<_>, std::io::Error>>()?;
    Ok(NewEndpoint {
        host: c.host,
        skip_tls_verify: c.skip_tls_verify,
        tls,
    })
}

fn create(ctx: &Ctx, a: &ContextCreateArgs) -> CmdResult {
    let ep = match (&a.docker, &a.from) {
        (Some(_), Some(_)) => {
            return Err(CliError::new(
                "conflicting options: either specify --docker or --from, not both",
            ))
        }
        (Some(spec), None) => docker_endpoint(ctx, spec)?,
        (None, Some(from)) => endpoint_of(ctx, from)?,
        (None, None) => endpoint_of(ctx, &ctx.current_context_name()?)?,
    };
    ctx.context_store()
        .create(&a.name, &a.description, &ep)
        .map_err(CliError::new)?;
    print(&format!("{}\n", a.name));
    eprintln!("Successfully created context \"{}\"", a.name);
    Ok(0)
}

/// A context as `context ls` rows and `context inspect` show it.
struct Shown {
    name: String,
    description: String,
    host: String,
    tls_files: Vec<&'static str>,
    meta: Value,
}

impl From<Context> for Shown {
    fn from(c: Context) -> Shown {
        Shown {
            name: c.name,
            description: c.description,
            host: c.host,
            tls_files: c.tls_files,
            meta: c.meta,
        }
    }
}

fn all_contexts(ctx: &Ctx, store: &Store) -> Vec<Shown> {
    let mut out = vec![default_context(ctx)];
    out.extend(store.list().into_iter().map(Shown::from));
    out
}

fn default_context(ctx: &Ctx) -> Shown {
    let host = ctx.default_host();
    let description = "Current DOCKER_HOST based configuration";
    Shown {
        meta: json!({
            "Name": DEFAULT_CONTEXT,
            "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
        }),
        name: DEFAULT_CONTEXT.into(),
        description: description.into(),
        host,
        tls_files: Vec::new(),
    }
}

fn ls(ctx: &Ctx, a: &ContextLsArgs) -> CmdResult {
    let store = ctx.context_store();
    let current = ctx.current_context_name()?;
    let contexts = all_contexts(ctx, &store);
    if a.quiet {
        let names: String = contexts.iter().map(|c| format!("{}\n", c.name)).collect();
        print(&names);
        return Ok(0);
    }
    let rows: Vec<Value> = contexts
        .iter()
        .map(|c| {
            let is_current = c.name == current;
            json!({
                "Name": if is_current && a.format.is_none() { format!("{} *", c.name) } else { c.name.clone() },
                "Description": c.description,
                "DockerEndpoint": c.host,
                "Current": is_current,
                "Error": "",
            })
        })
        .collect();
    let headers = json!({
        "Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT",
        "Current": "CURRENT", "Error": "ERROR",
    });
    let format = ListFormat::parse(
        a.format.as_deref(),
        "{{.Name}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}",
    )?;
    print(&format.render(&headers, &rows)?);
    if current != DEFAULT_CONTEXT && berth_or_docker_env("HOST").is_some() {
        eprintln!(
            "Warning: DOCKER_HOST environment variable overrides the active context. To use a context, either set the global --context flag, or unset DOCKER_HOST environment variable."
        );
    }
    Ok(0)
}

fn inspect(ctx: &Ctx, a: &ContextInspectArgs) -> CmdResult {
    let store = ctx.context_store();
    let names = if a.names.is_empty() {
        vec![ctx.current_context_name()?]
    } else {
        a.names.clone()
    };
    let output = InspectOutput::parse(a.format.as_deref())?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &names {
        let shown = if name == DEFAULT_CONTEXT {
            default_context(ctx)
        } else {
            match store.get(name) {
                Ok(c) => Shown::from(c),
                Err(e) => {
                    report(e);
                    failed = true;
                    continue;
                }
            }
        };
        let mut v = shown.meta.clone();
        let tls = if shown.tls_files.is_empty() {
            json!({})
        } else {
            json!({ "docker": shown.tls_files })
        };
        let storage = if shown.name == DEFAULT_CONTEXT {
            json!({"MetadataPath": "<IN MEMORY>", "TLSPath": "<IN MEMORY>"})
        } else {
            json!({
                "MetadataPath": store.meta_dir(&shown.name),
                "TLSPath": store.tls_root(&shown.name),
            })
        };
        if let Some(o) = v.as_object_mut() {
            o.insert("TLSMaterial".into(), tls);
            o.insert("Storage".into(), storage);
        }
        found.push(v);
    }
    output.finish(&found, failed)
}

fn rm(ctx: &Ctx, a: &ContextRmArgs) -> CmdResult {
    let store = ctx.context_store();
    let dir = ctx.contexts_dir();
    let mut config = Config::load(&dir).map_err(CliError::new)?;
    let current = config.current_context().map(str::to_string);
    let mut failed = false;
    for name in &a.names {
        if name == DEFAULT_CONTEXT {
            report(format!("{name}: context \"default\" cannot be removed"));
            failed = true;
            continue;
        }
        let in_use = current.as_deref() == Some(name.as_str());
        if in_use && !a.force {
            report(format!(
                "{name}: context {name:?} is in use, set -f flag to force remove"
            ));
            failed = true;
            continue;
        }
        match store.remove(name) {
            Ok(()) => {
                if in_use {
                    config.set_current_context(None);
                    config.save().map_err(CliError::new)?;
                }
                print(&format!("{name}\n"));
            }
            Err(e) => {
                report(format!("{name}: {e}"));
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

fn use_context(ctx: &Ctx, a: &ContextUseArgs) -> CmdResult {
    if a.name != DEFAULT_CONTEXT {
        ctx.context_store().get(&a.name).map_err(CliError::new)?;
    }
    let dir = ctx.contexts_dir();
    let mut config = Config::load(&dir).map_err(CliError::new)?;
    config.set_current_context(Some(&a.name));
    config.save().map_err(CliError::new)?;
    print(&format!("{}\n", a.name));
    eprintln!("Current context is now \"{}\"", a.name);
    if a.name != DEFAULT_CONTEXT && berth_or_docker_env("HOST").is_some() {
        eprintln!(
            "Warning: DOCKER_HOST environment variable overrides the active context. To use \"{}\", either set the global --context flag, or unset DOCKER_HOST environment variable.",
            a.name
        );
    }
    Ok(0)
}
