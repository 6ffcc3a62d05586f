//! Reading and writing cgroup files, with errors that name the file and the value.

use std::io::Write;
use std::path::Path;

use crate::error::{FResult, Fault};

/// Writes `value` to `dir/file` (one write, as cgroupfs expects).
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> FResult<()> {
    let path = dir.join(file);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| Fault::io(format!("opening to write {value:?} to"), &path, e))?;
    f.write_all(value.as_bytes())
        .map_err(|e| Fault::io(format!("writing {value:?} to"), &path, e))
}

/// Writes each value to `dir/file` with its own write(2) on one open file (cgroup files
/// that take one entry per write, such as devices.allow).
pub(crate) fn write_each(dir: &Path, file: &str, values: &[String]) -> FResult<()> {
    let path = dir.join(file);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| Fault::io("opening to write", &path, e))?;
    for value in values {
        f.write_all(value.as_bytes())
            .map_err(|e| Fault::io(format!("writing {value:?} to"), &path, e))?;
    }
    Ok(())
}

pub(crate) fn read(dir: &Path, file: &str) -> FResult<String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|e| Fault::io("reading", &path, e))
}

/// Reads a file holding one number; `max` reads as `u64::MAX`.
pub(crate) fn read_u64(dir: &Path, file: &str) -> FResult<u64> {
    let text = read(dir, file)?;
    parse_u64(text.trim())
        .ok_or_else(|| Fault::invalid(format!("{}: not a number: {text:?}", file)))
}

/// Like `read_u64`, but a missing file reads as None.
pub(crate) fn read_u64_opt(dir: &Path, file: &str) -> FResult<Option<u64>> {
    match read_u64(dir, file) {
        Ok(v) => Ok(Some(v)),
        Err(f) if f.is_not_found() => Ok(None),
        Err(f) => Err(f),
    }
}

pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        return Some(u64::MAX);
    }
    // v1 reports "unlimited" limits as a large signed-looking number; -1 appears in some files
    s.parse::<u64>()
        .ok()
        .or_else(|| s.parse::<i64>().ok().map(|v| v as u64))
}

/// Parses `key value` lines (memory.stat, cpu.stat, memory.events, ...).
pub(crate) fn parse_keyed(text: &str) -> Vec<(&str, u64)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k, parse_u64(v.trim())?))
        })
        .collect()
}

/// Reads a keyed file and returns the value of `key` (None if the file or key is missing).
pub(crate) fn read_key(dir: &Path, file: &str, key: &str) -> FResult<Option<u64>> {
    match read(dir, file) {
        Ok(text) => Ok(parse_keyed(&text)
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)),
        Err(f) if f.is_not_found() => Ok(None),
        Err(f) => Err(f),
    }
}

pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("max"), Some(u64::MAX));
        assert_eq!(parse_u64("12"), Some(12));
        assert_eq!(parse_u64("-1"), Some(u64::MAX));
        assert_eq!(parse_u64("x"), None);
    }

    #[test]
    fn keyed() {
        let kv = parse_keyed("nr_periods 3\nnr_throttled 1\nbogus\nthrottled_time 7\n");
        assert_eq!(
            kv,
            vec![
                ("nr_periods", 3),
                ("nr_throttled", 1),
                ("throttled_time", 7)
            ]
        );
    }

    #[test]
    fn write_names_file_and_value() {
        let d = tempfile::tempdir().unwrap();
        let err = write(d.path(), "nope/x", "42").unwrap_err();
        let msg = err.at(Path::new("/c")).to_string();
        assert!(msg.contains("\"42\"") && msg.contains("nope/x"), "{msg}");
        std::fs::write(d.path().join("f"), "old").unwrap();
        write(d.path(), "f", "new").unwrap();
        assert_eq!(read(d.path(), "f").unwrap(), "new");
    }
}
