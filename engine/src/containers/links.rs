//! Legacy container links (`--link name:alias`), kept the way dockerd keeps them.
//!
//! A link is made at create, to the container the name then resolves to, unless the
//! container is on a user-defined network (there a link is only a DNS alias of the
//! endpoint, see `networks`). At each start of a container on the default bridge its links'
//! targets must be running; the container then gets, per link, `ALIAS_NAME`,
//! `ALIAS_PORT...` and `ALIAS_ENV_...` variables and an /etc/hosts line
//! `IP alias hostname name`. The target is listed with the extra name `/linker/alias`, the
//! linker's inspect shows `HostConfig.Links` as `/target:/linker/alias`, and
//! `DELETE /containers/linker/alias?link=1` removes the link. A removed target leaves the
//! link in place: the linker's next start fails, as on dockerd.

use std::sync::Arc;

use berth_api::container::HostConfig;
use berth_proto::v1;
use serde::{Deserialize, Serialize};

use super::model::Record;
use super::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// One link of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Link {
    /// The linked container's id.
    pub id: String,
    /// Its name when the link was made ("/db"): what errors name once it is gone.
    pub name: String,
    pub alias: String,
}

/// An /etc/hosts line a link adds: `ip`, then the alias, the target's hostname and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostsLine {
    pub ip: String,
    pub names: String,
}

/// Does dockerd keep legacy links for a container in this network mode? Not on a
/// user-defined network.
pub fn kept_in_mode(network_mode: &str) -> bool {
    matches!(network_mode, "" | "default" | "bridge" | "none" | "host")
        || network_mode.starts_with("container:")
}

/// Does a container in this mode get its links' variables and hosts lines (it is on the
/// default bridge)?
fn on_default_bridge(network_mode: &str) -> bool {
    matches!(network_mode, "" | "default" | "bridge")
}

/// One exposed port, `5432/tcp` as (5432, "tcp").
fn parse_port(key: &str) -> Option<(u32, String)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    Some((port.parse().ok()?, proto.to_ascii_lowercase()))
}

/// The variables a link gives: `ALIAS_NAME`, the lowest port as `ALIAS_PORT` (tcp first
/// on a tie), each port's `ALIAS_PORT_<n>_<PROTO>[_ADDR|_PORT|_PROTO]`, contiguous runs of
/// one protocol as `..._START`/`_END`/`_PORT_START`/`_PORT_END` on the run's first port,
/// and the target's own variables (but `HOME` and `PATH`) as `ALIAS_ENV_<VAR>`.
pub fn environment(
    linker_name: &str,
    alias: &str,
    ip: &str,
    exposed: &[String],
    target_env: &[String],
) -> Vec<String> {
    let a = alias.to_ascii_uppercase().replace('-', "_");
    let mut env = vec![format!("{a}_NAME={linker_name}/{alias}")];
    let mut ports: Vec<(u32, String)> = exposed.iter().filter_map(|k| parse_port(k)).collect();
    ports.sort();
    ports.dedup();
    if let Some((p, proto)) = ports
        .iter()
        .min_by_key(|(p, proto)| (*p, proto.as_str() != "tcp"))
    {
        env.push(format!("{a}_PORT={proto}://{ip}:{p}"));
    }
    // tcp first, then the other protocols by name; by number within each.
    ports.sort_by(|x, y| {
        (x.1.as_str() != "tcp", &x.1, x.0).cmp(&(y.1.as_str() != "tcp", &y.1, y.0))
    });
    let mut i = 0;
    while i < ports.len() {
        let mut j = i;
        while j + 1 < ports.len()
            && ports[j + 1].1 == ports[i].1
            && ports[j + 1].0 == ports[j].0 + 1
        {
            j += 1;
        }
        if j > i {
            let (start, proto) = (&ports[i].0, &ports[i].1);
            let end = ports[j].0;
            let key = format!("{a}_PORT_{start}_{}", proto.to_ascii_uppercase());
            env.push(format!("{key}_START={proto}://{ip}:{start}"));
            env.push(format!("{key}_PORT_START={start}"));
            env.push(format!("{key}_END={proto}://{ip}:{end}"));
            env.push(format!("{key}_PORT_END={end}"));
        }
        for (p, proto) in &ports[i..=j] {
            let key = format!("{a}_PORT_{p}_{}", proto.to_ascii_uppercase());
            env.push(format!("{key}={proto}://{ip}:{p}"));
            env.push(format!("{key}_ADDR={ip}"));
            env.push(format!("{key}_PORT={p}"));
            env.push(format!("{key}_PROTO={proto}"));
        }
        i = j + 1;
    }
    for e in target_env {
        if let Some((k, v)) = e.split_once('=') {
            if k != "HOME" && k != "PATH" {
                env.push(format!("{a}_ENV_{k}={v}"));
            }
        }
    }
    env
}

