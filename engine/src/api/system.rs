//! `/_ping`, `/version`, `/info`, `/events`, `/system/df` and `/auth`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use berth_api::system::{
    Commit, DiskUsage, IndexInfo, Info, PluginsInfo, RegistryConfig, RuntimeInfo, SwarmInfo,
};
use berth_api::version::{
    ComponentVersion, Platform, VersionResponse, API_VERSION, MIN_API_VERSION,
};

use super::{decode, ok_json, ApiResult, AppState, Query};
use crate::error::Error;
use crate::events;

pub async fn ping(method: Method) -> Response {
    let body = if method == Method::HEAD { "" } else { "OK" };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    r
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub async fn version(State(e): State<AppState>) -> ApiResult {
    let v = env!("CARGO_PKG_VERSION");
    let kernel = kernel_version();
    let mut details = BTreeMap::new();
    for (k, val) in [
        ("ApiVersion", API_VERSION),
        ("MinAPIVersion", MIN_API_VERSION),
        ("Os", "linux"),
        ("Arch", arch()),
        ("Experimental", "false"),
        ("GitCommit", berth_buildinfo::GIT_COMMIT),
        ("GoVersion", ""),
        ("BuildTime", berth_buildinfo::BUILD_TIME),
    ] {
        details.insert(k.to_string(), val.to_string());
    }
    details.insert("KernelVersion".into(), kernel.clone());
    let mut components = vec![ComponentVersion {
        name: "Engine".into(),
        version: v.into(),
        details: Some(details),
    }];
    if let Ok(sv) = e.shimd.system().version(()).await {
        let sv = sv.into_inner();
        components.push(ComponentVersion {
            name: "shimd".into(),
            version: sv.version.clone(),
            details: Some([("GitCommit".to_string(), sv.revision.clone())].into()),
        });
        components.push(ComponentVersion {
            name: e.settings.default_runtime.clone(),
            version: if sv.runtime_version.is_empty() {
                v.to_string()
            } else {
                sv.runtime_version
            },
            details: None,
        });
    }
    Ok(ok_json(&VersionResponse {
        platform: Platform {
            name: "Berth Engine".into(),
        },
        components,
        version: v.into(),
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: berth_buildinfo::GIT_COMMIT.into(),
        go_version: String::new(),
        os: "linux".into(),
        arch: arch().into(),
        kernel_version: kernel,
        experimental: false,
        build_time: berth_buildinfo::BUILD_TIME.into(),
    }))
}

fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<i64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn operating_system() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (get("PRETTY_NAME"), get("VERSION_ID"))
}

pub async fn info(State(e): State<AppState>) -> ApiResult {
    let containers = e.containers.list();
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for c in &containers {
        let s = c.with(|r| r.state.clone());
        if s.running && s.paused {
            paused += 1;
        } else if s.running {
            running += 1;
        } else {
            stopped += 1;
        }
    }
    let images = e.images.all(&e.shimd).await.map(|all| {
        let mut ids: Vec<String> = all.into_iter().map(|n| n.info.id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids.len() as i64
    })?;
    let sv = e
        .shimd
        .system()
        .version(())
        .await
        .map(|r| r.into_inner())
        .unwrap_or_default();
    let (os, os_version) = operating_system();
    let mut index_configs = BTreeMap::new();
    index_configs.insert(
        "docker.io".to_string(),
        IndexInfo {
            name: "docker.io".into(),
            mirrors: e.settings.registry_mirrors.clone(),
            secure: true,
            official: true,
        },
    );
    for r in &e.settings.insecure_registries {
        index_configs.insert(
            r.clone(),
            IndexInfo {
                name: r.clone(),
                mirrors: vec![],
                secure: false,
                official: false,
            },
        );
    }
    let runtimes: BTreeMap<String, RuntimeInfo> = e
        .settings
        .runtimes
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                RuntimeInfo {
                    path: v.path.clone(),
                },
            )
        })
        .collect();
    let info = Info {
        id: e.id.clone(),
        containers: containers.len() as i64,
        containers_running: running,
        containers_paused: paused,
        containers_stopped: stopped,
        images,
        driver: if sv.snapshotter.is_empty() {
            "overlayfs".into()
        } else {
            sv.snapshotter.clone()
        },
        driver_status: vec![["Backing Filesystem".into(), "extfs".into()]],
        plugins: PluginsInfo {
            volume: vec!["local".into()],
            network: vec!["host".into(), "none".into(), "bridge".into()],
            authorization: None,
            log: vec!["json-file".into(), "local".into(), "none".into()],
        },
        memory_limit: true,
        swap_limit: true,
        cpu_cfs_period: true,
        cpu_cfs_quota: true,
        cpu_shares: true,
        cpu_set: true,
        pids_limit: true,
        ipv4_forwarding: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .map(|s| s.trim() == "1")
            .unwrap_or(false),
        debug: e.settings.log_level == "debug",
        nfd: std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as i64)
            .unwrap_or(0),
        oom_kill_disable: true,
        n_goroutines: 0,
        system_time: crate::util::rfc3339_nano(&chrono::Utc::now()),
        logging_driver: e.settings.log_driver.clone(),
        cgroup_driver: if sv.cgroup_driver.is_empty() {
            "cgroupfs".into()
        } else {
            sv.cgroup_driver.clone()
        },
        cgroup_version: if sv.cgroup_version == 0 {
            "1".into()
        } else {
            sv.cgroup_version.to_string()
        },
        n_events_listener: e.events.listeners() as i64,
        kernel_version: kernel_version(),
        operating_system: os,
        os_version,
        os_type: "linux".into(),
        architecture: std::env::consts::ARCH.into(),
        index_server_address: "https://index.docker.io/v1/".into(),
        registry_config: RegistryConfig {
            insecure_registry_cidrs: vec!["127.0.0.0/8".into(), "::1/128".into()],
            index_configs,
            mirrors: e.settings.registry_mirrors.clone(),
        },
        ncpu: crate::spec::resources::num_cpus() as i64,
        mem_total: mem_total(),
        docker_root_dir: e.settings.data_root.display().to_string(),
        http_proxy: std::env::var("HTTP_PROXY").unwrap_or_default(),
        https_proxy: std::env::var("HTTPS_PROXY").unwrap_or_default(),
        no_proxy: std::env::var("NO_PROXY").unwrap_or_default(),
        name: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        labels: e.settings.labels.clone(),
        experimental_build: false,
        server_version: env!("CARGO_PKG_VERSION").into(),
        runtimes,
        default_runtime: e.settings.default_runtime.clone(),
        swarm: SwarmInfo {
            local_node_state: "inactive".into(),
            ..Default::default()
        },
        live_restore_enabled: true,
        isolation: String::new(),
        init_binary: String::new(),
        containerd_commit: Commit {
            id: sv.revision.clone(),
        },
        runc_commit: Commit::default(),
        init_commit: Commit::default(),
        security_options: vec!["name=seccomp,profile=builtin".into()],
        warnings: vec![],
    };
    Ok(ok_json(&info))
}

