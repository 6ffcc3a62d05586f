//! The docker CLI on a pseudo-terminal against berthd: `run -it` and `exec -it` get a tty of
//! their own, sized like the client's, with input typed on the terminal; the detach keys
//! leave the container running.

use berth_tests::berthd::Berthd;
use berth_tests::cli::Pty;
use berth_tests::require;

#[test]
fn run_and_exec_on_a_terminal() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let mut cmd = b.docker();
    cmd.args(["run", "-it", "--rm", "--name", "tty1", "busybox", "sh"]);
    let mut t = Pty::spawn(cmd, 30, 100);
    t.send(b"tty; stty size; echo $TERM\n");
    let out = t.expect("xterm", 20);
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("30 100"), "{out}");
    t.resize_and_check(40, 120, "\n");
    t.send(b"exit 3\n");
    assert_eq!(t.wait(20), 3);

    // exec -it into a detached container, then ctrl-p ctrl-q on an attach detaches.
    b.docker_ok(&["run", "-dit", "--name", "tty2", "busybox", "sh"]);
    let mut cmd = b.docker();
    cmd.args([
        "exec",
        "-it",
        "tty2",
        "sh",
        "-c",
        "tty; read x; echo got-$x",
    ]);
    let mut t = Pty::spawn(cmd, 24, 80);
    t.expect("/dev/pts/", 20);
    t.send(b"typed\n");
    t.expect("got-typed", 10);
    assert_eq!(t.wait(10), 0);
    let mut cmd = b.docker();
    cmd.args(["attach", "tty2"]);
    let mut t = Pty::spawn(cmd, 24, 80);
    t.wait_raw();
    t.send(b"\x10\x11");
    let code = t.wait(10);
    assert!(
        t.output().contains("read escape sequence"),
        "attach ended ({code}) without detaching: {:?}\n{}\n--- berthd log (tail) ---\n{}",
        t.output(),
        b.docker_run(&["inspect", "-f", "{{json .State}}", "tty2"])
            .1,
        b.log_tail(40)
    );
    assert_eq!(
        b.docker_ok(&["inspect", "-f", "{{.State.Running}}", "tty2"])
            .trim(),
        "true"
    );
    b.docker_ok(&["rm", "-f", "tty2"]);
}

/// `docker run -it` and `docker start -ai` make containers whose stdin closes with the
/// client's (StdinOnce). The CLI sees ctrl-p ctrl-q itself and hangs up: with a terminal
/// that is a detach, not the end of the container's input, and the container goes on.
#[test]
fn detach_keys_leave_run_it_and_start_ai_containers_running() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let name = berth_tests::unique("detach");
    let running = || {
        b.docker_ok(&["inspect", "-f", "{{.State.Running}}", &name])
            .trim()
            == "true"
    };
    for verb in [
        vec!["run", "-it", "--name", &name, "busybox", "sh"],
        vec!["start", "-ai", &name],
    ] {
        let mut cmd = b.docker();
        cmd.args(&verb);
        let mut t = Pty::spawn(cmd, 24, 80);
        t.send(b"echo alive-$((40+2))\n");
        t.expect("alive-42", 20);
        t.send(b"\x10\x11");
        // The client ends (whichever side saw the keys first) ...
        let code = t.wait(10);
        // ... and the container outlives it by more than a moment.
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert!(
            running(),
            "{verb:?}: detaching (the client ended with {code}: {:?}) stopped the container\n{}",
            t.output(),
            b.log_tail(20)
        );
        b.docker_ok(&["stop", "-t", "1", &name]);
    }
    b.docker_ok(&["rm", "-f", &name]);
}
