//! Request bodies that are read to their end before the answer goes out.
//!
//! A handler that stops reading early (a tar reader at the end-of-archive block, an import
//! that failed half-way) and answers at once makes hyper close the connection under a
//! client that is still writing: the client then reports "broken pipe" instead of the
//! answer. An upload hands the body on as a stream and keeps reading (and dropping) what
//! its consumer no longer wants, until the client has sent everything.

use axum::body::Bytes;
use axum::extract::Request;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

pub type Chunk = Result<Bytes, axum::Error>;

/// Await before answering: done once the whole body has been read.
pub struct Drained(JoinHandle<()>);

impl Drained {
    pub async fn wait(self) {
        let _ = self.0.await;
    }
}

/// The request's body as a stream for the handler, and the pump that reads all of it.
pub fn upload(req: Request) -> (ReceiverStream<Chunk>, Drained) {
    let mut body = req.into_body().into_data_stream();
    let (tx, rx) = mpsc::channel::<Chunk>(4);
    let pump = tokio::spawn(async move {
        let mut wanted = true;
        while let Some(chunk) = body.next().await {
            if wanted && tx.send(chunk).await.is_err() {
                wanted = false;
            }
        }
    });
    (ReceiverStream::new(rx), Drained(pump))
}
