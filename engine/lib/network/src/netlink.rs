//! Links, addresses and routes through rtnetlink. Each call runs on its own thread inside
//! the target namespace with a small current-thread runtime: a netlink socket belongs to the
//! namespace it was opened in, and the caller's runtime threads never change namespace.

use std::future::Future;
use std::net::Ipv4Addr;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoPortKind, InfoVeth, LinkAttribute, LinkFlags, LinkMessage,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};

use crate::error::{Error, Result};
use crate::netns::{run_in_async, Netns};
use crate::subnet::Ipv4Net;

/// Runs `f` with a netlink handle opened inside `ns` (the caller's namespace when `None`).
pub async fn with_netlink<T, F, Fut>(ns: Option<&Netns>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    run_in_async(ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::io("start a netlink runtime", e))?;
        rt.block_on(async move {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|e| Error::io("open a netlink socket", e))?;
            let task = tokio::spawn(conn);
            let r = f(handle).await;
            task.abort();
            r
        })
    })
    .await
}

/// Runs `f` with two netlink handles on one thread: the first opened in `host` (the
/// caller's namespace when `None`), the second inside `ctr` (a socket stays in the
/// namespace it was opened in).
pub async fn with_netlink_pair<T, F, Fut>(host: Option<&Netns>, ctr: &Netns, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Handle, Handle) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    let ctr = ctr.clone();
    run_in_async(host, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::io("start a netlink runtime", e))?;
        rt.block_on(async move {
            let (conn, host, _) =
                rtnetlink::new_connection().map_err(|e| Error::io("open a netlink socket", e))?;
            let host_task = tokio::spawn(conn);
            let r = async {
                ctr.enter()?;
                let (conn, ctr, _) = rtnetlink::new_connection()
                    .map_err(|e| Error::io("open a netlink socket", e))?;
                let ctr_task = tokio::spawn(conn);
                let r = f(host, ctr).await;
                ctr_task.abort();
                r
            }
            .await;
            host_task.abort();
            r
        })
    })
    .await
}

/// A link as seen in a dump: index, name, and the bridge it is a port of.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub controller: Option<u32>,
    pub up: bool,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    pub alias: Option<String>,
}

fn link_info(m: &LinkMessage) -> LinkInfo {
    let mut l = LinkInfo {
        index: m.header.index,
        name: String::new(),
        controller: None,
        up: m.header.flags.contains(LinkFlags::Up),
        mac: None,
        mtu: None,
        alias: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Controller(c) => l.controller = Some(*c),
            LinkAttribute::Mtu(v) => l.mtu = Some(*v),
            LinkAttribute::IfAlias(a) => l.alias = Some(a.clone()),
            LinkAttribute::Address(b) if b.len() == 6 => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(b);
                l.mac = Some(mac);
            }
            _ => {}
        }
    }
    l
}

/// Every link of the namespace.
pub async fn links(h: &Handle) -> Result<Vec<LinkInfo>> {
    let msgs: Vec<LinkMessage> = h
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::netlink("list links", e))?;
    Ok(msgs.iter().map(link_info).collect())
}

/// The link called `name`, if there is one (asked by name: no dump of every link).
pub async fn link_by_name(h: &Handle, name: &str) -> Result<Option<LinkInfo>> {
    let r: std::result::Result<Vec<LinkMessage>, _> = h
        .link()
        .get()
        .match_name(name)
        .execute()
        .try_collect()
        .await;
    match r {
        Ok(msgs) => Ok(msgs.iter().map(link_info).find(|l| l.name == name)),
        Err(e) if is_no_device(&e) => Ok(None),
        Err(e) => Err(Error::netlink(format!("look up link {name}"), e)),
    }
}

fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

fn is_no_device(e: &rtnetlink::Error) -> bool {
    errno_of(e) == Some(libc::ENODEV)
}

/// Deletes the link called `name` (named in the request itself); a link that is not there
/// is fine.
pub async fn delete_link(h: &Handle, name: &str) -> Result<bool> {
    match h
        .link()
        .del_with_message(LinkUnspec::new_with_name(name).build())
        .execute()
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if is_no_device(&e) => Ok(false),
        Err(e) => Err(Error::netlink(format!("delete link {name}"), e)),
    }
}

