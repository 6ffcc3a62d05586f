//! The network controller: the one object the engine talks to. It owns the persisted
//! state, the kernel objects made from it (bridges, veths, the nftables table, port
//! reservations, DNS servers) and keeps the two in step, also after a crash (`reconcile`).
//!
//! Every change is written ahead: a record is saved before the kernel object it describes
//! is made, and removed only after the object is gone, so after a crash the state knows of
//! everything that may exist and a reconcile can remove what is no longer wanted.

mod dns;
mod endpoints;
mod networks;
mod ports;
mod queries;
mod reconcile;
mod views;

use networks::check_bridge_name;
use views::{dns_entry, rules_of};

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use nix::fcntl::{Flock, FlockArg};
use std::os::unix::fs::OpenOptionsExt;
use tokio::sync::Mutex;

use crate::dns::server::{ContainerView, DnsServer};
use crate::dns::NameTable;
use crate::error::{Error, Result};
use crate::ipam::Pool;
use crate::model::{new_id, options as opt, BridgeSettings, Driver, EndpointInfo, Network};
use crate::netlink::{self, with_netlink};
use crate::netns::{run_in_async, write_sysctl, Netns};
use crate::nft::{self};
use crate::pools::{self, PoolSpec};
use crate::portalloc::PortAllocator;
use crate::state::{State, StateStore};
use crate::subnet::Ipv4Net;
use crate::time::now;

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
    /// A lock file shared by every engine of the host: picking a free subnet and making its
    /// bridge happen under it, so two engines starting at once never pick the same one.
    pub lock_file: Option<PathBuf>,
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
            lock_file: Some(PathBuf::from("/run/berth/network.lock")),
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
    store: StateStore,
    /// The nft script last applied: a change of the state that leaves the rules as they
    /// are (every container without published ports) runs no `nft` at all.
    applied_rules: std::sync::Mutex<Option<String>>,
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
        let (store, state) = StateStore::open(&cfg.state_dir)?;
        let ports = PortAllocator::new(
            host_ns.clone(),
            PortAllocator::ephemeral_range(host_ns.as_ref()),
        );
        let c = NetworkController {
            cfg,
            host_ns,
            names: Arc::new(RwLock::new(NameTable::default())),
            store,
            applied_rules: std::sync::Mutex::new(None),
            inner: Mutex::new(Inner {
                state,
                live: HashMap::new(),
                ports,
            }),
        };
        let _host_lock = c.host_lock().await?;
        c.collect_abandoned().await?;
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
        self.store.save(st)
    }

    /// Takes the host-wide lock (see [`ControllerConfig::lock_file`]) until the guard drops.
    async fn host_lock(&self) -> Result<Option<Flock<std::fs::File>>> {
        let Some(path) = self.cfg.lock_file.clone() else {
            return Ok(None);
        };
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| Error::io(format!("open lock file {}", path.display()), e))?;
            Flock::lock(f, FlockArg::LockExclusive)
                .map(Some)
                .map_err(|(_, e)| Error::io(format!("lock {}", path.display()), e.into()))
        })
        .await
        .map_err(|e| Error::invalid(format!("lock task failed: {e}")))?
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
    /// The alias marking bridges this controller made: `berth:<table>:<state dir>`.
    fn bridge_alias(&self) -> String {
        format!("berth:{}:{}", self.cfg.table, self.cfg.state_dir.display())
    }

    /// Removes bridges and tables of engines that are gone for good: a bridge whose alias
    /// names a state directory that no longer exists (an engine run from a temporary
    /// directory and never cleaned up) can be reconciled by nobody, so it goes, with the
    /// nftables table named in its alias.
    async fn collect_abandoned(&self) -> Result<()> {
        let links = with_netlink(self.host_ns.as_ref(), |h| async move {
            netlink::links(&h).await
        })
        .await?;
        for l in links {
            let Some((table, dir)) = l.alias.as_deref().and_then(parse_alias) else {
                continue;
            };
            if table == self.cfg.table || std::path::Path::new(&dir).exists() {
                continue;
            }
            tracing::info!(bridge = %l.name, state = %dir, "removing a bridge of an engine whose state is gone");
            self.delete_host_link(&l.name).await;
            if let Err(e) = nft::delete_table(self.host_ns.as_ref(), &table) {
                tracing::warn!("removing table {table} of a gone engine: {e}");
            }
        }
        Ok(())
    }

    /// Writes the table for `st`, unless it already holds exactly these rules.
    fn apply_rules(&self, st: &State) -> Result<()> {
        let script = nft::render(&self.cfg.table, &rules_of(st));
        let mut applied = self.applied_rules.lock().unwrap_or_else(|p| p.into_inner());
        if applied.as_deref() == Some(script.as_str()) {
            return Ok(());
        }
        // Unknown until nft has answered: a failed write is retried by the next change.
        *applied = None;
        nft::apply_script(self.host_ns.as_ref(), &script)?;
        *applied = Some(script);
        Ok(())
    }

    /// Writes the table whole even if the rules did not change (after a restart, someone
    /// may have changed it meanwhile).
    fn rewrite_rules(&self, st: &State) -> Result<()> {
        *self.applied_rules.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.apply_rules(st)
    }

    fn save(&self, st: &State) -> Result<()> {
        self.store.save(st)
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

/// `berth:<table>:<state dir>` → (table, state dir).
fn parse_alias(alias: &str) -> Option<(String, String)> {
    let rest = alias.strip_prefix("berth:")?;
    let (table, dir) = rest.split_once(':')?;
    (!table.is_empty() && dir.starts_with('/')).then(|| (table.to_string(), dir.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_aliases() {
        assert_eq!(
            parse_alias("berth:berth_1a2b:/tmp/x/network"),
            Some(("berth_1a2b".to_string(), "/tmp/x/network".to_string()))
        );
        assert_eq!(parse_alias("berth:berth"), None);
        assert_eq!(parse_alias("docker0"), None);
        assert_eq!(parse_alias("berth::/x"), None);
    }
}
