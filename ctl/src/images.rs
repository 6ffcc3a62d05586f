//! berthctl images: pull, ls, rm, tag, import, export, push, unpack, inspect.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use berth_proto::v1::{
    import_request, pull_progress, push_progress, BlobProgress, DeleteImageRequest, ExportRequest,
    ImportOptions, ImportRequest, InspectImageRequest, ListImagesRequest, Platform, PullRequest,
    PushRequest, RegistryAuth, RegistryOptions, TagImageRequest, UnpackRequest,
};
use comfy_table::{presets::NOTHING, Table};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::context::Context;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Pull an image from a registry (and unpack it).
    Pull {
        /// e.g. 127.0.0.1:5000/busybox:latest or docker.io/library/busybox:latest
        reference: String,
        /// os/arch[/variant]; default: this host's.
        #[arg(long)]
        platform: Option<String>,
        /// Only download; do not unpack into snapshots.
        #[arg(long)]
        no_unpack: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List images.
    #[command(visible_alias = "list")]
    Ls {
        /// Print names only, one per line.
        #[arg(short, long)]
        quiet: bool,
        /// Filters like name~=*busybox* or labels.app==web.
        #[arg(long = "filter", short = 'f')]
        filters: Vec<String>,
    },
    /// Remove image names (content goes at the next garbage collection).
    #[command(visible_alias = "remove", visible_alias = "delete")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Give an image another name.
    Tag { source: String, target: String },
    /// Import an OCI layout tar (oci-archive) or a `docker save` tar.
    Import {
        /// The archive ("-" for stdin).
        file: PathBuf,
        /// Name for images the archive does not name.
        #[arg(long)]
        name: Option<String>,
        /// Do not unpack the imported images.
        #[arg(long)]
        no_unpack: bool,
    },
    /// Export images as one tar (OCI layout plus docker's manifest.json).
    Export {
        /// The output file ("-" for stdout).
        file: PathBuf,
        #[arg(required = true)]
        names: Vec<String>,
        /// Export every platform of multi-platform images.
        #[arg(long)]
        all_platforms: bool,
        #[arg(long)]
        platform: Option<String>,
    },
    /// Push an image to a registry.
    Push {
        name: String,
        /// Where to push; default: the image's own name.
        reference: Option<String>,
        #[arg(long)]
        platform: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Unpack an image's layers into snapshots (pull and import do this unless told not to);
    /// prints the chain ID of its top layer.
    Unpack {
        name: String,
        #[arg(long)]
        platform: Option<String>,
    },
    /// Show an image's manifest, config and layers as JSON.
    Inspect {
        name: String,
        #[arg(long)]
        platform: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
pub struct RegistryArgs {
    /// user:password for the registry.
    #[arg(long, short = 'u')]
    user: Option<String>,
    /// Allow plain HTTP and unverified TLS for this registry.
    #[arg(long)]
    insecure: bool,
}

impl RegistryArgs {
    fn options(&self) -> anyhow::Result<Option<RegistryOptions>> {
        let auth = match &self.user {
            None => None,
            Some(u) => {
                let (user, pass) = u
                    .split_once(':')
                    .ok_or_else(|| anyhow::anyhow!("--user wants user:password"))?;
                Some(RegistryAuth {
                    username: user.into(),
                    password: pass.into(),
                    ..Default::default()
                })
            }
        };
        Ok(Some(RegistryOptions {
            auth,
            insecure: self.insecure,
            mirrors: vec![],
        }))
    }
}

fn parse_platform(p: &Option<String>) -> anyhow::Result<Option<Platform>> {
    let Some(s) = p else { return Ok(None) };
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() < 2 || parts.len() > 3 {
        anyhow::bail!("invalid platform {s:?}: want os/arch[/variant]");
    }
    Ok(Some(Platform {
        os: parts[0].into(),
        architecture: parts[1].into(),
        variant: parts.get(2).copied().unwrap_or("").into(),
    }))
}

fn short(d: &str) -> &str {
    let h = d.trim_start_matches("sha256:");
    &h[..h.len().min(12)]
}

fn human(n: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// Shows blob progress: bars on a terminal, one line per state change otherwise.
struct Progress {
    multi: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
    last: HashMap<String, String>,
}

impl Progress {
    fn new() -> Self {
        Progress {
            multi: std::io::stderr().is_terminal().then(MultiProgress::new),
            bars: HashMap::new(),
            last: HashMap::new(),
        }
    }

    fn blob(&mut self, b: &BlobProgress) {
        match &self.multi {
            Some(m) => {
                let bar = self.bars.entry(b.digest.clone()).or_insert_with(|| {
                    let bar = m.add(ProgressBar::new(b.total.max(0) as u64));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:12} {msg:11} [{bar:30}] {bytes}/{total_bytes}",
                        )
                        .expect("template")
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(short(&b.digest).to_string());
                    bar
                });
                bar.set_message(b.state.clone());
                bar.set_position(b.current.max(0) as u64);
                if b.state == "done" || b.state == "exists" {
                    bar.finish();
                }
            }
            None => {
                if self.last.get(&b.digest) != Some(&b.state) {
                    self.last.insert(b.digest.clone(), b.state.clone());
                    eprintln!("{} {} {}", short(&b.digest), b.state, human(b.total));
                }
            }
        }
    }

    fn status(&self, s: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(s);
            }
            None => eprintln!("{s}"),
        }
    }
}

