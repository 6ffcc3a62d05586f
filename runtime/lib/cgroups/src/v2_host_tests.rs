//! The cgroup v2 code paths, run for real on the cgroup2 hierarchy of the host even when it
//! is a hybrid one: a cgroup placed as on a pure v2 host (the cgroup2 directory only) gets
//! its device rules as an eBPF program, freezes through cgroup.freeze, dies through
//! cgroup.kill, reports pids and cpu.stat, and refuses limits of controllers the hierarchy
//! does not offer. Needs root and a cgroup2 mount; skipped otherwise.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use crate::controllers::device_bpf;
use crate::layout::{Layout, Mode};
use crate::placement::{Dir, Placement};
use crate::Cgroup;

/// Removes the test cgroup even when an assertion fails.
struct Cleanup<'a>(&'a Cgroup);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.signal_all(nix::sys::signal::Signal::SIGKILL);
        let _ = self.0.destroy();
    }
}

fn v2_cgroup(name: &str) -> Option<Cgroup> {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: needs root");
        return None;
    }
    let Some(v2) = Layout::host().ok().and_then(|l| l.v2.clone()) else {
        eprintln!("SKIPPED: no cgroup2 mount");
        return None;
    };
    let path = PathBuf::from(format!("/berth-v2test-{}-{name}", std::process::id()));
    let place = Placement {
        mode: Mode::Unified,
        v1: Default::default(),
        v2: Some(Dir {
            path: v2.mountpoint.join(path.strip_prefix("/").unwrap()),
            mount: v2.mountpoint,
        }),
    };
    Some(Cgroup {
        path,
        place,
        default_parent: false,
        created: Mutex::new(Vec::new()),
    })
}

/// `sh -c script`, started but waiting for a line on stdin.
fn gated(script: &str) -> Child {
    Command::new("/bin/sh")
        .args(["-c", &format!("read go; {script}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn release_and_read(mut child: Child) -> String {
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child.wait().unwrap();
    out
}

fn resources(v: &str) -> oci_spec::runtime::LinuxResources {
    serde_json_from(v)
}

fn serde_json_from<T: serde::de::DeserializeOwned>(v: &str) -> T {
    serde_json::from_str(v).unwrap()
}

/// Writes to /dev/null and reads /dev/zero without opening any other device.
const PROBE: &str = "(echo x > /dev/null) 2>&- && echo null-ok || echo null-denied; \
                     [ \"$(head -c1 /dev/zero 2>&- | wc -c)\" = 1 ] && echo zero-ok || echo zero-denied";

fn programs(dir: &Path) -> usize {
    let fd: OwnedFd = std::fs::File::open(dir).unwrap().into();
    device_bpf::attached(&fd).unwrap().len()
}

#[test]
fn device_rules_become_an_ebpf_program() {
    let Some(cg) = v2_cgroup("dev") else { return };
    let _cleanup = Cleanup(&cg);
    let dir = cg.place.v2.as_ref().unwrap().path.clone();
    let deny_zero = resources(
        r#"{"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]}"#,
    );
    let a = gated(PROBE);
    cg.create(a.id() as i32, Some(&deny_zero)).unwrap();
    assert_eq!(programs(&dir), 1);
    assert_eq!(release_and_read(a), "null-ok\nzero-denied\n");

    // update swaps the program: /dev/zero allowed, /dev/null now read-only
    cg.update(&resources(
        r#"{"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"}
        ]}"#,
    ))
    .unwrap();
    assert_eq!(programs(&dir), 1, "the old program was detached");
    let b = gated(PROBE);
    cg.add_process(b.id() as i32).unwrap();
    assert_eq!(release_and_read(b), "null-denied\nzero-ok\n");
    cg.destroy().unwrap();
    assert!(!dir.exists());
}

#[test]
fn freeze_kill_pids_and_stats_through_cgroup2_files() {
    let Some(cg) = v2_cgroup("core") else { return };
    let _cleanup = Cleanup(&cg);
    let mut child = gated("sleep 100 & while :; do :; done");
    cg.create(child.id() as i32, None).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let start = std::time::Instant::now();
    while cg.pids().unwrap().len() < 2 {
        assert!(start.elapsed().as_secs() < 5, "sleep did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    let usage = |cg: &Cgroup| cg.stats().unwrap().cpu.usage.total;
    let frozen_at = usage(&cg);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(usage(&cg), frozen_at, "no cpu time while frozen");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    // SIGKILL goes through cgroup.kill: both processes die
    cg.signal_all(nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let start = std::time::Instant::now();
    while !cg.pids().unwrap().is_empty() {
        assert!(
            start.elapsed().as_secs() < 5,
            "processes survived cgroup.kill"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cg.destroy().unwrap();
}

#[test]
fn limits_of_controllers_the_hierarchy_lacks_are_refused() {
    let Some(cg) = v2_cgroup("missing") else {
        return;
    };
    let offered = Layout::host().unwrap().v2_controllers();
    if offered.iter().any(|c| c == "pids") {
        eprintln!("SKIPPED: this cgroup2 hierarchy offers pids");
        return;
    }
    let err = cg
        .create(1, Some(&resources(r#"{"pids": {"limit": 5}}"#)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pids controller") && err.contains("cgroup2"),
        "{err}"
    );
    assert!(!cg.exists());
}
