//! A client's connection to the shim socket: length-prefixed protobuf frames
//! (`crate::wire`), buffered both ways on a non-blocking stream. A connection sends
//! requests, is parked while it waits for an exit, or is attached to a process's stdio.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use berth_proto::shim::{
    shim_frame, shim_response, Empty, ProcessState, ShimFrame, ShimRequest, ShimResponse,
};
use prost::Message;

use super::failure::{Reply, INVALID_ARGUMENT};
use super::Server;

/// What a connection is doing.
pub(super) enum Mode {
    /// Sending requests, answered in order.
    Requests,
    /// Waiting for the process with this exec id to exit.
    Waiting(String),
    Attached {
        exec_id: String,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
}

pub(super) struct Conn {
    pub(super) serial: u64,
    pub(super) stream: UnixStream,
    inbuf: Vec<u8>,
    pub(super) outbuf: Vec<u8>,
    pub(super) mode: Mode,
    /// Close once `outbuf` is written.
    pub(super) closing: bool,
    pub(super) dead: bool,
}

impl Conn {
    pub(super) fn send<M: Message>(&mut self, m: &M) {
        crate::wire::put(m, &mut self.outbuf);
        self.flush();
    }

    pub(super) fn flush(&mut self) {
        while !self.outbuf.is_empty() {
            match self.stream.write(&self.outbuf) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.outbuf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        if self.outbuf.capacity() > 64 * 1024 {
            self.outbuf = Vec::new();
        }
        if self.closing {
            self.dead = true;
        }
    }

    pub(super) fn attached_to(&self, exec_id: &str) -> bool {
        matches!(&self.mode, Mode::Attached { exec_id: e, .. } if e == exec_id)
    }
}

impl Server {
    pub(super) fn conn(&mut self, serial: u64) -> Option<&mut Conn> {
        self.conns
            .iter_mut()
            .find(|c| c.serial == serial && !c.dead)
    }

    pub(super) fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.next_serial += 1;
            self.conns.push(Conn {
                serial: self.next_serial,
                stream,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                mode: Mode::Requests,
                closing: false,
                dead: false,
            });
        }
    }

    pub(super) fn conn_readable(&mut self, serial: u64) {
        let Some(c) = self.conn(serial) else { return };
        let mut buf = [0u8; 16 * 1024];
        match c.stream.read(&mut buf) {
            Ok(0) => {
                c.dead = true;
                return;
            }
            Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return
            }
            Err(_) => {
                c.dead = true;
                return;
            }
        }
        self.process_frames(serial);
    }

    /// Handles every complete frame a connection has sent, as its mode allows.
    pub(super) fn process_frames(&mut self, serial: u64) {
        loop {
            let Some(c) = self.conn(serial) else { return };
            if matches!(c.mode, Mode::Waiting(_)) || c.closing {
                return;
            }
            let frame = match crate::wire::take(&mut c.inbuf) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    if c.inbuf.is_empty() && c.inbuf.capacity() > 64 * 1024 {
                        c.inbuf = Vec::new();
                    }
                    return;
                }
                Err(_) => {
                    c.dead = true;
                    return;
                }
            };
            match &c.mode {
                Mode::Attached { exec_id, stdin, .. } => {
                    let (exec_id, stdin) = (exec_id.clone(), *stdin);
                    match ShimFrame::decode(frame.as_slice()) {
                        Ok(f) => self.attach_input(&exec_id, stdin, f),
                        Err(_) => c.dead = true,
                    }
                }
                _ => match ShimRequest::decode(frame.as_slice()) {
                    Ok(req) => self.handle(serial, req),
                    Err(e) => {
                        let r = error_response(INVALID_ARGUMENT, format!("bad request: {e}"));
                        c.send(&r);
                    }
                },
            }
        }
    }

    pub(super) fn respond(&mut self, serial: u64, reply: Reply) {
        let resp = match reply {
            Ok(kind) => ShimResponse {
                error: String::new(),
                code: 0,
                kind: Some(kind),
            },
            Err(f) => error_response(f.code, f.msg),
        };
        if let Some(c) = self.conn(serial) {
            c.send(&resp);
        }
    }
}

fn error_response(code: u32, error: String) -> ShimResponse {
    ShimResponse {
        error,
        code,
        kind: None,
    }
}

pub(super) fn ok_response() -> ShimResponse {
    ShimResponse {
        kind: Some(shim_response::Kind::Ok(Empty {})),
        ..Default::default()
    }
}

pub(super) fn exit_frame(state: ProcessState) -> ShimFrame {
    ShimFrame {
        kind: shim_frame::Kind::Exit as i32,
        exit: Some(state),
        ..Default::default()
    }
}
