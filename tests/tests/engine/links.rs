//! Legacy container links (`--link name:alias`) as dockerd makes them: on the default
//! bridge the linking container gets the target's variables and an /etc/hosts line, the
//! target is listed with the name `/linker/alias`, the linker's inspect shows
//! `/target:/linker/alias`, `docker rm --link` removes a link; a link to a container that
//! is not running (or was removed) fails the start; a restarted target's new address
//! reaches the running linker's /etc/hosts. On a user-defined network a link is only a DNS
//! alias of the linking container. Each check runs with the docker CLI against berthd and
//! against Debian's dockerd 20.10, whose answers are the expectations written here (its
//! default bridge is a bridge the test makes, with an address no route of the host uses).

use std::process::Command;
use std::time::Duration;

use berth_tests::berthd::{raw_request, Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::{require, unique, wait_until};

/// A Linux bridge with a private /24 for dockerd's default bridge, removed when dropped.
struct TestBridge {
    name: String,
}

impl TestBridge {
    fn make() -> TestBridge {
        let routes = String::from_utf8_lossy(
            &Command::new("ip")
                .args(["-4", "route", "show", "table", "all"])
                .output()
                .expect("ip route")
                .stdout,
        )
        .into_owned();
        let seed = std::process::id();
        let third = (0..250u32)
            .map(|i| (seed + i) % 250 + 1)
            .find(|n| !routes.contains(&format!("10.233.{n}.")))
            .expect("a free 10.233.x.0/24");
        let name = format!("brl{:08x}", seed.wrapping_mul(2654435761) ^ third);
        let ip = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().expect("run ip");
            assert!(st.success(), "ip {args:?} failed");
        };
        ip(&["link", "add", &name, "type", "bridge"]);
        let bridge = TestBridge { name };
        ip(&[
            "addr",
            "add",
            &format!("10.233.{third}.1/24"),
            "dev",
            &bridge.name,
        ]);
        ip(&["link", "set", &bridge.name, "up"]);
        bridge
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}

fn inspect(d: &DockerCli, what: &str, format: &str) -> String {
    d.ok(&["inspect", "-f", format, what]).trim().to_string()
}

/// `Names` of the container `id` in `GET /containers/json?all=1`.
fn listed_names(d: &DockerCli, id: &str) -> Vec<String> {
    let r = raw_request(&d.socket(), "GET", "/containers/json?all=1", &[], b"");
    assert_eq!(r.status, 200, "{}", d.daemon);
    r.json()
        .as_array()
        .expect("a list")
        .iter()
        .find(|c| c["Id"] == id)
        .map(|c| {
            c["Names"]
                .as_array()
                .expect("names")
                .iter()
                .map(|n| n.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn delete(d: &DockerCli, path: &str) -> (u16, String) {
    let r = raw_request(&d.socket(), "DELETE", path, &[], b"");
    let msg = if r.body.is_empty() {
        String::new()
    } else {
        r.message()
    };
    (r.status, msg)
}

fn load_busybox(d: &DockerCli, dir: &std::path::Path) {
    let busybox = berth_tests::cli::busybox_archive(dir);
    d.ok(&["load", "-i", busybox.to_str().expect("utf-8 path")]);
}

/// Variables, hosts lines, names, inspect and `rm --link` on the default bridge.
fn default_bridge(d: &DockerCli) {
    let db = unique("db");
    let web = unique("web");
    d.ok(&[
        "run", "-d", "--name", &db, "-e", "FOO=bar", "--expose", "5432", "--expose", "80/udp",
        "busybox", "sleep", "600",
    ]);
    let ip = inspect(d, &db, "{{.NetworkSettings.IPAddress}}");
    let host = inspect(d, &db, "{{.Config.Hostname}}");
    assert!(!ip.is_empty(), "{}: {db} has no address", d.daemon);
    let out = d.ok(&[
        "run",
        "--rm",
        "--name",
        &web,
        "--link",
        &format!("{db}:my-Alias"),
        "--link",
        &db,
        "busybox",
        "sh",
        "-c",
        "env; echo ---; cat /etc/hosts",
    ]);
    let (env, hosts) = out.split_once("---\n").expect("env then hosts");
    let env: Vec<&str> = env.lines().collect();
    let up = db.to_ascii_uppercase().replace('-', "_");
    for want in [
        format!("MY_ALIAS_NAME=/{web}/my-Alias"),
        format!("MY_ALIAS_PORT=udp://{ip}:80"),
        format!("MY_ALIAS_PORT_5432_TCP=tcp://{ip}:5432"),
        format!("MY_ALIAS_PORT_5432_TCP_ADDR={ip}"),
        "MY_ALIAS_PORT_5432_TCP_PORT=5432".to_string(),
        "MY_ALIAS_PORT_5432_TCP_PROTO=tcp".to_string(),
        format!("MY_ALIAS_PORT_80_UDP=udp://{ip}:80"),
        "MY_ALIAS_ENV_FOO=bar".to_string(),
        format!("{up}_NAME=/{web}/{db}"),
    ] {
        assert!(
            env.contains(&want.as_str()),
            "{}: {want} not in {env:?}",
            d.daemon
        );
    }
    assert!(
        !env.iter()
            .any(|e| e.starts_with("MY_ALIAS_ENV_PATH") || e.starts_with("MY_ALIAS_ENV_HOME")),
        "{}: {env:?}",
        d.daemon
    );
    for want in [
        format!("{ip}\tmy-Alias {host} {db}\n"),
        format!("{ip}\t{db} {host}\n"),
    ] {
        assert!(
            hosts.contains(&want),
            "{}: {want:?} not in\n{hosts}",
            d.daemon
        );
    }

    // Inspect, list, and removing the link.
    let linker = unique("linker");
    d.ok(&[
        "create",
        "--name",
        &linker,
        "--link",
        &format!("{db}:al"),
        "busybox",
        "true",
    ]);
    assert_eq!(
        inspect(d, &linker, "{{json .HostConfig.Links}}"),
        format!("[\"/{db}:/{linker}/al\"]"),
        "{}",
        d.daemon
    );
    let db_id = inspect(d, &db, "{{.Id}}");
    let names = listed_names(d, &db_id);
    assert!(
        names.contains(&format!("/{db}")) && names.contains(&format!("/{linker}/al")),
        "{}: {names:?}",
        d.daemon
    );
    assert_eq!(
        delete(d, &format!("/v1.41/containers/{linker}/nope?link=1")),
        (404, format!("No such container: {linker}/nope")),
        "{}",
        d.daemon
    );
    assert_eq!(
        delete(d, &format!("/v1.41/containers/{db}?link=1")),
        (
            500,
            "Conflict, cannot remove the default link name of the container".to_string()
        ),
        "{}",
        d.daemon
    );
    d.ok(&["rm", "--link", &format!("/{linker}/al")]);
    assert_eq!(
        inspect(d, &linker, "{{json .HostConfig.Links}}"),
        "null",
        "{}",
        d.daemon
    );
    assert_eq!(
        listed_names(d, &db_id),
        vec![format!("/{db}")],
        "{}",
        d.daemon
    );
    // The linker starts without the link.
    d.ok(&["start", "-a", &linker]);
    d.ok(&["rm", "-f", &linker, &db]);
}

/// Starting needs running targets; a removed target leaves the link; a restarted target's
/// address reaches its running linker.
fn targets(d: &DockerCli) {
    let db = unique("db");
    let web = unique("web");
    d.ok(&["run", "-d", "--name", &db, "busybox", "sleep", "600"]);
    d.ok(&[
        "create",
        "--name",
        &web,
        "--link",
        &format!("{db}:x"),
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&["stop", "-t", "0", &db]);
    let refusal = format!("Cannot link to a non running container: /{db} AS /{web}/x");
    let r = raw_request(
        &d.socket(),
        "POST",
        &format!("/v1.41/containers/{web}/start"),
        &[],
        b"",
    );
    assert_eq!(
        (r.status, r.message()),
        (500, refusal.clone()),
        "{}",
        d.daemon
    );
    assert_eq!(
        inspect(
            d,
            &web,
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}"
        ),
        format!("created 128 {refusal}"),
        "{}",
        d.daemon
    );
    // The target may go; the link stays, and the start still fails.
    d.ok(&["rm", &db]);
    assert_eq!(
        inspect(d, &web, "{{json .HostConfig.Links}}"),
        format!("[\"/{db}:/{web}/x\"]"),
        "{}",
        d.daemon
    );
    let (code, _, err) = d.run(&["start", &web]);
    assert!(code != 0 && err.contains(&refusal), "{}: {err}", d.daemon);
    d.ok(&["rm", &web]);

    // A running target removed by force: allowed.
    let db = unique("db");
    let web = unique("web");
    d.ok(&["run", "-d", "--name", &db, "busybox", "sleep", "600"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        &web,
        "--link",
        &format!("{db}:x"),
        "busybox",
        "sleep",
        "600",
    ]);
    let before = inspect(d, &db, "{{.NetworkSettings.IPAddress}}");
    // The target comes back on another address (one in between is taken meanwhile).
    d.ok(&["stop", "-t", "0", &db]);
    let filler = unique("filler");
    d.ok(&["run", "-d", "--name", &filler, "busybox", "sleep", "600"]);
    d.ok(&["start", &db]);
    let after = inspect(d, &db, "{{.NetworkSettings.IPAddress}}");
    assert_ne!(before, after, "{}: {db} kept its address", d.daemon);
    let line = |ip: &str| format!("{ip}\tx ");
    let mut hosts = String::new();
    let updated = wait_until(Duration::from_secs(10), || {
        hosts = d.ok(&["exec", &web, "cat", "/etc/hosts"]);
        hosts.contains(&line(&after))
    });
    assert!(updated, "{}: {after} not in\n{hosts}", d.daemon);
    assert!(!hosts.contains(&line(&before)), "{}: {hosts}", d.daemon);
    d.ok(&["rm", "-f", &db]);
    assert_eq!(
        inspect(d, &web, "{{.State.Status}} {{json .HostConfig.Links}}"),
        format!("running [\"/{db}:/{web}/x\"]"),
        "{}",
        d.daemon
    );
    d.ok(&["rm", "-f", &web, &filler]);
}

/// On a user-defined network a link is a DNS alias of the linking container only.
fn user_network(d: &DockerCli) {
    let net = unique("lnet");
    let db = unique("udb");
    let web = unique("uweb");
    d.ok(&["network", "create", &net]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        &db,
        "--network",
        &net,
        "busybox",
        "sleep",
        "600",
    ]);
    let ip = inspect(
        d,
        &db,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--link",
        &format!("{db}:ualias"),
        "busybox",
        "sh",
        "-c",
        &format!("env; echo ---; cat /etc/hosts; echo ---; nslookup ualias 127.0.0.11; nslookup ualias.{net} 127.0.0.11"),
    ]);
    let parts: Vec<&str> = out.split("---\n").collect();
    assert_eq!(parts.len(), 3, "{}: {out}", d.daemon);
    assert!(!parts[0].contains("UALIAS"), "{}: {}", d.daemon, parts[0]);
    assert!(!parts[1].contains("ualias"), "{}: {}", d.daemon, parts[1]);
    assert_eq!(
        parts[2].matches(&format!("Address: {ip}\n")).count(),
        2,
        "{}: {}",
        d.daemon,
        parts[2]
    );
    // Not from another container of the network (its queries for unknown names go to a
    // loopback server, never off the host).
    let (_, out, _) = d.run(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--dns",
        "127.0.0.1",
        "busybox",
        "nslookup",
        "ualias",
        "127.0.0.11",
    ]);
    assert!(
        !out.contains(&format!("Address: {ip}")),
        "{}: {out}",
        d.daemon
    );
    d.ok(&[
        "create",
        "--name",
        &web,
        "--network",
        &net,
        "--link",
        &format!("{db}:ualias"),
        "busybox",
    ]);
    assert_eq!(
        inspect(
            d,
            &web,
            &format!("{{{{json .HostConfig.Links}}}} {{{{json (index .NetworkSettings.Networks \"{net}\").Links}}}}")
        ),
        format!("null [\"{db}:ualias\"]"),
        "{}",
        d.daemon
    );
    let db_id = inspect(d, &db, "{{.Id}}");
    assert_eq!(
        listed_names(d, &db_id),
        vec![format!("/{db}")],
        "{}",
        d.daemon
    );
    d.ok(&["rm", "-f", &web, &db]);
    d.ok(&["network", "rm", &net]);
}

fn with_berthd(check: fn(&DockerCli)) {
    let b = Berthd::start();
    let d = b.cli();
    load_busybox(&d, b.dir.path());
    check(&d);
}

fn with_dockerd(check: fn(&DockerCli)) {
    let bridge = TestBridge::make();
    let d = Dockerd::start_with(&[format!("--bridge={}", bridge.name)])
        .expect("dockerd is installed but did not start");
    let cli = d.cli();
    load_busybox(&cli, d.dir.path());
    check(&cli);
    drop(d);
    drop(bridge);
}

#[test]
fn default_bridge_berthd() {
    require!(root, docker_cli);
    with_berthd(default_bridge);
}

#[test]
fn default_bridge_dockerd() {
    require!(root, docker_cli, dockerd);
    with_dockerd(default_bridge);
}

#[test]
fn targets_berthd() {
    require!(root, docker_cli);
    with_berthd(targets);
}

#[test]
fn targets_dockerd() {
    require!(root, docker_cli, dockerd);
    with_dockerd(targets);
}

#[test]
fn user_network_berthd() {
    require!(root, docker_cli);
    with_berthd(user_network);
}

#[test]
fn user_network_dockerd() {
    require!(root, docker_cli, dockerd);
    with_dockerd(user_network);
}
