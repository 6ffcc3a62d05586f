//! Loading and checking a bundle's config.json: every problem is reported before anything
//! is created, naming the field and what to do.

use crate::error::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

/// A loaded bundle: its absolute path, spec, raw config bytes and absolute rootfs path.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub raw: Vec<u8>,
    pub rootfs: PathBuf,
}

pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir = if bundle.is_absolute() {
        bundle.to_path_buf()
    } else {
        std::env::current_dir()
            .ctx("current directory")?
            .join(bundle)
    };
    let path = dir.join("config.json");
    let raw = match std::fs::read(&path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "bundle {}: no config.json (create one with `berth-runtime spec`)",
            dir.display()
        ),
        Err(e) => bail!("{}: cannot read config: {e}", path.display()),
    };
    let spec: Spec = serde_json::from_slice(&raw)
        .with_ctx(|| format!("{}: not a valid OCI runtime config", path.display()))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| format!("{}: config.json has no root.path", path.display()))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        dir.join(root.path())
    };
    Ok(Bundle {
        dir,
        spec,
        raw,
        rootfs,
    })
}

pub fn namespaces(spec: &Spec) -> &[LinuxNamespace] {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
}

pub fn has_new_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    namespaces(spec)
        .iter()
        .any(|n| n.typ() == t && n.path().is_none())
}

pub fn has_ns(spec: &Spec, t: LinuxNamespaceType) -> bool {
    namespaces(spec).iter().any(|n| n.typ() == t)
}

pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// Checks what config.json asks for before anything is created.
pub fn validate(b: &Bundle, need_process: bool) -> Result<()> {
    let spec = &b.spec;
    let cfg = b.dir.join("config.json");
    let cfg = cfg.display();
    if !spec.version().starts_with("1.") {
        bail!(
            "{cfg}: ociVersion {:?} is not supported (1.x expected)",
            spec.version()
        );
    }
    match std::fs::metadata(&b.rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!(
            "rootfs {} (root.path in {cfg}) is not a directory",
            b.rootfs.display()
        ),
        Err(e) => bail!("rootfs {} (root.path in {cfg}): {e}", b.rootfs.display()),
    }
    if need_process {
        let p = spec
            .process()
            .as_ref()
            .ok_or_else(|| format!("{cfg}: no process to run (process is missing)"))?;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            bail!("{cfg}: process.args is empty: nothing to run");
        }
        if !p.cwd().is_absolute() {
            bail!("{cfg}: process.cwd {:?} must be an absolute path", p.cwd());
        }
    }
    let Some(linux) = spec.linux() else {
        bail!("{cfg}: no linux section: berth-runtime runs Linux containers only")
    };
    let nss = namespaces(spec);
    for (i, n) in nss.iter().enumerate() {
        if nss[..i].iter().any(|m| m.typ() == n.typ()) {
            bail!("{cfg}: namespace {} listed twice", ns_name(n.typ()));
        }
        if let Some(p) = n.path() {
            if !p.exists() {
                bail!(
                    "{cfg}: namespace {} path {} does not exist",
                    ns_name(n.typ()),
                    p.display()
                );
            }
        }
    }
    if !has_new_ns(spec, LinuxNamespaceType::Mount) {
        bail!("{cfg}: a new mount namespace is required (add {{\"type\":\"mount\"}} to linux.namespaces)");
    }
    let new_user = has_new_ns(spec, LinuxNamespaceType::User);
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        && linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_user && !maps {
        bail!("{cfg}: a new user namespace needs linux.uidMappings and linux.gidMappings");
    }
    if !new_user
        && (linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty()))
    {
        bail!("{cfg}: uid/gid mappings need a new user namespace in linux.namespaces");
    }
    if (spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        || spec.domainname().as_ref().is_some_and(|h| !h.is_empty()))
        && !has_ns(spec, LinuxNamespaceType::Uts)
    {
        bail!("{cfg}: hostname/domainname need a UTS namespace in linux.namespaces");
    }
    if linux.time_offsets().is_some() && !has_new_ns(spec, LinuxNamespaceType::Time) {
        bail!("{cfg}: linux.timeOffsets needs a new time namespace");
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            validate_sysctl(spec, key).with_ctx(|| format!("{cfg}: linux.sysctl"))?;
        }
    }
    for m in spec.mounts().as_deref().unwrap_or(&[]) {
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            bail!(
                "{cfg}: mount {}: id-mapped mounts are not supported",
                m.destination().display()
            );
        }
    }
    Ok(())
}

