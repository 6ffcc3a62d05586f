//! Start-up and shut-down: settings, the data-root lock, shimd, the engine's state, the
//! listeners.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::{Args, Settings};
use crate::engine::Engine;
use crate::shimd::{self, Shimd};

pub fn run(args: Args) -> anyhow::Result<()> {
    let settings = Settings::load(&args)?;
    init_logging(&settings.log_level);
    for dir in [&settings.data_root, &settings.exec_root] {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let _lock = lock_data_root(&settings.data_root)?;
    crate::build::context::remove_stale(&settings.data_root.join("build"));
    if let Some(p) = &settings.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing the pid file {}", p.display()))?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // The API sockets are bound before shimd starts: a bad or busy -H fails here, with
    // nothing started.
    let listeners = {
        let _in_runtime = rt.enter();
        crate::listen::bind_all(&settings.hosts, settings.tls.as_ref())?
    };
    let sockets = crate::listen::SocketFiles::of(&listeners);
    // shimd is spawned from a thread that lives as long as berthd (see shimd::Child).
    let child = match &settings.shimd_address {
        Some(_) => None,
        None => Some(shimd::Child::spawn(shimd::Layout::for_engine(
            &settings.data_root,
            &settings.exec_root,
            &settings.log_level,
        ))?),
    };
    let result = rt.block_on(serve(settings.clone(), listeners, child.as_ref()));
    // Everything the engine still runs (exit watchers, restart timers, API connections,
    // its gRPC connections to shimd) ends here, at once: no restart policy acts after
    // shutdown began, and shimd has no client left to wait for. Blocking work still under
    // way (a log copy, say) is given a moment, then abandoned with the process.
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(sockets);
    if let Some(c) = &child {
        c.stop();
    }
    if let Some(p) = &settings.pidfile {
        let _ = std::fs::remove_file(p);
    }
    drop(_lock);
    tracing::info!("berthd stopped (containers keep running)");
    result
}

/// How long a shutdown waits for containers' releases already under way (a task delete and
/// an unmount take milliseconds; a wedged one must not hold the daemon).
const RELEASES_AT_SHUTDOWN: Duration = Duration::from_secs(5);

async fn serve(
    settings: Settings,
    listeners: Vec<crate::listen::Listener>,
    own_shimd: Option<&shimd::Child>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    if let Some(c) = own_shimd {
        c.wait_serving(Duration::from_secs(30)).await?;
    }
    let socket = settings
        .shimd_address
        .clone()
        .or(own_shimd.map(|c| c.socket.clone()))
        .expect("a shimd socket");
    let shimd = Shimd::connect(&socket, Duration::from_secs(30)).await?;
    let networks = crate::networks::Networks::open(
        &settings.data_root,
        &settings.exec_root,
        &settings.network,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let volumes = crate::volumes::Volumes::open(&settings.data_root)?;
    crate::init_binary::install(&settings.exec_root).map_err(|e| {
        anyhow::anyhow!(
            "writing the container init to {}: {e}",
            crate::init_binary::host_path(&settings.exec_root).display()
        )
    })?;
    let engine = Arc::new(Engine {
        containers: crate::containers::store::Store::load(&settings.data_root.join("containers"))?,
        id: engine_id(&settings.data_root)?,
        settings,
        shimd,
        execs: Default::default(),
        health: Default::default(),
        images: Default::default(),
        events: Default::default(),
        networks,
        volumes,
        releases: Default::default(),
    });
    // Networks first, from the records as they were: container reconciliation then starts
    // watchers and restarts, which attach and release networks themselves.
    engine
        .reconcile_networks()
        .await
        .map_err(|e| anyhow::anyhow!("reconciling networks: {}", e.message))?;
    engine.reconcile_volumes();
    engine
        .reconcile()
        .await
        .map_err(|e| anyhow::anyhow!("reconciling containers with shimd: {e}"))?;
    let app = crate::api::service(engine.clone());
    for l in listeners {
        tokio::spawn(crate::listen::serve(l, app.clone()));
    }
    tracing::info!(hosts = ?engine.settings.hosts, shimd = %socket.display(), "berthd serving (ready in {:?})", started.elapsed());
    shutdown_signal().await;
    tracing::info!("berthd stopping");
    engine.stop_health_checks().await;
    engine.releases.close();
    if tokio::time::timeout(RELEASES_AT_SHUTDOWN, engine.releases.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "{} container releases still under way at shutdown; the next start finishes them",
            engine.releases.len()
        );
    }
    Ok(())
}

fn init_logging(level: &str) {
    let level = if level == "fatal" { "error" } else { level };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person watching; log files and journals get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// One berthd per data root; the lock goes with the process, so a kill -9 frees it.
fn lock_data_root(root: &Path) -> anyhow::Result<berth_fs::lock::DirLock> {
    berth_fs::lock::lock_dir(root, "berthd.lock").map_err(|e| match e {
        berth_fs::lock::LockError::Held(_) => anyhow::anyhow!(
            "another berthd is using data root {}; stop it or pick another --data-root",
            root.display()
        ),
        e => anyhow::anyhow!(e),
    })
}

fn engine_id(root: &Path) -> anyhow::Result<String> {
    let p = root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        if !s.trim().is_empty() {
            return Ok(s.trim().to_string());
        }
    }
    let id = crate::util::new_id();
    crate::util::write_atomic(&p, id.as_bytes())?;
    Ok(id)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
