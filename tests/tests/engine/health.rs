//! Health checks as dockerd 20.10 runs them: `--health-*` options and an image's
//! HEALTHCHECK, starting -> unhealthy -> healthy in inspect (`State.Health`), `docker ps`
//! status and `health` filter, `health_status` and exec events, the start period, killed
//! overruns, capped output and log, pause, stop, a restart of berthd, and the values
//! dockerd refuses.

use std::time::{Duration, Instant};

use berth_tests::berthd::Berthd;
use berth_tests::{require, unique};
use serde_json::Value;

fn inspect(b: &Berthd, name: &str) -> Value {
    let r = b.request("GET", &format!("/containers/{name}/json"), &[], b"");
    assert_eq!(r.status, 200, "inspect {name}: {}", r.text());
    r.json()
}

fn health(b: &Berthd, name: &str) -> Value {
    inspect(b, name)["State"]["Health"].clone()
}

fn wait_for(b: &Berthd, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            b.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_status(b: &Berthd, name: &str, status: &str) -> Value {
    let mut last = Value::Null;
    wait_for(b, &format!("{name} to be {status}"), 30, || {
        last = health(b, name);
        last["Status"] == status
    });
    last
}

/// `docker ps` Status of `name`.
fn ps_status(b: &Berthd, name: &str) -> String {
    b.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name=^{name}$"),
        "--format",
        "{{.Status}}",
    ])
    .trim()
    .to_string()
}