/// Only namespaced sysctls may be set, and only with their namespace.
fn validate_sysctl(spec: &Spec, key: &str) -> Result<()> {
    if key.contains("..") || key.contains('\0') {
        bail!("bad sysctl name {key:?}");
    }
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        if !has_ns(spec, LinuxNamespaceType::Ipc) {
            bail!("{key} needs an IPC namespace");
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if !has_ns(spec, LinuxNamespaceType::Network) {
            bail!("{key} needs a network namespace");
        }
        return Ok(());
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        bail!("{key}: set hostname/domainname in config.json instead");
    }
    bail!("{key} is not namespaced: it would change the host")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spec_json, TempBundle};
    use serde_json::json;

    /// Loads and validates a bundle whose config is the minimal one with `over`.
    fn check(over: serde_json::Value) -> Result<()> {
        let b = TempBundle::new();
        b.write_config(&spec_json(over));
        let bundle = load(b.path())?;
        validate(&bundle, true).map_err(|e| {
            // errors name the config file; tests compare the rest
            let cfg = format!("{}: ", b.path().join("config.json").display());
            Error(e.0.replacen(&cfg, "", 1))
        })
    }

    use crate::error::Error;

    #[test]
    fn the_minimal_config_is_valid_and_the_rootfs_is_absolute() {
        check(json!({})).unwrap();
        let b = TempBundle::new();
        b.write_config(&spec_json(json!({})));
        let bundle = load(b.path()).unwrap();
        assert_eq!(bundle.rootfs, b.path().join("rootfs"));
        assert!(bundle.spec.process().is_some());
    }

    #[test]
    fn a_bundle_without_config_or_with_bad_json_says_what_to_do() {
        let b = TempBundle::new();
        let e = load(b.path()).err().unwrap();
        assert_eq!(
            e.0,
            format!(
                "bundle {}: no config.json (create one with `berth-runtime spec`)",
                b.path().display()
            )
        );
        std::fs::write(b.path().join("config.json"), "{not json").unwrap();
        let e = load(b.path()).err().unwrap();
        assert!(e.0.contains("not a valid OCI runtime config"), "{e}");
    }

    #[test]
    fn each_invalid_field_is_named() {
        for (over, msg) in [
            (
                json!({"ociVersion": "2.0.0"}),
                "ociVersion \"2.0.0\" is not supported (1.x expected)",
            ),
            (
                json!({"process": {"args": []}}),
                "process.args is empty: nothing to run",
            ),
            (
                json!({"process": {"cwd": "work"}}),
                "process.cwd \"work\" must be an absolute path",
            ),
            (
                json!({"linux": {"namespaces": []}}),
                "a new mount namespace is required (add {\"type\":\"mount\"} to linux.namespaces)",
            ),
            (
                json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "mount"}]}}),
                "namespace mount listed twice",
            ),
            (
                json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "user"}]}}),
                "a new user namespace needs linux.uidMappings and linux.gidMappings",
            ),
            (
                json!({"linux": {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}}),
                "uid/gid mappings need a new user namespace in linux.namespaces",
            ),
            (
                json!({"hostname": "web"}),
                "hostname/domainname need a UTS namespace in linux.namespaces",
            ),
            (
                json!({"linux": {"timeOffsets": {"monotonic": {"secs": 1}}}}),
                "linux.timeOffsets needs a new time namespace",
            ),
            (
                json!({"linux": {"namespaces": [{"type": "mount"},
                    {"type": "network", "path": "/nonexistent/berth-ns"}]}}),
                "namespace network path /nonexistent/berth-ns does not exist",
            ),
            (
                json!({"mounts": [{"destination": "/x", "type": "bind", "source": "/y",
                    "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}]}),
                "mount /x: id-mapped mounts are not supported",
            ),
        ] {
            assert_eq!(check(over.clone()).unwrap_err().0, msg, "{over}");
        }
    }

    #[test]
    fn a_missing_rootfs_or_process_is_named() {
        let e = check(json!({"root": {"path": "nope"}})).unwrap_err();
        assert!(e.0.starts_with("rootfs "), "{e}");
        assert!(e.0.contains("No such file or directory"), "{e}");
        let e = check(json!({"process": null})).unwrap_err();
        assert_eq!(e.0, "no process to run (process is missing)");
        let e = check(json!({"linux": null})).unwrap_err();
        assert_eq!(
            e.0,
            "no linux section: berth-runtime runs Linux containers only"
        );
    }

    #[test]
    fn only_namespaced_sysctls_with_their_namespace_are_accepted() {
        let ns = |extra: &[&str]| {
            let mut v = vec![json!({"type": "mount"})];
            v.extend(extra.iter().map(|t| json!({"type": t})));
            v
        };
        check(json!({"linux": {"namespaces": ns(&["ipc", "network"]),
                               "sysctl": {"kernel.shmmax": "1", "fs.mqueue.msg_max": "10",
                                          "net.ipv4.ip_forward": "1"}}}))
        .unwrap();
        for (ctl, msg) in [
            (
                "kernel.panic",
                "kernel.panic is not namespaced: it would change the host",
            ),
            ("kernel.msgmax", "kernel.msgmax needs an IPC namespace"),
            (
                "net.core.somaxconn",
                "net.core.somaxconn needs a network namespace",
            ),
            (
                "kernel.hostname",
                "kernel.hostname: set hostname/domainname in config.json instead",
            ),
            ("net/../../x", "bad sysctl name \"net/../../x\""),
        ] {
            let e =
                check(json!({"linux": {"namespaces": ns(&[]), "sysctl": {ctl: "1"}}})).unwrap_err();
            assert_eq!(e.0, format!("linux.sysctl: {msg}"));
        }
    }

    #[test]
    fn namespace_helpers_tell_new_from_joined() {
        let s: Spec = serde_json::from_value(spec_json(json!({"linux": {"namespaces": [
            {"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"}
        ]}})))
        .unwrap();
        assert!(has_new_ns(&s, LinuxNamespaceType::Mount));
        assert!(!has_new_ns(&s, LinuxNamespaceType::Network));
        assert!(has_ns(&s, LinuxNamespaceType::Network));
        assert!(!has_ns(&s, LinuxNamespaceType::Pid));
        assert_eq!(ns_name(LinuxNamespaceType::Network), "network");
    }
}
