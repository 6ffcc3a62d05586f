//! Pulling an image: resolve the reference, fetch index/manifest/config, download the
//! layers in parallel into the content store (resuming partial downloads), and unpack
//! them into snapshots.
//!
//! With overlayfs each layer is unpacked while it downloads (layers do not depend on each
//! other's files there) and committed in order afterwards; with the native snapshotter
//! layers are applied one after the other once downloaded. Everything is verified: blobs
//! against their digests, unpacked layers against the config's diff IDs. A lease protects
//! what the pull wrote until the image record exists.
//!
//! What layers may unpack is bounded (shimd's `max_layer_ratio` and `max_unpack_bytes`).
//! A pull whose client goes away is cancelled. A pull that fails or is cancelled leaves
//! nothing: no partial download, no extraction, no blob or snapshot only it used.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_image::limits::Budget;
use berth_image::manifest::{self, Descriptor, Resolved};
use berth_image::reference::{Reference, DOCKER_HUB};
use berth_image::registry::{Credentials, HostOptions, Remote};
use berth_image::{Digest, Error as ImgError};
use berth_proto::v1::{
    pull_progress, BlobProgress, Image, PullProgress, PullRequest, RegistryOptions,
};
use futures::StreamExt;
use tokio::sync::mpsc;
use tonic::Status;

use crate::image_error::status;
use crate::image_records;
use crate::leases::{OpLease, CONTENT};
use crate::server::Core;
use crate::snapshotter::Driver;
use crate::unpack::{self, Extraction};

/// Layers downloaded at once.
const PARALLEL_LAYERS: usize = 3;

pub type Progress = mpsc::Sender<Result<PullProgress, Status>>;

async fn say(tx: &Progress, s: String) {
    let _ = tx
        .send(Ok(PullProgress {
            kind: Some(pull_progress::Kind::Status(s)),
        }))
        .await;
}

async fn blob_state(tx: &Progress, d: &Descriptor, state: &str, current: i64) {
    let _ = tx
        .send(Ok(PullProgress {
            kind: Some(pull_progress::Kind::Blob(BlobProgress {
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                state: state.into(),
                current,
                total: d.size,
                ..Default::default()
            })),
        }))
        .await;
}

/// The options for a registry host: shimd's config plus what the request adds.
pub fn host_options(
    core: &Core,
    reference: &Reference,
    opts: Option<&RegistryOptions>,
) -> impl Fn(&str) -> HostOptions {
    let registries = core.config.registries.clone();
    let own = reference.registry.clone();
    let req_insecure = opts.is_some_and(|o| o.insecure);
    let req_mirrors = opts.map(|o| o.mirrors.clone()).unwrap_or_default();
    move |host: &str| {
        let cfg = registries.get(host).cloned().unwrap_or_default();
        let mut ca_pem = Vec::new();
        if let Some(f) = &cfg.ca_file {
            match std::fs::read(f) {
                Ok(b) => ca_pem.push(b),
                Err(e) => {
                    tracing::warn!(file = %f.display(), error = %e, "cannot read registry CA file")
                }
            }
        }
        // A request's mirrors are docker.io's (like dockerd's registry-mirrors); the
        // config names mirrors per registry.
        let mut mirrors = if host == own && host == DOCKER_HUB {
            req_mirrors.clone()
        } else {
            vec![]
        };
        mirrors.extend(cfg.mirrors.clone());
        HostOptions {
            insecure: cfg.insecure || (req_insecure && host == own),
            ca_pem,
            mirrors,
        }
    }
}

pub fn credentials(opts: Option<&RegistryOptions>) -> Credentials {
    let a = opts.and_then(|o| o.auth.clone()).unwrap_or_default();
    Credentials {
        username: a.username,
        password: a.password,
        identity_token: a.identity_token,
        registry_token: a.registry_token,
    }
}

/// The error of a pull whose client went away.
fn cancelled() -> Status {
    Status::cancelled("pull cancelled: the client went away")
}

pub async fn pull(
    core: Arc<Core>,
    ns: String,
    req: PullRequest,
    tx: Progress,
) -> Result<Image, Status> {
    let lease = OpLease::new(&core.db, &ns, "pull")?;
    let reference = req.reference.clone();
    let r = pull_with(core.clone(), ns.clone(), req, tx, &lease).await;
    if let Err(e) = &r {
        tracing::info!(%reference, error = %e.message(), "pull failed: removing what it left");
        crate::gc::discard(&core, &ns, lease).await;
    }
    r
}

/// Err(cancelled) once the client has gone away.
fn check_client(tx: &Progress) -> Result<(), Status> {
    match tx.is_closed() {
        true => Err(cancelled()),
        false => Ok(()),
    }
}

