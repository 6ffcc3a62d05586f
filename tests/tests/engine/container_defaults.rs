//! What a container is given without asking, as dockerd gives it: a missing working
//! directory is made; a working directory only root may enter works for another user; a
//! container with a network namespace of its own may bind low ports and ping as any user
//! (sysctls the user can still override), one in the host's namespace keeps the host's
//! settings. Each check runs with the docker CLI against berthd, and the same against
//! Debian's dockerd 20.10, whose answers are the expectations written here.

use berth_tests::berthd::{Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::require;

fn run_all(d: &DockerCli, dir: &std::path::Path) {
    let busybox = berth_tests::cli::busybox_archive(dir);
    d.ok(&["load", "-i", busybox.to_str().expect("utf-8 path")]);

    // A missing working directory is made, owned by root, mode 0755, even for another user.
    let out = d.ok(&[
        "run",
        "--rm",
        "--net",
        "none",
        "-u",
        "1000",
        "-w",
        "/made/for/you",
        "busybox",
        "sh",
        "-c",
        "pwd; stat -c '%U %a' /made /made/for/you",
    ]);
    assert_eq!(out, "/made/for/you\nroot 755\nroot 755\n", "{}", d.daemon);

    // /root is 0700 root: entered before the user is dropped.
    let out = d.ok(&[
        "run", "--rm", "--net", "none", "-u", "1000", "-w", "/root", "busybox", "sh", "-c", "pwd",
    ]);
    assert_eq!(out, "/root\n", "{}", d.daemon);

    let sysctls =
        "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range";
    let private = d.ok(&[
        "run", "--rm", "--net", "none", "busybox", "sh", "-c", sysctls,
    ]);
    assert_eq!(private, "0\n0\t2147483647\n", "{}", d.daemon);
    let host_value =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let host = d.ok(&[
        "run",
        "--rm",
        "--net",
        "host",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    assert_eq!(host, host_value, "{}", d.daemon);
    let set = d.ok(&[
        "run",
        "--rm",
        "--net",
        "none",
        "--sysctl",
        "net.ipv4.ip_unprivileged_port_start=80",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    assert_eq!(set, "80\n", "{}", d.daemon);
    // What it allows: a user binds port 80 in the container's namespace.
    let bound = d.ok(&[
        "run", "--rm", "--net", "none", "-u", "1000", "busybox", "sh", "-c",
        "nc -l -p 80 & for i in $(seq 250); do netstat -ltn | grep -q ':80 ' && { echo bound; break; }; usleep 20000; done; kill $!",
    ]);
    assert_eq!(bound, "bound\n", "{}", d.daemon);
}

#[test]
fn berthd() {
    require!(root, docker_cli);
    let b = Berthd::start();
    run_all(&b.cli(), b.dir.path());
    // Its log goes to a file: plain text, no colour codes (from berthd nor from shimd).
    let log = b.log();
    assert!(log.contains("shimd serving"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in the log: {log:?}");
}

/// The same checks against Debian's dockerd: the expectations are its answers.
#[test]
fn dockerd() {
    require!(root, docker_cli, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    run_all(&d.cli(), d.dir.path());
}
