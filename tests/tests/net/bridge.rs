//! The bridge driver for real: bridges, veth pairs into namespaces, addresses, routes and
//! their removal, inside a private "host" namespace per test (see berth_tests::net).

use std::net::Ipv4Addr;

use berth_network::{CreateRequest, EndpointRequest, MacAddr, NetworkController, SandboxSpec};
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

fn user_net(name: &str, subnet: &str) -> CreateRequest {
    CreateRequest {
        name: name.into(),
        subnet: Some(subnet.into()),
        ..Default::default()
    }
}

#[test]
fn two_containers_on_a_user_network_talk_over_tcp() {
    require!(root);
    let mut lab = Lab::new();
    let rt = runtime();
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    let net = rt
        .block_on(c.create_network(user_net("front", "10.197.1.0/24")))
        .unwrap();
    let bridge = format!("br-{}", &net.id[..12]);
    assert!(lab.host_links().contains(&bridge), "bridge {bridge} exists");
    assert!(lab
        .host_sh(&format!("ip -4 -o addr show {bridge}"))
        .contains("10.197.1.1/24"));

    let mut srv = lab.sandbox("srv");
    let cli = lab.sandbox("cli");
    let e1 = rt
        .block_on(c.connect(&spec(&srv, "aa"), "front", EndpointRequest::default()))
        .unwrap();
    let e2 = rt
        .block_on(c.connect(&spec(&cli, "bb"), "front", EndpointRequest::default()))
        .unwrap();
    assert_eq!(e1.ip, Some(Ipv4Addr::new(10, 197, 1, 2)));
    assert_eq!(e2.ip, Some(Ipv4Addr::new(10, 197, 1, 3)));
    assert_eq!(e1.prefix_len, 24);
    assert_eq!(e1.gateway, Some(Ipv4Addr::new(10, 197, 1, 1)));
    assert_eq!(e1.mac.unwrap().to_string(), "02:42:0a:c5:01:02");
    assert_eq!(e1.interface.as_deref(), Some("eth0"));

    // What the container sees: eth0 with its address and MAC, lo up, default route.
    let (ok, addr, _) = srv.sh("ip -o addr show eth0; ip -o link show eth0; ip -o link show lo");
    assert!(ok);
    assert!(addr.contains("inet 10.197.1.2/24"), "{addr}");
    assert!(addr.contains("02:42:0a:c5:01:02"), "{addr}");
    assert!(addr.contains("lo: <LOOPBACK,UP"), "{addr}");
    assert!(srv.routes().contains("default via 10.197.1.1 dev eth0"));

    // TCP across the bridge with busybox nc.
    srv.spawn("while true; do echo pong | nc -l -p 7000; done");
    let mut out = String::new();
    assert!(
        wait_for(5, || {
            out = cli.sh("echo ping | nc -w 2 10.197.1.2 7000").1;
            out.trim() == "pong"
        }),
        "client got {out:?}"
    );

    // The host-side veths are ports of the bridge with hairpin mode on.
    let ports = lab.host_sh(&format!("ip -o link show master {bridge}"));
    assert_eq!(ports.lines().count(), 2, "{ports}");
    let detail = lab.host_sh("ip -d link show type veth");
    assert!(detail.contains("hairpin on"), "{detail}");
}

#[test]
fn internal_network_has_no_default_route_and_is_isolated() {
    require!(root);
    let mut lab = Lab::new();
    let rt = runtime();
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    let net = rt
        .block_on(c.create_network(CreateRequest {
            internal: true,
            ..user_net("backend", "10.197.2.0/24")
        }))
        .unwrap();
    let sb = lab.sandbox("db");
    rt.block_on(c.connect(&spec(&sb, "cc"), "backend", EndpointRequest::default()))
        .unwrap();
    // Only the link route: no default route (read the table, send nothing).
    let routes = sb.routes();
    assert!(!routes.contains("default"), "{routes}");
    assert!(routes.contains("10.197.2.0/24 dev eth0"), "{routes}");
    let comments = lab.rule_comments("berth");
    let tag = &net.id[..12];
    assert!(
        comments.contains(&format!("network {tag} internal")),
        "{comments:?}"
    );
    assert!(
        !comments.contains(&format!("network {tag} outbound")),
        "{comments:?}"
    );
    // A second, ordinary network: the container's default route goes there.
    rt.block_on(c.create_network(user_net("public", "10.197.3.0/24")))
        .unwrap();
    rt.block_on(c.connect(&spec(&sb, "cc"), "public", EndpointRequest::default()))
        .unwrap();
    let routes = sb.routes();
    assert!(
        routes.contains("default via 10.197.3.1 dev eth1"),
        "{routes}"
    );
}

