//! The real docker CLI, unchanged, against berthd: the first-tier container commands.

use std::time::{Duration, Instant};

use berth_tests::berthd::Berthd;
use berth_tests::require;

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_attached_detached_and_interactive() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    // Attached: output and exit code come through.
    let (code, out, err) = b.docker_run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");
    // --rm leaves nothing.
    assert_eq!(b.docker_ok(&["ps", "-aq"]), "");
    // -i: stdin reaches the container and its EOF ends it (half-close).
    let (code, out, err) = b.docker_stdin(
        &["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done"],
        b"line1\nline2\n",
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "line1\nline2\ndone\n"),
        "{err}\n--- berthd log (tail) ---\n{}",
        b.log_tail(40)
    );
    // Missing command in the image: exit code 127 like docker.
    let (code, _, err) = b.docker_run(&["run", "--rm", "busybox", "/no/such/binary"]);
    assert_eq!(code, 127, "{err}");
    // -d: the id is printed and the container runs.
    let id = b
        .docker_ok(&["run", "-d", "--name", "bg", "busybox", "sleep", "60"])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    assert_eq!(
        b.docker_ok(&["inspect", "-f", "{{.State.Running}}", "bg"])
            .trim(),
        "true"
    );
    // create + start -a
    b.docker_ok(&["create", "--name", "later", "busybox", "echo", "from-start"]);
    let (code, out, _) = b.docker_run(&["start", "-a", "later"]);
    assert_eq!((code, out.as_str()), (0, "from-start\n"));
    // Environment, workdir, user, hostname, extra hosts, entrypoint.
    let out = b.docker_ok(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-u",
        "65534:65534",
        "-h",
        "myhost",
        "--add-host",
        "db:10.1.2.3",
        "busybox",
        "sh",
        "-c",
        "echo $FOO $(pwd) $(id -u):$(id -g) $(hostname); grep db /etc/hosts",
    ]);
    assert_eq!(out, "bar /tmp 65534:65534 myhost\n10.1.2.3\tdb\n");
    let out = b.docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "via",
        "entrypoint",
    ]);
    assert_eq!(out, "via entrypoint\n");
    let envfile = b.dir.path().join("env.list");
    std::fs::write(&envfile, "X=1\nY=two\n").unwrap();
    let out = b.docker_ok(&[
        "run",
        "--rm",
        "--env-file",
        envfile.to_str().unwrap(),
        "busybox",
        "sh",
        "-c",
        "echo $X$Y",
    ]);
    assert_eq!(out, "1two\n");
    b.docker_ok(&["rm", "-f", "bg", "later"]);
}

