//! Tasks through shimd and berth-shim, driven by berthctl: output and exit codes, exec,
//! pause/resume, stats, logs after delete, terminals, stdin, attach, and the order of task
//! events. Real containers (runc and berth-runtime), real mounts and cgroups.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_tests::tasks::{TaskLab, IMAGE};
use berth_tests::{require, unique};

/// `berthctl events` in the background, its lines collected.
struct Events {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Events {
    /// Subscribes and waits until the subscription demonstrably receives events.
    fn start(lab: &TaskLab) -> Events {
        let mut child = lab
            .shimd
            .ctl()
            .args(["events"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let mut e = Events {
            child,
            lines,
            seen: Vec::new(),
        };
        // A marker proves the subscription is live.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let marker = unique("marker");
            lab.ctl_ok(&["images", "tag", IMAGE, &format!("{marker}:x")]);
            lab.ctl_ok(&["images", "rm", &format!("{marker}:x")]);
            if e.wait_for(&marker, Duration::from_millis(500)) {
                return e;
            }
            assert!(Instant::now() < deadline, "berthctl events shows nothing");
        }
    }

    /// Waits until a line containing `needle` arrives.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.seen.iter().any(|l| l.contains(needle)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => return false,
            }
        }
    }

    /// The topics seen for container `id`, in order.
    fn topics_for(&self, id: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter(|l| {
                l.contains(&format!("container_id={id} "))
                    || l.ends_with(&format!("container_id={id}"))
            })
            .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
            .collect()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn run_with_runc_returns_output_and_exit_code() {
    require!(root);
    let lab = TaskLab::start();
    let id = unique("runc");
    let (code, out, err) = lab.ctl(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        IMAGE,
        &id,
        "/bin/sh",
        "-c",
        "echo out-line; echo err-line >&2; exit 5",
    ]);
    assert_eq!(code, 5, "stdout: {out}\nstderr: {err}\n{}", lab.shimd.log());
    assert_eq!(out, "out-line\n");
    assert_eq!(err, "err-line\n");
    let (code, _, err) = lab.ctl(&["containers", "info", &id]);
    assert_ne!(code, 0, "--rm removes the container");
    assert!(err.contains(&id), "{err}");
    lab.assert_no_debris("default", &id);
}

#[test]
fn run_with_the_default_runtime_and_keep_the_container() {
    require!(root);
    let lab = TaskLab::start();
    let id = unique("dflt");
    let (code, out, err) = lab.ctl(&[
        "run",
        IMAGE,
        &id,
        "/bin/sh",
        "-c",
        "echo via-default; exit 3",
    ]);
    assert_eq!(code, 3, "stdout: {out}\nstderr: {err}\n{}", lab.shimd.log());
    assert_eq!(out, "via-default\n");
    // Without --rm the container stays (its task is gone) and its log can be read.
    assert!(lab
        .ctl_ok(&["containers", "ls", "-q"])
        .lines()
        .any(|l| l == id));
    assert!(
        lab.task_status(&id).is_none(),
        "the stopped task was deleted"
    );
    assert_eq!(lab.ctl_ok(&["tasks", "logs", &id]), "via-default\n");
    lab.ctl_ok(&["containers", "rm", &id]);
    lab.assert_no_debris("default", &id);
}

