//! Attaching to a container's or exec process's stdio through shimd's Tasks.Attach, and
//! relaying it over a hijacked connection: multiplexed frames without a tty, raw with one;
//! stdin EOF (the client's half-close) closes the process's stdin when `StdinOnce`.

use berth_api::stdcopy;
use berth_proto::v1;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use crate::error::{Error, Result};
use crate::shimd::Shimd;

/// An attached output stream, set up and ready: output written from now on reaches it.
pub struct Attached {
    pub stream: tonic::Streaming<v1::AttachResponse>,
    /// Output that arrived before the `ready` marker (none with shimd's current protocol).
    pub early: Vec<v1::AttachResponse>,
}

/// An attach waiting for the container's next start.
pub struct Pending {
    /// Tells this attach from others in the container's list.
    pub token: u64,
    pub open: v1::AttachOpen,
    pub requests: mpsc::Receiver<v1::AttachRequest>,
    pub reply: oneshot::Sender<Result<Attached>>,
}

/// Opens Tasks.Attach with `open` first, then whatever `requests` carries (stdin, close,
/// resize), and waits until shimd says the attach is set up.
pub async fn connect(
    shimd: &Shimd,
    open: v1::AttachOpen,
    requests: mpsc::Receiver<v1::AttachRequest>,
) -> Result<Attached> {
    let first = v1::AttachRequest {
        kind: Some(v1::attach_request::Kind::Open(open)),
    };
    let reqs =
        tokio_stream::StreamExt::chain(tokio_stream::once(first), ReceiverStream::new(requests));
    let mut stream = shimd
        .tasks()
        .attach(reqs)
        .await
        .map_err(Error::from)?
        .into_inner();
    let mut early = Vec::new();
    loop {
        match stream.message().await.map_err(Error::from)? {
            Some(v1::AttachResponse {
                kind: Some(v1::attach_response::Kind::Ready(_)),
            }) => break,
            Some(m) => {
                let is_exit = matches!(m.kind, Some(v1::attach_response::Kind::Exit(_)));
                early.push(m);
                if is_exit {
                    break;
                }
            }
            None => break,
        }
    }
    Ok(Attached { stream, early })
}

/// docker's detach key sequence, "ctrl-p,ctrl-q" by default.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    let s = if s.is_empty() { "ctrl-p,ctrl-q" } else { s };
    s.split(',')
        .map(|k| {
            let k = k.trim();
            if let Some(c) = k.strip_prefix("ctrl-") {
                let b = match c.as_bytes() {
                    [b] if b.is_ascii_alphabetic() => b.to_ascii_lowercase() - b'a' + 1,
                    [b'@'] => 0,
                    [b'['] => 27,
                    [b'\\'] => 28,
                    [b']'] => 29,
                    [b'^'] => 30,
                    [b'_'] => 31,
                    _ => {
                        return Err(Error::invalid(format!(
                            "Invalid detach keys ({s}) provided"
                        )))
                    }
                };
                Ok(b)
            } else if k.len() == 1 {
                Ok(k.as_bytes()[0])
            } else {
                Err(Error::invalid(format!(
                    "Invalid detach keys ({s}) provided"
                )))
            }
        })
        .collect()
}

/// How a relay ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The process exited with this status.
    Exited(u32),
    /// The client typed the detach keys.
    Detached,
    /// The output stream ended (or the client went away) without an exit status.
    Closed,
}

pub struct RelayOptions {
    /// Called with the exit status before the connection is closed, so a client that
    /// inspects right after sees the exit recorded.
    pub on_exit: Option<Box<dyn FnOnce(u32) + Send>>,
    pub tty: bool,
    pub stdin: bool,
    /// Close the process's stdin when the client's input ends.
    pub close_stdin_on_eof: bool,
    pub detach_keys: Vec<u8>,
}

/// Relays an attach over a client connection until the process exits, the client
/// detaches or the connection breaks; then shuts the connection's write side.
pub async fn relay<IO>(
    io: IO,
    attached: Attached,
    requests: mpsc::Sender<v1::AttachRequest>,
    mut opts: RelayOptions,
) -> Ended
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let (detach_tx, mut detach_rx) = oneshot::channel::<()>();
    let input = if opts.stdin {
        let keys = opts.detach_keys.clone();
        let close = opts.close_stdin_on_eof;
        Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            let mut matched = 0usize;
            loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                // Watch for the detach sequence; bytes that are part of it are held back.
                let mut out = Vec::with_capacity(n);
                for &b in &buf[..n] {
                    if !keys.is_empty() && b == keys[matched] {
                        matched += 1;
                        if matched == keys.len() {
                            let _ = detach_tx.send(());
                            return;
                        }
                    } else {
                        out.extend_from_slice(&keys[..matched]);
                        matched = 0;
                        out.push(b);
                    }
                }
                if !out.is_empty()
                    && requests
                        .send(v1::AttachRequest {
                            kind: Some(v1::attach_request::Kind::Stdin(out)),
                        })
                        .await
                        .is_err()
                {
                    return;
                }
            }
            if close {
                let _ = requests
                    .send(v1::AttachRequest {
                        kind: Some(v1::attach_request::Kind::CloseStdin(true)),
                    })
                    .await;
            }
            // Keep the request stream open: dropping it would end the attach early.
            std::future::pending::<()>().await;
        }))
    } else {
        // Without stdin the request side stays open until output ends.
        let keep = requests;
        Some(tokio::spawn(async move {
            let _keep = keep;
            std::future::pending::<()>().await;
        }))
    };

    let write = |m: v1::AttachResponse| -> Option<Vec<u8>> {
        match m.kind? {
            v1::attach_response::Kind::Stdout(d) if opts.tty => Some(d),
            v1::attach_response::Kind::Stdout(d) => Some(stdcopy::frame(stdcopy::STDOUT, &d)),
            v1::attach_response::Kind::Stderr(d) if opts.tty => Some(d),
            v1::attach_response::Kind::Stderr(d) => Some(stdcopy::frame(stdcopy::STDERR, &d)),
            _ => None,
        }
    };
    let mut ended = Ended::Closed;
    let mut stream = attached.stream;
    let mut queue: std::collections::VecDeque<v1::AttachResponse> = attached.early.into();
    'out: loop {
        let msg = if let Some(m) = queue.pop_front() {
            Some(m)
        } else {
            tokio::select! {
                m = stream.message() => m.ok().flatten(),
                _ = &mut detach_rx => { ended = Ended::Detached; break 'out; }
            }
        };
        let Some(m) = msg else { break };
        if let Some(v1::attach_response::Kind::Exit(w)) = &m.kind {
            ended = Ended::Exited(w.exit_status);
            break;
        }
        if let Some(bytes) = write(m) {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    }
    let _ = wr.flush().await;
    if let (Ended::Exited(code), Some(f)) = (&ended, opts.on_exit.take()) {
        f(*code);
    }
    let _ = wr.shutdown().await;
    if let Some(h) = input {
        h.abort();
    }
    ended
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert!(parse_detach_keys("ctrl-ab").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }
}
