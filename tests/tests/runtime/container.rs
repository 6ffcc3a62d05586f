//! What a container run by berth-runtime looks like from the inside: namespaces, hostname,
//! mounts, devices, masked and read-only paths, identity, capabilities, limits, sysctls,
//! user/cgroup/time namespaces, joining namespaces by path, --no-pivot, --preserve-fds.
//! Every check is made by a process in the container.

use berth_tests::oci_runtime::{busybox_config, Runtime};
use berth_tests::rootfs::Bundle;
use berth_tests::{require, skip, unique};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

/// Runs `script` with `sh -c` in a container made from `edit(config)`; returns the exit
/// code and stdout, failing the test (with stderr) when the runtime itself fails.
fn run_with(script: &str, edit: impl FnOnce(&mut Value)) -> (i32, String) {
    let mut cfg = busybox_config(&["/bin/sh", "-c", script]);
    edit(&mut cfg);
    let rt = Runtime::new();
    let b = Bundle::new(&cfg);
    let id = unique("ct");
    let out = rt.cmd(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("berth-runtime:"),
        "runtime failed (exit {code}): {stderr}"
    );
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run(script: &str) -> (i32, String) {
    run_with(script, |_| {})
}

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn own_namespaces_and_pid_one() {
    require!(root);
    let (code, out) = run(
        "for n in pid net ipc uts mnt; do echo $n $(readlink /proc/self/ns/$n); done; echo pid1 $(cat /proc/1/comm); echo me $$",
    );
    assert_eq!(code, 0, "{out}");
    for kind in ["pid", "net", "ipc", "uts", "mnt"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{kind} ")))
            .unwrap();
        assert_ne!(
            line.split_once(' ').unwrap().1,
            host_ns(kind),
            "{kind} namespace is the host's"
        );
    }
    assert!(out.contains("pid1 sh"), "{out}");
    assert!(out.contains("me 1"), "{out}");
}

#[test]
fn hostname_domainname_env_cwd() {
    require!(root);
    let (code, out) = run_with(
        "hostname; cat /proc/sys/kernel/domainname; echo $GREETING; pwd",
        |c| {
            c["hostname"] = json!("inner-host");
            c["domainname"] = json!("inner.domain");
            c["process"]["env"] = json!(["PATH=/bin", "GREETING=hello there"]);
            c["process"]["cwd"] = json!("/tmp");
        },
    );
    assert_eq!(code, 0);
    assert_eq!(out, "inner-host\ninner.domain\nhello there\n/tmp\n");
    // A missing cwd is made (0755, as runc makes it), also under a read-only root, and a
    // user other than root enters one only root may.
    let (code, out) = run_with("pwd; stat -c %a /made /made/here", |c| {
        c["root"]["readonly"] = json!(true);
        c["process"]["cwd"] = json!("/made/here");
    });
    assert_eq!((code, out.as_str()), (0, "/made/here\n755\n755\n"));
    let mut cfg = busybox_config(&["/bin/sh", "-c", "pwd; id -u"]);
    cfg["process"]["cwd"] = json!("/root");
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let b = Bundle::new(&cfg);
    let root_only = std::fs::Permissions::from_mode(0o700);
    std::fs::set_permissions(b.path().join("rootfs/root"), root_only).unwrap();
    let out = Runtime::new().cmd(&["run", "--bundle", b.path().to_str().unwrap(), &unique("ct")]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(stdout, "/root\n1000\n", "{stderr}");
}

#[test]
fn user_groups_umask() {
    require!(root);
    let (code, out) = run_with("id -u; id -g; id -G; umask", |c| {
        c["process"]["user"] =
            json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 1002], "umask": 63});
    });
    assert_eq!(code, 0);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "1000");
    assert_eq!(l[1], "1001");
    let groups: Vec<&str> = l[2].split_whitespace().collect();
    assert!(groups.contains(&"5") && groups.contains(&"1002"), "{out}");
    assert_eq!(l[3], "0077");
}

fn status_field(out: &str, key: &str) -> u64 {
    let v = out
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{key} missing in {out}"))
        .split_whitespace()
        .nth(1)
        .unwrap();
    u64::from_str_radix(v, 16).unwrap_or_else(|_| v.parse().unwrap())
}

