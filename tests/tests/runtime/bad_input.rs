//! Bad input gets a clear error naming the problem, a non-zero exit, and leaves nothing
//! behind: no state, no cgroup, no process.

use std::path::Path;

use berth_tests::oci_runtime::{busybox_config, Runtime};
use berth_tests::rootfs::Bundle;
use berth_tests::{require, unique};
use serde_json::{json, Value};

/// Runs `create` and expects failure mentioning every word of `want`; then checks that no
/// state or cgroup is left.
fn refused(cfg: Option<Value>, raw: Option<&str>, want: &[&str]) {
    let rt = Runtime::new();
    let parent = berth_tests::cgroup_parent::CgroupParent::new("rtbad");
    let pn = parent.name().to_string();
    let mut base = busybox_config(&["/bin/true"]);
    base["linux"]["cgroupsPath"] = json!(parent.path("c"));
    let b = Bundle::new(&base);
    if let Some(mut c) = cfg {
        if c["linux"].is_object() && c["linux"]["cgroupsPath"].is_null() {
            c["linux"]["cgroupsPath"] = json!(parent.path("c"));
        }
        b.write_config(&c);
    }
    if let Some(r) = raw {
        std::fs::write(b.path().join("config.json"), r).unwrap();
    }
    let id = unique("bad");
    let out = rt.cmd(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {want:?}");
    assert!(err.starts_with("berth-runtime: "), "{err}");
    for w in want {
        assert!(err.contains(w), "error does not mention {w:?}: {err}");
    }
    assert!(
        std::fs::read_dir(rt.root())
            .map(|mut d| d.next().is_none())
            .unwrap_or(true),
        "state left for: {err}"
    );
    for h in ["pids", "memory", "cpu", "devices", "freezer"] {
        assert!(
            !Path::new(&format!("/sys/fs/cgroup/{h}/{pn}")).exists(),
            "cgroup left in {h} for: {err}"
        );
    }
}

#[test]
fn malformed_and_invalid_configs() {
    require!(root);
    refused(
        None,
        Some("{\"ociVersion\": \"1.0.2\", \"process\": "),
        &["config.json", "EOF"],
    );
    let mut c = busybox_config(&["/bin/true"]);
    c["root"]["path"] = json!("no-such-rootfs");
    refused(Some(c), None, &["rootfs", "no-such-rootfs"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "bogus"}));
    refused(Some(c), None, &["bogus"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["process"]["args"] = json!([]);
    refused(Some(c), None, &["process.args"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["ociVersion"] = json!("0.9");
    refused(Some(c), None, &["ociVersion"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    refused(Some(c), None, &["uidMappings"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "pid"}));
    refused(Some(c), None, &["pid", "twice"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["linux"]["sysctl"] = json!({"kernel.panic": "1"});
    refused(Some(c), None, &["kernel.panic", "not namespaced"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["process"]["capabilities"]["bounding"] = json!(["CAP_NOT_A_CAP"]);
    refused(Some(c), None, &["CAP_NOT_A_CAP"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup", "path": "/proc/no/ns/cgroup"}));
    refused(Some(c), None, &["/proc/no/ns/cgroup"]);
}

#[test]
fn failures_inside_the_container_are_reported_and_undone() {
    require!(root);
    refused(
        Some(busybox_config(&["/bin/no-such-program"])),
        None,
        &["/bin/no-such-program", "No such file"],
    );
    let mut c = busybox_config(&["/bin/true"]);
    // A missing cwd is made; one under a file cannot be.
    c["process"]["cwd"] = json!("/bin/true/dir");
    refused(Some(c), None, &["cwd", "/bin/true/dir"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "bind", "source": "/no/such/source", "options": ["bind"]}));
    refused(Some(c), None, &["/no/such/source"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/x", "type": "nosuchfs", "source": "none"}));
    refused(Some(c), None, &["mount /x", "nosuchfs"]);
    let mut c = busybox_config(&["/bin/true"]);
    c["process"]["user"] = json!({"uid": 0, "gid": 0});
    c["linux"]["resources"]["cpu"] = json!({"cpus": "900-999"});
    refused(Some(c), None, &["cpus", "900-999"]);
}

#[test]
fn duplicate_ids_and_bad_ids() {
    require!(root);
    let rt = Runtime::new();
    let b = Bundle::new(&busybox_config(&["/bin/sleep", "30"]));
    let id = unique("dup");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let out = rt.cmd(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    // The first container is untouched.
    assert_eq!(rt.status(&id), "created");
    rt.ok(&["delete", "--force", &id]);
    for bad in ["../escape", "a/b", ""] {
        let out = rt.cmd(&["create", "--bundle", b.path().to_str().unwrap(), bad]);
        assert!(!out.status.success(), "id {bad:?} accepted");
    }
    assert!(std::fs::read_dir(rt.root()).unwrap().next().is_none());
}

#[test]
fn command_line_mistakes() {
    let rt = Runtime::new();
    for (args, want) in [
        (vec!["nosuchcommand"], "unknown command"),
        (vec!["create", "--nosuchflag", "x"], "unknown flag"),
        (vec!["state", "nosuch"], "does not exist"),
        (vec!["kill", "nosuch", "KILL"], "does not exist"),
        (vec!["kill", "x", "NOTASIGNAL"], "unknown signal"),
        (vec!["delete", "nosuch"], "does not exist"),
        (vec!["start"], "container id is required"),
        (vec!["--log-format", "xml", "list"], "--log-format"),
    ] {
        let out = rt.cmd(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("stack backtrace"),
            "{err}"
        );
    }
}

#[test]
fn errors_reach_the_log_file_in_runc_json_format() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.json");
    let out = std::process::Command::new(berth_tests::bins::bin("berth-runtime"))
        .args([
            "--root",
            rt.root().to_str().unwrap(),
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            "nosuch",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line = std::fs::read_to_string(&log).unwrap();
    let v: Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("nosuch"));
    assert!(v["time"].as_str().unwrap().contains('T'));
}
