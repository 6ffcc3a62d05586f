//! The Docker Engine API over HTTP: routes, version negotiation, errors, and helpers the
//! handlers share.

mod archive;
mod build;
mod containers;
mod distribution;
mod exec;
mod hijack;
mod images;
mod networks;
mod not_running;
mod system;
mod unread;
mod upload;
mod volumes;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::version::{ApiVersion, API_VERSION};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::Engine;
use crate::error::{Error, Kind};

pub type AppState = Arc<Engine>;

/// Every endpoint, unversioned; the version layer strips `/v1.NN` first.
fn router(engine: AppState) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/system/df", get(system::df))
        .route("/auth", post(system::auth))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route(
            "/containers/{id}/{alias}",
            axum::routing::delete(containers::remove_link),
        )
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/changes", get(containers::changes))
        .route("/containers/{id}/export", get(containers::export))
        .route("/commit", post(containers::commit))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/stats", get(containers::stats))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/attach", post(hijack::attach))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/exec", post(exec::create))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/exec/{id}/start", post(hijack::exec_start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/distribution/{*rest}", get(distribution::inspect))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        .route("/images/prune", post(images::prune))
        .route(
            "/images/{*rest}",
            get(images::get_dispatch)
                .post(images::post_dispatch)
                .delete(images::remove),
        )
        .route("/networks", get(networks::list))
        // dockerd serves the list with a trailing slash too (old clients ask for it).
        .route("/networks/", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/volumes/", get(no_volume_named))
        .merge(not_running::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn(json_errors))
        .with_state(engine)
}

/// The largest request body read whole (a JSON document; uploads are streamed). dockerd
/// sets no limit; this one is far above any real request.
const MAX_JSON_BODY: usize = 64 << 20;

/// Errors answered before a handler runs (a body over [`MAX_JSON_BODY`], a path or query
/// that does not parse) come from the HTTP layer as plain text; dockerd answers every error
/// as JSON (`{"message": ...}`), and clients read it so.
async fn json_errors(req: Request, next: Next) -> Response {
    let r = next.run(req).await;
    let status = r.status();
    let plain = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return r;
    }
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "request body too large: the engine reads at most {} MiB of JSON in one request",
            MAX_JSON_BODY >> 20
        )
    } else {
        let body = axum::body::to_bytes(r.into_body(), 64 << 10)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&body).trim().to_string()
    };
    json(status, &berth_api::ErrorResponse { message })
}

/// `/volumes/` names the volume "" (dockerd's answer).
async fn no_volume_named() -> Response {
    Error::not_found("get: no such volume").into_response()
}

async fn not_found() -> Response {
    Error::not_found("page not found").into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if self.kind == Kind::NotModified {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        if self.kind == Kind::Internal {
            tracing::warn!("request failed: {}", self.message);
        }
        json(
            self.status(),
            &berth_api::ErrorResponse {
                message: self.message,
            },
        )
    }
}

pub type ApiResult<T = Response> = Result<T, Error>;

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, v: &T) -> Response {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub fn ok_json<T: Serialize>(v: &T) -> Response {
    json(StatusCode::OK, v)
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A streamed response with `content_type`, chunks as they come.
pub fn stream(content_type: &'static str, rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response {
    let s = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
    let mut r = Response::new(Body::from_stream(s));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

use tokio_stream::StreamExt as _;

/// Decodes a JSON request body. Missing or empty bodies decode as `T::default()` when
/// `allow_empty`; a body that is not JSON, or has fields of the wrong type, is a 400.
pub fn decode<T: DeserializeOwned + Default>(
    headers: &axum::http::HeaderMap,
    body: &[u8],
    allow_empty: bool,
) -> Result<T, Error> {
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !body.is_empty()
            && mime != "application/json"
            && !mime.is_empty()
            && mime != "text/plain"
        {
            return Err(Error::invalid(format!(
                "Content-Type specified ({ct}) must be 'application/json'"
            )));
        }
    }
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        if allow_empty {
            return Ok(T::default());
        }
        return Err(Error::invalid(
            "invalid JSON: got EOF while reading request body",
        ));
    }
    let mut v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))?;
    drop_nulls(&mut v);
    T::deserialize(v).map_err(|e| Error::invalid(format!("invalid JSON: {e}")))
}