#[test]
fn capability_sets_and_no_new_privileges() {
    require!(root);
    // CAP_CHOWN=0, CAP_KILL=5, CAP_NET_BIND_SERVICE=10, CAP_NET_RAW=13.
    let (code, out) = run_with("cat /proc/self/status", |c| {
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]
        });
        c["process"]["noNewPrivileges"] = json!(true);
    });
    assert_eq!(code, 0);
    // After execve as root the kernel recomputes effective/permitted from the bounding set
    // and inheritable; the bounding set and NoNewPrivs are exactly as configured.
    assert_eq!(
        status_field(&out, "CapBnd:"),
        (1 << 0) | (1 << 5) | (1 << 10) | (1 << 13)
    );
    assert_eq!(status_field(&out, "CapInh:"), 1 << 5);
    assert_eq!(status_field(&out, "NoNewPrivs:"), 1);

    // As a non-root user the sets survive execve only through ambient: KILL stays, CHOWN goes.
    let (code, out) = run_with("cat /proc/self/status", |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]
        });
    });
    assert_eq!(code, 0);
    assert_eq!(status_field(&out, "CapEff:"), 1 << 5);
    assert_eq!(status_field(&out, "CapAmb:"), 1 << 5);
    assert_eq!(status_field(&out, "NoNewPrivs:"), 0);
}

#[test]
fn rlimits_and_oom_score() {
    require!(root);
    let (code, out) = run_with("ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj", |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]);
        c["process"]["oomScoreAdj"] = json!(500);
    });
    assert_eq!(code, 0);
    assert_eq!(out, "123\n456\n500\n");
}

#[test]
fn masked_readonly_and_readonly_root() {
    require!(root);
    let script = "cat /proc/kcore | wc -c; ls /sys/firmware | wc -l; \
                  echo 1 > /proc/sys/vm/overcommit_memory && echo sys-writable; \
                  touch /newfile && echo root-writable; touch /tmp/x && echo tmp-ok; true";
    let (code, out) = run_with(script, |c| {
        c["root"]["readonly"] = json!(true);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]
        }));
    });
    assert_eq!(code, 0);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0].trim(), "0", "masked /proc/kcore is readable: {out}");
    assert_eq!(l[1].trim(), "0", "masked /sys/firmware is not empty: {out}");
    assert!(!out.contains("sys-writable"), "{out}");
    assert!(!out.contains("root-writable"), "{out}");
    assert!(out.contains("tmp-ok"), "{out}");
}

#[test]
fn mounts_devices_and_dev_symlinks() {
    require!(root);
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("data.txt"), "from-host").unwrap();
    let script = "cat /data/data.txt; echo; echo x > /data/new && echo data-writable; \
                  awk '{for (i = 7; i <= NF; i++) if ($i == \"-\") { print $5, $(i + 1); break }}' /proc/self/mountinfo; \
                  stat -c '%n %F %t %T %a %u' /dev/null /dev/zero /dev/urandom /dev/tty /dev/mine; \
                  readlink /dev/fd; readlink /dev/stdin; readlink /dev/ptmx";
    let (code, out) = run_with(script, |c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}));
        m.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "mode=1777", "size=1m"]}));
        m.push(json!({"destination": "/data", "type": "bind", "source": host.path(), "options": ["rbind", "ro", "rprivate"]}));
        c["linux"]["devices"] = json!([{"path": "/dev/mine", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 7, "gid": 7}]);
    });
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("from-host\n"), "{out}");
    assert!(!out.contains("data-writable"), "{out}");
    assert!(!host.path().join("new").exists());
    for (dest, fs) in [
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/mqueue", "mqueue"),
        ("/dev/shm", "tmpfs"),
        ("/proc", "proc"),
        ("/sys", "sysfs"),
    ] {
        assert!(
            out.contains(&format!("{dest} {fs}\n")),
            "{dest} {fs} missing: {out}"
        );
    }
    assert!(
        out.contains("/dev/null character special file 1 3 666 0"),
        "{out}"
    );
    assert!(
        out.contains("/dev/zero character special file 1 5 666 0"),
        "{out}"
    );
    assert!(
        out.contains("/dev/tty character special file 5 0 666 0"),
        "{out}"
    );
    assert!(
        out.contains("/dev/mine character special file 1 3 640 7"),
        "{out}"
    );
    assert!(
        out.contains("/proc/self/fd\n/proc/self/fd/0\npts/ptmx\n"),
        "{out}"
    );
}

