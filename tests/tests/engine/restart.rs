//! Restart policies with docker's backoff, AutoRemove, and wait conditions.

use std::time::{Duration, Instant};

use berth_tests::berthd::Berthd;
use berth_tests::require;

fn inspect(b: &Berthd, name: &str, fmt: &str) -> String {
    b.docker_ok(&["inspect", "-f", fmt, name])
        .trim()
        .to_string()
}

fn wait_until(b: &Berthd, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            b.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn policies_restart_with_backoff_and_stop_when_told() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    // on-failure:3 with a failing command: three restarts, then it stays exited; the delays
    // double (100, 200, 400 ms), so this takes well under two seconds but more than 0.7 s.
    let t = Instant::now();
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "exit 5",
    ]);
    // Between runs it is "restarting", never "exited": only the last exit shows as exited,
    // with its code (watched through the API, faster than the CLI).
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let j = b.request("GET", "/containers/flaky/json", &[], b"").json();
        let state = format!(
            "{} {} {}",
            j["RestartCount"], j["State"]["Status"], j["State"]["ExitCode"]
        );
        seen.insert(state.clone());
        if state == "3 \"exited\" 5" {
            break;
        }
        assert!(
            state.contains("running") || state.contains("restarting"),
            "{seen:?}"
        );
        assert!(Instant::now() < deadline, "timed out: {seen:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(seen.iter().any(|s| s.contains("restarting")), "{seen:?}");
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "restarted without backoff: {:?}",
        t.elapsed()
    );
    assert_eq!(inspect(&b, "flaky", "{{.State.ExitCode}}"), "5");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(inspect(&b, "flaky", "{{.RestartCount}}"), "3");
    // on-failure does not restart a success.
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    wait_until(&b, "fine to exit", 10, || {
        inspect(&b, "fine", "{{.State.Status}}") == "exited"
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inspect(&b, "fine", "{{.RestartCount}}"), "0");
    // always restarts even a success, is seen restarting, and docker stop ends it.
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        "busybox",
        "true",
    ]);
    wait_until(&b, "always to restart", 20, || {
        inspect(&b, "loop", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap()
            >= 3
    });
    b.docker_ok(&["stop", "loop"]);
    let n = inspect(&b, "loop", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        inspect(
            &b,
            "loop",
            "{{.RestartCount}} {{.State.Running}} {{.State.Restarting}}"
        ),
        format!("{n} false false")
    );
    // A restart policy can be cancelled by removing the container.
    b.docker_ok(&["rm", "-f", "flaky", "fine", "loop"]);
    assert_eq!(b.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn auto_remove_and_wait_conditions() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    // -d --rm: gone once it exits.
    b.docker_ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "gone",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3",
    ]);
    wait_until(&b, "the container to be removed", 10, || {
        b.docker_run(&["inspect", "gone"]).0 != 0
    });
    // A failed start of an AutoRemove container removes it too.
    let (code, _, _) = b.docker_run(&[
        "run",
        "--rm",
        "--name",
        "nostart",
        "busybox",
        "/nonexistent",
    ]);
    assert_eq!(code, 127);
    assert_ne!(b.docker_run(&["inspect", "nostart"]).0, 0);
    // wait: not-running answers at once for a stopped container; next-exit waits for the
    // next run; removed waits for the removal.
    assert_eq!(
        b.docker_run(&["run", "--name", "ww", "busybox", "sh", "-c", "exit 9"])
            .0,
        9
    );
    assert_eq!(b.docker_ok(&["wait", "ww"]).trim(), "9");
    // A wait is registered once its status line came.
    let next = berth_tests::berthd::begin_request(
        &b.socket(),
        "POST",
        "/containers/ww/wait?condition=next-exit",
        &[],
        b"",
    );
    b.docker_ok(&["start", "ww"]);
    let r = next.finish();
    assert_eq!(r.json()["StatusCode"], 9);
    let removed = berth_tests::berthd::begin_request(
        &b.socket(),
        "POST",
        "/containers/ww/wait?condition=removed",
        &[],
        b"",
    );
    b.docker_ok(&["rm", "ww"]);
    let r = removed.finish();
    assert_eq!((r.status, r.json()["StatusCode"].as_i64()), (200, Some(9)));
    let r = b.request("POST", "/containers/x/wait?condition=bogus", &[], b"");
    assert_eq!(r.status, 404);
    b.docker_ok(&["create", "--name", "cc", "busybox", "true"]);
    let r = b.request("POST", "/containers/cc/wait?condition=bogus", &[], b"");
    assert_eq!(r.status, 400);
    b.docker_ok(&["rm", "cc"]);
}