/// Names `docker ps -a --filter health=<h>` lists.
fn with_health(b: &Berthd, h: &str) -> Vec<String> {
    b.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("health={h}"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(String::from)
    .collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `docker events` of container `name` between `since` and now, as "action" lines.
fn actions(b: &Berthd, name: &str, since: u64) -> Vec<String> {
    b.docker_ok(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &(unix_now() + 1).to_string(),
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// `berthctl tasks ls` in the engine's shimd namespace.
fn shimd_tasks(b: &Berthd) -> String {
    let out = std::process::Command::new(berth_tests::bins::bin("berthctl"))
        .env("BERTH_SHIMD_ADDRESS", b.exec_root().join("shimd.sock"))
        .args(["-n", "berth", "tasks", "ls"])
        .output()
        .expect("run berthctl");
    assert!(out.status.success(), "berthctl tasks ls: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn log_len(h: &Value) -> usize {
    h["Log"].as_array().map(|l| l.len()).unwrap_or(0)
}

fn last_end(b: &Berthd, name: &str) -> String {
    let h = health(b, name);
    h["Log"]
        .as_array()
        .and_then(|l| l.last())
        .map(|e| e["End"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn a_check_goes_starting_unhealthy_healthy_in_inspect_ps_filters_and_events() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let name = unique("hc");
    let since = unix_now();
    b.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "--health-timeout",
        "5s",
        "--health-start-period",
        "0s",
        "busybox",
        "sleep",
        "300",
    ]);
    let j = inspect(&b, &name);
    assert_eq!(j["State"]["Health"]["Status"], "starting", "{j}");
    assert_eq!(j["State"]["Health"]["FailingStreak"], 0);
    assert_eq!(j["Config"]["Healthcheck"]["Test"][0], "CMD-SHELL");
    assert_eq!(j["Config"]["Healthcheck"]["Interval"], 300_000_000);
    // The first check runs one interval after the start.
    assert!(
        ps_status(&b, &name).ends_with("(health: starting)"),
        "{}",
        ps_status(&b, &name)
    );
    assert_eq!(with_health(&b, "starting"), [name.as_str()]);

    let h = wait_status(&b, &name, "unhealthy");
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5, "{h}");
    for e in log {
        assert_eq!(e["ExitCode"], 1, "{h}");
        assert_eq!(e["Output"], "", "{h}");
        assert!(e["Start"].as_str().unwrap() <= e["End"].as_str().unwrap());
    }
    assert!(ps_status(&b, &name).ends_with(" (unhealthy)"));
    assert_eq!(with_health(&b, "unhealthy"), [name.as_str()]);
    assert!(with_health(&b, "healthy").is_empty());
    // Health checks' execs are not listed once they end (as with dockerd).
    assert_eq!(inspect(&b, &name)["ExecIDs"], Value::Null);

    b.docker_ok(&["exec", &name, "sh", "-c", "echo > /tmp/ok"]);
    let h = wait_status(&b, &name, "healthy");
    assert_eq!(h["FailingStreak"], 0);
    assert_eq!(h["Log"].as_array().unwrap().last().unwrap()["ExitCode"], 0);
    let status = ps_status(&b, &name);
    assert!(
        status.starts_with("Up ") && status.ends_with(" (healthy)"),
        "{status}"
    );
    assert_eq!(with_health(&b, "healthy"), [name.as_str()]);

    // One event per change, not per check; each check is an exec with its events.
    let acts = actions(&b, &name, since);
    let count = |a: &str| acts.iter().filter(|x| *x == a).count();
    assert_eq!(count("health_status: unhealthy"), 1, "{acts:?}");
    assert_eq!(count("health_status: healthy"), 1, "{acts:?}");
    assert!(
        count("exec_create: /bin/sh -c test -f /tmp/ok") >= 3,
        "{acts:?}"
    );
    assert!(
        count("exec_start: /bin/sh -c test -f /tmp/ok") >= 3,
        "{acts:?}"
    );
    assert!(count("exec_die") >= 3, "{acts:?}");

    // Paused: no checks, "(Paused)" in ps; unpaused: checks again.
    b.docker_ok(&["pause", &name]);
    let status = ps_status(&b, &name);
    assert!(status.ends_with(" (Paused)"), "{status}");
    let end = last_end(&b, &name);
    std::thread::sleep(Duration::from_millis(1200)); // four intervals with no check
    assert_eq!(last_end(&b, &name), end, "a paused container was checked");
    b.docker_ok(&["unpause", &name]);
    wait_for(&b, "a check after unpause", 20, || {
        last_end(&b, &name) > end
    });

    // Stopped: the last health stays (as dockerd); a start begins at "starting" again,
    // keeping the log.
    b.docker_ok(&["stop", "-t", "1", &name]);
    let h = health(&b, &name);
    assert_eq!(h["Status"], "healthy", "{h}");
    assert!(ps_status(&b, &name).starts_with("Exited"));
    let end = last_end(&b, &name);
    b.docker_ok(&["start", &name]);
    let h = health(&b, &name);
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0);
    assert!(log_len(&h) >= 1, "{h}");
    wait_for(&b, "a check of the new run", 20, || {
        last_end(&b, &name) > end
    });
    b.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn the_start_period_and_retries_decide_when_failures_count() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let slow = unique("hc-period");
    let run = |name: &str, period: &str, retries: &str| {
        b.docker_ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "--health-cmd",
            "echo failing >&2; exit 3",
            "--health-interval",
            "200ms",
            "--health-retries",
            retries,
            "--health-start-period",
            period,
            "busybox",
            "sleep",
            "300",
        ]);
    };
    // Inside the start period failures do not count.
    run(&slow, "1h", "1");
    wait_for(&b, "three checks", 30, || log_len(&health(&b, &slow)) >= 3);
    let h = health(&b, &slow);
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    assert_eq!(h["Log"][0]["ExitCode"], 3, "{h}");
    assert_eq!(
        h["Log"][0]["Output"], "failing\n",
        "stderr is captured: {h}"
    );
    // Without one, retries failures in a row make it unhealthy; the log keeps five.
    let fast = unique("hc-retries");
    run(&fast, "0s", "4");
    let h = wait_status(&b, &fast, "unhealthy");
    assert_eq!(h["FailingStreak"], 4, "{h}");
    wait_for(&b, "more than five checks", 30, || {
        health(&b, &fast)["FailingStreak"].as_i64().unwrap_or(0) >= 7
    });
    assert_eq!(log_len(&health(&b, &fast)), 5);
    b.docker_ok(&["rm", "-f", &slow, &fast]);
}

#[test]
fn an_overrunning_check_is_killed_and_output_is_capped() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let name = unique("hc-timeout");
    b.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "--health-cmd",
        "sleep 60",
        "--health-interval",
        "100ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "300",
    ]);
    let h = wait_status(&b, &name, "unhealthy");
    let e = &h["Log"][0];
    assert_eq!(e["ExitCode"], -1, "{h}");
    assert_eq!(e["Output"], "Health check exceeded timeout (300ms)", "{h}");
    // Killed, not left to pile up: at most the check in progress runs.
    let top = b.docker_ok(&["top", &name]);
    let checks = top.lines().filter(|l| l.contains("sleep 60")).count();
    assert!(checks <= 1, "checks pile up:\n{top}");
    // Once the container stops, shimd holds nothing of it, and no check runs again.
    let id = inspect(&b, &name)["Id"].as_str().unwrap().to_string();
    b.docker_ok(&["stop", "-t", "1", &name]);
    wait_for(&b, "the stopped container's task to go", 20, || {
        !shimd_tasks(&b).contains(&id)
    });
    let end = last_end(&b, &name);
    std::thread::sleep(Duration::from_millis(500)); // five intervals with no check
    assert_eq!(last_end(&b, &name), end, "a stopped container was checked");

    // Output: the first 4096 bytes, then "...".
    let big = unique("hc-output");
    b.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &big,
        "--health-cmd",
        "yes abcdefgh | head -c 5000; exit 1",
        "--health-interval",
        "100ms",
        "busybox",
        "sleep",
        "300",
    ]);
    wait_for(&b, "a check with output", 30, || {
        log_len(&health(&b, &big)) >= 1
    });
    let out = health(&b, &big)["Log"][0]["Output"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(out.len(), 4096 + 3, "{:?}", &out[..40.min(out.len())]);
    assert_eq!(&out[..18], "abcdefgh\nabcdefgh\n");
    assert_eq!(&out[4090..], "efgh\na...");
    b.docker_ok(&["rm", "-f", &name, &big]);
}