#[test]
fn detached_task_exec_pause_stats_events_and_logs_after_delete() {
    require!(root);
    let lab = TaskLab::start();
    let mut events = Events::start(&lab);
    let id = unique("life");
    let script = "trap 'echo got-term; exit 3' TERM; echo started; while true; do sleep 0.1; done";
    lab.ctl_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        IMAGE,
        &id,
        "/bin/sh",
        "-c",
        script,
    ]);
    lab.wait_status(&id, "RUNNING", Duration::from_secs(5));
    let pid = lab.task_pid(&id);
    let ps = lab.ctl_ok(&["tasks", "ps", &id]);
    assert!(ps.contains(&pid.to_string()), "{ps}");

    let (code, out, err) = lab.ctl(&[
        "tasks",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "/bin/sh",
        "-c",
        "echo in-exec; exit 7",
    ]);
    assert_eq!((code, out.as_str()), (7, "in-exec\n"), "{err}");

    lab.ctl_ok(&["tasks", "pause", &id]);
    assert_eq!(lab.task_status(&id).as_deref(), Some("PAUSED"));
    lab.ctl_ok(&["tasks", "resume", &id]);
    assert_eq!(lab.task_status(&id).as_deref(), Some("RUNNING"));

    let metrics: serde_json::Value =
        serde_json::from_str(&lab.ctl_ok(&["tasks", "metrics", "--format", "json", &id])).unwrap();
    assert!(
        metrics["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{metrics}"
    );
    assert!(
        metrics["memory"]["usage"].as_u64().unwrap_or(0) > 0,
        "{metrics}"
    );

    lab.ctl_ok(&["tasks", "kill", &id]);
    assert_eq!(lab.ctl_ok(&["tasks", "wait", &id]).trim(), "3");
    assert_eq!(lab.task_status(&id).as_deref(), Some("STOPPED"));
    lab.ctl_ok(&["tasks", "rm", &id]);
    assert!(events.wait_for("/tasks/delete", Duration::from_secs(5)));

    // The log outlives the task.
    assert_eq!(lab.ctl_ok(&["tasks", "logs", &id]), "started\ngot-term\n");
    let topics = events.topics_for(&id);
    let pos = |t: &str| {
        topics
            .iter()
            .position(|x| x == t)
            .unwrap_or_else(|| panic!("no {t} in {topics:?}"))
    };
    for t in [
        "/tasks/exec-added",
        "/tasks/exec-started",
        "/tasks/paused",
        "/tasks/resumed",
    ] {
        pos(t);
    }
    assert!(pos("/tasks/create") < pos("/tasks/start"), "{topics:?}");
    let init_exit = events
        .seen
        .iter()
        .position(|l| {
            l.contains("/tasks/exit")
                && l.contains(&format!("id={id} "))
                && l.contains("exit_status=3")
        })
        .expect("the init process's exit event");
    let delete = events
        .seen
        .iter()
        .position(|l| l.contains("/tasks/delete"))
        .unwrap();
    let start = events
        .seen
        .iter()
        .position(|l| l.contains("/tasks/start"))
        .unwrap();
    assert!(
        start < init_exit && init_exit < delete,
        "{:#?}",
        events.seen
    );
    assert!(
        events.seen.iter().any(|l| l.contains("/tasks/exit")
            && l.contains("exec_id=e1")
            && l.contains("exit_status=7")),
        "{:#?}",
        events.seen
    );

    lab.ctl_ok(&["containers", "rm", &id]);
    let (code, _, err) = lab.ctl(&["tasks", "logs", &id]);
    assert_ne!(code, 0);
    assert!(err.contains(&id) && err.contains("not found"), "{err}");
    lab.assert_no_debris("default", &id);
}

#[test]
fn exits_of_execs_deleted_at_once_are_published() {
    require!(root);
    let lab = TaskLab::start();
    let mut events = Events::start(&lab);
    let id = lab.run_sleeper("execexit");
    let _removal = lab.remove_on_drop(&id);
    // `tasks exec` learns the exit from its attach stream and deletes the process at once,
    // maybe before shimd's own watcher of the process recorded the exit; execs running
    // side by side make that likely (a start holds the task while the runtime runs). The
    // exit must be published all the same.
    let (threads, each) = (3, 8);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (lab, id) = (&lab, &id);
            s.spawn(move || {
                for n in 0..each {
                    let code = t * each + n + 1;
                    let (got, _, err) = lab.ctl(&[
                        "tasks",
                        "exec",
                        "--exec-id",
                        &format!("x{code}"),
                        id,
                        "/bin/sh",
                        "-c",
                        &format!("exit {code}"),
                    ]);
                    assert_eq!(got, code, "exec x{code}: {err}");
                }
            });
        }
    });
    // Events keep their order: once the task's delete is seen, every exit was published.
    lab.ctl_ok(&["tasks", "kill", "-s", "KILL", &id]);
    lab.ctl_ok(&["tasks", "wait", &id]);
    lab.ctl_ok(&["tasks", "rm", &id]);
    assert!(events.wait_for("/tasks/delete", Duration::from_secs(10)));
    let lost: Vec<i32> = (1..=threads * each)
        .filter(|code| {
            let this = format!("exec_id=x{code} exit_status={code} ");
            !events
                .seen
                .iter()
                .any(|l| l.contains("/tasks/exit") && l.contains(&this))
        })
        .collect();
    assert!(lost.is_empty(), "no exit event for execs {lost:?}");
    lab.ctl_ok(&["containers", "rm", &id]);
    lab.assert_no_debris("default", &id);
}

