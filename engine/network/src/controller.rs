//! The network controller: the one object the engine talks to. It owns the persisted
//! state, the kernel objects made from it (bridges, veths, the nftables table, port
//! reservations, DNS servers) and keeps the two in step, also after a crash (`reconcile`).
//!
//! Every change is written ahead: a record is saved before the kernel object it describes
//! is made, and removed only after the object is gone, so after a crash the state knows of
//! everything that may exist and a reconcile can remove what is no longer wanted.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::sync::Mutex;

use crate::dns::server::{self as dns_server, ContainerView, DnsServer, ServerContext};
use crate::dns::{short_id, DnsEntry, NameTable};
use crate::error::{Error, Result};
use crate::files::{self, DnsSettings, ExtraHost, ResolvConf};
use crate::ipam::Pool;
use crate::mac::MacAddr;
use crate::model::{
    check_name, new_id, options as opt, random_hex, BridgeSettings, CreateRequest, Driver,
    EndpointInfo, EndpointRecord, EndpointRequest, LiveContainer, Network, ReconcileReport,
    SandboxRecord, SandboxSpec,
};
use crate::netlink::{self, with_netlink, IfaceConfig};
use crate::netns::{run_in_async, write_sysctl, Netns};
use crate::nft::{self, RuleNetwork, RulePort, Ruleset};
use crate::pools::{self, PoolSpec};
use crate::portalloc::PortAllocator;
use crate::ports::{PortBinding, PortSpec};
use crate::state::State;
use crate::subnet::Ipv4Net;

/// Names of the predefined networks.
pub const DEFAULT_NETWORK: &str = "bridge";
pub const HOST_NETWORK: &str = "host";
pub const NONE_NETWORK: &str = "none";

/// How the controller is set up (from berthd's flags and config file).
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Where the state file lives (created 0700).
    pub state_dir: PathBuf,
    /// The namespace treated as "the host" (bridges, NAT, published ports); the caller's
    /// own namespace when `None`.
    pub host_netns: Option<PathBuf>,
    /// The nftables table berth owns (`table ip <table>`); also marks berth's bridges.
    pub table: String,
    /// The default network's bridge.
    pub default_bridge: String,
    /// The default network's subnet (docker's `--bip` network); picked from the pools when
    /// `None`.
    pub default_bridge_subnet: Option<Ipv4Net>,
    pub default_bridge_gateway: Option<Ipv4Addr>,
    /// Pools for networks created without `--subnet`.
    pub default_pools: Vec<PoolSpec>,
    /// Servers containers use instead of the host's resolv.conf ones (daemon `--dns`).
    pub dns: Vec<Ipv4Addr>,
    /// The host's resolver configuration.
    pub resolv_conf: PathBuf,
    /// Turn on `net.ipv4.ip_forward` (needed for outbound traffic and published ports from
    /// other hosts).
    pub ip_forward: bool,
    /// Masquerade outbound traffic of the default network (docker's `--ip-masq`).
    pub ip_masq: bool,
    pub mtu: u32,
}

