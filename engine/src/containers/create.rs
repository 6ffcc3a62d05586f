//! `POST /containers/create`: checks the request, merges the image's config, prepares the
//! rootfs snapshot, writes the OCI spec and records the container. A failed create leaves
//! nothing behind.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::container::{Config, CreateRequest, CreateResponse, HostConfig};
use berth_proto::v1;

use super::etcfiles;
use super::model::{Record, RunState};
use super::names;
use crate::engine::Engine;
use crate::error::{Error, Kind, Result};
use crate::images::reference::familiar;
use crate::networks::{self, Mode};
use crate::spec;

/// Docker's default seccomp profile for a container's capabilities.
fn docker_seccomp(caps: &[String]) -> oci_spec::runtime::LinuxSeccomp {
    berth_seccomp::docker_default(caps)
}

/// The restart policies docker knows.
pub fn validate_restart_policy(hc: &HostConfig) -> Result<()> {
    let p = &hc.restart_policy;
    match p.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if p.maximum_retry_count != 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                ));
            }
        }
        "on-failure" => {
            if p.maximum_retry_count < 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count must be a positive integer",
                ));
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )))
        }
    }
    if hc.auto_remove && !matches!(p.name.as_str(), "" | "no") {
        return Err(Error::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    Ok(())
}

/// Image defaults under the request, the way dockerd merges them.
pub fn merge(image: &Config, req: &Config) -> Config {
    let mut c = req.clone();
    if c.user.is_empty() {
        c.user = image.user.clone();
    }
    if c.working_dir.is_empty() {
        c.working_dir = image.working_dir.clone();
    }
    // Entrypoint: the request's when given (an empty list or [""] clears the image's);
    // Cmd: the request's, else the image's unless the request replaced the entrypoint.
    let req_entry = c.entrypoint.as_ref().map(|e| e.0.clone());
    match req_entry {
        None => {
            c.entrypoint = image.entrypoint.clone();
            if c.cmd.as_ref().map(|x| x.is_empty()).unwrap_or(true) {
                c.cmd = image.cmd.clone();
            }
        }
        Some(e) if e.is_empty() || e == [""] => {
            c.entrypoint = None;
            if c.cmd.as_ref().map(|x| x.is_empty()).unwrap_or(true) {
                c.cmd = image.cmd.clone();
            }
        }
        Some(_) => {}
    }
    // Env: the image's, each variable overridden by the request's.
    let mut env: Vec<String> = image.env.clone().unwrap_or_default();
    for e in c.env.iter().flatten() {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next().unwrap_or("") != key);
        env.push(e.clone());
    }
    c.env = Some(env);
    let mut ports = image.exposed_ports.clone().unwrap_or_default();
    ports.extend(c.exposed_ports.take().unwrap_or_default());
    c.exposed_ports = (!ports.is_empty()).then_some(ports);
    let mut vols = image.volumes.clone().unwrap_or_default();
    vols.extend(c.volumes.take().unwrap_or_default());
    c.volumes = (!vols.is_empty()).then_some(vols);
    let mut labels: BTreeMap<String, String> = image.labels.clone().unwrap_or_default();
    labels.extend(c.labels.take().unwrap_or_default());
    c.labels = Some(labels);
    if c.stop_signal.is_none() {
        c.stop_signal = image.stop_signal.clone();
    }
    // The request's check, its unset parts (empty test, zero durations) from the image's.
    c.healthcheck = match (c.healthcheck.take(), &image.healthcheck) {
        (None, img) => img.clone(),
        (Some(mut h), Some(img)) => {
            if h.test.as_ref().map(|t| t.is_empty()).unwrap_or(true) {
                h.test = img.test.clone();
            }
            for (mine, theirs) in [
                (&mut h.interval, img.interval),
                (&mut h.timeout, img.timeout),
                (&mut h.start_period, img.start_period),
                (&mut h.start_interval, img.start_interval),
                (&mut h.retries, img.retries),
            ] {
                if *mine == 0 {
                    *mine = theirs;
                }
            }
            Some(h)
        }
        (Some(h), None) => Some(h),
    };
    if c.on_build.is_none() {
        c.on_build = image.on_build.clone();
    }
    if c.shell.is_none() {
        c.shell = image.shell.clone();
    }
    c
}

