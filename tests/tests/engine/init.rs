//! `docker run --init` against berthd, and the same checks against Debian's dockerd 20.10
//! (whose docker-init is tini): PID 1 is the init at `/sbin/docker-init`, a process of the
//! container (its mount namespace, its cgroup: `docker top` lists it) in front of the
//! command; orphans are reaped; signals sent to PID 1, by `docker stop` or from inside the
//! container, reach the command; exit codes are the command's.

use std::time::{Duration, Instant};

use berth_tests::berthd::{Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::{require, unique};

/// The PID 1 line of busybox `ps` output.
fn pid1(ps: &str) -> &str {
    ps.lines()
        .find(|l| l.split_whitespace().next() == Some("1"))
        .unwrap_or_else(|| panic!("no PID 1 in\n{ps}"))
}

/// The `sleep` processes in the container, counted from inside: (alive, zombies).
fn sleeps(d: &DockerCli, name: &str) -> (usize, usize) {
    let out = d.ok(&[
        "exec",
        name,
        "sh",
        "-c",
        "cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 == \"(sleep)\" { print $3 }'",
    ]);
    let zombies = out.lines().filter(|s| s.trim() == "Z").count();
    (out.lines().count() - zombies, zombies)
}

/// Polls `check` every 50 ms for up to 10 s; the last value.
fn eventually<T>(mut check: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = check();
        if done(&v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_all(d: &DockerCli, dir: &std::path::Path) {
    let who = d.daemon;
    let busybox = berth_tests::cli::busybox_archive(dir);
    d.ok(&["load", "-i", busybox.to_str().expect("utf-8 path")]);

    // PID 1 is the init, the shell is a process of its own.
    let ps = d.ok(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 100 & sleep 0.5; ps",
    ]);
    assert!(
        pid1(&ps).contains("/sbin/docker-init -- sh -c"),
        "{who}: {ps}"
    );
    assert!(
        ps.lines()
            .any(|l| l.contains("sh -c sleep 100") && l.split_whitespace().next() != Some("1")),
        "{who}: {ps}"
    );

    // It lives in the container: its command line, and its mount table is the container's
    // (/etc/hosts bound in, nothing mounted under the daemon's directories).
    let out = d.ok(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/1/mountinfo",
    ]);
    let (cmdline, mountinfo) = out.split_once('\n').unwrap();
    assert!(
        cmdline.starts_with("/sbin/docker-init -- sh -c"),
        "{who}: {cmdline}"
    );
    let points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .collect();
    assert!(points.contains(&"/etc/hosts"), "{who}: {mountinfo}");
    assert!(points.contains(&"/sbin/docker-init"), "{who}: {mountinfo}");
    let host = dir.to_str().unwrap();
    assert!(
        !points.iter().any(|p| p.starts_with(host)),
        "{who}: {mountinfo}"
    );

    // Orphans of a main process that never waits: zombies without --init, none with it.
    let script = "sh -c 'sleep 0.1 & sleep 0.1 & sleep 0.1 &'; exec sleep 1000";
    for init in [false, true] {
        let name = unique("zombies");
        let mut args = vec!["run", "-d", "--name", &name, "--network", "none"];
        if init {
            args.push("--init");
        }
        args.extend(["busybox", "sh", "-c", script]);
        d.ok(&args);
        // Once the three short sleeps have ended, only the main `sleep 1000` is alive.
        let (alive, zombies) = eventually(|| sleeps(d, &name), |c| c.0 == 1);
        assert_eq!(alive, 1, "{who} --init: {init}");
        assert_eq!(zombies, if init { 0 } else { 3 }, "{who} --init: {init}");
        d.ok(&["rm", "-f", &name]);
    }

    // Exit codes are the command's: its own, 128 + a signal, 127 for a missing command.
    for (cmd, want) in [
        (vec!["sh", "-c", "exit 5"], 5),
        (vec!["sh", "-c", "kill -9 $$"], 137),
        (vec!["no-such-command"], 127),
    ] {
        let mut args = vec!["run", "--rm", "--init", "--network", "none", "busybox"];
        args.extend(&cmd);
        let (code, _, err) = d.run(&args);
        assert_eq!(code, want, "{who} {cmd:?}: {err}");
    }

    // sleep as PID 1 ignores SIGTERM; behind the init it ends at once.
    let name = unique("initstop");
    d.ok(&[
        "run",
        "-d",
        "--init",
        "--network",
        "none",
        "--name",
        &name,
        "busybox",
        "sleep",
        "1000",
    ]);
    // docker top lists the init too: it is in the container's cgroup.
    let top = eventually(|| d.ok(&["top", &name]), |t| t.contains("sleep 1000"));
    assert!(
        top.contains("/sbin/docker-init -- sleep 1000"),
        "{who}: {top}"
    );
    assert!(top.contains("sleep 1000"), "{who}: {top}");
    // The container's pid is the init's.
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", &name]);
    let cmdline = std::fs::read_to_string(format!("/proc/{}/cmdline", pid.trim())).unwrap();
    assert!(
        cmdline.starts_with("/sbin/docker-init\0--\0sleep"),
        "{who}: {cmdline:?}"
    );
    let t = Instant::now();
    d.ok(&["stop", &name]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "{who}: {:?}",
        t.elapsed()
    );
    let state = d.ok(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}} {{.HostConfig.Init}}",
        &name,
    ]);
    assert_eq!(state.trim(), "143 true", "{who}");
    d.ok(&["rm", &name]);

    // A signal sent to PID 1 from inside the container reaches the command.
    let name = unique("initsig");
    d.ok(&[
        "run",
        "-d",
        "--init",
        "--network",
        "none",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' USR1; touch /ready; while :; do sleep 0.1; done",
    ]);
    let ready = eventually(
        || d.run(&["exec", &name, "test", "-e", "/ready"]).0,
        |c| *c == 0,
    );
    assert_eq!(ready, 0, "{who}: the trap was never set");
    d.ok(&["exec", &name, "kill", "-USR1", "1"]);
    let code = d.ok(&["wait", &name]);
    assert_eq!(code.trim(), "42", "{who}");
    d.ok(&["rm", &name]);

    // CAP_SYS_PTRACE is no reason to refuse: the init is confined like the command.
    d.ok(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "--cap-add",
        "SYS_PTRACE",
        "busybox",
        "true",
    ]);
    // In the host's PID namespace the init is not PID 1 and still runs the command.
    let out = d.ok(&[
        "run",
        "--rm",
        "--init",
        "--pid",
        "host",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo $$",
    ]);
    let pid: i32 = out.trim().parse().unwrap();
    assert!(pid > 1, "{who}: {out}");
}

