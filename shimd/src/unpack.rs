//! Unpacking image layers into committed snapshots named by chain ID.
//!
//! Each layer is applied to a temporary active snapshot (`extract-...`), its uncompressed
//! digest checked against the config's diff ID, then committed as `sha256:<chain id>`.
//! A layer already unpacked (same chain ID) is skipped, so images share their layers.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use berth_image::limits::Budget;
use berth_image::manifest::{Descriptor, Resolved};
use berth_image::unpack::{apply_layer, ApplyOptions, DeviceNodes, WhiteoutMode};
use berth_image::Digest;
use tonic::Status;

use crate::image_error::status;
use crate::leases::{OpLease, SNAPSHOTS};
use crate::server::Core;
use crate::snapshotter::Driver;

pub const EXTRACT_PREFIX: &str = "extract-";

pub fn apply_options(core: &Core) -> ApplyOptions {
    ApplyOptions {
        whiteouts: match core.snapshots.driver() {
            Driver::Overlay => WhiteoutMode::Overlay,
            Driver::Native => WhiteoutMode::Delete,
        },
        devices: DeviceNodes::for_this_process(),
    }
}

/// The unpack budget of one pull or import (see shimd's `max_*` settings).
pub fn budget(core: &Core) -> Arc<Budget> {
    Budget::new(core.config.unpack_limits())
}

/// A layer being applied into a temporary snapshot.
pub struct Extraction {
    pub key: String,
    pub fs: PathBuf,
}

/// Starts the extraction of the layer with chain ID `chain` on top of `parent`.
pub fn begin(
    core: &Core,
    ns: &str,
    chain: &Digest,
    parent: &str,
    lease: &OpLease,
) -> Result<Extraction, Status> {
    let key = crate::leases::random_id(&format!("{EXTRACT_PREFIX}{}-", &chain.hex()[..12]));
    lease.add(SNAPSHOTS, &key)?;
    core.snapshots
        .prepare(ns, &key, parent, Default::default(), false)?;
    let rec = core.snapshots.get(ns, &key)?;
    Ok(Extraction {
        key,
        fs: core.snapshots.fs_dir(rec.id),
    })
}

/// Applies a layer stream into the extraction (blocking), within `budget`, and checks its
/// diff ID.
pub fn apply_blocking(
    opts: ApplyOptions,
    ext_fs: &std::path::Path,
    layer: &Descriptor,
    r: impl Read,
    diff_id: &Digest,
    budget: &Arc<Budget>,
) -> Result<(), Status> {
    let applied = apply_layer(r, ext_fs, opts, budget, layer.size.max(0) as u64)
        .map_err(|e| crate::image_error::context(status(e), &format!("layer {}", layer.digest)))?;
    if applied.diff_id != *diff_id {
        return Err(Status::data_loss(format!(
            "layer {}: its uncompressed digest {} does not match the image config's diff_id {diff_id}",
            layer.digest, applied.diff_id
        )));
    }
    Ok(())
}

/// Commits the extraction as `chain` (or drops it when another unpack got there first).
pub fn finish(
    core: &Core,
    ns: &str,
    ext: &Extraction,
    chain: &Digest,
    parent: &str,
    lease: &OpLease,
) -> Result<(), Status> {
    let name = chain.to_string();
    lease.add(SNAPSHOTS, &name)?;
    match core
        .snapshots
        .commit(ns, &name, &ext.key, Default::default(), Some(parent))
    {
        Ok(()) => Ok(()),
        Err(e) if e.code() == tonic::Code::AlreadyExists => {
            abort(core, ns, ext);
            Ok(())
        }
        Err(e) => {
            abort(core, ns, ext);
            Err(e)
        }
    }
}

pub fn abort(core: &Core, ns: &str, ext: &Extraction) {
    if let Err(e) = core.snapshots.remove(ns, &ext.key) {
        tracing::warn!(key = %ext.key, error = %e, "could not remove a failed extraction");
    }
}

/// Unpacks every layer of `resolved` not unpacked yet, from the content store, within
/// `budget`; returns the top chain ID (the key of the image's committed rootfs). An image
/// without layers (a `FROM scratch` build of config steps only) has nothing to unpack:
/// its rootfs is an empty snapshot with no parent, and its chain ID is `None`.
pub async fn unpack_image(
    core: &Arc<Core>,
    ns: &str,
    resolved: &Resolved,
    lease: &OpLease,
    budget: &Arc<Budget>,
) -> Result<Option<Digest>, Status> {
    let chains = resolved.chain_ids();
    let opts = apply_options(core);
    for (i, chain) in chains.iter().enumerate() {
        if core.snapshots.exists(ns, &chain.to_string())? {
            lease.add(SNAPSHOTS, &chain.to_string())?;
            continue;
        }
        let parent = if i == 0 {
            String::new()
        } else {
            chains[i - 1].to_string()
        };
        let layer = resolved.manifest.layers[i].clone();
        let diff_id = resolved.diff_ids[i].clone();
        let ext = begin(core, ns, chain, &parent, lease)?;
        let store = core.content.clone();
        let fs = ext.fs.clone();
        let budget = budget.clone();
        let r = tokio::task::spawn_blocking(move || {
            let reader = store
                .verified_reader(&layer.digest().map_err(status)?)
                .map_err(status)?;
            apply_blocking(opts, &fs, &layer, reader, &diff_id, &budget)
        })
        .await
        .map_err(|e| Status::internal(format!("unpack task: {e}")))?;
        if let Err(e) = r {
            abort(core, ns, &ext);
            return Err(e);
        }
        finish(core, ns, &ext, chain, &parent, lease)?;
    }
    Ok(chains.last().cloned())
}
