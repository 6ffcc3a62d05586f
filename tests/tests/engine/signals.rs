//! Signalling containers through berthd with the docker CLI: `docker kill` and `docker
//! stop` reach the container's main process as with dockerd, nothing of a container
//! outlives its main process, and a SIGKILL is answered once the container has stopped.

use std::time::{Duration, Instant};

use berth_tests::berthd::Berthd;
use berth_tests::tasks::alive;
use berth_tests::{require, unique};

/// The host pids of a container's processes, from `docker top`.
fn top_pids(b: &Berthd, name: &str) -> Vec<i32> {
    b.docker_ok(&["top", name, "-o", "pid"])
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn nothing_outlives_the_main_process_in_the_host_pid_namespace() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    for how in ["kill", "stop"] {
        let name = unique("hostpid");
        b.docker_ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--pid",
            "host",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 3' TERM; sleep 1000 & sleep 1000 & wait",
        ]);
        assert!(
            wait_until(Duration::from_secs(5), || top_pids(&b, &name).len() == 3),
            "{:?}",
            top_pids(&b, &name)
        );
        let pids = top_pids(&b, &name);
        b.docker_ok(&[how, &name]);
        assert!(
            wait_until(Duration::from_secs(5), || pids.iter().all(|p| !alive(*p))),
            "docker {how}: {:?} of {pids:?} still run",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        let code = b.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
        // stop: the shell's trap ran on SIGTERM (sent to it alone); kill: SIGKILL.
        let want = if how == "stop" { "3" } else { "137" };
        assert_eq!(code.trim(), want, "docker {how}");
        b.docker_ok(&["rm", &name]);
    }
}

#[test]
fn kill_answers_once_the_container_has_stopped() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    // SIGKILL (the default): the container is stopped when `docker kill` returns, so a
    // plain `docker rm` right after it succeeds.
    for round in 0..5 {
        let name = unique("killrm");
        b.docker_ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "busybox",
            "sleep",
            "1000",
        ]);
        b.docker_ok(&["kill", &name]);
        let running = b.docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]);
        assert_eq!(running.trim(), "false", "round {round}");
        b.docker_ok(&["rm", &name]);
    }
    // Other signals are only delivered: a container that traps one keeps running.
    let name = unique("usr1");
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-usr1' USR1; echo trapped; while true; do sleep 0.1; done",
    ]);
    // A PID 1 gets no signal it has no handler for: send it once the trap is set.
    assert!(
        wait_until(Duration::from_secs(10), || b
            .docker_ok(&["logs", &name])
            .contains("trapped")),
        "{}",
        b.docker_ok(&["logs", &name])
    );
    b.docker_ok(&["kill", "-s", "USR1", &name]);
    assert!(
        wait_until(Duration::from_secs(5), || b
            .docker_ok(&["logs", &name])
            .contains("got-usr1")),
        "{}",
        b.docker_ok(&["logs", &name])
    );
    let running = b.docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]);
    assert_eq!(running.trim(), "true");
    b.docker_ok(&["rm", "-f", &name]);
}
