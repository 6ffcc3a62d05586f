//! `GET /distribution/{name}/json` (names may contain slashes, so the route takes the rest
//! of the path and the last segment must be `json`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;

use super::images::registry_auth;
use super::{ok_json, ApiResult, AppState};
use crate::error::Error;

pub async fn inspect(
    State(e): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    match rest.strip_suffix("/json") {
        Some(name) if !name.is_empty() => Ok(ok_json(
            &e.distribution_inspect(name, &registry_auth(&headers)?)
                .await?,
        )),
        _ => Ok(Error::not_found("page not found").into_response()),
    }
}
