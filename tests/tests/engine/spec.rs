//! What a container gets, seen from inside it: docker's capabilities, seccomp, masked and
//! read-only paths, privileged mode, resource limits, read-only rootfs, network modes.

use berth_tests::berthd::Berthd;
use berth_tests::require;

fn run(b: &Berthd, args: &[&str], script: &str) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["busybox", "sh", "-c", script]);
    b.docker_ok(&a)
}

/// The effective capability mask of the container's process.
fn cap_eff(b: &Berthd, args: &[&str]) -> u64 {
    let out = run(b, args, "grep CapEff /proc/self/status");
    u64::from_str_radix(out.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn default_confinement_is_dockers() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    // chown dac_override fowner fsetid kill setgid setuid setpcap net_bind_service net_raw
    // sys_chroot mknod audit_write setfcap
    assert_eq!(cap_eff(&b, &[]), 0xa80425fb);
    let with = cap_eff(&b, &["--cap-add", "NET_ADMIN", "--cap-drop", "chown"]);
    assert_eq!(with, (0xa80425fb | 1 << 12) & !1);
    let out = run(
        &b,
        &[],
        "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d ' \\t'",
    );
    assert_eq!(out, "NoNewPrivs:0\nSeccomp:2\n");
    let out = run(
        &b,
        &["--security-opt", "no-new-privileges"],
        "grep NoNewPrivs: /proc/self/status | tr -d ' \\t'",
    );
    assert_eq!(out, "NoNewPrivs:1\n");
    // Masked and read-only paths.
    // /proc/timer_list is masked (reads as empty); /proc/acpi is an empty tmpfs.
    assert_eq!(
        run(&b, &[], "wc -c < /proc/timer_list; ls /proc/acpi | wc -l"),
        "0\n0\n"
    );
    let out = run(
        &b,
        &[],
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo ro",
    );
    assert_eq!(out, "ro\n");
    // The default profile refuses what Docker's refuses.
    let out = run(
        &b,
        &[],
        "unshare -U true 2>/dev/null && echo allowed || echo refused",
    );
    assert_eq!(out, "refused\n");
    // Hostname is the short id; /etc/hosts names it.
    let out = run(&b, &[], "hostname; grep -c localhost /etc/hosts");
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap().len(), 12);
    // Privileged: every capability, no seccomp, host devices, nothing masked.
    let out = run(&b, &["--privileged"], "grep -E '^(CapEff|Seccomp):' /proc/self/status | tr -d ' \\t'; ls /dev | wc -l; wc -c < /proc/timer_list");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("CapEff:000001ff") || lines[0].starts_with("CapEff:0000003f"),
        "{out}"
    );
    assert_eq!(lines[1], "Seccomp:0");
    assert!(lines[2].parse::<u32>().unwrap() > 20, "{out}");
    assert_ne!(lines[3], "0");
    // Nothing at all.
    assert_eq!(cap_eff(&b, &["--cap-drop", "ALL"]), 0);
}

#[test]
fn limits_and_filesystems() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let out = run(&b, &["-m", "64m", "--pids-limit", "40", "--cpus", "0.5", "--cpu-shares", "512"],
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares");
    assert_eq!(out, format!("{}\n40\n50000\n512\n", 64u64 << 20));
    let out = run(
        &b,
        &["--read-only", "--tmpfs", "/scratch"],
        "touch /x 2>/dev/null && echo rw || echo ro; touch /scratch/y && echo tmpfs-ok",
    );
    assert_eq!(out, "ro\ntmpfs-ok\n");
    let host = b.dir.path().join("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from host").unwrap();
    let bind = format!("{}:/shared", host.display());
    let out = run(
        &b,
        &["-v", &bind],
        "cat /shared/in; echo back > /shared/out",
    );
    assert_eq!(out, "from host");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    let ro = format!("{}:/shared:ro", host.display());
    let out = run(
        &b,
        &["-v", &ro],
        "touch /shared/z 2>/dev/null && echo rw || echo ro",
    );
    assert_eq!(out, "ro\n");
    let out = run(&b, &["--ulimit", "nofile=100:200"], "ulimit -n; ulimit -Hn");
    assert_eq!(out, "100\n200\n");
    assert_eq!(
        run(
            &b,
            &["--shm-size", "8m"],
            "df -k /dev/shm | tail -1 | awk '{print $2}'"
        ),
        "8192\n"
    );
    // A bad limit is refused before anything is made.
    let (code, _, err) = b.docker_run(&["run", "--rm", "-m", "1k", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("Minimum memory limit allowed is 6MB"), "{err}");
}

#[test]
fn network_modes() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let out = run(
        &b,
        &["--network", "none"],
        "ls /sys/class/net; ip -o link | grep -c UP",
    );
    assert_eq!(out, "lo\n1\n");
    // The host's own interfaces (not the bridges and veths tests come and go with).
    let stable: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("berth") && !n.starts_with("veth") && !n.starts_with("br-"))
        .collect();
    let out = run(
        &b,
        &["--network", "host"],
        "ls /sys/class/net | tr '\\n' ' '; echo; hostname",
    );
    let mut lines = out.lines();
    let seen: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    for n in &stable {
        assert!(
            seen.contains(&n.as_str()),
            "host network: {n} missing from {seen:?}"
        );
    }
    let host_name = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(lines.next().unwrap(), host_name);
    let v = b.docker_ok(&["create", "--network", "none", "busybox", "true"]);
    let nm = b.docker_ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.NetworkMode}} {{json .NetworkSettings.Networks}}",
        v.trim(),
    ]);
    assert!(nm.starts_with("none {\"none\":"), "{nm}");
    b.docker_ok(&["rm", v.trim()]);
}
