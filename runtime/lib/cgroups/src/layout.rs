//! The host's cgroup layout: which hierarchies are mounted where, detected once per process
//! from a single read of `/proc/self/mountinfo`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::Fault;

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only cgroup v1 hierarchies.
    Legacy,
    /// cgroup v1 controllers plus a cgroup2 mount holding the controllers v1 does not bind
    /// (often none, sometimes a few such as hugetlb).
    Hybrid,
    /// Pure cgroup v2: one hierarchy with every controller.
    Unified,
}

/// The v1 controllers this crate knows. Named hierarchies (`name=systemd`) are not controllers.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
];

/// One mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    /// Controllers bound to this hierarchy (`cpu`, or `cpu` and `cpuacct` when co-mounted).
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    /// The hierarchy path seen at the mountpoint (`/` unless a subtree is bind-mounted).
    pub root: PathBuf,
}

/// The cgroup2 mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Mount {
    pub mountpoint: PathBuf,
    pub root: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub mode: Mode,
    pub v1: Vec<V1Mount>,
    pub v2: Option<V2Mount>,
}

impl Layout {
    /// The host layout, parsed on first use and cached for the life of the process.
    pub fn host() -> Result<&'static Layout, Fault> {
        static HOST: OnceLock<Result<Layout, String>> = OnceLock::new();
        HOST.get_or_init(|| {
            let text = std::fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
            Layout::parse(&text)
        })
        .as_ref()
        .map_err(|msg| Fault::Invalid(msg.clone()))
    }

    /// Builds the layout from the text of a mountinfo file.
    pub fn parse(mountinfo: &str) -> Result<Layout, String> {
        let mut v1: Vec<V1Mount> = Vec::new();
        let mut v2 = None;
        for line in mountinfo.lines() {
            let Some(entry) = berth_fs::mountinfo::parse_line(line) else {
                continue;
            };
            match entry.fstype.as_str() {
                "cgroup" => {
                    let controllers: Vec<String> = entry
                        .super_options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o))
                        .map(str::to_string)
                        .collect();
                    let known = |c: &String| v1.iter().any(|m| m.controllers.contains(c));
                    if controllers.is_empty() || controllers.iter().any(known) {
                        continue; // a named hierarchy, or a second mount of one we have
                    }
                    v1.push(V1Mount {
                        controllers,
                        mountpoint: entry.mount_point,
                        root: entry.root,
                    });
                }
                "cgroup2" if v2.is_none() => {
                    v2 = Some(V2Mount {
                        mountpoint: entry.mount_point,
                        root: entry.root,
                    });
                }
                _ => {}
            }
        }
        let mode = match (v1.is_empty(), v2.is_some()) {
            (false, false) => Mode::Legacy,
            (false, true) => Mode::Hybrid,
            (true, true) => Mode::Unified,
            (true, false) => return Err("no cgroup filesystem is mounted".into()),
        };
        Ok(Layout { mode, v1, v2 })
    }

    /// The v1 hierarchy holding `controller`.
    #[cfg(test)]
    pub fn v1_mount(&self, controller: &str) -> Option<&V1Mount> {
        self.v1
            .iter()
            .find(|m| m.controllers.iter().any(|c| c == controller))
    }

    /// The controllers the cgroup2 hierarchy offers at its root (read when asked).
    pub fn v2_controllers(&self) -> Vec<String> {
        static CACHE: OnceLock<Vec<String>> = OnceLock::new();
        let Some(v2) = &self.v2 else {
            return Vec::new();
        };
        CACHE
            .get_or_init(|| read_controller_list(&v2.mountpoint.join("cgroup.controllers")))
            .clone()
    }
}

/// Parses a space-separated controller list file (`cgroup.controllers`, `cgroup.subtree_control`).
pub fn read_controller_list(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_layout() {
        let l = Layout::parse(HYBRID).unwrap();
        assert_eq!(l.mode, Mode::Hybrid);
        assert_eq!(l.v1.len(), 3, "name=systemd is not a controller hierarchy");
        assert_eq!(
            l.v1_mount("cpuacct").unwrap().mountpoint,
            Path::new("/sys/fs/cgroup/cpuacct")
        );
        assert!(l.v1_mount("pids").is_none());
        assert_eq!(
            l.v2.unwrap().mountpoint,
            PathBuf::from("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn unified_layout() {
        let l = Layout::parse(
            "25 20 0:22 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
        )
        .unwrap();
        assert_eq!(l.mode, Mode::Unified);
        assert!(l.v1.is_empty());
    }

    #[test]
    fn comounted_and_escaped() {
        let l = Layout::parse(
            "1 0 0:1 /sub /mnt/my\\040cg rw - cgroup cgroup rw,cpu,cpuacct\n\
             2 0 0:1 / /other rw - cgroup cgroup rw,cpu,cpuacct\n",
        )
        .unwrap();
        assert_eq!(l.mode, Mode::Legacy);
        assert_eq!(
            l.v1.len(),
            1,
            "a second mount of the same hierarchy is ignored"
        );
        let m = l.v1_mount("cpu").unwrap();
        assert_eq!(m.controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(m.mountpoint, Path::new("/mnt/my cg"));
        assert_eq!(m.root, Path::new("/sub"));
    }

    #[test]
    fn no_cgroups() {
        assert!(Layout::parse("1 0 0:1 / / rw - ext4 /dev/sda rw\n").is_err());
    }
}
