//! Garbage collection: removes content and snapshots nothing references.
//!
//! Roots, per namespace: images (their index, manifests, configs, layers and the unpacked
//! snapshot chain of every platform present), containers (their `snapshot_key`), leases
//! that have not expired (their content and snapshots), active snapshots and views (removed
//! only explicitly), and anything labelled `berth.io/gc.root`. A kept snapshot keeps its
//! parents. Snapshots and content references of the caller's namespace that no root reaches
//! are removed; a blob file goes when no namespace references it any more. Partial
//! downloads nobody touched for `ingest_expiry` and no live download holds go too.
//!
//! A failed pull or import calls `discard`: what its lease held and nothing else reaches
//! goes at once, so a refused image leaves nothing behind.

use std::collections::HashSet;
use std::sync::Arc;

use berth_image::manifest;
use berth_proto::v1::{
    Container, ContentInfo, GarbageCollectResponse, Image, Lease, LeaseResource, SnapshotKind,
};
use tonic::Status;

use crate::image_records::from_proto;
use crate::leases::{self, OpLease};
use crate::metadata::{CONTAINERS, CONTENT, IMAGES, LEASES, LEASE_RESOURCES};
use crate::server::Core;
use crate::snapshotter::{kind_of, StoredSnapshot};

pub const ROOT_LABEL: &str = "berth.io/gc.root";

/// What a namespace's roots reach.
struct Reached {
    content: HashSet<String>,
    snapshots: HashSet<String>,
}

fn mark(core: &Core, ns: &str) -> Result<Reached, Status> {
    let mut content = HashSet::new();
    let mut snapshots = HashSet::new();
    for (_, img) in core.db.list::<Image>(IMAGES, ns)? {
        let Some(t) = img.target else { continue };
        let target = from_proto(&t);
        for d in manifest::walk(&core.content, &target) {
            content.insert(d.digest.clone());
            // Every manifest present gives a snapshot chain.
            if berth_image::media::is_manifest(&d.media_type) {
                if let Ok(r) = manifest::resolve(
                    &core.content,
                    &d,
                    &berth_image::platform::Platform::default(),
                ) {
                    if let Some(top) = r.chain_ids().last() {
                        snapshots.insert(top.to_string());
                    }
                }
            }
        }
    }
    for (_, c) in core.db.list::<Container>(CONTAINERS, ns)? {
        if !c.snapshot_key.is_empty() {
            snapshots.insert(c.snapshot_key);
        }
    }
    let live: HashSet<String> = core
        .db
        .list::<Lease>(LEASES, ns)?
        .into_iter()
        .filter(|(_, l)| !leases::is_expired(l))
        .map(|(id, _)| id)
        .collect();
    for (key, r) in core.db.list::<LeaseResource>(LEASE_RESOURCES, ns)? {
        let lease = key.split('\0').next().unwrap_or("");
        if !live.contains(lease) {
            continue;
        }
        if r.r#type == leases::CONTENT {
            content.insert(r.id);
        } else {
            snapshots.insert(r.id);
        }
    }
    for (d, info) in core.db.list::<ContentInfo>(CONTENT, ns)? {
        if info.labels.contains_key(ROOT_LABEL) {
            content.insert(d);
        }
    }
    let all = core.snapshots.list(ns)?;
    for s in &all {
        let i = s.info.clone().unwrap_or_default();
        if kind_of(s) != SnapshotKind::Committed || i.labels.contains_key(ROOT_LABEL) {
            snapshots.insert(i.name);
        }
    }
    // Parents of kept snapshots.
    let by_name: std::collections::HashMap<String, &StoredSnapshot> = all
        .iter()
        .filter_map(|s| s.info.as_ref().map(|i| (i.name.clone(), s)))
        .collect();
    let mut todo: Vec<String> = snapshots.iter().cloned().collect();
    while let Some(k) = todo.pop() {
        if let Some(p) = by_name
            .get(&k)
            .and_then(|s| s.info.as_ref())
            .map(|i| i.parent.clone())
        {
            if !p.is_empty() && snapshots.insert(p.clone()) {
                todo.push(p);
            }
        }
    }
    Ok(Reached { content, snapshots })
}

/// What a sweep may remove: everything unreached, or only these unreached ones.
struct Only {
    content: HashSet<String>,
    snapshots: HashSet<String>,
}

