//! The embedded DNS server of one container: UDP and TCP sockets bound to 127.0.0.11:53
//! inside the container's network namespace, served by tasks of the engine's runtime.
//! Names of containers on the container's user networks are answered from the name table;
//! everything else is forwarded to the upstream servers: from the host's namespace for
//! loopback upstreams (a resolver on the host's 127.0.0.1 is only reachable there), from
//! the container's namespace for the others (as its own queries would go). A container
//! attached only to internal networks gets no forwarding.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::message::{self, ParseError, Rcode, Record};
use super::table::NameTable;
use crate::error::{Error, Result};
use crate::netns::{run_in_async, Netns};

/// Where the server listens inside the container.
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const TTL: u32 = 600;
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Forwarded queries in flight per container; more are answered SERVFAIL at once.
const MAX_IN_FLIGHT: usize = 100;

/// What a container's server needs to answer.
#[derive(Debug, Clone)]
pub struct ServerContext {
    pub table: Arc<RwLock<NameTable>>,
    /// The container's view: the user networks it is on (ids) and whether any of its
    /// networks may reach the outside. Updated as the container connects and disconnects.
    pub view: Arc<RwLock<ContainerView>>,
    pub upstreams: Arc<Vec<SocketAddr>>,
    pub container_ns: Netns,
    pub host_ns: Option<Netns>,
}

#[derive(Debug, Clone, Default)]
pub struct ContainerView {
    pub networks: Vec<String>,
    pub forward: bool,
    /// Legacy links on user networks: (network id, alias, target name). The alias (also
    /// `<alias>.<network>`) resolves, for this container only, to what the target's name
    /// resolves to on that network.
    pub links: Vec<(String, String, String)>,
}

impl ContainerView {
    /// Addresses of `name` (lower case) as one of the container's link aliases.
    fn link_lookup(&self, table: &NameTable, name: &str) -> Vec<std::net::Ipv4Addr> {
        for (net, alias, target) in &self.links {
            if !self.networks.contains(net) {
                continue;
            }
            let alias = alias.to_ascii_lowercase();
            let on_net = table.network_name(net).map(|n| format!("{alias}.{n}"));
            if name == alias || on_net.as_deref() == Some(name) {
                let ips = table.lookup(std::slice::from_ref(net), &target.to_ascii_lowercase());
                if !ips.is_empty() {
                    return ips;
                }
            }
        }
        Vec::new()
    }
}

/// A running server; stopping (or dropping) it closes its sockets.
#[derive(Debug)]
pub struct DnsServer {
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    pub fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds the sockets inside the container's namespace and starts serving.
pub async fn start(ctx: ServerContext) -> Result<DnsServer> {
    let (udp, tcp) = run_in_async(Some(&ctx.container_ns), || {
        let addr = SocketAddr::V4(SocketAddrV4::new(DNS_ADDR, 53));
        let what = "bind the embedded DNS server to 127.0.0.11:53 in the container";
        let udp = std::net::UdpSocket::bind(addr).map_err(|e| Error::io(what, e))?;
        let tcp = std::net::TcpListener::bind(addr).map_err(|e| Error::io(what, e))?;
        udp.set_nonblocking(true).map_err(|e| Error::io(what, e))?;
        tcp.set_nonblocking(true).map_err(|e| Error::io(what, e))?;
        Ok((udp, tcp))
    })
    .await?;
    let udp = Arc::new(UdpSocket::from_std(udp).map_err(|e| Error::io("register DNS socket", e))?);
    let tcp = TcpListener::from_std(tcp).map_err(|e| Error::io("register DNS socket", e))?;
    let limit = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let ctx = Arc::new(ctx);
    let udp_task = tokio::spawn(serve_udp(udp, ctx.clone(), limit.clone()));
    let tcp_task = tokio::spawn(serve_tcp(tcp, ctx, limit));
    Ok(DnsServer {
        tasks: vec![udp_task, tcp_task],
    })
}

async fn serve_udp(sock: Arc<UdpSocket>, ctx: Arc<ServerContext>, limit: Arc<Semaphore>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("embedded DNS: receive failed: {e}");
                continue;
            }
        };
        let query = buf[..n].to_vec();
        let (sock, ctx) = (sock.clone(), ctx.clone());
        let permit = limit.clone().try_acquire_owned().ok();
        tokio::spawn(async move {
            if let Some(resp) = answer(&ctx, &query, false, permit.is_some()).await {
                let _ = sock.send_to(&resp, peer).await;
            }
            drop(permit);
        });
    }
}

async fn serve_tcp(listener: TcpListener, ctx: Arc<ServerContext>, limit: Arc<Semaphore>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (ctx, limit) = (ctx.clone(), limit.clone());
        tokio::spawn(async move {
            let _ = serve_tcp_conn(stream, &ctx, &limit).await;
        });
    }
}

async fn serve_tcp_conn(
    mut stream: TcpStream,
    ctx: &ServerContext,
    limit: &Arc<Semaphore>,
) -> std::io::Result<()> {
    loop {
        let query = match tokio::time::timeout(TCP_IDLE, read_framed(&mut stream)).await {
            Ok(Ok(q)) => q,
            _ => return Ok(()),
        };
        let permit = limit.clone().try_acquire_owned().ok();
        let Some(resp) = answer(ctx, &query, true, permit.is_some()).await else {
            return Ok(());
        };
        write_framed(&mut stream, &resp).await?;
    }
}