impl ControllerConfig {
    /// docker's defaults with berth's names, keeping state in `state_dir`.
    pub fn new(state_dir: PathBuf) -> Self {
        ControllerConfig {
            state_dir,
            host_netns: None,
            table: "berth".into(),
            default_bridge: "berth0".into(),
            default_bridge_subnet: None,
            default_bridge_gateway: None,
            default_pools: pools::default_pools(),
            dns: Vec::new(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            ip_forward: true,
            ip_masq: true,
            mtu: 1500,
        }
    }
}

/// A network with the containers attached to it (what `network inspect` shows).
#[derive(Debug, Clone)]
pub struct NetworkView {
    pub network: Network,
    pub endpoints: Vec<EndpointInfo>,
}

/// What the controller holds for a running container beyond its records.
struct LiveSandbox {
    netns: Option<Netns>,
    view: Arc<RwLock<ContainerView>>,
    dns: Option<DnsServer>,
}

struct Inner {
    state: State,
    live: HashMap<String, LiveSandbox>,
    ports: PortAllocator,
}

pub struct NetworkController {
    cfg: ControllerConfig,
    host_ns: Option<Netns>,
    names: Arc<RwLock<NameTable>>,
    inner: Mutex<Inner>,
}

impl NetworkController {
    /// Loads the state, makes sure the predefined networks exist and every bridge network
    /// has its bridge, turns on forwarding and writes the rules. Endpoints are left as they
    /// are until [`reconcile`](Self::reconcile) says which containers still run.
    pub async fn open(cfg: ControllerConfig) -> Result<NetworkController> {
        create_private_dir(&cfg.state_dir)?;
        if cfg.table.is_empty()
            || !cfg
                .table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::invalid(format!(
                "invalid nftables table name {:?}: letters, digits and _ only",
                cfg.table
            )));
        }
        check_bridge_name(&cfg.default_bridge)?;
        let host_ns = cfg.host_netns.as_deref().map(Netns::open).transpose()?;
        let state = State::load(&cfg.state_dir)?;
        let ports = PortAllocator::new(
            host_ns.clone(),
            PortAllocator::ephemeral_range(host_ns.as_ref()),
        );
        let c = NetworkController {
            cfg,
            host_ns,
            names: Arc::new(RwLock::new(NameTable::default())),
            inner: Mutex::new(Inner {
                state,
                live: HashMap::new(),
                ports,
            }),
        };
        let mut inner = c.inner.lock().await;
        c.ensure_predefined(&mut inner).await?;
        if c.cfg.ip_forward {
            run_in_async(c.host_ns.as_ref(), || {
                write_sysctl("net/ipv4/ip_forward", "1")
            })
            .await?;
        }
        let bridges: Vec<Network> = inner
            .state
            .networks
            .values()
            .filter(|n| n.driver == Driver::Bridge)
            .cloned()
            .collect();
        for n in &bridges {
            c.ensure_bridge(n).await?;
        }
        {
            let mut names = c.names.write().expect("names lock");
            for ep in &inner.state.endpoints {
                if let Some(entry) = dns_entry(&inner.state, ep) {
                    let n = &inner.state.networks[&ep.network_id];
                    names.add(&n.id, &n.name, entry);
                }
            }
        }
        c.apply_rules(&inner.state)?;
        drop(inner);
        Ok(c)
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.cfg
    }

    /// The predefined networks: the default bridge (subnet from the config or the pools),
    /// `host` and `none`.
    async fn ensure_predefined(&self, inner: &mut Inner) -> Result<()> {
        let st = &mut inner.state;
        let existing = st
            .networks
            .values()
            .find(|n| n.predefined && n.driver == Driver::Bridge)
            .cloned();
        let wanted_subnet = self.cfg.default_bridge_subnet;
        let replace = match &existing {
            None => true,
            Some(n) => {
                let pool = n.pool.as_ref();
                let differs = wanted_subnet.is_some_and(|s| pool.map(|p| p.subnet) != Some(s))
                    || n.bridge.as_ref().map(|b| &b.name) != Some(&self.cfg.default_bridge);
                let unused = st.endpoints_of_network(&n.id).next().is_none();
                if differs && !unused {
                    tracing::warn!(
                        "the default bridge network keeps {} while containers use it; the new setting applies once they are gone",
                        pool.map(|p| p.subnet.to_string()).unwrap_or_default()
                    );
                }
                differs && unused
            }
        };
        if replace {
            if let Some(old) = &existing {
                if let Some(b) = &old.bridge {
                    let name = b.name.clone();
                    with_netlink(self.host_ns.as_ref(), move |h| async move {
                        netlink::delete_link(&h, &name).await.map(|_| ())
                    })
                    .await?;
                }
                st.networks.remove(&old.id);
            }
            let subnet = match wanted_subnet {
                Some(s) => s,
                None => {
                    let in_use: Vec<Ipv4Net> = st
                        .networks
                        .values()
                        .filter_map(|n| n.pool.as_ref().map(|p| p.subnet))
                        .collect();
                    let host = self.host_prefixes().await?;
                    pools::pick(&self.cfg.default_pools, &in_use, &host).ok_or(Error::NoFreePool)?
                }
            };
            let pool = Pool::new(subnet, self.cfg.default_bridge_gateway, None)?;
            let mut options = BTreeMap::new();
            options.insert(opt::DEFAULT_BRIDGE.into(), "true".into());
            options.insert(opt::ICC.into(), "true".into());
            options.insert(opt::MASQUERADE.into(), self.cfg.ip_masq.to_string());
            options.insert(opt::HOST_BINDING.into(), "0.0.0.0".into());
            options.insert(opt::BRIDGE_NAME.into(), self.cfg.default_bridge.clone());
            options.insert(opt::MTU.into(), self.cfg.mtu.to_string());
            let n = Network {
                id: new_id(),
                name: DEFAULT_NETWORK.into(),
                driver: Driver::Bridge,
                created: now(),
                internal: false,
                attachable: false,
                labels: BTreeMap::new(),
                options,
                pool: Some(pool),
                bridge: Some(BridgeSettings {
                    name: self.cfg.default_bridge.clone(),
                    mtu: self.cfg.mtu,
                    masquerade: self.cfg.ip_masq,
                    host_binding: None,
                }),
                predefined: true,
            };
            st.networks.insert(n.id.clone(), n);
        }
        for (name, driver) in [(HOST_NETWORK, Driver::Host), (NONE_NETWORK, Driver::Null)] {
            if !st
                .networks
                .values()
                .any(|n| n.predefined && n.driver == driver)
            {
                let n = Network {
                    id: new_id(),
                    name: name.into(),
                    driver,
                    created: now(),
                    internal: false,
                    attachable: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    pool: None,
                    bridge: None,
                    predefined: true,
                };
                st.networks.insert(n.id.clone(), n);
            }
        }
        st.save(&self.cfg.state_dir)
    }

    async fn host_prefixes(&self) -> Result<Vec<Ipv4Net>> {
        with_netlink(self.host_ns.as_ref(), |h| async move {
            netlink::host_prefixes(&h).await
        })
        .await
    }

    /// The bridge of `n` with its gateway address, up; loopback access to published ports
    /// needs `route_localnet` on it.
    async fn ensure_bridge(&self, n: &Network) -> Result<()> {
        let (Some(b), Some(pool)) = (n.bridge.clone(), n.pool.clone()) else {
            return Ok(());
        };
        let alias = self.bridge_alias();
        let name = b.name.clone();
        with_netlink(self.host_ns.as_ref(), move |h| async move {
            netlink::ensure_bridge(&h, &name, &alias, b.mtu, pool.gateway, pool.subnet.prefix())
                .await
        })
        .await?;
        if !n.internal {
            let key = format!("net/ipv4/conf/{}/route_localnet", b.name);
            run_in_async(self.host_ns.as_ref(), move || write_sysctl(&key, "1")).await?;
        }
        Ok(())
    }

    /// The alias marking bridges this controller made.
    fn bridge_alias(&self) -> String {
        format!("berth:{}", self.cfg.table)
    }

    fn apply_rules(&self, st: &State) -> Result<()> {
        nft::apply(self.host_ns.as_ref(), &self.cfg.table, &rules_of(st))
    }

    fn save(&self, st: &State) -> Result<()> {
        st.save(&self.cfg.state_dir)
    }

    // ----- networks -------------------------------------------------------------------

    /// Creates a bridge network.
    pub async fn create_network(&self, req: CreateRequest) -> Result<Network> {
        check_name("network", &req.name)?;
        match req.driver.as_str() {
            "" | "bridge" => {}
            "host" | "null" | "none" => {
                return Err(Error::invalid(format!(
                    "only one instance of \"{}\" network is allowed",
                    req.driver
                )))
            }
            d => {
                return Err(Error::invalid(format!(
                    "network driver {d:?} is not supported: berth creates bridge networks (host and none are predefined)"
                )))
            }
        }
        if req.enable_ipv6 {
            return Err(Error::invalid(
                "IPv6 networks are not supported: create the network without --ipv6",
            ));
        }
        let mut inner = self.inner.lock().await;
        if inner.state.networks.values().any(|n| n.name == req.name) {
            return Err(Error::NetworkExists(req.name));
        }
        let id = new_id();
        let bridge = parse_bridge_options(&req.options, &id, self.cfg.mtu)?;
        if let Some(other) = inner
            .state
            .networks
            .values()
            .find(|n| n.bridge.as_ref().is_some_and(|b| b.name == bridge.name))
        {
            return Err(Error::invalid(format!(
                "bridge name {} is already used by network {}",
                bridge.name, other.name
            )));
        }
        let parse_ip = |what: &str, s: &Option<String>| -> Result<Option<Ipv4Addr>> {
            s.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<Ipv4Addr>().map_err(|_| {
                        Error::invalid(format!("invalid {what} {s:?}: expected an IPv4 address"))
                    })
                })
                .transpose()
        };
        let gateway = parse_ip("gateway", &req.gateway)?;
        let ip_range = req
            .ip_range
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(str::parse::<Ipv4Net>)
            .transpose()?;
        let in_use: Vec<(&Network, Ipv4Net)> = inner
            .state
            .networks
            .values()
            .filter_map(|n| n.pool.as_ref().map(|p| (n, p.subnet)))
            .collect();
        let subnet = match req.subnet.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => {
                let subnet: Ipv4Net = s.parse()?;
                if let Some((other, os)) = in_use.iter().find(|(_, os)| os.overlaps(&subnet)) {
                    return Err(Error::PoolOverlap {
                        subnet: subnet.to_string(),
                        other: other.name.clone(),
                        other_subnet: os.to_string(),
                    });
                }
                subnet
            }
            None => {
                if gateway.is_some() || ip_range.is_some() {
                    return Err(Error::invalid("--gateway and --ip-range need --subnet"));
                }
                let taken: Vec<Ipv4Net> = in_use.iter().map(|(_, s)| *s).collect();
                let host = self.host_prefixes().await?;
                pools::pick(&self.cfg.default_pools, &taken, &host).ok_or(Error::NoFreePool)?
            }
        };
        let pool = Pool::new(subnet, gateway, ip_range)?;
        let n = Network {
            id: id.clone(),
            name: req.name.clone(),
            driver: Driver::Bridge,
            created: now(),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels,
            options: req.options,
            pool: Some(pool),
            bridge: Some(bridge),
            predefined: false,
        };
        inner.state.networks.insert(id.clone(), n.clone());
        self.save(&inner.state)?;
        let made = async {
            self.ensure_bridge(&n).await?;
            self.apply_rules(&inner.state)
        }
        .await;
        if let Err(e) = made {
            inner.state.networks.remove(&id);
            self.delete_host_link(&n.bridge.as_ref().expect("bridge").name)
                .await;
            let _ = self.save(&inner.state);
            let _ = self.apply_rules(&inner.state);
            return Err(e);
        }
        tracing::info!(network = %n.name, id = %n.short_id(), subnet = %subnet, "network created");
        Ok(n)
    }

    async fn delete_host_link(&self, name: &str) {
        let name = name.to_string();
        let r = with_netlink(self.host_ns.as_ref(), move |h| async move {
            netlink::delete_link(&h, &name).await
        })
        .await;
        if let Err(e) = r {
            tracing::warn!("{e}");
        }
    }

    /// Removes a network without endpoints, with its bridge and rules.
    pub async fn remove_network(&self, key: &str) -> Result<()> {
        let mut inner = self.inner.lock().await;
        let n = inner.state.find_network(key)?.clone();
        if n.predefined {
            return Err(Error::Predefined(n.name));
        }
        let users: Vec<String> = inner
            .state
            .endpoints_of_network(&n.id)
            .map(|e| container_name(&inner.state, &e.container_id))
            .collect();
        if !users.is_empty() {
            return Err(Error::NetworkInUse {
                name: n.name,
                id: n.id,
                containers: users.join(", "),
            });
        }
        if let Some(b) = &n.bridge {
            let name = b.name.clone();
            with_netlink(self.host_ns.as_ref(), move |h| async move {
                netlink::delete_link(&h, &name).await
            })
            .await?;
        }
        inner.state.networks.remove(&n.id);
        self.save(&inner.state)?;
        self.apply_rules(&inner.state)?;
        tracing::info!(network = %n.name, "network removed");
        Ok(())
    }

    /// Removes every user network without endpoints for which `keep` is false; returns
    /// their names.
    pub async fn prune(&self, keep: impl Fn(&Network) -> bool) -> Result<Vec<String>> {
        let candidates: Vec<Network> = {
            let inner = self.inner.lock().await;
            let st = &inner.state;
            st.networks
                .values()
                .filter(|n| !n.predefined && !keep(n))
                .filter(|n| st.endpoints_of_network(&n.id).next().is_none())
                .cloned()
                .collect()
        };
        let mut removed = Vec::new();
        for n in candidates {
            match self.remove_network(&n.id).await {
                Ok(()) => removed.push(n.name),
                // Someone connected to it meanwhile: not unused any more.
                Err(Error::NetworkInUse { .. }) | Err(Error::NetworkNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// Every network, predefined first, then by name.
    pub async fn networks(&self) -> Vec<NetworkView> {
        let inner = self.inner.lock().await;
        let mut v: Vec<NetworkView> = inner
            .state
            .networks
            .values()
            .map(|n| view_of(&inner.state, n))
            .collect();
        v.sort_by(|a, b| {
            (!a.network.predefined, &a.network.name).cmp(&(!b.network.predefined, &b.network.name))
        });
        v
    }

    /// One network by id, name or unique id prefix.
    pub async fn network(&self, key: &str) -> Result<NetworkView> {
        let inner = self.inner.lock().await;
        let n = inner.state.find_network(key)?;
        Ok(view_of(&inner.state, n))
    }

    // ----- containers -----------------------------------------------------------------

    /// Connects a container to a network: an address from the pool, a veth pair into its
    /// namespace (the default route via the first non-internal network), its names in the
    /// network's DNS.
    pub async fn connect(
        &self,
        sandbox: &SandboxSpec,
        network: &str,
        req: EndpointRequest,
    ) -> Result<EndpointInfo> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let n = inner.state.find_network(network)?.clone();
        let cid = sandbox.container_id.clone();
        let cname = if sandbox.name.is_empty() {
            short_id(&cid).to_string()
        } else {
            sandbox.name.clone()
        };
        if inner
            .state
            .endpoints_of_container(&cid)
            .any(|e| e.network_id == n.id)
        {
            return Err(Error::AlreadyConnected {
                container: cname,
                network: n.name,
            });
        }
        let others: Vec<Driver> = inner
            .state
            .endpoints_of_container(&cid)
            .map(|e| inner.state.networks[&e.network_id].driver)
            .collect();
        let exclusive = |d: Driver| matches!(d, Driver::Host | Driver::Null);
        if !others.is_empty() && (exclusive(n.driver) || others.iter().any(|d| exclusive(*d))) {
            return Err(Error::invalid(format!(
                "container {cname} cannot be on network {} and other networks: host and none networks are exclusive",
                n.name
            )));
        }
        for a in &req.aliases {
            check_name("alias", a)?;
        }
        if n.is_default_bridge() || n.driver != Driver::Bridge {
            if req.ip.is_some() {
                return Err(Error::invalid(format!(
                    "user specified IP address is supported on user defined networks only (not on {})",
                    n.name
                )));
            }
            if !req.aliases.is_empty() {
                return Err(Error::invalid(format!(
                    "network-scoped alias is supported only for containers in user defined networks (not on {})",
                    n.name
                )));
            }
        }
        if req.mac.is_some() && n.driver != Driver::Bridge {
            return Err(Error::invalid(format!(
                "a MAC address cannot be set on network {}",
                n.name
            )));
        }
        let sb = inner
            .state
            .sandboxes
            .entry(cid.clone())
            .or_insert_with(|| SandboxRecord {
                container_id: cid.clone(),
                name: cname.clone(),
                netns: sandbox.netns.clone(),
                dns: sandbox.dns.clone(),
                port_specs: Vec::new(),
                ports: Vec::new(),
            });
        sb.name = cname.clone();
        sb.netns = sandbox.netns.clone();
        sb.dns = sandbox.dns.clone();
        let r = self
            .connect_locked(inner, &n, &cid, &cname, sandbox, req)
            .await;
        if r.is_err() {
            forget_if_unused(inner, &cid);
        }
        r
    }

    async fn connect_locked(
        &self,
        inner: &mut Inner,
        n: &Network,
        cid: &str,
        cname: &str,
        sandbox: &SandboxSpec,
        req: EndpointRequest,
    ) -> Result<EndpointInfo> {
        let cid = cid.to_string();
        let mut ep = EndpointRecord {
            id: new_id(),
            network_id: n.id.clone(),
            container_id: cid.clone(),
            ip: None,
            requested_ip: req.ip,
            mac: None,
            host_veth: None,
            interface: None,
            aliases: req.aliases.clone(),
        };
        match n.driver {
            Driver::Host => {}
            Driver::Null => {
                let ns = self.sandbox_netns(inner, &cid, &sandbox.netns)?;
                with_netlink(Some(&ns), |h| async move { netlink::loopback_up(&h).await }).await?;
            }
            Driver::Bridge => {
                let ns = self.sandbox_netns(inner, &cid, &sandbox.netns)?;
                let pool = inner
                    .state
                    .networks
                    .get_mut(&n.id)
                    .and_then(|n| n.pool.as_mut())
                    .expect("bridge networks have a pool");
                let ip = match req.ip {
                    Some(ip) => pool.allocate_specific(ip, &n.name)?,
                    None => pool.allocate(&n.name)?,
                };
                let (prefix, gateway) = (pool.subnet.prefix(), pool.gateway);
                ep.ip = Some(ip);
                ep.mac = Some(req.mac.unwrap_or_else(|| MacAddr::from_ipv4(ip)));
                ep.host_veth = Some(format!("veth{}", random_hex(7)));
                // Written ahead: after a crash, reconcile knows this veth may exist.
                inner.state.endpoints.push(ep.clone());
                let attached = async {
                    self.save(&inner.state)?;
                    let iface = self.attach(n, &ep, &ns, prefix, gateway).await?;
                    ep.interface = Some(iface);
                    Ok::<(), Error>(())
                }
                .await;
                if let Err(e) = attached {
                    self.undo_endpoint(inner, &ep).await;
                    return Err(e);
                }
                inner.state.endpoints.retain(|e| e.id != ep.id);
            }
        }
        inner.state.endpoints.push(ep.clone());
        if let Err(e) = self.save(&inner.state) {
            self.undo_endpoint(inner, &ep).await;
            return Err(e);
        }
        if let Some(entry) = dns_entry(&inner.state, &ep) {
            self.names
                .write()
                .expect("names lock")
                .add(&n.id, &n.name, entry);
        }
        if let Err(e) = self.refresh_dns(inner, &cid).await {
            self.undo_endpoint(inner, &ep).await;
            let _ = self.refresh_dns(inner, &cid).await;
            return Err(e);
        }
        if n.driver == Driver::Bridge {
            // The container may now have a gateway network for its published ports.
            self.apply_rules(&inner.state)?;
        }
        tracing::info!(container = %cname, network = %n.name, ip = ?ep.ip, "connected");
        Ok(endpoint_info(&inner.state, &ep))
    }

    /// The handle on a container's namespace, opened once and kept while it is connected.
    fn sandbox_netns(&self, inner: &mut Inner, cid: &str, path: &std::path::Path) -> Result<Netns> {
        if let Some(ns) = inner.live.get(cid).and_then(|l| l.netns.clone()) {
            if ns.path() == path {
                return Ok(ns);
            }
        }
        let ns = Netns::open(path)?;
        let live = inner
            .live
            .entry(cid.to_string())
            .or_insert_with(|| LiveSandbox {
                netns: None,
                view: Arc::new(RwLock::new(ContainerView::default())),
                dns: None,
            });
        live.netns = Some(ns.clone());
        Ok(ns)
    }

    /// Creates the veth pair and configures the container's end; returns its interface name.
    async fn attach(
        &self,
        n: &Network,
        ep: &EndpointRecord,
        ns: &Netns,
        prefix: u8,
        gateway: Ipv4Addr,
    ) -> Result<String> {
        let b = n.bridge.clone().expect("bridge network");
        let host_veth = ep.host_veth.clone().expect("veth name");
        let temp = format!("vb{}", random_hex(7));
        let target = ns.clone();
        let peer = temp.clone();
        with_netlink(self.host_ns.as_ref(), move |h| async move {
            let bridge = netlink::link_by_name(&h, &b.name).await?.ok_or_else(|| {
                Error::netlink(
                    format!("connect to bridge {}", b.name),
                    "the bridge is missing: restart berthd to recreate it",
                )
            })?;
            netlink::create_veth(&h, &host_veth, &peer, bridge.index, b.mtu, target.raw_fd()).await
        })
        .await?;
        let cfg = IfaceConfig {
            temp_name: temp,
            mac: ep.mac.expect("mac").bytes(),
            mtu: n.bridge.as_ref().expect("bridge").mtu,
            ip: ep.ip.expect("ip"),
            prefix,
            default_gateway: (!n.internal).then_some(gateway),
        };
        with_netlink(Some(ns), move |h| async move {
            netlink::configure_container_iface(&h, &cfg).await
        })
        .await
    }

    /// Removes what `connect` made for `ep`: veth, address, record, DNS names.
    async fn undo_endpoint(&self, inner: &mut Inner, ep: &EndpointRecord) {
        if let Some(v) = &ep.host_veth {
            self.delete_host_link(v).await;
        }
        if let (Some(ip), Some(pool)) = (
            ep.ip,
            inner
                .state
                .networks
                .get_mut(&ep.network_id)
                .and_then(|n| n.pool.as_mut()),
        ) {
            pool.release(ip);
        }
        inner.state.endpoints.retain(|e| e.id != ep.id);
        self.names
            .write()
            .expect("names lock")
            .remove(&ep.network_id, &ep.container_id);
        if let Err(e) = self.save(&inner.state) {
            tracing::warn!("{e}");
        }
    }

    /// Starts, updates or stops the container's DNS server to match its networks.
    async fn refresh_dns(&self, inner: &mut Inner, cid: &str) -> Result<()> {
        let st = &inner.state;
        let eps: Vec<&EndpointRecord> = st.endpoints_of_container(cid).collect();
        let user_nets: Vec<String> = eps
            .iter()
            .filter(|e| st.networks[&e.network_id].has_dns())
            .map(|e| e.network_id.clone())
            .collect();
        let forward = eps.iter().any(|e| {
            let n = &st.networks[&e.network_id];
            n.driver == Driver::Bridge && !n.internal
        });
        let dns = st
            .sandboxes
            .get(cid)
            .map(|s| s.dns.clone())
            .unwrap_or_default();
        let Some(live) = inner.live.get_mut(cid) else {
            return Ok(());
        };
        {
            let mut v = live.view.write().expect("view lock");
            v.networks = user_nets.clone();
            v.forward = forward;
        }
        if user_nets.is_empty() {
            if let Some(mut s) = live.dns.take() {
                s.stop();
            }
            return Ok(());
        }
        if live.dns.is_some() {
            return Ok(());
        }
        let Some(ns) = live.netns.clone() else {
            return Ok(());
        };
        let upstreams = self.upstreams(&dns)?;
        let server = dns_server::start(ServerContext {
            table: self.names.clone(),
            view: live.view.clone(),
            upstreams: Arc::new(upstreams),
            container_ns: ns,
            host_ns: self.host_ns.clone(),
        })
        .await?;
        live.dns = Some(server);
        Ok(())
    }

    /// Where the embedded DNS forwards: the container's `--dns`, else the daemon's, else
    /// the host's resolvers (loopback ones included: they are asked from the host's
    /// namespace), else docker's public fallback.
    fn upstreams(&self, container_dns: &[Ipv4Addr]) -> Result<Vec<std::net::SocketAddr>> {
        let ips: Vec<Ipv4Addr> = if !container_dns.is_empty() {
            container_dns.to_vec()
        } else if !self.cfg.dns.is_empty() {
            self.cfg.dns.clone()
        } else {
            let host = ResolvConf::read(&self.cfg.resolv_conf)?;
            let v4: Vec<Ipv4Addr> = host
                .nameservers
                .iter()
                .filter_map(|ip| match ip {
                    std::net::IpAddr::V4(v) => Some(*v),
                    _ => None,
                })
                .collect();
            if v4.is_empty() {
                files::FALLBACK_NAMESERVERS.to_vec()
            } else {
                v4
            }
        };
        Ok(ips.into_iter().map(|ip| (ip, 53).into()).collect())
    }

    /// Disconnects a container from a network: its veth, address and names go.
    pub async fn disconnect(&self, container_id: &str, network: &str) -> Result<()> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let n = inner.state.find_network(network)?.clone();
        let Some(ep) = inner
            .state
            .endpoints_of_container(container_id)
            .find(|e| e.network_id == n.id)
            .cloned()
        else {
            return Err(Error::NotConnected {
                container: container_name(&inner.state, container_id),
                network: n.name,
            });
        };
        self.remove_endpoint(inner, &ep).await?;
        self.refresh_dns(inner, container_id).await?;
        self.apply_rules(&inner.state)?;
        tracing::info!(container = %container_id, network = %n.name, "disconnected");
        Ok(())
    }

    async fn remove_endpoint(&self, inner: &mut Inner, ep: &EndpointRecord) -> Result<()> {
        if let Some(v) = ep.host_veth.clone() {
            with_netlink(self.host_ns.as_ref(), move |h| async move {
                netlink::delete_link(&h, &v).await
            })
            .await?;
        }
        self.undo_endpoint(inner, ep).await;
        Ok(())
    }

    /// Everything of a container goes: endpoints, published ports, DNS server, records.
    /// Called when the container stops or is removed. Unknown containers are fine.
    pub async fn release(&self, container_id: &str) -> Result<()> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        self.release_locked(inner, container_id).await?;
        self.apply_rules(&inner.state)
    }

    async fn release_locked(&self, inner: &mut Inner, cid: &str) -> Result<()> {
        let eps: Vec<EndpointRecord> = inner.state.endpoints_of_container(cid).cloned().collect();
        for ep in &eps {
            self.remove_endpoint(inner, ep).await?;
        }
        if let Some(sb) = inner.state.sandboxes.remove(cid) {
            for b in &sb.ports {
                inner.ports.release(b);
            }
        }
        if let Some(mut live) = inner.live.remove(cid) {
            if let Some(mut s) = live.dns.take() {
                s.stop();
            }
        }
        self.save(&inner.state)
    }

    /// Publishes a container's ports (replacing earlier ones) on the host: reserves the host
    /// ports and adds DNAT rules to its address on its first non-internal bridge network.
    /// A container on no such network publishes nothing (like docker with `host`/`none`).
    pub async fn publish(
        &self,
        container_id: &str,
        specs: &[PortSpec],
    ) -> Result<Vec<PortBinding>> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let Some(sb) = inner.state.sandboxes.get(container_id).cloned() else {
            return Err(Error::invalid(format!(
                "cannot publish ports of container {container_id}: it is not connected to a network"
            )));
        };
        let Some(gw) = gateway_endpoint(&inner.state, container_id) else {
            if !specs.is_empty() {
                tracing::warn!(container = %sb.name, "published ports are discarded: the container is on no network with outside access");
            }
            return Ok(Vec::new());
        };
        let default_ip = inner.state.networks[&gw.network_id]
            .bridge
            .as_ref()
            .and_then(|b| b.host_binding);
        for b in &sb.ports {
            inner.ports.release(b);
        }
        let mut bound = Vec::new();
        for s in specs {
            let mut s = *s;
            if s.host_ip.is_none() {
                s.host_ip = default_ip;
            }
            match inner.ports.reserve(&s) {
                Ok(b) => bound.push(b),
                Err(e) => {
                    for b in &bound {
                        inner.ports.release(b);
                    }
                    for b in &sb.ports {
                        let _ = inner.ports.hold_binding(b);
                    }
                    return Err(e);
                }
            }
        }
        let rec = inner
            .state
            .sandboxes
            .get_mut(container_id)
            .expect("checked");
        rec.port_specs = specs.to_vec();
        rec.ports = bound.clone();
        let r = self
            .save(&inner.state)
            .and_then(|_| self.apply_rules(&inner.state));
        if let Err(e) = r {
            for b in &bound {
                inner.ports.release(b);
            }
            let rec = inner
                .state
                .sandboxes
                .get_mut(container_id)
                .expect("checked");
            rec.port_specs.clear();
            rec.ports.clear();
            let _ = self.save(&inner.state);
            return Err(e);
        }
        Ok(bound)
    }

    /// The ports published for a container.
    pub async fn ports(&self, container_id: &str) -> Vec<PortBinding> {
        let inner = self.inner.lock().await;
        inner
            .state
            .sandboxes
            .get(container_id)
            .map(|s| s.ports.clone())
            .unwrap_or_default()
    }

    /// A container's connections, in the order they were made.
    pub async fn endpoints(&self, container_id: &str) -> Vec<EndpointInfo> {
        let inner = self.inner.lock().await;
        inner
            .state
            .endpoints_of_container(container_id)
            .map(|e| endpoint_info(&inner.state, e))
            .collect()
    }

    /// Follows a container rename in the records and the DNS.
    pub async fn rename(&self, container_id: &str, new_name: &str) -> Result<()> {
        let mut inner = self.inner.lock().await;
        if let Some(sb) = inner.state.sandboxes.get_mut(container_id) {
            sb.name = new_name.to_string();
            self.save(&inner.state)?;
        }
        self.names
            .write()
            .expect("names lock")
            .rename(container_id, new_name);
        Ok(())
    }

    /// The gateway of the default bridge (what `host-gateway` in `--add-host` stands for).
    pub async fn host_gateway(&self) -> Option<Ipv4Addr> {
        let inner = self.inner.lock().await;
        inner
            .state
            .networks
            .values()
            .find(|n| n.is_default_bridge())
            .and_then(|n| n.pool.as_ref().map(|p| p.gateway))
    }

    /// `/etc/resolv.conf` for a container, given its current networks.
    pub async fn resolv_conf(&self, container_id: &str, dns: &DnsSettings) -> Result<String> {
        let embedded = {
            let inner = self.inner.lock().await;
            let st = &inner.state;
            let any = st
                .endpoints_of_container(container_id)
                .any(|e| st.networks[&e.network_id].has_dns());
            any
        };
        let host = ResolvConf::read(&self.cfg.resolv_conf)?;
        let mut dns = dns.clone();
        if dns.servers.is_empty() {
            dns.servers = self.cfg.dns.clone();
        }
        Ok(files::resolv_conf(&host, &dns, embedded))
    }

    /// `/etc/hosts` for a container, given its current addresses.
    pub async fn hosts(
        &self,
        container_id: &str,
        hostname: &str,
        domainname: &str,
        extra: &[ExtraHost],
    ) -> String {
        let addrs: Vec<Ipv4Addr> = {
            let inner = self.inner.lock().await;
            let v = inner
                .state
                .endpoints_of_container(container_id)
                .filter_map(|e| e.ip)
                .collect();
            v
        };
        files::hosts(hostname, domainname, &addrs, extra)
    }

    // ----- recovery -------------------------------------------------------------------

    /// Brings kernel objects and records in line after a restart: endpoints of containers
    /// that are not in `live` are removed with their veths and addresses; live containers
    /// get their DNS server and port reservations back; links on berth's bridges that no
    /// record knows, and berth bridges of networks that are gone, are deleted; the rules are
    /// rewritten whole (so nothing is doubled).
    pub async fn reconcile(&self, live: &[LiveContainer]) -> Result<ReconcileReport> {
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let mut report = ReconcileReport::default();
        let alive: HashMap<&str, &LiveContainer> =
            live.iter().map(|l| (l.container_id.as_str(), l)).collect();

        // Containers that are gone, or whose endpoints are broken.
        let known: Vec<String> = inner.state.sandboxes.keys().cloned().collect();
        let host_links = with_netlink(self.host_ns.as_ref(), |h| async move {
            netlink::links(&h).await
        })
        .await?;
        for cid in known {
            let mut healthy = false;
            if let Some(l) = alive.get(cid.as_str()) {
                healthy = self.sandbox_netns(inner, &cid, &l.netns).is_ok()
                    && inner
                        .state
                        .endpoints_of_container(&cid)
                        .all(|e| veth_on_bridge(&inner.state, e, &host_links));
                if let Some(sb) = inner.state.sandboxes.get_mut(&cid) {
                    sb.netns = l.netns.clone();
                }
            }
            if healthy {
                continue;
            }
            report.removed_endpoints += inner.state.endpoints_of_container(&cid).count();
            self.release_locked(inner, &cid).await?;
        }
        // Endpoints without a container record (a crash between the two writes).
        let orphans: Vec<EndpointRecord> = inner
            .state
            .endpoints
            .iter()
            .filter(|e| !inner.state.sandboxes.contains_key(&e.container_id))
            .cloned()
            .collect();
        for ep in &orphans {
            report.removed_endpoints += 1;
            self.remove_endpoint(inner, ep).await?;
        }

        // Links nobody knows: ports of berth bridges, bridges marked as berth's.
        let wanted_veths: Vec<String> = inner
            .state
            .endpoints
            .iter()
            .filter_map(|e| e.host_veth.clone())
            .collect();
        let bridges: Vec<String> = inner
            .state
            .networks
            .values()
            .filter_map(|n| n.bridge.as_ref().map(|b| b.name.clone()))
            .collect();
        let alias = self.bridge_alias();
        let links = with_netlink(self.host_ns.as_ref(), |h| async move {
            netlink::links(&h).await
        })
        .await?;
        let bridge_index: Vec<u32> = links
            .iter()
            .filter(|l| bridges.contains(&l.name))
            .map(|l| l.index)
            .collect();
        for l in &links {
            let stray_port = l.controller.is_some_and(|c| bridge_index.contains(&c))
                && !wanted_veths.contains(&l.name);
            let stray_bridge =
                l.alias.as_deref() == Some(alias.as_str()) && !bridges.contains(&l.name);
            if stray_port || stray_bridge {
                self.delete_host_link(&l.name).await;
                report.removed_links.push(l.name.clone());
            }
        }

        // Live containers: DNS servers and port reservations again.
        let cids: Vec<String> = inner.state.sandboxes.keys().cloned().collect();
        for cid in cids {
            let ports = inner.state.sandboxes[&cid].ports.clone();
            for b in &ports {
                if let Err(e) = inner.ports.hold_binding(b) {
                    tracing::warn!(container = %cid, "published port {}:{} could not be held again: {e}", b.host_ip, b.host_port);
                }
            }
            if let Err(e) = self.refresh_dns(inner, &cid).await {
                tracing::warn!(container = %cid, "embedded DNS not restored: {e}");
            }
            report.restored_containers += 1;
        }
        self.save(&inner.state)?;
        self.apply_rules(&inner.state)?;
        Ok(report)
    }

    /// Stops every DNS server and lets go of port reservations (berthd shutting down); the
    /// kernel objects and rules stay for containers that keep running.
    pub async fn shutdown(&self) {
        let mut inner = self.inner.lock().await;
        for (_, mut l) in inner.live.drain() {
            if let Some(mut s) = l.dns.take() {
                s.stop();
            }
        }
    }

    /// The name of the nftables table this controller owns.
    pub fn table(&self) -> &str {
        &self.cfg.table
    }

    /// The namespace treated as the host, if not the caller's.
    pub fn host_netns(&self) -> Option<&Netns> {
        self.host_ns.as_ref()
    }
}

