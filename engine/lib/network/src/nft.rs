//! NAT, published ports and isolation as one nftables table owned by berth (`table ip
//! berth` by default). The table is always written whole from the controller's state in a
//! single `nft -f -` transaction (create, delete, re-create): packets see either the old or
//! the new rules, a restart can never double a rule, and rules of objects that are gone
//! disappear with the next write. Every rule carries a comment naming its network or
//! container, so `nft list table ip berth` explains itself.

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::ports::PortBinding;
use crate::subnet::Ipv4Net;

/// A bridge network as the rules see it.
#[derive(Debug, Clone)]
pub struct RuleNetwork {
    /// Short id or name used in comments.
    pub tag: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub internal: bool,
    pub masquerade: bool,
}

/// A published port and where it goes.
#[derive(Debug, Clone)]
pub struct RulePort {
    /// Short container id used in comments.
    pub tag: String,
    pub binding: PortBinding,
    pub container_ip: Ipv4Addr,
}

/// Everything the table holds.
#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    pub networks: Vec<RuleNetwork>,
    pub ports: Vec<RulePort>,
}

/// The nft script that replaces table `ip <table>` with `rules`, atomically.
pub fn render(table: &str, rules: &Ruleset) -> String {
    let mut s = String::new();
    let w = &mut s;
    // "table" first so that "delete" never fails on a missing table.
    push(w, &format!("table ip {table}"));
    push(w, &format!("delete table ip {table}"));
    push(w, &format!("table ip {table} {{"));

    for (name, hook) in [("nat_prerouting", "prerouting"), ("nat_output", "output")] {
        push(w, &format!("  chain {name} {{"));
        push(
            w,
            &format!("    type nat hook {hook} priority -100; policy accept;"),
        );
        push(w, "    fib daddr type local jump published_ports");
        push(w, "  }");
    }

    push(w, "  chain published_ports {");
    for p in &rules.ports {
        let b = &p.binding;
        let daddr = if b.host_ip.is_unspecified() {
            String::new()
        } else {
            format!("ip daddr {} ", b.host_ip)
        };
        push(
            w,
            &format!(
                "    {daddr}{proto} dport {hp} dnat to {ip}:{cp} comment \"container {tag} {cp}/{proto}\"",
                proto = b.proto,
                hp = b.host_port,
                ip = p.container_ip,
                cp = b.container_port,
                tag = p.tag,
            ),
        );
    }
    push(w, "  }");

    push(w, "  chain nat_postrouting {");
    push(
        w,
        "    type nat hook postrouting priority 100; policy accept;",
    );
    for n in &rules.networks {
        let (br, sub, tag) = (&n.bridge, n.subnet, &n.tag);
        if !n.internal && n.masquerade {
            push(
                w,
                &format!("    oifname != \"{br}\" ip saddr {sub} masquerade comment \"network {tag} outbound\""),
            );
        }
        if !n.internal {
            // The host's loopback reaching a published port: the source 127.0.0.1 cannot
            // leave on a bridge, so it becomes the bridge's address.
            push(
                w,
                &format!("    oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade comment \"network {tag} loopback\""),
            );
        }
        // Hairpin: a container reaching a published port of its own network gets answers
        // back through the host, not straight from the peer.
        push(
            w,
            &format!("    oifname \"{br}\" ip saddr {sub} ct status dnat masquerade comment \"network {tag} hairpin\""),
        );
    }
    push(w, "  }");

    push(w, "  chain filter_forward {");
    push(w, "    type filter hook forward priority 0; policy accept;");
    let bridges: Vec<&str> = rules.networks.iter().map(|n| n.bridge.as_str()).collect();
    for n in &rules.networks {
        let (br, tag) = (&n.bridge, &n.tag);
        if n.internal {
            push(w, &format!("    iifname \"{br}\" oifname != \"{br}\" drop comment \"network {tag} internal\""));
            push(w, &format!("    oifname \"{br}\" iifname != \"{br}\" drop comment \"network {tag} internal\""));
        }
        let others: Vec<String> = bridges
            .iter()
            .filter(|b| **b != br.as_str())
            .map(|b| format!("\"{b}\""))
            .collect();
        if !others.is_empty() {
            push(
                w,
                &format!(
                    "    iifname \"{br}\" oifname {{ {} }} drop comment \"network {tag} isolation\"",
                    others.join(", ")
                ),
            );
        }
    }
    push(w, "  }");
    push(w, "}");
    s
}

