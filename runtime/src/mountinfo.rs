//! Parsing /proc/self/mountinfo (the fields the runtime needs).

use std::path::PathBuf;

pub struct MountInfo {
    pub mount_point: PathBuf,
    /// Per-mount options, then the optional fields (`shared:N`, `master:N`, ...).
    pub optional: Vec<String>,
    pub fstype: String,
}

/// Undoes the octal escapes (`\040` for a space) of mountinfo paths.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            let p: Vec<&str> = post.split(' ').collect();
            if f.len() < 6 || p.len() < 3 {
                return None;
            }
            Some(MountInfo {
                mount_point: PathBuf::from(unescape(f[4])),
                optional: f[6..].iter().map(|s| s.to_string()).collect(),
                fstype: p[0].to_string(),
            })
        })
        .collect()
}

pub fn read_self() -> Vec<MountInfo> {
    parse(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses() {
        let t = "30 23 0:26 / /sys/fs/cgroup/cpu rw,nosuid shared:10 - cgroup cgroup rw,cpu\n\
                 40 1 8:1 /a\\040b /mnt/x\\040y rw - ext4 /dev/sda1 rw\n";
        let m = super::parse(t);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].fstype, "cgroup");
        assert_eq!(m[0].optional, vec!["shared:10"]);
        assert_eq!(m[1].mount_point.to_str(), Some("/mnt/x y"));
    }
}
