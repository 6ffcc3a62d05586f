//! What a runtime must never let through, each checked with berth-runtime and Debian's runc
//! side by side (the expectation is runc's behaviour): descriptors of the caller reaching
//! the container, device access the device rules deny (cgroup v1 and v2), proc or sysfs
//! mounted through a symlink of the image, a container started in a frozen cgroup. Every
//! run that could hang has a deadline.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use berth_tests::cgroup_parent::CgroupParent;
use berth_tests::oci_runtime::{busybox_config, Runtime};
use berth_tests::rootfs::Bundle;
use berth_tests::{require, skip, unique};
use serde_json::{json, Value};

/// Longer than any of these runs takes on a loaded machine; reaching it means a hang.
const LIMIT: Duration = Duration::from_secs(20);

fn bpath(b: &Bundle) -> &str {
    b.path().to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `rt args...`, failing the test when it has not returned within `LIMIT`.
fn within(rt: &Runtime, args: &[&str]) -> Output {
    rt.cmd_within(args, LIMIT)
        .unwrap_or_else(|| panic!("{} {args:?} hung (no answer in {LIMIT:?})", rt.name()))
}

/// After a refused create of `id`: no container, no state, no cgroup named `id` (at the
/// default places, `/<id>` and `/berth/<id>`, of any hierarchy).
fn assert_nothing_left(rt: &Runtime, id: &str, what: &str) {
    let list = rt.ok(&["list", "-q"]);
    assert!(
        list.trim().is_empty(),
        "{what}: {} left containers behind: {list}",
        rt.name()
    );
    let state: Vec<_> = std::fs::read_dir(rt.root())
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        state.is_empty(),
        "{what}: {} left state behind: {state:?}",
        rt.name()
    );
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for d in [h.path().join(id), h.path().join("berth").join(id)] {
            assert!(
                !d.exists(),
                "{what}: {} left cgroup {}",
                rt.name(),
                d.display()
            );
        }
    }
}

// ---- descriptors ----

/// A process's descriptors and what they point to.
fn fd_links(pid: i32) -> BTreeMap<i32, String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/fd: {e}"))
        .filter_map(|e| {
            let e = e.ok()?;
            let n = e.file_name().to_str()?.parse().ok()?;
            let l = std::fs::read_link(e.path()).ok()?;
            Some((n, l.to_string_lossy().into_owned()))
        })
        .collect()
}

fn init_pid(rt: &Runtime, id: &str) -> i32 {
    let v: Value = serde_json::from_str(&rt.ok(&["state", id])).unwrap();
    v["pid"].as_i64().unwrap() as i32
}