/// The hosts line of a link: the alias, the target's hostname, and its name unless the
/// alias is the name.
pub fn hosts_line(alias: &str, target: &Record, ip: &str) -> HostsLine {
    let mut names = format!("{alias} {}", target.config.hostname);
    if alias != target.short_name() {
        names.push(' ');
        names.push_str(target.short_name());
    }
    HostsLine {
        ip: ip.to_string(),
        names,
    }
}

/// dockerd's refusal to start a container whose link target is not running.
fn not_running(target_name: &str, linker_name: &str, alias: &str) -> Error {
    Error::internal(format!(
        "Cannot link to a non running container: {target_name} AS {linker_name}/{alias}"
    ))
}

/// What a container's links give it at a start.
struct Resolved {
    env: Vec<String>,
    hosts: Vec<HostsLine>,
}

impl Engine {
    /// The links of a create request, checked and resolved to the containers they name
    /// now; none are kept on a user-defined network.
    pub(crate) fn links_of_request(&self, hc: &HostConfig) -> Result<Vec<Link>> {
        let mut out: Vec<Link> = Vec::new();
        for link in hc.links.iter().flatten() {
            let (target, alias) = super::create::parse_link(link)?;
            let c = self.containers.get(target).map_err(|e| {
                Error::invalid(format!(
                    "could not get container for {target}: {}",
                    e.message
                ))
            })?;
            out.retain(|l| l.alias != alias);
            out.push(Link {
                id: c.id.clone(),
                name: c.with(|r| r.name.clone()),
                alias: alias.to_string(),
            });
        }
        if !kept_in_mode(&hc.network_mode) {
            out.clear();
        }
        Ok(out)
    }

    /// `HostConfig.Links` as dockerd shows it: `/target:/linker/alias`, `None` without links.
    pub fn links_shown(&self, rec: &Record) -> Option<Vec<String>> {
        let v: Vec<String> = rec
            .links
            .iter()
            .map(|l| {
                let name = self.link_target_name(l);
                format!("{name}:{}/{}", rec.name, l.alias)
            })
            .collect();
        (!v.is_empty()).then_some(v)
    }

    /// The target's current name, or the one it had when it is gone.
    fn link_target_name(&self, l: &Link) -> String {
        self.containers
            .by_id(&l.id)
            .map(|c| c.with(|r| r.name.clone()))
            .unwrap_or_else(|| l.name.clone())
    }

