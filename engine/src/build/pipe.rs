//! A byte stream from one thread to another, in memory: a tar written on one side is read
//! on the other as it is made, instead of going through a temporary file. Chunks of
//! [`CHUNK`] bytes travel over a bounded channel, so at most a few chunks are in flight.

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::error::{Error, Result};

/// Bytes per chunk sent.
const CHUNK: usize = 256 << 10;
/// Chunks in flight.
const DEPTH: usize = 8;

/// The writing end. Dropping it ends the stream.
pub struct PipeWriter {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
    /// The reading end went away: what is written is lost.
    reader_gone: bool,
}

/// The reading end: end of stream once the writer is dropped and all is read.
pub struct PipeReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

pub fn pipe() -> (PipeWriter, PipeReader) {
    let (tx, rx) = sync_channel(DEPTH);
    (
        PipeWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
            reader_gone: false,
        },
        PipeReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        },
    )
}

impl PipeWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.send(chunk).map_err(|_| {
            self.reader_gone = true;
            io::Error::from(io::ErrorKind::BrokenPipe)
        })
    }
}

impl Write for PipeWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = b.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Runs `produce` on a thread of its own, writing into a pipe, and `consume` on this
/// thread, reading from it; answers what `consume` answers.
///
/// A failed producer ends the stream early, which the consumer may well take for a
/// complete one: so the producer's error wins, unless it failed only because the consumer
/// had stopped reading (then the consumer's error says why).
pub fn through<T, P, C>(produce: P, consume: C) -> Result<T>
where
    P: FnOnce(&mut PipeWriter) -> Result<()> + Send,
    C: FnOnce(&mut PipeReader) -> Result<T>,
{
    let (mut w, mut r) = pipe();
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let made = produce(&mut w).and_then(|()| {
                w.flush()
                    .map_err(|e| Error::internal(format!("passing data between threads: {e}")))
            });
            (made, w.reader_gone)
        });
        let consumed = consume(&mut r);
        // Unblocks a producer still writing.
        drop(r);
        let (made, reader_gone) = producer
            .join()
            .unwrap_or_else(|_| (Err(Error::internal("a copy thread panicked")), false));
        match (made, consumed) {
            (Err(e), Err(c)) => Err(if reader_gone { c } else { e }),
            (Err(e), Ok(_)) => Err(e),
            (Ok(()), consumed) => consumed,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_written_is_read_in_order() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let got = through(
            |w| {
                for part in data.chunks(1000) {
                    w.write_all(part).unwrap();
                }
                Ok(())
            },
            |r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).unwrap();
                Ok(v)
            },
        )
        .unwrap();
        assert_eq!(got, data);
    }

    #[test]
    fn a_producer_error_wins_over_a_truncated_read() {
        let r = through(
            |w| {
                w.write_all(b"partial").unwrap();
                Err(Error::invalid("the source vanished"))
            },
            |r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).unwrap();
                Ok(v)
            },
        );
        assert_eq!(r.unwrap_err().message, "the source vanished");
    }

    #[test]
    fn a_consumer_that_stops_reading_gives_its_own_error() {
        let r: Result<()> = through(
            |w| {
                for _ in 0..100 {
                    w.write_all(&[0u8; CHUNK])
                        .map_err(|e| Error::internal(e.to_string()))?;
                }
                Ok(())
            },
            |_| Err(Error::invalid("bad header")),
        );
        assert_eq!(r.unwrap_err().message, "bad header");
    }
}
