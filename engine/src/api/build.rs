//! `POST /build` and `POST /build/prune`: the classic builder (see [`crate::build`]). The context is the request
//! body (or what `remote=` names); the answer is the build's JSON-lines stream. As dockerd does, an error before
//! the first line of output is answered as an ordinary HTTP error.

use axum::extract::{Request, State};
use axum::http::Uri;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt;

use super::{ok_json, ApiResult, AppState, Query};
use crate::build::context::Context;
use crate::build::options::BuildOptions;
use crate::build::prune::PruneOptions;
use crate::build::{executor, remote, stream::Out};
use crate::error::Error;

/// `POST /build/prune`: the build cache (see [`crate::build::prune`]).
pub async fn prune(State(e): State<AppState>, uri: Uri) -> ApiResult {
    let q = Query::of(&uri);
    let o = PruneOptions::new(q.bool("all"), q.str("keep-storage"), &q.filters()?)?;
    Ok(ok_json(&e.build_prune(&o).await?))
}

pub async fn build(State(e): State<AppState>, uri: Uri, req: Request) -> ApiResult {
    let opts = BuildOptions::from_query(&Query::of(&uri))?;
    let (body, drained) = super::upload::upload(req);
    let under = e.settings.data_root.join("build");
    let ctx = if opts.remote.is_empty() {
        let body = body.map(|r| r.map_err(std::io::Error::other));
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
        tokio::task::spawn_blocking(move || Context::unpack(reader, &under)).await
    } else {
        // The body is not the context: read and dropped.
        drop(body);
        let download = match crate::images::import::fetch(&opts.remote).await {
            Ok(d) => d,
            Err(err) => {
                drained.wait().await;
                return Err(err);
            }
        };
        let download = download.map(|r| r.map_err(std::io::Error::other));
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(download));
        let dockerfile = opts.dockerfile.clone();
        tokio::task::spawn_blocking(move || {
            Context::unpack(remote::as_context(reader, &dockerfile)?, &under)
        })
        .await
    };
    drained.wait().await;
    let ctx = ctx.map_err(|err| Error::internal(err.to_string()))??;

    let (tx, mut rx) = mpsc::channel(64);
    let out = Out::new(tx, opts.quiet);
    let (failed_tx, failed_rx) = oneshot::channel::<Error>();
    tokio::spawn(async move {
        if let Err(err) = executor::run(e, opts, ctx, out.clone()).await {
            if out.has_sent() {
                out.error(&err.message).await;
            } else {
                let _ = failed_tx.send(err);
            }
        }
    });
    let mut failed_rx = failed_rx;
    let first = tokio::select! {
        biased;
        line = rx.recv() => line,
        failed = &mut failed_rx => match failed {
            Ok(err) => return Err(err),
            Err(_) => rx.recv().await,
        },
    };
    // The build may have ended (closing the stream) just as it reported its error.
    if first.is_none() {
        if let Ok(err) = failed_rx.try_recv() {
            return Err(err);
        }
    }
    // The first line, then the rest; a client that hangs up drops the receiver, which
    // stops the build at its next write.
    let (fwd_tx, fwd_rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut next = first;
        while let Some(line) = next {
            if fwd_tx.send(line).await.is_err() {
                return;
            }
            next = rx.recv().await;
        }
    });
    Ok(super::stream("application/json", fwd_rx))
}
