//! Start-up: directories, the root lock, the socket, and the gRPC server with every service.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

use crate::config::Config;
use crate::events::{EventBus, EventsService};
use crate::metadata::Db;
use crate::services;

/// What every service shares.
pub struct Core {
    pub config: Config,
    pub db: Db,
    pub events: EventBus,
    /// Content-addressed blobs (`<root>/content`), shared by every namespace.
    pub content: berth_image::store::ContentStore,
    /// Snapshots (`<root>/snapshots`); `mounts(ns, key)` says how to mount an active one.
    pub snapshots: crate::snapshotter::Snapshotter,
    /// Held by garbage collection, so two collections never interleave.
    pub gc_lock: tokio::sync::Mutex<()>,
    /// Running tasks, each held by its berth-shim.
    pub tasks: crate::tasks::TaskManager,
}

/// How long calls under way may finish after SIGTERM.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn serve(config: Config) -> anyhow::Result<()> {
    for dir in [&config.root, &config.state] {
        make_private_dir(dir)?;
    }
    // One shimd per root: the lock goes with the process, so a kill -9 frees it.
    let _lock = lock_root(&config.root)?;
    let db = Db::open(&config.root.join("meta.redb"))?;
    let events = EventBus::default();
    crate::leases::drop_dead_operation_leases(&db)?;
    let content = berth_image::store::ContentStore::open(&config.root.join("content"))?;
    let snapshots = crate::snapshotter::Snapshotter::open(
        &config.root,
        &config.snapshotter,
        db.clone(),
        events.clone(),
    )?;
    let core = Arc::new(Core {
        config,
        db,
        events,
        content,
        snapshots,
        gc_lock: Default::default(),
        tasks: Default::default(),
    });
    // Shims outlive shimd: find every task again before serving.
    crate::tasks::supervisor::recover(core.clone()).await;

    let listener = bind_socket(&core.config.address)?;
    tracing::info!(address = %core.config.address.display(), root = %core.config.root.display(),
        state = %core.config.state.display(), "shimd serving");

    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(berth_proto::v1::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;

    let router = tonic::transport::Server::builder()
        .add_service(reflection)
        .add_service(EventsService::server(core.events.clone()))
        .add_service(services::system::server(core.clone()))
        .add_service(services::images::server(core.clone()))
        .add_service(services::snapshots::server(core.clone()))
        .add_service(services::containers::server(core.clone()))
        .add_service(services::tasks::server(core.clone()))
        .add_service(services::content::server(core.clone()))
        .add_service(services::leases::server(core.clone()));

    let address = core.config.address.clone();
    // On SIGTERM the server stops taking connections and lets calls under way finish, for
    // a moment: a client holding a stream (events, a wait) does not keep shimd up.
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = {
        let stopping = stopping.clone();
        async move {
            shutdown_signal().await;
            stopping.notify_waiters();
        }
    };
    let serving = router.serve_with_incoming_shutdown(UnixListenerStream::new(listener), signalled);
    tokio::pin!(serving);
    tokio::select! {
        r = &mut serving => r.context("serving gRPC")?,
        _ = async {
            stopping.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::info!("clients still connected after {SHUTDOWN_GRACE:?}; stopping anyway"),
    }
    let _ = std::fs::remove_file(&address);
    tracing::info!("shimd stopped");
    Ok(())
}

fn make_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

fn lock_root(root: &Path) -> anyhow::Result<berth_fs::lock::DirLock> {
    berth_fs::lock::lock_dir(root, "shimd.lock").map_err(|e| match e {
        berth_fs::lock::LockError::Held(_) => anyhow::anyhow!(
            "another shimd is using root {}; stop it or pick another --root",
            root.display()
        ),
        e => anyhow::anyhow!(e),
    })
}

/// Binds the socket (root-only). A stale socket file from a dead shimd is replaced; a
/// socket someone still answers on is not.
fn bind_socket(path: &Path) -> anyhow::Result<UnixListener> {
    let l = berth_proto::socket::bind_root_only(path, "--address")?;
    Ok(UnixListener::from_std(l)?)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!("shutting down (containers keep running in their shims)");
}
