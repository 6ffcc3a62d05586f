//! `/containers/...` handlers (attach is in `hijack`, archive in `archive`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use berth_api::container::CreateRequest;

use super::{decode, json, no_content, ok_json, ApiResult, AppState, Query};
use crate::containers::logs::LogsOptions;
use crate::error::Error;

pub async fn list(State(e): State<AppState>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let limit = q.int("limit")?.unwrap_or(-1);
    let out = e
        .container_list(q.bool("all"), limit, q.bool("size"), &q.filters()?)
        .await?;
    Ok(ok_json(&out))
}

pub async fn create(
    State(e): State<AppState>,
    version: Option<axum::Extension<super::Version>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let q = Query::of(&uri);
    let mut req: CreateRequest = decode(&headers, &body, false)?;
    let version = version
        .map(|v| v.0 .0)
        .unwrap_or_else(super::ApiVersion::current);
    if version.before(1, 44) {
        // StartInterval came with API 1.44: older clients' requests do not set it.
        if let Some(h) = req.config.healthcheck.as_mut() {
            h.start_interval = 0;
        }
    }
    if let Some(p) = q.get("platform").filter(|p| !p.is_empty()) {
        let want = p.split('/').next().unwrap_or("");
        if want != "linux" {
            return Err(Error::invalid(format!(
                "unsupported platform {p:?}: this engine runs linux containers"
            )));
        }
    }
    let r = e.container_create(q.get("name"), req).await?;
    Ok(json(StatusCode::CREATED, &r))
}

pub async fn inspect(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let c = e.container(&id)?;
    Ok(ok_json(&e.container_inspect(&c, q.bool("size")).await))
}

pub async fn top(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let c = e.container(&id)?;
    Ok(ok_json(&e.container_top(&c, q.str("ps_args")).await?))
}

pub async fn logs(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let c = e.container(&id)?;
    let now = chrono::Utc::now();
    let time = |k: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
        match q.get(k).filter(|v| !v.is_empty() && *v != "0") {
            None => Ok(None),
            Some(v) => crate::util::parse_time_param(v, now)
                .map(Some)
                .ok_or_else(|| Error::invalid(format!("invalid value for {k}: {v:?}"))),
        }
    };
    let tail = match q.str("tail") {
        "" | "all" => None,
        t => Some(
            t.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::invalid(format!("invalid value for tail: {t:?}")))?,
        ),
    };
    let (tty, rx) = e
        .container_logs(
            &c,
            LogsOptions {
                follow: q.bool("follow"),
                stdout: q.bool("stdout"),
                stderr: q.bool("stderr"),
                since: time("since")?,
                until: time("until")?,
                tail,
                timestamps: q.bool("timestamps"),
            },
        )
        .await?;
    let ct = if tty {
        berth_api::MEDIA_RAW_STREAM
    } else {
        berth_api::MEDIA_MULTIPLEXED_STREAM
    };
    Ok(super::stream(ct, rx))
}

pub async fn stats(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let c = e.container(&id)?;
    let rx = e
        .container_stats(&c, q.bool_or("stream", true), q.bool("one-shot"))
        .await?;
    Ok(super::stream("application/json", rx))
}

pub async fn start(
    State(e): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    // Old clients could send a HostConfig here; since API 1.24 it must be empty.
    if !body.iter().all(|b| b.is_ascii_whitespace()) {
        let v: serde_json::Value = decode(&headers, &body, true)?;
        if v.as_object().map(|o| !o.is_empty()).unwrap_or(false) {
            return Err(Error::invalid("starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24"));
        }
    }
    let c = e.container(&id)?;
    e.container_start(&c).await?;
    Ok(no_content())
}

fn stop_params(q: &Query) -> Result<(Option<i64>, Option<String>), Error> {
    let t = q.int("t")?;
    Ok((t, q.get("signal").map(str::to_string)))
}

pub async fn stop(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let (t, sig) = stop_params(&q)?;
    let c = e.container(&id)?;
    e.container_stop(&c, t, sig.as_deref()).await?;
    Ok(no_content())
}

