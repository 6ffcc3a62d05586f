//! berth-cgroups on the real cgroup filesystem: limits land in the kernel's files, update
//! changes them, the freezer stops processes, stats and the OOM counter report what
//! happened, signal_all reaches every process, destroy leaves nothing behind, and bad input
//! is refused before anything is created.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_cgroups::{Cgroup, Mode};
use berth_tests::{require, skip, unique};
use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;
use serde_json::json;

fn resources(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).expect("valid linux.resources")
}

/// A child process in a test cgroup under its own parent; killed and removed on drop.
struct Subject {
    child: Child,
    cg: Cgroup,
    parent: String,
}

impl Subject {
    /// Starts `sh -c script` and puts it in `/<unique parent>/c` with the given limits. The
    /// script runs only once the shell is in the cgroup (it waits for a line on stdin).
    fn start(script: &str, res: Option<&LinuxResources>) -> Subject {
        let parent = unique("berth-cgtest");
        let child = Command::new("/bin/sh")
            .args(["-c", &format!("read go; {script}")])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let cg = Cgroup::new(Some(Path::new(&format!("/{parent}/c"))), "c").unwrap();
        let mut s = Subject { child, cg, parent };
        if let Err(e) = s.cg.create(s.child.id() as i32, res) {
            let _ = s.child.kill();
            let _ = s.child.wait();
            panic!("create: {e}");
        }
        let stdin = s.child.stdin.as_mut().expect("piped stdin");
        stdin.write_all(b"go\n").expect("release the script");
        s
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn dir(&self, controller: &str) -> PathBuf {
        let dirs = self.cg.dirs();
        let key = if self.cg.mode() == Mode::Unified {
            ""
        } else {
            controller
        };
        dirs.get(key)
            .unwrap_or_else(|| panic!("no {controller} directory"))
            .clone()
    }

    /// Reads a cgroup file: `v1` in the v1 hierarchy, `v2` in the cgroup2 directory.
    fn file(&self, controller: &str, v1: &str, v2: &str) -> String {
        let name = if self.cg.mode() == Mode::Unified {
            v2
        } else {
            v1
        };
        let path = self.dir(controller).join(name);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    }
}

impl Drop for Subject {
    fn drop(&mut self) {
        let _ = self.cg.signal_all(Signal::SIGKILL);
        let _ = self.cg.thaw();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.cg.destroy();
        assert_gone(&self.parent);
    }
}

/// No hierarchy holds a directory named `name` at its top level.
fn assert_gone(name: &str) {
    for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = entry.path().join(name);
        assert!(!p.exists(), "{} left behind", p.display());
    }
    let p = Path::new("/sys/fs/cgroup").join(name);
    assert!(!p.exists(), "{} left behind", p.display());
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn limits_land_in_the_kernel_files_and_update_changes_them() {
    require!(root);
    let res = resources(json!({
        "memory": { "limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20 },
        "cpu": { "shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0" },
        "pids": { "limit": 20 },
        "devices": [
            { "allow": false, "access": "rwm" },
            { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" },
            { "allow": true, "type": "c", "major": 1, "minor": 5, "access": "r" }
        ]
    }));
    let s = Subject::start("exec sleep 60", Some(&res));
    let v2 = s.cg.mode() == Mode::Unified;
    assert_eq!(
        s.file("memory", "memory.limit_in_bytes", "memory.max"),
        (64u64 << 20).to_string()
    );
    if !v2 {
        assert_eq!(
            s.file("memory", "memory.memsw.limit_in_bytes", "-"),
            (128u64 << 20).to_string()
        );
        assert_eq!(s.file("cpu", "cpu.shares", "-"), "512");
        assert_eq!(s.file("cpu", "cpu.cfs_quota_us", "-"), "50000");
        assert_eq!(s.file("devices", "devices.list", "-"), "c 1:3 rwm\nc 1:5 r");
    } else {
        assert_eq!(
            s.file("memory", "-", "memory.swap.max"),
            (64u64 << 20).to_string()
        );
        assert_eq!(s.file("cpu", "-", "cpu.max"), "50000 100000");
    }
    assert_eq!(s.file("cpuset", "cpuset.cpus", "cpuset.cpus"), "0");
    assert_eq!(s.file("pids", "pids.max", "pids.max"), "20");
    assert_eq!(s.cg.pids().unwrap(), vec![s.pid()]);

    // update: only the given fields change
    s.cg.update(&resources(json!({
        "memory": { "limit": 96 << 20, "swap": 192 << 20 },
        "cpu": { "quota": 20000 },
        "pids": { "limit": 7 }
    })))
    .unwrap();
    assert_eq!(
        s.file("memory", "memory.limit_in_bytes", "memory.max"),
        (96u64 << 20).to_string()
    );
    assert_eq!(s.file("pids", "pids.max", "pids.max"), "7");
    assert_eq!(
        s.file("cpu", "cpu.cfs_quota_us", "cpu.max"),
        if v2 { "20000 100000" } else { "20000" }
    );
    assert_eq!(s.file("cpuset", "cpuset.cpus", "cpuset.cpus"), "0");

    // shrinking memory below memory+swap order works too, and lifting it entirely
    s.cg.update(&resources(
        json!({ "memory": { "limit": 16 << 20, "swap": 32 << 20 } }),
    ))
    .unwrap();
    s.cg.update(&resources(json!({ "memory": { "limit": -1 } })))
        .unwrap();
    let stats = s.cg.stats().unwrap();
    assert!(
        stats.memory.usage.limit > 1 << 40,
        "limit lifted: {stats:?}"
    );
    assert_eq!(stats.pids.limit, 7);
    assert_eq!(stats.pids.current, 1);
}

#[test]
fn update_below_usage_is_refused_with_check_before_update() {
    require!(root);
    let s = Subject::start(
        "x=$(head -c 4000000 /dev/zero | tr '\\0' a); sleep 60",
        None,
    );
    wait_until("the shell holds its 4 MB", || {
        s.cg.stats().unwrap().memory.usage.usage > 1 << 20
    });
    let err =
        s.cg.update(&resources(
            json!({ "memory": { "limit": 4096, "checkBeforeUpdate": true } }),
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("below the current usage"), "{err}");
}

#[test]
fn freeze_stops_the_processes_and_thaw_resumes_them() {
    require!(root);
    let s = Subject::start("while :; do :; done", None);
    let usage = || s.cg.stats().unwrap().cpu.usage.total;
    wait_until("the loop uses cpu", || usage() > 0);
    assert!(!s.cg.is_frozen().unwrap());
    s.cg.freeze().unwrap();
    assert!(s.cg.is_frozen().unwrap());
    let before = usage();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(usage(), before, "cpu time grew while frozen");
    s.cg.thaw().unwrap();
    assert!(!s.cg.is_frozen().unwrap());
    let thawed = usage();
    wait_until("cpu time grows again after thaw", || usage() > thawed);
}

#[test]
fn stats_report_cpu_memory_and_pids() {
    require!(root);
    let res =
        resources(json!({ "pids": { "limit": 50 }, "cpu": { "quota": 20000, "period": 100000 } }));
    let s = Subject::start(
        "x=$(head -c 2000000 /dev/zero | tr '\\0' a); while :; do :; done",
        Some(&res),
    );
    wait_until("the shell holds its 2 MB", || {
        s.cg.stats().unwrap().memory.usage.usage > 1 << 20
    });
    wait_until("a busy loop at 20% to be throttled", || {
        s.cg.stats().unwrap().cpu.throttling.throttled_periods > 0
    });
    let st = s.cg.stats().unwrap();
    assert!(st.cpu.usage.total > 0, "{:?}", st.cpu);
    assert!(st.cpu.usage.user + st.cpu.usage.kernel > 0, "{:?}", st.cpu);
    assert!(
        st.cpu.throttling.periods > 0,
        "quota set: periods counted {:?}",
        st.cpu
    );
    assert!(
        st.cpu.throttling.throttled_periods > 0,
        "a busy loop at 20% is throttled"
    );
    assert!(st.memory.usage.usage > 0);
    assert!(!st.memory.raw.is_empty(), "memory.stat parsed");
    assert_eq!(st.pids.limit, 50);
    assert!(st.pids.current >= 1);
    if s.cg.mode() != Mode::Unified {
        assert_eq!(st.cpu.usage.percpu.len(), num_cpus(), "{:?}", st.cpu);
    }
    // runc's JSON names
    let v = serde_json::to_value(&st).unwrap();
    assert!(v["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
    assert!(v["cpu"]["throttling"]["throttledPeriods"]
        .as_u64()
        .is_some());
    assert_eq!(v["pids"]["limit"], 50);
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().unwrap().get()
}

#[test]
fn oom_kill_is_counted() {
    require!(root);
    let res = resources(json!({ "memory": { "limit": 32 << 20, "swap": 32 << 20 } }));
    let mut s = Subject::start(
        "read go; exec dd if=/dev/zero of=/dev/null bs=256M count=1",
        Some(&res),
    );
    assert_eq!(s.cg.oom_kill_count().unwrap(), 0);
    // only now, inside the cgroup, allocate 256 MiB
    s.child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = s.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert_eq!(s.cg.oom_kill_count().unwrap(), 1);
    // the peak reached the limit (some kernels no longer count v1 failcnt)
    let m = s.cg.stats().unwrap().memory;
    assert!(m.usage.max >= m.usage.limit || m.usage.failcnt > 0, "{m:?}");
}

#[test]
fn signal_all_reaches_every_process_and_destroy_cleans_up() {
    require!(root);
    let mut s = Subject::start("sleep 100 & sleep 100 & wait", None);
    wait_until("three processes", || s.cg.pids().unwrap().len() == 3);
    let pids = s.cg.pids().unwrap();
    s.cg.signal_all(Signal::SIGKILL).unwrap();
    s.child.wait().unwrap();
    wait_until("all gone", || s.cg.pids().unwrap().is_empty());
    for p in pids {
        // the orphaned sleeps were reaped by init; their pids no longer run sleep
        let cmd = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
        assert!(!cmd.starts_with("sleep\x00100"), "process {p} survived");
    }
    let dirs: Vec<PathBuf> = s.cg.dirs().into_values().collect();
    s.cg.destroy().unwrap();
    for d in dirs {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn signal_keeps_a_paused_cgroup_paused() {
    require!(root);
    let s = Subject::start("trap '' USR1; sleep 100 & wait", None);
    wait_until("two processes", || s.cg.pids().unwrap().len() == 2);
    s.cg.freeze().unwrap();
    s.cg.signal_all(Signal::SIGUSR1).unwrap();
    assert!(s.cg.is_frozen().unwrap(), "a paused container stays paused");
}

#[test]
fn destroy_refuses_a_cgroup_with_processes_and_names_them() {
    require!(root);
    let s = Subject::start("exec sleep 60", None);
    let t = Instant::now();
    let err = s.cg.destroy().unwrap_err().to_string();
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "refused without waiting"
    );
    assert!(
        err.contains(&s.pid().to_string()) && err.contains("kill"),
        "{err}"
    );
    assert!(s.cg.exists());
}

#[test]
fn default_path_is_under_berth_and_parents_are_removed() {
    require!(root);
    let id = unique("berth-cgdefault");
    let cg = Cgroup::new(None, &id).unwrap();
    assert_eq!(cg.path(), Path::new("/berth").join(&id));
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    cg.create(child.id() as i32, None).unwrap();
    for d in cg.dirs().values() {
        assert!(d.ends_with(format!("berth/{id}")), "{}", d.display());
        assert!(d.is_dir());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let dirs: Vec<PathBuf> = cg.dirs().into_values().collect();
    cg.destroy().unwrap();
    assert!(dirs.iter().all(|d| !d.exists()));

    // a deep explicit path: every parent made by create goes away with the container
    let top = unique("berth-cgdeep");
    let cg = Cgroup::new(Some(Path::new(&format!("/{top}/a/b"))), "x").unwrap();
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    cg.create(child.id() as i32, None).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // the state survives a round trip through JSON (as in the runtime's state file)
    let saved = serde_json::to_string(&cg).unwrap();
    let loaded: Cgroup = serde_json::from_str(&saved).unwrap();
    loaded.destroy().unwrap();
    assert_gone(&top);
}

#[test]
fn relative_path_is_placed_under_the_callers_own_cgroups() {
    require!(root);
    if berth_cgroups::host_mode().unwrap() == Mode::Unified {
        // cgroup v2 enables controllers only below cgroups without processes, and the
        // test's own cgroup holds the test
        skip!(
            host::no_cgroup_v1,
            "a relative path below the test's own cgroup gets no controllers on cgroup v2"
        );
    }
    let rel = unique("berth-cgrel");
    let cg = Cgroup::new(Some(Path::new(&rel)), "r").unwrap();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for (controller, dir) in cg.dirs() {
        let line = own
            .lines()
            .find(|l| {
                let f: Vec<&str> = l.splitn(3, ':').collect();
                if controller.is_empty() {
                    f[1].is_empty()
                } else {
                    f[1].split(',').any(|c| c == controller)
                }
            })
            .unwrap_or_else(|| panic!("no own cgroup for {controller:?}"));
        let own_path = line.splitn(3, ':').nth(2).unwrap();
        let want = format!("{}/{rel}", own_path.trim_end_matches('/'));
        assert!(
            dir.to_string_lossy().ends_with(&want),
            "{controller}: {} should end with {want}",
            dir.display()
        );
    }
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    cg.create(child.id() as i32, None).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![child.id() as i32]);
    child.kill().unwrap();
    child.wait().unwrap();
    cg.destroy().unwrap();
    assert!(cg.dirs().values().all(|d| !d.exists()));
}

#[test]
fn a_cgroup_in_use_is_not_taken_over() {
    require!(root);
    let s = Subject::start("exec sleep 60", None);
    let mut other = Command::new("sleep").arg("60").spawn().unwrap();
    let second = Cgroup::new(Some(s.cg.path()), "other").unwrap();
    let err = second
        .create(other.id() as i32, None)
        .unwrap_err()
        .to_string();
    other.kill().unwrap();
    other.wait().unwrap();
    assert!(err.contains("already exists and holds processes"), "{err}");
    assert_eq!(
        s.cg.pids().unwrap(),
        vec![s.pid()],
        "the first owner is untouched"
    );
}

/// Bad input: the error names the cause, and nothing is created.
#[test]
fn bad_limits_are_refused_before_anything_is_created() {
    require!(root);
    let v1 = berth_cgroups::host_mode().unwrap() != Mode::Unified;
    let mut cases = vec![
        (
            json!({ "memory": { "limit": 64 << 20, "swap": 32 << 20 } }),
            &["swap must be >= limit"][..],
        ),
        (json!({ "cpu": { "cpus": "9999" } }), &["cpuset.cpus"]),
        (json!({ "memory": { "swappiness": 150 } }), &["swappiness"]),
        (
            json!({ "devices": [ { "allow": true, "access": "rwx" } ] }),
            &["access"],
        ),
        (
            json!({ "hugepageLimits": [ { "pageSize": "3MB", "limit": 0 } ] }),
            &["3MB", "hugetlb"],
        ),
        (
            json!({ "unified": { "../../etc/passwd": "x" } }),
            &["not a cgroup file name"],
        ),
        (json!({ "network": { "classID": 1048577 } }), &["net_cls"]),
    ];
    if v1 {
        // the kernel clamps v1 shares; the clamp is reported instead of applied silently
        cases.push((json!({ "cpu": { "shares": 1_000_000 } }), &["cpu shares"]));
    }
    for (res, want) in cases {
        let top = unique("berth-cgbad");
        let cg = Cgroup::new(Some(Path::new(&format!("/{top}/c"))), "c").unwrap();
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        let err = cg.create(child.id() as i32, Some(&resources(res.clone())));
        child.kill().unwrap();
        child.wait().unwrap();
        let err = match err {
            // net_cls may exist on other hosts: then the class id is simply applied
            Ok(()) if want == ["net_cls"] => {
                cg.destroy().unwrap();
                continue;
            }
            Ok(()) => panic!("{res} accepted"),
            Err(e) => e.to_string(),
        };
        assert!(want.iter().any(|w| err.contains(w)), "{res}: {err}");
        assert!(err.contains(&top), "error names the cgroup: {err}");
        assert_gone(&top);
    }
}

#[test]
fn missing_controllers_are_named() {
    require!(root);
    if Path::new("/sys/fs/cgroup/net_cls").exists()
        || Path::new("/sys/fs/cgroup/net_cls,net_prio").exists()
    {
        skip!(host::net_cls_mounted);
    }
    let cg = Cgroup::new(
        Some(Path::new(&format!("/{}", unique("berth-cgmiss")))),
        "m",
    )
    .unwrap();
    let err = cg
        .create(1, Some(&resources(json!({ "network": { "classID": 7 } }))))
        .unwrap_err();
    assert!(matches!(
        err,
        berth_cgroups::Error::ControllerMissing { .. }
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("net_cls") && msg.contains("linux.resources.network.classID"),
        "{msg}"
    );
    assert!(!cg.exists());
}

#[test]
fn hugetlb_limits_on_a_hybrid_host_go_to_cgroup2() {
    require!(root);
    if berth_cgroups::host_mode().unwrap() != Mode::Hybrid
        || !std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
            .unwrap_or_default()
            .contains("hugetlb")
        || !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
    {
        skip!(host::no_cgroup2_hugetlb);
    }
    let res = resources(json!({ "hugepageLimits": [ { "pageSize": "2MB", "limit": 0 } ] }));
    let s = Subject::start("exec sleep 60", Some(&res));
    let v2 = s.cg.dirs()[""].clone();
    assert_eq!(
        std::fs::read_to_string(v2.join("hugetlb.2MB.max"))
            .unwrap()
            .trim(),
        "0"
    );
    assert!(s.cg.stats().unwrap().hugetlb.contains_key("2MB"));
}

#[test]
fn not_existing_cgroup_reports_not_found() {
    let cg = Cgroup::new(
        Some(Path::new(&format!("/{}", unique("berth-cgnone")))),
        "n",
    )
    .unwrap();
    assert!(!cg.exists());
    let err = cg.stats().unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(cg.pids().unwrap_err().is_not_found());
    cg.destroy().unwrap();
}

// ---- containers: berth-runtime puts them in their cgroup with the config's limits ----

mod containers {
    use std::path::Path;

    use berth_cgroups::{Cgroup, Mode};
    use berth_tests::oci_runtime::{busybox_config, cgroups_path, Runtime};
    use berth_tests::rootfs::Bundle;
    use berth_tests::{require, skip, unique};
    use serde_json::json;

    fn file(cg: &Cgroup, controller: &str, v1: &str, v2: &str) -> String {
        let dirs = cg.dirs();
        let (dir, name) = if cg.mode() == Mode::Unified {
            (&dirs[""], v2)
        } else {
            (&dirs[controller], v1)
        };
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
            .trim()
            .to_string()
    }

    /// A started container in a cgroup under a parent of its own; on drop the container is
    /// force-deleted and the parent removed, whatever the test did.
    struct Started {
        rt: Runtime,
        id: String,
        cg: Cgroup,
        _bundle: Bundle,
    }

    impl Drop for Started {
        fn drop(&mut self) {
            self.rt.force_delete(&self.id);
            for d in self.cg.dirs().values() {
                let _ = std::fs::remove_dir(d);
                let _ = std::fs::remove_dir(d.parent().unwrap());
            }
        }
    }

    /// create + start a container running `args` with `resources`.
    fn start(args: &[&str], resources: serde_json::Value) -> Started {
        let id = unique("cgc");
        let parent = unique("berth-ctest");
        let path = cgroups_path(&parent, &id);
        let mut config = busybox_config(args);
        config["linux"]["resources"] = resources;
        config["linux"]["cgroupsPath"] = json!(path);
        let bundle = Bundle::new(&config);
        let rt = Runtime::new();
        let cg = Cgroup::new(Some(&path), &id).unwrap();
        let started = Started {
            rt,
            id,
            cg,
            _bundle: bundle,
        };
        let bundle_dir = started._bundle.path().to_str().unwrap().to_string();
        started
            .rt
            .ok(&["create", "--bundle", &bundle_dir, &started.id]);
        started.rt.ok(&["start", &started.id]);
        started
    }

    #[test]
    fn limits_update_pause_and_delete() {
        require!(root);
        let c = start(
            &["/bin/sleep", "60"],
            json!({
                "devices": [ { "allow": false, "access": "rwm" } ],
                "memory": { "limit": 64 << 20 },
                "cpu": { "quota": 50000, "period": 100000, "cpus": "0" },
                "pids": { "limit": 20 }
            }),
        );
        let (rt, id, cg) = (&c.rt, c.id.as_str(), &c.cg);
        let v2 = cg.mode() == Mode::Unified;
        assert_eq!(
            file(cg, "memory", "memory.limit_in_bytes", "memory.max"),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            file(cg, "cpu", "cpu.cfs_quota_us", "cpu.max"),
            if v2 { "50000 100000" } else { "50000" }
        );
        assert_eq!(file(cg, "pids", "pids.max", "pids.max"), "20");
        assert_eq!(file(cg, "cpuset", "cpuset.cpus", "cpuset.cpus"), "0");
        let init: serde_json::Value = serde_json::from_str(&rt.ok(&["state", id])).unwrap();
        assert_eq!(
            cg.pids().unwrap(),
            vec![init["pid"].as_i64().unwrap() as i32]
        );

        // update (runc's flags)
        rt.ok(&["update", "--memory", "100663296", "--pids-limit", "9", id]);
        assert_eq!(
            file(cg, "memory", "memory.limit_in_bytes", "memory.max"),
            (96u64 << 20).to_string()
        );
        assert_eq!(file(cg, "pids", "pids.max", "pids.max"), "9");

        // pause / resume
        rt.ok(&["pause", id]);
        assert_eq!(rt.status(id), "paused");
        assert!(cg.is_frozen().unwrap());
        rt.ok(&["resume", id]);
        assert_eq!(rt.status(id), "running");
        assert!(!cg.is_frozen().unwrap());

        // delete removes every cgroup directory
        rt.ok(&["kill", id, "KILL"]);
        rt.wait_status(id, "stopped");
        let dirs = cg.dirs();
        rt.ok(&["delete", id]);
        for d in dirs.values() {
            assert!(!d.exists(), "{} left behind", d.display());
            // the parent create made for it goes too
            let parent = d.parent().unwrap();
            assert!(!parent.exists(), "{} left behind", parent.display());
        }
    }

    #[test]
    fn a_container_over_its_memory_limit_is_oom_killed() {
        require!(root);
        let c = start(
            &[
                "/bin/dd",
                "if=/dev/zero",
                "of=/dev/null",
                "bs=256M",
                "count=1",
            ],
            json!({
                "devices": [
                    { "allow": false, "access": "rwm" },
                    { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" },
                    { "allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm" }
                ],
                "memory": { "limit": 32 << 20, "swap": 32 << 20 }
            }),
        );
        let (rt, id, cg) = (&c.rt, c.id.as_str(), &c.cg);
        rt.wait_status(id, "stopped");
        assert_eq!(cg.oom_kill_count().unwrap(), 1);
        rt.ok(&["delete", id]);
        assert!(!cg.exists());
    }

    #[test]
    fn a_limit_the_host_cannot_apply_fails_create_and_leaves_nothing() {
        require!(root);
        if Path::new("/sys/fs/cgroup/net_cls").exists() {
            skip!(host::net_cls_mounted);
        }
        let id = unique("cgbad");
        let parent = unique("berth-ctest");
        let mut config = busybox_config(&["/bin/true"]);
        config["linux"]["resources"]["network"] = json!({ "classID": 7 });
        config["linux"]["cgroupsPath"] = json!(cgroups_path(&parent, &id));
        let bundle = Bundle::new(&config);
        let rt = Runtime::new();
        let out = rt.cmd(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("net_cls"), "{err}");
        assert!(rt.cmd(&["state", &id]).status.code() != Some(0));
        for entry in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            assert!(
                !entry.path().join(&parent).exists(),
                "{parent} left in {}",
                entry.path().display()
            );
        }
    }
}

/// The runtime's way in: the cgroup is made first (pid 0), then the container's process
/// joins it itself; SIGKILL must still reach it wherever it joined.
#[test]
fn a_process_that_joins_itself_is_counted_and_killed() {
    require!(root);
    use std::os::unix::process::CommandExt;
    use std::sync::Arc;
    let parent = unique("berth-cgjoin");
    let cg = Arc::new(Cgroup::new(Some(Path::new(&format!("/{parent}/c"))), "c").unwrap());
    cg.create(0, Some(&resources(json!({ "pids": { "limit": 10 } }))))
        .unwrap();
    assert!(cg.pids().unwrap().is_empty());
    let joiner = Arc::clone(&cg);
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "sleep 100 & wait"]);
    // SAFETY: join_self allocates and writes cgroup files, which POSIX does not call
    // async-signal-safe after a fork in this threaded test process; it is sound with
    // glibc, whose fork holds malloc's locks across the fork so the child's allocator is
    // consistent, and the closure takes no other lock (std's file calls take none).
    unsafe {
        cmd.pre_exec(move || joiner.join_self().map_err(std::io::Error::other));
    }
    let mut child = cmd.spawn().unwrap();
    wait_until("sh and sleep in the cgroup", || {
        cg.pids().unwrap().len() == 2
    });
    assert_eq!(cg.stats().unwrap().pids.current, 2);
    cg.signal_all(Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    assert!(cg.pids().unwrap().is_empty());
    cg.destroy().unwrap();
    assert_gone(&parent);
}

/// A whole disk of this host ("major:minor" of /sys/block/vda and the like), if any.
fn a_disk() -> Option<(i64, i64)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("zram") && !n.starts_with("ram"))
        .collect();
    names.sort();
    let dev = std::fs::read_to_string(format!("/sys/block/{}/dev", names.first()?)).ok()?;
    let (major, minor) = dev.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[test]
fn block_io_throttles_and_weights() {
    require!(root);
    let Some((major, minor)) = a_disk() else {
        skip!(host::no_block_device);
    };
    let res = resources(json!({ "blockIO": {
        "throttleReadBpsDevice": [ { "major": major, "minor": minor, "rate": 1048576 } ],
        "throttleWriteIOPSDevice": [ { "major": major, "minor": minor, "rate": 100 } ]
    } }));
    let s = Subject::start("exec sleep 60", Some(&res));
    if s.cg.mode() == Mode::Unified {
        let max = s.file("blkio", "-", "io.max");
        assert!(
            max.contains(&format!("{major}:{minor} rbps=1048576")) && max.contains("wiops=100"),
            "{max}"
        );
    } else {
        assert_eq!(
            s.file("blkio", "blkio.throttle.read_bps_device", "-"),
            format!("{major}:{minor} 1048576")
        );
        assert_eq!(
            s.file("blkio", "blkio.throttle.write_iops_device", "-"),
            format!("{major}:{minor} 100")
        );
    }
    // a weight is applied where the I/O scheduler offers one, and refused clearly otherwise
    let weight =
        s.cg.update(&resources(json!({ "blockIO": { "weight": 300 } })));
    match weight {
        Ok(()) => {
            let dir = s.dir("blkio");
            let set = [
                "blkio.weight",
                "blkio.bfq.weight",
                "io.bfq.weight",
                "io.weight",
            ]
            .iter()
            .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
            .any(|v| v.contains("300") || v.contains("2930"));
            assert!(set, "weight 300 not found in {}", dir.display());
        }
        Err(e) => assert!(e.to_string().contains("proportional weights"), "{e}"),
    }
}

/// On a hybrid host a process that joined itself is not in the cgroup2 directory until a
/// limit needs it there; an update that sets one brings the processes along.
#[test]
fn an_update_with_a_cgroup2_limit_moves_the_processes_there() {
    require!(root);
    if berth_cgroups::host_mode().unwrap() != Mode::Hybrid
        || !std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
            .unwrap_or_default()
            .contains("hugetlb")
        || !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
    {
        skip!(host::no_cgroup2_hugetlb);
    }
    use std::os::unix::process::CommandExt;
    use std::sync::Arc;
    let parent = unique("berth-cghyb");
    let cg = Arc::new(Cgroup::new(Some(Path::new(&format!("/{parent}/c"))), "c").unwrap());
    cg.create(0, None).unwrap();
    let joiner = Arc::clone(&cg);
    let mut cmd = Command::new("sleep");
    cmd.arg("60");
    // SAFETY: join_self allocates and writes cgroup files, which POSIX does not call
    // async-signal-safe after a fork in this threaded test process; it is sound with
    // glibc, whose fork holds malloc's locks across the fork so the child's allocator is
    // consistent, and the closure takes no other lock (std's file calls take none).
    unsafe {
        cmd.pre_exec(move || joiner.join_self().map_err(std::io::Error::other));
    }
    let mut child = cmd.spawn().unwrap();
    let v2 = cg.dirs()[""].clone();
    let procs = || std::fs::read_to_string(v2.join("cgroup.procs")).unwrap_or_default();
    assert!(
        procs().trim().is_empty(),
        "not in the cgroup2 directory yet"
    );
    cg.update(&resources(
        json!({ "hugepageLimits": [ { "pageSize": "2MB", "limit": 0 } ] }),
    ))
    .unwrap();
    assert_eq!(procs().trim(), child.id().to_string());
    assert_eq!(
        std::fs::read_to_string(v2.join("hugetlb.2MB.max"))
            .unwrap()
            .trim(),
        "0"
    );
    cg.signal_all(Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    cg.destroy().unwrap();
    assert_gone(&parent);
}