#[test]
fn logs_follow_tail_and_since() {
    require!(root);
    let lab = TaskLab::start();
    let id = unique("logs");
    lab.ctl_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        IMAGE,
        &id,
        "/bin/sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done; echo oops >&2",
    ]);
    // Follow ends by itself when the container stops, with every line.
    let (code, out, err) = lab.ctl(&["tasks", "logs", "-f", &id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "line1\nline2\nline3\nline4\nline5\n");
    assert_eq!(err, "oops\n");
    let tail = lab.ctl_ok(&["tasks", "logs", "--tail", "2", &id]);
    assert_eq!(
        tail, "line5\n",
        "stderr's last line counts for the tail too"
    );
    let stamped = lab.ctl_ok(&["tasks", "logs", "-t", &id]);
    let third = stamped.lines().nth(2).unwrap();
    let (t3, text) = third.split_once(' ').unwrap();
    assert_eq!(text, "line3");
    let since = lab.ctl_ok(&["tasks", "logs", "--since", t3, &id]);
    assert_eq!(since, "line3\nline4\nline5\n");
    let until = lab.ctl_ok(&["tasks", "logs", "--until", t3, &id]);
    assert_eq!(until, "line1\nline2\nline3\n");
    lab.ctl_ok(&["containers", "rm", &id]);
    lab.assert_no_debris("default", &id);
}

#[test]
fn stdin_is_forwarded_and_closed() {
    require!(root);
    let lab = TaskLab::start();
    let id = unique("stdin");
    let mut child = lab
        .shimd
        .ctl()
        .args([
            "run",
            "-i",
            "--rm",
            "--runtime",
            "runc",
            IMAGE,
            &id,
            "/bin/sh",
            "-c",
            "cat; echo done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"through-stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "through-stdin\ndone\n"
    );
    lab.assert_no_debris("default", &id);

    // Attaching later to a detached container with stdin.
    let id = unique("attach");
    lab.ctl_ok(&[
        "run",
        "-d",
        "-i",
        IMAGE,
        &id,
        "/bin/sh",
        "-c",
        "read x; echo got-$x; exit 2",
    ]);
    let mut att = lab
        .shimd
        .ctl()
        .args(["tasks", "attach", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    att.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let out = att.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got-abc\n");
    lab.ctl_ok(&["containers", "rm", &id]);
    lab.assert_no_debris("default", &id);
}

#[test]
fn terminal_runs_are_interactive() {
    require!(root);
    let lab = TaskLab::start();
    let id = unique("tty");
    let size = nix::pty::Winsize {
        ws_row: 33,
        ws_col: 111,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).unwrap();
    let slave = std::fs::File::from(pty.slave);
    let mut child = lab
        .shimd
        .ctl()
        .args([
            "run",
            "-t",
            "--rm",
            "--runtime",
            "runc",
            IMAGE,
            &id,
            "/bin/sh",
        ])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let reader = master.try_clone().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = reader;
        let mut buf = [0u8; 4096];
        let mut all = Vec::new();
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
        }
    });
    master
        .write_all(b"tty -s && echo is-a-tty; echo size-$(busybox stty size | tr ' ' x); echo sum-$((6*7))\n")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = String::new();
    while !seen.contains("sum-42") && Instant::now() < deadline {
        if let Ok(s) = rx.recv_timeout(Duration::from_millis(200)) {
            seen = s;
        }
    }
    assert!(
        seen.contains("is-a-tty") && seen.contains("sum-42"),
        "{seen:?}"
    );
    assert!(
        seen.contains("size-33x111"),
        "our window size reaches the container: {seen:?}"
    );
    master.write_all(b"exit 4\n").unwrap();
    let status = wait_child(&mut child, Duration::from_secs(15));
    assert_eq!(status, Some(4), "{seen:?}");
    drop(master);
    lab.assert_no_debris("default", &id);
}

