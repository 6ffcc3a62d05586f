//! The classic builder's run of a Dockerfile: the pre-FROM ARGs, then each stage up to
//! the target, each instruction a step (`Step N/M : …`) that makes an image on top of the
//! previous one. Config-only instructions never start a container (their history entry
//! is an `empty_layer`); RUN runs one, COPY/ADD/WORKDIR write into a created one. Every
//! step is looked up in the cache first (see [`super::cache`]).

use std::os::fd::AsFd;
use std::sync::Arc;

use berth_api::container::{Config, Empty, HealthConfig};
use berth_build::buildargs::BuildArgs;
use berth_build::dockerfile::{self, history, CmdLine, Command, Dockerfile, Instruction};
use berth_build::expand::Lexer;
use berth_gocompat::path as gopath;

use super::cache;
use super::context::Context;
use super::copy::{self, Sources};
use super::options::BuildOptions;
use super::pipe;
use super::step::{RunEnd, StepImage};
use super::stream::{short, Out};
use crate::archive::{self, ExtractOptions};
use crate::containers::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// The shell of shell-form commands when the image sets none.
fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// One stage's state between steps.
struct Stage {
    /// The current image ID (none on `scratch` before the first step).
    image: Option<String>,
    config: Config,
    author: String,
    args: BuildArgs,
    /// A CMD was given in this stage (an ENTRYPOINT then keeps it).
    cmd_set: bool,
}

impl Stage {
    fn shell(&self) -> Vec<String> {
        self.config
            .shell
            .as_ref()
            .map(|s| s.0.clone())
            .unwrap_or_else(default_shell)
    }

    fn env(&self) -> Vec<String> {
        self.config.env.clone().unwrap_or_default()
    }

    fn command_line(&self, c: &CmdLine) -> Vec<String> {
        if c.json {
            return c.args.clone();
        }
        let mut v = self.shell();
        v.extend(c.args.iter().cloned());
        v
    }
}

/// A running build.
pub struct Build {
    engine: Arc<Engine>,
    opts: BuildOptions,
    out: Out,
    ctx: Context,
    lexer: Lexer,
    step: usize,
    total: usize,
    /// The final image of each finished stage.
    stage_images: Vec<Option<String>>,
    /// Running a base image's ONBUILD triggers: their steps print no ` ---> <id>` line
    /// (dockerd prints one for the whole FROM).
    in_triggers: bool,
}

fn parse_error(e: dockerfile::ParseError, name: &str) -> Error {
    Error::invalid(e.message_for(name))
}

/// Runs the build; answers the image ID. The output goes to `out`.
pub async fn run(
    engine: Arc<Engine>,
    opts: BuildOptions,
    ctx: Context,
    out: Out,
) -> Result<String> {
    let text = ctx.dockerfile(&opts.dockerfile)?;
    let mut file = dockerfile::parse_bytes(&text).map_err(|e| parse_error(e, &opts.dockerfile))?;
    ctx.apply_dockerignore()?;
    let target = if opts.target.is_empty() {
        file.stages.len().saturating_sub(1)
    } else {
        file.stage_index(&opts.target).ok_or_else(|| {
            Error::invalid(format!(
                "failed to reach build target {} in Dockerfile",
                opts.target
            ))
        })?
    };
    file.stages.truncate(target + 1);
    add_label_steps(&mut file, &opts)?;
    for w in file.warnings.iter().chain(&file.notices()) {
        out.text(format!("{w}\n")).await?;
    }
    let mut b = Build {
        lexer: Lexer::new(file.escape),
        total: file.step_count(),
        engine,
        opts,
        out,
        ctx,
        step: 0,
        stage_images: Vec::new(),
        in_triggers: false,
    };
    b.stages(&file).await
}