/// The IPv4 addresses (with prefix) on link `index`.
pub async fn addresses(h: &Handle, index: u32) -> Result<Vec<(Ipv4Addr, u8)>> {
    let msgs: Vec<_> = h
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::netlink("list addresses", e))?;
    let mut out = Vec::new();
    for m in msgs {
        for a in &m.attributes {
            if let AddressAttribute::Address(std::net::IpAddr::V4(ip)) = a {
                out.push((*ip, m.header.prefix_len));
            }
        }
    }
    Ok(out)
}

/// Creates the bridge `name` if it does not exist (marked with `alias`, so a later
/// clean-up can tell berth's bridges from others), gives it `gateway/prefix` (removing
/// nothing else), sets the MTU and brings it up. Returns its index.
pub async fn ensure_bridge(
    h: &Handle,
    name: &str,
    alias: &str,
    mtu: u32,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<u32> {
    let link = match link_by_name(h, name).await? {
        Some(l) => l,
        None => {
            h.link()
                .add(LinkBridge::new(name).mtu(mtu).build())
                .execute()
                .await
                .map_err(|e| Error::netlink(format!("create bridge {name}"), e))?;
            link_by_name(h, name)
                .await?
                .ok_or_else(|| Error::netlink(format!("create bridge {name}"), "it vanished"))?
        }
    };
    let index = link.index;
    // The kernel takes an alias only on a change of an existing link, not at creation.
    if link.alias.as_deref() != Some(alias) {
        h.link()
            .set(LinkUnspec::new_with_index(index).alias(alias).build())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("mark bridge {name} as berth's"), e))?;
    }
    if !addresses(h, index)
        .await?
        .iter()
        .any(|(ip, p)| *ip == gateway && *p == prefix)
    {
        h.address()
            .add(index, gateway.into(), prefix)
            .execute()
            .await
            .map_err(|e| {
                Error::netlink(
                    format!("add address {gateway}/{prefix} to bridge {name}"),
                    e,
                )
            })?;
    }
    h.link()
        .set(LinkUnspec::new_with_index(index).mtu(mtu).up().build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("bring bridge {name} up"), e))?;
    Ok(index)
}

/// A container's connection to a bridge: the veth pair and the container's interface.
#[derive(Debug, Clone)]
pub struct VethConfig {
    /// The host end, a port of `bridge`.
    pub host_name: String,
    pub bridge: String,
    pub mtu: u32,
    /// The container's namespace (the peer is created right inside it).
    pub ns_fd: i32,
    /// The interface name wanted in the container (the first free `ethN` is taken when it
    /// is in use there).
    pub name: String,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// The default route to add, unless the namespace already has one.
    pub default_gateway: Option<Ipv4Addr>,
}

/// Connects a container to a bridge: one request makes the veth pair, the host end a port
/// of the bridge and up, the peer inside the container's namespace with its final name,
/// MAC and MTU; then hairpin mode, the peer up with its address, and the default route. `host` is a handle
/// in the bridge's namespace, `ctr` one in the container's. Returns the container's
/// interface name. Nothing is left behind on failure.
pub async fn connect_veth(host: &Handle, ctr: &Handle, c: &VethConfig) -> Result<String> {
    let bridge = link_by_name(host, &c.bridge).await?.ok_or_else(|| {
        Error::netlink(
            format!("connect to bridge {}", c.bridge),
            "the bridge is missing: restart berthd to recreate it",
        )
    })?;
    let mut name = c.name.clone();
    if let Err(e) = add_veth(host, c, bridge.index, &name).await {
        // The wanted name may be taken in the container (by an interface of its own).
        let taken = links(ctr).await?;
        if errno_of(&e) != Some(libc::EEXIST) || !taken.iter().any(|l| l.name == name) {
            return Err(Error::netlink(format!("create veth {}", c.host_name), e));
        }
        name = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !taken.iter().any(|l| &l.name == n))
            .expect("some ethN is free");
        add_veth(host, c, bridge.index, &name)
            .await
            .map_err(|e| Error::netlink(format!("create veth {}", c.host_name), e))?;
    }
    let r = configure_veth(host, ctr, c, &name).await;
    if r.is_err() {
        let _ = delete_link(host, &c.host_name).await;
    }
    r.map(|_| name)
}