pub fn collect(core: &Core, ns: &str, dry_run: bool) -> Result<GarbageCollectResponse, Status> {
    let mut out = sweep(core, ns, dry_run, None)?;
    // Partial downloads nobody resumed (a live download holds its lock and is kept).
    if !dry_run {
        match core.content.remove_stale_ingests(core.config.ingest_expiry) {
            Ok((_, bytes)) => out.bytes_reclaimed += bytes as i64,
            Err(e) => tracing::warn!(error = %e, "could not remove stale ingests"),
        }
    }
    Ok(out)
}

/// After a failed operation: drops its lease and removes what the lease held that
/// nothing else reaches (snapshots it committed, blobs it stored).
pub async fn discard(core: &Arc<Core>, ns: &str, lease: OpLease) {
    let held = match leases::resources(&core.db, ns, &lease.id) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(lease = %lease.id, error = %e.message(), "cannot list a failed operation's lease");
            return;
        }
    };
    drop(lease);
    let only = Only {
        content: held
            .iter()
            .filter(|r| r.r#type == leases::CONTENT)
            .map(|r| r.id.clone())
            .collect(),
        snapshots: held
            .iter()
            .filter(|r| r.r#type == leases::SNAPSHOTS)
            .map(|r| r.id.clone())
            .collect(),
    };
    let _gc = core.gc_lock.lock().await;
    let (c2, ns2) = (core.clone(), ns.to_string());
    match tokio::task::spawn_blocking(move || sweep(&c2, &ns2, false, Some(&only))).await {
        Ok(Ok(r)) if r.content_removed + r.snapshots_removed > 0 => {
            tracing::info!(namespace = %ns, blobs = r.content_removed, snapshots = r.snapshots_removed,
                "removed what a failed operation left")
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e.message(), "cleaning up after a failed operation"),
        Err(e) => tracing::warn!(error = %e, "cleaning up after a failed operation"),
    }
}

fn sweep(
    core: &Core,
    ns: &str,
    dry_run: bool,
    only: Option<&Only>,
) -> Result<GarbageCollectResponse, Status> {
    // Expired leases go first.
    if !dry_run && only.is_none() {
        for (id, l) in core.db.list::<Lease>(LEASES, ns)? {
            if leases::is_expired(&l) {
                let _ = leases::delete(&core.db, ns, &id);
            }
        }
    }
    let reached = mark(core, ns)?;
    let mut out = GarbageCollectResponse::default();
    // Snapshots: children before parents.
    loop {
        let all = core.snapshots.list(ns)?;
        let parents: HashSet<String> = all
            .iter()
            .filter_map(|s| s.info.as_ref().map(|i| i.parent.clone()))
            .collect();
        let doomed: Vec<String> = all
            .iter()
            .filter_map(|s| s.info.as_ref().map(|i| i.name.clone()))
            .filter(|n| !reached.snapshots.contains(n) && (dry_run || !parents.contains(n)))
            .filter(|n| only.is_none_or(|o| o.snapshots.contains(n)))
            .collect();
        if doomed.is_empty() {
            break;
        }
        for k in &doomed {
            if !dry_run {
                if let Ok((b, _)) = core.snapshots.usage(ns, k) {
                    out.bytes_reclaimed += b as i64;
                }
                core.snapshots.remove(ns, k)?;
            }
            out.snapshots_removed += 1;
        }
        if dry_run {
            break;
        }
    }
    // Content references of this namespace.
    let mut dropped = Vec::new();
    for (d, _) in core.db.list::<ContentInfo>(CONTENT, ns)? {
        if !reached.content.contains(&d) && only.is_none_or(|o| o.content.contains(&d)) {
            dropped.push(d);
        }
    }
    if !dry_run {
        core.db.write(|tx| {
            for d in &dropped {
                tx.delete(CONTENT, ns, d)?;
            }
            Ok(())
        })?;
    }
    // Blob files no namespace references or reaches.
    let mut used: HashSet<String> = HashSet::new();
    for (_, d, _) in core.db.list_all::<ContentInfo>(CONTENT)? {
        used.insert(d);
    }
    for other in core.db.namespaces()? {
        if other != ns {
            used.extend(mark(core, &other)?.content);
        }
    }
    used.extend(reached.content.iter().cloned());
    if dry_run {
        for d in &dropped {
            used.remove(d);
        }
    }
    for b in core.content.list().map_err(crate::image_error::status)? {
        let d = b.digest.to_string();
        if used.contains(&d) || only.is_some_and(|o| !o.content.contains(&d)) {
            continue;
        }
        if !dry_run {
            core.content
                .delete(&b.digest)
                .map_err(crate::image_error::status)?;
            core.events
                .publish(ns, "/content/delete", [("digest", d.as_str())]);
        }
        out.content_removed += 1;
        out.bytes_reclaimed += b.size as i64;
    }
    Ok(out)
}
