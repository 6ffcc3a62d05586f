//! `/containers/{id}/archive`: GET (a tar of a path), HEAD (its stat) and PUT (extract a
//! tar into a directory) — what `docker cp` uses in both directions.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

use super::{ApiResult, AppState, Query};
use crate::archive::{self, ExtractOptions, Located};
use crate::containers::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::rootfs::{self, Mounted};

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

impl Engine {
    /// The container's root directory for file access: its live root while it runs,
    /// otherwise its snapshot mounted on a private directory (kept mounted by the guard).
    pub(crate) async fn container_root(&self, c: &Container) -> Result<(OwnedFd, Option<Mounted>)> {
        let (running, pid) = c.with(|r| (r.state.running, r.state.pid));
        if running && pid > 0 {
            let root = berth_fs::open_root(std::path::Path::new(&format!("/proc/{pid}/root")))
                .map_err(|e| {
                    Error::internal(format!("opening the root of container {}: {e}", c.id))
                })?;
            return Ok((root, None));
        }
        let mounts = self
            .shimd
            .snapshots()
            .mounts(berth_proto::v1::SnapshotKeyRequest { key: c.id.clone() })
            .await
            .map_err(Error::from)?
            .into_inner()
            .mounts;
        let m = rootfs::mount_all(&mounts, &self.settings.exec_root.join("mnt"))?;
        let root = berth_fs::open_root(m.path()).map_err(|e| Error::internal(e.to_string()))?;
        Ok((root, Some(m)))
    }
}

fn stat_header(l: &Located) -> HeaderValue {
    let json = serde_json::to_vec(&l.path_stat()).unwrap_or_default();
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json))
        .unwrap_or(HeaderValue::from_static(""))
}

fn path_param(q: &Query) -> Result<String> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(Error::invalid("path is required")),
    }
}

async fn locate(
    e: &Engine,
    c: &Container,
    path: &str,
) -> Result<(Located, OwnedFd, Option<Mounted>)> {
    let (root, guard) = e.container_root(c).await?;
    let p = path.to_string();
    let id = c.id.clone();
    let (l, root) = tokio::task::spawn_blocking(move || {
        archive::locate(root.as_fd(), &p)
            .map(|l| (l, root))
            .map_err(|err| {
                if err.kind == crate::error::Kind::NotFound {
                    Error::not_found(format!("Could not find the file {p} in container {id}"))
                } else {
                    err
                }
            })
    })
    .await
    .map_err(|err| Error::internal(err.to_string()))??;
    Ok((l, root, guard))
}

pub async fn head(State(e): State<AppState>, Path(id): Path<String>, req: Request) -> ApiResult {
    let q = Query::of(req.uri());
    let c = e.container(&id)?;
    let path = path_param(&q)?;
    let (l, _root, _guard) = locate(&e, &c, &path).await?;
    let mut r = Response::new(Body::empty());
    r.headers_mut().insert(STAT_HEADER, stat_header(&l));
    Ok(r)
}

pub async fn get(State(e): State<AppState>, Path(id): Path<String>, req: Request) -> ApiResult {
    let q = Query::of(req.uri());
    let c = e.container(&id)?;
    let path = path_param(&q)?;
    let (l, root, guard) = locate(&e, &c, &path).await?;
    let stat = stat_header(&l);
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let top = archive::top_name(&path);
    tokio::task::spawn_blocking(move || {
        let _keep = (root, guard);
        let mut w = archive::ChannelWriter::new(tx);
        if let Err(err) = l.write_tar(&top, &mut w) {
            tracing::warn!("archiving {path}: {err}");
        }
        let _ = w.flush();
    });
    e.container_event_with(&c, "archive-path", &[("path", q.str("path").to_string())]);
    let mut r = super::stream("application/x-tar", rx);
    r.headers_mut().insert(STAT_HEADER, stat);
    Ok(r)
}

pub async fn put(State(e): State<AppState>, Path(id): Path<String>, req: Request) -> ApiResult {
    let q = Query::of(req.uri());
    let c = e.container(&id)?;
    let path = path_param(&q)?;
    if c.with(|r| r.host_config.readonly_rootfs) {
        return Err(Error::new(
            crate::error::Kind::Forbidden,
            "container rootfs is marked read-only",
        ));
    }
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: q.bool("noOverwriteDirNonDir"),
        copy_uid_gid: q.bool("copyUIDGID"),
    };
    let (root, guard) = e.container_root(&c).await?;
    // The tar reader stops at the end-of-archive block; the client may still be sending
    // the rest (the second zero block, record padding).
    let (body, drained) = super::upload::upload(req);
    let body = body.map(|r| r.map_err(std::io::Error::other));
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
    let dest = path.clone();
    let extracted = tokio::task::spawn_blocking(move || {
        let _keep = guard;
        archive::extract(root.as_fd(), &dest, reader, &opts)
    })
    .await;
    drained.wait().await;
    extracted.map_err(|err| Error::internal(err.to_string()))??;
    e.container_event_with(&c, "extract-to-dir", &[("path", path)]);
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::OK;
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(r)
}
