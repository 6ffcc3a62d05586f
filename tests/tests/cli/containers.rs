//! `berth` container commands against a real daemon: run (output, exit codes, stdin,
//! flags), the detached lifecycle, create/start -a, logs, exec, inspect formats, rename,
//! pause, wait, top, stats, events.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_tests::cli::Engine;
use berth_tests::unique;

berth_tests::cli_scenarios!(
    run_prints_output_and_returns_the_exit_code,
    detached_container_lifecycle,
    create_then_start_attached,
    stdin_is_forwarded_and_closed,
    run_flags_reach_the_container,
    resource_and_security_flags_are_recorded,
    rename_pause_wait_top,
    stats_and_events,
);

fn run_prints_output_and_returns_the_exit_code(e: &Engine) {
    let o = e.berth.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.code, 3, "{o:?}");
    assert_eq!(o.stdout, "out\n");
    assert!(o.stderr.contains("err\n"), "{o:?}");
    // --rm: the daemon removed it by the time run returned.
    assert_eq!(e.berth.ok(&["ps", "-a", "-q"]), "");
    // The image's default command and an explicit 0.
    assert_eq!(e.berth.run(&["run", "--rm", "busybox", "true"]).code, 0);
}

fn detached_container_lifecycle(e: &Engine) {
    let name = unique("web");
    let id = e.berth.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo started; sleep 100",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id}");
    assert!(e
        .berth
        .ok(&["ps", "--format", "{{.Names}}"])
        .lines()
        .any(|l| l == name));
    assert!(e.berth.ok(&["ps", "-q"]).lines().any(|l| id.starts_with(l)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !e.berth.ok(&["logs", &name]).contains("started") {
        assert!(Instant::now() < deadline, "logs never showed the output");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(e.berth.ok(&["exec", &name, "echo", "inside"]), "inside\n");
    assert_eq!(e.berth.run(&["exec", &name, "sh", "-c", "exit 7"]).code, 7);
    assert_eq!(e.berth.ok(&["stop", "-t", "1", &name]), format!("{name}\n"));
    assert_eq!(
        e.berth.ok(&["inspect", "-f", "{{.State.Status}}", &name]),
        "exited\n"
    );
    assert!(e
        .berth
        .ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .contains(&format!("{name} Exited (137)")));
    assert_eq!(e.berth.ok(&["start", &name]), format!("{name}\n"));
    assert_eq!(
        e.berth.ok(&[
            "container",
            "inspect",
            "--format",
            "{{.State.Running}}",
            &name
        ]),
        "true\n"
    );
    assert_eq!(
        e.berth.ok(&["restart", "-t", "0", &name]),
        format!("{name}\n")
    );
    assert_eq!(e.berth.ok(&["kill", &name]), format!("{name}\n"));
    assert_eq!(e.berth.ok(&["wait", &name]), "137\n");
    assert_eq!(e.berth.ok(&["rm", &name]), format!("{name}\n"));
    let gone = e.berth.run(&["inspect", &name]);
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("No such object"), "{gone:?}");
}

fn create_then_start_attached(e: &Engine) {
    let name = unique("created");
    let id = e.berth.ok(&[
        "create",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo hi; exit 4",
    ]);
    assert_eq!(id.trim().len(), 64);
    assert_eq!(
        e.berth.ok(&["inspect", "-f", "{{.State.Status}}", &name]),
        "created\n"
    );
    let o = e.berth.run(&["start", "-a", &name]);
    assert_eq!((o.code, o.stdout.as_str()), (4, "hi\n"), "{o:?}");
    let o = e.berth.run(&["container", "start", "--attach", &name]);
    assert_eq!(o.code, 4, "a second start -a runs it again: {o:?}");
    e.berth.ok(&["container", "rm", &name]);
}

fn stdin_is_forwarded_and_closed(e: &Engine) {
    let o = e.berth.run_stdin(
        &["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done"],
        Some(b"line1\nline2\n"),
    );
    assert_eq!(o.stdout, "line1\nline2\ndone\n", "{o:?}");
    // Binary data, larger than any buffer: every byte arrives, none is taken for a detach key.
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let o = e
        .berth
        .run_stdin(&["run", "-i", "--rm", "busybox", "wc", "-c"], Some(&data));
    assert_eq!(o.stdout.trim(), "3000000", "{o:?}");
    // A container that writes a lot and never reads its stdin: its output keeps flowing
    // while the input waits (and is dropped when it exits).
    let o = e.berth.run_stdin(
        &[
            "run",
            "-i",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "yes | head -c 5000000",
        ],
        Some(&data),
    );
    assert_eq!((o.code, o.stdout.len()), (0, 5_000_000), "{}", o.stderr);
    // Without -i the container's stdin is empty.
    let o = e
        .berth
        .run_stdin(&["run", "--rm", "busybox", "wc", "-c"], Some(b"ignored"));
    assert_eq!(o.stdout.trim(), "0", "{o:?}");
    let name = unique("stdin");
    e.berth
        .ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let o = e
        .berth
        .run_stdin(&["exec", "-i", &name, "cat"], Some(b"through exec"));
    assert_eq!(o.stdout, "through exec");
    e.berth.ok(&["rm", "-f", &name]);
}

fn run_flags_reach_the_container(e: &Engine) {
    let env_file = e.work.path().join("env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=file value\n").unwrap();
    let out = e.berth.ok(&[
        "run", "--rm", "-e", "A=1", "--env", "BERTH_TEST_PASSED", "--env-file", env_file.to_str().unwrap(),
        "-w", "/tmp", "-u", "65534", "-h", "myhost", "--add-host", "db.local:10.1.2.3",
        "busybox", "sh", "-c",
        "echo $A; echo $FROM_FILE; echo $BERTH_TEST_PASSED; pwd; id -u; hostname; grep db.local /etc/hosts",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..6],
        ["1", "file value", "", "/tmp", "65534", "myhost"],
        "{out}"
    );
    assert!(
        lines[6].starts_with("10.1.2.3") && lines[6].contains("db.local"),
        "{out}"
    );
    // --entrypoint replaces the image's, the rest are its arguments.
    assert_eq!(
        e.berth
            .ok(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"]),
        "a b\n"
    );
    // Arguments after the image are the command's, even when they look like flags.
    assert_eq!(
        e.berth
            .ok(&["run", "--rm", "busybox", "echo", "-n", "--rm", "x"]),
        "--rm x"
    );
    // --read-only root filesystem.
    let o = e
        .berth
        .run(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("Read-only file system"), "{o:?}");
    // no-new-privileges and a dropped capability are visible from inside.
    let status = e.berth.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "--cap-drop",
        "ALL",
        "busybox",
        "grep",
        "-E",
        "NoNewPrivs|CapEff",
        "/proc/self/status",
    ]);
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
}