/// Drops the records of a container that has neither endpoints nor ports (after a failed
/// first connect).
fn forget_if_unused(inner: &mut Inner, cid: &str) {
    let unused = inner.state.endpoints_of_container(cid).next().is_none()
        && inner
            .state
            .sandboxes
            .get(cid)
            .is_none_or(|s| s.ports.is_empty());
    if unused {
        inner.state.sandboxes.remove(cid);
        if let Some(mut l) = inner.live.remove(cid) {
            if let Some(mut s) = l.dns.take() {
                s.stop();
            }
        }
    }
}

fn veth_on_bridge(st: &State, e: &EndpointRecord, links: &[netlink::LinkInfo]) -> bool {
    let Some(v) = &e.host_veth else {
        return true; // host and none networks have no link
    };
    let Some(b) = st
        .networks
        .get(&e.network_id)
        .and_then(|n| n.bridge.as_ref())
    else {
        return false;
    };
    let Some(bridge) = links.iter().find(|l| l.name == b.name) else {
        return false;
    };
    links
        .iter()
        .any(|l| &l.name == v && l.controller == Some(bridge.index))
}

fn check_bridge_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 15
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(Error::invalid(format!(
            "invalid bridge name {name:?}: 1 to 15 letters, digits, '_', '-' or '.'"
        )));
    }
    Ok(())
}

