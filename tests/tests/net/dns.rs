//! The embedded DNS server (127.0.0.11 inside each container on a user network): names,
//! aliases and short ids; none on the default bridge; other names forwarded to resolvers
//! that the test itself runs inside its lab.

use std::net::{Ipv4Addr, SocketAddr};

use berth_network::dns::message::{Record, TYPE_A, TYPE_AAAA, TYPE_PTR};
use berth_network::files::DnsSettings;
use berth_network::{CreateRequest, EndpointRequest, NetworkController, SandboxSpec};
use berth_tests::net::{runtime, wait_for, DnsResponder, Lab, Sandbox};
use berth_tests::require;

const EMBEDDED: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11)), 53);

fn spec(sb: &Sandbox, id: &str) -> SandboxSpec {
    SandboxSpec {
        container_id: format!("{id}{}", "0".repeat(64 - id.len())),
        name: sb.name.clone(),
        netns: sb.ns_path.clone(),
        dns: Vec::new(),
    }
}

fn a_records(sb: &Sandbox, name: &str) -> Vec<Ipv4Addr> {
    let ans = sb
        .dns_query(EMBEDDED, name, TYPE_A)
        .unwrap_or_else(|| panic!("no DNS answer for {name} in {}", sb.name));
    ans.records
        .iter()
        .filter_map(|r| match r {
            Record::A(ip) => Some(*ip),
            _ => None,
        })
        .collect()
}

/// Writes the container's resolv.conf and hosts as the engine would.
fn write_files(rt: &tokio::runtime::Runtime, c: &NetworkController, sb: &Sandbox, id: &str) {
    let cid = spec(sb, id).container_id;
    let rc = rt
        .block_on(c.resolv_conf(&cid, &DnsSettings::default()))
        .unwrap();
    sb.write("etc/resolv.conf", &rc);
    let hosts = rt.block_on(c.hosts(&cid, &cid[..12], "", &[]));
    sb.write("etc/hosts", &hosts);
}

#[test]
fn containers_on_a_user_network_find_each_other_by_name_alias_and_short_id() {
    require!(root);
    let mut lab = Lab::new();
    let rt = runtime();
    // The lab host's resolver: names the engine does not know (busybox nslookup tries
    // `database.lab.test` first) get NXDOMAIN from it.
    let _host_resolver = DnsResponder::start(
        &lab.host,
        "127.0.0.53:53".parse().unwrap(),
        Ipv4Addr::new(10, 197, 99, 1),
    );
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    rt.block_on(c.create_network(CreateRequest {
        name: "apps".into(),
        subnet: Some("10.197.10.0/24".into()),
        ..Default::default()
    }))
    .unwrap();
    let mut srv = lab.sandbox("srv");
    let cli = lab.sandbox("cli");
    rt.block_on(c.connect(
        &spec(&srv, "5e7"),
        "apps",
        EndpointRequest {
            aliases: vec!["database".into()],
            ..Default::default()
        },
    ))
    .unwrap();
    let e = rt
        .block_on(c.connect(&spec(&cli, "c11"), "apps", EndpointRequest::default()))
        .unwrap();
    assert_eq!(
        e.dns_names,
        vec!["cli".to_string(), "c11000000000".to_string()]
    );
    for sb in [&srv, &cli] {
        write_files(&rt, &c, sb, if sb.name == "srv" { "5e7" } else { "c11" });
    }
    let rc = std::fs::read_to_string(cli.root.join("etc/resolv.conf")).unwrap();
    assert!(rc.contains("nameserver 127.0.0.11\n"), "{rc}");
    assert!(rc.contains("options ndots:0"), "{rc}");
    assert!(rc.contains("search lab.test"), "{rc}");

    let srv_ip = Ipv4Addr::new(10, 197, 10, 2);
    for name in ["srv", "SRV", "database", "5e7000000000", "srv.apps"] {
        assert_eq!(a_records(&cli, name), vec![srv_ip], "{name}");
    }
    // AAAA of a known name: no record, no error (no IPv6 on berth networks).
    let ans = cli.dns_query(EMBEDDED, "srv", TYPE_AAAA).unwrap();
    assert_eq!((ans.rcode, ans.records.len()), (0, 0));
    // Reverse lookup of a container address.
    let ans = cli
        .dns_query(EMBEDDED, "2.10.197.10.in-addr.arpa", TYPE_PTR)
        .unwrap();
    assert_eq!(ans.records, vec![Record::Ptr("srv.apps".into())]);

    // The real client path: busybox nslookup and nc resolving through /etc/resolv.conf.
    // (busybox nslookup appends the search domains to names without a dot, and only tries
    // those; glibc, which nc uses, honours ndots:0 and asks for the bare name.)
    let (ok, out, err) = cli.sh("nslookup database.apps");
    assert!(ok && out.contains("10.197.10.2"), "{out}{err}");
    srv.spawn("while true; do echo pong | nc -l -p 7000; done");
    let mut got = String::new();
    assert!(
        wait_for(5, || {
            got = cli.sh("echo ping | nc -w 2 srv 7000").1;
            got.trim() == "pong"
        }),
        "nc srv 7000 got {got:?}"
    );

    // After a disconnect the name is gone; a rename follows.
    let cid = spec(&srv, "5e7").container_id;
    rt.block_on(c.rename(&cid, "server")).unwrap();
    assert_eq!(a_records(&cli, "server"), vec![srv_ip]);
    rt.block_on(c.disconnect(&cid, "apps")).unwrap();
    assert!(cli.dns_query(EMBEDDED, "server", TYPE_A).is_some());
    assert!(a_records(&cli, "server").is_empty());
    // srv is on no user network any more: its server is gone.
    assert!(srv.dns_query(EMBEDDED, "cli", TYPE_A).is_none());
}

