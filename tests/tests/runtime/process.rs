//! The container's process as its user sees it, side by side with runc: the cwd (entered
//! as root, or as the user where root may not), `HOME` from the container's /etc/passwd
//! (for the init and for `exec`), and stdio and the terminal owned by the process's user.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Output, Stdio};

use berth_tests::oci_runtime::{busybox_config, Runtime};
use berth_tests::rootfs::Bundle;
use berth_tests::{require, unique};
use serde_json::{json, Value};

fn bpath(b: &Bundle) -> &str {
    b.path().to_str().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A busybox config running `script` with sh as `uid`:`uid`.
fn config_as(uid: u32, script: &str) -> Value {
    let mut cfg = busybox_config(&["/bin/sh", "-c", script]);
    cfg["process"]["user"] = json!({"uid": uid, "gid": uid});
    cfg
}

/// A bundle whose passwd also has `u1` (uid 1000, home /home/u1), and two directories
/// only one user may enter: /rootonly (root's, 0700) and /useronly (uid 1000's, 0700).
fn bundle(cfg: &Value) -> Bundle {
    let b = Bundle::new(cfg);
    let root = b.path().join("rootfs");
    let passwd = root.join("etc/passwd");
    let mut users = std::fs::read_to_string(&passwd).unwrap();
    users.push_str("u1:x:1000:1000::/home/u1:/bin/sh\n");
    std::fs::write(&passwd, users).unwrap();
    for (dir, owner) in [("rootonly", 0), ("useronly", 1000)] {
        let d = root.join(dir);
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(owner), Some(owner)).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    b
}

/// `run` of the bundle under a fresh id, waiting for the container to exit.
fn run(rt: &Runtime, b: &Bundle) -> Output {
    rt.cmd(&["run", "--bundle", bpath(b), &unique("proc")])
}

#[test]
fn the_cwd_is_entered_as_root_or_else_as_the_user() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        for cwd in ["/rootonly", "/useronly"] {
            let mut cfg = config_as(1000, "pwd; id -u");
            cfg["process"]["cwd"] = json!(cwd);
            let b = bundle(&cfg);
            let out = run(&rt, &b);
            assert!(out.status.success(), "{name} cwd {cwd}: {}", stderr(&out));
            assert_eq!(text(&out), format!("{cwd}\n1000\n"), "{name} cwd {cwd}");
        }
        // A cwd that is not a directory fails the container, with the cwd named.
        let mut cfg = config_as(1000, "pwd");
        cfg["process"]["cwd"] = json!("/etc/passwd");
        let b = bundle(&cfg);
        let out = run(&rt, &b);
        assert!(!out.status.success(), "{name}: a file as cwd was accepted");
        assert_eq!(text(&out), "", "{name}");
        assert!(
            stderr(&out).contains("/etc/passwd"),
            "{name}: the error does not name the cwd: {}",
            stderr(&out)
        );
    }
}

#[test]
fn home_comes_from_the_containers_passwd_when_the_env_has_none() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        // passwd: root /root, nobody (65534) /home, u1 (1000) /home/u1; 4242 has no entry
        for (uid, home) in [
            (0, "/root"),
            (65534, "/home"),
            (1000, "/home/u1"),
            (4242, "/"),
        ] {
            let b = bundle(&config_as(uid, "echo \"HOME=$HOME\""));
            let out = run(&rt, &b);
            assert!(out.status.success(), "{name} uid {uid}: {}", stderr(&out));
            assert_eq!(text(&out), format!("HOME={home}\n"), "{name} uid {uid}");
        }
        // the process's own HOME is kept
        let mut cfg = config_as(1000, "echo \"HOME=$HOME\"");
        cfg["process"]["env"] = json!(["PATH=/bin", "HOME=/srv"]);
        let out = run(&rt, &bundle(&cfg));
        assert_eq!(text(&out), "HOME=/srv\n", "{name}: {}", stderr(&out));

        // exec: the HOME of the exec'd process's user, whatever the init's was
        let b = bundle(&busybox_config(&["/bin/sleep", "60"]));
        let id = unique("home");
        rt.ok(&["run", "--detach", "--bundle", bpath(&b), &id]);
        for (user, home) in [("0", "/root"), ("1000:1000", "/home/u1"), ("4242", "/")] {
            let out = rt.cmd(&["exec", "--user", user, &id, "/bin/sh", "-c", "echo $HOME"]);
            assert!(
                out.status.success(),
                "{name} exec -u {user}: {}",
                stderr(&out)
            );
            assert_eq!(text(&out), format!("{home}\n"), "{name} exec -u {user}");
        }
        let out = rt.cmd(&[
            "exec",
            "--env",
            "HOME=/x",
            &id,
            "/bin/sh",
            "-c",
            "echo $HOME",
        ]);
        assert_eq!(text(&out), "/x\n", "{name}: {}", stderr(&out));
        rt.ok(&["delete", "--force", &id]);
    }
}

#[test]
fn stdio_is_given_to_the_containers_user() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        // stdin /dev/null, stdout a pipe, stderr a file of another user
        let errfile = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::chown(errfile.path(), Some(1234), Some(1234)).unwrap();
        let b = bundle(&config_as(
            1000,
            "echo reopened > /proc/self/fd/1 && stat -L -c %u:%g /proc/self/fd/0 /proc/self/fd/1",
        ));
        let id = unique("stdio");
        // `run --detach` hands the runtime's stdio to the container as it is (a foreground
        // `runc run` would put pipes of its own in between); the output ends with the
        // container.
        let out = rt
            .command(&["run", "--detach", "--bundle", bpath(&b), &id])
            .stdin(Stdio::null())
            .stderr(errfile.reopen().unwrap())
            .output()
            .unwrap();
        let err = std::fs::read_to_string(errfile.path()).unwrap();
        assert!(out.status.success(), "{name}: {err}");
        assert_eq!(
            text(&out),
            // /dev/null is left alone; the pipe is the user's (its group kept)
            "reopened\n0:0\n1000:0\n",
            "{name}: {err}"
        );
        let m = std::fs::metadata(errfile.path()).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (1000, 1234),
            "{name}: the stderr file's owner"
        );
        let null = std::fs::metadata("/dev/null").unwrap();
        assert_eq!((null.uid(), null.mode() & 0o777), (0, 0o666));
        rt.wait_status(&id, "stopped");
        rt.ok(&["delete", &id]);
    }
}

#[test]
fn the_terminal_is_given_to_the_containers_user() {
    require!(root);
    for rt in Runtime::both() {
        let name = rt.name();
        let mut cfg = config_as(
            1000,
            "echo via-console > /dev/console && echo again > /proc/self/fd/0 && \
             stat -L -c owner=%u /dev/console /proc/self/fd/2",
        );
        cfg["process"]["terminal"] = json!(true);
        let b = bundle(&cfg);
        let id = unique("ptyu");
        let master = crate::lifecycle::create_with_console(&rt, &b, &id);
        rt.ok(&["start", &id]);
        let mut f = std::fs::File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        // EIO once the last holder of the pty's other side is gone
        while let Ok(k @ 1..) = f.read(&mut buf) {
            out.extend_from_slice(&buf[..k]);
        }
        let out = String::from_utf8_lossy(&out).replace('\r', "");
        assert_eq!(
            out, "via-console\nagain\nowner=1000\nowner=1000\n",
            "{name}: the pty is not the user's"
        );
        rt.wait_status(&id, "stopped");
        rt.ok(&["delete", &id]);
    }
}
