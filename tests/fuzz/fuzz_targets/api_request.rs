//! The Docker Engine API bodies and headers a client sends, as berth-api reads them:
//! arbitrary bytes as the JSON body of container create, exec create and start, network
//! create, connect and disconnect, volume create; and as the texts berth-api parses
//! (`filters`, `X-Registry-Auth`, the API version of the path). Errors are fine; a panic
//! is not.

#![no_main]

use berth_api::auth::AuthConfig;
use berth_api::filters::Filters;
use berth_api::networks::{
    EndpointIpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use berth_api::version::ApiVersion;
use berth_api::{container, exec, volume};
use serde::de::DeserializeOwned;

/// Decodes `data` as `T`, as the daemon decodes a body (an error is an answer of 400).
fn body<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(create) = body::<container::CreateRequest>(data) {
        let endpoints = create.networking_config.and_then(|n| n.endpoints_config);
        for settings in endpoints.iter().flat_map(|e| e.values()) {
            let _ = EndpointIpamConfig::from_settings(settings);
        }
    }
    let _ = body::<exec::CreateRequest>(data);
    let _ = body::<exec::StartRequest>(data);
    let _ = body::<NetworkCreateRequest>(data);
    if let Some(connect) = body::<NetworkConnectRequest>(data) {
        if let Some(settings) = &connect.endpoint_config {
            let _ = EndpointIpamConfig::from_settings(settings);
        }
    }
    let _ = body::<NetworkDisconnectRequest>(data);
    let _ = body::<volume::CreateOptions>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(f) = Filters::parse(text) {
            let _ = f.validate(&["label", "name", "id"]);
            let _ = f.to_json();
        }
        let _ = AuthConfig::decode(text);
        let _ = ApiVersion::parse(text);
    }
});
