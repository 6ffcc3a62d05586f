//! `/images/...` handlers. Image names may contain slashes, so `/images/{name}/json` and
//! friends are dispatched on their last path segment.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use berth_api::auth::{AuthConfig, REGISTRY_AUTH_HEADER};
use berth_proto::v1;

use super::{api_version, json, ok_json, ApiResult, AppState, Query};
use crate::error::Error;

pub async fn list(State(e): State<AppState>, uri: Uri, req: Request) -> ApiResult {
    let q = Query::of(&uri);
    let version = api_version(req.extensions());
    let mut out = e.image_list(&q.filters()?, q.bool("all")).await?;
    if version.before(1, 44) {
        for i in &mut out {
            i.virtual_size = Some(i.size);
        }
    }
    Ok(ok_json(&out))
}

pub(super) fn registry_auth(headers: &HeaderMap) -> Result<AuthConfig, Error> {
    match headers
        .get(REGISTRY_AUTH_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(AuthConfig::default()),
        Some(h) => AuthConfig::decode(h).map_err(Error::invalid),
    }
}

fn platform(q: &Query) -> Result<Option<v1::Platform>, Error> {
    let p = q.str("platform");
    if p.is_empty() {
        return Ok(None);
    }
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        [os, arch] => Ok(Some(v1::Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: String::new(),
        })),
        [os, arch, variant] => Ok(Some(v1::Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: variant.to_string(),
        })),
        _ => Err(Error::invalid(format!(
            "invalid platform {p:?}: use os/arch[/variant]"
        ))),
    }
}

/// `POST /images/create`: pull (`fromImage`), or import a root filesystem tar (`fromSrc`:
/// `-` for the request body).
pub async fn create(State(e): State<AppState>, uri: Uri, req: Request) -> ApiResult {
    let q = Query::of(&uri);
    if let Some(src) = q.get("fromSrc") {
        return import(e, &q, src.to_string(), req).await;
    }
    let image = q.str("fromImage");
    if image.is_empty() {
        return Err(Error::invalid("fromImage is required"));
    }
    let rx = e
        .image_pull(
            image,
            q.str("tag"),
            registry_auth(req.headers())?,
            platform(&q)?,
        )
        .await?;
    Ok(super::stream("application/json", rx))
}

/// `fromSrc`: the archive is the body (`-`) or at a URL. Answers `{"status":"<id>"}` as
/// dockerd does once the image exists; a failure is an error status.
async fn import(e: AppState, q: &Query, src: String, req: Request) -> ApiResult {
    if let Some(p) = platform(q)? {
        if p.os != "linux" {
            return Err(Error::invalid(format!(
                "unsupported platform {}/{}: this engine runs linux containers",
                p.os, p.architecture
            )));
        }
    }
    let opts = crate::images::import::ImportOptions {
        source: src.clone(),
        repo: q.str("repo").to_string(),
        tag: q.str("tag").to_string(),
        message: q.str("message").to_string(),
        changes: q.all("changes"),
    };
    let id = if src == "-" {
        let (body, drained) = super::upload::upload(req);
        let r = e.image_import(body, opts).await;
        drained.wait().await;
        r?
    } else {
        e.image_import_url(&src, opts).await?
    };
    let line = berth_api::progress::Message::status(id, "").to_line();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.try_send(axum::body::Bytes::from(line));
    Ok(super::stream("application/json", rx))
}

pub async fn load(State(e): State<AppState>, uri: Uri, req: Request) -> ApiResult {
    let q = Query::of(&uri);
    let _quiet = q.bool("quiet");
    let (body, drained) = super::upload::upload(req);
    // A broken archive is reported in the stream, with status 200, as dockerd does (its
    // loader has started answering by then): docker-py raises ImageLoadError from it.
    let loaded = e.image_load(body).await;
    drained.wait().await;
    let lines = match loaded {
        Ok(lines) => lines,
        Err(err) => {
            tracing::warn!("image load failed: {}", err.message);
            vec![berth_api::progress::Message::error(err.message)]
        }
    };
    // Sent as a stream (chunked), as dockerd does: clients read it line by line.
    let (tx, rx) = tokio::sync::mpsc::channel(lines.len().max(1));
    for l in lines {
        let _ = tx.try_send(axum::body::Bytes::from(l.to_line()));
    }
    drop(tx);
    Ok(super::stream("application/json", rx))
}

pub async fn save_many(State(e): State<AppState>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let rx = e.image_save(&q.all("names")).await?;
    Ok(super::stream("application/x-tar", rx))
}

pub async fn prune(State(e): State<AppState>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    Ok(ok_json(&e.image_prune(&q.filters()?).await?))
}

/// Splits "name/with/slashes/json" into ("name/with/slashes", "json").
fn split_action(rest: &str) -> (&str, &str) {
    match rest.rsplit_once('/') {
        Some((name, action)) => (name, action),
        None => (rest, ""),
    }
}

pub async fn get_dispatch(
    State(e): State<AppState>,
    Path(rest): Path<String>,
    req: Request,
) -> ApiResult {
    let version = api_version(req.extensions());
    match split_action(&rest) {
        (name, "json") => {
            let mut r = e.image_inspect(name).await?;
            if version.before(1, 44) {
                r.virtual_size = Some(r.size);
            }
            Ok(ok_json(&r))
        }
        (name, "history") => Ok(ok_json(&e.image_history(name).await?)),
        (name, "get") => {
            let rx = e.image_save(&[name.to_string()]).await?;
            Ok(super::stream("application/x-tar", rx))
        }
        _ => Ok(Error::not_found("page not found").into_response()),
    }
}

pub async fn post_dispatch(
    State(e): State<AppState>,
    Path(rest): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult {
    let q = Query::of(&uri);
    match split_action(&rest) {
        (name, "push") => {
            let rx = e
                .image_push(name, q.str("tag"), registry_auth(&headers)?)
                .await?;
            Ok(super::stream("application/json", rx))
        }
        (name, "tag") => {
            e.image_tag(name, q.str("repo"), q.str("tag")).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        _ => Ok(Error::not_found("page not found").into_response()),
    }
}

pub async fn remove(State(e): State<AppState>, Path(name): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let out = e.image_remove(&name, q.bool("force")).await?;
    Ok(json(StatusCode::OK, &out))
}