/// The bridge settings from a create request's driver options.
fn parse_bridge_options(
    options: &BTreeMap<String, String>,
    id: &str,
    default_mtu: u32,
) -> Result<BridgeSettings> {
    let mut b = BridgeSettings {
        name: format!("br-{}", &id[..12]),
        mtu: default_mtu,
        masquerade: true,
        host_binding: None,
    };
    let parse_bool = |k: &str, v: &str| -> Result<bool> {
        match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(Error::invalid(format!(
                "invalid value {v:?} for option {k}: expected true or false"
            ))),
        }
    };
    for (k, v) in options {
        match k.as_str() {
            opt::BRIDGE_NAME => {
                check_bridge_name(v)?;
                b.name = v.clone();
            }
            opt::MTU => {
                b.mtu = v
                    .parse::<u32>()
                    .ok()
                    .filter(|m| (68..=65535).contains(m))
                    .ok_or_else(|| {
                        Error::invalid(format!("invalid MTU {v:?}: must be 68 to 65535"))
                    })?;
            }
            opt::MASQUERADE => b.masquerade = parse_bool(k, v)?,
            opt::ICC if !parse_bool(k, v)? => {
                return Err(Error::invalid(
                    "enable_icc=false is not supported: containers on a bridge network always reach each other",
                ));
            }
            opt::ICC => {}
            opt::HOST_BINDING => {
                let ip: Ipv4Addr = v.parse().map_err(|_| {
                    Error::invalid(format!("invalid {k} {v:?}: expected an IPv4 address"))
                })?;
                b.host_binding = (!ip.is_unspecified()).then_some(ip);
            }
            k if k.starts_with("com.docker.network.") => {
                return Err(Error::invalid(format!(
                    "network option {k} is not supported"
                )));
            }
            _ => {} // free-form options are kept and shown, like labels
        }
    }
    Ok(b)
}

