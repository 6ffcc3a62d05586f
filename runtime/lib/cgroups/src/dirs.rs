//! Creating and removing cgroup directories: the parents made on the way are recorded so
//! they can be removed again; v2 controllers are enabled top-down; v1 cpusets are filled
//! from their parent (an empty cpuset cannot hold a process).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{FResult, Fault};
use crate::fsio;

/// Creates `dir.path` and any missing parents below the mountpoint. Each directory this
/// call made is appended to `created`, outermost first. `on_new` runs right after each
/// directory is made (for v1 cpuset initialisation).
pub(crate) fn make(
    mount: &Path,
    path: &Path,
    created: &mut Vec<PathBuf>,
    on_new: &dyn Fn(&Path) -> FResult<()>,
) -> FResult<()> {
    // A parent can vanish between our check and our mkdir when the last container under
    // it is deleted at that moment: start over a few times.
    let mut attempts = 0;
    'again: loop {
        attempts += 1;
        // Find the deepest existing ancestor, then create downwards.
        let mut missing: Vec<&Path> = Vec::new();
        let mut p = path;
        while p != mount && !p.exists() {
            missing.push(p);
            match p.parent() {
                Some(parent) => p = parent,
                None => break,
            }
        }
        for dir in missing.into_iter().rev() {
            match std::fs::create_dir(dir) {
                Ok(()) => {
                    created.push(dir.to_path_buf());
                    on_new(dir)?;
                }
                // another container created the same parent at the same moment
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 5 => {
                    continue 'again
                }
                Err(e) => return Err(Fault::io("creating cgroup directory", dir, e)),
            }
        }
        return Ok(());
    }
}

/// Enables `controllers` in `cgroup.subtree_control` of every ancestor of `leaf` (from the
/// mountpoint down), so the leaf gets their files. Controllers already enabled are skipped;
/// the common case costs one read.
pub(crate) fn enable_v2_controllers(mount: &Path, leaf: &Path, wanted: &[String]) -> FResult<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    let Some(parent) = leaf.parent() else {
        return Ok(());
    };
    let enabled = crate::layout::read_controller_list(&parent.join("cgroup.subtree_control"));
    if wanted.iter().all(|w| enabled.contains(w)) {
        return Ok(());
    }
    let mut chain: Vec<&Path> = leaf
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(mount))
        .collect();
    chain.reverse(); // mountpoint first
    for dir in chain {
        let available = crate::layout::read_controller_list(&dir.join("cgroup.controllers"));
        let enabled = crate::layout::read_controller_list(&dir.join("cgroup.subtree_control"));
        let add: Vec<String> = wanted
            .iter()
            .filter(|w| available.contains(w) && !enabled.contains(w))
            .map(|w| format!("+{w}"))
            .collect();
        if add.is_empty() {
            continue;
        }
        fsio::write(dir, "cgroup.subtree_control", &add.join(" ")).map_err(|f| {
            match f.errno() {
                Some(libc::EBUSY) => Fault::invalid(format!(
                    "cannot enable {} for the cgroups below {}: it holds processes itself \
                 (cgroup v2 allows controllers only for cgroups without processes); \
                 choose a cgroupsPath whose parents hold no processes",
                    add.join(" "),
                    dir.display()
                )),
                _ => f,
            }
        })?;
    }
    Ok(())
}

/// Gives a new v1 cpuset the parent's cpus and mems when it has none (recursively, for
/// parents made by someone else and never filled).
pub(crate) fn init_v1_cpuset(mount: &Path, dir: &Path) -> FResult<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if !fsio::read(dir, file)?.trim().is_empty() {
            continue;
        }
        let value = parent_value(mount, dir, file)?;
        fsio::write(dir, file, &value)?;
    }
    Ok(())
}

/// The parent's value of a cpuset file, filling the parent first when it is empty too.
fn parent_value(mount: &Path, dir: &Path, file: &str) -> FResult<String> {
    let Some(parent) = dir.parent() else {
        return Ok(String::new());
    };
    let value = fsio::read(parent, file)?.trim().to_string();
    if value.is_empty() && parent != mount && parent.starts_with(mount) {
        let filled = parent_value(mount, parent, file)?;
        fsio::write(parent, file, &filled)?;
        return Ok(filled);
    }
    Ok(value)
}

/// Pids in `dir` and every cgroup below it.
pub(crate) fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> FResult<()> {
    let text = match fsio::read(dir, "cgroup.procs") {
        Ok(t) => t,
        Err(f) if f.is_not_found() => return Ok(()),
        Err(f) => return Err(f),
    };
    out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for sub in subdirs(dir) {
        procs_recursive(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes `dir` and every cgroup below it, deepest first. A cgroup with live processes is
/// refused at once (naming them); one whose processes have exited but are not yet reaped by
/// their parent stays busy for a moment: retried until `deadline`.
pub(crate) fn remove_tree(dir: &Path, deadline: Instant) -> FResult<()> {
    for sub in subdirs(dir) {
        remove_tree(&sub, deadline)?;
    }
    let mut pause = Duration::from_millis(1);
    loop {
        let e = match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => e,
        };
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(Fault::io("removing cgroup directory", dir, e));
        }
        let mut pids = Vec::new();
        procs_recursive(dir, &mut pids)?;
        if !pids.is_empty() {
            return Err(Fault::invalid(format!(
                "cannot remove {}: processes {pids:?} are still in it; kill them first",
                dir.display()
            )));
        }
        if Instant::now() >= deadline {
            return Err(Fault::invalid(format!(
                "cannot remove {}: it stays busy although no process is listed (exited \
                 processes not yet reaped by their parent?)",
                dir.display()
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Waits until no process is listed in `dir` or below, up to `deadline`.
pub(crate) fn wait_empty(dir: &Path, deadline: Instant) -> FResult<bool> {
    let mut pause = Duration::from_micros(200);
    loop {
        let mut pids = Vec::new();
        procs_recursive(dir, &mut pids)?;
        if pids.is_empty() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Removes a parent directory if it is empty now; anything else (in use, gone) is fine.
/// A parent with sub-cgroups is left alone without trying: a refused rmdir still takes the
/// kernel's cgroup locks, which can cost milliseconds.
pub(crate) fn remove_if_unused(dir: &Path) {
    if !subdirs(dir).is_empty() {
        return;
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        tracing::debug!(dir = %dir.display(), error = %e, "cgroup parent kept");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_records_what_it_created() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("a")).unwrap();
        let mut created = Vec::new();
        let leaf = t.path().join("a/b/c");
        make(t.path(), &leaf, &mut created, &|_| Ok(())).unwrap();
        assert_eq!(created, vec![t.path().join("a/b"), leaf.clone()]);
        assert!(leaf.is_dir());
        // again: nothing new
        let mut again = Vec::new();
        make(t.path(), &leaf, &mut again, &|_| Ok(())).unwrap();
        assert!(again.is_empty());
    }
}