#[test]
fn requested_addresses_macs_and_aliases_are_honoured_or_refused() {
    require!(root);
    let mut lab = Lab::new();
    let rt = runtime();
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    rt.block_on(c.create_network(CreateRequest {
        ip_range: Some("10.197.4.128/25".into()),
        gateway: Some("10.197.4.254".into()),
        ..user_net("fixed", "10.197.4.0/24")
    }))
    .unwrap();
    let a = lab.sandbox("a");
    let b = lab.sandbox("b");
    let mac: MacAddr = "02:00:00:c0:ff:ee".parse().unwrap();
    let e = rt
        .block_on(c.connect(
            &spec(&a, "a1"),
            "fixed",
            EndpointRequest {
                ip: Some(Ipv4Addr::new(10, 197, 4, 7)),
                mac: Some(mac),
                aliases: vec!["db".into()],
            },
        ))
        .unwrap();
    assert_eq!(e.ip, Some(Ipv4Addr::new(10, 197, 4, 7)));
    assert_eq!(e.gateway, Some(Ipv4Addr::new(10, 197, 4, 254)));
    assert!(a.sh("ip -o link show eth0").1.contains("02:00:00:c0:ff:ee"));
    assert!(a.routes().contains("default via 10.197.4.254"));

    let links_before = lab.host_links();
    // The same address again: refused, and nothing is left behind.
    let err = rt
        .block_on(c.connect(
            &spec(&b, "b1"),
            "fixed",
            EndpointRequest {
                ip: Some(Ipv4Addr::new(10, 197, 4, 7)),
                ..Default::default()
            },
        ))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("10.197.4.7 is already in use on network fixed"),
        "{err}"
    );
    for (ip, why) in [
        (Ipv4Addr::new(10, 197, 5, 7), "not in subnet"),
        (Ipv4Addr::new(10, 197, 4, 254), "reserved"),
    ] {
        let err = rt
            .block_on(c.connect(
                &spec(&b, "b1"),
                "fixed",
                EndpointRequest {
                    ip: Some(ip),
                    ..Default::default()
                },
            ))
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{ip}: {err}");
    }
    let err = rt
        .block_on(c.connect(
            &spec(&b, "b1"),
            "bridge",
            EndpointRequest {
                aliases: vec!["x".into()],
                ..Default::default()
            },
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("user defined networks"), "{err}");
    let err = rt
        .block_on(c.connect(&spec(&b, "b1"), "nonesuch", EndpointRequest::default()))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "network nonesuch not found");
    assert_eq!(
        lab.host_links(),
        links_before,
        "failed connects leave no links"
    );
    assert!(!b.sh("ip -o link").1.contains("eth0"));
    assert!(rt
        .block_on(c.endpoints(&spec(&b, "b1").container_id))
        .is_empty());

    // Dynamic addresses come from the ip-range.
    let e = rt
        .block_on(c.connect(&spec(&b, "b1"), "fixed", EndpointRequest::default()))
        .unwrap();
    assert_eq!(e.ip, Some(Ipv4Addr::new(10, 197, 4, 128)));
}

