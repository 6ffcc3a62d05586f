//! Networks through berthd and the real docker CLI: user networks with DNS, the default
//! bridge without, internal networks, published ports from the host's loopback, network
//! connect/disconnect, clean removal, and kill -9 + restart. Traffic stays on this machine:
//! container to container, and the host's loopback to a published port.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use berth_tests::berthd::Berthd;
use berth_tests::net::wait_for;
use berth_tests::require;

/// Links of the host whose names start with `prefix`.
fn host_links(prefix: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// The veths attached to a bridge.
fn ports_of(bridge: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

fn read_port(port: &str) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(2),
    ) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn user_network_by_name_alias_and_clean_removal() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let id = b.docker_ok(&[
        "network",
        "create",
        "--subnet",
        "10.197.41.0/24",
        "--label",
        "t=1",
        "front",
    ]);
    let bridge = format!("br-{}", &id.trim()[..12]);
    assert!(host_links(&bridge).contains(&bridge));
    let ls = b.docker_ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for want in ["bridge bridge", "host host", "none null", "front bridge"] {
        assert!(ls.lines().any(|l| l == want), "{want} in {ls}");
    }
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "front",
        "--network-alias",
        "db",
        "busybox",
        "sh",
        "-c",
        "while true; do echo pong | nc -l -p 7000; done",
    ]);
    let ip = b.docker_ok(&[
        "inspect",
        "-f",
        "{{(index .NetworkSettings.Networks \"front\").IPAddress}}",
        "srv",
    ]);
    assert_eq!(ip.trim(), "10.197.41.2");
    let names = b.docker_ok(&[
        "inspect",
        "-f",
        "{{json (index .NetworkSettings.Networks \"front\").DNSNames}}",
        "srv",
    ]);
    assert!(
        names.contains("\"srv\"") && names.contains("\"db\""),
        "{names}"
    );
    for target in ["srv", "db"] {
        let mut got = String::new();
        assert!(
            wait_for(10, || {
                got = b
                    .docker_run(&[
                        "run",
                        "--rm",
                        "--network",
                        "front",
                        "busybox",
                        "sh",
                        "-c",
                        &format!("echo ping | nc -w 2 {target} 7000"),
                    ])
                    .1;
                got.trim() == "pong"
            }),
            "{target}: {got:?}"
        );
    }
    let inspect = b.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
        "front",
    ]);
    assert_eq!(inspect.trim(), "srv 10.197.41.2/24");
    let veths = ports_of(&bridge);
    assert_eq!(veths.len(), 1, "{veths:?}");

    // In use: refused, nothing changes.
    let (code, _, err) = b.docker_run(&["network", "rm", "front"]);
    assert_ne!(code, 0);
    assert!(err.contains("active endpoints"), "{err}");

    b.docker_ok(&["rm", "-f", "srv"]);
    b.docker_ok(&["network", "rm", "front"]);
    assert!(host_links(&bridge).is_empty(), "the bridge is gone");
    for v in &veths {
        assert!(host_links(v).is_empty(), "veth {v} is gone");
    }
    let (code, _, err) = b.docker_run(&["network", "inspect", "front"]);
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn default_bridge_internal_networks_and_published_ports() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    // The default bridge: an address and a route, but no embedded DNS.
    let (_, out, _) = b.docker_run(&[
        "run", "--rm", "busybox", "sh", "-c",
        "ip -o -4 addr show eth0; ip route; cat /etc/resolv.conf; nslookup -timeout=1 x 127.0.0.11 >/dev/null 2>&1 && echo DNS-ANSWERED",
    ]);
    assert!(
        out.contains("inet 172.") || out.contains("inet 192.168."),
        "{out}"
    );
    assert!(out.contains("default via"), "{out}");
    assert!(!out.contains("127.0.0.11"), "{out}");
    assert!(!out.contains("DNS-ANSWERED"), "{out}");

    // An internal network: no default route (read the table; nothing is sent).
    b.docker_ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.197.42.0/24",
        "sealed",
    ]);
    let routes = b.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        "busybox",
        "ip",
        "route",
    ]);
    assert!(!routes.contains("default"), "{routes}");
    assert!(routes.contains("10.197.42.0/24"), "{routes}");

    // A published port answers on the host's loopback.
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sh",
        "-c",
        "while true; do echo hello | nc -l -p 80; done",
    ]);
    let port = b.docker_ok(&["port", "web", "80/tcp"]);
    let port = port.trim().rsplit(':').next().unwrap().to_string();
    let mut got = String::new();
    assert!(
        wait_for(10, || {
            got = read_port(&port);
            got.trim() == "hello"
        }),
        "127.0.0.1:{port} gave {got:?}"
    );
    let ps = b.docker_ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");

    // -P publishes every exposed port on a free host port.
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "exp",
        "-P",
        "--expose",
        "81",
        "busybox",
        "sh",
        "-c",
        "while true; do echo all | nc -l -p 81; done",
    ]);
    let p81 = b.docker_ok(&["port", "exp", "81/tcp"]);
    let p81 = p81
        .lines()
        .next()
        .unwrap_or("")
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert!(
        wait_for(10, || read_port(&p81).trim() == "all"),
        "-P port {p81}"
    );
    b.docker_ok(&["rm", "-f", "exp"]);

    // connect/disconnect of a running container.
    b.docker_ok(&["network", "create", "--subnet", "10.197.43.0/24", "side"]);
    b.docker_ok(&["network", "connect", "--ip", "10.197.43.9", "side", "web"]);
    let (_, addrs, _) = b.docker_run(&["exec", "web", "ip", "-o", "-4", "addr"]);
    assert!(addrs.contains("10.197.43.9/24"), "{addrs}");
    b.docker_ok(&["network", "disconnect", "side", "web"]);
    let (_, addrs, _) = b.docker_run(&["exec", "web", "ip", "-o", "-4", "addr"]);
    assert!(!addrs.contains("10.197.43."), "{addrs}");
    b.docker_ok(&["rm", "-f", "web"]);
    assert!(read_port(&port).is_empty(), "the port is unpublished");
    let pruned = b.docker_ok(&["network", "prune", "-f"]);
    assert!(
        pruned.contains("sealed") && pruned.contains("side"),
        "{pruned}"
    );
}

