//! berthd's configuration: dockerd-style flags, and a JSON config file (daemon.json keys)
//! under them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use berth_network::pools::PoolSpec;
use berth_network::Ipv4Net;
use clap::Parser;
use serde::Deserialize;

pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth/engine";
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// Berth's engine daemon: the Docker Engine API over shimd.
#[derive(Parser, Debug, Clone, Default)]
#[command(name = "berthd", version, about, long_about = None)]
pub struct Args {
    /// Where to listen: unix:///path or tcp://host:port (TCP needs --tlsverify). Repeatable.
    #[arg(short = 'H', long = "host", value_name = "ADDR")]
    pub hosts: Vec<String>,
    /// Engine state: containers, their logs and configs; shimd's root is <data-root>/shimd.
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Runtime state: shimd's socket and state dir.
    #[arg(long, value_name = "DIR")]
    pub exec_root: Option<PathBuf>,
    /// Write the daemon's pid to this file.
    #[arg(short = 'p', long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,
    /// A JSON config file with daemon.json keys (see README).
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Use a running shimd on this socket instead of starting one.
    #[arg(long, value_name = "SOCK")]
    pub shimd_address: Option<PathBuf>,
    /// Require TLS and verify client certificates (needed for tcp:// hosts).
    #[arg(long)]
    pub tlsverify: bool,
    /// CA certificates client certificates must chain to.
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// The server's certificate.
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// The server's private key.
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// debug, info, warn, error or fatal.
    #[arg(short = 'l', long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Debug logging (same as --log-level debug).
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Registries to reach over plain HTTP or unverified TLS (host:port). Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Mirrors to try first for docker.io. Repeatable.
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirrors: Vec<String>,
    /// The default bridge's own address with the network's prefix, e.g. 172.30.0.1/16.
    #[arg(long, value_name = "CIDR")]
    pub bip: Option<String>,
    /// Where networks without --subnet get theirs: base=CIDR,size=PREFIX. Repeatable.
    #[arg(long = "default-address-pool", value_name = "base=CIDR,size=N")]
    pub default_address_pools: Vec<String>,
    /// DNS servers for containers, instead of the host's resolvers. Repeatable.
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<String>,
}

/// The keys of daemon.json that berthd honours. Unknown keys are refused, as dockerd does,
/// so a typo is not silently ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    pub hosts: Vec<String>,
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub tlsverify: Option<bool>,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
    pub log_level: Option<String>,
    pub debug: Option<bool>,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub default_ulimits: BTreeMap<String, UlimitSpec>,
    pub log_driver: Option<String>,
    pub log_opts: BTreeMap<String, String>,
    pub default_runtime: Option<String>,
    pub runtimes: BTreeMap<String, RuntimeSpec>,
    pub default_shm_size: Option<String>,
    pub shimd_address: Option<PathBuf>,
    pub labels: Vec<String>,
    pub live_restore: Option<bool>,
    pub bip: Option<String>,
    pub default_address_pools: Vec<AddressPool>,
    pub dns: Vec<String>,
}

/// An entry of daemon.json's `default-address-pools`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressPool {
    pub base: String,
    pub size: u8,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UlimitSpec {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSpec {
    pub path: String,
    #[serde(rename = "runtimeArgs")]
    pub runtime_args: Vec<String>,
}

/// The effective settings: flags over the config file over defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: Option<PathBuf>,
    pub shimd_address: Option<PathBuf>,
    pub tls: Option<TlsFiles>,
    pub log_level: String,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub default_ulimits: Vec<UlimitSpec>,
    /// "json-file" or "none".
    pub log_driver: String,
    pub log_opts: BTreeMap<String, String>,
    /// Runtime names to (binary, extra global flags); "berth-runtime" and "runc" always exist.
    pub runtimes: BTreeMap<String, RuntimeSpec>,
    pub default_runtime: String,
    pub default_shm_size: i64,
    pub labels: Vec<String>,
    pub network: NetworkOptions,
}

/// The daemon's network options (dockerd's `--bip`, `--default-address-pool`, `--dns`).
#[derive(Debug, Clone, Default)]
pub struct NetworkOptions {
    /// The default bridge's subnet and gateway.
    pub bip: Option<(Ipv4Net, Ipv4Addr)>,
    /// Empty: the built-in pools.
    pub pools: Vec<PoolSpec>,
    pub dns: Vec<Ipv4Addr>,
}

