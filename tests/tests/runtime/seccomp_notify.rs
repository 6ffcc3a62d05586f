//! Seccomp user notification (SCMP_ACT_NOTIFY): the runtime hands the filter's listener,
//! with the container process state, to the seccomp agent at `listenerPath`, for the
//! container's init and for every exec. Each check runs on berth-runtime and on Debian's
//! runc, against the test agent of `berth_tests::seccomp_agent` (a mkdir of `p` makes
//! `p-<metadata>`, chmod fails with ENOMEDIUM, anything else runs).

use berth_tests::oci_runtime::{busybox_config, Runtime};
use berth_tests::rootfs::Bundle;
use berth_tests::seccomp_agent::Agent;
use berth_tests::{require, unique};
use serde_json::{json, Value};
use std::time::Duration;

/// A container config running `script` whose profile notifies `calls` to `agent`.
fn config(script: &str, nnp: bool, agent: Option<&Agent>, calls: &[&str]) -> Value {
    let mut c = busybox_config(&["/bin/sh", "-c", script]);
    c["process"]["noNewPrivileges"] = json!(nnp);
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": agent.map(|a| a.path().to_str().unwrap()).unwrap_or(""),
        "listenerMetadata": "bar",
        "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"],
        "syscalls": [{ "names": calls, "action": "SCMP_ACT_NOTIFY" }]
    });
    c
}

