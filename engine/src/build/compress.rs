//! The compression of a build context, told by its first bytes as dockerd tells it:
//! gzip, bzip2 or xz (anything else is read as a plain tar). gzip is decoded in process;
//! bzip2 and xz through Debian's `bzip2` and `xz` programs (dockerd too runs `xz`), fed
//! from a thread so the context streams through without being held in memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

const GZIP: &[u8] = &[0x1f, 0x8b];
const BZIP2: &[u8] = b"BZh";
const XZ: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];

/// How a stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
}

/// The compression whose magic `head` starts with.
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(GZIP) {
        Compression::Gzip
    } else if head.starts_with(BZIP2) {
        Compression::Bzip2
    } else if head.starts_with(XZ) {
        Compression::Xz
    } else {
        Compression::None
    }
}

/// `input` decompressed (or as it is, when it is not compressed).
pub fn decompressed<R: Read + Send + 'static>(input: R) -> Result<Box<dyn Read>> {
    let mut r = BufReader::new(input);
    let head = r
        .fill_buf()
        .map_err(|e| Error::invalid(format!("reading the build context: {e}")))?;
    Ok(match detect(head) {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(Filter::spawn("bzip2", &["-d", "-c", "-q"], r)?),
        Compression::Xz => Box::new(Filter::spawn("xz", &["-d", "-c", "-q"], r)?),
    })
}

/// A decompressing program: its input written by a thread, its output read here. A
/// failure of the program is an error of the last read.
struct Filter {
    program: &'static str,
    child: Child,
    stdout: ChildStdout,
    feeder: Option<JoinHandle<std::io::Result<()>>>,
}

impl Filter {
    fn spawn<R: Read + Send + 'static>(
        program: &'static str,
        args: &[&str],
        mut input: R,
    ) -> Result<Filter> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                Error::internal(format!(
                    "cannot decompress the build context: running {program}: {e} (install Debian's {program} package)"
                ))
            })?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::internal(format!("{program} has no pipes")));
        };
        let feeder = std::thread::spawn(move || {
            std::io::copy(&mut input, &mut stdin)?;
            stdin.flush()
        });
        Ok(Filter {
            program,
            child,
            stdout,
            feeder: Some(feeder),
        })
    }

    /// At the end of the output: the program's and the feeder's outcome.
    fn finish(&mut self) -> std::io::Result<()> {
        let status = self.child.wait()?;
        let fed = match self.feeder.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the feeding thread panicked"))),
            None => Ok(()),
        };
        if !status.success() {
            return Err(std::io::Error::other(format!(
                "{} could not decompress the build context ({status})",
                self.program
            )));
        }
        fed
    }
}

impl Read for Filter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() && self.feeder.is_some() {
            self.finish()?;
        }
        Ok(n)
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        if self.feeder.is_some() {
            // Stopped early (a bad tar): end the program; its input pipe then breaks,
            // which ends the feeder.
            let _ = self.child.kill();
            let _ = self.child.wait();
            if let Some(h) = self.feeder.take() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(program: &str, data: &[u8]) -> Vec<u8> {
        let mut c = Command::new(program)
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the compressor");
        c.stdin.take().unwrap().write_all(data).unwrap();
        c.wait_with_output().unwrap().stdout
    }

    #[test]
    fn magic_numbers_are_told_apart() {
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(detect(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(
            detect(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]),
            Compression::Xz
        );
        assert_eq!(detect(b"Dockerfile\0"), Compression::None);
        assert_eq!(detect(b""), Compression::None);
    }

    #[test]
    fn bzip2_and_xz_streams_are_decoded() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for program in ["bzip2", "xz"] {
            let packed = compress(program, &data);
            let mut out = Vec::new();
            decompressed(std::io::Cursor::new(packed))
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{program}");
            // A damaged stream is an error, not a short read.
            let mut bad = compress(program, &data);
            bad.truncate(bad.len() / 2);
            let mut out = Vec::new();
            let r = decompressed(std::io::Cursor::new(bad))
                .unwrap()
                .read_to_end(&mut out);
            assert!(
                r.is_err(),
                "{program}: a truncated stream read as {} bytes",
                out.len()
            );
        }
    }
}