#[test]
fn bad_network_requests_are_refused_clearly() {
    require!(root);
    let lab = Lab::new();
    let rt = runtime();
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    rt.block_on(c.create_network(user_net("one", "10.197.6.0/24")))
        .unwrap();
    let links = lab.host_links();
    let cases: Vec<(CreateRequest, &str)> = vec![
        (
            user_net("one", "10.197.7.0/24"),
            "network with name one already exists",
        ),
        (
            user_net("two", "10.197.6.128/25"),
            "overlaps with network one",
        ),
        (
            user_net("two", "10.197.7.1/24"),
            "did you mean 10.197.7.0/24",
        ),
        (user_net("-bad", "10.197.7.0/24"), "invalid network name"),
        (
            CreateRequest {
                gateway: Some("10.197.8.1".into()),
                ..user_net("two", "10.197.7.0/24")
            },
            "gateway 10.197.8.1 is not in subnet 10.197.7.0/24",
        ),
        (
            CreateRequest {
                driver: "overlay".into(),
                ..user_net("two", "10.197.7.0/24")
            },
            "not supported",
        ),
        (
            CreateRequest {
                driver: "host".into(),
                ..user_net("two", "10.197.7.0/24")
            },
            "only one instance",
        ),
        (
            CreateRequest {
                enable_ipv6: true,
                ..user_net("two", "10.197.7.0/24")
            },
            "IPv6",
        ),
    ];
    for (req, want) in cases {
        let err = rt.block_on(c.create_network(req)).unwrap_err().to_string();
        assert!(err.contains(want), "want {want:?} in {err:?}");
    }
    assert_eq!(lab.host_links(), links, "refused requests leave no bridge");
    let err = rt
        .block_on(c.remove_network("bridge"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("predefined"), "{err}");
    assert_eq!(rt.block_on(c.networks()).len(), 4);
}

#[test]
fn default_subnets_skip_the_hosts_routes() {
    require!(root);
    let lab = Lab::new();
    // The lab host already uses 172.18.0.0/16 (an address on a link of its own).
    lab.host_sh("ip link add hostlink type veth peer name hostpeer && ip addr add 172.18.0.5/16 dev hostlink && ip link set hostlink up");
    let rt = runtime();
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    let bridge = rt.block_on(c.network("bridge")).unwrap().network;
    assert_eq!(bridge.pool.unwrap().subnet.to_string(), "172.17.0.0/16");
    assert!(lab.host_links().contains(&"berth0".to_string()));
    let n = rt
        .block_on(c.create_network(CreateRequest {
            name: "auto".into(),
            ..Default::default()
        }))
        .unwrap();
    assert_eq!(n.pool.unwrap().subnet.to_string(), "172.19.0.0/16");
}

#[test]
fn removing_containers_and_networks_removes_every_link_address_and_rule() {
    require!(root);
    let mut lab = Lab::new();
    let rt = runtime();
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    let links_start = lab.host_links();
    let rules_start = lab.rule_comments("berth");
    let net = rt
        .block_on(c.create_network(user_net("gone", "10.197.9.0/24")))
        .unwrap();
    let a = lab.sandbox("a");
    let b = lab.sandbox("b");
    let (ida, idb) = (spec(&a, "a2").container_id, spec(&b, "b2").container_id);
    for (sb, id) in [(&a, "a2"), (&b, "b2")] {
        rt.block_on(c.connect(&spec(sb, id), "gone", EndpointRequest::default()))
            .unwrap();
        rt.block_on(c.connect(&spec(sb, id), "bridge", EndpointRequest::default()))
            .unwrap();
    }
    let spec80 = berth_network::PortSpec::from_api("80/tcp", "", "").unwrap();
    rt.block_on(c.publish(&ida, &[spec80])).unwrap();
    assert_eq!(
        lab.host_links().len(),
        links_start.len() + 5,
        "a bridge and four veths"
    );
    let rules = lab.rule_comments("berth");
    assert!(
        rules
            .iter()
            .any(|r| r.starts_with(&format!("container {}", &ida[..12]))),
        "{rules:?}"
    );

    // Removing the network while in use is refused and changes nothing.
    let err = rt
        .block_on(c.remove_network("gone"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("has active endpoints (a, b)"), "{err}");

    rt.block_on(c.disconnect(&idb, "gone")).unwrap();
    assert!(!b.sh("ip -o link").1.contains("eth0:"), "eth0 left b");
    rt.block_on(c.release(&ida)).unwrap();
    rt.block_on(c.release(&idb)).unwrap();
    rt.block_on(c.remove_network(&net.id[..6])).unwrap();

    assert_eq!(
        lab.host_links(),
        links_start,
        "every veth and the bridge are gone"
    );
    assert_eq!(
        lab.rule_comments("berth"),
        rules_start,
        "only the default network's rules remain"
    );
    assert!(
        !lab.host_sh("ip -4 -o addr").contains("10.197.9."),
        "no address of the network remains"
    );
    for sb in [&a, &b] {
        let (_, links, _) = sb.sh("ip -o link");
        assert_eq!(links.lines().count(), 1, "only lo in {}: {links}", sb.name);
    }
    // The released addresses can be handed out again.
    let bridge = rt.block_on(c.network("bridge")).unwrap();
    assert!(bridge.endpoints.is_empty());
    assert!(bridge.network.pool.unwrap().allocated.is_empty());
}