fn push(s: &mut String, line: &str) {
    s.push_str(line);
    s.push('\n');
}

/// Runs `nft` with `args` inside `ns` (the caller's namespace when `None`), feeding `input`.
fn nft(ns: Option<&Netns>, args: &[&str], input: Option<&str>) -> Result<String> {
    let mut cmd = Command::new("nft");
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ns) = ns {
        let fd = ns.raw_fd();
        // SAFETY: setns is a single async-signal-safe system call on a descriptor that stays
        // open in the parent until the child has exec'ed.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| {
        Error::Nft(format!(
            "cannot run nft ({e}): install Debian's nftables package (scripts/install-deps.sh)"
        ))
    })?;
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| Error::Nft(format!("write rules to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Nft(format!("wait for nft: {e}")))?;
    if !out.status.success() {
        return Err(Error::Nft(format!(
            "nft {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Replaces the table with `rules` in one transaction.
pub fn apply(ns: Option<&Netns>, table: &str, rules: &Ruleset) -> Result<()> {
    apply_script(ns, &render(table, rules))
}

/// Runs a script made by [`render`] in one transaction.
pub fn apply_script(ns: Option<&Netns>, script: &str) -> Result<()> {
    nft(ns, &["-f", "-"], Some(script)).map(|_| ())
}

/// Deletes the table (no error when it is not there).
pub fn delete_table(ns: Option<&Netns>, table: &str) -> Result<()> {
    let script = format!("table ip {table}\ndelete table ip {table}\n");
    nft(ns, &["-f", "-"], Some(&script)).map(|_| ())
}

/// The table as `nft -j` prints it, or `None` when it does not exist.
pub fn list_json(ns: Option<&Netns>, table: &str) -> Result<Option<serde_json::Value>> {
    match nft(ns, &["-j", "list", "table", "ip", table], None) {
        Ok(out) => serde_json::from_str(&out)
            .map(Some)
            .map_err(|e| Error::Nft(format!("unreadable nft -j output: {e}"))),
        Err(Error::Nft(m)) if m.contains("No such file or directory") => Ok(None),
        Err(e) => Err(e),
    }
}

/// The comments of every rule of the table, in order (the table as a checkable list).
pub fn rule_comments(ns: Option<&Netns>, table: &str) -> Result<Vec<String>> {
    let Some(v) = list_json(ns, table)? else {
        return Ok(Vec::new());
    };
    Ok(v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("rule"))
        .filter_map(|r| r.get("comment").and_then(|c| c.as_str()))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Proto;

    #[test]
    fn renders_every_rule_with_its_tag() {
        let rules = Ruleset {
            networks: vec![
                RuleNetwork {
                    tag: "aaa".into(),
                    bridge: "br-aaa".into(),
                    subnet: "10.197.1.0/24".parse().unwrap(),
                    internal: false,
                    masquerade: true,
                },
                RuleNetwork {
                    tag: "bbb".into(),
                    bridge: "br-bbb".into(),
                    subnet: "10.197.2.0/24".parse().unwrap(),
                    internal: true,
                    masquerade: true,
                },
            ],
            ports: vec![RulePort {
                tag: "c1".into(),
                binding: PortBinding {
                    container_port: 80,
                    proto: Proto::Tcp,
                    host_ip: Ipv4Addr::LOCALHOST,
                    host_port: 8080,
                },
                container_ip: Ipv4Addr::new(10, 197, 1, 2),
            }],
        };
        let s = render("berth", &rules);
        assert!(s.starts_with("table ip berth\ndelete table ip berth\n"));
        assert!(s.contains(
            "ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.197.1.2:80 comment \"container c1 80/tcp\""
        ));
        assert!(s.contains("oifname != \"br-aaa\" ip saddr 10.197.1.0/24 masquerade comment \"network aaa outbound\""));
        // Internal networks: no masquerade, no loopback access, isolation both ways.
        assert!(!s.contains("network bbb outbound"));
        assert!(!s.contains("network bbb loopback"));
        assert!(s.contains("iifname \"br-bbb\" oifname != \"br-bbb\" drop"));
        assert!(s.contains(
            "iifname \"br-aaa\" oifname { \"br-bbb\" } drop comment \"network aaa isolation\""
        ));
    }
}