/// The veth pair in one request (see [`connect_veth`]).
async fn add_veth(
    h: &Handle,
    c: &VethConfig,
    bridge_index: u32,
    peer_name: &str,
) -> std::result::Result<(), rtnetlink::Error> {
    // The peer cannot come up in this request: it has no peer of its own yet (ENOTCONN).
    let peer = LinkUnspec::new_with_name(peer_name)
        .address(c.mac.to_vec())
        .mtu(c.mtu)
        .setns_by_fd(c.ns_fd)
        .build();
    let msg = LinkVeth::new(&c.host_name, peer_name)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .mtu(c.mtu)
        .controller(bridge_index)
        .up()
        .build();
    h.link().add(msg).execute().await
}

/// Hairpin mode on the host end; the interface up with its address, `lo` and the default
/// route in the container.
async fn configure_veth(host: &Handle, ctr: &Handle, c: &VethConfig, name: &str) -> Result<()> {
    let what = |s: &str| format!("{s} veth {}", c.host_name);
    host.link()
        .set_port(
            LinkMessageBuilder::<LinkBridgePort>::default()
                .name(c.host_name.clone())
                .set_port_kind(InfoPortKind::Bridge)
                .hairpin(true)
                .build(),
        )
        .execute()
        .await
        .map_err(|e| Error::netlink(what("set hairpin mode on"), e))?;
    let what = |s: &str| format!("{s} {name} in the container");
    let link = link_by_name(ctr, name)
        .await?
        .ok_or_else(|| Error::netlink(what("find"), "it did not arrive"))?;
    ctr.link()
        .set(LinkUnspec::new_with_index(link.index).up().build())
        .execute()
        .await
        .map_err(|e| Error::netlink(what("bring up"), e))?;
    ctr.address()
        .add(link.index, c.ip.into(), c.prefix)
        .execute()
        .await
        .map_err(|e| Error::netlink(what(&format!("add address {}/{} to", c.ip, c.prefix)), e))?;
    loopback_up(ctr).await?;
    if let Some(gw) = c.default_gateway {
        if !has_default_route(ctr).await? {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(link.index)
                .build();
            ctr.route().add(route).execute().await.map_err(|e| {
                Error::netlink(what(&format!("add the default route via {gw} on")), e)
            })?;
        }
    }
    Ok(())
}

/// Brings `lo` up (a container on no network, or on `none`, still has loopback).
pub async fn loopback_up(h: &Handle) -> Result<()> {
    match h
        .link()
        .set(LinkUnspec::new_with_name("lo").up().build())
        .execute()
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_no_device(&e) => Ok(()),
        Err(e) => Err(Error::netlink("bring lo up", e)),
    }
}

/// The main table's IPv4 routes.
pub async fn routes(h: &Handle) -> Result<Vec<RouteMessage>> {
    let msgs: Vec<RouteMessage> = h
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(|e| Error::netlink("list routes", e))?;
    Ok(msgs
        .into_iter()
        .filter(|m| route_table(m) == libc::RT_TABLE_MAIN as u32)
        .collect())
}

fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(m.header.table as u32)
}

/// The destination of a route (`0.0.0.0/0` for the default route).
pub fn route_destination(m: &RouteMessage) -> Ipv4Net {
    let dst = m
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    Ipv4Net::from_host(dst, m.header.destination_prefix_length).expect("prefix <= 32")
}

/// The gateway of a route, if it has one.
pub fn route_gateway(m: &RouteMessage) -> Option<Ipv4Addr> {
    m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Gateway(RouteAddress::Inet(ip)) => Some(*ip),
        _ => None,
    })
}

pub async fn has_default_route(h: &Handle) -> Result<bool> {
    Ok(routes(h)
        .await?
        .iter()
        .any(|r| r.header.destination_prefix_length == 0))
}

/// The prefixes the host already uses: destinations of its routes (not the default route)
/// and its addresses. New networks must not overlap any of them.
pub async fn host_prefixes(h: &Handle) -> Result<Vec<Ipv4Net>> {
    let mut out: Vec<Ipv4Net> = routes(h)
        .await?
        .iter()
        .map(route_destination)
        .filter(|n| n.prefix() > 0)
        .collect();
    for l in links(h).await? {
        for (ip, p) in addresses(h, l.index).await? {
            if !ip.is_loopback() {
                out.push(Ipv4Net::from_host(ip, p)?);
            }
        }
    }
    Ok(out)
}
