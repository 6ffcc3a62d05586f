//! Interactive sessions through a real pseudo-terminal: `run -it`, the remote TTY's size
//! and resizes, typed input, exit codes, detaching with ctrl-p ctrl-q and attaching again,
//! `exec -it`, `start -ai`, and the local terminal restored every time.

use nix::sys::termios::LocalFlags;

use berth_tests::cli::{Engine, Pty};
use berth_tests::unique;

berth_tests::cli_scenarios!(
    run_it_sizes_the_tty_forwards_keys_and_resizes,
    detach_keys_leave_the_container_running_and_attach_returns,
    exec_it_and_start_ai,
    tty_without_a_terminal_is_refused,
);

/// The terminal is back in cooked mode with echo.
fn assert_restored(pty: &Pty) {
    let t = pty.termios();
    assert!(
        t.local_flags.contains(LocalFlags::ICANON),
        "terminal left without ICANON"
    );
    assert!(
        t.local_flags.contains(LocalFlags::ECHO),
        "terminal left without ECHO"
    );
}

fn run_it_sizes_the_tty_forwards_keys_and_resizes(e: &Engine) {
    let mut pty = Pty::spawn(
        e.berth.cmd(&["run", "-it", "--rm", "busybox", "sh"]),
        30,
        100,
    );
    pty.expect("# ", 20);
    pty.send(b"stty size; echo sum-$((40+2))\r");
    pty.expect("30 100", 10);
    pty.expect("sum-42", 10);
    pty.resize_and_check(40, 120, "\r");
    // ctrl-c goes to the container's shell, not to berth.
    pty.send(b"sleep 30\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    pty.send(b"\x03");
    pty.send(b"echo after-interrupt\r");
    pty.expect("after-interrupt", 10);
    pty.send(b"exit 5\r");
    assert_eq!(pty.wait(20), 5, "{}", pty.output());
    assert_restored(&pty);
}

fn detach_keys_leave_the_container_running_and_attach_returns(e: &Engine) {
    let name = unique("detach");
    let mut pty = Pty::spawn(
        e.berth
            .cmd(&["run", "-it", "--name", &name, "busybox", "sh"]),
        24,
        80,
    );
    pty.expect("# ", 20);
    pty.send(b"echo before-detach\r");
    pty.expect("before-detach", 10);
    pty.send(b"\x10\x11");
    assert_eq!(pty.wait(10), 0, "detaching exits 0: {}", pty.output());
    assert_restored(&pty);
    assert_eq!(
        e.berth.ok(&["inspect", "-f", "{{.State.Running}}", &name]),
        "true\n"
    );

    let mut pty = Pty::spawn(e.berth.cmd(&["attach", &name]), 24, 80);
    pty.wait_raw();
    pty.send(b"echo attached-$((2*3))\r");
    pty.expect("attached-6", 10);
    pty.send(b"exit 4\r");
    assert_eq!(
        pty.wait(20),
        4,
        "attach returns the container's exit code: {}",
        pty.output()
    );
    assert_restored(&pty);

    // Custom detach keys.
    e.berth.ok(&["start", &name]);
    let mut pty = Pty::spawn(
        e.berth.cmd(&["attach", "--detach-keys", "ctrl-x", &name]),
        24,
        80,
    );
    pty.wait_raw();
    pty.send(b"\x18");
    // Like docker, detaching from `attach` (and `exec`) reports it and exits 1.
    assert_eq!(pty.wait(10), 1, "{}", pty.output());
    assert!(
        pty.output().contains("berth: read escape sequence"),
        "{}",
        pty.output()
    );
    assert_restored(&pty);
    assert_eq!(
        e.berth.ok(&["inspect", "-f", "{{.State.Running}}", &name]),
        "true\n"
    );
    e.berth.ok(&["rm", "-f", &name]);
}

fn exec_it_and_start_ai(e: &Engine) {
    // The exec'd shell sleeps before `stty size`: daemons older than API 1.42 (dockerd 20.10)
    // ignore the size given when the exec starts, so it arrives by resize just after.
    let name = unique("exec");
    e.berth
        .ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let mut pty = Pty::spawn(
        e.berth.cmd(&[
            "exec",
            "-it",
            &name,
            "sh",
            "-c",
            "tty; sleep 0.5; stty size; read x; echo got-$x; exit 9",
        ]),
        33,
        91,
    );
    pty.expect("/dev/pts/", 20);
    pty.expect("33 91", 10);
    pty.send(b"typed\r");
    pty.expect("got-typed", 10);
    assert_eq!(pty.wait(20), 9, "{}", pty.output());
    assert_restored(&pty);
    e.berth.ok(&["rm", "-f", &name]);

    let name = unique("startai");
    e.berth
        .ok(&["create", "-it", "--name", &name, "busybox", "sh"]);
    let mut pty = Pty::spawn(e.berth.cmd(&["start", "-ai", &name]), 24, 80);
    pty.expect("# ", 20);
    pty.send(b"exit 3\r");
    assert_eq!(pty.wait(20), 3, "{}", pty.output());
    assert_restored(&pty);
    e.berth.ok(&["rm", &name]);
}

fn tty_without_a_terminal_is_refused(e: &Engine) {
    let o = e.berth.run(&["run", "-it", "--rm", "busybox", "true"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stderr, "berth: the input device is not a TTY\n");
    assert_eq!(
        e.berth.ok(&["ps", "-a", "-q"]),
        "",
        "refused before anything was created"
    );
    // -t alone (no stdin) works without a terminal: output is the raw TTY stream.
    let o = e
        .berth
        .run(&["run", "-t", "--rm", "busybox", "echo", "tty-out"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "tty-out\r\n");
}
