//! Where a container's cgroup lives: `linux.cgroupsPath` resolved, as runc does, into one
//! directory per mounted hierarchy.
//!
//! - absolute (`/a/b`): from the root of each hierarchy;
//! - relative (`a/b`): under the cgroup the calling process is in, per hierarchy;
//! - absent: `/berth/<id>`.
//!
//! `..` components are resolved lexically and can never leave the hierarchy (or, for a
//! relative path, the caller's own cgroup).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::error::{FResult, Fault};
use crate::layout::{Layout, Mode};

/// The parent of cgroups created without a `cgroupsPath`.
pub const DEFAULT_PARENT: &str = "/berth";

/// A cgroup directory and the mountpoint of the hierarchy it lives in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dir {
    pub mount: PathBuf,
    pub path: PathBuf,
}

/// The cgroup's directory in each hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Placement {
    pub mode: Mode,
    /// v1 controller name → directory; co-mounted controllers share one directory.
    pub v1: BTreeMap<String, Dir>,
    /// The directory in the cgroup2 hierarchy: every controller on a pure v2 host, the
    /// controllers v1 does not bind on a hybrid host.
    pub v2: Option<Dir>,
}

/// The cgroups path to use: the requested one, normalized, or the default for `id`.
pub fn requested_path(cgroups_path: Option<&Path>, id: &str) -> FResult<PathBuf> {
    match cgroups_path {
        Some(p) if !p.as_os_str().is_empty() => {
            let s = p.to_string_lossy();
            if looks_like_systemd(&s) {
                return Err(Fault::invalid(format!(
                    "cgroupsPath {s:?} is in the systemd form (slice:prefix:name), which needs \
                     the systemd cgroup driver; berth manages cgroupfs directly: give a path \
                     such as /mygroup/{id}"
                )));
            }
            Ok(normalize(p))
        }
        _ => {
            if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                return Err(Fault::invalid(format!(
                    "container id {id:?} cannot name a cgroup (empty, '.', '..' or contains '/')"
                )));
            }
            Ok(Path::new(DEFAULT_PARENT).join(id))
        }
    }
}

fn looks_like_systemd(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 3 && !parts[0].contains('/') && parts[0].ends_with(".slice")
}

