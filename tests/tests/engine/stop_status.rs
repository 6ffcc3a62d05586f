//! A stopped container's exit status is its process's own: a shell that traps SIGTERM and
//! exits 99 leaves 99, in the answer of a `wait` running alongside the `stop` and in
//! inspect, however the stop is asked for (API with and without `t`, the docker CLI),
//! for several containers stopped at once on a busy machine. Checked against berthd and
//! Debian's dockerd 20.10, whose answers are the expectations written here.
//!
//! A stop that lands before the shell has set its trap is another matter: the SIGTERM
//! reaches a PID 1 with no handler for it, the kernel drops it, and both daemons kill the
//! container when the stop timeout runs out (137, after 10 s by default; dockerd answers
//! 137, not 143 nor 99). berthd acts on a stop within milliseconds of the start, dockerd
//! some tenths of a second later, so a client stopping a container right after starting it
//! meets that case more often with berthd. Each trapping container here says when its
//! trap is set and is stopped after that; one that sets it late shows the other case.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth_tests::berthd::{begin_request, raw_request, Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::{require, unique, wait_until};

const TRAPPED: &str = "trap 'exit 99' TERM; echo trapped; while true; do usleep 10; done";

/// How a container is stopped while a wait runs.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// `POST /stop` without `t` (docker-py's `container.stop()`), `POST /wait` alongside.
    Api,
    /// `POST /stop?t=10`.
    ApiWithTimeout,
    /// `docker stop` and `docker wait`.
    Cli,
}

/// What the stop left: the wait's status, inspect's exit code, how long the stop took.
struct Outcome {
    waited: i64,
    inspected: i64,
    took: Duration,
}

fn api(d: &DockerCli, method: &str, path: &str) -> berth_tests::berthd::Response {
    raw_request(&d.socket(), method, path, &[], b"")
}

fn stop_while_waiting(d: &DockerCli, name: &str, how: Stop) -> Outcome {
    let t = Instant::now();
    let waited = match how {
        Stop::Api | Stop::ApiWithTimeout => {
            let wait = begin_request(
                &d.socket(),
                "POST",
                &format!("/containers/{name}/wait"),
                &[],
                b"",
            );
            let query = if matches!(how, Stop::Api) {
                ""
            } else {
                "?t=10"
            };
            let r = api(d, "POST", &format!("/containers/{name}/stop{query}"));
            assert_eq!(r.status, 204, "{} {how:?}: {}", d.daemon, r.text());
            let w = wait.finish();
            assert_eq!(w.status, 200, "{}: {}", d.daemon, w.text());
            w.json()["StatusCode"].as_i64().expect("StatusCode")
        }
        Stop::Cli => std::thread::scope(|s| {
            let wait = s.spawn(|| d.ok(&["wait", name]));
            // A `docker wait` that connects after the stop still answers the exit code.
            d.ok(&["stop", name]);
            let out = wait.join().expect("docker wait thread");
            out.trim().parse().expect("docker wait prints a number")
        }),
    };
    let took = t.elapsed();
    let inspected = api(d, "GET", &format!("/containers/{name}/json")).json()["State"]["ExitCode"]
        .as_i64()
        .expect("ExitCode");
    Outcome {
        waited,
        inspected,
        took,
    }
}

fn trapped(d: &DockerCli, name: &str) -> bool {
    api(d, "GET", &format!("/containers/{name}/logs?stdout=1"))
        .text()
        .contains("trapped")
}

/// Stops `per_kind` containers of each kind at once, each while a wait runs.
fn stop_many_at_once(d: &DockerCli, per_kind: usize) {
    let kinds = [Stop::Api, Stop::ApiWithTimeout, Stop::Cli];
    let jobs: Vec<(Stop, String)> = kinds
        .iter()
        .flat_map(|k| (0..per_kind).map(move |_| (*k, unique("exit99"))))
        .collect();
    for (_, name) in &jobs {
        d.ok(&[
            "run", "-d", "--name", name, "--net", "none", "busybox", "sh", "-c", TRAPPED,
        ]);
    }
    for (_, name) in &jobs {
        assert!(
            wait_until(Duration::from_secs(20), || trapped(d, name)),
            "{}: {name} never set its trap",
            d.daemon
        );
    }
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(how, name)| s.spawn(move || stop_while_waiting(d, name, *how)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("stop thread"))
            .collect()
    });
    for ((how, name), o) in jobs.iter().zip(&outcomes) {
        assert_eq!(
            (o.waited, o.inspected),
            (99, 99),
            "{} {how:?} {name}: the trap's exit status (took {:?})",
            d.daemon,
            o.took
        );
        // The trap ran on SIGTERM: no SIGKILL after the 10 s timeout.
        assert!(
            o.took < Duration::from_secs(9),
            "{} {how:?} {name}: stop took {:?}",
            d.daemon,
            o.took
        );
    }
    for (_, name) in &jobs {
        d.ok(&["rm", name]);
    }
}

/// A stop that lands before the shell sets its trap (4 s after it starts): the SIGTERM
/// reaches a PID 1 with no handler for it and is dropped, the trap is set afterwards, and
/// the container is killed when the timeout (5 s here) runs out. The margins (the stop
/// may come up to 4 s late, the trap 1 s early) hold on a loaded machine.
fn stop_before_the_trap(d: &DockerCli) {
    let name = unique("latetrap");
    d.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        &format!("echo up; usleep 4000000; {TRAPPED}"),
    ]);
    let logs = || api(d, "GET", &format!("/containers/{name}/logs?stdout=1")).text();
    assert!(
        wait_until(Duration::from_secs(20), || logs().contains("up")),
        "{}: {name} never started",
        d.daemon
    );
    let t = Instant::now();
    let wait = begin_request(
        &d.socket(),
        "POST",
        &format!("/containers/{name}/wait"),
        &[],
        b"",
    );
    let r = api(d, "POST", &format!("/containers/{name}/stop?t=5"));
    assert_eq!(r.status, 204, "{}: {}", d.daemon, r.text());
    let waited = wait.finish().json()["StatusCode"].as_i64();
    assert!(
        logs().contains("trapped"),
        "{}: the trap was set before the kill",
        d.daemon
    );
    assert_eq!(waited, Some(137), "{}: killed at the timeout", d.daemon);
    assert!(
        t.elapsed() >= Duration::from_secs(5),
        "{}: {:?}",
        d.daemon,
        t.elapsed()
    );
    d.ok(&["rm", &name]);
}

/// Keeps one core busy while `f` runs (the spinner ends even when `f` panics).
fn under_load<T>(f: impl FnOnce() -> T) -> T {
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Relaxed);
        }
    }
    let busy = AtomicBool::new(true);
    std::thread::scope(|s| {
        s.spawn(|| {
            while busy.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let _done = Done(&busy);
        f()
    })
}

#[test]
fn stop_leaves_the_trap_exit_status_on_berthd() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    under_load(|| {
        for _ in 0..3 {
            stop_many_at_once(&b.cli(), 2);
        }
    });
    stop_before_the_trap(&b.cli());
}

#[test]
fn stop_leaves_the_trap_exit_status_on_dockerd() {
    require!(root, docker_cli, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    let dir = tempfile::tempdir().expect("temp dir");
    let busybox = berth_tests::cli::busybox_archive(dir.path());
    d.cli()
        .ok(&["load", "-i", busybox.to_str().expect("utf-8 path")]);
    under_load(|| stop_many_at_once(&d.cli(), 2));
    stop_before_the_trap(&d.cli());
}
