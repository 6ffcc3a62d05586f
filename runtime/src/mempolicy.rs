//! `linux.memoryPolicy`: the container's NUMA memory policy, set with set_mempolicy(2) in
//! the container's init and in every exec'd process before the program runs (a policy is
//! inherited across fork and execve).

use crate::error::{bail, Context, Result};
use crate::sys::Sys;
use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

/// The kernel's highest node number is far below this; a nodemask this large is refused.
const MAX_NODE: usize = 1024;

/// What set_mempolicy(2) is called with: the mode with its flags, and the nodemask.
#[derive(Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: i32,
    pub nodes: Vec<libc::c_ulong>,
    /// The `maxnode` argument: the kernel reads `maxnode - 1` bits of `nodes`.
    pub maxnode: libc::c_ulong,
}

/// Checks `p` and turns it into set_mempolicy's arguments.
pub fn parse(p: &LinuxMemoryPolicy) -> Result<Policy> {
    use MemoryPolicyModeType as M;
    let (mode, needs_nodes) = match p.mode() {
        M::MpolDefault => (0, Some(false)),
        M::MpolPreferred => (1, None),
        M::MpolBind => (2, Some(true)),
        M::MpolInterleave => (3, Some(true)),
        M::MpolLocal => (4, Some(false)),
        M::MpolPreferredMany => (5, Some(true)),
        M::MpolWeightedInterleave => (6, Some(true)),
    };
    let list = p.nodes().as_deref().unwrap_or("").trim();
    let ids = node_ids(list)?;
    match needs_nodes {
        Some(true) if ids.is_empty() => {
            bail!("linux.memoryPolicy: mode {} needs nodes", p.mode())
        }
        Some(false) if !ids.is_empty() => {
            bail!(
                "linux.memoryPolicy: mode {} takes no nodes (got {list:?})",
                p.mode()
            )
        }
        _ => {}
    }
    let mut flags = 0;
    for f in p.flags().iter().flatten() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        };
    }
    let bits = libc::c_ulong::BITS as usize;
    let highest = ids.iter().max().copied().unwrap_or(0);
    let mut nodes = vec![0 as libc::c_ulong; highest / bits + 1];
    for id in &ids {
        nodes[id / bits] |= 1 << (id % bits);
    }
    Ok(Policy {
        mode: mode | flags,
        maxnode: (nodes.len() * bits + 1) as libc::c_ulong,
        nodes,
    })
}

/// Node numbers from a list like "0-3,5": ranges inclusive, ascending.
fn node_ids(list: &str) -> Result<Vec<usize>> {
    let mut ids = Vec::new();
    if list.is_empty() {
        return Ok(ids);
    }
    let bad = || format!("linux.memoryPolicy.nodes {list:?}: expected node numbers like \"0-3,5\"");
    for part in list.split(',') {
        let (from, to) = match part.trim().split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part.trim(), part.trim()),
        };
        let from: usize = from.parse().with_ctx(bad)?;
        let to: usize = to.parse().with_ctx(bad)?;
        if from > to || to >= MAX_NODE {
            bail!(
                "{}: {part:?} is not a range of nodes below {MAX_NODE}",
                bad()
            );
        }
        ids.extend(from..=to);
    }
    Ok(ids)
}

/// Sets the policy of `linux.memoryPolicy`, if any, on the calling process.
pub fn apply(sys: &dyn Sys, p: Option<&LinuxMemoryPolicy>) -> Result<()> {
    let Some(p) = p else { return Ok(()) };
    let policy = parse(p)?;
    sys.set_mempolicy(policy.mode, &policy.nodes, policy.maxnode)
        .with_ctx(|| {
            format!(
                "linux.memoryPolicy: set_mempolicy({}, nodes {:?})",
                p.mode(),
                p.nodes().as_deref().unwrap_or("")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> Result<Policy> {
        parse(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn modes_flags_and_nodemasks() {
        let p = policy(json!({"mode": "MPOL_BIND", "nodes": "0-2,5"})).unwrap();
        assert_eq!(
            p,
            Policy {
                mode: 2,
                nodes: vec![0b10_0111],
                maxnode: 65
            }
        );
        let p = policy(json!({"mode": "MPOL_INTERLEAVE", "nodes": "70",
                              "flags": ["MPOL_F_STATIC_NODES"]}))
        .unwrap();
        assert_eq!(p.mode, 3 | 1 << 15);
        assert_eq!(p.nodes, vec![0, 1 << 6]);
        assert_eq!(p.maxnode, 129);
        let p = policy(json!({"mode": "MPOL_LOCAL"})).unwrap();
        assert_eq!((p.mode, p.nodes, p.maxnode), (4, vec![0], 65));
        let p = policy(json!({"mode": "MPOL_PREFERRED", "nodes": ""})).unwrap();
        assert_eq!(p.mode, 1);
        let p = policy(json!({"mode": "MPOL_BIND", "nodes": "0",
            "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES"]}))
        .unwrap();
        assert_eq!(p.mode, 2 | 1 << 13 | 1 << 14);
    }

    #[test]
    fn bad_policies_are_named() {
        let err = |v| policy(v).unwrap_err().0;
        assert!(err(json!({"mode": "MPOL_BIND"})).contains("MPOL_BIND needs nodes"));
        assert!(err(json!({"mode": "MPOL_DEFAULT", "nodes": "0"})).contains("takes no nodes"));
        assert!(err(json!({"mode": "MPOL_BIND", "nodes": "x"})).contains("node numbers"));
        assert!(err(json!({"mode": "MPOL_BIND", "nodes": "3-1"})).contains("\"3-1\""));
        assert!(err(json!({"mode": "MPOL_BIND", "nodes": "0-5000"})).contains("below 1024"));
    }
}