/// Refuses an environment entry without a name (`=foo`), as dockerd does.
pub fn validate_env(env: &[String]) -> Result<()> {
    match env.iter().find(|e| e.starts_with('=')) {
        Some(e) => Err(Error::invalid(format!("invalid environment variable: {e}"))),
        None => Ok(()),
    }
}

/// A legacy link `name[:alias]` as (name, alias); the alias defaults to the name. A
/// malformed one is a 500, dockerd 20.10's status for it.
pub fn parse_link(link: &str) -> Result<(&str, &str)> {
    let mut parts = link.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) if !name.is_empty() => Ok((name, name)),
        (Some(name), Some(alias), None) if !name.is_empty() && !alias.is_empty() => {
            Ok((name, alias))
        }
        _ => Err(Error::internal(format!("bad format for links: {link}"))),
    }
}

/// Everything about the request that can be checked without touching anything: its
/// network mode, the checked host config and its legacy links.
fn check_request(
    engine: &Engine,
    config: &Config,
    hc: &HostConfig,
) -> Result<(Mode, spec::Plan, Vec<super::links::Link>)> {
    if config.image.is_empty() {
        return Err(Error::invalid("no image given: Config.Image is empty"));
    }
    let mode = Mode::parse(&hc.network_mode)?;
    validate_restart_policy(hc)?;
    match hc.log_config.kind.as_str() {
        "" | "json-file" | "local" | "none" => {}
        other => {
            return Err(Error::invalid(format!(
                "logger: no log driver named '{other}' is registered (use json-file, local or none)"
            )))
        }
    }
    if !hc.runtime.is_empty() && !engine.settings.runtimes.contains_key(&hc.runtime) {
        return Err(Error::invalid(format!(
            "unknown or invalid runtime name: {}",
            hc.runtime
        )));
    }
    if !config.working_dir.is_empty() && !config.working_dir.starts_with('/') {
        return Err(Error::invalid(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            config.working_dir
        )));
    }
    etcfiles::validate_extra_hosts(hc.extra_hosts.as_deref().unwrap_or(&[]))?;
    validate_env(config.env.as_deref().unwrap_or(&[]))?;
    let links = engine.links_of_request(hc)?;
    if mode == Mode::Host && !hc.dns.as_deref().unwrap_or(&[]).is_empty() {
        // dockerd allows it; nothing to check.
    }
    if let Some(s) = &config.stop_signal {
        super::signals::parse(s)?;
    }
    if let Some(h) = &config.healthcheck {
        super::health::validate(h)?;
    }
    spec::mounts::parse(hc)?;
    let plan = spec::Plan::of(hc)?;
    Ok((mode, plan, links))
}

/// Undoes a create that failed halfway.
struct Rollback<'a> {
    engine: &'a Engine,
    id: String,
    name: String,
    snapshot: bool,
    shimd_container: bool,
    /// Volumes the create made (and holds).
    volumes: Vec<String>,
    done: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let shimd = self.engine.shimd.clone();
        let id = self.id.clone();
        let (snap, ctr) = (self.snapshot, self.shimd_container);
        let _ = std::fs::remove_dir_all(self.engine.containers.dir_of(&id));
        self.engine.containers.release_name(&self.name, &id);
        self.engine.volumes_create_failed(&id, &self.volumes);
        if snap || ctr {
            let held = super::release::Held {
                task: false,
                record: ctr,
                snapshot: snap,
            };
            self.engine.releases.spawn(async move {
                let _ = super::release::release(&shimd, &id, held).await;
            });
        }
    }
}

/// What kind of container is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A user's container.
    Regular,
    /// An image build step's: its files only matter until its changes are committed, so
    /// its filesystem is not synced to disk when unmounted (see
    /// [`berth_proto::SNAPSHOT_VOLATILE_LABEL`]).
    BuildStep,
}

impl Engine {
    /// Creates a container from `req`; `name` is optional (a name is generated).
    pub async fn container_create(
        self: &Arc<Self>,
        name: Option<&str>,
        req: CreateRequest,
    ) -> Result<CreateResponse> {
        self.container_create_for(name, req, Purpose::Regular).await
    }

