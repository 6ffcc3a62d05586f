//! The hijacked endpoints: container attach and exec start. With `Upgrade: tcp` the
//! connection switches protocols (101) and carries the raw or multiplexed stream both ways;
//! without it, output is streamed as the response body.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use berth_api::stdcopy;
use berth_proto::v1;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};

use super::{api_version, decode, ApiResult, AppState, Query};
use crate::containers::attach::{self, Attached, Ended, Pending, RelayOptions};
use crate::error::{Error, Result};
use crate::listen::UnixConn;

static TOKENS: AtomicU64 = AtomicU64::new(1);

/// Waits (at most 200 ms) until the client has read the `101` answer before the stream's
/// first bytes go out. docker-py reads the answer through a buffered reader and then reads
/// the raw socket, so bytes that reach it together with the headers are lost to it (the
/// replayed log of `attach?logs=1` was, whenever berthd answered faster than the client
/// read). On a unix socket the send queue (SIOCOUTQ) holds what the client has not read.
async fn headers_read(conn: Option<UnixConn>) {
    let Some(UnixConn(fd)) = conn else { return };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(200);
    loop {
        let mut unread: libc::c_int = 0;
        // SAFETY: SIOCOUTQ writes one int through the pointer we pass; the socket is the
        // upgraded connection the caller holds, so the descriptor is still open.
        let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut unread) };
        if r != 0 || unread == 0 || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

fn wants_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.eq_ignore_ascii_case("tcp"))
        .unwrap_or(false)
}

fn content_type(tty: bool, multiplexed_media: bool) -> &'static str {
    if tty || !multiplexed_media {
        berth_api::MEDIA_RAW_STREAM
    } else {
        berth_api::MEDIA_MULTIPLEXED_STREAM
    }
}

fn switching(ct: &'static str) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

/// Output of an attach as a response body (no hijack: no stdin).
fn body_stream(
    attached: Attached,
    tty: bool,
    ct: &'static str,
    keep: mpsc::Sender<v1::AttachRequest>,
) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let _keep = keep;
        let mut stream = attached.stream;
        let mut queue: std::collections::VecDeque<_> = attached.early.into();
        loop {
            let m = match queue.pop_front() {
                Some(m) => Some(m),
                None => stream.message().await.ok().flatten(),
            };
            let Some(m) = m else { break };
            let bytes = match m.kind {
                Some(v1::attach_response::Kind::Stdout(d)) => {
                    if tty {
                        d
                    } else {
                        stdcopy::frame(stdcopy::STDOUT, &d)
                    }
                }
                Some(v1::attach_response::Kind::Stderr(d)) => {
                    if tty {
                        d
                    } else {
                        stdcopy::frame(stdcopy::STDERR, &d)
                    }
                }
                Some(v1::attach_response::Kind::Exit(_)) => break,
                _ => continue,
            };
            if tx.send(Bytes::from(bytes)).await.is_err() {
                break;
            }
        }
    });
    super::stream(ct, rx)
}

enum Source {
    Ready(Box<Attached>),
    Waiting(oneshot::Receiver<Result<Attached>>),
}

pub async fn attach(
    State(e): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult {
    let q = Query::of(req.uri());
    let version = api_version(req.extensions());
    let c = e.container(&id)?;
    let rec = c.record();
    let tty = rec.config.tty;
    let stdin = q.bool("stdin") && rec.config.open_stdin;
    let (stdout, stderr) = (q.bool("stdout"), q.bool("stderr"));
    let keys = attach::parse_detach_keys(q.str("detachKeys"))?;
    let ct = content_type(tty, !version.before(1, 42));
    let upgrade = wants_upgrade(&req);
    let conn = req.extensions().get::<UnixConn>().copied();
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));

    if !q.bool("stream") {
        // Only the log so far (`logs=1`), then the connection closes.
        if !q.bool("logs") {
            return Err(Error::invalid(
                "Bad parameters: you must choose at least one stream",
            ));
        }
        let (_, rx) = e
            .container_logs(
                &c,
                crate::containers::logs::LogsOptions {
                    follow: false,
                    stdout,
                    stderr,
                    since: None,
                    until: None,
                    tail: None,
                    timestamps: false,
                },
            )
            .await?;
        return Ok(match on_upgrade {
            None => super::stream(ct, rx),
            Some(up) => {
                tokio::spawn(async move {
                    if let Ok(io) = up.await {
                        use tokio::io::AsyncWriteExt;
                        headers_read(conn).await;
                        let mut io = TokioIo::new(io);
                        let mut rx = rx;
                        while let Some(b) = rx.recv().await {
                            if io.write_all(&b).await.is_err() {
                                break;
                            }
                        }
                        let _ = io.shutdown().await;
                    }
                });
                switching(ct)
            }
        });
    }

    let (tx, rx) = mpsc::channel::<v1::AttachRequest>(16);
    let open = v1::AttachOpen {
        container_id: c.id.clone(),
        exec_id: String::new(),
        stdin,
        stdout,
        stderr,
        logs: q.bool("logs"),
    };
    let source = if rec.state.running {
        Source::Ready(Box::new(attach::connect(&e.shimd, open, rx).await?))
    } else {
        // Registered before the answer goes out, so a start that follows at once sees it.
        let token = TOKENS.fetch_add(1, Ordering::Relaxed);
        let (rtx, rrx) = oneshot::channel();
        c.pending_attach
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Pending {
                token,
                open,
                requests: rx,
                reply: rtx,
            });
        // A start that ran between the state check and the registration missed it.
        if c.with(|r| r.state.running) {
            let mine = {
                let mut list = c.pending_attach.lock().unwrap_or_else(|p| p.into_inner());
                list.iter()
                    .position(|p| p.token == token)
                    .map(|i| list.remove(i))
            };
            match mine {
                Some(p) => Source::Ready(Box::new(
                    attach::connect(&e.shimd, p.open, p.requests).await?,
                )),
                None => Source::Waiting(rrx),
            }
        } else {
            Source::Waiting(rrx)
        }
    };
    e.container_event(&c, "attach");
    // As dockerd: the end of the client's input closes the container's stdin only without
    // a terminal. With one, the docker CLI's detach (ctrl-p ctrl-q, seen by the CLI itself)
    // just closes the connection, and the container must go on.
    let close_stdin_on_eof = rec.config.stdin_once && !tty;

    let Some(up) = on_upgrade else {
        let attached = match source {
            Source::Ready(a) => *a,
            Source::Waiting(rrx) => rrx
                .await
                .map_err(|_| Error::internal("the container was removed before it started"))??,
        };
        return Ok(body_stream(attached, tty, ct, tx));
    };
    tokio::spawn(async move {
        let Ok(io) = up.await else { return };
        headers_read(conn).await;
        let attached = match source {
            Source::Ready(a) => *a,
            Source::Waiting(rrx) => match rrx.await {
                Ok(Ok(a)) => a,
                _ => return,
            },
        };
        let opts = RelayOptions {
            on_exit: None,
            tty,
            stdin,
            close_stdin_on_eof,
            detach_keys: keys,
        };
        let ended = attach::relay(TokioIo::new(io), attached, tx, opts).await;
        if ended == Ended::Detached {
            e.container_event(&c, "detach");
        }
    });
    Ok(switching(ct))
}

