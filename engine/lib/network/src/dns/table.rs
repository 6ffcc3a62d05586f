//! The names the embedded DNS server answers for: per user-defined network, each
//! container's name, its network aliases and its short id, mapped to its address there.

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// One container on one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEntry {
    pub container_id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
}

impl DnsEntry {
    /// The names this entry answers to, in lower case: name, aliases, short id (docker's
    /// `DNSNames` order).
    pub fn names(&self) -> Vec<String> {
        let mut v = vec![self.name.to_ascii_lowercase()];
        v.extend(self.aliases.iter().map(|a| a.to_ascii_lowercase()));
        v.push(short_id(&self.container_id).to_string());
        v.dedup();
        v
    }
}

/// The first 12 characters of an id.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[derive(Debug, Default)]
struct NetworkNames {
    /// The network's name: `<container>.<network>` resolves too.
    name: String,
    entries: Vec<DnsEntry>,
}

/// All user networks' names.
#[derive(Debug, Default)]
pub struct NameTable {
    networks: HashMap<String, NetworkNames>,
}

impl NameTable {
    /// Adds (or replaces) the entry of a container on a network.
    pub fn add(&mut self, network_id: &str, network_name: &str, entry: DnsEntry) {
        let n = self.networks.entry(network_id.to_string()).or_default();
        n.name = network_name.to_ascii_lowercase();
        n.entries.retain(|e| e.container_id != entry.container_id);
        n.entries.push(entry);
    }

    pub fn remove(&mut self, network_id: &str, container_id: &str) {
        if let Some(n) = self.networks.get_mut(network_id) {
            n.entries.retain(|e| e.container_id != container_id);
            if n.entries.is_empty() {
                self.networks.remove(network_id);
            }
        }
    }

    /// Renames a container in every network.
    pub fn rename(&mut self, container_id: &str, new_name: &str) {
        for n in self.networks.values_mut() {
            for e in n
                .entries
                .iter_mut()
                .filter(|e| e.container_id == container_id)
            {
                e.name = new_name.to_string();
            }
        }
    }

    /// The (lower-case) name of a network that has entries.
    pub fn network_name(&self, network_id: &str) -> Option<&str> {
        self.networks.get(network_id).map(|n| n.name.as_str())
    }

    /// Addresses of `name` (lower case, no trailing dot) on the given networks, in the
    /// order the networks are given. Empty when the name is unknown there.
    pub fn lookup(&self, networks: &[String], name: &str) -> Vec<Ipv4Addr> {
        let mut out = Vec::new();
        for id in networks {
            let Some(n) = self.networks.get(id) else {
                continue;
            };
            // `srv.mynet` is `srv` on network `mynet`.
            let local = name
                .strip_suffix(&n.name)
                .and_then(|s| s.strip_suffix('.'))
                .unwrap_or(name);
            for e in &n.entries {
                if e.names().iter().any(|x| x == local) && !out.contains(&e.ip) {
                    out.push(e.ip);
                }
            }
        }
        out
    }

    /// The name of the container holding `ip` on one of the given networks, as
    /// `<container>.<network>` (what docker answers to a reverse lookup).
    pub fn reverse(&self, networks: &[String], ip: Ipv4Addr) -> Option<String> {
        networks.iter().find_map(|id| {
            let n = self.networks.get(id)?;
            n.entries
                .iter()
                .find(|e| e.ip == ip)
                .map(|e| format!("{}.{}", e.name, n.name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, name: &str, aliases: &[&str], last: u8) -> DnsEntry {
        DnsEntry {
            container_id: id.to_string(),
            name: name.to_string(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            ip: Ipv4Addr::new(10, 197, 0, last),
        }
    }

    #[test]
    fn names_aliases_and_short_ids_resolve_only_on_shared_networks() {
        let mut t = NameTable::default();
        t.add(
            "n1",
            "Front",
            entry("aaaaaaaaaaaa1111", "web", &["www", "api"], 2),
        );
        t.add("n1", "Front", entry("bbbbbbbbbbbb2222", "db", &[], 3));
        t.add(
            "n2",
            "back",
            entry("cccccccccccc3333", "cache", &["api"], 4),
        );
        let n1 = vec!["n1".to_string()];
        let both = vec!["n1".to_string(), "n2".to_string()];
        assert_eq!(t.lookup(&n1, "web"), vec![Ipv4Addr::new(10, 197, 0, 2)]);
        assert_eq!(t.lookup(&n1, "www"), vec![Ipv4Addr::new(10, 197, 0, 2)]);
        assert_eq!(
            t.lookup(&n1, "aaaaaaaaaaaa"),
            vec![Ipv4Addr::new(10, 197, 0, 2)]
        );
        assert_eq!(
            t.lookup(&n1, "web.front"),
            vec![Ipv4Addr::new(10, 197, 0, 2)]
        );
        assert!(t.lookup(&n1, "cache").is_empty());
        assert_eq!(t.lookup(&both, "api").len(), 2);
        assert_eq!(
            t.reverse(&n1, Ipv4Addr::new(10, 197, 0, 3)).as_deref(),
            Some("db.front")
        );
        assert_eq!(t.reverse(&n1, Ipv4Addr::new(10, 197, 0, 4)), None);
        t.rename("bbbbbbbbbbbb2222", "db2");
        assert!(t.lookup(&n1, "db").is_empty());
        assert_eq!(t.lookup(&n1, "db2").len(), 1);
        t.remove("n1", "aaaaaaaaaaaa1111");
        assert!(t.lookup(&n1, "web").is_empty());
    }
}