/// Lexical clean-up: drops `.` and empty components, resolves `..` without going above the
/// start. Keeps the path absolute or relative as given.
pub fn normalize(p: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let mut out = if p.has_root() {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    out.extend(parts);
    out
}

impl Placement {
    /// Resolves `path` (from `requested_path`) on the given layout. `own` gives the caller's
    /// cgroup per hierarchy; it is only consulted for relative paths.
    pub fn resolve(
        layout: &Layout,
        path: &Path,
        own: impl FnOnce() -> FResult<OwnCgroups>,
    ) -> FResult<Placement> {
        let own = if path.is_absolute() {
            None
        } else {
            Some(own()?)
        };
        let place = |mount: &Path, root: &Path, own_path: Option<&str>| -> Dir {
            let base = match own_path {
                None => PathBuf::new(),
                Some(o) => {
                    let o = Path::new(o);
                    o.strip_prefix(root).unwrap_or(o).to_path_buf()
                }
            };
            let rel = base.join(path.strip_prefix("/").unwrap_or(path));
            Dir {
                mount: mount.to_path_buf(),
                path: mount.join(rel.strip_prefix("/").unwrap_or(&rel)),
            }
        };
        let mut v1 = BTreeMap::new();
        if layout.mode != Mode::Unified {
            for m in &layout.v1 {
                let own_path = match &own {
                    None => None,
                    Some(o) => Some(o.v1_path(&m.controllers).ok_or_else(|| {
                        Fault::invalid(format!(
                            "/proc/self/cgroup has no entry for the {} hierarchy",
                            m.controllers.join(",")
                        ))
                    })?),
                };
                let dir = place(&m.mountpoint, &m.root, own_path);
                for c in &m.controllers {
                    v1.insert(c.clone(), dir.clone());
                }
            }
        }
        let v2 = match &layout.v2 {
            None => None,
            Some(m) => {
                let own_path = match &own {
                    None => None,
                    Some(o) => Some(o.v2.as_deref().ok_or_else(|| {
                        Fault::invalid("/proc/self/cgroup has no cgroup2 entry (0::)")
                    })?),
                };
                Some(place(&m.mountpoint, &m.root, own_path))
            }
        };
        Ok(Placement {
            mode: layout.mode,
            v1,
            v2,
        })
    }

    /// Every distinct directory: the v1 ones, then the cgroup2 one.
    pub fn dirs(&self) -> Vec<&Dir> {
        let mut out: Vec<&Dir> = Vec::new();
        for d in self.v1.values() {
            if !out.iter().any(|o| o.path == d.path) {
                out.push(d);
            }
        }
        out.extend(self.v2.iter());
        out
    }
}

/// The caller's own cgroups, from `/proc/self/cgroup`.
#[derive(Debug, Default)]
pub struct OwnCgroups {
    /// (controllers, path) of each v1 hierarchy.
    pub v1: Vec<(Vec<String>, String)>,
    pub v2: Option<String>,
}

impl OwnCgroups {
    pub fn read() -> FResult<OwnCgroups> {
        let file = Path::new("/proc/self/cgroup");
        let text = std::fs::read_to_string(file).map_err(|e| Fault::io("reading", file, e))?;
        Ok(OwnCgroups::parse(&text))
    }

    pub fn parse(text: &str) -> OwnCgroups {
        let mut own = OwnCgroups::default();
        for line in text.lines() {
            let mut f = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if ctrls.is_empty() {
                own.v2 = Some(path.to_string());
            } else {
                own.v1.push((
                    ctrls.split(',').map(str::to_string).collect(),
                    path.to_string(),
                ));
            }
        }
        own
    }

    fn v1_path(&self, controllers: &[String]) -> Option<&str> {
        self.v1
            .iter()
            .find(|(cs, _)| controllers.iter().any(|c| cs.contains(c)))
            .map(|(_, p)| p.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hybrid() -> Layout {
        Layout::parse(
            "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        )
        .unwrap()
    }

    const OWN: &str = "4:memory:/process_api/abc\n1:cpu:/\n9:name=systemd:/\n0::/user.slice\n";

    #[test]
    fn default_and_absolute() {
        assert_eq!(requested_path(None, "c1").unwrap(), Path::new("/berth/c1"));
        let p = requested_path(Some(Path::new("/a/../../b/./c")), "x").unwrap();
        assert_eq!(p, Path::new("/b/c"));
        let pl = Placement::resolve(&hybrid(), &p, || panic!("not needed")).unwrap();
        assert_eq!(pl.v1["memory"].path, Path::new("/sys/fs/cgroup/memory/b/c"));
        assert_eq!(
            pl.v2.as_ref().unwrap().path,
            Path::new("/sys/fs/cgroup/unified/b/c")
        );
        assert_eq!(pl.dirs().len(), 3);
    }

    #[test]
    fn relative_is_under_own_cgroup_per_hierarchy() {
        let p = requested_path(Some(Path::new("../../x/y")), "id").unwrap();
        assert_eq!(
            p,
            Path::new("x/y"),
            "'..' cannot climb out of the own cgroup"
        );
        let pl = Placement::resolve(&hybrid(), &p, || Ok(OwnCgroups::parse(OWN))).unwrap();
        assert_eq!(
            pl.v1["memory"].path,
            Path::new("/sys/fs/cgroup/memory/process_api/abc/x/y")
        );
        assert_eq!(pl.v1["cpu"].path, Path::new("/sys/fs/cgroup/cpu/x/y"));
        assert_eq!(
            pl.v2.unwrap().path,
            Path::new("/sys/fs/cgroup/unified/user.slice/x/y")
        );
    }

    #[test]
    fn bad_paths_and_ids() {
        assert!(requested_path(None, "a/b").is_err());
        assert!(requested_path(None, "..").is_err());
        let e = requested_path(Some(Path::new("system.slice:berth:c1")), "c1").unwrap_err();
        assert!(format!("{e:?}").contains("systemd"));
    }

    #[test]
    fn pure_v2() {
        let l = Layout::parse("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n").unwrap();
        let pl = Placement::resolve(&l, Path::new("/berth/z"), || panic!()).unwrap();
        assert!(pl.v1.is_empty());
        assert_eq!(pl.v2.unwrap().path, Path::new("/sys/fs/cgroup/berth/z"));
    }
}
