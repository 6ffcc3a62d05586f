//! The container's log: JSON lines like docker's json-file driver,
//! `{"log":"hello\n","stream":"stdout","time":"2024-05-01T12:34:56.123456789Z"}`,
//! one per line of output (a line longer than 16 KiB is cut into partial entries, which
//! carry no trailing newline), rotated by size.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::timefmt;

/// Output without a newline is written as a partial entry once this much has gathered.
const MAX_LINE: usize = 16 * 1024;

pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    /// Rotate before the file would grow beyond this (0: never).
    max_size: u64,
    /// Files kept, the current one included (`log`, `log.1`, ...).
    max_files: u32,
    failed: bool,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    File::options()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

impl LogFile {
    pub fn open(path: &Path, max_size: i64, max_files: u32) -> std::io::Result<LogFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            size,
            max_size: max_size.max(0) as u64,
            max_files: max_files.max(1),
            failed: false,
        })
    }

    /// Writes one entry; `data` is a whole line (with its newline) or a partial one.
    pub fn write_entry(&mut self, stream: &str, data: &[u8]) {
        let mut line = Vec::with_capacity(data.len() + 80);
        line.extend_from_slice(b"{\"log\":\"");
        escape_json(&String::from_utf8_lossy(data), &mut line);
        line.extend_from_slice(b"\",\"stream\":\"");
        line.extend_from_slice(stream.as_bytes());
        line.extend_from_slice(b"\",\"time\":\"");
        line.extend_from_slice(timefmt::rfc3339_nano(timefmt::now_ns()).as_bytes());
        line.extend_from_slice(b"\"}\n");
        if self.max_size > 0 && self.size > 0 && self.size + line.len() as u64 > self.max_size {
            if let Err(e) = self.rotate() {
                self.report(&format!("rotating {}: {e}", self.path.display()));
            }
        }
        match self.file.write_all(&line) {
            Ok(()) => {
                self.size += line.len() as u64;
                self.failed = false;
            }
            Err(e) => self.report(&format!("writing {}: {e}", self.path.display())),
        }
    }

    /// Reports a failure once per run of failures (a full disk must not flood stderr).
    fn report(&mut self, msg: &str) {
        if !self.failed {
            eprintln!("berth-shim: log: {msg}");
            self.failed = true;
        }
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.max_files <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let numbered = |i: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        for i in (1..self.max_files - 1).rev() {
            match std::fs::rename(numbered(i), numbered(i + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Splits one output stream into lines for the log.
#[derive(Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Feeds output; every complete line (or over-long partial) goes to `emit`.
    pub fn feed(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        while let Some(i) = data.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                emit(&data[..=i]);
            } else {
                self.partial.extend_from_slice(&data[..=i]);
                emit(&self.partial);
                self.partial.clear();
            }
            data = &data[i + 1..];
        }
        self.partial.extend_from_slice(data);
        while self.partial.len() >= MAX_LINE {
            let rest = self.partial.split_off(MAX_LINE);
            emit(&self.partial);
            self.partial = rest;
        }
        if self.partial.is_empty() {
            // Give back the memory of a long line.
            self.partial = Vec::new();
        }
    }

    /// The stream ended: what is left is a last partial entry.
    pub fn finish(&mut self, emit: impl FnOnce(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial);
        }
        self.partial = Vec::new();
    }
}

fn escape_json(s: &str, out: &mut Vec<u8>) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, |l| out.push(l.to_vec()));
        }
        s.finish(|l| out.push(l.to_vec()));
        out
    }

    #[test]
    fn splits_lines_across_chunks() {
        assert_eq!(
            lines(&[b"a\nb", b"c\n", b"d"]),
            vec![b"a\n".to_vec(), b"bc\n".to_vec(), b"d".to_vec()]
        );
    }

    #[test]
    fn cuts_long_lines() {
        let long = vec![b'x'; MAX_LINE + 10];
        let out = lines(&[&long, b"\n"]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), MAX_LINE);
        assert_eq!(out[1].len(), 11);
    }

    #[test]
    fn escapes_json() {
        let mut out = Vec::new();
        escape_json("a\"b\\c\n\u{1}é", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "a\\\"b\\\\c\\n\\u0001é");
    }

    #[test]
    fn rotates_and_keeps_max_files() {
        let dir = std::env::temp_dir().join(format!("berth-shim-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.json");
        let mut log = LogFile::open(&path, 200, 3).unwrap();
        for i in 0..20 {
            log.write_entry("stdout", format!("line {i}\n").as_bytes());
        }
        assert!(path.exists());
        assert!(dir.join("log.json.1").exists());
        assert!(dir.join("log.json.2").exists());
        assert!(!dir.join("log.json.3").exists());
        for p in ["log.json", "log.json.1", "log.json.2"] {
            assert!(std::fs::metadata(dir.join(p)).unwrap().len() <= 200);
        }
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("line 19\\n"), "{last}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
