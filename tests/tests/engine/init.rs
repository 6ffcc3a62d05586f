//! `docker run --init` against berthd: the container's shim is PID 1 of its PID namespace
//! (no extra process), zombies never pile up, `docker stop` is prompt, exit codes are the
//! main process's, and top, exec, restart and a daemon restart work as without it.

use std::time::{Duration, Instant};

use berth_tests::berthd::Berthd;
use berth_tests::{require, unique};

/// The PID 1 line of busybox `ps` output.
fn pid1(ps: &str) -> &str {
    ps.lines()
        .find(|l| l.split_whitespace().next() == Some("1"))
        .unwrap_or_else(|| panic!("no PID 1 in\n{ps}"))
}

/// The `sleep` processes in the container, counted from inside: (alive, zombies). Only
/// sleeps: with `--init` the runtime that starts an exec runs in the container's PID
/// namespace, and its own exit can be seen for a moment before the shim reaps it.
fn sleeps(b: &Berthd, name: &str) -> (usize, usize) {
    let out = b.docker_ok(&[
        "exec",
        name,
        "sh",
        "-c",
        "cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 == \"(sleep)\" { print $3 }'",
    ]);
    let zombies = out.lines().filter(|s| s.trim() == "Z").count();
    (out.lines().count() - zombies, zombies)
}

#[test]
fn pid_1_is_the_shim_and_zombies_are_reaped() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let ps = b.docker_ok(&[
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
    assert!(pid1(&ps).contains("berth-shim"), "{ps}");
    // The shell is there, as a process of its own.
    assert!(
        ps.lines()
            .any(|l| l.contains("sh -c sleep 100") && l.split_whitespace().next() != Some("1")),
        "{ps}"
    );

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
    assert!(pid1(&ps).contains("berth-shim"), "{ps}");

    // Orphans of a main process that never waits: zombies without --init, none with it.
    let script = "sh -c 'sleep 0.1 & sleep 0.1 & sleep 0.1 &'; exec sleep 1000";
    for init in [false, true] {
        let name = unique("zombies");
        let mut args = vec!["run", "-d", "--name", &name, "--network", "none"];
        if init {
            args.push("--init");
        }
        args.extend(["busybox", "sh", "-c", script]);
        b.docker_ok(&args);
        // Once the three short sleeps have ended, only the main `sleep 1000` is alive.
        let deadline = Instant::now() + Duration::from_secs(10);
        let (alive, zombies) = loop {
            std::thread::sleep(Duration::from_millis(200));
            let counts = sleeps(&b, &name);
            if counts.0 == 1 || Instant::now() > deadline {
                break counts;
            }
        };
        assert_eq!(alive, 1, "--init: {init}");
        assert_eq!(zombies, if init { 0 } else { 3 }, "--init: {init}");
        b.docker_ok(&["rm", "-f", &name]);
    }
}

#[test]
fn stop_is_prompt_and_exit_codes_are_the_main_processs() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let (code, _, err) = b.docker_run(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 5",
    ]);
    assert_eq!(code, 5, "{err}");
    let (code, _, err) = b.docker_run(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "kill -9 $$",
    ]);
    assert_eq!(code, 137, "{err}");

    // sleep as PID 1 ignores SIGTERM; under the shim it is not PID 1 and ends at once.
    let name = unique("initstop");
    b.docker_ok(&[
        "run", "-d", "--init", "--name", &name, "busybox", "sleep", "1000",
    ]);
    let t = Instant::now();
    b.docker_ok(&["stop", &name]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let state = b.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}} {{.HostConfig.Init}}",
        &name,
    ]);
    assert_eq!(state.trim(), "143 true");
    b.docker_ok(&["rm", &name]);
}

#[test]
fn top_exec_restart_and_a_daemon_restart_work() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    let name = unique("initlife");
    b.docker_ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & wait",
    ]);
    // top: the container's processes, by their host pids.
    let main: i32 = b
        .docker_ok(&["inspect", "-f", "{{.State.Pid}}", &name])
        .trim()
        .parse()
        .unwrap();
    let cmdline = std::fs::read_to_string(format!("/proc/{main}/cmdline")).unwrap();
    assert!(cmdline.starts_with("sh\0-c"), "{cmdline:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let top = loop {
        let top = b.docker_ok(&["top", &name]);
        if top.contains("sleep 1000") || Instant::now() > deadline {
            break top;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(top.contains(&main.to_string()), "{top}");
    assert!(top.contains("sleep 1000"), "{top}");
    // exec: in the same PID namespace.
    let ps = b.docker_ok(&["exec", &name, "ps"]);
    assert!(pid1(&ps).contains("berth-shim"), "{ps}");
    assert!(ps.contains("sleep 1000"), "{ps}");

    // restart: a new shim as init.
    b.docker_ok(&["restart", "-t", "1", &name]);
    let ps = b.docker_ok(&["exec", &name, "ps"]);
    assert!(pid1(&ps).contains("berth-shim"), "{ps}");

    // berthd and shimd killed and started again: the container is found and stops.
    b.kill9_all();
    b.restart();
    let running = b.docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]);
    assert_eq!(running.trim(), "true");
    let t = Instant::now();
    b.docker_ok(&["stop", &name]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    b.docker_ok(&["rm", &name]);
}

#[test]
fn init_with_ptrace_is_refused_and_the_host_pid_namespace_needs_nothing() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let (code, _, err) = b.docker_run(&[
        "run",
        "--rm",
        "--init",
        "--cap-add",
        "SYS_PTRACE",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("CAP_SYS_PTRACE"), "{err}");
    let (code, out, _) = b.docker_run(&["ps", "-aq"]);
    assert_eq!(
        (code, out.trim()),
        (0, ""),
        "a refused create leaves nothing"
    );

    // In the host's PID namespace the shim already reaps the container's orphans.
    let out = b.docker_ok(&[
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
    assert!(pid > 1, "{out}");
}
