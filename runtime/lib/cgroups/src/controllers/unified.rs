//! `linux.resources.unified`: raw cgroup v2 files, written as given after the typed limits.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{FResult, Fault};
use crate::fsio;

/// Files that move or kill processes, or change the tree's shape: not resources.
const REFUSED: &[&str] = &[
    "cgroup.procs",
    "cgroup.threads",
    "cgroup.kill",
    "cgroup.subtree_control",
    "cgroup.type",
];

/// The controller a key belongs to ("memory" for "memory.high"); None for core files.
pub(crate) fn controller_of(key: &str) -> Option<&str> {
    let (prefix, _) = key.split_once('.')?;
    (prefix != "cgroup").then_some(prefix)
}

pub(crate) fn validate(unified: &HashMap<String, String>) -> FResult<()> {
    for key in unified.keys() {
        let plain =
            !key.is_empty() && !key.contains('/') && !key.starts_with('.') && key.contains('.');
        if !plain {
            return Err(Fault::invalid(format!(
                "linux.resources.unified key {key:?} is not a cgroup file name"
            )));
        }
        if REFUSED.contains(&key.as_str()) {
            return Err(Fault::invalid(format!(
                "linux.resources.unified key {key:?} is not a resource setting"
            )));
        }
    }
    Ok(())
}

pub(crate) fn apply(dir: &Path, unified: &HashMap<String, String>) -> FResult<()> {
    validate(unified)?;
    // sorted, so the outcome does not depend on hash order
    let mut keys: Vec<&String> = unified.keys().collect();
    keys.sort();
    for key in keys {
        if !fsio::exists(dir, key) {
            return Err(Fault::invalid(format!(
                "linux.resources.unified key {key:?}: no such file in {} (controller not \
                 enabled, or not a cgroup v2 file)",
                dir.display()
            )));
        }
        fsio::write(dir, key, &unified[key])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let ok: HashMap<String, String> = [("memory.high".to_string(), "1G".to_string())].into();
        assert!(validate(&ok).is_ok());
        for bad in ["../memory.max", "memory.max/x", "cgroup.procs", "", "nodot"] {
            let m: HashMap<String, String> = [(bad.to_string(), "1".to_string())].into();
            assert!(validate(&m).is_err(), "{bad} accepted");
        }
        assert_eq!(controller_of("io.max"), Some("io"));
        assert_eq!(controller_of("cgroup.freeze"), None);
    }
}