#[test]
fn cgroup_mount_shows_the_container_limits() {
    require!(root);
    let parent = berth_tests::cgroup_parent::CgroupParent::new("rtcg");
    let pn = parent.name().to_string();
    let (code, out) = run_with(
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; touch /sys/fs/cgroup/pids/x && echo writable; ls /sys/fs/cgroup/memory | grep -c '^berth$'; true",
        |c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
            }));
            c["linux"]["cgroupsPath"] = json!(parent.path("c"));
            c["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
            c["linux"]["resources"]["pids"] = json!({"limit": 42});
        },
    );
    if !std::path::Path::new("/sys/fs/cgroup/memory").exists() {
        skip!(host::no_cgroup_v1, "no /sys/fs/cgroup/memory");
    }
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines().take(2).collect::<Vec<_>>(),
        vec![(64u64 << 20).to_string().as_str(), "42"]
    );
    assert!(!out.contains("writable"));
    // Only the container's own cgroup is visible, not the host tree around it.
    assert_eq!(out.lines().nth(2), Some("0"), "{out}");
    for h in ["memory", "pids", "cpu"] {
        assert!(
            !std::path::Path::new(&format!("/sys/fs/cgroup/{h}/{pn}/c")).exists(),
            "cgroup left in {h}"
        );
    }
}

#[test]
fn network_sysctl_in_own_namespace() {
    require!(root);
    let (code, out) = run_with(
        "cat /proc/sys/net/ipv4/ip_forward; ip link show lo | head -1 | cut -d: -f2",
        |c| {
            c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        },
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("1\n"), "{out}");
    assert!(out.contains("lo"), "{out}");
    // And the host's is untouched by the container's.
    assert_ne!(host_ns("net"), "", "host net ns");
}

#[test]
fn user_namespace_with_mappings() {
    require!(root);
    let (code, out) = run_with(
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox",
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            // sysfs cannot be mounted fresh in a user namespace without its own network
            // namespace; here it has one.
        },
    );
    assert_eq!(code, 0, "{out}");
    let l: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(l[0], vec!["0", "100000", "65536"]);
    assert_eq!(l[1], vec!["0", "100000", "65536"]);
    assert_eq!(l[2], vec!["0"]);
    // Files owned by host root show as the overflow uid inside.
    assert_eq!(l[3], vec!["65534"]);
}

#[test]
fn cgroup_and_time_namespaces() {
    require!(root);
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        skip!(host::no_time_namespace);
    }
    let (code, out) = run_with("cat /proc/self/cgroup; cut -d' ' -f1 /proc/uptime", |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "cgroup"}));
        ns.push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 365, "nanosecs": 0}, "monotonic": {"secs": 86400, "nanosecs": 0}});
    });
    assert_eq!(code, 0, "{out}");
    for line in out.lines().filter(|l| l.contains(':')) {
        assert!(
            line.ends_with(":/"),
            "cgroup namespace root is not the container's cgroup: {line}"
        );
    }
    let uptime: f64 = out.lines().last().unwrap().parse().unwrap();
    assert!(
        uptime > 86400.0 * 365.0,
        "boottime offset not applied: {uptime}"
    );
}

#[test]
fn join_namespaces_by_path() {
    require!(root);
    let rt = Runtime::new();
    let a = Bundle::new(&busybox_config(&["/bin/sleep", "30"]));
    let ida = unique("nsa");
    rt.ok(&["create", "--bundle", a.path().to_str().unwrap(), &ida]);
    let st: Value = serde_json::from_str(&rt.ok(&["state", &ida])).unwrap();
    let pid = st["pid"].as_i64().unwrap();
    let want = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let other_uts = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
    let (code, out) = run_with(
        "readlink /proc/self/ns/net; readlink /proc/self/ns/uts",
        |c| {
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "network");
            ns.push(json!({"type": "network", "path": format!("/proc/{pid}/ns/net")}));
        },
    );
    rt.force_delete(&ida);
    assert_eq!(code, 0);
    let mut l = out.lines();
    assert_eq!(l.next().unwrap(), want.to_str().unwrap());
    assert_ne!(l.next().unwrap(), other_uts.to_str().unwrap());
}