#[test]
fn the_default_bridge_has_no_name_resolution() {
    require!(root);
    let mut lab = Lab::new();
    let rt = runtime();
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    let a = lab.sandbox("a");
    let b = lab.sandbox("b");
    for (sb, id) in [(&a, "aa1"), (&b, "bb1")] {
        rt.block_on(c.connect(&spec(sb, id), "bridge", EndpointRequest::default()))
            .unwrap();
        write_files(&rt, &c, sb, id);
    }
    let rc = std::fs::read_to_string(a.root.join("etc/resolv.conf")).unwrap();
    // The host's resolvers, without loopback ones (the lab host has only 127.0.0.53):
    // docker's fallback then, and never 127.0.0.11.
    assert!(!rc.contains("127.0.0."), "{rc}");
    assert!(rc.contains("nameserver "), "{rc}");
    // Nothing answers on 127.0.0.11 inside the container (the query stays in its loopback).
    assert!(a.dns_query(EMBEDDED, "b", TYPE_A).is_none());
    let hosts = std::fs::read_to_string(a.root.join("etc/hosts")).unwrap();
    assert!(hosts.contains("172.17.0.2\taa1000000000\n"), "{hosts}");
    assert!(!hosts.contains("\tb\n"));
}

#[test]
fn other_names_are_forwarded_to_the_hosts_resolver_and_to_dns_servers() {
    require!(root);
    let mut lab = Lab::new();
    let rt = runtime();
    // The lab host's resolver at 127.0.0.53 (its resolv.conf names it): loopback, so the
    // engine asks it from the host's namespace.
    let _host_resolver = DnsResponder::start(
        &lab.host,
        "127.0.0.53:53".parse().unwrap(),
        Ipv4Addr::new(10, 197, 99, 1),
    );
    let c = rt.block_on(NetworkController::open(lab.config())).unwrap();
    rt.block_on(c.create_network(CreateRequest {
        name: "fwd".into(),
        subnet: Some("10.197.11.0/24".into()),
        ..Default::default()
    }))
    .unwrap();
    rt.block_on(c.create_network(CreateRequest {
        name: "sealed".into(),
        subnet: Some("10.197.12.0/24".into()),
        internal: true,
        ..Default::default()
    }))
    .unwrap();
    let a = lab.sandbox("a");
    rt.block_on(c.connect(&spec(&a, "a31"), "fwd", EndpointRequest::default()))
        .unwrap();
    write_files(&rt, &c, &a, "a31");
    assert_eq!(
        a_records(&a, "outside.test"),
        vec![Ipv4Addr::new(10, 197, 99, 1)]
    );
    let (ok, out, err) = a.sh("nslookup outside.test");
    assert!(ok && out.contains("10.197.99.1"), "{out}{err}");

    // A container with its own --dns: a resolver the lab host runs on the network's
    // gateway address, reached from the container's namespace.
    let _gw_resolver = DnsResponder::start(
        &lab.host,
        "10.197.11.1:53".parse().unwrap(),
        Ipv4Addr::new(10, 197, 99, 2),
    );
    let b = lab.sandbox("b");
    let mut sb = spec(&b, "b31");
    sb.dns = vec![Ipv4Addr::new(10, 197, 11, 1)];
    rt.block_on(c.connect(&sb, "fwd", EndpointRequest::default()))
        .unwrap();
    assert_eq!(
        a_records(&b, "outside.test"),
        vec![Ipv4Addr::new(10, 197, 99, 2)]
    );
    // Container names still come from the engine.
    assert_eq!(a_records(&b, "a"), vec![Ipv4Addr::new(10, 197, 11, 2)]);

    // Only on an internal network: names resolve, nothing is forwarded.
    let d = lab.sandbox("d");
    rt.block_on(c.connect(&spec(&d, "d31"), "sealed", EndpointRequest::default()))
        .unwrap();
    let ans = d.dns_query(EMBEDDED, "outside.test", TYPE_A).unwrap();
    assert_eq!(
        (ans.rcode, ans.records.len()),
        (2, 0),
        "SERVFAIL, nothing forwarded"
    );
    assert_eq!(a_records(&d, "d"), vec![Ipv4Addr::new(10, 197, 12, 2)]);
}