#[test]
fn no_check_means_no_health_key_and_an_image_check_runs() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let image = berth_tests::images::build_image_configured(
        &[berth_tests::images::busybox_layer()],
        serde_json::json!({
            "Cmd": ["sleep", "300"], "Env": ["PATH=/bin"],
            "Healthcheck": {"Test": ["CMD", "test", "-f", "/etc/hostname"],
                            "Interval": 200_000_000, "Retries": 1}
        }),
    );
    let archive =
        berth_tests::cli::image_archive(b.dir.path(), &image, "checked.tar", "checked:latest");
    b.docker_ok(&["load", "-i", archive.to_str().unwrap()]);

    let from_image = unique("hc-image");
    b.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &from_image,
        "checked",
    ]);
    let h = wait_status(&b, &from_image, "healthy");
    assert_eq!(h["Log"][0]["ExitCode"], 0, "{h}");
    // The request's fields override the image's, the rest is the image's.
    let tuned = unique("hc-tuned");
    b.docker_ok(&[
        "create",
        "--network",
        "none",
        "--name",
        &tuned,
        "--health-retries",
        "5",
        "checked",
    ]);
    let j = inspect(&b, &tuned);
    let hc = &j["Config"]["Healthcheck"];
    assert_eq!(
        (
            hc["Test"][1].as_str(),
            hc["Interval"].as_i64(),
            hc["Retries"].as_i64()
        ),
        (Some("test"), Some(200_000_000), Some(5)),
        "{hc}"
    );
    // Created, never started: no Health yet (as dockerd).
    assert_eq!(j["State"].get("Health"), None, "{j}");

    let disabled = unique("hc-none");
    b.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &disabled,
        "--no-healthcheck",
        "checked",
    ]);
    let plain = unique("hc-plain");
    b.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &plain,
        "busybox",
        "sleep",
        "300",
    ]);
    for n in [&disabled, &plain] {
        let j = inspect(&b, n);
        assert_eq!(j["State"].get("Health"), None, "{n}: {j}");
        assert!(!ps_status(&b, n).contains("health"), "{}", ps_status(&b, n));
    }
    assert_eq!(
        inspect(&b, &disabled)["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
    let mut none = with_health(&b, "none");
    none.sort();
    let mut want = vec![disabled.clone(), plain.clone(), tuned.clone()];
    want.sort();
    assert_eq!(none, want);
    b.docker_ok(&["rm", "-f", &from_image, &tuned, &disabled, &plain]);
}

#[test]
fn checks_resume_after_berthd_restarts() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    let name = unique("hc-restart");
    b.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]);
    wait_status(&b, &name, "unhealthy");
    b.restart();
    // The recorded health is back at once, and checks go on.
    assert_eq!(health(&b, &name)["Status"], "unhealthy");
    let end = last_end(&b, &name);
    wait_for(&b, "a check after the restart", 30, || {
        last_end(&b, &name) > end
    });
    b.docker_ok(&["exec", &name, "sh", "-c", "echo > /tmp/ok"]);
    wait_status(&b, &name, "healthy");
    b.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn invalid_checks_are_refused_as_dockerd_refuses_them() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    // What dockerd 20.10 answers to each (status 400).
    let cases = [
        (
            r#""Retries":-1"#,
            "Retries in Healthcheck cannot be negative",
        ),
        (
            r#""Interval":999"#,
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        (
            r#""Interval":-1000000000"#,
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        (
            r#""Timeout":-5"#,
            "Timeout in Healthcheck cannot be less than 1ms",
        ),
        (
            r#""StartPeriod":5"#,
            "StartPeriod in Healthcheck cannot be less than 1ms",
        ),
    ];
    let before = b.docker_ok(&["ps", "-aq"]);
    for (field, message) in cases {
        let body =
            format!(r#"{{"Image":"busybox","Healthcheck":{{"Test":["CMD","true"],{field}}}}}"#);
        let r = b.request(
            "POST",
            "/v1.41/containers/create",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(
            (r.status, r.message()),
            (400, message.to_string()),
            "{body}"
        );
    }
    // StartInterval came with API 1.44: checked from then on, ignored before (as dockerd
    // 20.10, which does not know it).
    let body = br#"{"Image":"busybox","Healthcheck":{"Test":["CMD","true"],"StartInterval":5}}"#;
    let r = b.request(
        "POST",
        "/v1.44/containers/create",
        &[("Content-Type", "application/json")],
        body,
    );
    assert_eq!(
        (r.status, r.message()),
        (
            400,
            "StartInterval in Healthcheck cannot be less than 1ms".to_string()
        )
    );
    assert_eq!(
        b.docker_ok(&["ps", "-aq"]),
        before,
        "a refused create left a container"
    );
    let r = b.request(
        "POST",
        "/v1.41/containers/create",
        &[("Content-Type", "application/json")],
        body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(
        inspect(&b, &id)["Config"]["Healthcheck"].get("StartInterval"),
        None
    );
    // The docker CLI's own checks come first; the daemon's reach it as dockerd's do.
    let (code, _, err) = b.docker_run(&[
        "run",
        "-d",
        "--health-cmd",
        "true",
        "--health-interval",
        "100us",
        "busybox",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("Error response from daemon: Interval in Healthcheck cannot be less than 1ms"),
        "{err}"
    );
    b.docker_ok(&["rm", "-f", &id]);
}

#[test]
fn the_start_interval_paces_checks_in_the_start_period() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    // API 1.44: an hour between checks, but every 200ms while starting in the start period.
    let body = br#"{"Image":"busybox","Cmd":["sleep","300"],"HostConfig":{"NetworkMode":"none"},
        "Healthcheck":{"Test":["CMD-SHELL","exit 1"],"Interval":3600000000000,
        "StartPeriod":3600000000000,"StartInterval":200000000}}"#;
    let name = unique("hc-start-interval");
    let r = b.request(
        "POST",
        &format!("/v1.44/containers/create?name={name}"),
        &[("Content-Type", "application/json")],
        body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    b.docker_ok(&["start", &name]);
    wait_for(&b, "checks at the start interval", 30, || {
        log_len(&health(&b, &name)) >= 2
    });
    let h = health(&b, &name);
    assert_eq!(
        (h["Status"].as_str(), h["FailingStreak"].as_i64()),
        (Some("starting"), Some(0))
    );
    b.docker_ok(&["rm", "-f", &name]);
}
