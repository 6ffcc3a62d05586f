//! `/proc/<pid>/mountinfo` parsed: one [`MountInfo`] per line, paths with their octal
//! escapes (`\040` for a space, `\011` tab, `\012` newline, `\134` backslash) decoded to
//! the bytes they stand for.
//!
//! A line is `id parent major:minor root mount-point options [optional...] - fstype source
//! super-options` (proc(5)); a line that does not have that shape is skipped.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One mount, as a mountinfo line describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u32,
    pub parent: u32,
    /// `major:minor` of the filesystem's device.
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem mounted here (a bind mount's source within it).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
    /// The optional fields: propagation (`shared:N`, `master:N`, `propagate_from:N`,
    /// `unbindable`).
    pub optional: Vec<String>,
    pub fstype: String,
    /// The mount source, escapes decoded (`none` when there is none).
    pub source: String,
    /// Per-superblock options (`rw,cpu,cpuacct`, `lowerdir=...`).
    pub super_options: String,
}

/// Undoes mountinfo's octal escapes (`\ooo`); anything else is kept as it is.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b[i] == b'\\'
            && b.len() >= i + 4
            && b[i + 1] <= b'3'
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c));
        if octal {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn path(s: &str) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(s)))
}

/// Parses one line; None when it lacks a field.
pub fn parse_line(line: &str) -> Option<MountInfo> {
    let (pre, post) = line.split_once(" - ")?;
    let mut f = pre.split(' ');
    let id = f.next()?.parse().ok()?;
    let parent = f.next()?.parse().ok()?;
    let (major, minor) = f.next()?.split_once(':')?;
    let (major, minor) = (major.parse().ok()?, minor.parse().ok()?);
    let root = path(f.next()?);
    let mount_point = path(f.next()?);
    let options = f.next()?.to_string();
    let optional = f.filter(|o| !o.is_empty()).map(str::to_string).collect();
    let mut p = post.split(' ');
    let fstype = p.next().filter(|t| !t.is_empty())?.to_string();
    let source = String::from_utf8_lossy(&unescape(p.next()?)).into_owned();
    let super_options = p.next().unwrap_or("").to_string();
    Some(MountInfo {
        id,
        parent,
        major,
        minor,
        root,
        mount_point,
        options,
        optional,
        fstype,
        source,
        super_options,
    })
}

/// Parses a mountinfo text; lines without the fields are skipped.
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

/// The mounts of the process `pid` (its mount namespace).
pub fn read(pid: u32) -> io::Result<Vec<MountInfo>> {
    read_file(&format!("/proc/{pid}/mountinfo"))
}

/// The mounts of this process.
pub fn read_self() -> io::Result<Vec<MountInfo>> {
    read_file("/proc/self/mountinfo")
}

fn read_file(file: &str) -> io::Result<Vec<MountInfo>> {
    let text = std::fs::read(file)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {file}: {e}")))?;
    Ok(parse(&String::from_utf8_lossy(&text)))
}

/// The mount points of this process at or below `dir`, in mountinfo's order (parents
/// before what is mounted on them); empty when mountinfo cannot be read.
pub fn mounted_below(dir: &std::path::Path) -> Vec<PathBuf> {
    read_self()
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| p.starts_with(dir))
        .collect()
}