#[test]
fn ps_logs_exec_and_lifecycle() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "tier=front",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2; sleep 0.3; echo three; sleep 100",
    ]);
    assert_eq!(
        b.docker_run(&["run", "--name", "done", "busybox", "sh", "-c", "exit 2"])
            .0,
        2
    );
    let names = b.docker_ok(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(names.trim(), "web");
    let all = b.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(all.contains("done Exited (2)"), "{all}");
    assert_eq!(
        b.docker_ok(&["ps", "-a", "-q", "--filter", "status=exited"])
            .lines()
            .count(),
        1
    );
    assert_eq!(
        b.docker_ok(&["ps", "-q", "--filter", "label=tier=front"])
            .lines()
            .count(),
        1
    );
    assert_eq!(
        b.docker_ok(&["ps", "-a", "--filter", "name=^do", "--format", "{{.Names}}"])
            .trim(),
        "done"
    );
    assert_eq!(
        b.docker_ok(&["ps", "-a", "-n", "1", "--format", "{{.Names}}"])
            .trim(),
        "done"
    );
    wait_until("three lines of logs", 10, || {
        b.docker_run(&["logs", "web"]).1.contains("three")
    });
    let (_, out, err) = b.docker_run(&["logs", "web"]);
    assert_eq!(out, "one\nthree\n");
    assert_eq!(err, "two\n");
    assert_eq!(b.docker_run(&["logs", "--tail", "1", "web"]).1, "three\n");
    let ts = b.docker_ok(&["logs", "-t", "web"]);
    assert!(
        ts.lines()
            .all(|l| l.len() > 31 && l.as_bytes()[4] == b'-' && l.contains('Z')),
        "{ts}"
    );
    let (_, later, _) = b.docker_run(&["logs", "--since", "2099-01-01T00:00:00Z", "web"]);
    assert_eq!(later, "");
    // exec: output, exit code, env, user, workdir, detached, stdin.
    assert_eq!(b.docker_ok(&["exec", "web", "echo", "inside"]), "inside\n");
    assert_eq!(b.docker_run(&["exec", "web", "sh", "-c", "exit 5"]).0, 5);
    assert_eq!(
        b.docker_ok(&[
            "exec",
            "-e",
            "V=9",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "echo $V $(whoami) $(pwd)"
        ]),
        "9 nobody /tmp\n"
    );
    b.docker_ok(&["exec", "-d", "web", "sh", "-c", "echo detached > /tmp/d"]);
    wait_until("the detached exec", 10, || {
        b.docker_run(&["exec", "web", "cat", "/tmp/d"]).1 == "detached\n"
    });
    let (code, out, _) = b.docker_stdin(&["exec", "-i", "web", "cat"], b"piped\n");
    assert_eq!((code, out.as_str()), (0, "piped\n"));
    // top, stats, pause/unpause, rename
    let top = b.docker_ok(&["top", "web"]);
    assert!(top.contains("PID") && top.contains("sleep 100"), "{top}");
    let stats = b.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "web",
    ]);
    assert!(stats.starts_with("web "), "{stats}");
    b.docker_ok(&["pause", "web"]);
    assert_eq!(
        b.docker_ok(&["inspect", "-f", "{{.State.Status}}", "web"])
            .trim(),
        "paused"
    );
    b.docker_ok(&["unpause", "web"]);
    b.docker_ok(&["rename", "web", "site"]);
    assert_eq!(
        b.docker_ok(&["inspect", "-f", "{{.Name}}", "site"]).trim(),
        "/site"
    );
    // restart keeps the container and counts runs; stop, kill and wait report exits.
    b.docker_ok(&["restart", "-t", "1", "site"]);
    assert_eq!(
        b.docker_ok(&["inspect", "-f", "{{.State.Running}}", "site"])
            .trim(),
        "true"
    );
    b.docker_ok(&["stop", "-t", "1", "site"]);
    assert_eq!(
        b.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "site"
        ])
        .trim(),
        "exited 137"
    );
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "trap",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' USR1; while :; do sleep 0.1; done",
    ]);
    b.docker_ok(&["kill", "-s", "USR1", "trap"]);
    assert_eq!(b.docker_ok(&["wait", "trap"]).trim(), "7");
    b.docker_ok(&["rm", "trap"]);
    // rm -f of a running container, prune of the stopped ones.
    b.docker_ok(&["run", "-d", "--name", "victim", "busybox", "sleep", "100"]);
    b.docker_ok(&["rm", "-f", "victim"]);
    let pruned = b.docker_ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    assert_eq!(b.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn copy_in_and_out() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let work = b.dir.path().join("cp");
    std::fs::create_dir_all(work.join("dir/sub")).unwrap();
    std::fs::write(work.join("dir/sub/f.txt"), "hello").unwrap();
    std::fs::write(work.join("one.txt"), "one").unwrap();
    b.docker_ok(&["run", "-d", "--name", "cpc", "busybox", "sleep", "100"]);
    b.docker_ok(&["cp", work.join("one.txt").to_str().unwrap(), "cpc:/tmp/"]);
    b.docker_ok(&["cp", work.join("dir").to_str().unwrap(), "cpc:/tmp/dir"]);
    assert_eq!(
        b.docker_ok(&["exec", "cpc", "cat", "/tmp/one.txt", "/tmp/dir/sub/f.txt"]),
        "onehello"
    );
    // The whole upload is read before the answer, padding after the end of the archive
    // included (GNU tar pads to 10 KiB records): answering early would cut the connection
    // under a client still writing.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    tar.append_data(&mut h, "padded.txt", &b"padded"[..])
        .unwrap();
    let mut body = tar.into_inner().unwrap();
    body.resize(body.len() + (4 << 20), 0);
    let r = b.request("PUT", "/containers/cpc/archive?path=/tmp", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        b.docker_ok(&["exec", "cpc", "cat", "/tmp/padded.txt"]),
        "padded"
    );
    // A hard link to a target that exists nowhere is the client's error (400), not ours.
    let dangling = berth_tests::images::layer_tar(&[berth_tests::images::Entry::HardLink(
        "dangling",
        "no-such-target",
    )]);
    let r = b.request("PUT", "/containers/cpc/archive?path=/tmp", &[], &dangling);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("no-such-target"), "{}", r.text());
    let out = work.join("out");
    b.docker_ok(&["cp", "cpc:/etc/hostname", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim().len(), 12);
    b.docker_ok(&["cp", "cpc:/tmp/dir", work.join("back").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(work.join("back/sub/f.txt")).unwrap(),
        "hello"
    );
    let (code, _, err) = b.docker_run(&["cp", "cpc:/no/such/file", work.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("Could not find the file /no/such/file"),
        "{err}"
    );
    // A stopped container's files are reachable too.
    b.docker_ok(&["stop", "-t", "0", "cpc"]);
    b.docker_ok(&[
        "cp",
        "cpc:/tmp/one.txt",
        work.join("again").to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(work.join("again")).unwrap(), "one");
    b.docker_ok(&["cp", work.join("one.txt").to_str().unwrap(), "cpc:/root/"]);
    b.docker_ok(&["start", "cpc"]);
    assert_eq!(b.docker_ok(&["exec", "cpc", "cat", "/root/one.txt"]), "one");
    // A symlink that points out of the container is followed inside it only.
    b.docker_ok(&[
        "exec",
        "cpc",
        "ln",
        "-s",
        "/../../../../etc/shadow",
        "/tmp/escape",
    ]);
    let (code, _, _) =
        b.docker_run(&["cp", "cpc:/tmp/escape/", work.join("esc").to_str().unwrap()]);
    assert_ne!(code, 0, "followed a link out of the container");
    b.docker_ok(&["rm", "-f", "cpc"]);
}

#[test]
fn inspect_version_info_events_and_df() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let v = b.docker_ok(&["version", "-f", "{{.Server.APIVersion}} {{.Server.Os}}"]);
    assert_eq!(v.trim(), "1.47 linux");
    let info = b.docker_ok(&[
        "info",
        "-f",
        "{{.Images}} {{.OSType}} {{.Driver}} {{.NCPU}}",
    ]);
    assert!(info.starts_with("1 linux "), "{info}");
    let since = b.docker_ok(&["version", "-f", "{{.Server.Version}}"]);
    assert!(!since.trim().is_empty());
    let start = chrono_like_now();
    b.docker_ok(&["run", "--name", "ev", "busybox", "true"]);
    b.docker_ok(&["rm", "ev"]);
    let ev = b.docker_ok(&[
        "events",
        "--since",
        &start,
        "--until",
        &chrono_like_now_plus(1),
        "--filter",
        "container=ev",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = ev.lines().collect();
    for a in ["create", "start", "die", "destroy"] {
        assert!(actions.contains(&a), "events {actions:?} lack {a}");
    }
    let inspect = b.docker_ok(&["inspect", "busybox"]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert!(v[0]["Id"].as_str().unwrap().starts_with("sha256:"));
    let df = b.docker_ok(&["system", "df"]);
    assert!(df.contains("Images") && df.contains("Containers"), "{df}");
}

fn chrono_like_now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}", t.as_secs())
}

fn chrono_like_now_plus(s: u64) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}", t.as_secs() + s)
}