#[test]
fn berthd() {
    require!(root, docker_cli);
    let b = Berthd::start();
    run_all(&b.cli(), b.dir.path());
}

/// The same checks against Debian's dockerd: the expectations are its answers.
#[test]
fn dockerd() {
    require!(root, docker_cli, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    run_all(&d.cli(), d.dir.path());
}

#[test]
fn restart_a_daemon_restart_and_the_berth_cli_keep_the_init() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    let name = unique("initlife");
    b.docker_ok(&[
        "run",
        "-d",
        "--init",
        "--network",
        "none",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & wait",
    ]);
    let ps = b.docker_ok(&["exec", &name, "ps"]);
    assert!(pid1(&ps).contains("/sbin/docker-init"), "{ps}");

    // restart: the init again.
    b.docker_ok(&["restart", "-t", "1", &name]);
    let ps = b.docker_ok(&["exec", &name, "ps"]);
    assert!(pid1(&ps).contains("/sbin/docker-init"), "{ps}");

    // berthd and shimd killed and started again: the container is found and stops.
    b.kill9_all();
    b.restart();
    let running = b.docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]);
    assert_eq!(running.trim(), "true");
    let t = Instant::now();
    b.docker_ok(&["stop", &name]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    b.docker_ok(&["rm", &name]);

    // The same with berth.
    let berth = berth_tests::cli::Berth::new(&b.host());
    let ps = berth.ok(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "busybox",
        "ps",
    ]);
    assert!(pid1(&ps).contains("/sbin/docker-init -- ps"), "{ps}");
}