#[test]
fn no_pivot_and_rootfs_propagation() {
    require!(root);
    let cfg = busybox_config(&["/bin/sh", "-c", "ls /"]);
    let rt = Runtime::new();
    let b = Bundle::new(&cfg);
    let id = unique("np");
    let out = rt.cmd(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("bin") && s.contains("etc"), "{s}");
    assert!(!s.contains("usr\n"), "host root visible: {s}");

    let (code, out) = run_with("awk '$5 == \"/\"' /proc/self/mountinfo", |c| {
        c["linux"]["rootfsPropagation"] = json!("private");
    });
    assert_eq!(code, 0);
    assert!(!out.is_empty());
    assert!(
        !out.contains("master:") && !out.contains("shared:"),
        "root is not private: {out}"
    );
}

#[test]
fn preserve_fds_passes_extra_files() {
    require!(root);
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("out")).unwrap();
    let b = Bundle::new(&busybox_config(&[
        "/bin/sh",
        "-c",
        "echo via-fd3 >&3; ls /proc/self/fd | wc -l",
    ]));
    let rt = Runtime::new();
    let id = unique("pf");
    let fd = file.as_raw_fd();
    let mut cmd = std::process::Command::new(berth_tests::bins::bin("berth-runtime"));
    cmd.args([
        "--root",
        rt.root().to_str().unwrap(),
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    // SAFETY: between fork and exec the closure makes only async-signal-safe system calls
    // (dup2, fcntl) on `fd`, which `file` keeps open until the command has run.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec: clear it explicitly.
            if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out")).unwrap(),
        "via-fd3\n"
    );
    // stdin, stdout, stderr, fd 3 and the directory ls reads: nothing else leaked.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
}

#[test]
fn labels_accepted_with_a_warning_where_the_host_lacks_them() {
    require!(root);
    if std::path::Path::new("/sys/kernel/security/apparmor").exists() {
        skip!(host::apparmor_enabled);
    }
    let mut cfg = busybox_config(&["/bin/true"]);
    cfg["process"]["apparmorProfile"] = json!("docker-default");
    let rt = Runtime::new();
    let b = Bundle::new(&cfg);
    let out = rt.cmd(&["run", "--bundle", b.path().to_str().unwrap(), &unique("aa")]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AppArmor is not enabled"));
}

#[test]
fn symlinks_in_the_image_cannot_send_mounts_or_devices_outside_the_rootfs() {
    require!(root);
    let host = tempfile::tempdir().unwrap();
    let target = host.path().to_str().unwrap().to_string();
    let mut cfg = busybox_config(&["/bin/sh", "-c", "ls /escape; ls /dev/evil/"]);
    cfg["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/escape/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]
    }));
    cfg["linux"]["devices"] =
        json!([{"path": "/dev/evil/null2", "type": "c", "major": 1, "minor": 3}]);
    let b = Bundle::new(&cfg);
    let rootfs = b.path().join("rootfs");
    // An absolute and a relative symlink, both aimed at a host directory.
    std::os::unix::fs::symlink(&target, rootfs.join("escape")).unwrap();
    std::fs::create_dir_all(rootfs.join("dev")).unwrap();
    std::os::unix::fs::symlink(
        format!("../../../../../../..{target}"),
        rootfs.join("dev/evil"),
    )
    .unwrap();
    let rt = Runtime::new();
    let out = rt.cmd(&[
        "run",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique("esc"),
    ]);
    // Whatever the outcome inside, nothing was created on the host.
    assert!(
        std::fs::read_dir(host.path()).unwrap().next().is_none(),
        "the container created {:?} on the host (stderr: {})",
        std::fs::read_dir(host.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("sub") && stdout.contains("null2"),
        "{stdout}"
    );
}

#[test]
fn personality_linux32() {
    require!(root);
    let (code, out) = run_with("uname -m", |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX32"});
    });
    assert_eq!(code, 0);
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(out.trim(), "i686");
    }
}

#[test]
fn scheduler_policy_and_nice() {
    require!(root);
    // Fields 19 and 41 of /proc/PID/stat: nice and scheduling policy (SCHED_BATCH = 3).
    let (code, out) = run_with("cut -d' ' -f19,41 /proc/self/stat", |c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    });
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "5 3");
}
