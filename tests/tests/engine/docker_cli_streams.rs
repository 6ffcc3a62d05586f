//! The real docker CLI against berthd on the streaming endpoints: `attach` without a tty
//! (output as it comes, piped stdin), `logs -f` and `--until`, `stats` streaming, `events`
//! live, and `system df -v`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_tests::berthd::Berthd;
use berth_tests::gate::Gate;
use berth_tests::require;

/// A docker command running in the background; its stdout lines arrive on a channel.
struct Streaming {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Streaming {
    fn start(b: &Berthd, args: &[&str], stdin: bool) -> Streaming {
        let mut cmd = b.docker();
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
        if stdin {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("spawn docker");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Streaming { child, lines }
    }

    /// The next line, or a panic naming `what` after `secs`.
    fn next(&self, what: &str, secs: u64) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(secs))
            .unwrap_or_else(|_| panic!("no line from docker for {what} in {secs}s"))
    }

    /// Waits for the command to exit; its exit code.
    fn wait(&mut self, secs: u64) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "docker did not exit in {secs}s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn attach_and_logs_follow() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    // attach: lines arrive while the container runs, the exit code is the container's.
    // The container ticks until its gate opens, which the test does once a tick shows the
    // attach is there.
    let gate = Gate::new();
    let talker = format!(
        "until [ -e {} ]; do echo tick; sleep 0.05; done; \
         for i in 1 2 3; do echo line$i; sleep 0.3; done; exit 4",
        gate.inside("talk")
    );
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "-v",
        &gate.volume(),
        "busybox",
        "sh",
        "-c",
        &talker,
    ]);
    let mut att = Streaming::start(&b, &["attach", "--sig-proxy=false", "talker"], false);
    assert_eq!(att.next("a tick of the attached container", 10), "tick");
    gate.open("talk");
    let first = loop {
        let l = att.next("the first attached line", 10);
        if l != "tick" {
            break l;
        }
    };
    let got_first = Instant::now();
    assert_eq!(first, "line1");
    assert_eq!(att.next("line2", 5), "line2");
    assert_eq!(att.next("line3", 5), "line3");
    assert!(got_first.elapsed() >= Duration::from_millis(300));
    assert_eq!(att.wait(10), 4);

    // attach -i (the default with a stdin): what is piped in reaches the container.
    b.docker_ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "reader",
        "busybox",
        "sh",
        "-c",
        "read a; echo got-$a; read b; echo got-$b",
    ]);
    let mut att = Streaming::start(&b, &["attach", "reader"], true);
    let mut stdin = att.child.stdin.take().expect("stdin");
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"one\n").unwrap();
    assert_eq!(att.next("the echo of the first input", 10), "got-one");
    stdin.write_all(b"two\n").unwrap();
    assert_eq!(att.next("the echo of the second input", 10), "got-two");
    drop(stdin);
    assert_eq!(att.wait(10), 0);

    // logs -f follows until the container exits; --until cuts the past. The later lines
    // are said when the test opens their gates, so they did not exist when logs -f began.
    let ticker = format!(
        "echo early; {}; echo late; {}; echo last",
        gate.wait("late"),
        gate.wait("last")
    );
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "-v",
        &gate.volume(),
        "busybox",
        "sh",
        "-c",
        &ticker,
    ]);
    let mut f = Streaming::start(&b, &["logs", "-f", "ticker"], false);
    assert_eq!(f.next("early", 10), "early");
    // A moment between the two lines, as a Unix timestamp (docker takes those too).
    let between = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    let between = format!("{}.{:09}", between.as_secs(), between.subsec_nanos());
    gate.open("late");
    assert_eq!(f.next("late", 10), "late");
    gate.open("last");
    assert_eq!(f.next("last", 10), "last");
    assert_eq!(f.wait(10), 0);
    let before_late = b.docker_ok(&["logs", "--until", &between, "ticker"]);
    assert_eq!(before_late, "early\n");
    let from_late = b.docker_ok(&["logs", "--since", &between, "ticker"]);
    assert_eq!(from_late, "late\nlast\n");
}

#[test]
fn stats_and_events_stream() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    b.docker_ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "60"]);
    // stats without --no-stream keeps printing rows.
    let s = Streaming::start(
        &b,
        &[
            "stats",
            "--format",
            "{{.Name}} {{.PIDs}} {{.MemUsage}}",
            "busy",
        ],
        false,
    );
    let rows: Vec<String> = (0..3)
        .map(|_| s.next("a stats row", 10))
        .filter(|l| l.contains("busy"))
        .collect();
    assert!(rows.len() >= 2, "stats rows: {rows:?}");
    for r in &rows {
        assert!(
            // The docker CLI redraws with cursor-home (and at first clear-screen) codes.
            r.trim_start_matches("\u{1b}[2J")
                .trim_start_matches("\u{1b}[H")
                .starts_with("busy 1 "),
            "{r}"
        );
    }
    drop(s);

    // events: a live stream shows what happens after it started.
    let ev = Streaming::start(
        &b,
        &[
            "events",
            "--filter",
            "container=ev",
            "--filter",
            "container=evmark",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ],
        false,
    );
    // The stream is live once it shows a marker container made after it started.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        b.docker_ok(&["create", "--name", "evmark", "busybox", "true"]);
        b.docker_ok(&["rm", "evmark"]);
        if let Ok(l) = ev.lines.recv_timeout(Duration::from_secs(1)) {
            assert!(l.ends_with(" evmark"), "{l}");
            break;
        }
        assert!(Instant::now() < deadline, "docker events shows nothing");
    }
    b.docker_ok(&["run", "--rm", "--name", "ev", "busybox", "true"]);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l == "container destroy ev") {
        let l = ev.next("the container's events", 10);
        if !l.ends_with(" evmark") {
            seen.push(l);
        }
    }
    for action in ["create", "attach", "start", "die", "destroy"] {
        assert!(
            seen.contains(&format!("container {action} ev")),
            "events {seen:?} lack {action}"
        );
    }

    // system df -v lists the image, the container and its size.
    let df = b.docker_ok(&["system", "df", "-v"]);
    assert!(df.contains("Images space usage:"), "{df}");
    assert!(df.contains("busybox"), "{df}");
    assert!(df.contains("Containers space usage:"), "{df}");
    assert!(
        df.lines()
            .any(|l| l.contains("busy") && l.contains("sleep 60")),
        "{df}"
    );
    b.docker_ok(&["rm", "-f", "busy"]);
}