pub async fn run(ctx: &Context, cmd: Cmd) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Pull {
            reference,
            platform,
            no_unpack,
            registry,
        } => {
            let mut c = ctx.images().await?;
            let mut s = c
                .pull(PullRequest {
                    reference: reference.clone(),
                    platform: parse_platform(&platform)?,
                    unpack: !no_unpack,
                    registry: registry.options()?,
                    labels: Default::default(),
                })
                .await?
                .into_inner();
            let mut p = Progress::new();
            while let Some(m) = s.next().await {
                match m?.kind {
                    Some(pull_progress::Kind::Blob(b)) => p.blob(&b),
                    Some(pull_progress::Kind::Status(st)) => p.status(&st),
                    Some(pull_progress::Kind::Image(img)) => {
                        let d = img.target.map(|t| t.digest).unwrap_or_default();
                        println!("{} {d}", img.name);
                    }
                    None => {}
                }
            }
            Ok(0)
        }
        Cmd::Ls { quiet, filters } => {
            let mut c = ctx.images().await?;
            let list = c
                .list(ListImagesRequest { filters })
                .await?
                .into_inner()
                .images;
            if quiet {
                for i in list {
                    println!("{}", i.name);
                }
                return Ok(0);
            }
            let mut t = Table::new();
            t.load_preset(NOTHING);
            t.set_header(["REF", "TYPE", "DIGEST", "SIZE"]);
            for i in list {
                let tg = i.target.unwrap_or_default();
                let size = c
                    .inspect(InspectImageRequest {
                        name: i.name.clone(),
                        platform: None,
                    })
                    .await
                    .map(|d| human(d.into_inner().size))
                    .unwrap_or_else(|_| "-".into());
                t.add_row([i.name, tg.media_type, tg.digest, size]);
            }
            println!("{t}");
            Ok(0)
        }
        Cmd::Rm { names } => {
            let mut c = ctx.images().await?;
            let mut code = 0;
            for n in names {
                match c.delete(DeleteImageRequest { name: n.clone() }).await {
                    Ok(_) => println!("{n}"),
                    Err(e) => {
                        eprintln!("berthctl: removing image {n}: {}", e.message());
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        Cmd::Tag { source, target } => {
            let mut c = ctx.images().await?;
            let img = c
                .tag(TagImageRequest { source, target })
                .await?
                .into_inner();
            println!("{}", img.name);
            Ok(0)
        }
        Cmd::Import {
            file,
            name,
            no_unpack,
        } => {
            let mut c = ctx.images().await?;
            let (tx, rx) = tokio::sync::mpsc::channel::<ImportRequest>(4);
            tx.send(ImportRequest {
                kind: Some(import_request::Kind::Options(ImportOptions {
                    unpack: !no_unpack,
                    default_name: name.unwrap_or_default(),
                })),
            })
            .await?;
            let reader = tokio::task::spawn_blocking(move || {
                use std::io::Read;
                let mut f: Box<dyn Read + Send> = if file.as_os_str() == "-" {
                    Box::new(std::io::stdin())
                } else {
                    Box::new(
                        std::fs::File::open(&file)
                            .map_err(|e| anyhow::anyhow!("opening {}: {e}", file.display()))?,
                    )
                };
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = f
                        .read(&mut buf)
                        .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
                    if n == 0 {
                        return Ok::<(), anyhow::Error>(());
                    }
                    let m = ImportRequest {
                        kind: Some(import_request::Kind::Data(buf[..n].to_vec())),
                    };
                    if tx.blocking_send(m).is_err() {
                        return Ok(());
                    }
                }
            });
            let res = c
                .import(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await;
            reader.await??;
            for img in res?.into_inner().images {
                println!("{}", img.name);
            }
            Ok(0)
        }
        Cmd::Export {
            file,
            names,
            all_platforms,
            platform,
        } => {
            let mut c = ctx.images().await?;
            let mut s = c
                .export(ExportRequest {
                    names,
                    platform: parse_platform(&platform)?,
                    all_platforms,
                })
                .await?
                .into_inner();
            let to_stdout = file.as_os_str() == "-";
            let tmp = file.with_extension("partial");
            let mut out: Box<dyn Write> = if to_stdout {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(
                    std::fs::File::create(&tmp)
                        .map_err(|e| anyhow::anyhow!("creating {}: {e}", tmp.display()))?,
                )
            };
            let r: anyhow::Result<()> = async {
                while let Some(chunk) = s.next().await {
                    out.write_all(&chunk?.data)?;
                }
                out.flush()?;
                Ok(())
            }
            .await;
            drop(out);
            if let Err(e) = r {
                if !to_stdout {
                    let _ = std::fs::remove_file(&tmp);
                }
                return Err(e);
            }
            if !to_stdout {
                std::fs::rename(&tmp, &file)
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", file.display()))?;
            }
            Ok(0)
        }
        Cmd::Push {
            name,
            reference,
            platform,
            registry,
        } => {
            let mut c = ctx.images().await?;
            let mut s = c
                .push(PushRequest {
                    name,
                    reference: reference.unwrap_or_default(),
                    registry: registry.options()?,
                    platform: parse_platform(&platform)?,
                })
                .await?
                .into_inner();
            let mut p = Progress::new();
            while let Some(m) = s.next().await {
                match m?.kind {
                    Some(push_progress::Kind::Blob(b)) => p.blob(&b),
                    Some(push_progress::Kind::Status(st)) => p.status(&st),
                    Some(push_progress::Kind::Pushed(d)) => println!("{}", d.digest),
                    None => {}
                }
            }
            Ok(0)
        }
        Cmd::Unpack { name, platform } => {
            let mut c = ctx.images().await?;
            let r = c
                .unpack(UnpackRequest {
                    name,
                    platform: parse_platform(&platform)?,
                })
                .await?
                .into_inner();
            println!("{}", r.chain_id);
            Ok(0)
        }
        Cmd::Inspect { name, platform } => {
            let mut c = ctx.images().await?;
            let d = c
                .inspect(InspectImageRequest {
                    name,
                    platform: parse_platform(&platform)?,
                })
                .await?
                .into_inner();
            let config: serde_json::Value =
                serde_json::from_slice(&d.config_json).unwrap_or_default();
            let j = serde_json::json!({
                "name": d.image.as_ref().map(|i| i.name.clone()),
                "target": d.image.as_ref().and_then(|i| i.target.as_ref()).map(|t| t.digest.clone()),
                "manifest": d.manifest.as_ref().map(|m| m.digest.clone()),
                "config": d.config.as_ref().map(|m| m.digest.clone()),
                "layers": d.layers.iter().map(|l| serde_json::json!({"digest": l.digest, "mediaType": l.media_type, "size": l.size})).collect::<Vec<_>>(),
                "diff_ids": d.diff_ids,
                "chain_id": d.chain_id,
                "size": d.size,
                "unpacked": d.unpacked,
                "unpacked_size": d.unpacked_size,
                "names": d.names,
                "image_config": config,
            });
            println!("{}", serde_json::to_string_pretty(&j)?);
            Ok(0)
        }
    }
}
