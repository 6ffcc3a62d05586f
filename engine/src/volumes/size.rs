//! How much a volume holds: the apparent size of everything under its directory, each
//! hard-linked file counted once, symlinks not followed (dockerd's measure).

use std::path::Path;

pub fn of_dir(dir: &Path) -> std::io::Result<i64> {
    berth_image::fsutil::apparent_usage(dir).map(|(bytes, _)| bytes as i64)
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