#[test]
fn kill9_and_restart_keep_networks_without_leaks_or_doubles() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    b.docker_ok(&["network", "create", "--subnet", "10.197.44.0/24", "keep"]);
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "keep",
        "-p",
        "127.0.0.1::7000",
        "busybox",
        "sh",
        "-c",
        "while true; do echo pong | nc -l -p 7000; done",
    ]);
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        "gone",
        "--network",
        "keep",
        "busybox",
        "sleep",
        "600",
    ]);
    let port = b.docker_ok(&["port", "srv", "7000/tcp"]);
    let port = port.trim().rsplit(':').next().unwrap().to_string();
    assert!(wait_for(10, || read_port(&port).trim() == "pong"));
    let net_id = b.docker_ok(&["network", "inspect", "-f", "{{.Id}}", "keep"]);
    let bridge = format!("br-{}", &net_id.trim()[..12]);
    let veths_before = ports_of(&bridge);
    assert_eq!(veths_before.len(), 2);
    let tables = || {
        let out = std::process::Command::new("nft")
            .args(["-j", "list", "tables"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["table"]["name"].as_str().map(str::to_string))
            .filter(|n| n.starts_with("berth_"))
            .collect::<Vec<_>>()
    };
    let tables_before = tables();
    let rules = |name: &str| {
        let out = std::process::Command::new("nft")
            .args(["-j", "list", "table", "ip", name])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let mut c: Vec<String> = v["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["rule"]["comment"].as_str().map(str::to_string))
            .collect();
        c.sort();
        c
    };
    // This engine's table holds the rule of srv's port.
    let mine: Vec<String> = tables_before
        .iter()
        .filter(|t| {
            rules(t)
                .iter()
                .any(|c| c.contains(&format!("network {}", &net_id.trim()[..12])))
        })
        .cloned()
        .collect();
    assert_eq!(mine.len(), 1, "{tables_before:?}");
    let rules_before = rules(&mine[0]);

    let gone_pid: i32 = b
        .docker_ok(&["inspect", "-f", "{{.State.Pid}}", "gone"])
        .trim()
        .parse()
        .unwrap();
    b.kill9();
    // While berthd is down, one container dies (its init is killed).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(gone_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    b.restart();
    assert!(
        wait_for(10, || ports_of(&bridge).len() == 1),
        "the dead container's veth is removed after the restart: {:?}",
        ports_of(&bridge)
    );
    // srv keeps its port and its name; no rule is doubled.
    assert!(wait_for(10, || read_port(&port).trim() == "pong"));
    let mut got = String::new();
    assert!(
        wait_for(10, || {
            got = b
                .docker_run(&[
                    "run",
                    "--rm",
                    "--network",
                    "keep",
                    "busybox",
                    "sh",
                    "-c",
                    "echo ping | nc -w 2 srv 7000",
                ])
                .1;
            got.trim() == "pong"
        }),
        "{got:?}"
    );
    let after = rules(&mine[0]);
    assert_eq!(
        after.len(),
        rules_before.len(),
        "{after:?} vs {rules_before:?}"
    );
    let unique: std::collections::BTreeSet<&String> = after.iter().collect();
    assert_eq!(unique.len(), after.len(), "no doubled rule: {after:?}");

    b.docker_ok(&["rm", "-f", "srv", "gone"]);
    b.docker_ok(&["network", "rm", "keep"]);
    assert!(host_links(&bridge).is_empty());
    for v in veths_before {
        assert!(host_links(&v).is_empty(), "{v} left behind");
    }
}

/// Publishing a host port another program listens on fails at once, every time, with
/// dockerd's "already allocated" (docker exits 125), never with an internal error from the
/// namespace the failure tore down; the container did not start and its port is not held.
#[test]
fn a_port_another_program_listens_on_is_refused_clearly() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    for i in 0..3 {
        let name = berth_tests::unique("busyport");
        let (code, _, err) = b.docker_run(&[
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sleep",
            "60",
        ]);
        assert_eq!(code, 125, "try {i}: {err}");
        assert!(err.contains("already allocated"), "try {i}: {err}");
        assert!(!err.contains("namespace"), "try {i}: {err}");
        assert_eq!(
            b.docker_ok(&["inspect", "-f", "{{.State.Status}}", &name])
                .trim(),
            "created"
        );
        b.docker_ok(&["rm", "-f", &name]);
    }
    drop(holder);
    let name = berth_tests::unique("freedport");
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sleep",
        "60",
    ]);
    b.docker_ok(&["rm", "-f", &name]);
}