pub async fn exec_start(
    State(e): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult {
    let version = api_version(req.extensions());
    let upgrade = wants_upgrade(&req);
    let conn = req.extensions().get::<UnixConn>().copied();
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|err| Error::invalid(format!("reading the request body: {err}")))?;
    let start: berth_api::exec::StartRequest = decode(&headers, &body, true)?;
    let x = e.execs.get(&id)?;
    e.exec_claim(&x)?;
    if start.detach {
        e.exec_launch(&x).await?;
        return Ok(Response::new(Body::empty()));
    }
    // As dockerd does, the start request's Tty decides the framing: raw stdout and no
    // stderr with it, multiplexed stdout and stderr without. (The exec's own Tty decides
    // whether the process gets a terminal.)
    let tty = start.tty;
    let ct = content_type(tty, !version.before(1, 42));
    let (tx, rx) = mpsc::channel::<v1::AttachRequest>(16);
    let open = v1::AttachOpen {
        container_id: x.container_id.clone(),
        exec_id: x.id.clone(),
        stdin: x.config.attach_stdin,
        stdout: x.config.attach_stdout,
        stderr: x.config.attach_stderr && !tty,
        logs: false,
    };
    let size = start.console_size.or(x.config.console_size);
    let keys = attach::parse_detach_keys(&x.config.detach_keys)?;
    // Adds the exec to its task, attaches before the start (so no output is lost), starts.
    let launch = {
        let (e, x) = (e.clone(), x.clone());
        async move {
            e.exec_add(&x).await?;
            let attached = match attach::connect(&e.shimd, open, rx).await {
                Ok(a) => a,
                Err(err) => {
                    e.exec_forget(&x).await;
                    x.finish(crate::execs::START_FAILED);
                    return Err(err);
                }
            };
            e.exec_run(&x).await?;
            Ok::<_, Error>(attached)
        }
    };

    let Some(up) = on_upgrade else {
        let attached = launch.await?;
        return Ok(body_stream(attached, tty, ct, tx));
    };
    tokio::spawn(async move {
        let Ok(io) = up.await else { return };
        headers_read(conn).await;
        let mut io = TokioIo::new(io);
        let attached = match launch.await {
            Ok(a) => a,
            Err(err) => {
                // As dockerd does: the error goes to the client's stdout, the exit code to
                // inspect.
                use tokio::io::AsyncWriteExt;
                let text = format!("{}\r\n", err.message);
                let bytes = if tty {
                    text.into_bytes()
                } else {
                    stdcopy::frame(stdcopy::STDOUT, text.as_bytes())
                };
                let _ = io.write_all(&bytes).await;
                let _ = io.shutdown().await;
                return;
            }
        };
        if let Some([h, w]) = size {
            if x.config.tty && h > 0 && w > 0 {
                let _ = e.resize(&x.container_id, &x.id, h, w).await;
            }
        }
        let xe = x.clone();
        let opts = RelayOptions {
            on_exit: Some(Box::new(move |code| xe.finish(code as i64))),
            tty,
            stdin: x.config.attach_stdin,
            // As for containers: with a terminal, the client going away is a detach.
            close_stdin_on_eof: !tty,
            detach_keys: keys,
        };
        let ended = attach::relay(io, attached, tx, opts).await;
        if ended == Ended::Closed {
            // The stream ended without an exit status: the exit comes through Wait.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), e.exec_wait(&x)).await;
        }
    });
    Ok(switching(ct))
}
