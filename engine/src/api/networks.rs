//! `/networks`: list, inspect, create, remove, connect, disconnect, prune.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use berth_api::networks::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworksPruneResponse,
};

use super::{decode, json, no_content, ok_json, ApiResult, AppState, Query};
use crate::error::Error;
use crate::networks::{self, err};

pub async fn list(State(e): State<AppState>, uri: Uri) -> ApiResult {
    let f = Query::of(&uri).filters()?;
    let mut out = Vec::new();
    for v in e.networks.ctl.networks().await {
        if networks::matches_list_filters(&v, &f)? {
            out.push(networks::to_resource(&v));
        }
    }
    Ok(ok_json(&out))
}

pub async fn inspect(State(e): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let v = e.networks.ctl.network(&id).await.map_err(err)?;
    Ok(ok_json(&networks::to_resource(&v)))
}

pub async fn create(State(e): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let req: NetworkCreateRequest = decode(&headers, &body, false)?;
    let n = e
        .networks
        .ctl
        .create_network(networks::create_request(&req)?)
        .await
        .map_err(err)?;
    e.network_event(&n.id, &n.name, "create", None);
    Ok(json(
        StatusCode::CREATED,
        &NetworkCreateResponse {
            id: n.id,
            warning: String::new(),
        },
    ))
}

pub async fn remove(State(e): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let v = e.networks.ctl.network(&id).await.map_err(err)?;
    e.networks
        .ctl
        .remove_network(&v.network.id)
        .await
        .map_err(err)?;
    e.network_event(&v.network.id, &v.network.name, "destroy", None);
    Ok(no_content())
}

pub async fn connect(
    State(e): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let req: NetworkConnectRequest = decode(&headers, &body, false)?;
    if req.container.is_empty() {
        return Err(Error::invalid("no container given: Container is empty"));
    }
    let c = e.containers.get(&req.container)?;
    e.network_connect(&c, &id, req.endpoint_config.unwrap_or_default())
        .await?;
    Ok(ok_json(&serde_json::Value::Null))
}

pub async fn disconnect(
    State(e): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let req: NetworkDisconnectRequest = decode(&headers, &body, false)?;
    let c = e.containers.get(&req.container)?;
    e.network_disconnect(&c, &id).await?;
    Ok(ok_json(&serde_json::Value::Null))
}

pub async fn prune(State(e): State<AppState>, uri: Uri) -> ApiResult {
    let f = Query::of(&uri).filters()?;
    // Check the filters once up front so a bad one is a 400, not a silent no-op.
    f.validate(&["label", "label!", "until"])
        .map_err(Error::invalid)?;
    let deleted = e
        .networks
        .ctl
        .prune(|n| !networks::matches_prune_filters(n, &f).unwrap_or(false))
        .await
        .map_err(err)?;
    for name in &deleted {
        e.network_event("", name, "destroy", None);
    }
    Ok(ok_json(&NetworksPruneResponse {
        networks_deleted: deleted,
    }))
}
