//! What `berth` prints: the same tables and templates as the docker CLI against the same
//! daemon, logs options, ps selections, streaming stats, and signals forwarded to the
//! container (--sig-proxy).

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_tests::berthd::docker_cli;
use berth_tests::cli::Engine;
use berth_tests::gate::Gate;
use berth_tests::unique;

berth_tests::cli_scenarios!(
    same_output_as_the_docker_cli,
    logs_follow_tail_timestamps_since,
    ps_selections,
    stats_stream_redraws,
    signals_reach_the_container,
);

/// The docker CLI pointed at the same daemon, with a private config.
fn docker(e: &Engine, args: &[&str]) -> String {
    let cli = docker_cli().expect("docker CLI");
    let out = Command::new(cli)
        .arg("-H")
        .arg(&e.berth.host)
        .args(args)
        .env("DOCKER_CONFIG", e.work.path().join("docker-config"))
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn same_output_as_the_docker_cli(e: &Engine) {
    berth_tests::require!(docker_cli);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let (a, b) = (unique("same-a"), unique("same-b"));
    e.berth.ok(&[
        "run",
        "-d",
        "--name",
        &a,
        "-l",
        "tier=web",
        "busybox",
        "sh",
        "-c",
        "echo hi; sleep 100",
    ]);
    e.berth
        .ok(&["create", "--name", &b, "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(e.berth.run(&["start", "-a", &b]).code, 3);
    // Columns that do not move with the clock: whole tables and templates.
    for args in [
        &[
            "ps",
            "-a",
            "--format",
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Names}}\t{{.Labels}}",
        ][..],
        &[
            "ps",
            "-a",
            "--format",
            "{{.Names}}|{{.State}}|{{.Label \"tier\"}}|{{.Ports}}|{{.Mounts}}",
        ],
        &["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"],
        &["ps", "-aq"],
        &["ps", "--filter", "status=exited", "--format", "{{.Names}}"],
        &[
            "images",
            "--format",
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}",
        ],
        &["images", "-q", "--no-trunc"],
        &[
            "inspect",
            "--format",
            "{{.Name}} {{.State.ExitCode}} {{json .Config.Cmd}} {{.HostConfig.NetworkMode}}",
            &b,
        ],
        &[
            "inspect",
            "-f",
            "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
            &a,
        ],
        &[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{.Config.Cmd}} {{len .RootFS.Layers}}",
            "busybox",
        ],
        &["logs", &a],
    ] {
        assert_eq!(
            e.berth.ok(args),
            docker(e, args),
            "berth and docker differ on {args:?}"
        );
    }
    // top: the same table, but for the CPU columns, which move between two calls.
    let steady = |out: String| -> Vec<String> {
        out.lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                format!("{} {} {} {}", f[0], f[1], f[2], f[7..].join(" "))
            })
            .collect()
    };
    assert_eq!(
        steady(e.berth.ok(&["top", &a])),
        steady(docker(e, &["top", &a])),
        "berth and docker differ on top"
    );
    // The default ps table: the same columns (their widths follow the clock columns).
    let columns = |t: &str| -> Vec<String> {
        t.lines()
            .next()
            .unwrap_or("")
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    };
    let ours = e.berth.ok(&["ps", "-a"]);
    let theirs = docker(e, &["ps", "-a"]);
    assert_eq!(columns(&ours), columns(&theirs), "{ours}\n{theirs}");
    assert_eq!(ours.lines().count(), theirs.lines().count());
    let inspect_ours: serde_json::Value =
        serde_json::from_str(&e.berth.ok(&["inspect", &a])).unwrap();
    let inspect_theirs: serde_json::Value =
        serde_json::from_str(&docker(e, &["inspect", &a])).unwrap();
    assert_eq!(inspect_ours, inspect_theirs);
    // The event log between two times, in docker's default line format.
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let since = since.to_string();
    let events = [
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &format!("container={b}"),
    ];
    let ours = e.berth.ok(&events);
    assert!(ours.contains(" container create "), "{ours}");
    assert_eq!(ours, docker(e, &events));
    e.berth.ok(&["rm", "-f", &a, &b]);
}