/// The rules the state calls for.
fn rules_of(st: &State) -> Ruleset {
    let mut r = Ruleset::default();
    for n in st.networks.values() {
        if let (Some(b), Some(p)) = (&n.bridge, &n.pool) {
            r.networks.push(RuleNetwork {
                tag: if n.predefined {
                    n.name.clone()
                } else {
                    n.short_id().to_string()
                },
                bridge: b.name.clone(),
                subnet: p.subnet,
                internal: n.internal,
                masquerade: b.masquerade,
            });
        }
    }
    for sb in st.sandboxes.values() {
        let Some(ip) = gateway_endpoint(st, &sb.container_id).and_then(|e| e.ip) else {
            continue;
        };
        for b in &sb.ports {
            r.ports.push(RulePort {
                tag: short_id(&sb.container_id).to_string(),
                binding: *b,
                container_ip: ip,
            });
        }
    }
    r
}

/// The endpoint published ports lead to: the first on a non-internal bridge network.
fn gateway_endpoint<'a>(st: &'a State, cid: &'a str) -> Option<&'a EndpointRecord> {
    st.endpoints_of_container(cid).find(|e| {
        let n = &st.networks[&e.network_id];
        n.driver == Driver::Bridge && !n.internal && e.ip.is_some()
    })
}

