//! `exec --cgroup [<controllers>:]<path>`: the exec'd process joins a sub-cgroup of the
//! container (which must exist) instead of the container's own cgroup. Without a
//! controller the path applies to every hierarchy; `cpu,cpuacct:path` to those
//! controllers' hierarchies only (given once each), the others keep the container's cgroup.

use crate::error::{bail, Result};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Sub-cgroup path per v1 controller name; "" is every hierarchy.
#[derive(Debug, Default, PartialEq)]
pub struct SubCgroups(BTreeMap<String, String>);

/// Parses the `--cgroup` values. A path without a controller must be the only value.
pub fn parse(values: &[String]) -> Result<SubCgroups> {
    let mut out = BTreeMap::new();
    for v in values {
        let (controllers, path) = match v.split_once(':') {
            None if values.len() == 1 => (vec![String::new()], v.as_str()),
            None => bail!(
                "exec --cgroup {v:?}: with several --cgroup, each needs a <controller>: prefix"
            ),
            Some((_, p)) if p.contains(':') => {
                bail!("exec --cgroup {v:?}: use [<controller>[,<controller>...]:]<path>")
            }
            Some((c, p)) => (c.split(',').map(str::to_string).collect(), p),
        };
        if Path::new(path)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            bail!(
                "exec --cgroup {v:?}: the path must stay inside the container's cgroup (no \"..\")"
            );
        }
        for c in controllers {
            if c.is_empty() && v.contains(':') {
                bail!("exec --cgroup {v:?}: empty controller name");
            }
            if out.insert(c.clone(), path.to_string()).is_some() {
                bail!("exec --cgroup: controller {c} given more than once");
            }
        }
    }
    Ok(SubCgroups(out))
}

/// The directories the process joins, given the container's cgroup directory per
/// hierarchy (`dirs`: v1 controller names, "" for cgroup2): each hierarchy a path applies
/// to, with that path under the container's directory (on a hybrid host the cgroup2 one
/// only if the container has a cgroup2 directory). A controller the container has no
/// hierarchy for is an error.
pub fn targets(dirs: &BTreeMap<String, PathBuf>, sub: &SubCgroups) -> Result<Vec<PathBuf>> {
    let v1 = dirs.keys().any(|k| !k.is_empty());
    for c in sub.0.keys().filter(|c| !c.is_empty()) {
        if !v1 {
            bail!("exec --cgroup {c}:...: cgroup v2 has one hierarchy: give the path without a controller");
        }
        if !dirs.contains_key(c) {
            bail!("exec --cgroup {c}:...: the container has no {c} controller");
        }
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for (controller, dir) in dirs {
        let Some(path) = sub.0.get(controller).or_else(|| sub.0.get("")) else {
            continue;
        };
        // A hybrid host's cgroup2 directory exists only when the container has limits there.
        if controller.is_empty() && v1 && !dir.is_dir() {
            continue;
        }
        let target = dir.join(path.trim_start_matches('/'));
        if !out.contains(&target) {
            out.push(target);
        }
    }
    Ok(out)
}

/// Where an exec'd process goes: the container's cgroup, then the `--cgroup` targets.
pub struct Placement<'a> {
    pub container: &'a berth_cgroups::Cgroup,
    pub sub: &'a [PathBuf],
}

impl Placement<'_> {
    /// Moves the calling (single-threaded) process there.
    pub fn join_self(&self) -> Result<()> {
        self.container
            .join_self()
            .map_err(|e| format!("joining the container's cgroup: {e}"))?;
        join(self.sub)
    }
}

/// Moves the calling process into each target; a missing one is named.
fn join(targets: &[PathBuf]) -> Result<()> {
    for t in targets {
        if !t.is_dir() {
            bail!(
                "exec --cgroup: {} does not exist (create the sub-cgroup first)",
                t.display()
            );
        }
        if let Err(e) = std::fs::write(t.join("cgroup.procs"), "0") {
            bail!("exec --cgroup: joining {}: {e}", t.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn hybrid() -> BTreeMap<String, PathBuf> {
        [
            ("cpu", "/cg/cpu,cpuacct/c"),
            ("cpuacct", "/cg/cpu,cpuacct/c"),
            ("memory", "/cg/memory/c"),
            ("pids", "/cg/pids/c"),
            ("", "/cg/unified/c"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
        .collect()
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn a_plain_path_applies_to_every_hierarchy_once() {
        let s = parse(&vals(&["/sub"])).unwrap();
        assert_eq!(
            targets(&hybrid(), &s).unwrap(),
            paths(&[
                "/cg/cpu,cpuacct/c/sub",
                "/cg/memory/c/sub",
                "/cg/pids/c/sub"
            ])
        );
    }

    #[test]
    fn controller_prefixes_pick_hierarchies() {
        let s = parse(&vals(&["memory,pids:a/b", "cpu:x"])).unwrap();
        assert_eq!(
            targets(&hybrid(), &s).unwrap(),
            paths(&["/cg/cpu,cpuacct/c/x", "/cg/memory/c/a/b", "/cg/pids/c/a/b"])
        );
        let e = targets(&hybrid(), &parse(&vals(&["rdma:x"])).unwrap()).unwrap_err();
        assert_eq!(
            e.0,
            "exec --cgroup rdma:...: the container has no rdma controller"
        );
        let v2: BTreeMap<_, _> = [(String::new(), PathBuf::from("/cg/c"))].into();
        assert_eq!(
            targets(&v2, &parse(&vals(&["s"])).unwrap()).unwrap(),
            paths(&["/cg/c/s"])
        );
        assert!(targets(&v2, &parse(&vals(&["memory:s"])).unwrap()).is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let err = |v: &[&str]| parse(&vals(v)).unwrap_err().0;
        assert_eq!(
            err(&["a", "memory:b"]),
            "exec --cgroup \"a\": with several --cgroup, each needs a <controller>: prefix"
        );
        assert_eq!(
            err(&["memory:a", "memory,pids:b"]),
            "exec --cgroup: controller memory given more than once"
        );
        assert_eq!(
            err(&["a:b:c"]),
            "exec --cgroup \"a:b:c\": use [<controller>[,<controller>...]:]<path>"
        );
        assert_eq!(err(&[":x"]), "exec --cgroup \":x\": empty controller name");
        assert_eq!(
            err(&["../up"]),
            "exec --cgroup \"../up\": the path must stay inside the container's cgroup (no \"..\")"
        );
    }
}
