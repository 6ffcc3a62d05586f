//! Published ports: DNAT from the (lab) host's addresses and its loopback, hairpin from
//! containers, free-port picking, conflicts — all inside the test's own namespaces.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use berth_network::{CreateRequest, EndpointRequest, NetworkController, PortSpec, SandboxSpec};
use berth_tests::net::{runtime, wait_for, Lab, Sandbox};
use berth_tests::require;

fn spec(sb: &Sandbox, id: &str) -> SandboxSpec {
    SandboxSpec {
        container_id: format!("{id}{}", "0".repeat(64 - id.len())),
        name: sb.name.clone(),
        netns: sb.ns_path.clone(),
        dns: Vec::new(),
    }
}

/// Reads what a TCP server at `addr` sends, from inside the lab host.
fn host_read(lab: &Lab, addr: SocketAddr) -> String {
    lab.in_host(move || {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
            return String::new();
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
}

#[test]
fn a_published_port_answers_on_the_hosts_loopback_and_addresses() {
    require!(root);
    let mut lab = Lab::new();
    let rt = runtime();
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    let mut web = lab.sandbox("web");
    let id = spec(&web, "3eb").container_id;
    rt.block_on(c.connect(&spec(&web, "3eb"), "bridge", EndpointRequest::default()))
        .unwrap();
    web.spawn("while true; do echo hello | nc -l -p 80; done");
    let bound = rt
        .block_on(c.publish(
            &id,
            &[
                PortSpec::from_api("80/tcp", "", "18080").unwrap(),
                PortSpec::from_api("80/tcp", "127.0.0.1", "").unwrap(),
            ],
        ))
        .unwrap();
    assert_eq!(bound[0].host_port, 18080);
    assert_eq!(bound[0].host_ip, Ipv4Addr::UNSPECIFIED);
    let picked = bound[1].host_port;
    assert!(picked != 0 && picked != 18080);
    assert_eq!(rt.block_on(c.ports(&id)), bound);

    // From the host's loopback, to both ports.
    let mut got = String::new();
    assert!(
        wait_for(5, || {
            got = host_read(&lab, "127.0.0.1:18080".parse().unwrap());
            got.trim() == "hello"
        }),
        "127.0.0.1:18080 gave {got:?}"
    );
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, picked));
    assert!(wait_for(5, || host_read(&lab, addr).trim() == "hello"));
    // From another of the host's addresses (the bridge's), only the all-address port.
    assert!(wait_for(5, || host_read(
        &lab,
        "172.17.0.1:18080".parse().unwrap()
    )
    .trim()
        == "hello"));
    assert_eq!(
        host_read(
            &lab,
            SocketAddr::from((Ipv4Addr::new(172, 17, 0, 1), picked))
        ),
        ""
    );

    // The host port is held: nothing else on the host can bind it.
    let taken = lab.in_host(|| std::net::TcpListener::bind("0.0.0.0:18080").is_err());
    assert!(taken, "the published port is reserved on the host");

    // Hairpin: a container reaches the published port through the host, also its own.
    let other = lab.sandbox("other");
    rt.block_on(c.connect(&spec(&other, "0a1"), "bridge", EndpointRequest::default()))
        .unwrap();
    for (who, sb) in [
        ("another container", &other),
        ("the container itself", &web),
    ] {
        let mut got = String::new();
        assert!(
            wait_for(5, || {
                got = sb.sh("nc -w 2 172.17.0.1 18080").1;
                got.trim() == "hello"
            }),
            "hairpin from {who}: {got:?}"
        );
    }

    // Unpublishing (release) frees the port and removes the rules.
    rt.block_on(c.release(&id)).unwrap();
    assert!(lab.in_host(|| std::net::TcpListener::bind("0.0.0.0:18080").is_ok()));
    let rules = lab.rule_comments("berth");
    assert!(
        !rules.iter().any(|r| r.contains("3eb000000000")),
        "{rules:?}"
    );
}

#[test]
fn udp_ports_and_user_networks_publish_too() {
    require!(root);
    let mut lab = Lab::new();
    let rt = runtime();
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    rt.block_on(c.create_network(CreateRequest {
        name: "pub".into(),
        subnet: Some("10.197.20.0/24".into()),
        ..Default::default()
    }))
    .unwrap();
    let mut echo = lab.sandbox("echo");
    let id = spec(&echo, "ec0").container_id;
    rt.block_on(c.connect(&spec(&echo, "ec0"), "pub", EndpointRequest::default()))
        .unwrap();
    // A UDP echo server in the container (a socket bound inside its namespace).
    let sock = echo.in_ns(|| UdpSocket::bind("0.0.0.0:5353").unwrap());
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(&buf[..n], peer);
        }
    });
    echo.spawn("sleep 30");
    let b = rt
        .block_on(c.publish(
            &id,
            &[PortSpec::from_api("5353/udp", "127.0.0.1", "15353").unwrap()],
        ))
        .unwrap();
    assert_eq!(b[0].key(), "5353/udp");
    let echoed = lab.in_host(|| {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        for _ in 0..10 {
            s.send_to(b"marco", "127.0.0.1:15353").unwrap();
            let mut buf = [0u8; 64];
            if let Ok(n) = s.recv(&mut buf) {
                return String::from_utf8_lossy(&buf[..n]).into_owned();
            }
        }
        String::new()
    });
    assert_eq!(echoed, "marco");
}

#[test]
fn port_conflicts_are_refused_and_leave_nothing_behind() {
    require!(root);
    let mut lab = Lab::new();
    let rt = runtime();
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    let a = lab.sandbox("a");
    let b = lab.sandbox("b");
    let (ida, idb) = (spec(&a, "a40").container_id, spec(&b, "b40").container_id);
    for (sb, id) in [(&a, "a40"), (&b, "b40")] {
        rt.block_on(c.connect(&spec(sb, id), "bridge", EndpointRequest::default()))
            .unwrap();
    }
    rt.block_on(c.publish(&ida, &[PortSpec::from_api("80/tcp", "", "18081").unwrap()]))
        .unwrap();
    let rules = lab.rule_comments("berth");
    // b asks for a free port and a taken one: refused as a whole.
    let err = rt
        .block_on(c.publish(
            &idb,
            &[
                PortSpec::from_api("81/tcp", "", "18082").unwrap(),
                PortSpec::from_api("80/tcp", "", "18081").unwrap(),
            ],
        ))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("0.0.0.0:18081/tcp") && err.contains("already allocated"),
        "{err}"
    );
    assert_eq!(lab.rule_comments("berth"), rules, "no rule was added");
    assert!(rt.block_on(c.ports(&idb)).is_empty());
    assert!(
        lab.in_host(|| std::net::TcpListener::bind("0.0.0.0:18082").is_ok()),
        "the port reserved before the failure was let go"
    );
    // A port some other program of the host holds.
    let holder = lab.in_host(|| std::net::TcpListener::bind("127.0.0.1:18083").unwrap());
    let err = rt
        .block_on(c.publish(
            &idb,
            &[PortSpec::from_api("80/tcp", "127.0.0.1", "18083").unwrap()],
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("already allocated"), "{err}");
    drop(holder);
    // A range: the first free port of it.
    let got = rt
        .block_on(c.publish(
            &idb,
            &[PortSpec::from_api("80/tcp", "", "18081-18085").unwrap()],
        ))
        .unwrap();
    assert_eq!(got[0].host_port, 18082);
}