pub async fn events(State(e): State<AppState>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let f = q.filters()?;
    f.validate(events::FILTER_KEYS).map_err(Error::invalid)?;
    let now = chrono::Utc::now();
    let parse = |k: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
        match q.get(k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => crate::util::parse_time_param(v, now)
                .map(Some)
                .ok_or_else(|| Error::invalid(format!("invalid value for {k}: {v:?}"))),
        }
    };
    let since = parse("since")?;
    let until = parse("until")?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(Error::invalid("`since` time must be before `until`"));
        }
    }
    let (past, mut rx) = e.events.subscribe(since);
    let (tx, out) = tokio::sync::mpsc::channel::<Bytes>(64);
    let until_nanos = until.map(|u| u.timestamp_nanos_opt().unwrap_or(0));
    tokio::spawn(async move {
        let line = |m: &berth_api::event::Message| {
            let mut v = serde_json::to_vec(m).unwrap_or_default();
            v.push(b'\n');
            Bytes::from(v)
        };
        for m in past.iter().filter(|m| events::matches(&f, m)) {
            if until_nanos.map(|u| m.time_nano > u).unwrap_or(false) {
                return;
            }
            if tx.send(line(m)).await.is_err() {
                return;
            }
        }
        loop {
            let deadline = until.map(|u| (u - chrono::Utc::now()).to_std().unwrap_or_default());
            let next = match deadline {
                Some(d) => match tokio::time::timeout(d, rx.recv()).await {
                    Ok(m) => m,
                    Err(_) => return,
                },
                None => tokio::select! {
                    m = rx.recv() => m,
                    _ = tx.closed() => return,
                },
            };
            match next {
                Ok(m) => {
                    if until_nanos.map(|u| m.time_nano > u).unwrap_or(false) {
                        return;
                    }
                    if events::matches(&f, &m) && tx.send(line(&m)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    Ok(super::stream("application/json", out))
}

/// `GET /system/df`, shaped as dockerd 20.10 answers it: `BuildCache` null, images
/// without labels or digests with null ones, `VirtualSize` and `BuilderSize` (always 0)
/// for older clients, no `DNSNames` in container networks before API 1.44.
pub async fn df(State(e): State<AppState>, req: Request) -> ApiResult {
    let version = super::api_version(req.extensions());
    let mut images = e.images_disk_usage().await?;
    if version.before(1, 44) {
        for i in &mut images.images {
            i.virtual_size = Some(i.size);
        }
    }
    let containers = e.container_list(true, 0, true, &Default::default()).await?;
    let usage = DiskUsage {
        layers_size: images.layers_size,
        images: images.images,
        containers,
        volumes: super::volumes::disk_usage(&e).await,
        build_cache: None,
        builder_size: version.before(1, 42).then_some(0),
    };
    let mut v = serde_json::to_value(&usage).map_err(|e| Error::internal(e.to_string()))?;
    for i in entries(&mut v, "Images") {
        for key in ["Labels", "RepoDigests"] {
            if i[key].as_object().is_some_and(|o| o.is_empty())
                || i[key].as_array().is_some_and(|a| a.is_empty())
            {
                i[key] = serde_json::Value::Null;
            }
        }
    }
    if version.before(1, 44) {
        for c in entries(&mut v, "Containers") {
            let nets = c["NetworkSettings"]["Networks"].as_object_mut();
            for n in nets.into_iter().flat_map(|m| m.values_mut()) {
                if let Some(n) = n.as_object_mut() {
                    n.remove("DNSNames");
                }
            }
        }
    }
    Ok(ok_json(&v))
}

/// The entries of list `key` of a JSON object.
fn entries<'a>(
    v: &'a mut serde_json::Value,
    key: &str,
) -> impl Iterator<Item = &'a mut serde_json::Value> {
    v[key].as_array_mut().into_iter().flatten()
}

pub async fn auth(State(e): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let mut a: berth_api::auth::AuthConfig = decode(&headers, &body, false)?;
    a.fill_from_legacy_auth();
    let r = crate::registry_auth::login(&e.settings, &a).await?;
    Ok(ok_json(&r))
}