pub async fn restart(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let (t, sig) = stop_params(&q)?;
    let c = e.container(&id)?;
    e.container_restart(&c, t, sig.as_deref()).await?;
    Ok(no_content())
}

pub async fn kill(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let c = e.container(&id)?;
    e.container_kill(&c, &id, q.str("signal")).await?;
    Ok(no_content())
}

pub async fn pause(State(e): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let c = e.container(&id)?;
    e.container_pause(&c).await?;
    Ok(no_content())
}

pub async fn unpause(State(e): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let c = e.container(&id)?;
    e.container_unpause(&c).await?;
    Ok(no_content())
}

/// The status line goes out at once (so the client knows the wait is registered), the
/// body when the condition holds.
pub async fn wait(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let c = e.container(&id)?;
    let fut = e.container_wait(&c, q.str("condition"))?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let r = fut.await;
        let mut v = serde_json::to_vec(&r).unwrap_or_default();
        v.push(b'\n');
        let _ = tx.send(Bytes::from(v)).await;
    });
    Ok(super::stream("application/json", rx))
}

pub async fn resize(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let c = e.container(&id)?;
    let (h, w) = size_params(&q)?;
    if !c.with(|r| r.state.running) {
        return Err(Error::conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    e.resize(&c.id, "", h, w).await?;
    Ok(ok_empty())
}

pub fn size_params(q: &Query) -> Result<(u32, u32), Error> {
    let n = |k: &str| -> Result<u32, Error> {
        match q.get(k) {
            None | Some("") => Ok(0),
            Some(v) => v
                .parse::<u32>()
                .map_err(|_| Error::invalid(format!("invalid value for {k}: {v:?}"))),
        }
    };
    Ok((n("h")?, n("w")?))
}

fn ok_empty() -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::OK;
    r
}

pub async fn rename(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let c = e.container(&id)?;
    e.container_rename(&c, q.str("name")).await?;
    Ok(no_content())
}

pub async fn remove(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let c = e.container(&id)?;
    if q.bool("link") {
        // A container's own name is no link (dockerd's status and words).
        return Err(Error::internal(
            "Conflict, cannot remove the default link name of the container",
        ));
    }
    e.container_remove_with(&c, q.bool("force"), q.bool("v"))
        .await?;
    Ok(no_content())
}

/// `DELETE /containers/{linker}/{alias}?link=1` (`docker rm --link /linker/alias`): removes
/// a legacy link. Without `link`, the two segments name no container.
pub async fn remove_link(
    State(e): State<AppState>,
    Path((linker, alias)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult {
    if !Query::of(&uri).bool("link") {
        return Err(Error::no_such_container(&format!("{linker}/{alias}")));
    }
    e.remove_link(&linker, &alias)?;
    Ok(no_content())
}

pub async fn prune(State(e): State<AppState>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    Ok(ok_json(&e.container_prune(&q.filters()?).await?))
}

/// `GET /containers/{id}/changes` (`docker diff`).
pub async fn changes(State(e): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let c = e.container(&id)?;
    Ok(ok_json(&e.container_changes(&c).await?))
}

/// `GET /containers/{id}/export` (`docker export`): the filesystem as a tar stream.
pub async fn export(State(e): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let c = e.container(&id)?;
    let rx = e.container_export(&c).await?;
    Ok(super::stream("application/octet-stream", rx))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=` (`docker
/// commit`); the body holds config fields that replace the container's (or `null`).
pub async fn commit(
    State(e): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let q = Query::of(&uri);
    let config: Option<berth_api::container::Config> = decode(&headers, &body, true)?;
    let c = e.container(q.str("container"))?;
    // Since API 1.13 a commit pauses unless told otherwise.
    let pause = q.str("pause").is_empty() || q.bool("pause");
    let id = e
        .container_commit(
            &c,
            crate::containers::commit::CommitOptions {
                repo: q.str("repo").to_string(),
                tag: q.str("tag").to_string(),
                comment: q.str("comment").to_string(),
                author: q.str("author").to_string(),
                pause,
                changes: q.all("changes"),
                config,
            },
        )
        .await?;
    Ok(json(StatusCode::CREATED, &serde_json::json!({ "Id": id })))
}