/// Removes every object member whose value is `null`, at any depth. Go's encoding/json
/// leaves a field at its zero value for `null`, exactly as for a missing field, and Go and
/// Python clients send `null` for any optional field they leave unset: after this, every
/// request type takes `null` wherever it takes an absent field.
fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Query parameters, repeated keys kept.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn of(uri: &Uri) -> Query {
        Query(
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
    }

    pub fn str(&self, k: &str) -> &str {
        self.get(k).unwrap_or("")
    }

    pub fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// docker's boolean parameters: "1", "true", "True", ... are true; "", "0", "false" false.
    pub fn bool(&self, k: &str) -> bool {
        match self.get(k) {
            None => false,
            Some(v) => !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no"),
        }
    }

    pub fn bool_or(&self, k: &str, default: bool) -> bool {
        if self.get(k).is_some() {
            self.bool(k)
        } else {
            default
        }
    }

    /// An integer parameter; `None` when absent or empty, a 400 when malformed.
    pub fn int(&self, k: &str) -> Result<Option<i64>, Error> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Error::invalid(format!("invalid value for {k}: {v:?} is not an integer"))
            }),
        }
    }

    pub fn filters(&self) -> Result<berth_api::filters::Filters, Error> {
        berth_api::filters::Filters::parse(self.str("filters")).map_err(Error::invalid)
    }
}

/// The API version of a request, put in its extensions by the version layer.
#[derive(Debug, Clone, Copy)]
pub struct Version(pub ApiVersion);

/// The whole API as served: the router behind the version layer, and the unread rest of
/// a body read before any error answer (see [`unread`]).
pub fn service(engine: AppState) -> Router {
    use tower::Layer as _;
    let app = axum::middleware::from_fn(version_layer).layer(router(engine));
    let app = axum::middleware::from_fn(unread::read_rest_on_error).layer(app);
    Router::new().fallback_service(app)
}

/// Strips `/v1.NN` from the path, refuses versions outside what berthd speaks (with
/// dockerd's messages), and sets the headers dockerd puts on every response.
async fn version_layer(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let mut version = ApiVersion::current();
    if let Some(rest) = path.strip_prefix("/v") {
        let (v, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if let Some(parsed) = ApiVersion::parse(v) {
            if parsed > ApiVersion::current() {
                return with_headers(
                    Error::invalid(format!(
                        "client version {v} is too new. Maximum supported API version is {API_VERSION}"
                    ))
                    .into_response(),
                );
            }
            if parsed < ApiVersion::minimum() {
                return with_headers(
                    Error::invalid(format!(
                        "client version {v} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
                        berth_api::version::MIN_API_VERSION
                    ))
                    .into_response(),
                );
            }
            version = parsed;
            let new_path = if tail.is_empty() { "/" } else { tail };
            let pq = match req.uri().query() {
                Some(q) => format!("{new_path}?{q}"),
                None => new_path.to_string(),
            };
            if let Ok(uri) = pq.parse::<Uri>() {
                *req.uri_mut() = uri;
            }
        }
    }
    req.extensions_mut().insert(Version(version));
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let t = std::time::Instant::now();
    let r = next.run(req).await;
    tracing::debug!(%method, %path, status = r.status().as_u16(), us = t.elapsed().as_micros() as u64, "request");
    with_headers(r)
}

fn with_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        header::SERVER,
        HeaderValue::from_static(concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    r
}

/// The API version of a request.
pub fn api_version(req_ext: &axum::http::Extensions) -> ApiVersion {
    req_ext
        .get::<Version>()
        .map(|v| v.0)
        .unwrap_or_else(ApiVersion::current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let u: Uri = "/x?a=1&b=&c=true&c=false&n=12&bad=x&names=a&names=b"
            .parse()
            .unwrap();
        let q = Query::of(&u);
        assert!(q.bool("a"));
        assert!(!q.bool("b"));
        assert!(q.bool("c"));
        assert!(!q.bool("missing"));
        assert!(q.bool_or("missing", true));
        assert_eq!(q.int("n").unwrap(), Some(12));
        assert!(q.int("bad").is_err());
        assert_eq!(q.all("names"), vec!["a", "b"]);
    }

    #[test]
    fn bodies_decode_strictly() {
        let h = axum::http::HeaderMap::new();
        let v: berth_api::container::CreateRequest =
            decode(&h, b"{\"Image\":\"x\"}", false).unwrap();
        assert_eq!(v.config.image, "x");
        assert!(decode::<berth_api::container::CreateRequest>(&h, b"{", false).is_err());
        assert!(decode::<berth_api::container::CreateRequest>(&h, b"", false).is_err());
        assert!(decode::<berth_api::exec::StartRequest>(&h, b"", true).is_ok());
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        assert!(decode::<berth_api::exec::StartRequest>(&h, b"{}", true).is_err());
    }

    #[test]
    fn null_means_unset_in_every_object() {
        let h = axum::http::HeaderMap::new();
        let body = br#"{"Image":"x","Labels":null,"Env":null,"Healthcheck":{"Test":["CMD","true"],"Timeout":null,"Retries":null},
            "HostConfig":{"LogConfig":{"Type":"","Config":null},"Binds":null,"RestartPolicy":{"Name":null}}}"#;
        let v: berth_api::container::CreateRequest = decode(&h, body, false).unwrap();
        assert_eq!(v.config.image, "x");
        let hc = v.config.healthcheck.expect("the healthcheck is kept");
        assert_eq!(hc.timeout, 0);
    }
}
