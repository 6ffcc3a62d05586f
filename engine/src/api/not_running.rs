//! Endpoints of what berthd does not run — swarm mode and plugins — answered as dockerd
//! answers them when it runs neither: an empty plugin list, "plugin not found", and 503
//! "not a swarm manager". Clients (the docker CLI, compose, docker-py) read these answers
//! as "not in use here"; a 404 would look to them like a broken daemon.

use axum::extract::Path;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

use super::{ok_json, ApiResult, AppState};
use crate::error::{Error, Kind};

const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

/// The swarm and plugin routes.
pub fn routes() -> Router<AppState> {
    let swarm = || -> MethodRouter<AppState> {
        get(not_a_manager).post(not_a_manager).delete(not_a_manager)
    };
    Router::new()
        .route("/plugins", get(list_plugins))
        .route("/plugins/{name}/json", get(no_plugin))
        .route("/plugins/{name}", axum::routing::delete(no_plugin))
        .route("/plugins/{name}/{verb}", post(no_plugin_verb))
        .route("/plugins/pull", post(no_plugins))
        .route("/plugins/create", post(no_plugins))
        .route("/plugins/privileges", get(no_plugins))
        .route("/swarm", get(not_a_manager))
        .route("/swarm/leave", post(not_in_a_swarm))
        .route("/swarm/init", post(not_a_manager))
        .route("/swarm/join", post(not_a_manager))
        .route("/swarm/update", post(not_a_manager))
        .route("/swarm/unlock", post(not_a_manager))
        .route("/swarm/unlockkey", get(not_a_manager))
        .route("/services", swarm())
        .route("/services/{id}", swarm())
        .route("/services/{id}/{verb}", swarm())
        .route("/nodes", swarm())
        .route("/nodes/{id}", swarm())
        .route("/nodes/{id}/{verb}", swarm())
        .route("/tasks", swarm())
        .route("/tasks/{id}", swarm())
        .route("/tasks/{id}/{verb}", swarm())
        .route("/secrets", swarm())
        .route("/secrets/{id}", swarm())
        .route("/secrets/{id}/{verb}", swarm())
        .route("/configs", swarm())
        .route("/configs/{id}", swarm())
        .route("/configs/{id}/{verb}", swarm())
}

async fn list_plugins() -> ApiResult {
    Ok(ok_json(&Vec::<serde_json::Value>::new()))
}

async fn no_plugin(Path(name): Path<String>) -> ApiResult {
    Err(Error::not_found(format!("plugin {name:?} not found")))
}

async fn no_plugin_verb(Path((name, verb)): Path<(String, String)>) -> ApiResult {
    match verb.as_str() {
        "enable" | "disable" | "push" | "set" | "upgrade" => {
            Err(Error::not_found(format!("plugin {name:?} not found")))
        }
        _ => Err(Error::not_found("page not found")),
    }
}

async fn no_plugins() -> ApiResult {
    Err(Error::new(
        Kind::NotImplemented,
        "berthd does not run plugins: use the engine's built-in drivers (local volumes; bridge, host and none networks)",
    ))
}

async fn not_a_manager() -> ApiResult {
    Err(Error::new(Kind::Unavailable, NOT_A_MANAGER))
}

async fn not_in_a_swarm() -> ApiResult {
    Err(Error::new(
        Kind::Unavailable,
        "This node is not part of a swarm",
    ))
}
