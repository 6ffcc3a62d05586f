//! Task directories deeper than a unix socket path may be (108 bytes): the shim's socket,
//! the console sockets of terminals and exec processes still work.

use std::process::{Command, Stdio};

use berth_tests::tasks::{CustomShimd, IMAGE};
use berth_tests::{require, unique};

#[test]
fn deep_state_directories_work() {
    require!(root);
    let base = tempfile::Builder::new()
        .prefix("berth-deep-")
        .tempdir()
        .unwrap();
    let state = base
        .path()
        .join("a-rather-long-directory-name-to-push-paths-past-the-socket-limit")
        .join("and-one-more-level-of-the-same-kind-for-good-measure");
    let s = CustomShimd::start(&[], Some(state.clone()));
    let id = unique("deep-container-with-a-long-id");
    let sock = state.join("default").join(&id).join("shim.sock");
    assert!(sock.as_os_str().len() > 108, "{}", sock.display());

    let (code, out, err) = s.ctl(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        IMAGE,
        &id,
        "/bin/sleep",
        "1000",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = s.ctl(&[
        "tasks",
        "exec",
        &id,
        "/bin/sh",
        "-c",
        "echo exec-ok; exit 5",
    ]);
    assert_eq!((code, out.as_str()), (5, "exec-ok\n"), "{err}");
    // A terminal exec goes through a console socket in the same directory.
    let out = Command::new("script")
        .arg("-qec")
        .arg(format!(
            "{} --address {} tasks exec -t {id} /bin/sh -c 'tty -s && echo deep-tty'",
            berth_tests::bins::bin("berthctl").display(),
            s.dir.path().join("sock").display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deep-tty"),
        "{out:?}"
    );
    let (code, _, err) = s.ctl(&["tasks", "kill", "-s", "KILL", &id]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = s.ctl(&["tasks", "wait", &id]);
    assert_eq!((code, out.trim()), (0, "137"), "{err}");
    let (code, _, err) = s.ctl(&["containers", "rm", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(!state.join("default").join(&id).exists());
}
