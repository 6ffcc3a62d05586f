//! `exec` into running containers (args and --process JSON, env/cwd/user/caps, detach with a
//! pid file, tty, failures), and what a container can see of the runtime: only a sealed
//! in-memory copy of its binary, and no file descriptor it was not given.

use std::time::Duration;

use berth_tests::oci_runtime::{busybox_config, Runtime};
use berth_tests::rootfs::Bundle;
use berth_tests::{require, unique};
use serde_json::{json, Value};

struct Running {
    rt: Runtime,
    id: String,
    _b: Bundle,
}

impl Running {
    fn new(cfg: Value) -> Running {
        Running::on(Runtime::new(), cfg)
    }

    /// `cfg` running detached on `rt`.
    fn on(rt: Runtime, cfg: Value) -> Running {
        let b = Bundle::new(&cfg);
        let id = unique("ex");
        rt.ok(&[
            "run",
            "--detach",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ]);
        Running { rt, id, _b: b }
    }
    fn exec(&self, args: &[&str]) -> std::process::Output {
        let mut a = vec!["exec"];
        a.extend_from_slice(args);
        let pos = a.iter().position(|x| *x == "--").expect("-- marks the id");
        a[pos] = &self.id;
        self.rt.cmd(&a)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.rt.force_delete(&self.id);
    }
}

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn exec_joins_the_container() {
    require!(root);
    let c = Running::new(busybox_config(&["/bin/sleep", "30"]));
    let o = c.exec(&[
        "--",
        "/bin/sh",
        "-c",
        "hostname; readlink /proc/1/exe; cat /proc/1/comm; echo $$; exit 3",
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = text(&o);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "berth");
    assert_eq!(l[1], "/bin/busybox");
    assert_eq!(l[2], "sleep");
    assert_ne!(l[3], "1");
    let pid: i32 = l[3].parse().unwrap();
    assert!(
        pid > 1 && pid < 100,
        "exec'd process not in the container's pid namespace: {pid}"
    );

    let o = c.exec(&[
        "--env",
        "X=1",
        "-e",
        "Y=2",
        "--cwd",
        "/tmp",
        "--user",
        "65534:65534",
        "--",
        "/bin/sh",
        "-c",
        "echo $X$Y; pwd; id -u; id -g",
    ]);
    assert_eq!(
        text(&o),
        "12\n/tmp\n65534\n65534\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = c.exec(&[
        "--cap",
        "CAP_NET_ADMIN",
        "--",
        "/bin/sh",
        "-c",
        "grep CapBnd /proc/self/status",
    ]);
    let bnd = u64::from_str_radix(text(&o).split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_ne!(
        bnd & (1 << 12),
        0,
        "--cap NET_ADMIN not in the bounding set"
    );

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("process.json");
    std::fs::write(&p, serde_json::to_vec(&json!({
        "args": ["/bin/sh", "-c", "echo from-json $Z"], "env": ["PATH=/bin", "Z=zed"], "cwd": "/",
        "user": {"uid": 0, "gid": 0}
    })).unwrap()).unwrap();
    let o = c.exec(&["--process", p.to_str().unwrap(), "--"]);
    assert_eq!(
        text(&o),
        "from-json zed\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn exec_detached_with_pid_file() {
    require!(root);
    let c = Running::new(busybox_config(&["/bin/sleep", "30"]));
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("exec.pid");
    let o = c.exec(&[
        "--detach",
        "--pid-file",
        pf.to_str().unwrap(),
        "--",
        "/bin/sleep",
        "20",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid: i32 = std::fs::read_to_string(&pf).unwrap().parse().unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );
    let ps: Vec<i32> = serde_json::from_str(&c.rt.ok(&["ps", "--format", "json", &c.id])).unwrap();
    assert!(
        ps.contains(&pid),
        "exec'd process not in the container's cgroup: {ps:?}"
    );
    let ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/pid")).unwrap();
    let init: Value = serde_json::from_str(&c.rt.ok(&["state", &c.id])).unwrap();
    assert_eq!(ns(pid), ns(init["pid"].as_i64().unwrap() as i32));
}

#[test]
fn exec_failures_are_clear() {
    require!(root);
    let c = Running::new(busybox_config(&["/bin/sleep", "30"]));
    let o = c.exec(&["--", "/no/such/binary"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/no/such/binary") && err.contains(&c.id),
        "{err}"
    );
    let o = c.exec(&["--", "nosuchcommand"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not found in $PATH"));
    let o = c.exec(&["--cwd", "/nowhere", "--", "/bin/true"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nowhere"));
    let o = c.exec(&["--"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no command"));
    c.rt.ok(&["kill", &c.id, "KILL"]);
    c.rt.wait_status(&c.id, "stopped");
    let o = c.exec(&["--", "/bin/true"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("stopped"));
    let o = c.rt.cmd(&["exec", "no-such-container", "/bin/true"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
}

#[test]
fn paused_container_refuses_exec() {
    require!(root);
    let c = Running::new(busybox_config(&["/bin/sleep", "30"]));
    c.rt.ok(&["pause", &c.id]);
    let o = c.exec(&["--", "/bin/true"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("paused"));
    c.rt.ok(&["resume", &c.id]);
    assert!(c.exec(&["--", "/bin/true"]).status.success());
}

/// CVE-2019-5736: the runtime process a container can see (init before exec, waiting for
/// `start`) runs from a sealed memfd, not from the binary on disk, and cannot be opened.
#[test]
fn container_never_sees_a_writable_runtime_binary() {
    require!(root);
    let rt = Runtime::new();
    let b = Bundle::new(&busybox_config(&["/bin/sleep", "30"]));
    let id = unique("cve");
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    let st: Value = serde_json::from_str(&rt.ok(&["state", &id])).unwrap();
    let pid = st["pid"].as_i64().unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        exe.to_string_lossy().starts_with("/memfd:berth-runtime"),
        "init runs from {exe:?}"
    );
    // Even the host cannot write to it: the copy is sealed.
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/exe"));
    assert!(w.is_err(), "the runtime copy is writable");
    // From inside the created container: init's exe cannot even be opened.
    let o = rt.cmd(&["exec", &id, "/bin/sh", "-c", "cat /proc/1/exe > /dev/null && echo readable; echo x >> /proc/1/exe && echo writable; true"]);
    let out = text(&o);
    assert!(
        !out.contains("writable") && !out.contains("readable"),
        "{out} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    rt.ok(&["delete", "--force", &id]);

    // The classic attack: a program whose interpreter is /proc/self/exe makes the kernel
    // run whatever binary init runs at that moment. That is the sealed copy (which the
    // kernel here even refuses to execute through the link), never the file on disk.
    let bin = berth_tests::bins::bin("berth-runtime");
    let before = std::fs::read(&bin).unwrap();
    let b = Bundle::new(&busybox_config(&["/evil"]));
    let evil = b.path().join("rootfs/evil");
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&evil, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = rt.cmd(&[
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique("cve2"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown command \"/evil\"") || err.contains("exec \"/evil\""),
        "{err}"
    );
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(std::fs::read(&bin).unwrap(), before);
}

#[test]
fn only_stdio_reaches_the_container() {
    require!(root);
    // An fd the caller left open without --preserve-fds must not leak into the container.
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let leak = std::fs::File::open("/").unwrap();
    let fd = leak.as_raw_fd();
    let rt = Runtime::new();
    let b = Bundle::new(&busybox_config(&[
        "/bin/sh",
        "-c",
        "ls /proc/self/fd | tr '\\n' ' '",
    ]));
    let mut cmd = std::process::Command::new(berth_tests::bins::bin("berth-runtime"));
    cmd.args([
        "--root",
        rt.root().to_str().unwrap(),
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique("fds"),
    ]);
    // SAFETY: between fork and exec the closure makes only async-signal-safe system calls
    // (dup2, fcntl) on `fd`, which `leak` keeps open until the command has run.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(fd, 7);
            libc::fcntl(7, libc::F_SETFD, 0);
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    let out = text(&o);
    let fds: Vec<&str> = out.split_whitespace().collect();
    // 0, 1, 2 and the directory ls itself opened.
    assert!(fds.len() <= 4 && !fds.contains(&"7"), "leaked fds: {out}");
    std::thread::sleep(Duration::from_millis(1));
}

/// The five capability sets of /proc/self/status ("CapInh" ... "CapAmb") of a process.
fn cap_sets(status: &str) -> Vec<(String, u64)> {
    status
        .lines()
        .filter_map(|l| l.split_once(":\t"))
        .filter(|(k, _)| k.starts_with("Cap"))
        .map(|(k, v)| (k.to_string(), u64::from_str_radix(v.trim(), 16).unwrap()))
        .collect()
}

#[test]
fn exec_cap_adds_to_the_sets_runc_adds_to() {
    require!(root);
    const NET_ADMIN: u64 = 1 << 12;
    let mut seen = Vec::new();
    for rt in Runtime::both() {
        let name = rt.name();
        let c = Running::on(rt, busybox_config(&["/bin/sleep", "60"]));
        let (rt, id) = (&c.rt, c.id.clone());
        let mut sets = Vec::new();
        for user in ["0", "1000"] {
            let out = rt.cmd(&[
                "exec",
                "--cap",
                "CAP_NET_ADMIN",
                "--user",
                user,
                &id,
                "/bin/cat",
                "/proc/self/status",
            ]);
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let s = cap_sets(&text(&out));
            assert_eq!(s.len(), 5, "{name}: {s:?}");
            sets.push((user, s));
        }
        drop(c);
        let root = &sets[0].1;
        let get = |k: &str| root.iter().find(|(n, _)| n == k).unwrap().1;
        for k in ["CapBnd", "CapEff", "CapPrm"] {
            assert_ne!(get(k) & NET_ADMIN, 0, "{name}: {k} lacks CAP_NET_ADMIN");
        }
        for k in ["CapInh", "CapAmb"] {
            assert_eq!(get(k) & NET_ADMIN, 0, "{name}: {k} has CAP_NET_ADMIN");
        }
        seen.push((name, sets));
    }
    assert_eq!(
        seen[0].1, seen[1].1,
        "berth-runtime and runc differ: {seen:?}"
    );
}

#[test]
fn exec_cgroup_joins_a_sub_cgroup_of_the_container() {
    require!(root);
    let v1 = std::path::Path::new("/sys/fs/cgroup");
    if !v1.join("memory").is_dir() || !v1.join("pids").is_dir() {
        berth_tests::skip!(host::no_cgroup_v1);
    }
    let parent = berth_tests::cgroup_parent::CgroupParent::new("excg");
    for rt in Runtime::both() {
        let name = rt.name();
        let id = unique("excg");
        let cgpath = parent.path(&id);
        let mut cfg = busybox_config(&["/bin/sleep", "60"]);
        cfg["linux"]["cgroupsPath"] = json!(cgpath);
        let c = Running::on(rt, cfg);
        let (rt, id) = (&c.rt, c.id.clone());
        let subs: Vec<_> = ["memory", "pids"]
            .iter()
            .map(|c| v1.join(c).join(cgpath.trim_start_matches('/')).join("sub"))
            .collect();
        for s in &subs {
            std::fs::create_dir(s).unwrap();
        }
        // memory and pids in the sub-cgroup, the other hierarchies in the container's own
        let o = c_exec(
            rt,
            &[
                "--cgroup",
                "memory,pids:sub",
                &id,
                "/bin/cat",
                "/proc/self/cgroup",
            ],
        );
        let cgroups = text(&o);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        for l in cgroups.lines() {
            let (_, rest) = l.split_once(':').unwrap();
            let (controllers, path) = rest.split_once(':').unwrap();
            let controllers: Vec<&str> = controllers.split(',').collect();
            if controllers.contains(&"memory") || controllers.contains(&"pids") {
                assert!(path.ends_with(&format!("{cgpath}/sub")), "{name}: {l}");
            } else if controllers.contains(&"cpu") || controllers.contains(&"blkio") {
                assert!(path.ends_with(&cgpath), "{name}: {l}");
            }
        }
        // a sub-cgroup that is missing in one hierarchy fails the exec
        let o = c_exec(rt, &["--cgroup", "sub", &id, "/bin/true"]);
        assert!(
            !o.status.success(),
            "{name}: exec into a missing sub-cgroup succeeded"
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("sub"),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        for s in &subs {
            std::fs::remove_dir(s).unwrap();
        }
        drop(c);
    }
}

fn c_exec(rt: &Runtime, args: &[&str]) -> std::process::Output {
    let mut a = vec!["exec"];
    a.extend_from_slice(args);
    rt.cmd(&a)
}

/// `linux.memoryPolicy` is the NUMA policy of init and of every exec'd process, as the
/// kernel shows it in numa_maps (node 0 exists on every machine); a policy the kernel
/// refuses, or a malformed one, fails `create` naming the field.
#[test]
fn the_memory_policy_holds_for_init_and_execs() {
    require!(root);
    for (policy, shown) in [
        (json!({"mode": "MPOL_BIND", "nodes": "0"}), "bind:0"),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "interleave=static:0",
        ),
        (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), "prefer:0"),
        (json!({"mode": "MPOL_LOCAL"}), "local"),
    ] {
        let mut cfg = busybox_config(&["/bin/sleep", "30"]);
        cfg["linux"]["memoryPolicy"] = policy.clone();
        let c = Running::new(cfg);
        let o = c.exec(&[
            "--",
            "/bin/sh",
            "-c",
            "head -n1 /proc/1/numa_maps; head -n1 /proc/self/numa_maps",
        ]);
        let out = text(&o);
        let policies: Vec<&str> = out
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default())
            .collect();
        assert_eq!(policies, [shown, shown], "{policy}: {out}");
    }
    let rt = Runtime::new();
    for (policy, want) in [
        (
            json!({"mode": "MPOL_BIND", "nodes": "1000"}),
            "Invalid argument",
        ),
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
            "takes no nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "zero"}),
            "node numbers",
        ),
    ] {
        let mut cfg = busybox_config(&["/bin/echo", "should-not-run"]);
        cfg["linux"]["memoryPolicy"] = policy.clone();
        let b = Bundle::new(&cfg);
        let id = unique("mempol");
        let o = rt.cmd(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
        rt.force_delete(&id);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{policy}");
        assert!(!text(&o).contains("should-not-run"), "{policy}");
        assert!(
            err.contains("linux.memoryPolicy") && err.contains(want),
            "{policy}: {err}"
        );
    }
}
