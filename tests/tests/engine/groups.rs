//! `--group-add` (HostConfig.GroupAdd) with group names resolved in the container's own
//! /etc/group, as dockerd does, and ids taken as they are.

use berth_tests::berthd::Berthd;
use berth_tests::require;

#[test]
fn group_add_takes_names_of_the_container_and_ids() {
    require!(root, docker_cli);
    let b = Berthd::start();
    b.load_busybox();
    let id = |args: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(args);
        a.extend(["busybox", "id", "-G"]);
        b.docker_ok(&a).trim().to_string()
    };
    // busybox's /etc/group: root (0) and nobody (65534).
    assert_eq!(
        id(&["-u", "1000:1000", "--group-add", "nobody"]),
        "1000 65534"
    );
    assert_eq!(
        id(&[
            "-u",
            "1000:1000",
            "--group-add",
            "nobody",
            "--group-add",
            "4242"
        ]),
        "1000 4242 65534"
    );
    assert_eq!(id(&["-u", "nobody", "--group-add", "root"]), "65534 0");
    assert_eq!(id(&["--group-add", "nobody"]), "0 65534");
    assert_eq!(id(&["-u", "1000:1000", "--group-add", "7"]), "1000 7");
    // A name the image does not have fails the start, naming it.
    let (code, _, err) = b.docker_run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--group-add",
        "video",
        "busybox",
        "true",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("video") && err.contains("/etc/group"), "{err}");
}
