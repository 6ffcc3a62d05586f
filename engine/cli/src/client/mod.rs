//! The Docker Engine API client: one daemon endpoint, blocking requests, keep-alive reuse
//! of one idle connection, JSON helpers and hijacked (upgraded) streams.

pub mod endpoint;
pub mod frames;
pub mod http;
pub mod jsonlines;
pub mod stream;
pub mod tls;

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use rustls::ClientConfig;
use serde_json::Value;

use endpoint::Endpoint;
use http::{Body, Conn, Pool, Response};
use stream::Stream;

/// What went wrong talking to the daemon.
#[derive(Debug)]
pub enum ApiError {
    /// No connection could be made.
    Connect { endpoint: String, source: io::Error },
    /// The connection broke or the daemon sent something unreadable.
    Transport(String),
    /// The daemon answered with an error status.
    Daemon { status: u16, message: String },
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Daemon { status: 404, .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Connect { endpoint, source } => match source.kind() {
                io::ErrorKind::PermissionDenied => write!(
                    f,
                    "permission denied while trying to connect to the Berth daemon socket at {endpoint}: the socket is root-only, run as root"
                ),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => write!(
                    f,
                    "Cannot connect to the Berth daemon at {endpoint}. Is the berth daemon running?"
                ),
                _ => write!(
                    f,
                    "Cannot connect to the Berth daemon at {endpoint}: {source}. Is the berth daemon running?"
                ),
            },
            ApiError::Transport(m) => write!(f, "error talking to the daemon: {m}"),
            ApiError::Daemon { message, .. } => write!(f, "Error response from daemon: {message}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// A daemon client. Cheap to clone; clones share the idle connection.
#[derive(Clone)]
pub struct Client {
    endpoint: Endpoint,
    tls: Option<Arc<ClientConfig>>,
    /// `/v1.xx` when an API version is pinned, else empty (the daemon's own version).
    prefix: String,
    pool: Pool,
    /// Trace each request and its status on stderr (`-D`).
    debug: bool,
}

impl Client {
    pub fn new(
        endpoint: Endpoint,
        tls: Option<Arc<ClientConfig>>,
        api_version: Option<&str>,
    ) -> Client {
        Client {
            endpoint,
            tls,
            prefix: api_version.map(|v| format!("/v{v}")).unwrap_or_default(),
            pool: Arc::new(Mutex::new(None)),
            debug: false,
        }
    }

    /// The daemon address this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn with_debug(mut self, debug: bool) -> Client {
        self.debug = debug;
        self
    }

    fn trace(&self, method: &str, target: &str, status: u16) {
        if self.debug {
            eprintln!("berth: debug: {method} {}{target} -> {status}", self.prefix);
        }
    }

    /// The API version pinned with `BERTH_API_VERSION`, if any.
    pub fn pinned_version(&self) -> Option<&str> {
        self.prefix.strip_prefix("/v")
    }

    fn connect(&self) -> Result<Conn, ApiError> {
        Stream::connect(&self.endpoint, self.tls.as_ref())
            .map(Conn::new)
            .map_err(|source| ApiError::Connect {
                endpoint: self.endpoint.to_string(),
                source,
            })
    }

    /// Sends a request and returns the response whatever its status.
    pub fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Response, ApiError> {
        let full = format!("{}{target}", self.prefix);
        let idle = match body {
            Body::Stream(..) => None,
            _ => self.pool.lock().unwrap_or_else(|e| e.into_inner()).take(),
        };
        if let Some(mut conn) = idle {
            // A kept-alive connection may have been closed by the daemon meanwhile:
            // then the request goes again on a fresh one (bodies here are replayable).
            let replay = match &body {
                Body::Bytes(b, t) => Body::Bytes(b.clone(), t),
                _ => Body::Empty,
            };
            if http::write_request(&mut conn, method, &full, headers, replay).is_ok() {
                if let Ok(head) = http::read_head(&mut conn) {
                    self.trace(method, target, head.status);
                    return Ok(Response::new(head, conn, method, self.pool.clone()));
                }
            }
        }
        let mut conn = self.connect()?;
        let written = http::write_request(&mut conn, method, &full, headers, body);
        match http::read_head(&mut conn) {
            Ok(head) => {
                self.trace(method, target, head.status);
                Ok(Response::new(head, conn, method, self.pool.clone()))
            }
            Err(e) => {
                let cause = match written {
                    Err(w) => w.to_string(),
                    Ok(()) => e.to_string(),
                };
                let hint = match (&self.endpoint, &self.tls) {
                    (Endpoint::Tcp { .. }, None) => plain_to_tls_hint(&cause),
                    _ => tls_hint(&cause),
                };
                Err(ApiError::Transport(format!(
                    "{method} {target}: {cause}{hint}"
                )))
            }
        }
    }

    /// Sends a request; an error status becomes `ApiError::Daemon` with the daemon's message.
    pub fn call(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Response, ApiError> {
        let resp = self.send(method, target, headers, body)?;
        if resp.status() >= 400 {
            return Err(error_from(resp));
        }
        Ok(resp)
    }

    /// A request answered with JSON (or nothing, which gives `Value::Null`).
    pub fn json(&self, method: &str, target: &str, body: Body) -> Result<Value, ApiError> {
        let resp = self.call(method, target, &[], body)?;
        let bytes = resp
            .bytes()
            .map_err(|e| ApiError::Transport(format!("{method} {target}: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::Transport(format!(
                "{method} {target}: the daemon sent invalid JSON: {e}"
            ))
        })
    }

    pub fn get(&self, target: &str) -> Result<Value, ApiError> {
        self.json("GET", target, Body::Empty)
    }

    pub fn post(&self, target: &str, body: Option<&Value>) -> Result<Value, ApiError> {
        self.json("POST", target, body.map(Body::json).unwrap_or(Body::Empty))
    }

    pub fn delete(&self, target: &str) -> Result<Value, ApiError> {
        self.json("DELETE", target, Body::Empty)
    }

    /// Sends a request asking to take over the connection (`Upgrade: tcp`), as attach and
    /// exec start do; returns the raw stream and any bytes the daemon already sent.
    pub fn hijack(&self, target: &str, body: Body) -> Result<(Stream, Vec<u8>), ApiError> {
        let headers = [
            ("Connection", "Upgrade".to_string()),
            ("Upgrade", "tcp".to_string()),
        ];
        let full = format!("{}{target}", self.prefix);
        let mut conn = self.connect()?;
        http::write_request(&mut conn, "POST", &full, &headers, body).map_err(|e| {
            ApiError::Transport(format!("POST {target}: {e}{}", tls_hint(&e.to_string())))
        })?;
        let head = http::read_head(&mut conn).map_err(|e| {
            ApiError::Transport(format!("POST {target}: {e}{}", tls_hint(&e.to_string())))
        })?;
        self.trace("POST", target, head.status);
        let resp = Response::new(head, conn, "POST", self.pool.clone());
        match resp.status() {
            101 | 200 => Ok(resp.into_upgraded()),
            _ => Err(error_from(resp)),
        }
    }
}

/// What to check when a TLS connection fails.
/// A plain-HTTP request answered by something that is not HTTP (a TLS alert, or a
/// connection closed at once) is most likely a daemon listening with TLS.
fn plain_to_tls_hint(cause: &str) -> &'static str {
    let not_http = [
        "not an HTTP response",
        "closed the connection",
        "non-UTF-8 header",
    ];
    if not_http.iter().any(|m| cause.contains(m)) {
        " (the daemon did not answer plain HTTP: it probably listens with TLS; connect with \
--tlsverify (or --tls), or set DOCKER_TLS_VERIFY=1 with DOCKER_CERT_PATH, or use a context with TLS material)"
    } else {
        ""
    }
}

fn tls_hint(cause: &str) -> &'static str {
    if cause.contains("received fatal alert") {
        " (the daemon refused the TLS connection: does it need a client certificate? use --tlscert and --tlskey)"
    } else if cause.contains("invalid peer certificate") {
        " (the daemon's certificate is not trusted: check --tlscacert, and that the certificate names this host)"
    } else {
        ""
    }
}

/// Turns an error response into the daemon's message (`{"message": ...}` or plain text).
pub fn error_from(resp: Response) -> ApiError {
    let status = resp.status();
    let body = resp.bytes().unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    let message = if message.is_empty() {
        format!("HTTP status {status}")
    } else if status == 400 && message.contains("HTTP request to an HTTPS server") {
        format!("{message} The daemon listens with TLS: connect with --tlsverify (or --tls), or set DOCKER_TLS_VERIFY=1")
    } else {
        message
    };
    ApiError::Daemon { status, message }
}
