//! The spec's mounts as berth-runtime and runc make them, side by side (the expectation is
//! runc 1.1's behaviour): recursive attributes (`rro`, `rnoexec`, ...) over an rbind's
//! submounts, mounts made in the order listed, and a read-only `/dev` with mounts under it.
//! Every check is made by a process in the container.

use berth_tests::oci_runtime::{busybox_config, Runtime};
use berth_tests::rootfs::Bundle;
use berth_tests::{require, unique};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Runs `script` with `sh -c` in a container of `rt` made from `edit(config)`; returns
/// its exit code and stdout (stderr joined in), failing when the runtime itself fails.
fn run_in(rt: &Runtime, script: &str, edit: impl FnOnce(&mut Value)) -> (i32, String) {
    let mut cfg = busybox_config(&["/bin/sh", "-c", &format!("exec 2>&1; {script}")]);
    edit(&mut cfg);
    let b = Bundle::new(&cfg);
    let id = unique("mnt");
    let out = rt.cmd(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.trim().is_empty(),
        "{}: the runtime failed (exit {code}): {stderr}\n{stdout}",
        rt.name()
    );
    (code, stdout)
}

fn add_mounts(cfg: &mut Value, mounts: Value) {
    let list = cfg["mounts"].as_array_mut().unwrap();
    list.extend(mounts.as_array().unwrap().iter().cloned());
}

/// A host directory with a file and a tmpfs (nosuid) mounted on its subdirectory `sub`;
/// unmounted when dropped.
struct HostTree {
    dir: tempfile::TempDir,
}

impl HostTree {
    fn new() -> HostTree {
        let dir = tempfile::Builder::new()
            .prefix("berth-mounts-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("f"), "top\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let sub = dir.path().join("sub");
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m,nosuid", "tmpfs"])
            .arg(&sub)
            .status()
            .unwrap();
        assert!(st.success(), "mount a tmpfs on {}", sub.display());
        std::fs::write(sub.join("g"), "sub\n").unwrap();
        HostTree { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for HostTree {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path().join("sub"))
            .status();
    }
}

/// The options field (the 6th) of the mountinfo line of `mount_point`.
fn mount_opts<'a>(mountinfo: &'a str, mount_point: &str) -> &'a str {
    mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(mount_point))
        .and_then(|l| l.split(' ').nth(5))
        .unwrap_or_else(|| panic!("{mount_point} is not mounted:\n{mountinfo}"))
}

#[test]
fn recursive_attributes_cover_the_submounts_of_an_rbind() {
    require!(root);
    let host = HostTree::new();
    let src = host.path().to_str().unwrap().to_string();
    let script = "cat /m/f /m/sub/g; touch /m/f; echo top=$?; touch /m/sub/new; echo sub=$?; \
                  echo ---; cat /proc/self/mountinfo";
    for rt in Runtime::both() {
        let name = rt.name();
        let (code, out) = run_in(&rt, script, |c| {
            add_mounts(
                c,
                json!([{"destination": "/m", "type": "bind", "source": src,
                        "options": ["rbind", "rro", "rnoexec", "rnoatime"]}]),
            )
        });
        assert_eq!(code, 0, "{name}: {out}");
        let (head, mountinfo) = out.split_once("---\n").unwrap();
        assert!(head.starts_with("top\nsub\n"), "{name}: {head}");
        assert!(
            head.contains("top=1") && head.contains("sub=1"),
            "{name}: {head}"
        );
        assert_eq!(
            head.matches("Read-only file system").count(),
            2,
            "{name}: {head}"
        );
        for mp in ["/m", "/m/sub"] {
            let opts = mount_opts(mountinfo, mp);
            for want in ["ro", "noexec", "noatime"] {
                assert!(
                    opts.split(',').any(|o| o == want),
                    "{name}: {mp} has {opts}, not {want}"
                );
            }
        }
        // the host's own mounts are untouched
        std::fs::write(host.path().join("sub/host-write"), "x").unwrap();
    }
    // Without the recursive word, "ro" covers the bind itself only: the submount stays
    // writable (what makes `rro` needed).
    for rt in Runtime::both() {
        let name = rt.name();
        let (code, out) = run_in(
            &rt,
            "touch /m/f; echo top=$?; touch /m/sub/new; echo sub=$?",
            |c| {
                add_mounts(
                    c,
                    json!([{"destination": "/m", "type": "bind", "source": src,
                        "options": ["rbind", "ro"]}]),
                )
            },
        );
        assert_eq!(code, 0, "{name}: {out}");
        assert!(
            out.contains("top=1") && out.contains("sub=0"),
            "{name}: {out}"
        );
        std::fs::remove_file(host.path().join("sub/new")).unwrap();
    }
}

