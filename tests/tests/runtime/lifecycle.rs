//! berth-runtime's command line, runc-style: run (exit code), create/start/state/kill/delete,
//! pid files, list, ps, pause/resume, update, events, features, spec, hooks and the console
//! socket. Each test uses its own state root and ids.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use berth_tests::oci_runtime::{busybox_config, Runtime};
use berth_tests::rootfs::Bundle;
use berth_tests::{require, unique};
use serde_json::{json, Value};

fn bpath(b: &Bundle) -> &str {
    b.path().to_str().unwrap()
}

fn state(rt: &Runtime, id: &str) -> Value {
    serde_json::from_str(&rt.ok(&["state", id])).unwrap()
}

#[test]
fn run_reports_the_exit_code_and_cleans_up() {
    require!(root);
    let rt = Runtime::new();
    let b = Bundle::new(&busybox_config(&[
        "/bin/sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]));
    let id = unique("run");
    let out = rt.cmd(&["run", "--bundle", bpath(&b), &id]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert!(
        std::fs::read_dir(rt.root()).unwrap().next().is_none(),
        "state left behind"
    );
    // Killed by a signal: 128 + signal, like a shell. (PID 1 of a namespace cannot be
    // killed from inside it, so this one shares the host's PID namespace.)
    let mut cfg = busybox_config(&["/bin/sh", "-c", "kill -9 $$"]);
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    let b = Bundle::new(&cfg);
    let out = rt.cmd(&["run", "--bundle", bpath(&b), &unique("sig")]);
    assert_eq!(out.status.code(), Some(137));
}

#[test]
fn create_start_kill_delete() {
    require!(root);
    let rt = Runtime::new();
    let parent = berth_tests::cgroup_parent::CgroupParent::new("rtlc");
    let pn = parent.name().to_string();
    let mut cfg = busybox_config(&["/bin/sleep", "30"]);
    cfg["linux"]["cgroupsPath"] = json!(parent.path("c"));
    cfg["annotations"] = json!({"org.example.key": "value"});
    let b = Bundle::new(&cfg);
    let id = unique("lc");
    let pidfile = b.path().join("init.pid");
    rt.ok(&[
        "create",
        "--bundle",
        bpath(&b),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let st = state(&rt, &id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["ociVersion"], "1.0.2");
    assert_eq!(st["bundle"], bpath(&b));
    assert_eq!(st["annotations"]["org.example.key"], "value");
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), pid.to_string());
    // Init waits before exec: it still runs the runtime, not sleep.
    assert_ne!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );
    assert!(
        Path::new(&format!("/sys/fs/cgroup/pids/{pn}/c")).exists()
            || !Path::new("/sys/fs/cgroup/pids").exists()
    );
    let cgroup_procs = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/{pn}/c/cgroup.procs"))
        .unwrap_or_default();
    assert!(
        cgroup_procs.lines().any(|l| l == pid.to_string()),
        "init not in its cgroup: {cgroup_procs}"
    );

    // The state is root's alone; the exec fifo is writable by the container's user only.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&rt.root().join(&id)), 0o700);
    assert_eq!(mode(&rt.root().join(&id).join("exec.fifo")), 0o200);
    assert_eq!(mode(&rt.root().join(&id).join("state.json")), 0o600);
    rt.ok(&["start", &id]);
    assert_eq!(state(&rt, &id)["status"], "running");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );
    let again = rt.cmd(&["start", &id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("running"));

    // A running container is not deleted without --force.
    let del = rt.cmd(&["delete", &id]);
    assert!(!del.status.success());
    assert!(String::from_utf8_lossy(&del.stderr).contains("--force"));

    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    assert_eq!(state(&rt, &id)["pid"], 0);
    let k = rt.cmd(&["kill", &id, "TERM"]);
    assert!(
        !k.status.success(),
        "signal to a stopped container accepted"
    );
    assert!(String::from_utf8_lossy(&k.stderr).contains("not running"));
    rt.ok(&["delete", &id]);
    assert!(!rt.cmd(&["state", &id]).status.success());
    assert!(
        !Path::new(&format!("/sys/fs/cgroup/pids/{pn}/c")).exists(),
        "cgroup left behind"
    );
    assert!(!rt.root().join(&id).exists());
}

#[test]
fn kill_by_number_all_processes_and_force_delete() {
    require!(root);
    let rt = Runtime::new();
    // Without a PID namespace, kill --all must reach every process of the cgroup.
    let mut cfg = busybox_config(&["/bin/sh", "-c", "sleep 30 & sleep 30 & wait"]);
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    let b = Bundle::new(&cfg);
    let id = unique("ka");
    rt.ok(&["run", "--detach", "--bundle", bpath(&b), &id]);
    // The shell and its two sleeps.
    let t = std::time::Instant::now();
    let pids = loop {
        let pids: Vec<i64> =
            serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
        if pids.len() >= 3 || t.elapsed() > Duration::from_secs(10) {
            break pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(pids.len(), 3, "{pids:?}");
    rt.ok(&["kill", "--all", &id, "9"]);
    for p in &pids {
        let gone = || {
            let st = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            st.is_empty() || st.contains(") Z")
        };
        let t = std::time::Instant::now();
        while !gone() {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "pid {p} survived kill --all"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    rt.ok(&["delete", &id]);

    let b = Bundle::new(&busybox_config(&["/bin/sleep", "30"]));
    let id = unique("fd");
    rt.ok(&["run", "-d", "--bundle", bpath(&b), &id]);
    assert_eq!(state(&rt, &id)["status"], "running");
    rt.ok(&["delete", "--force", &id]);
    assert!(!rt.root().join(&id).exists());
}

#[test]
fn list_ps_pause_resume_update_events() {
    require!(root);
    let rt = Runtime::new();
    let parent = berth_tests::cgroup_parent::CgroupParent::new("rtops");
    let pn = parent.name().to_string();
    let mut cfg = busybox_config(&["/bin/sleep", "30"]);
    cfg["linux"]["cgroupsPath"] = json!(parent.path("c"));
    let b = Bundle::new(&cfg);
    let id = unique("ops");
    rt.ok(&["run", "--detach", "--bundle", bpath(&b), &id]);
    let pid = state(&rt, &id)["pid"].as_i64().unwrap();

    let list: Vec<Value> = serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(rt.ok(&["list", "-q"]), format!("{id}\n"));
    assert!(rt.ok(&["list"]).lines().nth(1).unwrap().starts_with(&id));

    assert_eq!(
        serde_json::from_str::<Vec<i64>>(&rt.ok(&["ps", "--format", "json", &id])).unwrap(),
        vec![pid]
    );
    let table = rt.ok(&["ps", &id]);
    assert!(
        table.starts_with("UID") && table.contains("sleep 30"),
        "{table}"
    );

    rt.ok(&["pause", &id]);
    assert_eq!(state(&rt, &id)["status"], "paused");
    assert!(!rt.cmd(&["pause", &id]).status.success());
    rt.ok(&["resume", &id]);
    assert_eq!(state(&rt, &id)["status"], "running");

    rt.ok(&["update", "--pids-limit", "17", "--memory", "32m", &id]);
    let read = |f: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{f}")).unwrap_or_default();
    if Path::new("/sys/fs/cgroup/pids").exists() {
        assert_eq!(read(&format!("pids/{pn}/c/pids.max")).trim(), "17");
        assert_eq!(
            read(&format!("memory/{pn}/c/memory.limit_in_bytes")).trim(),
            (32 << 20).to_string()
        );
    }
    let res = b.path().join("res.json");
    std::fs::write(&res, r#"{"pids": {"limit": 21}}"#).unwrap();
    rt.ok(&["update", "-r", res.to_str().unwrap(), &id]);
    if Path::new("/sys/fs/cgroup/pids").exists() {
        assert_eq!(read(&format!("pids/{pn}/c/pids.max")).trim(), "21");
    }

    let ev: Value = serde_json::from_str(&rt.ok(&["events", "--stats", &id])).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert!(
        ev["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{ev}"
    );
    rt.ok(&["delete", "--force", &id]);
    assert_eq!(rt.ok(&["list", "-q"]), "");
}

#[test]
fn spec_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new();
    rt.ok(&["spec", "--bundle", dir.path().to_str().unwrap()]);
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["process"]["args"], json!(["sh"]));
    assert_eq!(cfg["root"]["path"], "rootfs");
    let again = rt.cmd(&["spec", "--bundle", dir.path().to_str().unwrap()]);
    assert!(!again.status.success(), "spec overwrote config.json");
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    rt.ok(&[
        "spec",
        "--rootless",
        "--bundle",
        dir.path().to_str().unwrap(),
    ]);
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert!(cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "user"));
    assert_eq!(cfg["linux"]["uidMappings"][0]["size"], 1);

    let f: Value = serde_json::from_str(&rt.ok(&["features"])).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    for ns in ["pid", "user", "time", "cgroup"] {
        assert!(f["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!(ns)));
    }
    assert!(f["hooks"]
        .as_array()
        .unwrap()
        .contains(&json!("createContainer")));
    assert!(f["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("CAP_SYS_ADMIN")));
}

#[test]
fn all_six_hooks_get_the_state_in_order() {
    require!(root);
    let rt = Runtime::new();
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("hooks.log");
    let hook = |kind: &str, path: &str, log: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read -r s; echo \"{kind} $s\" >> {log}"), path], "env": ["A=1"]});
    let host_log = log.to_str().unwrap().to_string();
    let mut cfg = busybox_config(&["/bin/true"]);
    cfg["hooks"] = json!({
        "prestart": [hook("prestart", "", &host_log)],
        "createRuntime": [hook("createRuntime", "", &host_log)],
        "createContainer": [hook("createContainer", "", &host_log)],
        // Runs inside the container (after pivot_root): log into its /tmp.
        "startContainer": [hook("startContainer", "", "/tmp/hooks.log")],
        "poststart": [hook("poststart", "", &host_log)],
        "poststop": [hook("poststop", "", &host_log)]
    });
    let b = Bundle::new(&cfg);
    let id = unique("hk");
    rt.ok(&["create", "--bundle", bpath(&b), &id]);
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    let text = std::fs::read_to_string(&log).unwrap();
    let kinds: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ],
        "{text}"
    );
    for line in text.lines() {
        let st: Value = serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
        assert_eq!(st["id"], id.as_str(), "{line}");
        assert_eq!(st["bundle"], bpath(&b));
    }
    let last: Value =
        serde_json::from_str(text.lines().last().unwrap().split_once(' ').unwrap().1).unwrap();
    assert_eq!(last["status"], "stopped");
    let inner = std::fs::read_to_string(b.path().join("rootfs/tmp/hooks.log")).unwrap();
    assert!(inner.starts_with("startContainer {"), "{inner}");

    // A failing or hanging hook fails create, with the hook named, and leaves nothing.
    let mut cfg = busybox_config(&["/bin/true"]);
    cfg["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}]});
    let b = Bundle::new(&cfg);
    let out = rt.cmd(&["create", "--bundle", bpath(&b), &unique("hkf")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("createRuntime hook") && err.contains("status 3") && err.contains("nope"),
        "{err}"
    );
    cfg["hooks"] =
        json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}]});
    b.write_config(&cfg);
    let t = std::time::Instant::now();
    let out = rt.cmd(&["create", "--bundle", bpath(&b), &unique("hkt")]);
    assert!(!out.status.success());
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out"));
    assert!(
        std::fs::read_dir(rt.root()).unwrap().next().is_none(),
        "failed creates left state"
    );
}

/// Receives one fd over a unix socket (SCM_RIGHTS).
pub(crate) fn recv_fd(sock: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            use std::os::fd::FromRawFd;
            // SAFETY: the kernel installed this descriptor in our table for this message;
            // nothing else owns it, so the OwnedFd becomes its only owner.
            return unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received");
}

/// `create --console-socket` of `b` as `id`: answers the pty master the runtime sent.
pub(crate) fn create_with_console(rt: &Runtime, b: &Bundle, id: &str) -> std::os::fd::OwnedFd {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    rt.ok(&[
        "create",
        "--bundle",
        bpath(b),
        "--console-socket",
        sock_path.to_str().unwrap(),
        id,
    ]);
    let (conn, _) = listener.accept().unwrap();
    recv_fd(&conn)
}

#[test]
fn console_socket_receives_the_pty_master() {
    require!(root);
    let rt = Runtime::new();
    let mut cfg = busybox_config(&[
        "/bin/sh",
        "-c",
        "test -t 0 && echo tty-ok; stat -c %t /dev/console; tty",
    ]);
    cfg["process"]["terminal"] = json!(true);
    cfg["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    let b = Bundle::new(&cfg);
    let id = unique("tty");
    let master = create_with_console(&rt, &b, &id);
    // It is a pty master: the kernel knows its slave number.
    let mut n: libc::c_int = -1;
    assert_eq!(
        // SAFETY: TIOCGPTN writes one int through the pointer, which points to `n`;
        // `master` is open.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) },
        0
    );
    rt.ok(&["start", &id]);
    let mut f = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        use std::io::Read;
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("tty-ok"), "{out}");
    assert!(
        out.contains("88"),
        "/dev/console is not the pty (major 136 = 0x88): {out}"
    );
    assert!(out.contains("/dev/pts/0"), "{out}");
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);

    // terminal: true without a console socket is refused up front.
    let out = rt.cmd(&["create", "--bundle", bpath(&b), &unique("tty2")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--console-socket"));
}

#[test]
fn run_forwards_signals_to_the_container() {
    require!(root);
    let rt = Runtime::new();
    let b = Bundle::new(&busybox_config(&[
        "/bin/sh",
        "-c",
        "trap 'echo got-term; exit 42' TERM; echo ready; while true; do sleep 0.05; done",
    ]));
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = std::process::Command::new(berth_tests::bins::bin("berth-runtime"))
        .args([
            "--root",
            rt.root().to_str().unwrap(),
            "run",
            "--bundle",
            bpath(&b),
            &unique("sigf"),
        ])
        .stdout(out_file.reopen().unwrap())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !std::fs::read_to_string(out_file.path())
        .unwrap()
        .contains("ready")
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "container never got ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(42));
    assert!(std::fs::read_to_string(out_file.path())
        .unwrap()
        .contains("got-term"));
}

#[test]
fn events_stream_until_the_container_stops() {
    require!(root);
    let rt = Runtime::new();
    let b = Bundle::new(&busybox_config(&["/bin/sleep", "1"]));
    let id = unique("ev");
    rt.ok(&["run", "-d", "--bundle", bpath(&b), &id]);
    let t = std::time::Instant::now();
    let out = rt.ok(&["events", "--interval", "200ms", &id]);
    assert!(t.elapsed() < Duration::from_secs(5));
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2, "{out}");
    assert!(lines
        .iter()
        .all(|e| e["type"] == "stats" && e["id"] == id.as_str()));
    rt.ok(&["delete", &id]);
}

#[test]
fn systemd_cgroup_flag_is_accepted_with_a_warning() {
    require!(root);
    let rt = Runtime::new();
    let parent = berth_tests::cgroup_parent::CgroupParent::new("berthtest");
    let slice = parent.name().to_string();
    let mut cfg = busybox_config(&["/bin/true"]);
    cfg["linux"]["cgroupsPath"] = json!(format!("{slice}:berth:c1"));
    let b = Bundle::new(&cfg);
    let out = std::process::Command::new(berth_tests::bins::bin("berth-runtime"))
        .args([
            "--root",
            rt.root().to_str().unwrap(),
            "--systemd-cgroup",
            "run",
            "--bundle",
            bpath(&b),
            &unique("sd"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("systemd cgroup driver is not supported"),
        "{err}"
    );
    assert!(!Path::new(&format!("/sys/fs/cgroup/pids/{slice}/berth-c1.scope")).exists());
}

/// `run` and `exec --tty` in the foreground relay the container's pty to their own terminal
/// (here one made by script(1)).
#[test]
fn foreground_run_and_exec_relay_a_terminal() {
    require!(root, script);
    let rt = Runtime::new();
    let bin = berth_tests::bins::bin("berth-runtime");
    let root = rt.root().to_str().unwrap().to_string();
    let in_pty = |cmd: String| {
        let o = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let mut cfg = busybox_config(&["/bin/sh", "-c", "tty; test -t 1 && echo is-a-tty; exit 5"]);
    cfg["process"]["terminal"] = json!(true);
    let b = Bundle::new(&cfg);
    let (code, out) = in_pty(format!(
        "{} --root {root} run --bundle {} {}",
        bin.display(),
        bpath(&b),
        unique("trun")
    ));
    assert_eq!(code, Some(5), "{out}");
    assert!(
        out.contains("/dev/pts/0") && out.contains("is-a-tty"),
        "{out}"
    );

    let b = Bundle::new(&busybox_config(&["/bin/sleep", "30"]));
    let id = unique("texec");
    rt.ok(&["run", "-d", "--bundle", bpath(&b), &id]);
    let (code, out) = in_pty(format!(
        "{} --root {root} exec -t {id} /bin/sh -c 'tty; exit 6'",
        bin.display()
    ));
    assert_eq!(code, Some(6), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    rt.ok(&["delete", "--force", &id]);
}
