//! `POST /images/create?fromSrc=` (`docker import`): a root filesystem tar, plain or
//! compressed, from the request body becomes a one-layer image. The tar is read through
//! once as it arrives: decompressed, checked to be a tar, and stored as an uncompressed
//! layer; its entries are then unpacked under shimd's layer rules (nothing escapes the
//! snapshot), which refuse a hostile archive.

use std::io::Read;

use berth_api::container::Config;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::images::compose::{self, History, Layer, Lease, NewImage};
use crate::images::config_changes;
use crate::images::reference::{familiar, normalize_new_name};

/// What the request asks for.
pub struct ImportOptions {
    /// `-` (the body) or the URL the archive came from (for the history's comment).
    pub source: String,
    pub repo: String,
    pub tag: String,
    pub message: String,
    pub changes: Vec<String>,
}

/// Hands each chunk read to the layer writer as well.
struct Tee<R> {
    inner: R,
    tx: mpsc::Sender<Vec<u8>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 && self.tx.blocking_send(buf[..n].to_vec()).is_err() {
            return Err(std::io::Error::other("the layer writer stopped"));
        }
        Ok(n)
    }
}

/// Decompresses `body` (gzip, zstd or none), walks it as a tar (so a non-tar is refused
/// in the words of dockerd's "Error processing tar file") and sends the plain tar on.
fn read_archive<R: Read>(body: R, tx: mpsc::Sender<Vec<u8>>) -> Result<()> {
    let mut head = std::io::BufReader::new(body);
    let magic = std::io::BufRead::fill_buf(&mut head).map_err(Error::from)?;
    if magic.starts_with(b"BZh") || magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(Error::invalid(
            "Error processing tar file: bzip2 and xz archives are not supported; give a plain, gzip or zstd tar",
        ));
    }
    let (_, plain) = berth_image::compression::decompress(head)
        .map_err(|e| Error::invalid(format!("Error processing tar file: {e}")))?;
    let mut tee = Tee { inner: plain, tx };
    let bad = |e: std::io::Error| Error::invalid(format!("Error processing tar file: {e}"));
    {
        let mut ar = tar::Archive::new(&mut tee);
        for entry in ar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(bad)?;
        }
    }
    // What follows the end-of-archive blocks (record padding) belongs to the layer too.
    std::io::copy(&mut tee, &mut std::io::sink()).map_err(bad)?;
    Ok(())
}

impl Engine {
    /// Imports the archive in `body`; answers the new image's ID.
    pub async fn image_import<S>(&self, body: S, o: ImportOptions) -> Result<String>
    where
        S: futures::Stream<Item = std::result::Result<Bytes, axum::Error>> + Send + Unpin + 'static,
    {
        let name = normalize_new_name(&o.repo, &o.tag)?;
        let mut config = Config::default();
        config_changes::apply(&mut config, &o.changes)?;
        let lease = Lease::new(&self.shimd, "import").await?;
        let (tx, rx) = mpsc::channel::<Vec<u8>>(8);
        let body = futures::StreamExt::map(body, |r| r.map_err(std::io::Error::other));
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
        let reading = tokio::task::spawn_blocking(move || read_archive(reader, tx));
        let layer = Layer::from_tar(
            &self.shimd,
            &lease,
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )
        .await;
        let read = reading
            .await
            .map_err(|e| Error::internal(format!("import task: {e}")))?;
        let composed = match (read, layer) {
            // A layer writer that failed stops the reader: its error is the cause.
            (_, Err(e)) | (Err(e), Ok(_)) => Err(e),
            (Ok(()), Ok(layer)) => {
                let comment = if o.message.is_empty() {
                    format!("Imported from {}", o.source)
                } else {
                    o.message
                };
                compose::compose(
                    &self.shimd,
                    &lease,
                    NewImage {
                        parent: None,
                        layer: Some(layer),
                        config,
                        history: History {
                            comment,
                            ..Default::default()
                        },
                        container: None,
                        name: name.clone(),
                    },
                )
                .await
            }
        };
        lease.finish(composed.is_ok()).await;
        let id = composed?;
        self.image_event("import", &id, &familiar(&name));
        Ok(id)
    }
}

impl Engine {
    /// Imports the archive at `url` (plain HTTP, as a GET). dockerd also takes HTTPS; that
    /// is refused here with a clear error.
    pub async fn image_import_url(&self, url: &str, o: ImportOptions) -> Result<String> {
        let body = fetch(url).await?;
        self.image_import(body, o).await
    }
}

/// The body of `GET url`, streamed.
pub(crate) async fn fetch(
    url: &str,
) -> Result<impl futures::Stream<Item = std::result::Result<Bytes, axum::Error>> + Send + Unpin> {
    use http_body_util::BodyExt;
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e| Error::invalid(format!("invalid URL {url:?}: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(Error::invalid(format!(
            "cannot import from {url:?}: only http:// URLs are supported (or give the file, or - for stdin)"
        )));
    }
    let host = uri
        .host()
        .ok_or_else(|| Error::invalid(format!("invalid URL {url:?}: no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let failed = |e: &dyn std::fmt::Display| Error::internal(format!("Get \"{url}\": {e}"));
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| failed(&e))?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, http_body_util::Empty<Bytes>>(
            hyper_util::rt::TokioIo::new(tcp),
        )
        .await
        .map_err(|e| failed(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or(host);
    let req = axum::http::Request::get(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header(axum::http::header::HOST, authority)
        .body(http_body_util::Empty::new())
        .map_err(|e| failed(&e))?;
    let resp = send.send_request(req).await.map_err(|e| failed(&e))?;
    if !resp.status().is_success() {
        return Err(Error::internal(format!(
            "cannot import from {url}: the server answered {}",
            resp.status()
        )));
    }
    Ok(Box::pin(futures::StreamExt::map(
        resp.into_body().into_data_stream(),
        |r| r.map_err(axum::Error::new),
    )))
}
