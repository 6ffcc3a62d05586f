//! `berth network ...` against a real daemon (berthd, and Debian's dockerd to show the CLI
//! behaves the same with Docker's own daemon): create with IPAM options, ls with filters and
//! formats, inspect, connect with an alias and a fixed address, disconnect, rm and its
//! refusals, prune. Traffic stays between the test's own containers.

use berth_tests::cli::{Berth, Engine};
use berth_tests::unique;

berth_tests::cli_scenarios!(
    create_ls_inspect_rm_prune,
    connect_and_disconnect,
    run_with_address_alias_mac_and_dns,
    refusals
);

/// A /24 of its own for each call (10.200.0.0 - 10.249.255.0), unlikely to meet the host's.
fn subnet() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let x = std::process::id().wrapping_mul(31) ^ nanos ^ N.fetch_add(7, Ordering::Relaxed);
    format!("10.{}.{}.0/24", 200 + x % 50, (x / 50) % 256)
}

fn prefix(subnet: &str) -> &str {
    subnet.trim_end_matches(".0/24")
}

/// Creates network `name` on a fresh /24; returns its first three octets.
fn create_network(b: &Berth, name: &str) -> String {
    let net = subnet();
    b.ok(&["network", "create", "--subnet", &net, name]);
    prefix(&net).to_string()
}

fn create_ls_inspect_rm_prune(e: &Engine) {
    let b = &e.berth;
    let name = unique("net");
    let net = subnet();
    let p = prefix(&net).to_string();
    let id = b.ok(&[
        "network",
        "create",
        "--subnet",
        &net,
        "--gateway",
        &format!("{p}.1"),
        "--ip-range",
        &format!("{p}.128/25"),
        "--label",
        &format!("team={name}"),
        "--internal",
        &name,
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ls = b.ok(&["network", "ls", "--filter", &format!("name={name}")]);
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        [&id[..12], name.as_str(), "bridge", "local"]
    );
    assert_eq!(
        b.ok(&[
            "network",
            "ls",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label=team={name}")
        ]),
        format!("{id}\n")
    );
    assert_eq!(
        b.ok(&[
            "network",
            "ls",
            "--filter",
            &format!("id={}", &id[..12]),
            "--format",
            "{{.Name}} {{.Driver}} {{.Internal}}"
        ]),
        format!("{name} bridge true\n")
    );
    assert_eq!(
        b.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{.IPRange}}{{end}} {{.Internal}} {{index .Labels \"team\"}}",
            &name
        ]),
        format!("{name} {net} {p}.1 {p}.128/25 true {name}\n")
    );
    let j: serde_json::Value =
        serde_json::from_str(&b.ok(&["network", "inspect", &id[..12]])).unwrap();
    assert_eq!(j[0]["Id"], id);
    assert_eq!(j[0]["Driver"], "bridge");
    assert_eq!(j[0]["Containers"], serde_json::json!({}));
    assert_eq!(b.ok(&["network", "rm", &name]), format!("{name}\n"));
    let o = b.run(&["network", "inspect", &name]);
    assert_eq!(o.code, 1, "{o:?}");

    // prune removes unused networks that match its filter only.
    let a = unique("pa");
    let keep = unique("pk");
    b.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet(),
        "--label",
        &format!("p={a}"),
        &a,
    ]);
    b.ok(&["network", "create", "--subnet", &subnet(), &keep]);
    let out = b.ok(&[
        "network",
        "prune",
        "-f",
        "--filter",
        &format!("label=p={a}"),
    ]);
    assert_eq!(out, format!("Deleted Networks:\n{a}\n\n"));
    assert_eq!(
        b.ok(&["network", "ls", "-q", "--filter", &format!("name={keep}")])
            .lines()
            .count(),
        1
    );
    b.ok(&["network", "rm", &keep]);
}