async fn pull_with(
    core: Arc<Core>,
    ns: String,
    req: PullRequest,
    tx: Progress,
    lease: &OpLease,
) -> Result<Image, Status> {
    let reference = Reference::parse(&req.reference).map_err(status)?;
    let platform = image_records::platform_of(req.platform.as_ref());
    let budget = unpack::budget(&core);
    let mut remote = Remote::new(
        &reference,
        &credentials(req.registry.as_ref()),
        host_options(&core, &reference, req.registry.as_ref()),
    )
    .await
    .map_err(status)?;
    let (top, top_bytes) = remote.resolve().await.map_err(status)?;
    check_client(&tx)?;
    say(
        &tx,
        format!(
            "resolved {reference} to {} ({})",
            top.digest,
            remote.endpoint()
        ),
    )
    .await;
    let mut blobs: Vec<Digest> = Vec::new();
    put_small(&core, lease, &top, &top_bytes)?;
    blobs.push(top.digest().map_err(status)?);

    // Walk down to the platform's manifest, storing what we pass.
    let mut desc = top.clone();
    let mut bytes = top_bytes;
    for _ in 0..4 {
        if !berth_image::media::is_index(&desc.media_type) {
            break;
        }
        let index = manifest::parse_index(&bytes).map_err(status)?;
        let chosen = manifest::choose_manifest(&index, &platform)
            .map_err(|e| status(ImgError::NotFound(format!("{reference}: {e}"))))?
            .clone();
        bytes = match read_if_present(&core, &chosen) {
            Some(b) => b,
            None => remote.fetch_manifest(&chosen).await.map_err(status)?,
        };
        put_small(&core, lease, &chosen, &bytes)?;
        blobs.push(chosen.digest().map_err(status)?);
        desc = chosen;
    }
    if !berth_image::media::is_manifest(&desc.media_type) {
        return Err(Status::invalid_argument(format!(
            "{reference}: {} is a {:?}, not an image manifest",
            desc.digest, desc.media_type
        )));
    }
    let m = manifest::parse_manifest(&bytes).map_err(status)?;
    let config_bytes = match read_if_present(&core, &m.config) {
        Some(b) => b,
        None => remote.fetch_small(&m.config).await.map_err(status)?,
    };
    put_small(&core, lease, &m.config, &config_bytes)?;
    blobs.push(m.config.digest().map_err(status)?);
    let config = manifest::ConfigSummary::parse(&config_bytes).map_err(status)?;
    let resolved = Resolved {
        manifest_desc: desc.clone(),
        manifest: m.clone(),
        diff_ids: config.diff_ids().map_err(status)?,
        config_json: config_bytes,
        config,
    };
    if resolved.diff_ids.len() != m.layers.len() {
        return Err(Status::invalid_argument(format!(
            "{reference}: manifest {} has {} layers but its config lists {} diff_ids",
            desc.digest,
            m.layers.len(),
            resolved.diff_ids.len()
        )));
    }
    for l in &m.layers {
        blobs.push(l.digest().map_err(status)?);
        lease.add(CONTENT, &l.digest)?;
    }

    check_client(&tx)?;
    // Overlay: one extraction per missing layer, fed while downloading.
    let chains = resolved.chain_ids();
    let stream_unpack = req.unpack && core.snapshots.driver() == Driver::Overlay;
    let mut exts: Vec<Option<Extraction>> = Vec::new();
    let cleanup = |exts: &mut Vec<Option<Extraction>>| abort_all(&core, &ns, exts);
    if stream_unpack {
        for c in &chains {
            let e = if core.snapshots.exists(&ns, &c.to_string())? {
                None
            } else {
                match unpack::begin(&core, &ns, c, "", lease) {
                    Ok(e) => Some(e),
                    Err(err) => {
                        cleanup(&mut exts);
                        return Err(err);
                    }
                }
            };
            exts.push(e);
        }
    }
    let opts = unpack::apply_options(&core);
    let remote = Arc::new(remote);
    let mut jobs = Vec::new();
    for (i, layer) in m.layers.iter().enumerate() {
        let core = core.clone();
        let remote = remote.clone();
        let tx = tx.clone();
        let into = exts
            .get(i)
            .and_then(|e| e.as_ref())
            .map(|e| (e.fs.clone(), resolved.diff_ids[i].clone()));
        let layer = layer.clone();
        let how = Apply {
            opts,
            budget: budget.clone(),
        };
        jobs.push(async move {
            let r = fetch_layer(&core, &remote, &layer, &tx, into, &how).await;
            (i, r)
        });
    }
    let mut applied = vec![false; m.layers.len()];
    let mut first_err = None;
    let mut results = futures::stream::iter(jobs).buffer_unordered(PARALLEL_LAYERS);
    while let Some((i, r)) = results.next().await {
        match r {
            Ok(a) => applied[i] = a,
            Err(e) => {
                first_err.get_or_insert(crate::image_error::context(e, &reference.to_string()));
            }
        }
    }
    drop(results);
    if let Some(e) = first_err {
        cleanup(&mut exts);
        return Err(e);
    }

    if stream_unpack {
        for i in 0..chains.len() {
            let Some(ext) = exts[i].take() else { continue };
            let parent = if i == 0 {
                String::new()
            } else {
                chains[i - 1].to_string()
            };
            if !applied[i] {
                blob_state(&tx, &m.layers[i], "extracting", 0).await;
                let store = core.content.clone();
                let (fs, layer, diff) = (
                    ext.fs.clone(),
                    m.layers[i].clone(),
                    resolved.diff_ids[i].clone(),
                );
                let budget = budget.clone();
                let r = tokio::task::spawn_blocking(move || {
                    let r = store
                        .verified_reader(&layer.digest().map_err(status)?)
                        .map_err(status)?;
                    unpack::apply_blocking(opts, &fs, &layer, r, &diff, &budget)
                })
                .await
                .map_err(|e| Status::internal(format!("unpack task: {e}")))
                .and_then(|r| r);
                if let Err(e) = r {
                    unpack::abort(&core, &ns, &ext);
                    cleanup(&mut exts);
                    return Err(e);
                }
            }
            if let Err(e) = unpack::finish(&core, &ns, &ext, &chains[i], &parent, lease) {
                cleanup(&mut exts);
                return Err(e);
            }
        }
    } else if req.unpack {
        say(&tx, "unpacking".into()).await;
        unpack::unpack_image(&core, &ns, &resolved, lease, &budget).await?;
    }
    image_records::add_content_refs(&core, &ns, &blobs)?;
    crate::blob_sources::record(
        &core,
        &ns,
        &reference.registry,
        &reference.repository,
        &blobs,
    )?;
    let img = image_records::put(
        &core,
        &ns,
        &reference.to_string(),
        image_records::to_proto(&top),
        req.labels.clone(),
    )?;
    say(&tx, format!("pulled {reference}")).await;
    Ok(img)
}

