//! Namespaces: joining by path, unsharing, the CLONE_PARENT fork that makes the
//! container's PID 1 a direct child of the runtime, and id maps.

use crate::config::ns_name;
use crate::error::{bail, Context, Result};
use crate::sys::Sys;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use std::os::fd::AsFd;
use std::path::Path;

/// The clone flag of a namespace type (oci-spec's enum values are the flags).
pub fn flag(t: LinuxNamespaceType) -> libc::c_int {
    t as libc::c_int
}

/// Joins the namespace at `path` (pid and time namespaces apply to children).
pub fn join(sys: &dyn Sys, t: LinuxNamespaceType, path: &Path) -> Result<()> {
    let f = std::fs::File::open(path)
        .with_ctx(|| format!("opening {} namespace {}", ns_name(t), path.display()))?;
    sys.setns(f.as_fd(), flag(t))
        .with_ctx(|| format!("joining {} namespace {}", ns_name(t), path.display()))
}

/// Creates the namespaces of `flags` (nothing for 0).
pub fn unshare(sys: &dyn Sys, flags: libc::c_int) -> Result<()> {
    if flags != 0 {
        sys.unshare(flags)
            .with_ctx(|| format!("creating namespaces (unshare {flags:#x})"))?;
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
pub fn write_id_maps(sys: &dyn Sys, pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref().ok_or("no linux section")?;
    let uid = map_text(linux.uid_mappings().as_deref().unwrap_or(&[]));
    let gid = map_text(linux.gid_mappings().as_deref().unwrap_or(&[]));
    sys.write_file(format!("/proc/{pid}/uid_map").as_ref(), uid.as_bytes())
        .with_ctx(|| format!("writing uid map {uid:?}"))?;
    sys.write_file(format!("/proc/{pid}/gid_map").as_ref(), gid.as_bytes())
        .with_ctx(|| format!("writing gid map {gid:?}"))?;
    Ok(())
}

/// Sets the time namespace offsets; must happen before any process enters it.
pub fn write_time_offsets(sys: &dyn Sys, spec: &Spec) -> Result<()> {
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
    sys.write_file("/proc/self/timens_offsets".as_ref(), text.as_bytes())
        .ctx("writing time namespace offsets")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, Fake};
    use crate::testing::spec;
    use serde_json::json;

    #[test]
    fn id_maps_are_written_for_the_child_one_line_per_range() {
        let f = Fake::new();
        let s = spec(json!({"linux": {
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 1},
                            {"containerID": 5, "hostID": 5, "size": 1}]
        }}));
        write_id_maps(&f, 4242, &s).unwrap();
        assert_eq!(
            f.calls(),
            [
                Call::WriteFile("/proc/4242/uid_map".into(), "0 100000 65536\n".into()),
                Call::WriteFile("/proc/4242/gid_map".into(), "0 100000 1\n5 5 1\n".into()),
            ]
        );
        let f = Fake::new();
        f.fail(libc::EPERM, |_| true);
        let e = write_id_maps(&f, 1, &s).unwrap_err();
        assert_eq!(
            e.0,
            "writing uid map \"0 100000 65536\\n\": Operation not permitted (os error 1)"
        );
    }

    #[test]
    fn time_offsets_are_one_write_and_unknown_clocks_refused() {
        let f = Fake::new();
        let s = spec(json!({"linux": {"timeOffsets": {
            "monotonic": {"secs": 86400, "nanosecs": 5}
        }}}));
        write_time_offsets(&f, &s).unwrap();
        assert_eq!(
            f.calls(),
            [Call::WriteFile(
                "/proc/self/timens_offsets".into(),
                "monotonic 86400 5\n".into()
            )]
        );
        let s = spec(json!({"linux": {"timeOffsets": {"realtime": {"secs": 1}}}}));
        let e = write_time_offsets(&f, &s).unwrap_err();
        assert_eq!(
            e.0,
            "linux.timeOffsets: unknown clock \"realtime\" (monotonic or boottime)"
        );
        // no offsets: nothing written
        let f = Fake::new();
        write_time_offsets(&f, &spec(json!({}))).unwrap();
        assert!(f.calls().is_empty());
    }

    #[test]
    fn unshare_of_nothing_makes_no_call() {
        let f = Fake::new();
        unshare(&f, 0).unwrap();
        assert!(f.calls().is_empty());
        f.fail(libc::EINVAL, |_| true);
        let e = unshare(&f, libc::CLONE_NEWPID).unwrap_err();
        assert_eq!(
            e.0,
            "creating namespaces (unshare 0x20000000): Invalid argument (os error 22)"
        );
    }

    #[test]
    fn joining_a_missing_namespace_file_is_an_error_before_setns() {
        let f = Fake::new();
        let e = join(
            &f,
            LinuxNamespaceType::Network,
            Path::new("/nonexistent/berth-netns"),
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("opening network namespace /nonexistent/berth-netns: "),
            "{e}"
        );
        assert!(f.calls().is_empty());
    }
}
