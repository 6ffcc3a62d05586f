//! The answer of `POST /build`: JSON lines (`{"stream": ...}`, `{"aux": ...}`, errors),
//! encoded as Go encodes them (`<`, `>` and `&` escaped, so ` ---> ` reads ` ---\u003e `)
//! and ended with `\r\n` as dockerd ends them.

use berth_api::progress::Message;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// Where a build writes its output; a client that hung up stops the build at its next write.
#[derive(Clone)]
pub struct Out {
    tx: mpsc::Sender<Bytes>,
    quiet: bool,
    /// Whether a line went out (after that, errors are lines too).
    sent: Arc<AtomicBool>,
}

/// Go's JSON encoder escapes these for HTML safety; docker clients see the escapes.
pub fn go_line(m: &Message) -> Vec<u8> {
    let line = String::from_utf8(m.to_line()).unwrap_or_default();
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}

impl Out {
    pub fn new(tx: mpsc::Sender<Bytes>, quiet: bool) -> Out {
        Out {
            tx,
            quiet,
            sent: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn has_sent(&self) -> bool {
        self.sent.load(Ordering::SeqCst)
    }

    async fn send(&self, m: Message) -> Result<()> {
        self.sent.store(true, Ordering::SeqCst);
        self.tx
            .send(Bytes::from(go_line(&m)))
            .await
            .map_err(|_| Error::invalid("the client closed the connection: build canceled"))
    }

    /// Text for the user (step lines, RUN output); left out with `q`.
    pub async fn text(&self, text: impl Into<String>) -> Result<()> {
        if self.quiet {
            return self.alive();
        }
        self.send(Message::stream(text)).await
    }

    /// `{"aux":{"ID":"sha256:..."}}`: the built image, which `docker build -q` prints.
    pub async fn image_id(&self, id: &str) -> Result<()> {
        self.send(Message {
            aux: Some(serde_json::json!({ "ID": id })),
            ..Default::default()
        })
        .await
    }

    /// The error that ended the build.
    pub async fn error(&self, message: &str) {
        let _ = self.send(Message::error(message)).await;
    }

    /// Resolves once the client is gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    /// Fails once the client is gone.
    pub fn alive(&self) -> Result<()> {
        if self.tx.is_closed() {
            return Err(Error::invalid(
                "the client closed the connection: build canceled",
            ));
        }
        Ok(())
    }
}

/// The first 12 hex digits of an ID, as dockerd prints them.
pub fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_encoded_as_go_encodes_them() {
        let l = go_line(&Message::stream(" ---> 5d0e\n"));
        assert_eq!(l, b"{\"stream\":\" ---\\u003e 5d0e\\n\"}\r\n");
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}