fn abort_all(core: &Core, ns: &str, exts: &mut [Option<Extraction>]) {
    for e in exts.iter_mut().filter_map(Option::take) {
        unpack::abort(core, ns, &e);
    }
}

fn read_if_present(core: &Core, d: &Descriptor) -> Option<Vec<u8>> {
    let digest = d.digest().ok()?;
    core.content.read_all(&digest).ok()
}

fn put_small(core: &Core, lease: &OpLease, d: &Descriptor, bytes: &[u8]) -> Result<(), Status> {
    lease.add(CONTENT, &d.digest)?;
    let want = d.digest().map_err(status)?;
    core.content.put(bytes, Some(&want)).map_err(status)?;
    Ok(())
}

/// Reads chunks sent from the download loop (blocking side of the pipe).
struct ChannelReader {
    rx: mpsc::Receiver<bytes::Bytes>,
    cur: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<bytes::Bytes, ImgError>> + Send>>;

/// The rest of a blob to download into `w`: what a crashed download left is kept and the
/// rest asked for with a range request; when the registry ignores the range (or the
/// request fails) the download starts over. The digest is checked over the whole blob
/// when `w` commits.
async fn open_download(
    remote: &Remote,
    layer: &Descriptor,
    w: &mut berth_image::store::Writer,
    tx: &Progress,
) -> Result<ByteStream, Status> {
    let d = &layer.digest;
    let offset = w.offset();
    if offset > 0 && offset == layer.size as u64 {
        tracing::info!(digest = %d, "a partial download is complete: verifying it");
        return Ok(Box::pin(futures::stream::empty()));
    }
    if offset > 0 {
        match remote.fetch_blob(layer, offset).await {
            Ok((s, true)) => {
                tracing::info!(digest = %d, offset, "resuming a partial download");
                blob_state(tx, layer, "resuming", offset as i64).await;
                return Ok(s);
            }
            Ok((s, false)) => {
                tracing::info!(digest = %d, offset, "the registry ignored the range: downloading from the start");
                w.truncate().map_err(status)?;
                return Ok(s);
            }
            Err(e) => {
                tracing::info!(digest = %d, offset, error = %e, "cannot resume: downloading from the start");
                w.truncate().map_err(status)?;
            }
        }
    }
    Ok(remote.fetch_blob(layer, 0).await.map_err(status)?.0)
}

/// Downloads one layer into the content store, resuming a partial download; when `into`
/// is given and the download starts from zero, also applies it there as it streams. A
/// download stops when the client goes away; its partial file goes with its writer.
/// Returns whether the layer was applied. A resumed download that does not verify (the
/// partial file was damaged) is downloaded once more from the start.
async fn fetch_layer(
    core: &Arc<Core>,
    remote: &Remote,
    layer: &Descriptor,
    tx: &Progress,
    into: Option<(std::path::PathBuf, Digest)>,
    how: &Apply,
) -> Result<bool, Status> {
    let mut resumed = false;
    match fetch_layer_once(core, remote, layer, tx, into, how, &mut resumed).await {
        Err(e) if resumed && e.code() == tonic::Code::DataLoss => {
            tracing::warn!(digest = %layer.digest, error = %e.message(),
                "a resumed download did not verify: downloading it again");
            fetch_layer_once(core, remote, layer, tx, None, how, &mut resumed).await
        }
        r => r,
    }
}

/// How layers are applied: the options and the pull's unpack budget.
#[derive(Clone)]
struct Apply {
    opts: berth_image::unpack::ApplyOptions,
    budget: Arc<Budget>,
}

async fn fetch_layer_once(
    core: &Arc<Core>,
    remote: &Remote,
    layer: &Descriptor,
    tx: &Progress,
    into: Option<(std::path::PathBuf, Digest)>,
    how: &Apply,
    resumed: &mut bool,
) -> Result<bool, Status> {
    let d = layer.digest().map_err(status)?;
    let ingest = format!("sha256-{}", d.hex());
    let mut w = loop {
        if core.content.exists(&d) {
            blob_state(tx, layer, "exists", layer.size).await;
            return Ok(false);
        }
        match core
            .content
            .resume_writer(&ingest, Some(&d), Some(layer.size as u64))
        {
            Ok(w) => break w,
            Err(ImgError::Busy(_)) => {
                check_client(tx)?;
                blob_state(tx, layer, "waiting", 0).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(status(e)),
        }
    };
    let mut stream = open_download(remote, layer, &mut w, tx).await?;
    *resumed = w.offset() > 0;
    let (chunk_tx, apply) = match into {
        Some((fs, diff)) if w.offset() == 0 => {
            let (ctx, crx) = mpsc::channel::<bytes::Bytes>(16);
            let layer = layer.clone();
            let how = how.clone();
            let h = tokio::task::spawn_blocking(move || {
                let r = ChannelReader {
                    rx: crx,
                    cur: bytes::Bytes::new(),
                };
                unpack::apply_blocking(how.opts, &fs, &layer, r, &diff, &how.budget)
            });
            (Some(ctx), Some(h))
        }
        _ => (None, None),
    };
    let mut chunk_tx = chunk_tx;
    let mut last = Instant::now();
    let mut io_err = None;
    loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = tx.closed() => {
                io_err = Some(cancelled());
                break;
            }
        };
        let Some(chunk) = next else { break };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                io_err = Some(status(e));
                break;
            }
        };
        if let Err(e) = tokio::task::block_in_place(|| w.write_all(&chunk)) {
            io_err = Some(Status::internal(format!("writing blob {d}: {e}")));
            break;
        }
        if let Some(t) = &chunk_tx {
            if t.send(chunk).await.is_err() {
                // The unpacker stopped early. The rest still comes (up to the size the
                // manifest gives) so that a blob that is not what the manifest names is
                // reported as such, not as the damaged layer it looks like.
                chunk_tx = None;
            }
        }
        if chunk_tx.is_none() && apply.is_some() && w.offset() > layer.size as u64 {
            break;
        }
        if last.elapsed() > Duration::from_millis(100) {
            last = Instant::now();
            blob_state(tx, layer, "downloading", w.offset() as i64).await;
        }
    }
    drop(chunk_tx);
    let applied = match apply {
        Some(h) => {
            let r = h
                .await
                .map_err(|e| Status::internal(format!("unpack task: {e}")))?;
            if let Err(e) = r {
                if io_err.is_none() {
                    // A blob that does not verify explains a failed unpack.
                    return Err(w.verify().err().map(status).unwrap_or(e));
                }
            }
            true
        }
        None => false,
    };
    if let Some(e) = io_err {
        return Err(e);
    }
    blob_state(tx, layer, "verifying", w.offset() as i64).await;
    tokio::task::spawn_blocking(move || w.commit())
        .await
        .map_err(|e| Status::internal(format!("commit task: {e}")))?
        .map_err(status)?;
    blob_state(tx, layer, "done", layer.size).await;
    Ok(applied)
}