    /// [`Engine::container_create`] for a `purpose`.
    pub async fn container_create_for(
        self: &Arc<Self>,
        name: Option<&str>,
        req: CreateRequest,
        purpose: Purpose,
    ) -> Result<CreateResponse> {
        let hc = req.host_config.unwrap_or_default();
        let req_config = req.config;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => Some(names::validate(n).map_err(Error::invalid)?),
            None => None,
        };
        let (mode, plan, links) = check_request(self, &req_config, &hc)?;
        let endpoints = req
            .networking_config
            .and_then(|n| n.endpoints_config)
            .unwrap_or_default();
        self.check_networks(&hc.network_mode, &endpoints).await?;
        let image = self
            .images
            .resolve(&self.shimd, &req_config.image)
            .await
            .map_err(|e| {
                if e.kind == Kind::NotFound {
                    let shown = crate::images::reference::normalize(&req_config.image)
                        .map(|r| familiar(&r.to_string()))
                        .unwrap_or_else(|_| req_config.image.clone());
                    Error::no_such_image(&shown)
                } else {
                    e
                }
            })?;
        let config = merge(&image.info.config.container_defaults(), &req_config);
        if spec::command_line(&config).is_empty() {
            return Err(Error::invalid("No command specified"));
        }

        let id = crate::util::new_id();
        let name = match name {
            Some(n) => {
                self.containers.reserve_name(&n, &id)?;
                n
            }
            None => {
                let mut attempt = 0;
                loop {
                    let n = names::generate(attempt);
                    if self.containers.reserve_name(&n, &id).is_ok() {
                        break n;
                    }
                    attempt += 1;
                }
            }
        };
        let mut rb = Rollback {
            engine: self,
            id: id.clone(),
            name: name.clone(),
            snapshot: false,
            shimd_container: false,
            volumes: Vec::new(),
            done: false,
        };
        let dir = self.containers.dir_of(&id);
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        }

        let mut mounts = crate::volumes::containers::Resolved::default();
        let resolved = self.resolve_mounts(&id, &config, &hc, &mut mounts);
        rb.volumes = mounts.created.clone();
        resolved?;

        let hostname = if config.hostname.is_empty() {
            if mode == Mode::Host {
                nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| id[..12].to_string())
            } else {
                id[..12].to_string()
            }
        } else {
            config.hostname.clone()
        };
        let mut config = config;
        config.hostname = hostname.clone();
        let hosts_text = etcfiles::hosts(
            mode,
            &hostname,
            &config.domainname,
            hc.extra_hosts.as_deref().unwrap_or(&[]),
            None,
        );
        etcfiles::write(
            &dir,
            &hostname,
            &hosts_text,
            &etcfiles::resolv_conf(mode, &hc),
        )?;

        let snapshot = self.prepare_snapshot(&id, &image, purpose).await?;
        rb.snapshot = true;
        self.copy_up(&id, &mounts, &snapshot).await?;

        let runtime_name = if hc.runtime.is_empty() {
            self.settings.default_runtime.clone()
        } else {
            hc.runtime.clone()
        };
        let mut hc = hc;
        hc.runtime = runtime_name.clone();
        self.fill_host_defaults(&mut hc, &plan);
        let log_path = dir.join(format!("{id}-json.log"));
        let (hostname_path, hosts_path, resolv_path) = (
            dir.join("hostname"),
            dir.join("hosts"),
            dir.join("resolv.conf"),
        );
        let init_path = crate::init_binary::host_path(&self.settings.exec_root);
        let input = spec::Input {
            id: &id,
            config: &config,
            host: &hc,
            plan: &plan,
            hostname: &hostname,
            netns: networks::netns_path(&self.settings.exec_root, &id, mode),
            etc: spec::EtcFiles {
                hostname: &hostname_path,
                hosts: &hosts_path,
                resolv_conf: &resolv_path,
            },
            default_ulimits: &self.settings.default_ulimits,
            default_shm_size: self.settings.default_shm_size,
            default_seccomp: Some(&docker_seccomp),
            mounts: &mounts.mounts,
            init: (hc.init == Some(true)).then_some(init_path.as_path()),
        };
        let oci = spec::generate(&input)?;
        let to_json = |e: serde_json::Error| Error::internal(format!("the OCI spec: {e}"));
        // The record keeps the init process as JSON (exec processes start from it).
        let process = serde_json::to_value(oci.process()).map_err(to_json)?;
        let rt = &self.settings.runtimes[&runtime_name];
        let mut labels = std::collections::HashMap::new();
        labels.insert("berth.name".to_string(), name.clone());
        self.shimd
            .containers()
            .create(v1::CreateContainerRequest {
                container: Some(v1::Container {
                    id: id.clone(),
                    labels,
                    image: image.name.clone().unwrap_or_else(|| image.info.id.clone()),
                    runtime: Some(v1::Runtime {
                        binary: rt.path.clone(),
                        options: rt.runtime_args.clone(),
                    }),
                    spec: serde_json::to_vec(&oci).map_err(to_json)?,
                    snapshot_key: id.clone(),
                    user: Some(spec::process_user(&config, &hc)),
                    ..Default::default()
                }),
            })
            .await
            .map_err(|s| Error::from(s).context(format!("recording container {id} in shimd")))?;
        rb.shimd_container = true;

        let args = spec::command_line(&config);
        let record = Record {
            id: id.clone(),
            name: format!("/{name}"),
            created: chrono::Utc::now(),
            image_ref: req_config.image.clone(),
            image_id: image.info.id.clone(),
            image_name: image.name.clone().unwrap_or_default(),
            path: args.first().cloned().unwrap_or_default(),
            args: args.iter().skip(1).cloned().collect(),
            config,
            host_config: hc,
            state: RunState::default(),
            health: None,
            restart_count: 0,
            process,
            // The requested endpoints; filled in when the container starts.
            network: berth_api::network::NetworkSettings {
                networks: endpoints,
                ..Default::default()
            },
            mounts: mounts.mounts,
            runtime: runtime_name,
            log_path,
            hostname_path,
            hosts_path,
            resolv_conf_path: resolv_path,
            links,
            link_hosts: Vec::new(),
        };
        let c = self.containers.insert(record)?;
        rb.done = true;
        self.volumes_created(&id);
        self.container_event(&c, "create");
        // The network namespace is made now, while the client gets on with attaching and
        // starting; the start waits for it (it holds the teardown lock meanwhile).
        if mode != Mode::Host {
            let engine = self.clone();
            let c = c.clone();
            let guard = c.teardown.clone().lock_owned().await;
            tokio::spawn(async move {
                c.net_attached
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                if let Err(e) = engine.networks.prepare(&c.id, mode).await {
                    tracing::debug!(container = %c.id, "making the network namespace ahead of the start: {e}");
                }
                drop(guard);
            });
        }
        Ok(CreateResponse {
            id,
            warnings: vec![],
        })
    }

    /// The defaults dockerd writes into a container's HostConfig, so inspect shows (and
    /// clients read) what the container really gets.
    fn fill_host_defaults(&self, hc: &mut HostConfig, plan: &spec::Plan) {
        if hc.network_mode.is_empty() {
            hc.network_mode = "default".into();
        }
        if hc.log_config.kind.is_empty() {
            hc.log_config.kind = self.settings.log_driver.clone();
            if hc.log_config.config.is_empty() {
                hc.log_config.config = self.settings.log_opts.clone();
            }
        }
        if hc.restart_policy.name.is_empty() {
            hc.restart_policy.name = "no".into();
        }
        if hc.shm_size == 0 && hc.ipc_mode != "host" {
            hc.shm_size = self.settings.default_shm_size;
        }
        if hc.ipc_mode.is_empty() {
            hc.ipc_mode = "private".into();
        }
        if hc.cgroupns_mode.is_empty() {
            hc.cgroupns_mode = "host".into();
        }
        if !plan.unmasked(hc) {
            let base = berth_spec::default_spec("berth", "x");
            let linux = base.linux().as_ref();
            if hc.masked_paths.is_none() {
                hc.masked_paths = Some(
                    linux
                        .and_then(|l| l.masked_paths().clone())
                        .unwrap_or_default(),
                );
            }
            if hc.readonly_paths.is_none() {
                hc.readonly_paths = Some(
                    linux
                        .and_then(|l| l.readonly_paths().clone())
                        .unwrap_or_default(),
                );
            }
        }
    }

    /// A writable snapshot `key` on the image's rootfs, unpacking the image first if needed.
    async fn prepare_snapshot(
        &self,
        key: &str,
        image: &crate::images::Resolved,
        purpose: Purpose,
    ) -> Result<Vec<v1::Mount>> {
        let mut labels = std::collections::HashMap::new();
        if purpose == Purpose::BuildStep {
            labels.insert(
                berth_proto::SNAPSHOT_VOLATILE_LABEL.to_string(),
                "true".to_string(),
            );
        }
        let req = v1::PrepareSnapshotRequest {
            key: key.to_string(),
            parent: image.info.chain_id.clone(),
            labels,
        };
        match self.shimd.snapshots().prepare(req.clone()).await {
            Ok(r) => return Ok(r.into_inner().mounts),
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => return Err(Error::from(s).context("preparing the container's filesystem")),
        }
        self.shimd
            .images()
            .unpack(v1::UnpackRequest {
                name: image.name.clone().unwrap_or_else(|| image.info.id.clone()),
                platform: None,
            })
            .await
            .map_err(|s| Error::from(s).context("unpacking the image"))?;
        Ok(self
            .shimd
            .snapshots()
            .prepare(req)
            .await
            .map_err(|s| Error::from(s).context("preparing the container's filesystem"))?
            .into_inner()
            .mounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::strslice::StrSlice;

    fn ss(v: &[&str]) -> Option<StrSlice> {
        Some(StrSlice(v.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn merges_like_dockerd() {
        let image = Config {
            entrypoint: ss(&["/entry"]),
            cmd: ss(&["serve"]),
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            working_dir: "/app".into(),
            user: "app".into(),
            labels: Some([("from".to_string(), "image".to_string())].into()),
            ..Default::default()
        };
        let c = merge(
            &image,
            &Config {
                env: Some(vec!["A=2".into()]),
                ..Default::default()
            },
        );
        assert_eq!(c.entrypoint, ss(&["/entry"]));
        assert_eq!(c.cmd, ss(&["serve"]));
        assert_eq!(c.env.unwrap(), vec!["PATH=/bin", "A=2"]);
        assert_eq!((c.working_dir.as_str(), c.user.as_str()), ("/app", "app"));
        let c = merge(
            &image,
            &Config {
                cmd: ss(&["other"]),
                ..Default::default()
            },
        );
        assert_eq!((c.entrypoint, c.cmd), (ss(&["/entry"]), ss(&["other"])));
        let c = merge(
            &image,
            &Config {
                entrypoint: ss(&["/bin/sh"]),
                ..Default::default()
            },
        );
        assert_eq!((c.entrypoint, c.cmd), (ss(&["/bin/sh"]), None));
        let c = merge(
            &image,
            &Config {
                entrypoint: ss(&[""]),
                ..Default::default()
            },
        );
        assert_eq!((c.entrypoint, c.cmd), (None, ss(&["serve"])));
    }

    #[test]
    fn env_entries_need_a_name() {
        let env = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(validate_env(&env(&["A=1", "B", "C="])).is_ok());
        assert_eq!(
            validate_env(&env(&["A=1", "=foo"])).unwrap_err().message,
            "invalid environment variable: =foo"
        );
    }

    #[test]
    fn links_are_name_and_optional_alias() {
        assert_eq!(parse_link("db").unwrap(), ("db", "db"));
        assert_eq!(parse_link("db:alias").unwrap(), ("db", "alias"));
        for bad in ["a:b:c", ":x", "x:", ""] {
            assert_eq!(
                parse_link(bad).unwrap_err().message,
                format!("bad format for links: {bad}")
            );
        }
    }

    #[test]
    fn restart_policies() {
        let hc = |name: &str, n: i64, rm: bool| HostConfig {
            restart_policy: berth_api::container::RestartPolicy {
                name: name.into(),
                maximum_retry_count: n,
            },
            auto_remove: rm,
            ..Default::default()
        };
        assert!(validate_restart_policy(&hc("on-failure", 3, false)).is_ok());
        assert!(validate_restart_policy(&hc("always", 0, false)).is_ok());
        assert!(validate_restart_policy(&hc("sometimes", 0, false)).is_err());
        assert!(validate_restart_policy(&hc("always", 2, false)).is_err());
        assert!(validate_restart_policy(&hc("on-failure", -1, false)).is_err());
        assert!(validate_restart_policy(&hc("always", 0, true)).is_err());
        assert!(validate_restart_policy(&hc("no", 0, true)).is_ok());
    }
}