fn resource_and_security_flags_are_recorded(e: &Engine) {
    let name = unique("limits");
    e.berth.ok(&[
        "create",
        "--name",
        &name,
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        "--cpu-shares",
        "512",
        "--restart",
        "on-failure:2",
        "--init",
        "--cap-add",
        "NET_ADMIN",
        "--privileged",
        "-l",
        "team=blue",
        "busybox",
        "true",
    ]);
    let f = "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}} \
             {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Init}} \
             {{json .HostConfig.CapAdd}} {{.HostConfig.Privileged}} {{index .Config.Labels \"team\"}}";
    assert_eq!(
        e.berth.ok(&["inspect", "--format", f, &name]),
        "67108864 500000000 20 512 on-failure:2 true [\"NET_ADMIN\"] true blue\n"
    );
    assert_eq!(
        e.berth.ok(&[
            "ps",
            "-a",
            "--filter",
            "label=team=blue",
            "--format",
            "{{.Names}}"
        ]),
        format!("{name}\n")
    );
    assert_eq!(
        e.berth
            .ok(&["ps", "-a", "--filter", "label=team=red", "-q"]),
        ""
    );
    e.berth.ok(&["rm", &name]);
}

fn rename_pause_wait_top(e: &Engine) {
    let (a, b) = (unique("before"), unique("after"));
    e.berth
        .ok(&["run", "-d", "--name", &a, "busybox", "sleep", "100"]);
    e.berth.ok(&["rename", &a, &b]);
    assert_eq!(
        e.berth.ok(&["inspect", "-f", "{{.Name}}", &b]),
        format!("/{b}\n")
    );
    let top = e.berth.ok(&["top", &b]);
    assert!(top.starts_with("UID"), "{top}");
    assert!(top.contains("sleep 100"), "{top}");
    e.berth.ok(&["pause", &b]);
    assert_eq!(
        e.berth.ok(&["inspect", "-f", "{{.State.Status}}", &b]),
        "paused\n"
    );
    e.berth.ok(&["unpause", &b]);
    assert_eq!(
        e.berth.ok(&["inspect", "-f", "{{.State.Status}}", &b]),
        "running\n"
    );
    let waiter = e
        .berth
        .cmd(&["wait", &b])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // PID 1 ignores signals it has no handler for; KILL always works.
    e.berth.ok(&["kill", "-s", "KILL", &b]);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "137\n");
    e.berth.ok(&["rm", &b]);
}

fn stats_and_events(e: &Engine) {
    let name = unique("stats");
    // From now on, including what happens before the stream is set up.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut events = e
        .berth
        .cmd(&[
            "events",
            "--since",
            &since,
            "--filter",
            "type=container",
            "--filter",
            &format!("container={name}"),
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    e.berth
        .ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let stats = e.berth.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        &name,
    ]);
    assert!(stats.starts_with(&format!("{name} 1 ")), "{stats}");
    assert!(stats.contains("iB / "), "{stats}");
    let table = e.berth.ok(&["stats", "--no-stream", &name]);
    assert!(table.starts_with("CONTAINER ID   NAME"), "{table}");
    e.berth.ok(&["rm", "-f", &name]);
    let mut lines = BufReader::new(events.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("destroy")) {
        match lines.next() {
            Some(Ok(l)) => seen.push(l),
            _ => break,
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    for action in ["create", "start", "die", "destroy"] {
        assert!(
            seen.contains(&format!("{action} {name}")),
            "no {action} event in {seen:?}"
        );
    }
}
