//! The command line as scripts and tools use it, berth-runtime and runc side by side (the
//! expectation is runc 1.1's behaviour): `kill ID 0` as a liveness check, and `checkpoint`
//! / `restore`, which exist and fail without CRIU, leaving the container running.

use berth_tests::oci_runtime::{busybox_config, Runtime};
use berth_tests::rootfs::Bundle;
use berth_tests::{require, unique};
use std::process::Output;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A created and started `sleep` container of `rt`; its bundle must outlive it.
fn sleeping(rt: &Runtime, prefix: &str) -> (Bundle, String) {
    let b = Bundle::new(&busybox_config(&["/bin/sleep", "60"]));
    let id = unique(prefix);
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "running");
    (b, id)
}

#[test]
fn kill_with_signal_zero_tells_whether_init_is_alive() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        let (_b, id) = sleeping(&rt, "kill0");
        let out = rt.cmd(&["kill", &id, "0"]);
        assert!(
            out.status.success(),
            "{name}: kill 0 of a running container: {}",
            text(&out)
        );
        // signal 0 signals nothing: the container runs on
        assert_eq!(rt.status(&id), "running", "{name}");
        rt.ok(&["kill", &id, "KILL"]);
        rt.wait_status(&id, "stopped");
        let out = rt.cmd(&["kill", &id, "0"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: kill 0 of a stopped container: {}",
            text(&out)
        );
        let out = rt.cmd(&["kill", &unique("nothere"), "0"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: kill 0 of no container: {}",
            text(&out)
        );
        assert!(
            text(&out).contains("does not exist"),
            "{name}: {}",
            text(&out)
        );
        rt.ok(&["delete", &id]);
    }
}

fn criu_on_path() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| d.join("criu").is_file())
}

#[test]
fn checkpoint_and_restore_exist_and_fail_without_criu_leaving_the_container_running() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        // runc without criu on this host fails the same way; with criu it would succeed
        if name == "runc" && criu_on_path() {
            continue;
        }
        let help = rt.ok(&["--help"]);
        for cmd in ["checkpoint", "restore"] {
            assert!(
                help.lines().any(|l| l.trim_start().starts_with(cmd)),
                "{name}: --help does not list {cmd}:\n{help}"
            );
        }
        let (b, id) = sleeping(&rt, "ckpt");
        let images = tempfile::tempdir().unwrap();
        let images = images.path().to_str().unwrap();
        let out = rt.cmd(&["checkpoint", "--image-path", images, "--leave-running", &id]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: checkpoint: {}",
            text(&out)
        );
        assert!(
            text(&out).to_lowercase().contains("criu"),
            "{name}: checkpoint does not say CRIU is needed: {}",
            text(&out)
        );
        assert_eq!(rt.status(&id), "running", "{name}: after checkpoint");
        rt.ok(&["kill", &id, "0"]);

        // restore of a new id creates nothing
        let new = unique("restored");
        let bundle = b.path().to_str().unwrap();
        let out = rt.cmd(&[
            "restore",
            "--image-path",
            images,
            "--bundle",
            bundle,
            "-d",
            &new,
        ]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: restore: {}",
            text(&out)
        );
        assert!(
            text(&out).to_lowercase().contains("criu"),
            "{name}: restore does not say CRIU is needed: {}",
            text(&out)
        );
        assert_eq!(rt.ok(&["list", "-q"]).trim(), id, "{name}: after restore");
        // restore onto an existing id is refused as a duplicate
        let out = rt.cmd(&["restore", "--image-path", images, "--bundle", bundle, &id]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: restore of {id}: {}",
            text(&out)
        );
        assert!(text(&out).contains("exists"), "{name}: {}", text(&out));
        assert_eq!(rt.status(&id), "running", "{name}: after restore");
        rt.ok(&["delete", "--force", &id]);
    }
}

#[test]
fn errors_say_error_on_stderr_and_in_both_log_formats() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        let missing = unique("missing");
        // without --log: one stderr line that says "error" and names the problem
        let out = rt.cmd(&["state", &missing]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("error") && err.contains("does not exist"),
            "{name}: {err}"
        );
        let logs = tempfile::tempdir().unwrap();
        // --log-format json: runc's fields, level first
        let json_log = logs.path().join("log.json");
        let out = rt.cmd(&[
            "--log",
            json_log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            &missing,
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let text = std::fs::read_to_string(&json_log).unwrap();
        let line = text.lines().last().unwrap_or_default();
        assert!(
            line.starts_with(r#"{"level":"error","msg":""#),
            "{name}: {line}"
        );
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["msg"].as_str().unwrap().contains("does not exist"),
            "{name}: {line}"
        );
        assert!(v["time"].as_str().unwrap().ends_with('Z'), "{name}: {line}");
        // --log-format text (the default): logrus' key=value line
        let text_log = logs.path().join("log.txt");
        let out = rt.cmd(&["--log", text_log.to_str().unwrap(), "state", &missing]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let text = std::fs::read_to_string(&text_log).unwrap();
        let line = text.lines().last().unwrap_or_default();
        assert!(line.starts_with("time=\""), "{name}: {line}");
        assert!(line.contains(" level=error msg=\""), "{name}: {line}");
        assert!(line.contains("does not exist"), "{name}: {line}");
    }
}

#[test]
fn every_command_answers_help_with_its_usage() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        for cmd in [
            "create",
            "start",
            "run",
            "state",
            "kill",
            "delete",
            "exec",
            "ps",
            "list",
            "pause",
            "resume",
            "update",
            "events",
            "spec",
            "checkpoint",
            "restore",
        ] {
            let out = rt.cmd(&[cmd, "--help"]);
            assert!(out.status.success(), "{name} {cmd} --help: {}", text(&out));
            let shown = String::from_utf8_lossy(&out.stdout);
            assert!(shown.contains(cmd), "{name} {cmd} --help:\n{shown}");
        }
    }
}

#[test]
fn version_and_usage_read_as_runcs() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        // the first line is "<name> version <version>"; a "spec: " line names the spec
        let version = rt.ok(&["--version"]);
        let first = version.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("{name} version ")) && first.len() > name.len() + 9,
            "{name}: {version}"
        );
        assert!(
            version.lines().any(|l| l.starts_with("commit: ")),
            "{name}: {version}"
        );
        assert!(
            version.lines().any(|l| l.starts_with("spec: 1.")),
            "{name}: {version}"
        );
        // no command at all: the usage, and success
        let out = rt.cmd(&[]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        let usage = String::from_utf8_lossy(&out.stdout);
        for cmd in ["create", "start", "kill", "delete", "state", "exec"] {
            assert!(usage.contains(cmd), "{name}: usage lacks {cmd}:\n{usage}");
        }
    }
}