/// `run` of `config` on `rt`, within a minute (a lost notification would hang it); returns
/// (exit code, stdout + stderr).
fn run(rt: &Runtime, config: &Value) -> (i32, String) {
    let bundle = Bundle::new(config);
    let id = unique("notify");
    let out = rt
        .cmd_within(
            &["run", "--bundle", bundle.path().to_str().unwrap(), &id],
            Duration::from_secs(60),
        )
        .unwrap_or_else(|| panic!("{}: run hung", rt.name()));
    rt.force_delete(&id);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

const MKDIR_NOTIFIED: &str = "mkdir /dev/foo && stat -c %n /dev/foo-bar && ! test -e /dev/foo";

#[test]
fn the_agent_answers_the_inits_calls_with_or_without_no_new_privileges() {
    require!(root);
    for rt in Runtime::both() {
        for nnp in [false, true] {
            let agent = Agent::start();
            let c = config(MKDIR_NOTIFIED, nnp, Some(&agent), &["mkdir", "mkdirat"]);
            let (code, out) = run(&rt, &c);
            let who = format!("{} nnp={nnp}", rt.name());
            assert_eq!(code, 0, "{who}: {out}");
            assert!(out.contains("/dev/foo-bar"), "{who}: {out}");
            let states = agent.states();
            assert_eq!(states.len(), 1, "{who}: {states:?}");
            let s = &states[0];
            assert_eq!(s["fds"], json!(["seccompFd"]), "{who}: {s}");
            assert_eq!(s["metadata"], "bar", "{who}: {s}");
            assert!(s["pid"].as_i64().unwrap_or(0) > 0, "{who}: {s}");
            assert_eq!(s["pid"], s["state"]["pid"], "{who}: {s}");
            assert!(s["ociVersion"].is_string(), "{who}: {s}");
            assert!(
                s["state"]["id"].as_str().unwrap().starts_with("notify-"),
                "{who}: {s}"
            );
            assert!(s["state"]["bundle"].is_string(), "{who}: {s}");
            assert_eq!(s["state"]["status"], "creating", "{who}: {s}");
        }
    }
}

#[test]
fn an_exec_hands_its_own_listener_to_the_agent() {
    require!(root);
    for rt in Runtime::both() {
        for nnp in [false, true] {
            let agent = Agent::start();
            let c = config("sleep 1000", nnp, Some(&agent), &["mkdir", "mkdirat"]);
            let bundle = Bundle::new(&c);
            let id = unique("notify-exec");
            let who = format!("{} nnp={nnp}", rt.name());
            rt.ok(&[
                "run",
                "-d",
                "--bundle",
                bundle.path().to_str().unwrap(),
                &id,
            ]);
            let out = rt
                .cmd_within(
                    &["exec", &id, "/bin/sh", "-c", MKDIR_NOTIFIED],
                    Duration::from_secs(60),
                )
                .unwrap_or_else(|| panic!("{who}: exec hung"));
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            rt.force_delete(&id);
            assert!(out.status.success(), "{who}: {text}");
            assert!(text.contains("/dev/foo-bar"), "{who}: {text}");
            let states = agent.states();
            assert_eq!(states.len(), 2, "{who}: init and exec: {states:?}");
            let (init, exec) = (&states[0], &states[1]);
            assert_ne!(exec["pid"], init["pid"], "{who}: the exec's own pid");
            assert_eq!(exec["state"]["pid"], init["pid"], "{who}: {exec}");
            assert_eq!(exec["state"]["status"], "running", "{who}: {exec}");
        }
    }
}

/// The calls init itself makes after its filter is in (reading, opening, closing, the
/// execve of the program) are notified too, and the agent lets them run.
#[test]
fn the_inits_own_calls_can_be_notified() {
    require!(root);
    let calls = ["execve", "openat", "open", "read", "close"];
    for rt in Runtime::both() {
        for nnp in [false, true] {
            let agent = Agent::start();
            let (code, out) = run(&rt, &config("echo ran", nnp, Some(&agent), &calls));
            assert_eq!((code, out.trim()), (0, "ran"), "{} nnp={nnp}", rt.name());
        }
    }
}

#[test]
fn the_agents_answer_is_the_calls_result() {
    require!(root);
    let calls = ["chmod", "fchmod", "fchmodat"];
    for rt in Runtime::both() {
        let agent = Agent::start();
        let c = config(
            "touch /dev/f && chmod 777 /dev/f",
            false,
            Some(&agent),
            &calls,
        );
        let (code, out) = run(&rt, &c);
        assert_ne!(code, 0, "{}: {out}", rt.name());
        assert!(out.contains("No medium found"), "{}: {out}", rt.name());
    }
}

/// Once the agent closes the listener, notified calls fail with ENOSYS instead of waiting:
/// nobody else — the runtime, the container's processes — kept a copy of it.
#[test]
fn an_agent_gone_means_enosys_not_a_hang() {
    require!(root);
    for rt in Runtime::both() {
        let agent = Agent::answering(1);
        let c = config(
            "mkdir /dev/a && mkdir /dev/b; echo rc=$?",
            false,
            Some(&agent),
            &["mkdir", "mkdirat"],
        );
        let (code, out) = run(&rt, &c);
        let who = rt.name();
        assert_eq!(code, 0, "{who}: {out}");
        assert!(
            out.contains("Function not implemented") && out.contains("rc=1"),
            "{who}: {out}"
        );
    }
}

/// What cannot work is refused before the container runs, with runc's words where runc
/// has them; a listener without notifying rules is simply not used.
#[test]
fn profiles_that_cannot_notify_are_refused_clearly() {
    require!(root);
    for rt in Runtime::both() {
        let who = rt.name();
        let agent = Agent::start();
        let refused = |c: &Value, want: &str| {
            let (code, out) = run(&rt, c);
            assert_ne!(code, 0, "{who}: {out}");
            assert!(!out.contains("should-not-run"), "{who}: {out}");
            assert!(out.contains(want), "{who}: wanted {want:?}: {out}");
        };
        let script = "echo should-not-run";
        refused(
            &config(script, false, Some(&agent), &["write"]),
            "SCMP_ACT_NOTIFY cannot be used for the write syscall",
        );
        let mut default = config(script, false, Some(&agent), &["mkdir"]);
        default["linux"]["seccomp"]["defaultAction"] = json!("SCMP_ACT_NOTIFY");
        refused(&default, "SCMP_ACT_NOTIFY cannot be used as default action");
        refused(
            &config(script, false, None, &["mkdir"]),
            if who == "runc" { "" } else { "listenerPath" },
        );
        let gone = Agent::start();
        let mut missing = config(script, false, Some(&gone), &["mkdir"]);
        drop(gone);
        missing["linux"]["seccomp"]["listenerPath"] = json!("/nonexistent/agent.sock");
        refused(&missing, "failed to connect with seccomp agent");
        assert!(agent.states().is_empty(), "{who}: {:?}", agent.states());

        let mut idle = config("mkdir /dev/d && echo made", false, Some(&agent), &[]);
        idle["linux"]["seccomp"]["syscalls"] = json!([]);
        let (code, out) = run(&rt, &idle);
        assert_eq!((code, out.trim()), (0, "made"), "{who}");
        assert!(agent.states().is_empty(), "{who}: nothing to hand over");
    }
}

/// A startContainer hook runs in the container with stdio only: not the listener.
#[test]
fn hooks_do_not_get_the_listener() {
    require!(root);
    for rt in Runtime::both() {
        let agent = Agent::start();
        let mut c = config("true", false, Some(&agent), &["mkdir"]);
        c["hooks"] = json!({ "startContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", "n=$(ls /proc/self/fd | wc -l); [ $n -eq 4 ] || { echo fds=$n; ls -l /proc/self/fd; exit 1; }"]
        }] });
        let (code, out) = run(&rt, &c);
        assert_eq!(code, 0, "{}: {out}", rt.name());
    }
}
