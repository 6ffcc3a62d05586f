//! The unread rest of a request body, read before an error answer goes out.
//!
//! Any answer given before the client has sent its whole body (a missing route or
//! container, a refused version, a body over the limit, a handler that failed half-way
//! through an upload) would make hyper close the connection under a client that is still
//! writing: it reports "broken pipe" instead of the answer, and a keep-alive connection is
//! lost. Every request body passes through a slot that the handler reads from; once the
//! handler has answered with an error, what it left unread is read and dropped here, up to a
//! bound, so the answer arrives and the connection stays usable.

use std::sync::{Arc, Mutex};
use std::task::Poll;

use axum::body::{Body, BodyDataStream, HttpBody as _};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;

/// At most this much of an unread body is read after an error; past it the connection is
/// closed (the client sees its write fail).
pub const MAX_UNREAD: usize = 64 << 20;

type Slot = Arc<Mutex<Option<BodyDataStream>>>;

/// Middleware: keeps the request body in a slot for the handler, and reads what the
/// handler left of it when the answer is an error.
pub async fn read_rest_on_error(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let slot: Slot = Arc::new(Mutex::new(Some(body.into_data_stream())));
    let reader = slot.clone();
    let handed = futures::stream::poll_fn(move |cx| {
        let mut s = reader.lock().unwrap_or_else(|p| p.into_inner());
        let Some(stream) = s.as_mut() else {
            return Poll::Ready(None);
        };
        let next = stream.poll_next_unpin(cx);
        if let Poll::Ready(None) = next {
            *s = None;
        }
        next
    });
    let r = next
        .run(Request::from_parts(parts, Body::from_stream(handed)))
        .await;
    if r.status().is_client_error() || r.status().is_server_error() {
        let rest = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut rest) = rest {
            let mut read = 0usize;
            while let Some(Ok(chunk)) = rest.next().await {
                read += chunk.len();
                if read > MAX_UNREAD {
                    break;
                }
            }
        }
    }
    r
}
