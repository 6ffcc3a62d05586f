//! `/containers/{id}/exec` and `/exec/{id}/...` (start is in `hijack`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use berth_api::IdResponse;

use super::{decode, json, ok_json, ApiResult, AppState, Query};

pub async fn create(
    State(e): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let req: berth_api::exec::CreateRequest = decode(&headers, &body, false)?;
    let c = e.container(&id)?;
    let exec_id = e.exec_create(&c, req).await?;
    Ok(json(StatusCode::CREATED, &IdResponse { id: exec_id }))
}

pub async fn inspect(State(e): State<AppState>, Path(id): Path<String>) -> ApiResult {
    Ok(ok_json(&e.execs.get(&id)?.inspect()))
}

pub async fn resize(State(e): State<AppState>, Path(id): Path<String>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let x = e.execs.get(&id)?;
    let (h, w) = super::containers::size_params(&q)?;
    e.resize(&x.container_id, &x.id, h, w).await?;
    Ok(axum::response::IntoResponse::into_response(StatusCode::OK))
}