fn container_name(st: &State, cid: &str) -> String {
    st.sandboxes
        .get(cid)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| short_id(cid).to_string())
}

fn dns_entry(st: &State, ep: &EndpointRecord) -> Option<DnsEntry> {
    let n = st.networks.get(&ep.network_id)?;
    if !n.has_dns() {
        return None;
    }
    Some(DnsEntry {
        container_id: ep.container_id.clone(),
        name: container_name(st, &ep.container_id),
        aliases: ep.aliases.clone(),
        ip: ep.ip?,
    })
}

fn endpoint_info(st: &State, ep: &EndpointRecord) -> EndpointInfo {
    let n = &st.networks[&ep.network_id];
    let pool = n.pool.as_ref();
    EndpointInfo {
        endpoint_id: ep.id.clone(),
        network_id: n.id.clone(),
        network_name: n.name.clone(),
        container_id: ep.container_id.clone(),
        container_name: container_name(st, &ep.container_id),
        ip: ep.ip,
        prefix_len: if ep.ip.is_some() {
            pool.map(|p| p.subnet.prefix()).unwrap_or(0)
        } else {
            0
        },
        gateway: if ep.ip.is_some() {
            pool.map(|p| p.gateway)
        } else {
            None
        },
        mac: ep.mac,
        interface: ep.interface.clone(),
        aliases: ep.aliases.clone(),
        dns_names: dns_entry(st, ep).map(|e| e.names()).unwrap_or_default(),
        requested_ip: ep.requested_ip,
    }
}

