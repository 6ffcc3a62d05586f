//! `POST /auth`: checks credentials against a registry the way `docker login` expects —
//! the registry's `/v2/` endpoint, with Basic auth or a Bearer token from its token server.
//! Credentials are not stored: keeping them is the client's job.

use std::sync::Arc;

use base64::Engine as _;
use berth_api::auth::{AuthConfig, AuthResponse};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;

use crate::config::Settings;
use crate::error::{Error, Kind, Result};

/// "https://index.docker.io/v1/", "http://127.0.0.1:5000", "127.0.0.1:5000" → host[:port].
fn registry_host(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("").to_string();
    match host.as_str() {
        "" | "index.docker.io" | "docker.io" => "registry-1.docker.io".into(),
        _ => host,
    }
}

struct Reply {
    status: StatusCode,
    www_authenticate: String,
    body: Bytes,
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// One GET over a fresh connection (registries are contacted rarely here).
async fn get(uri: &Uri, authorization: Option<&str>) -> std::result::Result<Reply, String> {
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or("no host in URL")?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::TcpStream::connect((host.trim_matches(|c| c == '[' || c == ']'), port)),
    )
    .await
    .map_err(|_| format!("connecting to {host}:{port} timed out"))?
    .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = Request::get(path).header(
        hyper::header::HOST,
        uri.authority().map(|a| a.as_str()).unwrap_or(&host),
    );
    if let Some(a) = authorization {
        req = req.header(hyper::header::AUTHORIZATION, a);
    }
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    macro_rules! send {
        ($io:expr) => {{
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($io))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let www = resp
                .headers()
                .get(hyper::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok(Reply {
                status,
                www_authenticate: www,
                body,
            })
        }};
    }
    if https {
        let name =
            rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        send!(tls)
    } else {
        send!(tcp)
    }
}

/// Parses `Bearer realm="...",service="...",scope="..."` into its parameters.
fn challenge_params(h: &str) -> Vec<(String, String)> {
    let rest = h.split_once(' ').map(|(_, r)| r).unwrap_or("");
    let mut out = Vec::new();
    let mut s = rest;
    while let Some((k, v)) = s.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let v = v.trim_start();
        let (val, tail) = if let Some(q) = v.strip_prefix('"') {
            match q.find('"') {
                Some(i) => (q[..i].to_string(), &q[i + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match v.find(',') {
                Some(i) => (v[..i].to_string(), &v[i..]),
                None => (v.to_string(), ""),
            }
        };
        out.push((k, val));
        s = tail;
    }
    out
}

fn basic(a: &AuthConfig) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", a.username, a.password))
    )
}

/// Checks `a` against its registry.
pub async fn login(settings: &Settings, a: &AuthConfig) -> Result<AuthResponse> {
    let host = registry_host(&a.server_address);
    let schemes: &[&str] = if settings.registry_is_insecure(&host) {
        &["https", "http"]
    } else {
        &["https"]
    };
    let mut last_err = String::new();
    for scheme in schemes {
        let url = format!("{scheme}://{host}/v2/");
        let uri: Uri = url.parse().map_err(|_| {
            Error::invalid(format!("invalid registry address {:?}", a.server_address))
        })?;
        let first = match get(&uri, None).await {
            Ok(r) => r,
            Err(e) => {
                last_err = e;
                continue;
            }
        };
        let failed = |status: StatusCode| {
            Error::new(
                Kind::Unauthorized,
                format!(
                    "login attempt to {url} failed with status: {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                ),
            )
        };
        if first.status.is_success() {
            return Ok(AuthResponse {
                status: "Login Succeeded".into(),
                identity_token: String::new(),
            });
        }
        if first.status != StatusCode::UNAUTHORIZED {
            return Err(failed(first.status));
        }
        let scheme_word = first
            .www_authenticate
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if scheme_word == "basic" {
            let r = get(&uri, Some(&basic(a))).await.map_err(Error::internal)?;
            if r.status.is_success() {
                return Ok(AuthResponse {
                    status: "Login Succeeded".into(),
                    identity_token: String::new(),
                });
            }
            return Err(failed(r.status));
        }
        if scheme_word == "bearer" {
            let params = challenge_params(&first.www_authenticate);
            let get_p = |k: &str| {
                params
                    .iter()
                    .find(|(x, _)| x == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let realm = get_p("realm");
            let mut token_url = format!(
                "{realm}?service={}",
                form_urlencoded::byte_serialize(get_p("service").as_bytes()).collect::<String>()
            );
            if !a.username.is_empty() {
                token_url.push_str(&format!(
                    "&account={}",
                    form_urlencoded::byte_serialize(a.username.as_bytes()).collect::<String>()
                ));
            }
            let turi: Uri = token_url.parse().map_err(|_| {
                Error::internal(format!(
                    "registry {host} sent an invalid token realm {realm:?}"
                ))
            })?;
            let auth = if a.identity_token.is_empty() {
                Some(basic(a))
            } else {
                None
            };
            let r = get(&turi, auth.as_deref()).await.map_err(Error::internal)?;
            if !r.status.is_success() {
                return Err(failed(r.status));
            }
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            let token = v["token"]
                .as_str()
                .or(v["access_token"].as_str())
                .unwrap_or("");
            if token.is_empty() {
                return Err(Error::internal(format!(
                    "the token server of {host} answered without a token"
                )));
            }
            let check = get(&uri, Some(&format!("Bearer {token}")))
                .await
                .map_err(Error::internal)?;
            if !check.status.is_success() {
                return Err(failed(check.status));
            }
            return Ok(AuthResponse {
                status: "Login Succeeded".into(),
                identity_token: v["refresh_token"].as_str().unwrap_or("").to_string(),
            });
        }
        return Err(failed(first.status));
    }
    Err(Error::internal(format!(
        "cannot reach registry {host}: {last_err}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_challenges() {
        assert_eq!(registry_host("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            registry_host("https://index.docker.io/v1/"),
            "registry-1.docker.io"
        );
        assert_eq!(registry_host("localhost:5000/"), "localhost:5000");
        let p = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="x""#,
        );
        assert_eq!(
            p[0],
            (
                "realm".to_string(),
                "https://auth.example/token".to_string()
            )
        );
        assert_eq!(p[1].1, "registry.example");
    }
}
