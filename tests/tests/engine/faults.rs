//! Faults: berthd and its shimd killed with SIGKILL while containers run, exit and restart,
//! and during a pull. Containers survive, exits that happen meanwhile are recorded, restart
//! policies fire, and state is consistent after the restart.

use std::time::{Duration, Instant};

use berth_tests::berthd::Berthd;
use berth_tests::require;

fn wait_until(b: &Berthd, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            b.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn inspect(b: &Berthd, name: &str, fmt: &str) -> String {
    b.docker_ok(&["inspect", "-f", fmt, name])
        .trim()
        .to_string()
}

#[test]
fn containers_survive_a_killed_engine_and_exits_meanwhile_are_kept() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "long",
        "busybox",
        "sh",
        "-c",
        "echo before; sleep 3; echo after; exit 4",
    ]);
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]);
    b.docker_ok(&["run", "-d", "--name", "stays", "busybox", "sleep", "300"]);
    b.docker_ok(&["create", "--name", "created", "busybox", "true"]);
    let pid_before = inspect(&b, "stays", "{{.State.Pid}}");
    std::thread::sleep(Duration::from_millis(300));
    b.kill9_all();
    // "short" exits while nothing watches it.
    std::thread::sleep(Duration::from_millis(1500));
    b.restart();
    assert_eq!(
        inspect(&b, "stays", "{{.State.Running}} {{.State.Pid}}"),
        format!("true {pid_before}")
    );
    assert_eq!(inspect(&b, "long", "{{.State.Running}}"), "true");
    assert_eq!(
        inspect(&b, "short", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 3"
    );
    assert_eq!(inspect(&b, "created", "{{.State.Status}}"), "created");
    assert_eq!(b.docker_ok(&["wait", "long"]).trim(), "4");
    assert_eq!(b.docker_ok(&["logs", "long"]), "before\nafter\n");
    // The survivors are fully usable: exec, stop, remove.
    assert_eq!(b.docker_ok(&["exec", "stays", "echo", "ok"]), "ok\n");
    b.docker_ok(&["stop", "-t", "1", "stays"]);
    b.docker_ok(&["rm", "long", "short", "stays", "created"]);
    assert_eq!(b.docker_ok(&["ps", "-aq"]), "");
    // Killing berthd alone (its shimd dies with it) is the same.
    b.docker_ok(&["run", "-d", "--name", "again", "busybox", "sleep", "300"]);
    b.kill9();
    b.restart();
    assert_eq!(inspect(&b, "again", "{{.State.Running}}"), "true");
    b.docker_ok(&["rm", "-f", "again"]);
}

#[test]
fn restart_policies_fire_after_the_engine_comes_back() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 1",
    ]);
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "failing",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 1",
    ]);
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "unless",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "300",
    ]);
    b.docker_ok(&["stop", "-t", "0", "unless"]);
    b.kill9_all();
    std::thread::sleep(Duration::from_millis(1500));
    b.restart();
    // The exits that happened while the engine was down count, and the policies go on.
    wait_until(&b, "always to be restarted", 20, || {
        inspect(&b, "always", "{{.RestartCount}}")
            .parse::<i64>()
            .unwrap_or(0)
            >= 2
    });
    wait_until(&b, "on-failure:2 to give up", 30, || {
        inspect(&b, "failing", "{{.State.Status}} {{.RestartCount}}") == "exited 2"
    });
    assert_eq!(
        inspect(&b, "failing", "{{.State.ExitCode}} {{.State.Error}}"),
        "1"
    );
    // A container the user stopped stays stopped.
    assert_eq!(inspect(&b, "unless", "{{.State.Status}}"), "exited");
    b.docker_ok(&["stop", "-t", "0", "always"]);
    let count = inspect(&b, "always", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        inspect(&b, "always", "{{.State.Running}} {{.RestartCount}}"),
        format!("false {count}")
    );
    b.docker_ok(&["rm", "-f", "always", "failing", "unless"]);
}

#[test]
fn a_pull_interrupted_by_a_kill_leaves_no_image_and_can_be_redone() {
    require!(root, docker_cli, docker_registry);
    let mut b = Berthd::with_busybox();
    let reg = berth_tests::registry::Registry::start();
    // A big layer, so the pull is likely still running when the engine is killed.
    let data = berth_tests::images::random_bytes(64 << 20, 7);
    let big = berth_tests::images::layer_tar(&[berth_tests::images::Entry::File("big.bin", &data)]);
    let img = berth_tests::images::build_image(&[berth_tests::images::busybox_layer(), big], None);
    let name = format!("{}/big:1", reg.host());
    reg.push_image(&img, "big:1");
    let mut pull = b
        .docker()
        .args(["pull", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(250));
    b.kill9_all();
    let _ = pull.wait();
    b.restart();
    // Either the pull had finished (a complete image) or nothing of it is listed.
    let images = b.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    if images.contains("big") {
        eprintln!("the pull finished before the kill");
    }
    b.docker_ok(&["pull", &name]);
    let size = b.docker_ok(&["run", "--rm", &name, "sh", "-c", "wc -c < /big.bin"]);
    assert_eq!(size.trim(), (64u64 << 20).to_string());
}

#[test]
fn a_namespace_left_by_an_interrupted_create_goes_at_restart() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    b.docker_ok(&["run", "-d", "--name", "keeps", "busybox", "sleep", "60"]);
    let id = inspect(&b, "keeps", "{{.Id}}");
    let own = b.exec_root().join("netns").join(&id);
    // What a create killed after making the container's namespace leaves: a namespace
    // kept by a bind mount under a name the engine has no record of.
    let orphan = b.exec_root().join("netns").join("f".repeat(64));
    std::fs::write(&orphan, "").unwrap();
    let made = std::process::Command::new("unshare")
        .arg(format!("--net={}", orphan.display()))
        .arg("true")
        .status()
        .unwrap();
    assert!(made.success());
    let mounted = |p: &std::path::Path| {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(&format!(" {} ", p.display()))
    };
    assert!(mounted(&orphan));
    b.restart();
    assert!(!mounted(&orphan), "the orphan namespace is still mounted");
    assert!(!orphan.exists());
    // The running container's namespace is kept.
    assert!(mounted(&own), "{} lost its namespace", own.display());
    assert_eq!(inspect(&b, "keeps", "{{.State.Running}}"), "true");
}
