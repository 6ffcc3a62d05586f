//! Faults: berthd and its shimd killed with SIGKILL while containers run, exit and restart,
//! and during a pull. Containers survive, exits that happen meanwhile are recorded, restart
//! policies fire, and state is consistent after the restart.

use std::time::{Duration, Instant};

use berth_tests::berthd::Berthd;
use berth_tests::gate::Gate;
use berth_tests::require;
use berth_tests::tasks::alive;

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
    // The containers end when the test opens their gates, not after a time a loaded
    // machine may outrun: "short" while the engine is down, "long" after it is back.
    let gate = Gate::new();
    let v = gate.volume();
    let long = format!("echo before; {}; echo after; exit 4", gate.wait("long"));
    let short = format!("{}; exit 3", gate.wait("short"));
    b.docker_ok(&[
        "run", "-d", "--name", "long", "-v", &v, "busybox", "sh", "-c", &long,
    ]);
    b.docker_ok(&[
        "run", "-d", "--name", "short", "-v", &v, "busybox", "sh", "-c", &short,
    ]);
    b.docker_ok(&["run", "-d", "--name", "stays", "busybox", "sleep", "300"]);
    b.docker_ok(&["create", "--name", "created", "busybox", "true"]);
    let pid_before = inspect(&b, "stays", "{{.State.Pid}}");
    let long_pid = inspect(&b, "long", "{{.State.Pid}}");
    let short_pid: i32 = inspect(&b, "short", "{{.State.Pid}}").parse().unwrap();
    b.kill9_all();
    // "short" exits while nothing but its shim watches it.
    gate.open("short");
    assert!(
        berth_tests::wait_until(Duration::from_secs(20), || !alive(short_pid)),
        "\"short\" (pid {short_pid}) did not exit after its gate opened"
    );
    b.restart();
    assert_eq!(
        inspect(&b, "stays", "{{.State.Running}} {{.State.Pid}}"),
        format!("true {pid_before}")
    );
    assert_eq!(
        inspect(&b, "long", "{{.State.Running}} {{.State.Pid}}"),
        format!("true {long_pid}")
    );
    // The exit happened while the engine was down; it is known once the engine has
    // reconnected to the container's shim.
    wait_until(&b, "the exit of \"short\" to be recorded", 20, || {
        inspect(&b, "short", "{{.State.Status}}") != "running"
    });
    assert_eq!(
        inspect(&b, "short", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 3"
    );
    assert_eq!(inspect(&b, "created", "{{.State.Status}}"), "created");
    gate.open("long");
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
    // Both end (and, restarted, end again at once) when the test opens their gates, which
    // it does while the engine is down.
    let gate = Gate::new();
    let v = gate.volume();
    let always = gate.wait("always");
    let failing = format!("{}; exit 1", gate.wait("failing"));
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "-v",
        &v,
        "busybox",
        "sh",
        "-c",
        &always,
    ]);
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "failing",
        "--restart",
        "on-failure:2",
        "-v",
        &v,
        "busybox",
        "sh",
        "-c",
        &failing,
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
    // Stopped by the user and never started: what the engine's next start does with them.
    for (name, restart) in [("stopped", "always"), ("created", "always")] {
        let verb = if name == "created" { "create" } else { "run" };
        let mut args = vec![verb, "--name", name, "--restart", restart];
        if verb == "run" {
            args.push("-d");
        }
        args.extend(["busybox", "sleep", "300"]);
        b.docker_ok(&args);
    }
    b.docker_ok(&["stop", "-t", "0", "stopped"]);
    let pids: Vec<i32> = ["always", "failing"]
        .iter()
        .map(|n| inspect(&b, n, "{{.State.Pid}}").parse().unwrap())
        .collect();
    b.kill9_all();
    gate.open("always");
    gate.open("failing");
    assert!(
        berth_tests::wait_until(Duration::from_secs(20), || pids.iter().all(|p| !alive(*p))),
        "{pids:?} did not exit after their gates opened"
    );
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
    // `unless-stopped` stays stopped once the user stopped it; `always` starts with the
    // engine even then (as on dockerd); a container never started is not started.
    assert_eq!(inspect(&b, "unless", "{{.State.Status}}"), "exited");
    wait_until(&b, "the stopped `always` container to start", 20, || {
        inspect(&b, "stopped", "{{.State.Status}}") == "running"
    });
    assert_eq!(inspect(&b, "stopped", "{{.RestartCount}}"), "0");
    assert_eq!(inspect(&b, "created", "{{.State.Status}}"), "created");
    b.docker_ok(&["stop", "-t", "0", "always"]);
    let count = inspect(&b, "always", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        inspect(&b, "always", "{{.State.Running}} {{.RestartCount}}"),
        format!("false {count}")
    );
    b.docker_ok(&[
        "rm", "-f", "always", "failing", "unless", "stopped", "created",
    ]);
}