/// Waits until `pid` runs `comm` (it has called execve).
fn wait_comm(pid: i32, comm: &str) {
    let start = Instant::now();
    loop {
        let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if now.trim() == comm {
            return;
        }
        assert!(
            start.elapsed() < LIMIT,
            "process {pid} never became {comm} (is {now:?})"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn descriptors_of_the_caller_do_not_reach_the_container() {
    require!(root);
    let dir = tempfile::tempdir().unwrap();
    let (probe_path, kept_path) = (dir.path().join("probe"), dir.path().join("kept"));
    std::fs::write(&probe_path, "probe").unwrap();
    std::fs::write(&kept_path, "kept").unwrap();
    let probe = std::fs::File::open(&probe_path).unwrap();
    let kept = std::fs::File::open(&kept_path).unwrap();
    let (_pipe_r, pipe_w) = nix::unistd::pipe().unwrap();
    let pipe_link = std::fs::read_link(format!("/proc/self/fd/{}", pipe_w.as_raw_fd()))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let probe_link = probe_path.to_string_lossy().into_owned();
    let kept_link = kept_path.to_string_lossy().into_owned();
    // What a careless caller leaves open: a file on 5, 9 and 200, a pipe on 251.
    let leaks = [
        (probe.as_fd(), 5),
        (probe.as_fd(), 9),
        (probe.as_fd(), 200),
        (pipe_w.as_fd(), 251),
    ];
    let callers = |links: &BTreeMap<i32, String>| -> Vec<i32> {
        links
            .iter()
            .filter(|(_, l)| **l == probe_link || **l == pipe_link)
            .map(|(n, _)| *n)
            .collect()
    };
    for rt in Runtime::both() {
        let name = rt.name();
        let b = Bundle::new(&busybox_config(&["/bin/sleep", "30"]));
        let id = unique("fds");
        // fds 3 and 4 are handed over on purpose (--preserve-fds 2)
        let mut fds = vec![(kept.as_fd(), 3), (kept.as_fd(), 4)];
        fds.extend(leaks.iter().map(|(f, n)| (f.as_fd(), *n)));
        let out = rt.cmd_with_fds(
            &["create", "--bundle", bpath(&b), "--preserve-fds", "2", &id],
            &fds,
        );
        assert!(out.status.success(), "{name} create: {}", stderr(&out));
        let pid = init_pid(&rt, &id);
        let created = fd_links(pid);
        assert!(
            callers(&created).is_empty(),
            "{name}: the created container's init holds descriptors of its caller {:?}: {created:?}",
            callers(&created)
        );
        for n in [3, 4] {
            assert_eq!(
                created.get(&n),
                Some(&kept_link),
                "{name}: preserved fd {n} is missing in the created init: {created:?}"
            );
        }
        rt.ok(&["start", &id]);
        wait_comm(pid, "sleep");
        let running = fd_links(pid);
        assert_eq!(
            running.keys().copied().collect::<Vec<_>>(),
            [0, 1, 2, 3, 4],
            "{name}: the container's process holds other descriptors than stdio and the \
             preserved ones: {running:?}"
        );
        // exec: the new process gets stdio only
        let pidfile = dir.path().join(format!("{id}.exec.pid"));
        let out = rt.cmd_with_fds(
            &[
                "exec",
                "--detach",
                "--pid-file",
                pidfile.to_str().unwrap(),
                &id,
                "/bin/sleep",
                "30",
            ],
            &leaks
                .iter()
                .map(|(f, n)| (f.as_fd(), *n))
                .collect::<Vec<_>>(),
        );
        assert!(out.status.success(), "{name} exec: {}", stderr(&out));
        let exec_pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_comm(exec_pid, "sleep");
        let exec_links = fd_links(exec_pid);
        assert_eq!(
            exec_links.keys().copied().collect::<Vec<_>>(),
            [0, 1, 2],
            "{name}: the exec'd process holds descriptors of its caller: {exec_links:?}"
        );
        rt.ok(&["delete", "--force", &id]);
    }
}

// ---- devices ----

/// Opens device nodes in the container and reports, per probe, `ok`, `denied` (EPERM: the
/// device rules refuse it) or `error <reason>` (the driver refused it, e.g. /dev/tty
/// without a controlling terminal). Opening /dev/kmsg for writing writes nothing.
const DEVICE_PROBES: &str = r#"
probe() {
  n=$1; shift
  if o=$( (eval "$@") 2>&1 ); then echo "$n ok"
  else case $o in *"not permitted"*) echo "$n denied";; *) echo "$n error ${o##*: }";; esac
  fi
}
probe null-w 'exec 3>/dev/null'
probe zero-r 'exec 3</dev/zero'
probe full-w 'exec 3>/dev/full'
probe random-r 'exec 3</dev/random'
probe urandom-r 'exec 3</dev/urandom'
probe tty-rw 'exec 3<>/dev/tty'
probe ptmx-rw 'exec 3<>/dev/ptmx'
probe pty-slave 'exec 3<>/dev/ptmx; exec 4<>/dev/pts/0'
probe kmsg-r 'exec 3</dev/kmsg'
probe kmsg-w 'exec 3>/dev/kmsg'
[ -e /dev/net/tun ] && probe tun-rw 'exec 3<>/dev/net/tun'
true
"#;

fn allow_rule(t: &str, major: Option<i64>, minor: Option<i64>, access: &str) -> Value {
    let mut r = json!({"allow": true, "type": t, "access": access});
    if let Some(m) = major {
        r["major"] = json!(m);
    }
    if let Some(m) = minor {
        r["minor"] = json!(m);
    }
    r
}

/// Docker's device rules for an unprivileged container (the list berth's engine sends too).
fn docker_default_rules() -> Value {
    let mut rules = vec![
        json!({"allow": false, "access": "rwm"}),
        allow_rule("c", None, None, "m"),
        allow_rule("b", None, None, "m"),
    ];
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(allow_rule("c", Some(major), Some(minor), "rwm"));
    }
    rules.push(allow_rule("c", Some(136), None, "rwm"));
    rules.push(allow_rule("c", Some(10), Some(200), "rwm"));
    Value::Array(rules)
}