fn wait_child(c: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = c.try_wait() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    None
}

#[test]
fn exec_with_a_terminal_and_process_listing() {
    require!(root);
    let lab = TaskLab::start();
    let id = lab.run_sleeper("exectty");
    // A detached exec shows in ps with its exec id.
    lab.ctl_ok(&[
        "tasks",
        "exec",
        "-d",
        "--exec-id",
        "bg",
        &id,
        "/bin/sleep",
        "1000",
    ]);
    let ps = lab.ctl_ok(&["tasks", "ps", &id]);
    assert!(ps.lines().any(|l| l.trim_end().ends_with("bg")), "{ps}");
    let out = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} --address {} tasks exec -t {id} /bin/sh -c 'tty -s && echo exec-tty'",
            berth_tests::bins::bin("berthctl").display(),
            lab.shimd.socket().display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("exec-tty"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    lab.ctl_ok(&["tasks", "kill", "-s", "KILL", &id]);
    lab.ctl_ok(&["containers", "rm", &id]);
    lab.assert_no_debris("default", &id);
}

#[test]
fn logs_rotate_by_size_and_read_across_files() {
    use berth_proto::v1::{
        Container, CreateContainerRequest, CreateTaskRequest, LogsRequest, Mount, Runtime,
        StartRequest, WaitRequest,
    };
    require!(root);
    let lab = TaskLab::start();
    let g = lab.grpc("default");
    let id = unique("rotate");
    let rootfs = tempfile::tempdir().unwrap();
    berth_tests::rootfs::make_rootfs(rootfs.path()).unwrap();
    let script = "i=0; while [ $i -lt 60 ]; do echo line-$i; i=$((i+1)); done";
    g.block_on(g.containers().create(CreateContainerRequest {
        container: Some(Container {
            id: id.clone(),
            spec: berth_tests::tasks::spec("default", &id, &["/bin/sh", "-c", script]),
            runtime: Some(Runtime {
                binary: "runc".into(),
                options: vec![],
            }),
            ..Default::default()
        }),
    }))
    .unwrap();
    g.block_on(g.tasks().create(CreateTaskRequest {
        container_id: id.clone(),
        rootfs: vec![Mount {
            r#type: "bind".into(),
            source: rootfs.path().display().to_string(),
            target: String::new(),
            options: vec!["rbind".into()],
        }],
        log_max_size: 1000,
        log_max_files: 3,
        ..Default::default()
    }))
    .unwrap();
    g.block_on(g.tasks().start(StartRequest {
        container_id: id.clone(),
        exec_id: String::new(),
    }))
    .unwrap();
    let w = g
        .block_on(g.tasks().wait(WaitRequest {
            container_id: id.clone(),
            exec_id: String::new(),
        }))
        .unwrap()
        .into_inner();
    assert_eq!(w.exit_status, 0);
    let dir = lab.task_dir("default", &id);
    for f in ["log.json", "log.json.1", "log.json.2"] {
        let len = std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0 && len <= 1000, "{f}: {len} bytes");
    }
    assert!(!dir.join("log.json.3").exists(), "at most 3 files");
    // What is kept reads back in order, ending with the last line.
    let entries: Vec<String> = g.block_on(async {
        let mut s = g
            .tasks()
            .logs(LogsRequest {
                container_id: id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut out = Vec::new();
        while let Some(e) = s.message().await.unwrap() {
            out.push(String::from_utf8(e.data).unwrap());
        }
        out
    });
    assert!(
        entries.len() > 10 && entries.len() < 60,
        "{}",
        entries.len()
    );
    let first: usize = entries[0].trim()["line-".len()..].parse().unwrap();
    for (k, e) in entries.iter().enumerate() {
        assert_eq!(e, &format!("line-{}\n", first + k));
    }
    assert_eq!(entries.last().unwrap(), "line-59\n");
    lab.ctl_ok(&["containers", "rm", &id]);
    lab.assert_no_debris("default", &id);
}

#[test]
fn attach_replays_the_log_then_streams_to_the_exit() {
    use berth_proto::v1::{attach_request, attach_response, AttachOpen, AttachRequest};
    require!(root);
    let lab = TaskLab::start();
    let id = unique("replay");
    lab.ctl_ok(&[
        "run",
        "-d",
        "-i",
        "--runtime",
        "runc",
        IMAGE,
        &id,
        "/bin/sh",
        "-c",
        "echo one; read x; echo two-$x; echo three >&2; exit 3",
    ]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.ctl_ok(&["tasks", "logs", &id]) != "one\n" {
        assert!(Instant::now() < deadline, "no first line");
        std::thread::sleep(Duration::from_millis(50));
    }
    let g = lab.grpc("default");
    let got = g.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tx.send(AttachRequest {
            kind: Some(attach_request::Kind::Open(AttachOpen {
                container_id: id.clone(),
                exec_id: String::new(),
                stdin: true,
                stdout: true,
                stderr: true,
                logs: true,
            })),
        })
        .await
        .unwrap();
        let mut s = g
            .tasks()
            .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        let mut sent = false;
        while let Some(m) = s.message().await.unwrap() {
            let k = m.kind.unwrap();
            if matches!(k, attach_response::Kind::Stdout(ref d) if d == b"one\n") && !sent {
                for kind in [
                    attach_request::Kind::Stdin(b"z\n".to_vec()),
                    attach_request::Kind::CloseStdin(true),
                ] {
                    tx.send(AttachRequest { kind: Some(kind) }).await.unwrap();
                }
                sent = true;
            }
            let done = matches!(k, attach_response::Kind::Exit(_));
            got.push(k);
            if done {
                break;
            }
        }
        got
    });
    use berth_proto::v1::attach_response::Kind as K;
    assert!(matches!(got.first(), Some(K::Ready(true))), "{got:?}");
    assert_eq!(
        got.get(1),
        Some(&K::Stdout(b"one\n".to_vec())),
        "the log first: {got:?}"
    );
    assert!(got.contains(&K::Stdout(b"two-z\n".to_vec())), "{got:?}");
    assert!(got.contains(&K::Stderr(b"three\n".to_vec())), "{got:?}");
    match got.last() {
        Some(K::Exit(w)) => assert_eq!(w.exit_status, 3),
        other => panic!("no exit at the end: {other:?}"),
    }
    lab.ctl_ok(&["containers", "rm", &id]);
    lab.assert_no_debris("default", &id);
}

#[test]
fn update_changes_the_limits_of_a_running_task() {
    use berth_proto::v1::UpdateTaskRequest;
    require!(root);
    let lab = TaskLab::start();
    let id = lab.run_sleeper("update");
    let g = lab.grpc("default");
    let limit = 64 * 1024 * 1024u64;
    g.block_on(
        g.tasks().update(UpdateTaskRequest {
            container_id: id.clone(),
            resources: serde_json::to_vec(&serde_json::json!({
                "memory": { "limit": limit },
                "pids": { "limit": 50 }
            }))
            .unwrap(),
        }),
    )
    .unwrap();
    let metrics: serde_json::Value =
        serde_json::from_str(&lab.ctl_ok(&["tasks", "metrics", "--format", "json", &id])).unwrap();
    assert_eq!(metrics["memory"]["limit"], limit, "{metrics}");
    assert_eq!(metrics["pids"]["limit"], 50, "{metrics}");
    let e = g
        .block_on(g.tasks().update(UpdateTaskRequest {
            container_id: id.clone(),
            resources: b"[1,2]".to_vec(),
        }))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    lab.ctl_ok(&["containers", "rm", "--force", &id]);
    lab.assert_no_debris("default", &id);
}
