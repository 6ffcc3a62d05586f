//! The daemons do not depend on the umask they inherit: files and directories they make
//! for containers (snapshots, rootfs, bind-mounted /etc files) are the same under a
//! restrictive umask, so a container's non-root user can still run programs. (Alone in
//! its file: the umask is the test process's.)

use berth_tests::berthd::Berthd;
use berth_tests::require;

#[test]
fn a_restrictive_umask_of_the_starter_changes_nothing_in_containers() {
    require!(root, docker_cli);
    // berthd (and the shimd it starts) inherit this.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let b = Berthd::start();
    nix::sys::stat::umask(old);
    b.load_busybox();
    for net in ["none", "bridge"] {
        let (code, out, err) = b.docker_run(&[
            "run",
            "--rm",
            "--network",
            net,
            "-u",
            "65534",
            "busybox",
            "grep",
            "root",
            "/etc/passwd",
        ]);
        assert_eq!(
            (code, out.as_str()),
            (0, "root:x:0:0:root:/root:/bin/sh\n"),
            "--network {net}: {err}"
        );
        let out = b.docker_ok(&[
            "run",
            "--rm",
            "--network",
            net,
            "-u",
            "65534",
            "busybox",
            "sh",
            "-c",
            "stat -c '%a %n' / /etc/hosts /etc/resolv.conf /etc/hostname",
        ]);
        assert_eq!(
            out, "755 /\n644 /etc/hosts\n644 /etc/resolv.conf\n644 /etc/hostname\n",
            "--network {net}"
        );
    }
}