impl NetworkOptions {
    /// Flags replace what the file says (each option as a whole), as with dockerd.
    fn load(args: &Args, file: &FileConfig) -> anyhow::Result<NetworkOptions> {
        let bip = match args.bip.as_ref().or(file.bip.as_ref()) {
            Some(b) => Some(parse_bip(b)?),
            None => None,
        };
        let pools = if args.default_address_pools.is_empty() {
            file.default_address_pools
                .iter()
                .map(|p| pool(&p.base, p.size))
                .collect::<anyhow::Result<_>>()?
        } else {
            args.default_address_pools
                .iter()
                .map(|p| parse_pool_flag(p))
                .collect::<anyhow::Result<_>>()?
        };
        let dns = if args.dns.is_empty() {
            &file.dns
        } else {
            &args.dns
        };
        let dns = dns
            .iter()
            .map(|d| {
                d.parse::<Ipv4Addr>()
                    .map_err(|_| anyhow::anyhow!("dns {d:?}: not an IPv4 address"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(NetworkOptions { bip, pools, dns })
    }
}

/// `--bip 172.30.0.1/16`: the bridge's address (the containers' gateway) and the prefix.
fn parse_bip(s: &str) -> anyhow::Result<(Ipv4Net, Ipv4Addr)> {
    let bad = || {
        anyhow::anyhow!("bip {s:?}: expected the bridge's address and prefix, like 172.30.0.1/16")
    };
    let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
    let gateway: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (1..=30).contains(p))
        .ok_or_else(bad)?;
    let subnet =
        Ipv4Net::from_host(gateway, prefix).map_err(|e| anyhow::anyhow!("bip {s:?}: {e}"))?;
    if gateway == subnet.addr() {
        anyhow::bail!(
            "bip {s:?}: give the bridge's own address, not the network's (e.g. {}/{prefix})",
            Ipv4Addr::from(subnet.first() + 1)
        );
    }
    Ok((subnet, gateway))
}

/// `--default-address-pool base=10.10.0.0/16,size=24`.
fn parse_pool_flag(s: &str) -> anyhow::Result<PoolSpec> {
    let (mut base, mut size) = (None, None);
    for field in s.split(',') {
        match field.split_once('=') {
            Some(("base", v)) => base = Some(v),
            Some(("size", v)) => {
                size = Some(v.parse::<u8>().map_err(|_| {
                    anyhow::anyhow!("default-address-pool {s:?}: size must be a prefix length")
                })?)
            }
            _ => anyhow::bail!("default-address-pool {s:?}: expected base=CIDR,size=N"),
        }
    }
    match (base, size) {
        (Some(b), Some(n)) => pool(b, n),
        _ => anyhow::bail!("default-address-pool {s:?}: both base= and size= are needed"),
    }
}

fn pool(base: &str, size: u8) -> anyhow::Result<PoolSpec> {
    let base: Ipv4Net = base
        .parse()
        .map_err(|e| anyhow::anyhow!("default-address-pool base: {e}"))?;
    PoolSpec::new(base, size).map_err(|e| anyhow::anyhow!("default-address-pool: {e}"))
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Settings {
    pub fn load(args: &Args) -> anyhow::Result<Settings> {
        let file = match &args.config_file {
            Some(p) => read_file_config(p)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_file_config(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => FileConfig::default(),
        };
        Self::merge(args, file)
    }

    fn merge(args: &Args, file: FileConfig) -> anyhow::Result<Settings> {
        let mut hosts = if args.hosts.is_empty() {
            file.hosts.clone()
        } else {
            args.hosts.clone()
        };
        if hosts.is_empty() {
            hosts.push(DEFAULT_HOST.to_string());
        }
        let tlsverify = args.tlsverify || file.tlsverify.unwrap_or(false);
        let tls = if tlsverify {
            let pick = |flag: &Option<PathBuf>, f: &Option<PathBuf>, what: &str| {
                flag.clone()
                    .or_else(|| f.clone())
                    .with_context(|| format!("--tlsverify needs --{what} (a PEM file)"))
            };
            Some(TlsFiles {
                ca: pick(&args.tlscacert, &file.tlscacert, "tlscacert")?,
                cert: pick(&args.tlscert, &file.tlscert, "tlscert")?,
                key: pick(&args.tlskey, &file.tlskey, "tlskey")?,
            })
        } else {
            None
        };
        for h in &hosts {
            if h.starts_with("tcp://") && tls.is_none() {
                anyhow::bail!(
                    "refusing to listen on {h} without TLS: an unauthenticated TCP socket gives \
                     root on this host to anyone who reaches it; add --tlsverify with \
                     --tlscacert, --tlscert and --tlskey"
                );
            }
        }
        let log_level = if args.debug || file.debug.unwrap_or(false) {
            "debug".to_string()
        } else {
            args.log_level
                .clone()
                .or(file.log_level.clone())
                .unwrap_or_else(|| "info".into())
        };
        let log_driver = file
            .log_driver
            .clone()
            .unwrap_or_else(|| "json-file".into());
        if !matches!(log_driver.as_str(), "json-file" | "local" | "none") {
            anyhow::bail!(
                "log-driver {log_driver:?} is not supported: use \"json-file\" or \"none\""
            );
        }
        let mut runtimes = file.runtimes.clone();
        for builtin in ["berth-runtime", "runc"] {
            runtimes.entry(builtin.into()).or_insert(RuntimeSpec {
                path: builtin.into(),
                runtime_args: vec![],
            });
        }
        let default_runtime = file
            .default_runtime
            .clone()
            .unwrap_or_else(|| "berth-runtime".into());
        if !runtimes.contains_key(&default_runtime) {
            anyhow::bail!("default-runtime {default_runtime:?} is not one of the runtimes");
        }
        let default_shm_size = match &file.default_shm_size {
            Some(s) => berth_gocompat::units::ram_in_bytes(s)
                .with_context(|| format!("default-shm-size {s:?}"))?,
            None => 64 << 20,
        };
        let mut insecure = file.insecure_registries.clone();
        insecure.extend(args.insecure_registries.iter().cloned());
        let mut mirrors = file.registry_mirrors.clone();
        mirrors.extend(args.registry_mirrors.iter().cloned());
        Ok(Settings {
            hosts,
            data_root: args
                .data_root
                .clone()
                .or(file.data_root.clone())
                .unwrap_or_else(|| DEFAULT_DATA_ROOT.into()),
            exec_root: args
                .exec_root
                .clone()
                .or(file.exec_root.clone())
                .unwrap_or_else(|| DEFAULT_EXEC_ROOT.into()),
            pidfile: args.pidfile.clone().or(file.pidfile.clone()),
            shimd_address: args.shimd_address.clone().or(file.shimd_address.clone()),
            tls,
            log_level,
            insecure_registries: insecure,
            registry_mirrors: mirrors,
            default_ulimits: file.default_ulimits.values().cloned().collect(),
            log_driver,
            log_opts: file.log_opts.clone(),
            runtimes,
            default_runtime,
            default_shm_size,
            labels: file.labels.clone(),
            network: NetworkOptions::load(args, &file)?,
        })
    }

    /// True when `registry` (host[:port]) may be reached over plain HTTP: loopback always,
    /// others when listed in insecure-registries.
    pub fn registry_is_insecure(&self, registry: &str) -> bool {
        let host = registry
            .rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map(|(h, _)| h)
            .unwrap_or(registry);
        host == "localhost"
            || host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
            || self.insecure_registries.iter().any(|r| r == registry)
    }
}

fn read_file_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("config file {}: invalid daemon.json", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str, args: Args) -> anyhow::Result<Settings> {
        Settings::merge(&args, serde_json::from_str(json)?)
    }

    #[test]
    fn flags_override_the_file() {
        let s = settings(
            r#"{"data-root":"/a","log-opts":{"max-size":"10m"},"insecure-registries":["r:5000"]}"#,
            Args {
                data_root: Some("/b".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.data_root, PathBuf::from("/b"));
        assert_eq!(s.log_opts["max-size"], "10m");
        assert!(s.registry_is_insecure("r:5000"));
        assert!(s.registry_is_insecure("127.0.0.1:5000"));
        assert!(s.registry_is_insecure("localhost:1"));
        assert!(!s.registry_is_insecure("example.com"));
        assert_eq!(s.hosts, vec![DEFAULT_HOST]);
    }

    #[test]
    fn tcp_without_tls_and_unknown_keys_are_refused() {
        let e = settings(
            "{}",
            Args {
                hosts: vec!["tcp://127.0.0.1:2375".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("without TLS"), "{e}");
        assert!(serde_json::from_str::<FileConfig>(r#"{"no-such-key":1}"#).is_err());
        assert!(settings(r#"{"default-runtime":"nope"}"#, Args::default()).is_err());
        assert!(settings(r#"{"log-driver":"syslog"}"#, Args::default()).is_err());
    }
}
