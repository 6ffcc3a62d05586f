//! `berth port`: a container's published ports, as docker prints them. Against berthd
//! only: the harness's dockerd runs without a bridge, so it publishes nothing.

use berth_tests::cli::Engine;
use berth_tests::{require, unique};

#[test]
fn port_lists_published_ports() {
    require!(root);
    let e = Engine::berthd();
    e.reset();
    let e = &e;
    let name = unique("ports");
    e.berth.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        "127.0.0.1::80",
        "-p",
        "127.0.0.1::9/udp",
        "busybox",
        "sleep",
        "100",
    ]);
    let all = e.berth.ok(&["port", &name]);
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 2, "{all}");
    assert!(lines[0].starts_with("9/udp -> 127.0.0.1:"), "{all}");
    assert!(lines[1].starts_with("80/tcp -> 127.0.0.1:"), "{all}");
    let host_port = lines[1].rsplit(':').next().unwrap();
    assert!(host_port.parse::<u16>().is_ok_and(|p| p > 0), "{all}");
    assert_eq!(
        e.berth.ok(&["port", &name, "80"]),
        format!("127.0.0.1:{host_port}\n")
    );
    assert_eq!(
        e.berth.ok(&["container", "port", &name, "80/tcp"]),
        format!("127.0.0.1:{host_port}\n")
    );
    let o = e.berth.run(&["port", &name, "81"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .contains(&format!("No public port '81/tcp' published for {name}")),
        "{o:?}"
    );
    e.berth.ok(&["rm", "-f", &name]);
}