    /// The extra names a container is listed with: `/linker/alias` for each link to it.
    pub fn link_names_of(&self, id: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .containers
            .list()
            .iter()
            .flat_map(|c| {
                c.with(|r| {
                    r.links
                        .iter()
                        .filter(|l| l.id == id)
                        .map(|l| format!("{}/{}", r.name, l.alias))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        v.sort();
        v
    }

    /// The variables and hosts lines of a container's links, checking that each target
    /// runs on the default bridge; nothing for a container off the default bridge.
    fn resolve_links(&self, rec: &Record) -> Result<Resolved> {
        let mut r = Resolved {
            env: Vec::new(),
            hosts: Vec::new(),
        };
        if !on_default_bridge(&rec.host_config.network_mode) {
            return Ok(r);
        }
        for l in &rec.links {
            let target = self.containers.by_id(&l.id).map(|c| c.record());
            let Some(t) = target.filter(|t| t.state.running) else {
                return Err(not_running(&self.link_target_name(l), &rec.name, &l.alias));
            };
            let ip = &t.network.ip_address;
            if ip.is_empty() {
                return Err(Error::internal(format!(
                    "container {} not attached to default bridge network",
                    t.id
                )));
            }
            let exposed: Vec<String> = t
                .config
                .exposed_ports
                .clone()
                .unwrap_or_default()
                .into_keys()
                .collect();
            r.env.extend(environment(
                &rec.name,
                &l.alias,
                ip,
                &exposed,
                t.config.env.as_deref().unwrap_or(&[]),
            ));
            r.hosts.push(hosts_line(&l.alias, &t, ip));
        }
        Ok(r)
    }

    /// Before a start: checks the links, and gives the container its links' variables (in
    /// its init process and the exec processes that start from it, the request's own
    /// variables winning) and hosts lines. The spec in shimd is updated only when the
    /// environment changed.
    pub(crate) async fn apply_links(&self, c: &Arc<Container>) -> Result<()> {
        let rec = c.record();
        let resolved = self.resolve_links(&rec)?;
        let env = berth_spec::merge_env(
            &resolved.env,
            &crate::spec::process::environment(&rec.config, &rec.config.hostname),
        );
        let env_json = serde_json::json!(env);
        if rec.process.get("env") != Some(&env_json) {
            let mut shimd = self.shimd.containers();
            let mut ctr = shimd
                .get(v1::GetContainerRequest { id: c.id.clone() })
                .await
                .map_err(|s| Error::from(s).context("reading the container's spec"))?
                .into_inner();
            let mut spec: serde_json::Value = serde_json::from_slice(&ctr.spec)
                .map_err(|e| Error::internal(format!("the container's OCI spec: {e}")))?;
            spec["process"]["env"] = env_json.clone();
            ctr.spec = serde_json::to_vec(&spec)
                .map_err(|e| Error::internal(format!("the container's OCI spec: {e}")))?;
            shimd
                .update(v1::UpdateContainerRequest {
                    container: Some(ctr),
                    update_mask: vec!["spec".into()],
                })
                .await
                .map_err(|s| Error::from(s).context("updating the container's environment"))?;
            c.update(|r| r.process["env"] = env_json)?;
        }
        if rec.link_hosts != resolved.hosts {
            c.update(|r| r.link_hosts = resolved.hosts)?;
        }
        Ok(())
    }

    /// After `target` started: the running containers linked to it get its (maybe new)
    /// address in their /etc/hosts, as dockerd updates them.
    pub(crate) async fn update_linkers_of(&self, target: &Container) {
        for p in self.containers.list() {
            let rec = p.record();
            if !rec.state.running || !rec.links.iter().any(|l| l.id == target.id) {
                continue;
            }
            let Ok(resolved) = self.resolve_links(&rec) else {
                continue;
            };
            if resolved.hosts == rec.link_hosts {
                continue;
            }
            if p.update(|r| r.link_hosts = resolved.hosts).is_ok() {
                if let Err(e) = self.networks.write_files(&p.record()).await {
                    tracing::warn!(container = %p.id, "rewriting its hosts file for its links: {e}");
                }
            }
        }
    }

    /// On user networks a link is a DNS alias of the linking container's own (its
    /// endpoints' `Links`, as the docker CLI sends them): the alias resolves to the target
    /// from this container only.
    pub(crate) async fn apply_link_aliases(&self, rec: &Record) {
        let mut v = Vec::new();
        for (net, s) in &rec.network.networks {
            for l in s.links.iter().flatten() {
                if let Ok((target, alias)) = super::create::parse_link(l) {
                    v.push((net.clone(), alias.to_string(), target.to_string()));
                }
            }
        }
        if !v.is_empty() {
            self.networks.ctl.set_link_aliases(&rec.id, &v).await;
        }
    }

    /// `DELETE /containers/{linker}/{alias}?link=1`: removes the link, as dockerd answers
    /// (404 for a name that is no link).
    pub fn remove_link(&self, linker: &str, alias: &str) -> Result<()> {
        let full = format!("{linker}/{alias}");
        let missing = || Error::no_such_container(&full);
        let p = self.containers.get(linker).map_err(|_| missing())?;
        if p.with(|r| r.short_name() != linker.trim_start_matches('/')) {
            // Only a name makes a link name, not an id.
            return Err(missing());
        }
        if !p.with(|r| r.links.iter().any(|l| l.alias == alias)) {
            return Err(missing());
        }
        p.update(|r| r.links.retain(|l| l.alias != alias))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn variables_as_dockerd_gives_them() {
        let env = environment(
            "/web",
            "my-db",
            "10.0.0.2",
            &strs(&["5432/tcp", "80/udp", "6000/tcp"]),
            &strs(&["PATH=/bin", "HOME=/root", "FOO=bar=baz", "NOVALUE"]),
        );
        for want in [
            "MY_DB_NAME=/web/my-db",
            "MY_DB_PORT=udp://10.0.0.2:80",
            "MY_DB_PORT_5432_TCP=tcp://10.0.0.2:5432",
            "MY_DB_PORT_5432_TCP_ADDR=10.0.0.2",
            "MY_DB_PORT_5432_TCP_PORT=5432",
            "MY_DB_PORT_5432_TCP_PROTO=tcp",
            "MY_DB_PORT_80_UDP=udp://10.0.0.2:80",
            "MY_DB_ENV_FOO=bar=baz",
        ] {
            assert!(env.contains(&want.to_string()), "{want} in {env:?}");
        }
        assert!(!env
            .iter()
            .any(|e| e.contains("_ENV_PATH") || e.contains("_ENV_HOME")));
        assert!(!env.iter().any(|e| e.contains("_START")));
        assert_eq!(env.len(), 1 + 1 + 3 * 4 + 1);
    }

    #[test]
    fn contiguous_ports_make_a_range_and_tcp_wins_ties() {
        let env = environment(
            "/web",
            "db",
            "10.0.0.3",
            &strs(&["7000/tcp", "7001/tcp", "7002/tcp", "7000/udp", "9000/tcp"]),
            &[],
        );
        for want in [
            "DB_PORT=tcp://10.0.0.3:7000",
            "DB_PORT_7000_TCP_START=tcp://10.0.0.3:7000",
            "DB_PORT_7000_TCP_PORT_START=7000",
            "DB_PORT_7000_TCP_END=tcp://10.0.0.3:7002",
            "DB_PORT_7000_TCP_PORT_END=7002",
            "DB_PORT_7000_UDP=udp://10.0.0.3:7000",
            "DB_PORT_9000_TCP_PROTO=tcp",
        ] {
            assert!(env.contains(&want.to_string()), "{want} in {env:?}");
        }
        assert_eq!(env.iter().filter(|e| e.contains("_START=")).count(), 2);
    }

    #[test]
    fn hosts_lines_name_alias_hostname_and_name() {
        let mut t = Record {
            name: "/db".into(),
            ..Default::default()
        };
        t.config.hostname = "abc123".into();
        assert_eq!(hosts_line("x", &t, "10.0.0.2").names, "x abc123 db");
        assert_eq!(hosts_line("db", &t, "10.0.0.2").names, "db abc123");
        assert!(kept_in_mode("default") && kept_in_mode("none"));
        assert!(!kept_in_mode("mynet"));
    }
}