fn connect_and_disconnect(e: &Engine) {
    let b = &e.berth;
    let name = unique("cn");
    let p = create_network(b, &name);
    let other = unique("co");
    b.ok(&["network", "create", "--subnet", &subnet(), &other]);
    let a = format!("{name}-a");
    let c = format!("{name}-c");
    b.ok(&[
        "run",
        "-d",
        "--name",
        &a,
        "--network",
        &name,
        "busybox",
        "sleep",
        "60",
    ]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "--network",
        &other,
        "busybox",
        "sleep",
        "60",
    ]);
    let fixed = format!("{p}.77");
    b.ok(&[
        "network", "connect", "--alias", "cee", "--ip", &fixed, &name, &c,
    ]);
    let addrs = b.ok(&["exec", &c, "ip", "-o", "-4", "addr", "show"]);
    assert!(addrs.contains(&format!("inet {fixed}/24")), "{addrs}");
    let seen = b.ok(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{name}\").IPAddress}}}}"),
        &c,
    ]);
    assert_eq!(seen.trim(), fixed);
    let aliases = b.ok(&[
        "inspect",
        "-f",
        &format!("{{{{json (index .NetworkSettings.Networks \"{name}\").Aliases}}}}"),
        &c,
    ]);
    assert!(aliases.contains("\"cee\""), "{aliases}");
    let members = b.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{end}}",
        &name,
    ]);
    let mut members: Vec<&str> = members.split_whitespace().collect();
    members.sort();
    assert_eq!(members, [a.as_str(), c.as_str()]);
    // a reaches c's new address over the network they now share
    b.ok(&["exec", &a, "ping", "-c", "1", "-W", "3", &fixed]);
    let o = b.run(&["network", "rm", &name]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("has active endpoints"), "{o:?}");
    b.ok(&["network", "disconnect", &name, &c]);
    let addrs = b.ok(&["exec", &c, "ip", "-o", "-4", "addr", "show"]);
    assert!(!addrs.contains(&fixed), "{addrs}");
    let o = b.run(&["network", "disconnect", &name, &c]);
    assert_ne!(o.code, 0, "{o:?}");
    b.ok(&["network", "disconnect", "-f", &name, &a]);
    b.ok(&["rm", "-f", &a, &c]);
    b.ok(&["network", "rm", &name, &other]);
}

/// `run --ip --network-alias --mac-address --dns-search --dns-option`: seen inside the
/// container and in inspect.
fn run_with_address_alias_mac_and_dns(e: &Engine) {
    let b = &e.berth;
    let name = unique("rn");
    let p = create_network(b, &name);
    let c = format!("{name}-c");
    let fixed = format!("{p}.42");
    b.ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "--network",
        &name,
        "--ip",
        &fixed,
        "--network-alias",
        "web",
        "--net-alias",
        "www",
        "--mac-address",
        "92:d0:c6:0a:29:33",
        "--dns-search",
        "example.test",
        "--dns-option",
        "ndots:3",
        "busybox",
        "sleep",
        "60",
    ]);
    let link = b.ok(&["exec", &c, "ip", "-o", "link", "show", "eth0"]);
    assert!(link.contains("92:d0:c6:0a:29:33"), "{link}");
    let addrs = b.ok(&["exec", &c, "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(addrs.contains(&format!("inet {fixed}/24")), "{addrs}");
    let aliases = b.ok(&[
        "inspect",
        "-f",
        &format!("{{{{json (index .NetworkSettings.Networks \"{name}\").Aliases}}}}"),
        &c,
    ]);
    assert!(
        aliases.contains("\"web\"") && aliases.contains("\"www\""),
        "{aliases}"
    );
    let resolv = b.ok(&["exec", &c, "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.lines().any(|l| l == "search example.test"),
        "{resolv}"
    );
    assert!(resolv.lines().any(|l| l == "options ndots:3"), "{resolv}");
    // A fixed address outside the network's subnet is refused.
    let o = b.run(&[
        "run",
        "--rm",
        "--network",
        &name,
        "--ip",
        "192.0.2.9",
        "busybox",
        "true",
    ]);
    assert_ne!(o.code, 0, "{o:?}");
    b.ok(&["rm", "-f", &c]);
    b.ok(&["network", "rm", &name]);
}

fn refusals(e: &Engine) {
    let b = &e.berth;
    let name = unique("rf");
    let net = subnet();
    b.ok(&["network", "create", "--subnet", &net, &name]);
    let o = b.run(&["network", "create", &name]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("already exists"), "{o:?}");
    let o = b.run(&["network", "create", "--subnet", &net, &format!("{name}-2")]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.to_lowercase().contains("overlap"), "{o:?}");
    let o = b.run(&["network", "rm", "no-such-network"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("not found"), "{o:?}");
    let o = b.run(&["network", "rm", "none"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("pre-defined") || o.stderr.contains("predefined"),
        "{o:?}"
    );
    let o = b.run(&["network", "connect", &name, "no-such-container"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("No such container"), "{o:?}");
    b.ok(&["network", "rm", &name]);
    let o = b.run(&["network", "ls", "--filter", "bogus=1"]);
    assert_ne!(o.code, 0, "{o:?}");
}