async fn read_framed(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = s.read_u16().await? as usize;
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_framed(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    out.extend_from_slice(msg);
    s.write_all(&out).await
}

/// The answer to one query, `None` to stay silent (garbage, or a response sent to us).
pub async fn answer(
    ctx: &ServerContext,
    raw: &[u8],
    tcp: bool,
    may_forward: bool,
) -> Option<Vec<u8>> {
    let q = match message::parse_query(raw) {
        Ok(q) => q,
        Err(ParseError::Reply(id, rc)) => return Some(message::error_response(id, rc)),
        Err(_) => return None,
    };
    let max_len = if tcp { 65535 } else { message::MAX_UDP_LEN };
    let name = q.name();
    let view = ctx.view.read().expect("dns view lock").clone();
    if q.qclass == message::CLASS_IN {
        let table = ctx.table.read().expect("dns table lock");
        if q.qtype == message::TYPE_PTR {
            if let Some(ip) = message::ptr_address(&name) {
                if let Some(n) = table.reverse(&view.networks, ip) {
                    return Some(message::response(
                        &q,
                        Rcode::NoError,
                        &[Record::Ptr(n)],
                        TTL,
                        max_len,
                    ));
                }
            }
        } else {
            let mut ips = view.link_lookup(&table, &name);
            if ips.is_empty() {
                ips = table.lookup(&view.networks, &name);
            }
            if !ips.is_empty() {
                // A known name: A records; no IPv6 and nothing else (NOERROR, no records).
                let recs: Vec<Record> = if q.qtype == message::TYPE_A {
                    ips.into_iter().map(Record::A).collect()
                } else {
                    Vec::new()
                };
                return Some(message::response(&q, Rcode::NoError, &recs, TTL, max_len));
            }
        }
    }
    if !view.forward || !may_forward || ctx.upstreams.is_empty() {
        return Some(message::response(&q, Rcode::ServFail, &[], 0, max_len));
    }
    for up in ctx.upstreams.iter() {
        let ns = if up.ip().is_loopback() {
            ctx.host_ns.as_ref()
        } else {
            Some(&ctx.container_ns)
        };
        let r = if tcp {
            forward_tcp(ns, *up, raw).await
        } else {
            forward_udp(ns, *up, raw, q.id).await
        };
        match r {
            Ok(resp) => return Some(resp),
            Err(e) => tracing::debug!("embedded DNS: upstream {up} failed for {name}: {e}"),
        }
    }
    Some(message::response(&q, Rcode::ServFail, &[], 0, max_len))
}

async fn forward_udp(
    ns: Option<&Netns>,
    up: SocketAddr,
    raw: &[u8],
    id: u16,
) -> std::io::Result<Vec<u8>> {
    let sock = run_in_async(ns, || {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")
            .map_err(|e| Error::io("forwarding socket", e))?;
        s.set_nonblocking(true)
            .map_err(|e| Error::io("forwarding socket", e))?;
        Ok(s)
    })
    .await
    .map_err(std::io::Error::other)?;
    let sock = UdpSocket::from_std(sock)?;
    sock.connect(up).await?;
    sock.send(raw).await?;
    let mut buf = vec![0u8; 65535];
    tokio::time::timeout(FORWARD_TIMEOUT, async {
        loop {
            let n = sock.recv(&mut buf).await?;
            // Only the answer to our query (same id) counts.
            if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                return Ok(buf[..n].to_vec());
            }
        }
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))?
}

async fn forward_tcp(ns: Option<&Netns>, up: SocketAddr, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let stream = run_in_async(ns, move || {
        let s = std::net::TcpStream::connect_timeout(&up, FORWARD_TIMEOUT)
            .map_err(|e| Error::io("connect upstream", e))?;
        s.set_nonblocking(true)
            .map_err(|e| Error::io("connect upstream", e))?;
        Ok(s)
    })
    .await
    .map_err(std::io::Error::other)?;
    let mut stream = TcpStream::from_std(stream)?;
    tokio::time::timeout(FORWARD_TIMEOUT, async {
        write_framed(&mut stream, raw).await?;
        read_framed(&mut stream).await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))?
}

#[cfg(test)]
mod tests {
    use super::super::table::DnsEntry;
    use super::*;

    #[test]
    fn link_aliases_resolve_to_their_target_on_their_network() {
        let mut t = NameTable::default();
        let db = DnsEntry {
            container_id: "aaaaaaaaaaaa1111".into(),
            name: "db".into(),
            aliases: vec![],
            ip: Ipv4Addr::new(10, 197, 0, 2),
        };
        t.add("n1", "Front", db);
        let view = ContainerView {
            networks: vec!["n1".into()],
            forward: false,
            links: vec![("n1".into(), "Store".into(), "db".into())],
        };
        let want = vec![Ipv4Addr::new(10, 197, 0, 2)];
        assert_eq!(view.link_lookup(&t, "store"), want);
        assert_eq!(view.link_lookup(&t, "store.front"), want);
        assert!(view.link_lookup(&t, "db").is_empty());
        // Not once the container has left the network.
        let gone = ContainerView {
            networks: vec![],
            ..view
        };
        assert!(gone.link_lookup(&t, "store").is_empty());
    }
}
