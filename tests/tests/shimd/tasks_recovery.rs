//! Faults around tasks: shimd killed with -9 while containers run (and exit), shims killed,
//! both at once. Containers keep running, logs keep flowing, exit codes are not lost, and
//! nothing is left behind.

use std::time::{Duration, Instant};

use berth_tests::gate::Gate;
use berth_tests::tasks::{alive, TaskLab, IMAGE};
use berth_tests::{require, unique, wait_until};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn wait_file(p: &std::path::Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} did not appear", p.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_dead(pid: i32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log_size(lab: &TaskLab, id: &str) -> u64 {
    std::fs::metadata(lab.task_dir("default", id).join("log.json"))
        .map(|m| m.len())
        .unwrap_or(0)
}

#[test]
fn kill9_shimd_keeps_containers_logs_and_exit_codes() {
    require!(root);
    let mut lab = TaskLab::start();
    let (a, b, c) = (unique("alive"), unique("killed"), unique("exits"));
    // c exits when the test opens its gate (a file in its rootfs), while shimd is down.
    let c_gate = Gate::in_rootfs(&lab.task_dir("default", &c).join("rootfs"));
    let ticker = "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.1; done";
    lab.ctl_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        IMAGE,
        &a,
        "/bin/sh",
        "-c",
        ticker,
    ]);
    lab.ctl_ok(&["run", "-d", IMAGE, &b, "/bin/sleep", "1000"]);
    lab.ctl_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        IMAGE,
        &c,
        "/bin/sh",
        "-c",
        &format!("{}; exit 3", c_gate.wait("go")),
    ]);
    lab.wait_status(&b, "RUNNING", Duration::from_secs(5));
    let b_pid = lab.task_pid(&b);
    let a_pid = lab.task_pid(&a);

    lab.shimd.kill9();
    // While shimd is down: b is killed, c exits by itself, a keeps logging.
    kill(Pid::from_raw(b_pid), Signal::SIGKILL).unwrap();
    c_gate.open("go");
    wait_file(
        &lab.task_dir("default", &b).join("exit"),
        Duration::from_secs(5),
    );
    wait_file(
        &lab.task_dir("default", &c).join("exit"),
        Duration::from_secs(5),
    );
    let size = log_size(&lab, &a);
    assert!(
        wait_until(Duration::from_secs(10), || log_size(&lab, &a) > size),
        "the log grows while shimd is down"
    );

    lab.shimd.restart();
    assert_eq!(
        lab.task_status(&a).as_deref(),
        Some("RUNNING"),
        "{}",
        lab.shimd.log()
    );
    assert_eq!(lab.task_pid(&a), a_pid);
    assert_eq!(lab.task_status(&b).as_deref(), Some("STOPPED"));
    assert_eq!(lab.task_status(&c).as_deref(), Some("STOPPED"));
    assert_eq!(lab.ctl_ok(&["tasks", "wait", &b]).trim(), "137");
    assert_eq!(lab.ctl_ok(&["tasks", "wait", &c]).trim(), "3");

    // The log is whole: every tick from 0 on, in order, across the restart.
    let before = lab.ctl_ok(&["tasks", "logs", &a]).lines().count();
    let mut logs = String::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            logs = lab.ctl_ok(&["tasks", "logs", &a]);
            logs.lines().count() > before
        }),
        "logging goes on after the restart"
    );
    for (i, l) in logs.lines().enumerate() {
        assert_eq!(l, format!("tick{i}"));
    }

    // The live task still obeys.
    lab.ctl_ok(&["tasks", "kill", "-s", "KILL", &a]);
    assert_eq!(lab.ctl_ok(&["tasks", "wait", &a]).trim(), "137");
    for id in [&a, &b, &c] {
        lab.ctl_ok(&["containers", "rm", id]);
    }
    for id in [&a, &b, &c] {
        lab.assert_no_debris("default", id);
    }
}

#[test]
fn a_killed_shim_is_cleaned_up_and_reported() {
    require!(root);
    let lab = TaskLab::start();
    let id = lab.run_sleeper("shimkill");
    let pid = lab.task_pid(&id);
    let shim = lab.shim_pid("default", &id);
    kill(Pid::from_raw(shim), Signal::SIGKILL).unwrap();
    lab.wait_status(&id, "STOPPED", Duration::from_secs(10));
    assert_eq!(lab.ctl_ok(&["tasks", "wait", &id]).trim(), "137");
    // The container went with its shim, and so did its rootfs mount.
    wait_dead(pid, Duration::from_secs(5));
    let mounts: Vec<String> = lab
        .debris("default", &id)
        .into_iter()
        .filter(|d| d.starts_with("mount") || d.starts_with("cgroup"))
        .collect();
    assert!(mounts.is_empty(), "{mounts:?}");
    let (code, _, err) = lab.ctl(&["tasks", "exec", &id, "/bin/true"]);
    assert_ne!(code, 0);
    assert!(err.contains("stopped"), "{err}");
    lab.ctl_ok(&["tasks", "rm", &id]);
    lab.ctl_ok(&["containers", "rm", &id]);
    lab.assert_no_debris("default", &id);
}

#[test]
fn shim_and_shimd_both_gone_keep_the_recorded_exit_code() {
    require!(root);
    let mut lab = TaskLab::start();
    let (done, running) = (unique("recorded"), unique("orphan"));
    lab.ctl_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        IMAGE,
        &done,
        "/bin/sh",
        "-c",
        "exit 9",
    ]);
    lab.ctl_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        IMAGE,
        &running,
        "/bin/sleep",
        "1000",
    ]);
    wait_file(
        &lab.task_dir("default", &done).join("exit"),
        Duration::from_secs(5),
    );
    lab.wait_status(&running, "RUNNING", Duration::from_secs(5));
    let orphan_pid = lab.task_pid(&running);
    let shims = [
        lab.shim_pid("default", &done),
        lab.shim_pid("default", &running),
    ];

    lab.shimd.kill9();
    for s in shims {
        kill(Pid::from_raw(s), Signal::SIGKILL).unwrap();
    }
    lab.shimd.restart();
    assert_eq!(lab.task_status(&done).as_deref(), Some("STOPPED"));
    assert_eq!(
        lab.ctl_ok(&["tasks", "wait", &done]).trim(),
        "9",
        "the exit on disk"
    );
    assert_eq!(lab.task_status(&running).as_deref(), Some("STOPPED"));
    assert_eq!(lab.ctl_ok(&["tasks", "wait", &running]).trim(), "137");
    wait_dead(orphan_pid, Duration::from_secs(5));

    // Another restart reports the same.
    lab.shimd.restart();
    assert_eq!(lab.ctl_ok(&["tasks", "wait", &running]).trim(), "137");
    for id in [&done, &running] {
        lab.ctl_ok(&["containers", "rm", id]);
        lab.assert_no_debris("default", id);
    }
}
