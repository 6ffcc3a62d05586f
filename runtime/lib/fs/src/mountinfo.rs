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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    const HOST: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 23 0:26 / /sys/fs/cgroup/cpu rw,nosuid shared:10 master:3 - cgroup cgroup rw,cpu
40 22 8:1 /srv/a\\040b /mnt/x\\040y rw - ext4 /dev/sda1 rw
41 22 0:50 / /mnt/tab\\011nl\\012back\\134slash ro - tmpfs my\\040src rw,size=64k
";

    #[test]
    fn every_field_of_a_line() {
        let m = parse_line(HOST.lines().next().unwrap()).unwrap();
        assert_eq!(
            m,
            MountInfo {
                id: 22,
                parent: 1,
                major: 8,
                minor: 1,
                root: "/".into(),
                mount_point: "/".into(),
                options: "rw,relatime".into(),
                optional: vec!["shared:1".into()],
                fstype: "ext4".into(),
                source: "/dev/sda1".into(),
                super_options: "rw,errors=remount-ro".into(),
            }
        );
    }

    #[test]
    fn optional_fields_none_one_or_many() {
        let m = parse(HOST);
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].optional, vec!["shared:10", "master:3"]);
        assert_eq!(m[1].super_options, "rw,cpu");
        assert!(m[2].optional.is_empty());
        assert_eq!(m[2].options, "rw");
        let m = parse_line("5 4 0:1 / /p rw propagate_from:2 unbindable - proc proc rw").unwrap();
        assert_eq!(m.optional, vec!["propagate_from:2", "unbindable"]);
    }

    #[test]
    fn escapes_are_decoded() {
        let m = parse(HOST);
        assert_eq!(m[2].root, PathBuf::from("/srv/a b"));
        assert_eq!(m[2].mount_point, PathBuf::from("/mnt/x y"));
        assert_eq!(m[3].mount_point, PathBuf::from("/mnt/tab\tnl\nback\\slash"));
        assert_eq!(m[3].source, "my src");
        assert_eq!(m[3].options, "ro");
    }

    #[test]
    fn what_is_not_an_escape_is_kept() {
        assert_eq!(unescape(r"/plain"), b"/plain");
        assert_eq!(unescape(r"/a\9b"), br"/a\9b");
        assert_eq!(unescape(r"/end\04"), br"/end\04");
        assert_eq!(unescape(r"/end\"), br"/end\");
        // Above \377 is no byte: kept as text, not wrapped around.
        assert_eq!(unescape(r"/x\777"), br"/x\777");
        assert_eq!(unescape(r"\134\134"), br"\\");
        assert_eq!(unescape(r"\1341"), br"\1");
    }

    #[test]
    fn paths_keep_bytes_that_are_not_utf8() {
        let m = parse_line("1 0 0:1 / /mnt/\\377x rw - tmpfs t rw").unwrap();
        assert_eq!(m.mount_point.as_os_str().as_bytes(), b"/mnt/\xffx");
        let m = parse_line("1 0 0:1 / /mnt/caf\u{e9} rw - tmpfs t rw").unwrap();
        assert_eq!(m.mount_point, PathBuf::from("/mnt/caf\u{e9}"));
    }

    #[test]
    fn bad_lines_are_skipped() {
        let text = "\
\n\
garbage\n\
1 0 0:1 / /no-separator rw tmpfs t rw\n\
x 0 0:1 / /bad-id rw - tmpfs t rw\n\
1 y 0:1 / /bad-parent rw - tmpfs t rw\n\
1 0 01 / /bad-dev rw - tmpfs t rw\n\
1 0 0:1 / /no-options - tmpfs t rw\n\
1 0 0:1 / /no-fstype rw - \n\
1 0 0:1 / /no-source rw - tmpfs\n\
1 0 0:1 / /good rw - tmpfs t\n\
";
        let m = parse(text);
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0].mount_point, PathBuf::from("/good"));
        assert_eq!(m[0].super_options, "");
    }

    #[test]
    fn a_mount_point_named_like_the_separator() {
        // " - " inside a path is escaped as "\040-\040", so the first " - " is the separator.
        let m = parse_line("1 0 0:1 / /a\\040-\\040b rw - tmpfs t rw").unwrap();
        assert_eq!(m.mount_point, PathBuf::from("/a - b"));
        assert_eq!(m.fstype, "tmpfs");
    }

    #[test]
    fn this_process_mounts() {
        let m = read_self().unwrap();
        assert!(
            m.iter().any(|m| m.mount_point == std::path::Path::new("/")),
            "{m:?}"
        );
        assert!(m.iter().any(|m| m.fstype == "proc"));
        assert_eq!(read(std::process::id()).unwrap(), m);
        let below = mounted_below(std::path::Path::new("/proc"));
        assert!(below.iter().all(|p| p.starts_with("/proc")));
        assert!(below.contains(&PathBuf::from("/proc")));
        let e = read(u32::MAX).unwrap_err();
        assert!(e.to_string().contains("/proc/4294967295/mountinfo"), "{e}");
    }
}
