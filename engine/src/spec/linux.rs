//! The container's kernel namespaces, cgroup and sysctls in the OCI spec (`linux`).

use std::collections::HashMap;
use std::path::PathBuf;

use berth_api::container::HostConfig;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::error::{Error, Result};

fn namespace(kind: LinuxNamespaceType, path: Option<PathBuf>) -> LinuxNamespace {
    let mut n = LinuxNamespace::default();
    n.set_typ(kind).set_path(path);
    n
}

/// The namespaces the container makes (or joins: the network namespace at `netns`; the
/// host's when none); the host's PID, IPC or UTS namespace with mode "host", and the
/// host's cgroup namespace unless "private".
pub fn namespaces(h: &HostConfig, netns: Option<&PathBuf>) -> Result<Vec<LinuxNamespace>> {
    let mut out = vec![namespace(LinuxNamespaceType::Mount, None)];
    for (kind, name, mode) in [
        (LinuxNamespaceType::Pid, "pid", &h.pid_mode),
        (LinuxNamespaceType::Ipc, "ipc", &h.ipc_mode),
        (LinuxNamespaceType::Uts, "uts", &h.uts_mode),
    ] {
        match mode.as_str() {
            "" | "private" | "shareable" => out.push(namespace(kind, None)),
            "host" => {}
            other => return Err(Error::invalid(format!("invalid {name} mode: {other:?}"))),
        }
    }
    if let Some(p) = netns {
        out.push(namespace(LinuxNamespaceType::Network, Some(p.clone())));
    }
    match h.cgroupns_mode.as_str() {
        "private" => out.push(namespace(LinuxNamespaceType::Cgroup, None)),
        "" | "host" => {}
        other => {
            return Err(Error::invalid(format!(
                "invalid cgroup namespace mode: {other:?}"
            )))
        }
    }
    Ok(out)
}

/// The container's cgroup: `<CgroupParent or /berth>/<id>`.
pub fn cgroups_path(h: &HostConfig, id: &str) -> PathBuf {
    let parent = if h.cgroup_parent.is_empty() {
        "/berth"
    } else {
        h.cgroup_parent.as_str()
    };
    let parent = if parent.starts_with('/') {
        parent.to_string()
    } else {
        format!("/{parent}")
    };
    PathBuf::from(format!("{}/{id}", parent.trim_end_matches('/')))
}

/// The sysctls every container with a network namespace of its own starts with, as
/// dockerd sets them (the container's settings win): any user may bind low ports and send
/// ICMP echo requests, in that namespace only.
pub fn private_network_sysctls() -> HashMap<String, String> {
    [
        ("net.ipv4.ip_unprivileged_port_start", "0"),
        ("net.ipv4.ping_group_range", "0 2147483647"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Namespaced sysctls a container may set (docker's rule).
pub fn check_sysctl(key: &str, host_net: bool, host_ipc: bool) -> Result<()> {
    let ipc = key.starts_with("fs.mqueue.")
        || matches!(
            key,
            "kernel.msgmax"
                | "kernel.msgmnb"
                | "kernel.msgmni"
                | "kernel.sem"
                | "kernel.shmall"
                | "kernel.shmmax"
                | "kernel.shmmni"
                | "kernel.shm_rmid_forced"
        );
    if ipc {
        if host_ipc {
            return Err(Error::invalid(format!(
                "sysctl {key:?} is not allowed in host IPC namespace"
            )));
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if host_net {
            return Err(Error::invalid(format!(
                "sysctl {key:?} not allowed in host network namespace"
            )));
        }
        return Ok(());
    }
    Err(Error::invalid(format!(
        "sysctl {key:?} is not in a separate kernel namespace"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_parents() {
        let h = |p: &str| HostConfig {
            cgroup_parent: p.into(),
            ..Default::default()
        };
        assert_eq!(cgroups_path(&h(""), "a"), PathBuf::from("/berth/a"));
        assert_eq!(cgroups_path(&h("x/y/"), "a"), PathBuf::from("/x/y/a"));
        let bad = HostConfig {
            pid_mode: "container:x".into(),
            ..Default::default()
        };
        assert_eq!(
            namespaces(&bad, None).unwrap_err().message,
            "invalid pid mode: \"container:x\""
        );
        assert!(check_sysctl("net.ipv4.ip_forward", true, false).is_err());
        assert!(check_sysctl("kernel.msgmax", false, false).is_ok());
    }
}
