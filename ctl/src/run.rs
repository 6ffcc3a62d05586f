//! berthctl run: create a container from an image and run it (attach, start, wait).

use berth_proto::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteTaskRequest, InspectImageRequest, PrepareSnapshotRequest, ProcessUser, Runtime,
    SnapshotKeyRequest, StartRequest, UnpackRequest,
};
use serde_json::{json, Value};

use crate::attach::{self, Target};
use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove the task, the container and its snapshot when it exits.
    #[arg(long)]
    rm: bool,
    /// Allocate a terminal; our terminal goes to raw mode and stdin is forwarded.
    #[arg(short = 't', long)]
    tty: bool,
    /// Keep stdin open and forward ours.
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Start the container and return at once.
    #[arg(short = 'd', long)]
    detach: bool,
    /// The OCI runtime binary (a path or a name in shimd's PATH); default: shimd's.
    #[arg(long, value_name = "BIN")]
    runtime: Option<String>,
    /// A global option for the runtime, e.g. --runtime-option=--systemd-cgroup (repeatable).
    #[arg(
        long = "runtime-option",
        value_name = "OPT",
        allow_hyphen_values = true
    )]
    runtime_options: Vec<String>,
    /// A mount: type=bind,src=/host/dir,dst=/in/container,options=rbind:ro (repeatable).
    #[arg(long = "mount", value_name = "SPEC")]
    mounts: Vec<String>,
    /// Set an environment variable NAME=value (repeatable).
    #[arg(short = 'e', long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Run as user[:group] (names resolve in the container's /etc/passwd and /etc/group;
    /// default: the image's user, else root).
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// A supplementary group, by name (of the container's /etc/group) or id (repeatable).
    #[arg(long = "group-add", value_name = "GROUP")]
    group_add: Vec<String>,
    /// Make the container's shim the init (PID 1) of its PID namespace, reaping orphans.
    #[arg(long)]
    init: bool,
    /// The working directory inside the container.
    #[arg(short = 'w', long)]
    cwd: Option<String>,
    /// Replace the image's entrypoint ("" clears it).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Share the host's network namespace instead of a private one.
    #[arg(long)]
    net_host: bool,
    /// A label KEY=VALUE on the container record (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// The image (a name or digest of this namespace).
    image: String,
    /// The container id.
    id: String,
    /// The command and its arguments (default: the image's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// A mount given as `type=bind,src=/a,dst=/b,options=rbind:ro`.
pub fn parse_mount(s: &str) -> anyhow::Result<Value> {
    let (mut typ, mut src, mut dst, mut opts) = ("bind".to_string(), None, None, Vec::new());
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("invalid mount {s:?}: expected key=value pairs"))?;
        match k {
            "type" => typ = v.to_string(),
            "src" | "source" => src = Some(v.to_string()),
            "dst" | "destination" | "target" => dst = Some(v.to_string()),
            "options" => opts = v.split(':').map(str::to_string).collect(),
            _ => anyhow::bail!("invalid mount {s:?}: unknown key {k:?} (type, src, dst, options)"),
        }
    }
    let dst = dst.ok_or_else(|| anyhow::anyhow!("invalid mount {s:?}: dst is required"))?;
    if !dst.starts_with('/') {
        anyhow::bail!("invalid mount {s:?}: dst must be an absolute path");
    }
    if typ == "bind" && opts.is_empty() {
        opts = vec!["rbind".into(), "rw".into()];
    }
    Ok(json!({
        "type": typ,
        "source": src.unwrap_or_else(|| typ.clone()),
        "destination": dst,
        "options": opts,
    }))
}

fn labels(list: &[String]) -> anyhow::Result<std::collections::HashMap<String, String>> {
    list.iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("invalid label {l:?}: use KEY=VALUE"))
        })
        .collect()
}

/// What `run` has made so far, to take down again on failure (or with --rm).
struct Made {
    snapshot: bool,
    container: bool,
    task: bool,
}

async fn take_down(ctx: &Context, id: &str, made: &Made) {
    if made.task {
        if let Ok(mut t) = ctx.tasks().await {
            let _ = t
                .delete(DeleteTaskRequest {
                    container_id: id.to_string(),
                    exec_id: String::new(),
                    force: true,
                })
                .await;
        }
    }
    if made.container {
        if let Ok(mut c) = ctx.containers().await {
            let _ = c
                .delete(DeleteContainerRequest { id: id.to_string() })
                .await;
        }
    }
    if made.snapshot {
        if let Ok(mut s) = ctx.snapshots().await {
            let _ = s
                .remove(SnapshotKeyRequest {
                    key: id.to_string(),
                })
                .await;
        }
    }
}

