//! net_cls and net_prio (cgroup v1 only): a class id for traffic control and per-interface
//! priorities.

use oci_spec::runtime::LinuxNetwork;

use crate::error::FResult;
use crate::fsio;
use std::path::Path;

pub(crate) fn apply_class(dir: &Path, n: &LinuxNetwork) -> FResult<()> {
    if let Some(id) = n.class_id() {
        fsio::write(dir, "net_cls.classid", &id.to_string())?;
    }
    Ok(())
}

pub(crate) fn apply_priorities(dir: &Path, n: &LinuxNetwork) -> FResult<()> {
    for p in n.priorities().iter().flatten() {
        fsio::write(
            dir,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}
