//! The gzip writer of new layers: the input is cut into chunks of [`CHUNK`] bytes and each
//! chunk becomes one gzip member (RFC 1952 allows a file of several members; Go's,
//! containerd's, dockerd's, zlib's and Python's readers all read them as one stream).
//!
//! A chunk that deflate would not shrink (random data, files that are compressed already:
//! the bulk of many layers) is stored: its member holds stored deflate blocks, written
//! here at the speed of a copy. Whether a chunk shrinks is told by deflating a few small
//! samples of it; a compressible chunk is deflated at the fast level, as before.

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress};

/// Input per gzip member.
pub const CHUNK: usize = 1 << 20;

/// Bytes of each sample, and how many samples are taken of a chunk.
const SAMPLE: usize = 16 << 10;
const SAMPLES: usize = 3;

/// A sample that deflates to more than this share of its size counts as incompressible.
const STORE_ABOVE: f64 = 0.95;

/// The largest stored deflate block.
const STORED_BLOCK: usize = 65535;

/// Writes gzip to `W`; [`GzipWriter::finish`] writes the last member and answers `W`.
pub struct GzipWriter<W: Write> {
    out: Option<W>,
    buf: Vec<u8>,
    /// Whether any member was written (an empty input still gets one, empty, member).
    wrote: bool,
}

impl<W: Write> GzipWriter<W> {
    pub fn new(out: W) -> Self {
        GzipWriter {
            out: Some(out),
            buf: Vec::with_capacity(CHUNK),
            wrote: false,
        }
    }

    /// Writes what is buffered as the last member and answers the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() || !self.wrote {
            self.member()?;
        }
        let mut out = self.out.take().expect("finished once");
        out.flush()?;
        Ok(out)
    }

    fn member(&mut self) -> io::Result<()> {
        let out = self.out.as_mut().expect("not finished");
        let data = &self.buf;
        if compressible(data) {
            write_deflated(out, data)?;
        } else {
            write_stored(out, data)?;
        }
        self.buf.clear();
        self.wrote = true;
        Ok(())
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = b.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() == CHUNK {
            self.member()?;
        }
        Ok(n)
    }

    /// Flushes the inner writer; a partly filled chunk stays buffered (members are only
    /// cut at chunk boundaries, so the output does not depend on how it was written).
    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("not finished").flush()
    }
}

/// Whether deflate shrinks samples from the start, the middle and the end of `data`.
fn compressible(data: &[u8]) -> bool {
    if data.len() <= SAMPLE * SAMPLES {
        return deflated_share(data) <= STORE_ABOVE;
    }
    let step = (data.len() - SAMPLE) / (SAMPLES - 1);
    let (mut inn, mut out) = (0usize, 0f64);
    for i in 0..SAMPLES {
        let s = &data[i * step..i * step + SAMPLE];
        inn += s.len();
        out += deflated_share(s) * s.len() as f64;
    }
    out / inn as f64 <= STORE_ABOVE
}

/// Deflated size over input size of `data` at the fast level.
fn deflated_share(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut c = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 64);
    if c.compress_vec(data, &mut out, FlushCompress::Finish)
        .is_err()
    {
        return 1.0;
    }
    out.len() as f64 / data.len() as f64
}

/// The 10-byte gzip header: no name, no time, "unknown" OS (as Go writes it: 255).
fn header(level_byte: u8) -> [u8; 10] {
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level_byte, 255]
}

fn trailer(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    let mut h = crc32fast::Hasher::new();
    h.update(data);
    out.write_all(&h.finalize().to_le_bytes())?;
    out.write_all(&(data.len() as u32).to_le_bytes())
}

/// One member of stored deflate blocks.
fn write_stored(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    out.write_all(&header(0))?;
    let mut blocks = data.chunks(STORED_BLOCK).peekable();
    if blocks.peek().is_none() {
        // An empty final stored block.
        out.write_all(&[1, 0, 0, 0xff, 0xff])?;
    }
    while let Some(b) = blocks.next() {
        let last = blocks.peek().is_none();
        let len = b.len() as u16;
        // BFINAL in bit 0, BTYPE 00 (stored); the rest of the byte is padding.
        out.write_all(&[u8::from(last)])?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&(!len).to_le_bytes())?;
        out.write_all(b)?;
    }
    trailer(out, data)
}

/// One member deflated at the fast level.
fn write_deflated(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    // XFL 4: the fastest algorithm was used.
    out.write_all(&header(4))?;
    let mut c = Compress::new(Compression::fast(), false);
    let mut buf = Vec::with_capacity(data.len() / 2 + 1024);
    let mut input = data;
    loop {
        let before_in = c.total_in();
        buf.clear();
        let status = c
            .compress_vec(input, &mut buf, FlushCompress::Finish)
            .map_err(io::Error::other)?;
        input = &input[(c.total_in() - before_in) as usize..];
        out.write_all(&buf)?;
        if status == flate2::Status::StreamEnd {
            break;
        }
        buf.reserve(buf.capacity().max(64 << 10));
    }
    trailer(out, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn gzip(data: &[u8], write_size: usize) -> Vec<u8> {
        let mut w = GzipWriter::new(Vec::new());
        for part in data.chunks(write_size.max(1)) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    fn random(n: usize) -> Vec<u8> {
        use rand::RngCore;
        let mut v = vec![0u8; n];
        rand::rng().fill_bytes(&mut v);
        v
    }

    #[test]
    fn what_goes_in_comes_out_whatever_the_sizes() {
        let text: Vec<u8> = (0..3 * CHUNK + 777).map(|i| b"abcdefgh\n"[i % 9]).collect();
        for data in [
            Vec::new(),
            b"x".to_vec(),
            random(STORED_BLOCK),
            random(STORED_BLOCK + 1),
            random(CHUNK),
            random(2 * CHUNK + 12345),
            text,
        ] {
            for ws in [1 << 16, 4096 + 7, CHUNK + 3] {
                assert_eq!(gunzip(&gzip(&data, ws)), data, "{} bytes", data.len());
            }
        }
    }

    #[test]
    fn random_data_is_stored_and_text_is_deflated() {
        let r = random(2 * CHUNK);
        let gz = gzip(&r, 1 << 16);
        // Stored: a few bytes of framing per 64 KiB, no more.
        assert!(gz.len() < r.len() + r.len() / 1000, "{}", gz.len());
        let text: Vec<u8> = (0..2 * CHUNK)
            .map(|i| b"0123456789abcdef\n"[i % 17])
            .collect();
        assert!(gzip(&text, 1 << 16).len() < text.len() / 20);
    }

    #[test]
    fn the_output_does_not_depend_on_how_it_was_written() {
        let mut data = random(CHUNK);
        data.extend((0..CHUNK).map(|i| (i % 7) as u8));
        assert_eq!(gzip(&data, 100), gzip(&data, 1 << 20));
    }

    #[test]
    fn system_gzip_reads_it() {
        let data: Vec<u8> = random(CHUNK + 5)
            .into_iter()
            .chain((0..CHUNK).map(|i| (i % 13) as u8))
            .collect();
        let gz = gzip(&data, 1 << 16);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gz");
        std::fs::write(&p, &gz).unwrap();
        let out = std::process::Command::new("gzip")
            .args(["-dc"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, data);
    }
}
