//! OCI hooks side by side with runc: the order of the six kinds, the state each gets on
//! stdin, where startContainer runs and with what environment, and a failing poststart
//! hook; and `delete` of a container without a PID namespace of its own.

use std::time::Duration;

use berth_tests::oci_runtime::{busybox_config, Runtime};
use berth_tests::rootfs::Bundle;
use berth_tests::{require, unique, wait_until};
use serde_json::{json, Value};

fn bpath(b: &Bundle) -> &str {
    b.path().to_str().unwrap()
}

/// A hook that appends "<kind> <state JSON> <its environment, one line>" to `log`.
fn hook(kind: &str, log: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("echo \"{kind} $(cat) $(env | tr '\\n' ' ')\" >> {log}")],
        "env": [format!("HOOK_KIND={kind}")]
    })
}

/// The lines of a hook log: (kind, state, environment).
fn entries(log: &str) -> Vec<(String, Value, String)> {
    log.lines()
        .map(|l| {
            let (kind, rest) = l.split_once(' ').unwrap();
            // the state is one JSON object: it ends at its last closing brace
            let end = rest.rfind('}').unwrap() + 1;
            let state: Value = serde_json::from_str(&rest[..end]).unwrap();
            (kind.to_string(), state, rest[end..].to_string())
        })
        .collect()
}

#[test]
fn hooks_run_in_order_with_the_state_runc_gives() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("hooks.log");
        let log = log.to_str().unwrap();
        let mut cfg = busybox_config(&["/bin/true"]);
        let mut hooks = json!({});
        for kind in [
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop",
        ] {
            hooks[kind] = json!([hook(kind, log)]);
        }
        // startContainer runs in the container: its log is in the container's /tmp
        hooks["startContainer"] = json!([hook("startContainer", "/tmp/hooks.log")]);
        cfg["hooks"] = hooks;
        let b = Bundle::new(&cfg);
        let id = unique("hko");
        rt.ok(&["create", "--bundle", bpath(&b), &id]);
        rt.ok(&["start", &id]);
        let after_start = std::fs::read_to_string(log).unwrap();
        assert!(
            after_start.contains("poststart "),
            "{name}: poststart had not run when start returned: {after_start}"
        );
        rt.wait_status(&id, "stopped");
        rt.ok(&["delete", &id]);
        let got = entries(&std::fs::read_to_string(log).unwrap());
        let kinds: Vec<&str> = got.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "prestart",
                "createRuntime",
                "createContainer",
                "poststart",
                "poststop"
            ],
            "{name}"
        );
        for (kind, state, env) in &got {
            assert_eq!(state["id"], json!(id), "{name} {kind}");
            // each hook gets its own environment only
            assert!(
                env.contains(&format!("HOOK_KIND={kind}")),
                "{name} {kind}: {env}"
            );
            assert!(!env.contains("TERM=xterm"), "{name} {kind}: {env}");
            let status = state["status"].as_str().unwrap();
            let pid = &state["pid"];
            match kind.as_str() {
                "prestart" | "createRuntime" => {
                    assert_eq!(status, "creating", "{name} {kind}");
                    assert!(pid.as_i64().unwrap() > 1, "{name} {kind}: {state}");
                }
                // run by init, which sees itself as pid 1
                "createContainer" => {
                    assert_eq!((status, pid), ("creating", &json!(1)), "{name} {kind}");
                }
                // after start (runc 1.1.5 runs them at the end of create, so "created")
                "poststart" => assert!(
                    ["created", "running"].contains(&status) && pid.as_i64().unwrap() > 1,
                    "{name} {kind}: {state}"
                ),
                _ => {
                    assert_eq!(status, "stopped", "{name} {kind}");
                    assert!(pid.is_null(), "{name} {kind}: a pid in {state}");
                }
            }
        }
        let inside = std::fs::read_to_string(b.path().join("rootfs/tmp/hooks.log")).unwrap();
        let inside = entries(&inside);
        assert_eq!(inside.len(), 1, "{name}: {inside:?}");
        let (_, state, env) = &inside[0];
        assert_eq!(state["status"], "created", "{name}: {state}");
        assert_eq!(state["pid"], 1, "{name}: {state}");
        assert!(env.contains("HOOK_KIND=startContainer"), "{name}: {env}");
        assert!(!env.contains("TERM=xterm"), "{name}: {env}");
    }
}

#[test]
fn a_failing_poststart_hook_removes_the_container() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        let dir = tempfile::tempdir().unwrap();
        let marks = dir.path().join("marks");
        let m = marks.to_str().unwrap();
        let mut cfg = busybox_config(&["/bin/sleep", "60"]);
        cfg["hooks"] = json!({
            "poststart": [
                {"path": "/bin/sh", "args": ["sh", "-c", "echo bad-hook >&2; exit 3"]},
                {"path": "/bin/sh", "args": ["sh", "-c", format!("echo second >> {m}")]}
            ],
            "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", format!("echo poststop >> {m}")]}]
        });
        let b = Bundle::new(&cfg);
        let id = unique("hkp");
        // runc 1.1.5 runs poststart hooks (and fails) in create, berth-runtime in start
        let create = rt.cmd(&["create", "--bundle", bpath(&b), &id]);
        let mut init = None;
        let failed = if create.status.success() {
            let st: Value = serde_json::from_str(&rt.ok(&["state", &id])).unwrap();
            init = st["pid"].as_i64();
            rt.cmd(&["start", &id])
        } else {
            create
        };
        assert!(
            !failed.status.success(),
            "{name}: the failing hook went unnoticed"
        );
        let err = String::from_utf8_lossy(&failed.stderr);
        assert!(err.contains("bad-hook"), "{name}: {err}");
        assert!(
            !rt.cmd(&["state", &id]).status.success(),
            "{name}: the container is still there"
        );
        assert_eq!(
            std::fs::read_to_string(&marks).unwrap(),
            "poststop\n",
            "{name}: hooks after the failing one ran, or poststop did not"
        );
        if let Some(pid) = init {
            let gone = wait_until(Duration::from_secs(10), || {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
                    s.rsplit(')').next().unwrap().trim_start().starts_with('Z')
                })
            });
            assert!(gone, "{name}: the container's init {pid} is still alive");
        }
    }
}

#[test]
fn delete_kills_what_init_left_without_a_pid_namespace() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        // init starts a background sleep, records its (host) pid and exits
        let mut cfg = busybox_config(&[
            "/bin/sh",
            "-c",
            "sleep 600 & echo $! > /tmp/child.tmp && mv /tmp/child.tmp /tmp/child",
        ]);
        let nss = cfg["linux"]["namespaces"].as_array_mut().unwrap();
        nss.retain(|n| n["type"] != "pid");
        let b = Bundle::new(&cfg);
        let id = unique("hpid");
        rt.ok(&["run", "--detach", "--bundle", bpath(&b), &id]);
        let child = b.path().join("rootfs/tmp/child");
        assert!(
            wait_until(Duration::from_secs(10), || child.exists()),
            "{name}: init never recorded its child"
        );
        let pid: i32 = std::fs::read_to_string(&child)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        rt.wait_status(&id, "stopped");
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| !s.rsplit(')').next().unwrap().trim_start().starts_with('Z'))
        };
        assert!(alive(), "{name}: the child {pid} died with init");
        rt.ok(&["delete", &id]);
        assert!(
            wait_until(Duration::from_secs(10), || !alive()),
            "{name}: delete left the container's process {pid} running"
        );
    }
}
