//! A cgroup parent of a test's own (e.g. `/rtlc-1234-5`), for containers' `cgroupsPath`,
//! removed from every hierarchy when dropped: a runtime removes a container's cgroup on
//! delete, but not parents it did not create in the same process.

use std::path::Path;

pub struct CgroupParent {
    name: String,
}

impl CgroupParent {
    pub fn new(prefix: &str) -> CgroupParent {
        CgroupParent {
            name: crate::unique(prefix),
        }
    }

    /// The parent's name (no slashes).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/<parent>/<leaf>`, for `linux.cgroupsPath`.
    pub fn path(&self, leaf: &str) -> String {
        format!("/{}/{leaf}", self.name)
    }
}

fn remove_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for h in rd.flatten() {
            remove_tree(&h.path().join(&self.name));
        }
        remove_tree(&Path::new("/sys/fs/cgroup").join(&self.name));
    }
}
