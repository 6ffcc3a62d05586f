//! `berth create`/`run` take docker's container flags and send what the docker CLI sends:
//! the same flags given to berth and to the real docker CLI, against the same daemon, give
//! containers whose `HostConfig` (and health check) inspect the same. Bad values are
//! refused before anything reaches the daemon, with docker's messages.

use std::process::Command;

use berth_tests::cli::Engine;
use berth_tests::unique;
use serde_json::Value;

berth_tests::cli_scenarios!(
    resource_flags_match_the_docker_cli,
    namespace_and_network_flags_match_the_docker_cli,
    health_flags_match_the_docker_cli,
    labels_from_files_and_port_ranges,
    bad_values_are_refused_like_docker,
);

/// The docker CLI pointed at the engine's daemon, with a private configuration.
fn docker(e: &Engine, args: &[&str]) -> std::process::Output {
    let cli = berth_tests::berthd::docker_cli().expect("the docker CLI is installed");
    let config = e.work.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    Command::new(cli)
        .arg("-H")
        .arg(&e.berth.host)
        .args(args)
        .env("DOCKER_CONFIG", &config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("run the docker CLI")
}

/// `{{json .X}}` of a container, parsed.
fn inspect_json(e: &Engine, name: &str, field: &str) -> Value {
    let out = e
        .berth
        .ok(&["inspect", "-f", &format!("{{{{json .{field}}}}}"), name]);
    serde_json::from_str(&out).unwrap_or_else(|err| panic!("{field} of {name}: {err}: {out}"))
}

/// Creates one container with berth and one with docker from the same flags and returns
/// both containers' `field`.
fn both(e: &Engine, flags: &[&str], field: &str) -> (Value, Value) {
    let (ours, theirs) = (unique("berth-flags"), unique("docker-flags"));
    let mut args = vec!["create", "--name", &ours];
    args.extend(flags);
    args.push("busybox");
    e.berth.ok(&args);
    args[2] = &theirs;
    let out = docker(e, &args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        inspect_json(e, &ours, field),
        inspect_json(e, &theirs, field),
    )
}

fn require_docker_cli() {
    assert!(
        berth_tests::berthd::docker_cli().is_some(),
        "these scenarios compare with the docker CLI, which is not installed"
    );
}

fn resource_flags_match_the_docker_cli(e: &Engine) {
    require_docker_cli();
    let flags = [
        "--device",
        "/dev/null:/dev/xnull:rw",
        "--device",
        "/dev/zero",
        "--device-cgroup-rule",
        "c 1:3 mr",
        "--blkio-weight",
        "300",
        "--blkio-weight-device",
        "/dev/vda:200",
        "--device-read-bps",
        "/dev/vda:1mb",
        "--device-write-bps",
        "/dev/vda:2mb",
        "--device-read-iops",
        "/dev/vda:100",
        "--device-write-iops",
        "/dev/vda:200",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        "--oom-score-adj",
        "100",
        "-m",
        "64m",
        "--memory-swappiness",
        "10",
        "--cgroup-parent",
        "berth-flags-test",
        "--disable-content-trust",
    ];
    let (ours, theirs) = both(e, &flags, "HostConfig");
    assert_eq!(ours, theirs, "berth and docker sent different HostConfigs");
    // And they are what the flags say, so the comparison is not between two empties.
    assert_eq!(ours["CpuQuota"], 50000, "{ours}");
    assert_eq!(ours["OomScoreAdj"], 100, "{ours}");
    assert_eq!(ours["CgroupParent"], "berth-flags-test", "{ours}");
    assert_eq!(ours["DeviceCgroupRules"], serde_json::json!(["c 1:3 mr"]));
    assert_eq!(
        ours["Devices"][0],
        serde_json::json!({"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull", "CgroupPermissions": "rw"})
    );
}

fn namespace_and_network_flags_match_the_docker_cli(e: &Engine) {
    require_docker_cli();
    let target = unique("link-target");
    e.berth.ok(&["create", "--name", &target, "busybox"]);
    let link = format!("{target}:db");
    let flags = [
        "--pid",
        "host",
        "--uts",
        "host",
        "--ipc",
        "private",
        "--cgroupns",
        "private",
        "--isolation",
        "default",
        "--link",
        &link,
    ];
    let (mut ours, mut theirs) = both(e, &flags, "HostConfig");
    // Links name the linking container: each has its own.
    for (host_config, name) in [(&mut ours, "berth-flags"), (&mut theirs, "docker-flags")] {
        let links = host_config
            .as_object_mut()
            .unwrap()
            .remove("Links")
            .unwrap();
        let link = links[0]
            .as_str()
            .unwrap_or_else(|| panic!("no link: {links}"));
        // dockerd stores "/TARGET:/NAME/db", berthd "TARGET:db".
        assert!(
            link.contains(&target) && link.ends_with("db"),
            "{name}: {link}"
        );
    }
    assert_eq!(ours, theirs, "berth and docker sent different HostConfigs");
    assert_eq!(ours["PidMode"], "host", "{ours}");
    assert_eq!(ours["UTSMode"], "host", "{ours}");
}

fn health_flags_match_the_docker_cli(e: &Engine) {
    require_docker_cli();
    let flags = [
        "--health-cmd",
        "true",
        "--health-interval",
        "2s",
        "--health-retries",
        "3",
        "--health-start-period",
        "1m",
        "--health-timeout",
        "500ms",
    ];
    let (ours, theirs) = both(e, &flags, "Config.Healthcheck");
    assert_eq!(ours, theirs);
    assert_eq!(
        ours,
        serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000u64,
            "Timeout": 500_000_000u64, "StartPeriod": 60_000_000_000u64, "Retries": 3})
    );
    let (ours, theirs) = both(e, &["--no-healthcheck"], "Config.Healthcheck");
    assert_eq!(ours, theirs);
    assert_eq!(ours["Test"], serde_json::json!(["NONE"]));
}

