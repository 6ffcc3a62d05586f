//! `berth version`, `berth info` and `berth attach` without a terminal against a real daemon
//! (berthd, and Debian's dockerd to show the CLI behaves the same with Docker's own daemon).

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use berth_tests::cli::Engine;
use berth_tests::gate::Gate;
use berth_tests::unique;

berth_tests::cli_scenarios!(version_and_info, attach_streams_output_and_exit_code);

/// The value after `key:` on the line that starts with it (indentation ignored).
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .map(str::trim_start)
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
        .trim()
}

fn version_and_info(e: &Engine) {
    let b = &e.berth;
    let v = b.ok(&["version"]);
    assert!(v.starts_with("Client:\n"), "{v}");
    // "Server:", then the platform's name if the daemon has one.
    assert!(v.lines().any(|l| l.starts_with("Server:")), "{v}");
    assert_eq!(field(&v, "OS/Arch"), "linux/amd64");
    // The commit the binaries were built from, and when they were built.
    let head = std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=7",
            "HEAD",
        ])
        .output()
        .expect("git is installed");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert_eq!(head.len(), 7, "the tests run from a git checkout");
    let commits: Vec<&str> = v
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Git commit:"))
        .map(str::trim)
        .collect();
    // The client's, and the server's when the server is berthd.
    assert_eq!(commits.len(), 2, "{v}");
    assert_eq!(commits[0], head, "{v}");
    if e.name == "berthd" {
        assert_eq!(commits[1], head, "{v}");
    }
    let built: Vec<&str> = v
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Built:"))
        .map(str::trim)
        .collect();
    assert_eq!(built.len(), 2, "{v}");
    // ANSI C form, as the docker CLI prints it: "Mon Dec  7 13:10:00 2026".
    for b in &built {
        assert!(
            chrono::NaiveDateTime::parse_from_str(b, "%a %b %e %H:%M:%S %Y").is_ok(),
            "{b:?} in {v}"
        );
    }
    let api = b.ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    let (major, minor) = api.trim().split_once('.').expect("API version");
    assert_eq!(major, "1");
    assert!(minor.parse::<u32>().unwrap() >= 41, "{api}");

    let name = unique("info");
    b.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "60"]);
    b.ok(&["create", "--name", &format!("{name}-c"), "busybox", "true"]);
    let info = b.ok(&["info"]);
    assert_eq!(field(&info, "Containers"), "2", "{info}");
    assert_eq!(field(&info, "Running"), "1", "{info}");
    assert_eq!(field(&info, "Stopped"), "1", "{info}");
    assert_eq!(field(&info, "Images"), "1", "{info}");
    assert_eq!(field(&info, "OSType"), "linux");
    assert_eq!(field(&info, "Logging Driver"), "json-file");
    let cpus = std::thread::available_parallelism()
        .unwrap()
        .get()
        .to_string();
    assert_eq!(field(&info, "CPUs"), cpus);
    let f = b.ok(&[
        "info",
        "--format",
        "{{.ContainersRunning}} {{.NCPU}} {{.OSType}}",
    ]);
    assert_eq!(f, format!("1 {cpus} linux\n"));
    b.ok(&["rm", "-f", &name, &format!("{name}-c")]);
}

fn attach_streams_output_and_exit_code(e: &Engine) {
    let b = &e.berth;
    // Each container ticks until its gate opens, which the test does once a tick showed
    // that the attach is there: it then sees every line the container says after.
    let gate = Gate::new();
    let name = unique("att");
    let script = format!(
        "{}; echo out; echo err >&2; sleep 0.3; exit 6",
        ticking(&gate, "talk")
    );
    b.ok(&[
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
    let mut attach = b
        .cmd(&["attach", "--sig-proxy=false", &name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth attach");
    let out = lines_of(attach.stdout.take().expect("piped stdout"));
    let err = lines_of(attach.stderr.take().expect("piped stderr"));
    assert_eq!(next_line(&out, "a tick"), "tick");
    gate.open("talk");
    assert_eq!(rest_after_ticks(&out), ["out"]);
    assert_eq!(rest_after_ticks(&err), ["err"]);
    assert_eq!(attach.wait().expect("berth attach").code(), Some(6));
    // --no-stdin on a container with an open stdin: output only; the container keeps its
    // stdin (nothing reaches it from here).
    let reader = unique("rd");
    let script = format!(
        "{}; echo waiting; read x; echo got-$x",
        ticking(&gate, "read")
    );
    b.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        &reader,
        "-v",
        &gate.volume(),
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    let mut attach = b
        .cmd(&["attach", "--no-stdin", &reader])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("berth attach");
    let out = lines_of(attach.stdout.take().expect("piped stdout"));
    assert_eq!(next_line(&out, "a tick"), "tick");
    gate.open("read");
    let mut line = next_line(&out, "a line after the gate opened");
    while line == "tick" {
        line = next_line(&out, "a line after the gate opened");
    }
    assert_eq!(line, "waiting");
    // `read x` waits on the stdin the attach left open.
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Running}}", &reader])
            .trim(),
        "true"
    );
    b.ok(&["kill", &reader]);
    // The attach ends with the container, and nothing came after "waiting".
    assert_eq!(rest_after_ticks(&out), Vec::<String>::new());
    let _ = attach.wait();
    b.ok(&["rm", "-f", &name, &reader]);
}

/// A script that says `tick` every 50 ms until gate `name` opens.
fn ticking(gate: &Gate, name: &str) -> String {
    format!(
        "until [ -e {} ]; do echo tick; sleep 0.05; done",
        gate.inside(name)
    )
}

/// The lines of `out` as they come, on a channel that closes at its end.
fn lines_of(out: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next line, or a panic naming `what` after 10 s.
fn next_line(lines: &mpsc::Receiver<String>, what: &str) -> String {
    lines
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("berth attach printed no {what} in 10s"))
}

/// The lines up to the end of the stream (each within 10 s), ticks left out.
fn rest_after_ticks(lines: &mpsc::Receiver<String>) -> Vec<String> {
    let mut rest = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(10)) {
            Ok(l) if l == "tick" => {}
            Ok(l) => rest.push(l),
            Err(mpsc::RecvTimeoutError::Disconnected) => return rest,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("berth attach still streams after 10s; so far {rest:?}")
            }
        }
    }
}