pub async fn run(ctx: &Context, a: Args) -> anyhow::Result<i32> {
    let mut made = Made {
        snapshot: false,
        container: false,
        task: false,
    };
    let r = run_inner(ctx, &a, &mut made).await;
    match &r {
        Ok(_) if a.detach => {}
        Ok(_) if !a.rm => {
            // Like ctr: the stopped task goes, the container (and its log) stays.
            made.container = false;
            made.snapshot = false;
            take_down(ctx, &a.id, &made).await;
        }
        _ => take_down(ctx, &a.id, &made).await,
    }
    r
}

async fn run_inner(ctx: &Context, a: &Args, made: &mut Made) -> anyhow::Result<i32> {
    if a.rm && a.detach {
        anyhow::bail!("--rm and -d cannot be combined: a detached container is not waited for");
    }
    let mounts: Vec<Value> = a
        .mounts
        .iter()
        .map(|m| parse_mount(m))
        .collect::<Result<_, _>>()?;
    let labels = labels(&a.labels)?;
    let mut images = ctx.images().await?;
    let detail = images
        .inspect(InspectImageRequest {
            name: a.image.clone(),
            platform: None,
        })
        .await?
        .into_inner();
    let mut chain_id = detail.chain_id.clone();
    if !detail.unpacked {
        chain_id = images
            .unpack(UnpackRequest {
                name: a.image.clone(),
                platform: None,
            })
            .await?
            .into_inner()
            .chain_id;
    }
    let image_name = detail
        .image
        .as_ref()
        .map(|i| i.name.clone())
        .unwrap_or_else(|| a.image.clone());

    let image = berth_spec::ImageConfig::from_json(&detail.config_json)?;
    let opts = berth_spec::ProcessOptions {
        args: (!a.args.is_empty()).then(|| a.args.clone()),
        entrypoint: a.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                vec![]
            } else {
                vec![e.clone()]
            }
        }),
        env: a.env.clone(),
        cwd: a.cwd.clone(),
        user: a.user.clone(),
        terminal: a.tty,
    };
    let spec = berth_spec::spec_for_image(&ctx.namespace, &a.id, &image, &opts)?;
    let mut spec = serde_json::to_value(&spec)?;
    if let Some(list) = spec["mounts"].as_array_mut() {
        list.extend(mounts);
    }
    if a.net_host {
        if let Some(nss) = spec["linux"]["namespaces"].as_array_mut() {
            nss.retain(|n| n["type"] != "network");
        }
    }

    ctx.snapshots()
        .await?
        .prepare(PrepareSnapshotRequest {
            key: a.id.clone(),
            parent: chain_id,
            labels: Default::default(),
        })
        .await?;
    made.snapshot = true;
    ctx.containers()
        .await?
        .create(CreateContainerRequest {
            container: Some(Container {
                id: a.id.clone(),
                labels,
                image: image_name,
                runtime: Some(Runtime {
                    binary: a.runtime.clone().unwrap_or_default(),
                    options: a.runtime_options.clone(),
                }),
                spec: serde_json::to_vec(&spec)?,
                snapshot_key: a.id.clone(),
                user: Some(ProcessUser {
                    user: berth_spec::user_for_image(&image, &opts),
                    additional_groups: a.group_add.clone(),
                }),
                init: a.init,
                ..Default::default()
            }),
        })
        .await?;
    made.container = true;
    let stdin = a.tty || a.interactive;
    let mut tasks = ctx.tasks().await?;
    tasks
        .create(CreateTaskRequest {
            container_id: a.id.clone(),
            terminal: a.tty,
            stdin,
            ..Default::default()
        })
        .await?;
    made.task = true;
    let start = StartRequest {
        container_id: a.id.clone(),
        exec_id: String::new(),
    };
    if a.detach {
        tasks.start(start).await?;
        return Ok(0);
    }
    // Attach before starting, so no output is lost.
    let session = attach::open(
        ctx,
        Target {
            container_id: &a.id,
            exec_id: "",
            stdin,
            logs: false,
        },
    )
    .await?;
    tasks.start(start).await?;
    session.run(ctx, a.tty, stdin).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_parse() {
        let m = parse_mount("type=bind,src=/a,dst=/b,options=rbind:ro").unwrap();
        assert_eq!(m["destination"], "/b");
        assert_eq!(m["options"], json!(["rbind", "ro"]));
        let d = parse_mount("src=/a,dst=/b").unwrap();
        assert_eq!(d["options"], json!(["rbind", "rw"]));
        assert!(parse_mount("src=/a").is_err());
        assert!(parse_mount("src=/a,dst=rel").is_err());
        assert!(parse_mount("bogus").is_err());
    }
}