fn view_of(st: &State, n: &Network) -> NetworkView {
    NetworkView {
        network: n.clone(),
        endpoints: st
            .endpoints_of_network(&n.id)
            .map(|e| endpoint_info(st, e))
            .collect(),
    }
}

fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("create state directory {}", dir.display()), e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io(format!("restrict state directory {}", dir.display()), e))
}

/// The current time in RFC 3339 with nanoseconds, UTC (docker's `Created`).
fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to a (year, month, day) date (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19723), (2024, 1, 1));
        assert_eq!(civil_from_days(11016), (2000, 2, 29));
        assert!(now().ends_with('Z'));
    }

    #[test]
    fn bridge_options() {
        let id = new_id();
        let b = parse_bridge_options(&BTreeMap::new(), &id, 1500).unwrap();
        assert_eq!(b.name, format!("br-{}", &id[..12]));
        let mut o = BTreeMap::new();
        o.insert(opt::BRIDGE_NAME.to_string(), "mybr0".to_string());
        o.insert(opt::MTU.to_string(), "1400".to_string());
        o.insert(opt::MASQUERADE.to_string(), "false".to_string());
        o.insert("custom.key".to_string(), "x".to_string());
        let b = parse_bridge_options(&o, &id, 1500).unwrap();
        assert_eq!(
            (b.name.as_str(), b.mtu, b.masquerade),
            ("mybr0", 1400, false)
        );
        for (k, v) in [
            (opt::BRIDGE_NAME, "a-name-much-too-long"),
            (opt::MTU, "20"),
            (opt::MASQUERADE, "maybe"),
            (opt::ICC, "false"),
            (opt::HOST_BINDING, "::1"),
            ("com.docker.network.bridge.unknown", "1"),
        ] {
            let mut o = BTreeMap::new();
            o.insert(k.to_string(), v.to_string());
            assert!(parse_bridge_options(&o, &id, 1500).is_err(), "{k}={v}");
        }
    }
}
