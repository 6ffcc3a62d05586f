//! An attached session: the container's output to our stdout/stderr, our stdin to the
//! container, a raw terminal and window-size changes with `-t`, signals forwarded without.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsRawFd;

use berth_proto::v1::{
    attach_request, attach_response, AttachOpen, AttachRequest, AttachResponse, KillRequest,
    ResizePtyRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::context::Context;

pub struct Attached {
    container_id: String,
    exec_id: String,
    outbound: mpsc::Sender<AttachRequest>,
    inbound: Streaming<AttachResponse>,
}

/// What to attach to.
pub struct Target<'a> {
    pub container_id: &'a str,
    pub exec_id: &'a str,
    /// Forward our stdin.
    pub stdin: bool,
    /// Replay the log first.
    pub logs: bool,
}

/// Opens an attach stream; returns once output is flowing to us (`ready`).
pub async fn open(ctx: &Context, t: Target<'_>) -> anyhow::Result<Attached> {
    let (tx, rx) = mpsc::channel(64);
    tx.send(AttachRequest {
        kind: Some(attach_request::Kind::Open(AttachOpen {
            container_id: t.container_id.to_string(),
            exec_id: t.exec_id.to_string(),
            stdin: t.stdin,
            stdout: true,
            stderr: true,
            logs: t.logs,
        })),
    })
    .await?;
    let mut inbound = ctx
        .tasks()
        .await?
        .attach(ReceiverStream::new(rx))
        .await?
        .into_inner();
    match inbound.message().await? {
        Some(AttachResponse {
            kind: Some(attach_response::Kind::Ready(_)),
        }) => {}
        _ => anyhow::bail!(
            "attaching to {}: shimd did not confirm the attach",
            t.container_id
        ),
    }
    Ok(Attached {
        container_id: t.container_id.to_string(),
        exec_id: t.exec_id.to_string(),
        outbound: tx,
        inbound,
    })
}

/// Puts the terminal in raw mode; restores it on drop.
struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    fn enable() -> RawMode {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawMode(None);
        }
        let Ok(orig) = tcgetattr(&stdin) else {
            return RawMode(None);
        };
        let mut raw = orig.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        RawMode(Some(orig))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(orig) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                orig,
            );
        }
    }
}

/// Our terminal's size (columns, rows), if stdout or stdin is a terminal.
fn window_size() -> Option<(u32, u32)> {
    for fd in [std::io::stdout().as_raw_fd(), std::io::stdin().as_raw_fd()] {
        let mut ws = nix::libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize through the pointer.
        if unsafe { nix::libc::ioctl(fd, nix::libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
            return Some((u32::from(ws.ws_col), u32::from(ws.ws_row)));
        }
    }
    None
}

fn resize_message(cid: &str, eid: &str, (w, h): (u32, u32)) -> AttachRequest {
    AttachRequest {
        kind: Some(attach_request::Kind::Resize(ResizePtyRequest {
            container_id: cid.to_string(),
            exec_id: eid.to_string(),
            width: w,
            height: h,
        })),
    }
}

/// Reads our stdin on a thread (it blocks) and forwards it; EOF closes the process's stdin.
fn forward_stdin(tx: mpsc::Sender<AttachRequest>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let msg = match stdin.read(&mut buf) {
                Ok(0) | Err(_) => attach_request::Kind::CloseStdin(true),
                Ok(n) => attach_request::Kind::Stdin(buf[..n].to_vec()),
            };
            let last = matches!(msg, attach_request::Kind::CloseStdin(_));
            if tx.blocking_send(AttachRequest { kind: Some(msg) }).is_err() || last {
                return;
            }
        }
    });
}

impl Attached {
    /// Runs the session until the process exits; returns its exit status.
    pub async fn run(mut self, ctx: &Context, tty: bool, stdin: bool) -> anyhow::Result<i32> {
        let _raw = if tty && stdin {
            RawMode::enable()
        } else {
            RawMode(None)
        };
        if tty {
            if let Some(size) = window_size() {
                let _ = self
                    .outbound
                    .send(resize_message(&self.container_id, &self.exec_id, size))
                    .await;
            }
            let (tx, cid, eid) = (
                self.outbound.clone(),
                self.container_id.clone(),
                self.exec_id.clone(),
            );
            tokio::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut winch) = signal(SignalKind::window_change()) else {
                    return;
                };
                while winch.recv().await.is_some() {
                    if let Some(size) = window_size() {
                        if tx.send(resize_message(&cid, &eid, size)).await.is_err() {
                            return;
                        }
                    }
                }
            });
        } else {
            self.forward_signals(ctx);
        }
        if stdin {
            forward_stdin(self.outbound.clone());
        }
        let mut out = std::io::stdout();
        let mut err = std::io::stderr();
        loop {
            let msg = self.inbound.message().await?;
            match msg.and_then(|m| m.kind) {
                Some(attach_response::Kind::Stdout(d)) => {
                    out.write_all(&d)?;
                    out.flush()?;
                }
                Some(attach_response::Kind::Stderr(d)) => {
                    err.write_all(&d)?;
                    err.flush()?;
                }
                Some(attach_response::Kind::Exit(w)) => return Ok(w.exit_status as i32),
                Some(attach_response::Kind::Ready(_)) => {}
                None => anyhow::bail!(
                    "the attach to {} ended without an exit status",
                    self.container_id
                ),
            }
        }
    }

    /// Without a terminal, ^C and friends go to the process as signals.
    fn forward_signals(&self, ctx: &Context) {
        use tokio::signal::unix::{signal, SignalKind};
        for (kind, num) in [
            (SignalKind::interrupt(), 2u32),
            (SignalKind::terminate(), 15),
            (SignalKind::hangup(), 1),
            (SignalKind::quit(), 3),
        ] {
            let Ok(mut s) = signal(kind) else { continue };
            let (cid, eid) = (self.container_id.clone(), self.exec_id.clone());
            let ctx = Context::new(ctx.address.clone(), ctx.namespace.clone());
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if let Ok(mut t) = ctx.tasks().await {
                        let _ = t
                            .kill(KillRequest {
                                container_id: cid.clone(),
                                exec_id: eid.clone(),
                                signal: num,
                                all: false,
                            })
                            .await;
                    }
                }
            });
        }
    }
}

/// A signal by name (`KILL`, `SIGKILL`) or number.
pub fn parse_signal(s: &str) -> anyhow::Result<u32> {
    if let Ok(n) = s.parse::<u32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        anyhow::bail!("invalid signal number {n}: use 1 to 64");
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as u32)
        .map_err(|_| anyhow::anyhow!("unknown signal {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("1").unwrap(), 1);
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("NOPE").is_err());
    }
}
