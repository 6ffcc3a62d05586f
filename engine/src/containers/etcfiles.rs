//! /etc/hostname, /etc/hosts and /etc/resolv.conf the engine writes for each container and
//! binds into it.

use std::path::Path;

use berth_api::container::HostConfig;

use crate::error::{Error, Result};
use crate::networks::Mode;

const HOSTS_BASE: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Public resolvers docker falls back to when the host's resolv.conf names only local ones.
const FALLBACK_NAMESERVERS: &[&str] = &["8.8.8.8", "8.8.4.4"];

/// Checks `ExtraHosts` ("name:ip"; docker also accepts "name=ip").
pub fn validate_extra_hosts(hosts: &[String]) -> Result<()> {
    for h in hosts {
        let (name, ip) = split_extra_host(h).ok_or_else(|| {
            Error::invalid(format!("invalid extra host entry: {h:?} (want name:ip)"))
        })?;
        if name.is_empty()
            || (ip != "host-gateway"
                && ip
                    .trim_matches(|c| c == '[' || c == ']')
                    .parse::<std::net::IpAddr>()
                    .is_err())
        {
            return Err(Error::invalid(format!(
                "invalid IP address in add-host: {ip:?}"
            )));
        }
    }
    Ok(())
}

fn split_extra_host(h: &str) -> Option<(&str, &str)> {
    h.split_once('=').or_else(|| h.split_once(':'))
}

/// The hosts file of a container.
pub fn hosts(
    mode: Mode,
    hostname: &str,
    domainname: &str,
    extra: &[String],
    ip: Option<&str>,
) -> String {
    let mut s = if mode == Mode::Host {
        std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| HOSTS_BASE.to_string())
    } else {
        HOSTS_BASE.to_string()
    };
    for h in extra {
        if let Some((name, ip)) = split_extra_host(h) {
            let ip = ip.trim_matches(|c| c == '[' || c == ']');
            s.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    if let Some(ip) = ip {
        let fqdn = if domainname.is_empty() {
            hostname.to_string()
        } else {
            format!("{hostname}.{domainname} {hostname}")
        };
        s.push_str(&format!("{ip}\t{fqdn}\n"));
    }
    s
}

/// The resolv.conf of a container: the host's, without loopback resolvers (unreachable from
/// a private network namespace), or the request's DNS settings.
pub fn resolv_conf(mode: Mode, hc: &HostConfig) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let dns = hc.dns.clone().unwrap_or_default();
    let search = hc.dns_search.clone().unwrap_or_default();
    let options = hc.dns_options.clone().unwrap_or_default();
    if mode == Mode::Host && dns.is_empty() && search.is_empty() && options.is_empty() {
        return host;
    }
    let mut nameservers: Vec<String> = Vec::new();
    let mut host_search = Vec::new();
    let mut host_options = Vec::new();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => {
                if let Some(ns) = f.next() {
                    let local = ns
                        .parse::<std::net::IpAddr>()
                        .map(|ip| ip.is_loopback())
                        .unwrap_or(false);
                    if !local || mode == Mode::Host {
                        nameservers.push(ns.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => host_search = f.map(str::to_string).collect(),
            Some("options") => host_options = f.map(str::to_string).collect(),
            _ => {}
        }
    }
    if !dns.is_empty() {
        nameservers = dns;
    }
    if nameservers.is_empty() {
        nameservers = FALLBACK_NAMESERVERS.iter().map(|s| s.to_string()).collect();
    }
    let search = if search.is_empty() {
        host_search
    } else {
        search
    };
    let options = if options.is_empty() {
        host_options
    } else {
        options
    };
    let mut out = String::new();
    if !search.is_empty() && search != ["."] {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for ns in nameservers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// Writes the three files into the container's directory.
pub fn write(dir: &Path, hostname: &str, hosts_text: &str, resolv: &str) -> Result<()> {
    for (name, text) in [
        ("hostname", format!("{hostname}\n")),
        ("hosts", hosts_text.to_string()),
        ("resolv.conf", resolv.to_string()),
    ] {
        std::fs::write(dir.join(name), text)
            .map_err(|e| Error::internal(format!("writing {}/{name}: {e}", dir.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_files() {
        let h = hosts(
            Mode::None,
            "abc",
            "",
            &["db:10.0.0.2".into(), "v6=::1".into()],
            None,
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.0.0.2\tdb\n"));
        assert!(h.contains("::1\tv6\n"));
        let h = hosts(Mode::Bridge, "abc", "example", &[], Some("172.17.0.2"));
        assert!(h.ends_with("172.17.0.2\tabc.example abc\n"));
        assert!(validate_extra_hosts(&["a:1.2.3.4".into(), "b:host-gateway".into()]).is_ok());
        assert!(validate_extra_hosts(&["nope".into()]).is_err());
        assert!(validate_extra_hosts(&["a:notanip".into()]).is_err());
    }

    #[test]
    fn resolv_conf_uses_request_dns() {
        let hc = HostConfig {
            dns: Some(vec!["10.0.0.53".into()]),
            dns_search: Some(vec!["corp".into()]),
            ..Default::default()
        };
        let r = resolv_conf(Mode::None, &hc);
        assert!(r.contains("nameserver 10.0.0.53\n"));
        assert!(r.contains("search corp\n"));
        assert!(!r.contains("127.0.0."));
    }
}