/// `--label`s are LABEL steps at the end of the target stage, as dockerd adds them.
fn add_label_steps(file: &mut Dockerfile, opts: &BuildOptions) -> Result<()> {
    let Some(last) = file.stages.last_mut() else {
        return Ok(());
    };
    for (k, v) in &opts.labels {
        let text = format!("LABEL {}={}", quote_word(k), quote_word(v));
        let mut ins = dockerfile::parse_trigger(&text).map_err(|e| Error::invalid(e.message))?;
        if let Command::Label(kv) = &mut ins.command {
            // Taken as given, not expanded.
            kv.clear();
            kv.push(dockerfile::KeyValue {
                key: k.clone(),
                value: v.clone(),
            });
        }
        // Shown unquoted in the step line, as dockerd shows it.
        ins.text = format!("LABEL {k}={v}");
        last.instructions.push(ins);
    }
    Ok(())
}

fn quote_word(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Build {
    async fn step_line(&mut self, ins: &Instruction) -> Result<()> {
        self.step += 1;
        let line = history::step_line(self.step, self.total, &ins.text);
        self.out.text(format!("{line}\n")).await
    }

    async fn stages(&mut self, file: &Dockerfile) -> Result<String> {
        let mut args = BuildArgs::new(self.opts.build_args.clone());
        for ins in &file.meta_args {
            self.step_line(ins).await?;
            if let Command::Arg(defs) = &ins.command {
                for d in defs {
                    let value = match &d.value {
                        Some(v) => Some(self.lexer.word(v, &args.meta_env()).map_err(|e| {
                            Error::invalid(format!("failed to process arguments: {e}"))
                        })?),
                        None => None,
                    };
                    args.add_meta_arg(&dockerfile::ArgDef {
                        key: d.key.clone(),
                        value,
                    });
                }
            }
        }
        let mut last = None;
        for st in &file.stages {
            self.step_line(&st.from_instruction).await?;
            let image = self.from(file, st.from(), &args).await?;
            let config = match &image {
                Some(id) => {
                    let r = self.engine.images.resolve(&self.engine.shimd, id).await?;
                    r.info.config.container_defaults()
                }
                // As dockerd, a stage from scratch starts with the default PATH.
                None => Config {
                    env: Some(vec![berth_spec::DEFAULT_PATH.to_string()]),
                    ..Default::default()
                },
            };
            let mut stage = Stage {
                image,
                config,
                author: String::new(),
                args: args.for_stage(),
                cmd_set: false,
            };
            let triggers = match &stage.config.on_build {
                Some(t) if !t.is_empty() => stage.config.on_build.take().unwrap_or_default(),
                _ => Vec::new(),
            };
            if !triggers.is_empty() {
                self.triggers(file, &mut stage, &triggers).await?;
            }
            // ` ---> ` alone for a stage from scratch, as dockerd prints it.
            let shown = stage.image.as_deref().map(short).unwrap_or_default();
            self.out.text(format!(" ---> {shown}\n")).await?;
            for ins in &st.instructions {
                self.out.alive()?;
                self.step_line(ins).await?;
                self.dispatch(file, &mut stage, ins).await?;
            }
            args.merge_referenced(&stage.args);
            self.stage_images.push(stage.image.clone());
            last = stage.image;
        }
        let id = last
            .ok_or_else(|| Error::invalid("No image was generated. Is your Dockerfile empty?"))?;
        if let Some(w) = args.unused_warning() {
            self.out.text(format!("{w}\n")).await?;
        }
        self.out.image_id(&id).await?;
        self.out
            .text(format!("Successfully built {}\n", short(&id)))
            .await?;
        for t in &self.opts.tags {
            self.engine.image_tag(&id, t, "").await?;
            self.out
                .text(format!(
                    "Successfully tagged {}\n",
                    crate::images::reference::familiar(t)
                ))
                .await?;
        }
        Ok(id)
    }

    /// FROM: an earlier stage, `scratch`, or a local image.
    async fn from(
        &self,
        file: &Dockerfile,
        spec: &dockerfile::FromSpec,
        args: &BuildArgs,
    ) -> Result<Option<String>> {
        let (name, _platform) = spec
            .expanded(&self.lexer, &args.meta_env())
            .map_err(Error::invalid)?;
        if let Some(i) = file.stage_index(&name) {
            if i < self.stage_images.len() {
                return Ok(self.stage_images[i].clone());
            }
        }
        if name.eq_ignore_ascii_case("scratch") {
            return Ok(None);
        }
        let r = self
            .engine
            .images
            .lookup(&self.engine.shimd, &name)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "pull access denied for {name}: images are not pulled by builds, pull it first (docker pull {name})"
                ))
            })?;
        Ok(Some(r.info.id.clone()))
    }

    /// Runs the ONBUILD triggers of a stage's base image, in order, as steps of the FROM
    /// (the image's `OnBuild` is already cleared in `stage`, so the stage's images do not
    /// carry them on).
    async fn triggers(
        &mut self,
        file: &Dockerfile,
        stage: &mut Stage,
        triggers: &[String],
    ) -> Result<()> {
        let n = triggers.len();
        let plural = if n > 1 { "s" } else { "" };
        self.out
            .text(format!("# Executing {n} build trigger{plural}\n"))
            .await?;
        self.in_triggers = true;
        let mut result = Ok(());
        for t in triggers {
            result = match dockerfile::parse_trigger(t) {
                Ok(ins) => self.dispatch(file, stage, &ins).await,
                Err(e) => Err(Error::invalid(e.message)),
            };
            if result.is_err() {
                break;
            }
        }
        self.in_triggers = false;
        result
    }

    /// The image a step's container starts from: the stage's, or on an empty (scratch)
    /// stage an image without layers, so the step still has a container (dockerd's step
    /// lines and the image's `container`) whose changes become the stage's first layer.
    async fn container_image(&self, stage: &Stage) -> Result<String> {
        self.image_or_empty(stage.image.as_deref()).await
    }

    /// `image`, or the empty image that stands for `scratch`.
    async fn image_or_empty(&self, image: Option<&str>) -> Result<String> {
        if let Some(id) = image {
            return Ok(id.to_string());
        }
        let name = cache::scratch_name();
        if let Some(r) = self.engine.images.lookup(&self.engine.shimd, &name).await? {
            return Ok(r.info.id.clone());
        }
        self.engine.build_empty_base(name).await
    }

    /// The cached image of `key`, unless caching is off.
    async fn cached(&self, key: &str) -> Result<Option<String>> {
        if self.opts.no_cache {
            return Ok(None);
        }
        Ok(self
            .engine
            .images
            .lookup(&self.engine.shimd, &cache::name(key))
            .await?
            .map(|r| r.info.id.clone()))
    }

    /// Ends a step with its image.
    async fn done(&self, stage: &mut Stage, id: String, from_cache: bool) -> Result<()> {
        if from_cache {
            self.out.text(" ---> Using cache\n").await?;
        }
        if !self.in_triggers {
            self.out.text(format!(" ---> {}\n", short(&id))).await?;
        }
        stage.image = Some(id);
        Ok(())
    }

    /// A step that changes the config only: as dockerd, a container is created (never
    /// started) and committed, which makes an `empty_layer` history entry.
    /// On a `scratch` stage before any file step the image has no layers, as dockerd's.
    async fn commit_config(&self, stage: &mut Stage, comment: String) -> Result<()> {
        let created_by = history::nop(&stage.shell(), &comment);
        let cfg = serde_json::to_string(&stage.config).unwrap_or_default();
        let key = cache::key(stage.image.as_deref(), &created_by, &[&cfg, &stage.author]);
        if let Some(id) = self.cached(&key).await? {
            return self.done(stage, id, true).await;
        }
        let c = Some(self.writer_container(stage, "", &comment).await?);
        let committed = self
            .engine
            .build_commit(StepImage {
                parent: stage.image.clone(),
                container: c
                    .as_ref()
                    .map(|c| (c.id.clone(), c.with(|r| r.config.clone()))),
                layer: false,
                config: stage.config.clone(),
                created_by,
                author: stage.author.clone(),
                name: cache::name(&key),
            })
            .await;
        if let Some(c) = &c {
            self.finish_container(c, committed.is_ok()).await?;
        }
        self.done(stage, committed?, false).await
    }

    /// Ends a step's container: removed (and said so) unless `rm=false` keeps it after a
    /// success; after a failure removed silently.
    async fn finish_container(&self, c: &Arc<Container>, ok: bool) -> Result<()> {
        if !ok {
            let _ = self.engine.build_remove(c).await;
            return Ok(());
        }
        if self.opts.remove || self.opts.force_remove {
            self.out
                .text(format!(
                    "Removing intermediate container {}\n",
                    short(&c.id)
                ))
                .await?;
            self.engine.build_remove(c).await?;
        }
        Ok(())
    }

    async fn dispatch(
        &mut self,
        file: &Dockerfile,
        stage: &mut Stage,
        ins: &Instruction,
    ) -> Result<()> {
        if let Some(refusal) = ins.command.classic_refusal() {
            return Err(Error::invalid(refusal));
        }
        let env = stage.args.expansion_env(&stage.env());
        let command = ins
            .command
            .expanded(&self.lexer, &env)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let shell = stage.shell();
        match command {
            Command::Arg(defs) => {
                for d in &defs {
                    stage.args.add_arg(d);
                }
                self.commit_config(stage, history::arg(&defs)).await
            }
            Command::Env(kvs) => {
                let env = stage.config.env.get_or_insert_with(Vec::new);
                for kv in &kvs {
                    let prefix = format!("{}=", kv.key);
                    let entry = format!("{}={}", kv.key, kv.value);
                    match env.iter_mut().find(|e| e.starts_with(&prefix)) {
                        Some(e) => *e = entry,
                        None => env.push(entry),
                    }
                }
                self.commit_config(stage, history::env(&kvs)).await
            }
            Command::Label(kvs) => {
                let labels = stage.config.labels.get_or_insert_with(Default::default);
                for kv in &kvs {
                    labels.insert(kv.key.clone(), kv.value.clone());
                }
                self.commit_config(stage, history::label(&kvs)).await
            }
            Command::Maintainer(who) => {
                stage.author = who.clone();
                self.commit_config(stage, history::maintainer(&who)).await
            }
            Command::Expose(ports) => {
                let exposed = stage
                    .config
                    .exposed_ports
                    .get_or_insert_with(Default::default);
                for p in &ports {
                    let p = if p.contains('/') {
                        p.clone()
                    } else {
                        format!("{p}/tcp")
                    };
                    exposed.insert(p, Empty {});
                }
                self.commit_config(stage, history::expose(&ports)).await
            }
            Command::Volume(vs) => {
                let volumes = stage.config.volumes.get_or_insert_with(Default::default);
                for v in &vs {
                    volumes.insert(v.clone(), Empty {});
                }
                self.commit_config(stage, history::volume(&vs)).await
            }
            Command::User(u) => {
                stage.config.user = u.clone();
                self.commit_config(stage, history::user(&u)).await
            }
            Command::StopSignal(s) => {
                crate::containers::signals::parse(&s)?;
                stage.config.stop_signal = Some(s.clone());
                self.commit_config(stage, history::stop_signal(&s)).await
            }
            Command::Healthcheck(h) => {
                stage.config.healthcheck = Some(HealthConfig {
                    test: Some(h.test.clone()),
                    interval: h.interval,
                    timeout: h.timeout,
                    start_period: h.start_period,
                    start_interval: h.start_interval,
                    retries: h.retries,
                });
                self.commit_config(stage, history::healthcheck(&h)).await
            }
            Command::Cmd(c) => {
                let line = stage.command_line(&c);
                stage.config.cmd = Some(line.clone().into());
                stage.cmd_set = true;
                self.commit_config(stage, history::cmd(&line)).await
            }
            Command::Entrypoint(c) => {
                let line = (!c.args.is_empty() || c.json).then(|| stage.command_line(&c));
                stage.config.entrypoint = line.clone().map(Into::into);
                if !stage.cmd_set {
                    stage.config.cmd = None;
                }
                self.commit_config(stage, history::entrypoint(line.as_deref()))
                    .await
            }
            Command::Shell(s) => {
                stage.config.shell = Some(s.clone().into());
                self.commit_config(stage, history::shell(&s)).await
            }
            Command::Onbuild(o) => {
                stage
                    .config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(o.expression.clone());
                self.commit_config(stage, history::onbuild(&o.expression))
                    .await
            }
            Command::Workdir(d) => {
                let base = if stage.config.working_dir.is_empty() {
                    "/".to_string()
                } else {
                    stage.config.working_dir.clone()
                };
                let dir = if d.starts_with('/') {
                    gopath::clean(&d)
                } else {
                    gopath::clean(&format!("{base}/{d}"))
                };
                stage.config.working_dir = dir.clone();
                let created_by = history::nop_single(&shell, &history::workdir(&dir));
                self.workdir(stage, &dir, created_by).await
            }
            Command::Run(r) => self.run_step(stage, &r.cmd).await,
            Command::Copy(c) => {
                self.copy_step(
                    file,
                    stage,
                    "COPY",
                    &c.sources,
                    &c.dest,
                    c.from.as_deref(),
                    c.chown.as_deref(),
                )
                .await
            }
            Command::Add(a) => {
                self.copy_step(
                    file,
                    stage,
                    "ADD",
                    &a.sources,
                    &a.dest,
                    None,
                    a.chown.as_deref(),
                )
                .await
            }
            Command::From(_) => Err(Error::internal("FROM inside a stage")),
        }
    }

    /// A container on the stage's image that is never started (its command is never run).
    async fn writer_container(
        &self,
        stage: &Stage,
        what: &str,
        comment: &str,
    ) -> Result<Arc<Container>> {
        let parent = self.container_image(stage).await?;
        let mut config = stage.config.clone();
        let mut cmd = stage.shell();
        cmd.extend(["#(nop) ".to_string(), comment.to_string()]);
        config.cmd = Some(cmd.into());
        config.entrypoint = Some(Vec::<String>::new().into());
        config.healthcheck = Some(no_healthcheck());
        let c = self
            .engine
            .build_container(&parent, config, &self.opts.network_mode)
            .await?;
        if what != "COPY" && what != "ADD" {
            // dockerd announces every step container but those of COPY and ADD.
            if let Err(e) = self
                .out
                .text(format!(" ---> Running in {}\n", short(&c.id)))
                .await
            {
                let _ = self.engine.build_remove(&c).await;
                return Err(e);
            }
        }
        Ok(c)
    }

    /// Commits a container's changes as the step image and removes the container.
    async fn commit_container(
        &self,
        stage: &mut Stage,
        c: &Arc<Container>,
        created_by: String,
        key: &str,
    ) -> Result<String> {
        let container_config = c.with(|r| r.config.clone());
        let committed = self
            .engine
            .build_commit(StepImage {
                parent: stage.image.clone(),
                container: Some((c.id.clone(), container_config)),
                layer: true,
                config: stage.config.clone(),
                created_by,
                author: stage.author.clone(),
                name: cache::name(key),
            })
            .await;
        committed
    }

    async fn workdir(&mut self, stage: &mut Stage, dir: &str, created_by: String) -> Result<()> {
        let cfg = serde_json::to_string(&stage.config).unwrap_or_default();
        let key = cache::key(stage.image.as_deref(), &created_by, &[&cfg]);
        if let Some(id) = self.cached(&key).await? {
            return self.done(stage, id, true).await;
        }
        let c = self
            .writer_container(stage, "WORKDIR", &history::workdir(dir))
            .await?;
        let r = self
            .write_into(&c, |root| {
                let mut b = tar::Builder::new(Vec::new());
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_cksum();
                let rel = dir.trim_start_matches('/');
                if !rel.is_empty() {
                    b.append_data(&mut h, rel, std::io::empty())
                        .map_err(|e| Error::internal(e.to_string()))?;
                }
                let tar = b.into_inner().map_err(|e| Error::internal(e.to_string()))?;
                // An existing directory keeps its mode and owner.
                if archive::locate(root, dir).is_ok() {
                    return Ok(());
                }
                extract_at_root(root, std::io::Cursor::new(tar))
            })
            .await;
        let r = match r {
            Ok(()) => self.commit_container(stage, &c, created_by, &key).await,
            Err(e) => Err(e),
        };
        self.finish_container(&c, r.is_ok()).await?;
        self.done(stage, r?, false).await
    }

    /// Runs `f` on the container's mounted root.
    async fn write_into<F>(&self, c: &Arc<Container>, f: F) -> Result<()>
    where
        F: FnOnce(std::os::fd::BorrowedFd<'_>) -> Result<()>,
    {
        let (root, _guard) = self.engine.container_root(c).await?;
        tokio::task::block_in_place(|| f(root.as_fd()))
    }

    async fn run_step(&mut self, stage: &mut Stage, cmd: &CmdLine) -> Result<()> {
        let parent = self.container_image(stage).await?;
        let line = stage.command_line(cmd);
        let prefix = stage.args.run_prefix(&stage.env());
        let created_by = history::run(&prefix, &line);
        let cfg = serde_json::to_string(&stage.config).unwrap_or_default();
        let key = cache::key(
            stage.image.as_deref(),
            &created_by,
            &[&cfg, &self.opts.network_mode],
        );
        if let Some(id) = self.cached(&key).await? {
            return self.done(stage, id, true).await;
        }
        let mut config = stage.config.clone();
        let mut env = stage.env();
        env.extend(stage.args.filter_allowed(&stage.env()));
        config.env = Some(env);
        config.cmd = Some(line.clone().into());
        config.entrypoint = Some(Vec::<String>::new().into());
        config.healthcheck = Some(no_healthcheck());
        let c = self
            .engine
            .build_container(&parent, config, &self.opts.network_mode)
            .await?;
        if let Err(e) = self
            .out
            .text(format!(" ---> Running in {}\n", short(&c.id)))
            .await
        {
            let _ = self.engine.build_remove(&c).await;
            return Err(e);
        }
        let failed = match self.engine.build_run(&c, &self.out).await {
            Ok(RunEnd::Exited(0)) => None,
            Ok(RunEnd::Exited(code)) => Some(Error::invalid(format!(
                "The command '{}' returned a non-zero code: {code}",
                line.join(" ")
            ))),
            Ok(RunEnd::NotStarted(e)) => Some(e),
            Err(e) => {
                let _ = self.engine.build_remove(&c).await;
                return Err(e);
            }
        };
        if let Some(e) = failed {
            // As dockerd: the failed container stays for inspection unless `forcerm`.
            if self.opts.force_remove {
                let _ = self.engine.build_remove(&c).await;
            }
            return Err(e);
        }
        let committed = self.commit_container(stage, &c, created_by, &key).await;
        self.finish_container(&c, committed.is_ok()).await?;
        self.done(stage, committed?, false).await
    }

    /// The root a `--from` names: an earlier stage or an image, mounted through a
    /// container that is never started.
    async fn copy_source_container(&self, file: &Dockerfile, from: &str) -> Result<Arc<Container>> {
        let image = match from.parse::<usize>() {
            Ok(i) if i < self.stage_images.len() => self.stage_images[i].clone(),
            Ok(i) => {
                return Err(Error::invalid(format!(
                    "invalid from flag value {i}: refers to current or future build stage"
                )))
            }
            Err(_) => match file.stage_index(from) {
                Some(i) if i < self.stage_images.len() => self.stage_images[i].clone(),
                _ => Some(
                    self.engine
                        .images
                        .lookup(&self.engine.shimd, from)
                        .await?
                        .ok_or_else(|| {
                            Error::not_found(format!(
                                "invalid from flag value {from}: no stage or local image of that name"
                            ))
                        })?
                        .info
                        .id
                        .clone(),
                ),
            },
        };
        let image = self.image_or_empty(image.as_deref()).await?;
        let mut config = Config {
            cmd: Some(vec!["/".to_string()].into()),
            entrypoint: Some(Vec::<String>::new().into()),
            healthcheck: Some(no_healthcheck()),
            ..Default::default()
        };
        config.working_dir = "/".into();
        self.engine.build_container(&image, config, "none").await
    }

    #[allow(clippy::too_many_arguments)]
    async fn copy_step(
        &mut self,
        file: &Dockerfile,
        stage: &mut Stage,
        what: &str,
        sources: &[String],
        dest: &str,
        from: Option<&str>,
        chown: Option<&str>,
    ) -> Result<()> {
        let from_c = match from {
            Some(f) => Some(self.copy_source_container(file, f).await?),
            None => None,
        };
        let r = self
            .copy_from(stage, what, sources, dest, from_c.as_ref(), chown)
            .await;
        if let Some(c) = &from_c {
            let _ = self.engine.build_remove(c).await;
        }
        r
    }

    async fn copy_from(
        &mut self,
        stage: &mut Stage,
        what: &str,
        sources: &[String],
        dest: &str,
        from: Option<&Arc<Container>>,
        chown: Option<&str>,
    ) -> Result<()> {
        let from_root = match from {
            Some(c) => Some(self.engine.container_root(c).await?),
            None => None,
        };
        let root = match &from_root {
            Some((fd, _)) => fd.as_fd(),
            None => self.ctx.root().as_fd(),
        };
        let mut paths = Vec::new();
        for s in sources {
            if from.is_some() {
                let p = gopath::clean(&format!("/{s}"));
                if archive::locate(root, &p).is_err() {
                    return Err(Error::invalid(format!(
                        "{what} failed: stat {p}: file does not exist"
                    )));
                }
                paths.push(p);
            } else {
                for p in self.ctx.sources(what, s)? {
                    paths.push(format!("/{p}"));
                }
            }
        }
        let src = Sources {
            root,
            paths,
            extract_archives: what == "ADD",
        };
        let digest = tokio::task::block_in_place(|| src.digest())?;
        let created_by =
            history::nop_single(&stage.shell(), &history::copy(what, chown, &digest, dest));
        let cfg = serde_json::to_string(&stage.config).unwrap_or_default();
        let key = cache::key(stage.image.as_deref(), &created_by, &[&cfg]);
        if let Some(id) = self.cached(&key).await? {
            return self.done(stage, id, true).await;
        }
        let c = self
            .writer_container(stage, what, &history::copy(what, chown, &digest, dest))
            .await?;
        let (dest_path, dest_is_dir) = copy::destination(&stage.config.working_dir, dest);
        let written = self
            .write_into(&c, |target| {
                let owner = chown.map(|s| copy::owner(target, s)).transpose()?;
                pipe::through(
                    |w| src.write_layer_tar(target, &dest_path, dest_is_dir, owner, w),
                    |tar| extract_at_root(target, tar),
                )
            })
            .await;
        let r = match written {
            Ok(()) => self.commit_container(stage, &c, created_by, &key).await,
            Err(e) => Err(e),
        };
        let _ = self.engine.build_remove(&c).await;
        self.done(stage, r?, false).await
    }
}

/// A step's container runs no health check.
fn no_healthcheck() -> HealthConfig {
    HealthConfig {
        test: Some(vec!["NONE".into()]),
        ..Default::default()
    }
}

/// Extracts a tar at `/` of `root`, keeping the owners it names.
fn extract_at_root<R: std::io::Read>(root: std::os::fd::BorrowedFd<'_>, tar: R) -> Result<()> {
    archive::extract(
        root,
        "/",
        tar,
        &ExtractOptions {
            no_overwrite_dir_non_dir: false,
            copy_uid_gid: true,
        },
    )
}
