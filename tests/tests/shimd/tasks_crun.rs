//! The shim is OCI-generic: crun runs containers too. crun refuses the hybrid cgroup layout
//! of hosts where cgroup2 is mounted beside v1 controllers, so shimd runs in a private
//! mount namespace where /sys/fs/cgroup/unified is unmounted.

use berth_tests::tasks::{CustomShimd, IMAGE};
use berth_tests::{require, unique};

#[test]
fn crun_runs_containers_through_the_shim() {
    require!(root, crun);
    let hide_cgroup2 = "if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; exec \"$0\" \"$@\"";
    let s = CustomShimd::start(
        &[
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            hide_cgroup2,
        ],
        None,
    );
    let id = unique("crun");
    let (code, out, err) = s.ctl(&[
        "run",
        "--rm",
        "--runtime",
        "crun",
        IMAGE,
        &id,
        "/bin/sh",
        "-c",
        "echo from-crun; exit 4",
    ]);
    assert_eq!(code, 4, "{err}");
    assert_eq!(out, "from-crun\n");
    assert!(!s.state.join("default").join(&id).exists());
}