/// The probes' results: (probe, result), sorted by probe.
fn probe_results(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Where the host mounts a cgroup filesystem of type `fstype` (with mount option
/// `option`, e.g. a v1 controller), if it does.
fn cgroup_mount(fstype: &str, option: Option<&str>) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split_whitespace();
        let matches = post.next() == Some(fstype)
            && option
                .is_none_or(|want| post.nth(1).is_some_and(|o| o.split(',').any(|o| o == want)));
        if !matches {
            return None;
        }
        pre.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// The host's cgroup2 mount point, if it has one.
fn cgroup2_mount() -> Option<PathBuf> {
    cgroup_mount("cgroup2", None)
}

/// The host's cgroup v1 freezer hierarchy, if it has one.
fn v1_freezer_mount() -> Option<PathBuf> {
    cgroup_mount("cgroup", Some("freezer"))
}

#[test]
fn device_rules_are_enforced_as_runc_enforces_them() {
    require!(root);
    let tun = Path::new("/dev/net/tun").exists();
    // (what, linux.resources.devices or None for no rules, kmsg read, kmsg write)
    let scenarios: Vec<(&str, Option<Value>, &str, &str)> = vec![
        (
            "deny everything",
            Some(json!([{"allow": false, "access": "rwm"}])),
            "denied",
            "denied",
        ),
        ("no rules at all", None, "denied", "denied"),
        (
            "deny everything, allow reading /dev/kmsg",
            Some(
                json!([{"allow": false, "access": "rwm"}, allow_rule("c", Some(1), Some(11), "r")]),
            ),
            "ok",
            "denied",
        ),
        (
            "docker's default rules",
            Some(docker_default_rules()),
            "denied",
            "denied",
        ),
        (
            "allow everything",
            Some(json!([{"allow": true, "access": "rwm"}])),
            "ok",
            "ok",
        ),
        (
            "allow everything, then deny /dev/kmsg",
            Some(json!([{"allow": true, "access": "rwm"},
                         {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwm"}])),
            "denied",
            "denied",
        ),
    ];
    let parent = CgroupParent::new("devrules");
    // (layout, whether the runtimes see only cgroup v2)
    let mut layouts = vec![("host cgroups", false)];
    if cgroup2_mount().is_some() {
        layouts.push(("cgroup v2 only", true));
    } else {
        eprintln!("no cgroup2 mount on this host: the cgroup v2 (eBPF) half is not run");
    }
    for (what, rules, kmsg_r, kmsg_w) in &scenarios {
        let mut cfg = busybox_config(&["/bin/sh", "-c", DEVICE_PROBES]);
        for set in ["bounding", "effective", "permitted"] {
            // reading the kernel log also needs CAP_SYSLOG (dmesg_restrict)
            cfg["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYSLOG"));
        }
        let mut nodes = vec![
            json!({"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o666}),
        ];
        if tun {
            nodes.push(json!({"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 0o666}));
        }
        cfg["linux"]["devices"] = Value::Array(nodes);
        match rules {
            Some(r) => cfg["linux"]["resources"]["devices"] = r.clone(),
            None => {
                cfg["linux"].as_object_mut().unwrap().remove("resources");
            }
        }
        let mut want: BTreeMap<String, String> = [
            ("null-w", "ok"),
            ("zero-r", "ok"),
            ("full-w", "ok"),
            ("random-r", "ok"),
            ("urandom-r", "ok"),
            ("tty-rw", "error No such device or address"),
            ("ptmx-rw", "ok"),
            ("pty-slave", "error Input/output error"),
            ("kmsg-r", kmsg_r),
            ("kmsg-w", kmsg_w),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if tun {
            want.insert("tun-rw".into(), "ok".into());
        }
        for &(layout, v2_only) in &layouts {
            for rt in Runtime::both() {
                let rt = if v2_only { rt.on_cgroup2_only() } else { rt };
                let b = Bundle::new(&cfg);
                let id = unique("dev");
                let mut cfg = cfg.clone();
                cfg["linux"]["cgroupsPath"] = json!(parent.path(&id));
                b.write_config(&cfg);
                let out = within(&rt, &["run", "--bundle", bpath(&b), &id]);
                assert!(
                    out.status.success(),
                    "{what} ({layout}): {} run failed: {}",
                    rt.name(),
                    stderr(&out)
                );
                let got = probe_results(&String::from_utf8_lossy(&out.stdout));
                assert_eq!(
                    got,
                    want,
                    "{what} ({layout}): {} gives the container other device access than \
                     expected (left: got, right: expected)",
                    rt.name()
                );
            }
        }
    }
}

// ---- proc and sysfs through symlinks ----

#[test]
fn proc_or_sys_through_a_symlink_is_refused_promptly() {
    require!(root);
    // (what, the change to the rootfs)
    type Change = fn(&Path);
    let cases: [(&str, Change); 5] = [
        ("/proc a symlink to /realproc", |r| {
            std::fs::rename(r.join("proc"), r.join("realproc")).unwrap();
            std::os::unix::fs::symlink("/realproc", r.join("proc")).unwrap();
        }),
        ("/sys a symlink to /realsys", |r| {
            std::fs::rename(r.join("sys"), r.join("realsys")).unwrap();
            std::os::unix::fs::symlink("/realsys", r.join("sys")).unwrap();
        }),
        ("/proc a symlink to /sys", |r| {
            std::fs::remove_dir(r.join("proc")).unwrap();
            std::os::unix::fs::symlink("/sys", r.join("proc")).unwrap();
        }),
        ("/sys a relative symlink to proc", |r| {
            std::fs::remove_dir(r.join("sys")).unwrap();
            std::os::unix::fs::symlink("proc", r.join("sys")).unwrap();
        }),
        ("/proc a regular file", |r| {
            std::fs::remove_dir(r.join("proc")).unwrap();
            std::fs::write(r.join("proc"), "").unwrap();
        }),
    ];
    for rt in Runtime::both() {
        for (what, change) in &cases {
            let b = Bundle::new(&busybox_config(&["/bin/true"]));
            change(&b.path().join("rootfs"));
            let id = unique("symproc");
            let out = within(&rt, &["run", "--bundle", bpath(&b), &id]);
            let err = stderr(&out);
            assert!(
                !out.status.success(),
                "{what}: {} accepted it: {err}",
                rt.name()
            );
            assert!(
                err.contains("ordinary directory"),
                "{what}: {} failed for another reason: {err}",
                rt.name()
            );
            if rt.name() == "berth-runtime" {
                assert!(
                    err.contains("make it a directory in the image"),
                    "{what}: the error does not say what to do: {err}"
                );
            }
            assert_nothing_left(&rt, &id, what);
        }
    }
}

// ---- frozen cgroups ----

/// A freezer cgroup made by the test. On drop, whatever got into it is killed and it is
/// thawed, so the directories can go (the test's `CgroupParent` removes them).
struct Frozen {
    dirs: Vec<PathBuf>,
    v2: bool,
}

impl Frozen {
    fn new(dir: PathBuf, v2: bool) -> Frozen {
        std::fs::create_dir_all(&dir).unwrap();
        let f = Frozen {
            dirs: vec![dir.clone()],
            v2,
        };
        if v2 {
            std::fs::write(dir.join("cgroup.freeze"), "1").unwrap();
        } else {
            std::fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
        }
        f
    }

    /// Whether the cgroup the test froze is still there and frozen.
    fn is_frozen(&self) -> bool {
        let d = &self.dirs[0];
        if self.v2 {
            std::fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|v| v.trim() == "1")
        } else {
            std::fs::read_to_string(d.join("freezer.state")).is_ok_and(|v| v.trim() == "FROZEN")
        }
    }

    fn procs(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for d in &self.dirs {
            for e in dir_tree(d) {
                let procs = std::fs::read_to_string(e.join("cgroup.procs")).unwrap_or_default();
                pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids
    }
}

/// `d` and every directory below it.
fn dir_tree(d: &Path) -> Vec<PathBuf> {
    let mut out = vec![d.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(dir_tree(&e.path()));
            }
        }
    }
    out
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for pid in self.procs() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        for d in &self.dirs {
            if self.v2 {
                let _ = std::fs::write(d.join("cgroup.freeze"), "0");
            } else {
                let _ = std::fs::write(d.join("freezer.state"), "THAWED");
            }
        }
        let start = Instant::now();
        while !self.procs().is_empty() && start.elapsed() < LIMIT {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `run -d` with cgroupsPath `path` fails at once, naming the frozen cgroup, and leaves no
/// process and no container behind.
fn refused_as_frozen(rt: &Runtime, path: &str, frozen: &Frozen, what: &str) {
    let mut cfg = busybox_config(&["/bin/sleep", "30"]);
    cfg["linux"]["cgroupsPath"] = json!(path);
    let b = Bundle::new(&cfg);
    let id = unique("frz");
    let out = within(rt, &["run", "--detach", "--bundle", bpath(&b), &id]);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "{what}: {} started a container in a frozen cgroup",
        rt.name()
    );
    assert!(
        err.contains("frozen"),
        "{what}: {} failed for another reason: {err}",
        rt.name()
    );
    assert_eq!(
        frozen.procs(),
        Vec::<i32>::new(),
        "{what}: {} left processes in the frozen cgroup",
        rt.name()
    );
    assert!(
        frozen.is_frozen(),
        "{what}: {} removed or thawed a frozen cgroup it did not make",
        rt.name()
    );
    assert_nothing_left(rt, &id, what);
}

#[test]
fn a_frozen_cgroup_is_refused_promptly() {
    require!(root);
    let parent = CgroupParent::new("frozen");
    let (v1, v2) = (v1_freezer_mount(), cgroup2_mount());
    if v1.is_none() && v2.is_none() {
        skip!(host::no_freezer);
    }
    if let Some(freezer) = &v1 {
        for rt in Runtime::both() {
            let leaf = unique("leaf");
            let frozen = Frozen::new(freezer.join(parent.name()).join(&leaf), false);
            refused_as_frozen(&rt, &parent.path(&leaf), &frozen, "v1 freezer FROZEN");
            // nothing was made in the other hierarchies (runc checks before making any)
            for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
                let d = h.path().join(parent.name()).join(&leaf);
                assert!(
                    h.path() == *freezer || !d.exists(),
                    "{}: {} was left behind",
                    rt.name(),
                    d.display()
                );
            }
        }
        // A child of a frozen parent is frozen too. runc 1.1.5 checks only the cgroup
        // itself and hangs here; berth-runtime refuses it as well.
        let rt = Runtime::new();
        let fp = unique("frozen-parent");
        let frozen = Frozen::new(freezer.join(parent.name()).join(&fp), false);
        let child = format!("{}/child", parent.path(&fp));
        refused_as_frozen(&rt, &child, &frozen, "v1 parent FROZEN");
    } else {
        eprintln!("no cgroup v1 freezer on this host: the v1 half is not run");
    }
    if let Some(v2_mount) = &v2 {
        for rt in Runtime::both() {
            let rt = rt.on_cgroup2_only();
            let leaf = unique("leaf");
            let frozen = Frozen::new(v2_mount.join(parent.name()).join(&leaf), true);
            refused_as_frozen(&rt, &parent.path(&leaf), &frozen, "cgroup.freeze 1");
        }
    } else {
        eprintln!("no cgroup2 mount on this host: the v2 half is not run");
    }
}

// ---- a cgroup in use ----

#[test]
fn a_cgroup_in_use_by_another_container_is_left_alone() {
    require!(root);
    let parent = CgroupParent::new("inuse");
    for rt in Runtime::both() {
        let mut cfg = busybox_config(&["/bin/sleep", "30"]);
        cfg["linux"]["cgroupsPath"] = json!(parent.path(&unique("shared")));
        let b = Bundle::new(&cfg);
        let first = unique("first");
        rt.ok(&["run", "--detach", "--bundle", bpath(&b), &first]);
        let second = unique("second");
        let out = within(&rt, &["run", "--detach", "--bundle", bpath(&b), &second]);
        // runc 1.1 accepts a non-empty cgroup with a deprecation warning (1.2 refuses
        // it); berth-runtime refuses it. Either way the first container is untouched.
        if rt.name() == "berth-runtime" {
            assert!(
                !out.status.success(),
                "berth-runtime put a second container in a cgroup in use"
            );
            assert!(
                stderr(&out).contains("holds processes"),
                "berth-runtime failed for another reason: {}",
                stderr(&out)
            );
        } else {
            rt.ok(&["delete", "--force", &second]);
        }
        assert_eq!(
            rt.status(&first),
            "running",
            "{}: the refused second container took the first one down: {}",
            rt.name(),
            stderr(&out)
        );
        rt.ok(&["delete", "--force", &first]);
        assert_nothing_left(&rt, &second, "cgroup in use");
    }
}