#[test]
fn recursive_words_that_clear_reach_submounts_and_setting_wins_over_clearing() {
    require!(root);
    // the host's submount is nosuid: `rsuid` clears that inside the container
    let host = HostTree::new();
    let src = host.path().to_str().unwrap().to_string();
    let script = "touch /m/sub/new; echo sub=$?; grep ' /m/sub ' /proc/self/mountinfo";
    for rt in Runtime::both() {
        let name = rt.name();
        let (code, out) = run_in(&rt, script, |c| {
            add_mounts(
                c,
                json!([{"destination": "/m", "type": "bind", "source": src,
                        "options": ["rbind", "rro", "rrw", "rsuid", "rnodiratime"]}]),
            )
        });
        assert_eq!(code, 0, "{name}: {out}");
        // `rro` and `rrw` both given: read-only, in whichever order
        assert!(out.contains("sub=1"), "{name}: {out}");
        let opts = out.lines().last().unwrap().split(' ').nth(5).unwrap();
        let has = |o: &str| opts.split(',').any(|x| x == o);
        assert!(has("ro") && has("nodiratime"), "{name}: {opts}");
        assert!(!has("nosuid"), "{name}: {opts}");
    }
}

/// A host directory holding one file, `name`.
fn marked_dir(parent: &Path, name: &str) -> PathBuf {
    let d = parent.join(name);
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join(format!("{name}-marker")), name).unwrap();
    d
}

#[test]
fn mounts_are_made_in_the_order_listed() {
    require!(root);
    let dir = tempfile::Builder::new()
        .prefix("berth-order-")
        .tempdir()
        .unwrap();
    let x = marked_dir(dir.path(), "x");
    let y = marked_dir(dir.path(), "y");
    let (x, y) = (x.to_str().unwrap(), y.to_str().unwrap());
    let script = "echo o: $(ls /o); echo t: $(ls /t); echo ti: $(ls /t/inner); \
                  echo p: $(ls /p); grep -c ' /o ' /proc/self/mountinfo";
    for rt in Runtime::both() {
        let name = rt.name();
        let (code, out) = run_in(&rt, script, |c| {
            add_mounts(
                c,
                json!([
                    // two at the same place: the later one is on top
                    {"destination": "/o", "type": "bind", "source": x, "options": ["rbind"]},
                    {"destination": "/o", "type": "bind", "source": y, "options": ["rbind"]},
                    // one under an earlier one's destination: made inside it
                    {"destination": "/t", "type": "tmpfs", "source": "tmpfs"},
                    {"destination": "/t/inner", "type": "bind", "source": y, "options": ["rbind"]},
                    // an earlier one under a later one's destination: hidden by it
                    {"destination": "/p/q", "type": "bind", "source": x, "options": ["rbind"]},
                    {"destination": "/p", "type": "tmpfs", "source": "tmpfs"}
                ]),
            )
        });
        assert_eq!(code, 0, "{name}: {out}");
        assert_eq!(
            out, "o: y-marker\nt: inner\nti: y-marker\np:\n2\n",
            "{name}"
        );
    }
}

#[test]
fn a_read_only_dev_takes_mounts_and_devices_under_it() {
    require!(root);
    let script = "ls /dev; touch /dev/new; echo dev=$?; echo hi > /dev/null; echo null=$?; \
                  touch /dev/shm/f; echo shm=$?; grep ' /dev ' /proc/self/mountinfo";
    for rt in Runtime::both() {
        let name = rt.name();
        let (code, out) = run_in(&rt, script, |c| {
            c["mounts"][1]["options"]
                .as_array_mut()
                .unwrap()
                .push(json!("ro"));
            add_mounts(
                c,
                json!([
                    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                     "options": ["nosuid", "size=1m"]},
                    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"}
                ]),
            )
        });
        assert_eq!(code, 0, "{name}: {out}");
        let listed: Vec<&str> = out
            .lines()
            .take_while(|l| !l.starts_with("touch"))
            .collect();
        for want in ["null", "zero", "pts", "shm", "mqueue", "ptmx", "fd"] {
            assert!(listed.contains(&want), "{name}: /dev lacks {want}: {out}");
        }
        assert!(out.contains("Read-only file system"), "{name}: {out}");
        for want in ["dev=1", "null=0", "shm=0"] {
            assert!(out.contains(want), "{name}: {want} expected: {out}");
        }
        let opts = out.lines().last().unwrap().split(' ').nth(5).unwrap();
        assert!(opts.split(',').any(|o| o == "ro"), "{name}: /dev is {opts}");
        assert!(
            opts.split(',').any(|o| o == "nosuid"),
            "{name}: /dev is {opts}"
        );
    }
}

#[test]
fn a_read_only_tmpfs_takes_mounts_under_it_and_ends_read_only() {
    require!(root);
    let script = "touch /x/f; echo x=$?; touch /x/y/f; echo y=$?; \
                  grep -E ' /x(/y)? ' /proc/self/mountinfo";
    for rt in Runtime::both() {
        let name = rt.name();
        let (code, out) = run_in(&rt, script, |c| {
            add_mounts(
                c,
                json!([
                    {"destination": "/x", "type": "tmpfs", "source": "tmpfs",
                     "options": ["ro", "nosuid", "size=1m"]},
                    {"destination": "/x/y", "type": "tmpfs", "source": "tmpfs",
                     "options": ["size=1m"]}
                ]),
            )
        });
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.contains("Read-only file system"), "{name}: {out}");
        assert!(out.contains("x=1\ny=0\n"), "{name}: {out}");
        let x = mount_opts(&out, "/x");
        assert!(
            x.starts_with("ro,") && x.contains("nosuid"),
            "{name}: /x is {x}"
        );
        assert!(mount_opts(&out, "/x/y").starts_with("rw,"), "{name}: {out}");
    }
}
