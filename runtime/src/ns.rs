//! Namespaces: joining by path, unsharing, the CLONE_PARENT fork that makes the
//! container's PID 1 a direct child of the runtime, and id maps.

use crate::config::ns_name;
use crate::error::{bail, Context, Result};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The clone flag of a namespace type (oci-spec's enum values are the flags).
pub fn flag(t: LinuxNamespaceType) -> libc::c_int {
    t as libc::c_int
}

/// Joins the namespace at `path` (pid and time namespaces apply to children).
pub fn join(t: LinuxNamespaceType, path: &Path) -> Result<()> {
    let f = std::fs::File::open(path)
        .with_ctx(|| format!("opening {} namespace {}", ns_name(t), path.display()))?;
    if unsafe { libc::setns(f.as_raw_fd(), flag(t)) } != 0 {
        bail!(
            "joining {} namespace {}: {}",
            ns_name(t),
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

pub fn unshare(flags: libc::c_int) -> Result<()> {
    if flags != 0 && unsafe { libc::unshare(flags) } != 0 {
        bail!(
            "creating namespaces (unshare {flags:#x}): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Forks a child that becomes a child of our parent (CLONE_PARENT). Returns 0 in the
/// child and the child's pid in the caller, like fork(2).
///
/// # Safety
/// Like fork: the caller must be single-threaded.
pub unsafe fn fork_sibling() -> Result<libc::pid_t> {
    let pid = libc::syscall(
        libc::SYS_clone,
        (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
        0usize,
        0usize,
        0usize,
        0usize,
    );
    if pid < 0 {
        bail!("clone: {}", std::io::Error::last_os_error());
    }
    Ok(pid as libc::pid_t)
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Writes the spec's uid/gid maps for `pid` (which has unshared its user namespace).
pub fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref().ok_or("no linux section")?;
    let uid = map_text(linux.uid_mappings().as_deref().unwrap_or(&[]));
    let gid = map_text(linux.gid_mappings().as_deref().unwrap_or(&[]));
    std::fs::write(format!("/proc/{pid}/uid_map"), &uid)
        .with_ctx(|| format!("writing uid map {uid:?}"))?;
    std::fs::write(format!("/proc/{pid}/gid_map"), &gid)
        .with_ctx(|| format!("writing gid map {gid:?}"))?;
    Ok(())
}

/// Sets the time namespace offsets; must happen before any process enters it.
pub fn write_time_offsets(spec: &Spec) -> Result<()> {
    let Some(offsets) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            bail!("linux.timeOffsets: unknown clock {clock:?} (monotonic or boottime)");
        }
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", text).ctx("writing time namespace offsets")
}
