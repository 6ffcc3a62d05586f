//! The daemon's multiplexed stream format for non-TTY output: frames of an 8-byte header
//! (stream id, three zero bytes, big-endian length) followed by the payload.

use std::io::{self, Read, Write};

use berth_api::stdcopy;

/// Which output a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Stdout,
    Stderr,
    /// An error the daemon reports in-band (stream id 3).
    System,
}

/// An incremental demultiplexer over the shared frame decoder: feed it bytes as they
/// arrive, get each frame's payload with its channel.
#[derive(Default)]
pub struct Demux(stdcopy::Demux);

impl Demux {
    pub fn new() -> Demux {
        Demux::default()
    }

    /// Passes every complete frame in `data` (and what was buffered before) to `sink`.
    pub fn feed(
        &mut self,
        data: &[u8],
        sink: &mut dyn FnMut(Channel, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        self.0.push(data);
        while let Some((stream, payload)) = self.0.next_frame() {
            let ch = match stream {
                stdcopy::STDIN | stdcopy::STDOUT => Channel::Stdout,
                stdcopy::STDERR => Channel::Stderr,
                stdcopy::SYSTEM_ERR => Channel::System,
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected stream id {other} in the daemon's output"),
                    ))
                }
            };
            sink(ch, &payload)?;
        }
        Ok(())
    }
}

/// Copies a multiplexed stream to `out` and `err` until it ends. Text the daemon sends on
/// the system-error channel is returned as an error.
pub fn copy_demuxed(
    mut src: impl Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    let mut demux = Demux::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut system = Vec::new();
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        demux.feed(&buf[..n], &mut |ch, data| match ch {
            Channel::Stdout => out.write_all(data).and_then(|_| out.flush()),
            Channel::Stderr => err.write_all(data).and_then(|_| err.flush()),
            Channel::System => {
                system.extend_from_slice(data);
                Ok(())
            }
        })?;
    }
    if !system.is_empty() {
        return Err(io::Error::other(
            String::from_utf8_lossy(&system).trim().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u8, payload: &[u8]) -> Vec<u8> {
        stdcopy::frame(id, payload)
    }

    #[test]
    fn splits_frames_across_reads() {
        let mut all = frame(1, b"hello ");
        all.extend(frame(2, b"oops\n"));
        all.extend(frame(1, b"world\n"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut d = Demux::new();
        for piece in all.chunks(3) {
            d.feed(piece, &mut |ch, data| {
                match ch {
                    Channel::Stdout => out.extend_from_slice(data),
                    _ => err.extend_from_slice(data),
                }
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(out, b"hello world\n");
        assert_eq!(err, b"oops\n");
    }

    #[test]
    fn system_channel_is_an_error_and_bad_ids_are_refused() {
        let all = frame(3, b"exec failed");
        let e = copy_demuxed(&all[..], &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "exec failed");
        let bad = frame(9, b"x");
        assert!(copy_demuxed(&bad[..], &mut Vec::new(), &mut Vec::new()).is_err());
    }
}
