//! Listeners: unix sockets (root-only) and TCP with TLS that verifies client certificates.
//! Each connection is served with HTTP/1.1 and upgrades (for the hijacked streams).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

use crate::config::TlsFiles;

pub enum Listener {
    Unix(UnixListener, PathBuf),
    Tls(TcpListener, tokio_rustls::TlsAcceptor),
}

/// Binds every `-H` address. A stale unix socket is replaced; one a server answers on is not.
/// When one fails, the sockets already bound are removed again.
pub fn bind_all(hosts: &[String], tls: Option<&TlsFiles>) -> anyhow::Result<Vec<Listener>> {
    let mut out = Vec::new();
    if let Err(e) = bind_each(hosts, tls, &mut out) {
        drop(SocketFiles::of(&out));
        return Err(e);
    }
    Ok(out)
}

/// The socket files of bound unix listeners, removed when this is dropped: every way out
/// of berthd, a failed start included, takes them away.
pub struct SocketFiles(Vec<PathBuf>);

impl SocketFiles {
    pub fn of(listeners: &[Listener]) -> SocketFiles {
        SocketFiles(
            listeners
                .iter()
                .filter_map(|l| l.unix_path().map(Path::to_path_buf))
                .collect(),
        )
    }
}

impl Drop for SocketFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn bind_each(
    hosts: &[String],
    tls: Option<&TlsFiles>,
    out: &mut Vec<Listener>,
) -> anyhow::Result<()> {
    for h in hosts {
        if let Some(path) = h.strip_prefix("unix://") {
            out.push(Listener::Unix(
                bind_unix(Path::new(path))?,
                PathBuf::from(path),
            ));
        } else if let Some(addr) = h.strip_prefix("tcp://") {
            let files = tls.context("tcp:// needs --tlsverify")?;
            let std = std::net::TcpListener::bind(addr).with_context(|| format!("binding {h}"))?;
            std.set_nonblocking(true)?;
            out.push(Listener::Tls(TcpListener::from_std(std)?, acceptor(files)?));
        } else if h.starts_with('/') {
            out.push(Listener::Unix(bind_unix(Path::new(h))?, PathBuf::from(h)));
        } else {
            anyhow::bail!("invalid host {h:?}: use unix:///path or tcp://host:port");
        }
    }
    Ok(())
}

fn bind_unix(path: &Path) -> anyhow::Result<UnixListener> {
    let l = berth_proto::socket::bind_root_only(path, "socket with -H")?;
    Ok(UnixListener::from_std(l)?)
}

fn acceptor(files: &TlsFiles) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("reading --tlscert {}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading --tlscert {}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading --tlskey {}", files.key.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&files.ca)
        .with_context(|| format!("reading --tlscacert {}", files.ca.display()))?
    {
        roots
            .add(c.with_context(|| format!("reading --tlscacert {}", files.ca.display()))?)
            .with_context(|| format!("--tlscacert {}", files.ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .context("setting up client certificate verification")?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// The raw socket of the unix connection a request came on (a request extension), for
/// handlers that must see how far the client has read (see `api::hijack`).
#[derive(Clone, Copy, Debug)]
pub struct UnixConn(pub std::os::fd::RawFd);

fn serve_conn<IO>(io: IO, app: Router, unix: Option<UnixConn>)
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    tokio::spawn(async move {
        let app = tower::ServiceExt::map_request(app, move |mut req: axum::extract::Request<_>| {
            if let Some(u) = unix {
                req.extensions_mut().insert(u);
            }
            req
        });
        let svc = TowerToHyperService::new(app);
        let conn = hyper::server::conn::http1::Builder::new()
            .half_close(true)
            .serve_connection(TokioIo::new(io), svc)
            .with_upgrades();
        if let Err(e) = conn.await {
            tracing::debug!("connection ended: {e}");
        }
    });
}

/// Accepts connections on `l` forever.
pub async fn serve(l: Listener, app: Router) {
    match l {
        Listener::Unix(l, _) => loop {
            match l.accept().await {
                Ok((s, _)) => {
                    let fd = UnixConn(std::os::fd::AsRawFd::as_raw_fd(&s));
                    serve_conn(s, app.clone(), Some(fd))
                }
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        },
        Listener::Tls(l, acceptor) => loop {
            match l.accept().await {
                Ok((s, peer)) => {
                    let acceptor = acceptor.clone();
                    let app = app.clone();
                    tokio::spawn(async move {
                        match acceptor.accept(s).await {
                            Ok(tls) => serve_conn(tls, app, None),
                            Err(e) => tracing::info!(%peer, "TLS handshake refused: {e}"),
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        },
    }
}

impl Listener {
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Listener::Unix(_, p) => Some(p),
            Listener::Tls(..) => None,
        }
    }
}
