//! How much a volume holds: the apparent size of everything under its directory, each
//! hard-linked file counted once, symlinks not followed (dockerd's measure).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub fn of_dir(dir: &Path) -> std::io::Result<i64> {
    let mut seen = HashSet::new();
    let mut total = 0i64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            // A directory removed meanwhile (a running container writes there).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d != dir => continue,
            Err(e) => return Err(e),
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
                continue;
            }
            if m.nlink() > 1 && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total += m.len() as i64;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("a")).unwrap();
        std::fs::write(d.path().join("a/f"), vec![0u8; 1000]).unwrap();
        std::fs::hard_link(d.path().join("a/f"), d.path().join("g")).unwrap();
        std::fs::write(d.path().join("h"), b"12345").unwrap();
        std::os::unix::fs::symlink("/usr", d.path().join("l")).unwrap();
        let n = of_dir(d.path()).unwrap();
        // The symlink counts its own length, not what it points to.
        assert_eq!(n, 1005 + 4);
    }
}
