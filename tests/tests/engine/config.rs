//! berthd's configuration: daemon.json keys, a shimd given with --shimd-address, and what
//! it refuses at start-up.

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_tests::berthd::Berthd;
use berth_tests::bins::bin;
use berth_tests::require;

#[test]
fn daemon_json_keys_apply_to_containers() {
    require!(root, docker_cli);
    let b = Berthd::start_with(
        &[],
        Some(
            r#"{"default-runtime": "runc",
                "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 123, "Hard": 456}},
                "log-opts": {"max-size": "1k", "max-file": "2"},
                "labels": ["site=test"]}"#,
        ),
    );
    b.load_busybox();
    let out = b.docker_ok(&[
        "run",
        "--name",
        "cfg",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; for i in $(seq 200); do echo line-$i; done",
    ]);
    assert!(out.starts_with("123\n456\n"), "{out}");
    assert_eq!(
        b.docker_ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Runtime}} {{.HostConfig.LogConfig.Type}}",
            "cfg"
        ])
        .trim(),
        "runc json-file"
    );
    assert_eq!(
        b.docker_ok(&["info", "-f", "{{.DefaultRuntime}} {{.Labels}}"])
            .trim(),
        "runc [site=test]"
    );
    // The log was rotated at 1 KiB into at most two files; the newest lines are kept.
    let id = b
        .docker_ok(&["inspect", "-f", "{{.Id}}", "cfg"])
        .trim()
        .to_string();
    let dir = b.data_root().join("containers").join(&id);
    let logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{id}-json.log"))
        })
        .collect();
    assert!(!logs.is_empty() && logs.len() <= 2, "{logs:?}");
    let tail = b.docker_ok(&["logs", "--tail", "1", "cfg"]);
    assert_eq!(tail, "line-200\n");
}

#[test]
fn a_running_shimd_can_be_used_instead_of_an_own_one() {
    require!(root, docker_cli);
    let shimd = berth_tests::shimd::Shimd::start();
    let sock = shimd.socket().display().to_string();
    let b = Berthd::start_with(&["--shimd-address", &sock], None);
    assert_eq!(b.shimd_pid(), None, "berthd started a shimd of its own");
    b.load_busybox();
    assert_eq!(
        b.docker_ok(&["run", "--rm", "busybox", "echo", "via-shared-shimd"]),
        "via-shared-shimd\n"
    );
    // Its containers live in shimd's "berth" namespace.
    let out = shimd.ctl_ok(&["-n", "berth", "images", "ls"]);
    assert!(out.contains("docker.io/library/busybox:latest"), "{out}");
}

/// Processes whose command line mentions `path`: (pid, command line).
fn processes_mentioning(path: &std::path::Path) -> Vec<(i32, String)> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")))
        })
        .filter(|(_, c)| c.contains(&needle))
        .collect()
}

#[test]
fn bad_settings_are_refused_at_start() {
    require!(root);
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], json: Option<&str>| {
        let mut c = Command::new(bin("berthd"));
        c.arg("-H")
            .arg(format!("unix://{}/sock", dir.path().display()))
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("x"))
            .args(extra);
        if let Some(j) = json {
            std::fs::write(dir.path().join("d.json"), j).unwrap();
            c.arg("--config-file").arg(dir.path().join("d.json"));
        }
        // Not output(): a shimd left behind would hold the pipes open and hang the test.
        let mut child = c
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("berthd did not exit within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!status.success());
        // Nothing is left running or bound: no shimd of this data root, no API socket.
        let left = processes_mentioning(dir.path());
        for (pid, _) in &left {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(left.is_empty(), "left running: {left:?}");
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(
            !dir.path().join("sock").exists(),
            "socket left after {err:?}"
        );
        err
    };
    let e = run(&[], Some(r#"{"no-such-key": 1}"#));
    assert!(
        e.starts_with("berthd: ") && e.contains("no-such-key"),
        "{e}"
    );
    let e = run(&[], Some(r#"{"log-driver": "syslog"}"#));
    assert!(e.contains("log-driver \"syslog\" is not supported"), "{e}");
    let e = run(&[], Some("{"));
    assert!(e.contains("invalid daemon.json"), "{e}");
    let e = run(&["--tlsverify"], None);
    assert!(e.contains("--tlsverify needs --tlscacert"), "{e}");
    let e = run(&["-H", "ftp://x"], None);
    assert!(e.contains("invalid host"), "{e}");
    let e = run(&["--bip", "172.31.99.0/24"], None);
    assert!(e.contains("bip") && e.contains("172.31.99.1/24"), "{e}");
    let e = run(&["--default-address-pool", "base=10.9.0.0/16"], None);
    assert!(e.contains("size="), "{e}");
    let e = run(&["--dns", "resolver.example"], None);
    assert!(e.contains("not an IPv4 address"), "{e}");
    let e = run(
        &[],
        Some(r#"{"default-address-pools": [{"base": "10.9.0.0/16", "size": 8}]}"#),
    );
    assert!(e.contains("default-address-pool"), "{e}");
    assert!(!e.contains("stack backtrace"), "{e}");
}

#[test]
fn network_options_of_the_daemon_apply() {
    require!(root, docker_cli);
    // Documentation addresses: written into files, never sent anything.
    let b = Berthd::start_with(
        &[
            "--bip",
            "172.31.99.1/24",
            "--default-address-pool",
            "base=10.123.0.0/16,size=24",
            "--dns",
            "192.0.2.53",
        ],
        None,
    );
    b.load_busybox();
    let ipam = |net: &str| {
        b.docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
            net,
        ])
        .trim()
        .to_string()
    };
    assert_eq!(ipam("bridge"), "172.31.99.0/24 172.31.99.1");
    b.docker_ok(&["network", "create", "pooled"]);
    let pooled = ipam("pooled");
    assert!(pooled.starts_with("10.123."), "{pooled}");
    assert!(
        pooled.split(' ').next().unwrap().ends_with(".0/24"),
        "{pooled}"
    );
    let resolv = b.docker_ok(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.lines().any(|l| l == "nameserver 192.0.2.53"),
        "{resolv}"
    );
    let addr = b.docker_ok(&[
        "run", "--rm", "busybox", "ip", "-o", "-4", "addr", "show", "eth0",
    ]);
    assert!(addr.contains("inet 172.31.99."), "{addr}");
    b.docker_ok(&["network", "rm", "pooled"]);
}