fn labels_from_files_and_port_ranges(e: &Engine) {
    let file = e.work.path().join(unique("labels"));
    std::fs::write(&file, "# a comment\nfrom.file=1\nbare\nboth=file\n").unwrap();
    let name = unique("labels");
    e.berth.ok(&[
        "create",
        "--name",
        &name,
        "--label-file",
        file.to_str().unwrap(),
        "--label",
        "both=flag",
        "--expose",
        "7000-7002",
        "busybox",
    ]);
    let labels = inspect_json(e, &name, "Config.Labels");
    assert_eq!(labels["from.file"], "1", "{labels}");
    assert_eq!(labels["bare"], "", "{labels}");
    assert_eq!(
        labels["both"], "flag",
        "a flag wins over the file: {labels}"
    );
    let exposed = inspect_json(e, &name, "Config.ExposedPorts");
    for p in ["7000/tcp", "7001/tcp", "7002/tcp"] {
        assert!(exposed.get(p).is_some(), "{p} not exposed: {exposed}");
    }
}

fn bad_values_are_refused_like_docker(e: &Engine) {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--device-read-bps", "sda:1"],
            "invalid argument \"sda:1\" for \"--device-read-bps\" flag: bad format for device path: sda:1",
        ),
        (
            &["--blkio-weight-device", "/dev/vda:5"],
            "invalid weight for device: /dev/vda:5",
        ),
        (&["--device", "/dev/null:/x:xyz"], "bad mode specified: xyz"),
        (&["--device", "/dev/null:rel"], "rel is not an absolute path"),
        (
            &["--health-interval", "5"],
            "invalid argument \"5\" for \"--health-interval\" flag: time: missing unit in duration \"5\"",
        ),
        (
            &["--health-retries", "-1"],
            "--health-retries cannot be negative",
        ),
        (
            &["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck conflicts with --health-* options",
        ),
        (
            &["--memory-swappiness", "101"],
            "invalid value: 101. Valid memory swappiness range is 0-100",
        ),
        (&["--cgroupns", "foo"], "--cgroupns: invalid CGROUP mode"),
        (&["--userns", "foo"], "--userns: invalid USER mode"),
        (&["--pid", "container:"], "--pid: invalid PID mode"),
        (&["--storage-opt", "size"], "invalid storage option"),
        (
            &["--link", "a:b:c"],
            "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c",
        ),
        (
            &["--gpus", "bar=1"],
            "invalid argument \"bar=1\" for \"--gpus\" flag: unexpected key 'bar' in 'bar=1'",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["create"];
        args.extend(*flags);
        args.push("busybox");
        let o = e.berth.run(&args);
        assert_eq!(o.code, 125, "{args:?}: {o:?}");
        assert!(o.stderr.contains(message), "{args:?}: {o:?}");
    }
    // Nothing reached the daemon.
    assert_eq!(e.berth.ok(&["ps", "-a", "-q"]), "");
}