#[test]
fn a_terminated_engine_exits_at_once_leaving_containers_running_and_its_lock_free() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "stays",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "300",
    ]);
    let pid: i32 = inspect(&b, "stays", "{{.State.Pid}}").parse().unwrap();
    let shimd = b.shimd_pid().expect("berthd runs a shimd") as i32;
    let t = Instant::now();
    b.stop();
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "berthd took {took:?} to exit after SIGTERM\n{}",
        b.log_tail(20)
    );
    assert!(!alive(shimd), "its shimd is still running");
    assert!(alive(pid), "the container did not keep running");
    // The data root is free at once, and the container is the same one, not restarted.
    b.restart();
    assert_eq!(
        inspect(&b, "stays", "{{.State.Pid}} {{.RestartCount}}"),
        format!("{pid} 0")
    );
    b.docker_ok(&["rm", "-f", "stays"]);
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
fn what_an_interrupted_create_left_goes_at_restart() {
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
    // ... a container directory without a record, and a writable snapshot under an id
    // nothing else knows (a create killed before its record was written).
    let dir = b.data_root().join("containers").join("e".repeat(64));
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    let shimd_socket = b.exec_root().join("shimd.sock");
    let berthctl = |args: &[&str]| {
        let out = std::process::Command::new(berth_tests::bins::bin("berthctl"))
            .env("BERTH_SHIMD_ADDRESS", &shimd_socket)
            .args(["-n", "berth"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "berthctl {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let snap = "d".repeat(64);
    berthctl(&["snapshots", "prepare", &snap]);
    assert!(berthctl(&["snapshots", "ls"]).contains(&snap));
    b.restart();
    assert!(!mounted(&orphan), "the orphan namespace is still mounted");
    assert!(!orphan.exists());
    assert!(
        !dir.exists(),
        "the unrecorded container directory is still there"
    );
    assert!(
        !berthctl(&["snapshots", "ls"]).contains(&snap),
        "the orphan snapshot is still there"
    );
    assert!(
        berthctl(&["snapshots", "ls"]).contains(&id),
        "the container lost its snapshot"
    );
    // The running container's namespace is kept.
    assert!(mounted(&own), "{} lost its namespace", own.display());
    assert_eq!(inspect(&b, "keeps", "{{.State.Running}}"), "true");
}

/// The shimd of an engine that was just killed, still running (it ends on its own once it
/// notices); killed when dropped.
struct LeftoverShimd(std::process::Child);

impl LeftoverShimd {
    /// A shimd on `b`'s own root, state and socket, as berthd runs it; serving once this
    /// returns.
    fn start(b: &Berthd) -> LeftoverShimd {
        let socket = b.exec_root().join("shimd.sock");
        let child = std::process::Command::new(berth_tests::bins::bin("shimd"))
            .arg("--root")
            .arg(b.data_root().join("shimd"))
            .arg("--state")
            .arg(b.exec_root().join("shimd"))
            .arg("--address")
            .arg(&socket)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start shimd");
        let s = LeftoverShimd(child);
        assert!(
            berth_tests::wait_until(Duration::from_secs(20), || listening_pid(&socket)
                == Some(s.0.id())),
            "the leftover shimd does not serve on {}",
            socket.display()
        );
        s
    }

    /// Ends it as a shimd ends when its berthd died (SIGTERM).
    fn stop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

impl Drop for LeftoverShimd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The process listening on unix socket `path`, as the kernel tells a peer.
fn listening_pid(path: &std::path::Path) -> Option<u32> {
    let s = std::os::unix::net::UnixStream::connect(path).ok()?;
    let cred = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    u32::try_from(cred.pid()).ok()
}

#[test]
fn a_restarted_engine_waits_for_the_previous_engines_shimd_to_go() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    b.docker_ok(&["run", "-d", "--name", "keeps", "busybox", "sleep", "300"]);
    // What a berthd killed with -9 leaves for a moment: its shimd, still serving on the
    // socket, and ending on its own. Here it ends once the new berthd's shimd was refused
    // the root it still holds.
    b.stop();
    let mut leftover = LeftoverShimd::start(&b);
    let log = b.log_path();
    let stopper = std::thread::spawn(move || {
        let refused = berth_tests::wait_until(Duration::from_secs(30), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("another shimd is using root")
        });
        leftover.stop();
        refused
    });
    // The new berthd serves once its own shimd does, through that one.
    b.restart();
    assert!(stopper.join().unwrap(), "the new shimd was never refused");
    let own = b.shimd_pid().expect("berthd's shimd");
    assert_eq!(
        listening_pid(&b.exec_root().join("shimd.sock")),
        Some(own),
        "{}",
        b.log_tail(20)
    );
    assert_eq!(inspect(&b, "keeps", "{{.State.Running}}"), "true");
    assert_eq!(b.docker_ok(&["exec", "keeps", "echo", "ok"]), "ok\n");
    b.docker_ok(&["rm", "-f", "keeps"]);
}

/// Records of an engine that kept the run state as booleans (no `status`) load after an
/// upgrade: running, paused, exited and created containers are found as they were, and
/// stay usable.
#[test]
fn records_without_a_status_load_as_they_were() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    b.docker_ok(&["run", "-d", "--name", "up", "busybox", "sleep", "300"]);
    b.docker_ok(&["run", "-d", "--name", "paused", "busybox", "sleep", "300"]);
    b.docker_ok(&["pause", "paused"]);
    let (code, _, err) = b.docker_run(&["run", "--name", "done", "busybox", "sh", "-c", "exit 5"]);
    assert_eq!(code, 5, "{err}");
    b.docker_ok(&["create", "--name", "fresh", "busybox", "true"]);
    let up_pid = inspect(&b, "up", "{{.State.Pid}}");
    let paused_id = inspect(&b, "paused", "{{.Id}}");
    b.kill9();
    // Back to the earlier form: the booleans only.
    let records = b.data_root().join("containers");
    let mut rewritten = 0;
    for entry in std::fs::read_dir(&records).unwrap() {
        let file = entry.unwrap().path().join("container.json");
        let Ok(data) = std::fs::read(&file) else {
            continue;
        };
        let mut rec: serde_json::Value = serde_json::from_slice(&data).unwrap();
        let state = rec["state"].as_object_mut().unwrap();
        assert!(state.contains_key("running"), "{state:?}");
        assert!(state.remove("status").is_some(), "{state:?}");
        state.remove("removing_from");
        std::fs::write(&file, serde_json::to_vec(&rec).unwrap()).unwrap();
        rewritten += 1;
    }
    assert_eq!(rewritten, 4);
    b.restart();
    let fmt = "{{.State.Status}} {{.State.Running}} {{.State.Paused}} {{.State.ExitCode}}";
    assert_eq!(inspect(&b, "up", fmt), "running true false 0");
    assert_eq!(inspect(&b, "up", "{{.State.Pid}}"), up_pid);
    assert_eq!(inspect(&b, "paused", fmt), "paused true true 0");
    assert_eq!(inspect(&b, "done", fmt), "exited false false 5");
    assert_eq!(inspect(&b, "fresh", fmt), "created false false 0");
    // Usable, and written in the new form again once changed.
    b.docker_ok(&["unpause", "paused"]);
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(records.join(&paused_id).join("container.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["state"]["status"], "running");
    assert_eq!(b.docker_ok(&["exec", "paused", "echo", "ok"]), "ok\n");
    b.docker_ok(&["start", "done"]);
    b.docker_ok(&["rm", "-f", "up", "paused", "done", "fresh"]);
    assert_eq!(b.docker_ok(&["ps", "-aq"]), "");
}

/// A `docker rm -f` killed after it recorded the removal: the next start of the engine
/// finishes it in one pass — the process, the record, the directory and the network
/// namespace all go.
#[test]
fn a_removal_cut_short_by_a_kill_is_finished_at_the_next_start() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    let name = berth_tests::unique("going");
    b.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "300"]);
    let id = inspect(&b, &name, "{{.Id}}");
    let pid: i32 = inspect(&b, &name, "{{.State.Pid}}").parse().unwrap();
    let netns = b.exec_root().join("netns").join(&id);
    let dir = b.data_root().join("containers").join(&id);
    b.kill9_all();
    let file = dir.join("container.json");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    rec["state"]["status"] = "removing".into();
    rec["state"]["removing_from"] = "running".into();
    std::fs::write(&file, serde_json::to_vec(&rec).unwrap()).unwrap();
    b.restart();
    assert!(!b.docker_ok(&["ps", "-aq", "--no-trunc"]).contains(&id));
    assert!(!dir.exists(), "{} is still there", dir.display());
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(&format!(" {} ", netns.display()));
    assert!(
        !mounted,
        "the namespace of the removed container is still mounted"
    );
    assert!(
        berth_tests::wait_until(Duration::from_secs(10), || !alive(pid)),
        "the removed container's process still runs"
    );
}