fn logs_follow_tail_timestamps_since(e: &Engine) {
    // stdout and stderr stay apart.
    let mixed = unique("mixed");
    let o = e.berth.run(&[
        "run",
        "--name",
        &mixed,
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = e.berth.run(&["logs", &mixed]);
    assert_eq!(
        (o.stdout.as_str(), o.stderr.as_str()),
        ("out\n", "err\n"),
        "{o:?}"
    );
    e.berth.ok(&["rm", &mixed]);

    // "late" is said when the test opens its gate, after it has read the first lines.
    let gate = Gate::new();
    let name = unique("logs");
    let script = format!(
        "for i in 1 2 3; do echo line$i; done; {}; echo late",
        gate.wait("late")
    );
    e.berth.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-v",
        &gate.volume(),
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !e.berth.ok(&["logs", &name]).contains("line3") {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(e.berth.ok(&["logs", &name]), "line1\nline2\nline3\n");
    assert_eq!(e.berth.ok(&["logs", "--tail", "1", &name]), "line3\n");
    assert_eq!(e.berth.ok(&["logs", "-n", "2", &name]), "line2\nline3\n");
    let stamped = e.berth.ok(&["logs", "-t", &name]);
    let first = stamped.lines().next().unwrap();
    let (stamp, text) = first.split_once(' ').unwrap();
    assert_eq!(text, "line1");
    // RFC 3339 with nanoseconds: 2026-01-02T03:04:05.123456789Z
    let b = stamp.as_bytes();
    assert!(
        b.len() >= 20 && b[4] == b'-' && b[10] == b'T' && stamp.ends_with('Z'),
        "{first}"
    );
    assert_eq!(
        e.berth
            .ok(&["logs", "--since", "2099-01-01T00:00:00Z", &name]),
        ""
    );
    // -f streams until the container's output ends.
    gate.open("late");
    let start = Instant::now();
    let o = e.berth.run(&["logs", "-f", &name]);
    assert!(o.stdout.ends_with("line3\nlate\n"), "{o:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(e.berth.ok(&["wait", &name]), "0\n");
    e.berth.ok(&["rm", &name]);
}

fn ps_selections(e: &Engine) {
    let names: Vec<String> = (0..3).map(|i| unique(&format!("sel{i}"))).collect();
    for n in &names {
        e.berth.ok(&["create", "--name", n, "busybox", "true"]);
        std::thread::sleep(Duration::from_millis(20));
    }
    e.berth.ok(&["start", "-a", &names[0]]);
    let fmt = ["--format", "{{.Names}}"];
    assert_eq!(
        e.berth.ok(&["ps", "-n", "2", fmt[0], fmt[1]]),
        format!("{}\n{}\n", names[2], names[1])
    );
    assert_eq!(
        e.berth.ok(&["ps", "-l", fmt[0], fmt[1]]),
        format!("{}\n", names[2])
    );
    assert_eq!(
        e.berth
            .ok(&["ps", "-a", "--filter", "status=exited", fmt[0], fmt[1]]),
        format!("{}\n", names[0])
    );
    assert_eq!(
        e.berth.ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={}", names[1]),
            fmt[0],
            fmt[1]
        ]),
        format!("{}\n", names[1])
    );
    assert_eq!(e.berth.ok(&["ps", fmt[0], fmt[1]]), "", "none is running");
    let sized = e.berth.ok(&["ps", "-a", "-s", "--format", "{{.Size}}"]);
    assert!(sized.lines().all(|l| l.contains("(virtual ")), "{sized}");
    let table = e.berth.ok(&["ps", "-a", "-s"]);
    assert!(table.lines().next().unwrap().ends_with("SIZE"), "{table}");
    let json = e.berth.ok(&["ps", "-a", "--format", "json"]);
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["Names"].is_string() && v["Status"].is_string() && v["ID"].is_string(),
            "{line}"
        );
    }
    let mut args = vec!["rm"];
    args.extend(names.iter().map(String::as_str));
    e.berth.ok(&args);
}

fn stats_stream_redraws(e: &Engine) {
    let name = unique("live");
    e.berth
        .ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let mut child = e
        .berth
        .cmd(&["stats", "--format", "{{.Name}} {{.PIDs}}", &name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = 0;
    while seen < 2 {
        let line = lines.next().expect("stats kept streaming").unwrap();
        if line == format!("{name} 1") {
            seen += 1;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    e.berth.ok(&["rm", "-f", &name]);
}

fn signals_reach_the_container(e: &Engine) {
    let script = "trap 'echo got-term; exit 3' TERM; echo ready; while true; do sleep 0.1; done";
    let mut child = e
        .berth
        .cmd(&["run", "--rm", "busybox", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    out.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(
        status.code(),
        Some(3),
        "berth exits with the container's status"
    );
    // With --sig-proxy=false the signal stops berth itself; the container is untouched.
    let name = unique("noproxy");
    let mut child = e
        .berth
        .cmd(&[
            "run",
            "--name",
            &name,
            "--sig-proxy=false",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    out.read_exact(&mut buf).unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let _ = child.wait();
    assert_eq!(
        e.berth.ok(&["inspect", "-f", "{{.State.Running}}", &name]),
        "true\n"
    );
    e.berth.ok(&["rm", "-f", &name]);
}
