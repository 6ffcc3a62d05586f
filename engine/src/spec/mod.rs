//! The OCI runtime spec of a container, as dockerd would generate it: the shared base spec
//! of `berth-spec` (mounts, default capabilities, masked and read-only paths, device
//! rules), then everything the create request asks for, docker's way.

pub mod caps;
pub mod mounts;
pub mod resources;
pub mod security;

use std::path::{Path, PathBuf};

use berth_api::container::{Config, HostConfig};
use berth_proto::v1;
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The shimd namespace the engine's containers live in.
const NAMESPACE: &str = "berth";

/// Makes docker's default seccomp profile for a capability set.
pub type SeccompProfileFn = dyn Fn(&[String]) -> Value + Sync;

/// The files the engine writes for each container and binds into it.
pub struct EtcFiles<'a> {
    pub hostname: &'a Path,
    pub hosts: &'a Path,
    pub resolv_conf: &'a Path,
}

/// Everything the spec is made from.
pub struct Input<'a> {
    pub id: &'a str,
    /// The merged config (image defaults under the request).
    pub config: &'a Config,
    pub host: &'a HostConfig,
    pub hostname: &'a str,
    /// The network namespace to join; `None` shares the host's.
    pub netns: Option<PathBuf>,
    pub etc: EtcFiles<'a>,
    pub default_ulimits: &'a [crate::config::UlimitSpec],
    pub default_shm_size: i64,
    /// Docker's default seccomp profile for a capability set (containers get it unless
    /// unconfined or privileged).
    pub default_seccomp: Option<&'a SeccompProfileFn>,
    /// The user's mounts, resolved (binds, volumes, tmpfs).
    pub mounts: &'a [mounts::ContainerMount],
}

/// The init process's command line: entrypoint then cmd.
pub fn command_line(config: &Config) -> Vec<String> {
    let mut v: Vec<String> = config
        .entrypoint
        .as_ref()
        .map(|e| e.0.clone())
        .unwrap_or_default();
    v.extend(config.cmd.as_ref().map(|c| c.0.clone()).unwrap_or_default());
    v
}

/// The container's environment: `HOSTNAME`, then the config's, a `PATH` when it has none,
/// and `TERM=xterm` with a tty.
pub fn environment(config: &Config, hostname: &str) -> Vec<String> {
    let mut env = berth_spec::merge_env(
        &[format!("HOSTNAME={hostname}")],
        config.env.as_deref().unwrap_or(&[]),
    );
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(berth_spec::DEFAULT_PATH.into());
    }
    if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    env
}

fn rlimits(
    base: &Value,
    host: &HostConfig,
    defaults: &[crate::config::UlimitSpec],
) -> Result<Value> {
    const KNOWN: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    let mut list: Vec<Value> = base.as_array().cloned().unwrap_or_default();
    for (name, soft, hard) in defaults.iter().map(|u| (&u.name, u.soft, u.hard)).chain(
        host.ulimits
            .iter()
            .flatten()
            .map(|u| (&u.name, u.soft, u.hard)),
    ) {
        if !KNOWN.contains(&name.as_str()) {
            return Err(Error::invalid(format!("invalid ulimit type: {name}")));
        }
        if soft > hard && hard >= 0 {
            return Err(Error::invalid(format!(
                "invalid ulimit argument: {name}: soft limit {soft} is larger than hard limit {hard}"
            )));
        }
        let kind = format!("RLIMIT_{}", name.to_ascii_uppercase());
        list.retain(|r| r["type"] != kind.as_str());
        list.push(json!({"type": kind, "soft": soft as u64, "hard": hard as u64}));
    }
    Ok(Value::Array(list))
}

/// Who the container's processes run as, for shimd to resolve in the container's rootfs
/// when its task is created (and for each exec without a user of its own): the config's
/// user (empty: root) and the host config's `GroupAdd`.
pub fn process_user(config: &Config, host: &HostConfig) -> v1::ProcessUser {
    v1::ProcessUser {
        user: config.user.clone(),
        additional_groups: host.group_add.clone().unwrap_or_default(),
    }
}

/// `GroupAdd` entries are group names or ids.
fn check_group_add(group_add: &[String]) -> Result<()> {
    match group_add
        .iter()
        .find(|g| g.is_empty() || g.contains([':', '\n']))
    {
        Some(bad) => Err(Error::invalid(format!(
            "invalid group {bad:?} in GroupAdd: give a group name or id"
        ))),
        None => Ok(()),
    }
}

/// Namespaced sysctls a container may set (docker's rule).
fn check_sysctl(key: &str, host_net: bool, host_ipc: bool) -> Result<()> {
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

/// The mounts: the base spec's (docker has no /run tmpfs), adjusted for privilege, shm and
/// IPC mode; then the engine's etc files and the user's mounts, parents before children as
/// dockerd orders them (so `/etc/hosts` lands on a volume mounted at `/etc`, not under
/// it). A user mount replaces a default one on the same path.
fn mounts(base: &Value, input: &Input) -> Vec<Value> {
    let h = input.host;
    let shm = if h.shm_size > 0 {
        h.shm_size
    } else {
        input.default_shm_size
    };
    let mut out: Vec<Value> = Vec::new();
    for m in base.as_array().cloned().unwrap_or_default() {
        let dest = m["destination"].as_str().unwrap_or("").to_string();
        let mut m = m;
        match dest.as_str() {
            "/run" => continue,
            "/sys" | "/sys/fs/cgroup" if h.privileged => {
                if let Some(o) = m["options"].as_array_mut() {
                    o.retain(|x| x != "ro");
                }
            }
            "/dev/shm" if h.ipc_mode == "host" => {
                m = json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]});
            }
            "/dev/shm" => {
                m["options"] = json!([
                    "nosuid",
                    "noexec",
                    "nodev",
                    "mode=1777",
                    format!("size={shm}")
                ]);
            }
            _ => {}
        }
        out.push(m);
    }
    let mut container: Vec<Value> = Vec::new();
    for (dest, src) in [
        ("/etc/resolv.conf", input.etc.resolv_conf),
        ("/etc/hostname", input.etc.hostname),
        ("/etc/hosts", input.etc.hosts),
    ] {
        container.push(json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
    }
    let user = input.mounts;
    let overridden = |m: &Value| {
        user.iter()
            .any(|u| m["destination"] == u.point.destination.as_str())
    };
    out.retain(|m| !overridden(m));
    container.retain(|m| !overridden(m));
    container.extend(user.iter().map(mounts::ContainerMount::oci));
    let depth = |m: &Value| {
        m["destination"]
            .as_str()
            .unwrap_or("")
            .split('/')
            .filter(|c| !c.is_empty())
            .count()
    };
    container.sort_by_key(depth);
    out.extend(container);
    out
}

/// The whole spec. `root.path` is left for shimd to fill in.
pub fn generate(input: &Input) -> Result<Value> {
    let h = input.host;
    let c = input.config;
    let sec = security::parse(h.security_opt.as_deref().unwrap_or(&[]))?;
    let caps = caps::compute(
        h.privileged,
        h.cap_add.as_deref().unwrap_or(&[]),
        h.cap_drop.as_deref().unwrap_or(&[]),
    )?;
    resources::validate(h)?;
    let args = command_line(c);
    if args.is_empty() {
        return Err(Error::invalid("No command specified"));
    }
    let mut spec = serde_json::to_value(berth_spec::default_spec(NAMESPACE, input.id))
        .map_err(|e| Error::internal(e.to_string()))?;

    let cwd = if c.working_dir.is_empty() {
        "/"
    } else {
        c.working_dir.as_str()
    };
    let rl = rlimits(&spec["process"]["rlimits"], h, input.default_ulimits)?;
    let p = &mut spec["process"];
    p["terminal"] = json!(c.tty);
    p["args"] = json!(args);
    p["env"] = json!(environment(c, input.hostname));
    p["cwd"] = json!(cwd);
    p["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    p["noNewPrivileges"] = json!(sec.no_new_privileges);
    p["rlimits"] = rl;
    if h.oom_score_adj != 0 {
        p["oomScoreAdj"] = json!(h.oom_score_adj);
    }
    if h.console_size != [0, 0] && c.tty {
        p["consoleSize"] = json!({"height": h.console_size[0], "width": h.console_size[1]});
    }
    check_group_add(h.group_add.as_deref().unwrap_or(&[]))?;

    spec["root"]["readonly"] = json!(h.readonly_rootfs);
    if h.uts_mode == "host" {
        if !input.config.hostname.is_empty() && input.config.hostname != input.hostname {
            return Err(Error::invalid(
                "conflicting options: hostname and the host UTS namespace",
            ));
        }
        if let Some(o) = spec.as_object_mut() {
            o.remove("hostname");
        }
    } else {
        spec["hostname"] = json!(input.hostname);
        if !c.domainname.is_empty() {
            spec["domainname"] = json!(c.domainname);
        }
    }
    spec["mounts"] = Value::Array(mounts(&spec["mounts"], input));

    let mut namespaces = vec![json!({"type": "mount"})];
    for (kind, mode) in [
        ("pid", &h.pid_mode),
        ("ipc", &h.ipc_mode),
        ("uts", &h.uts_mode),
    ] {
        match mode.as_str() {
            "" | "private" | "shareable" => namespaces.push(json!({"type": kind})),
            "host" => {}
            other => return Err(Error::invalid(format!("invalid {kind} mode: {other:?}"))),
        }
    }
    if let Some(p) = &input.netns {
        namespaces.push(json!({"type": "network", "path": p}));
    }
    match h.cgroupns_mode.as_str() {
        "private" => namespaces.push(json!({"type": "cgroup"})),
        "" | "host" => {}
        other => {
            return Err(Error::invalid(format!(
                "invalid cgroup namespace mode: {other:?}"
            )))
        }
    }
    let linux = &mut spec["linux"];
    linux["namespaces"] = Value::Array(namespaces);
    let base_rules = linux["resources"]["devices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let (res, devices) = resources::build(h, base_rules)?;
    linux["resources"] = res;
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
    linux["cgroupsPath"] = json!(format!("{}/{}", parent.trim_end_matches('/'), input.id));
    let mut all_devices = devices;
    if h.privileged {
        all_devices.extend(host_devices());
    }
    if !all_devices.is_empty() {
        linux["devices"] = Value::Array(all_devices);
    }
    let unmasked = h.privileged || sec.unmask_system_paths;
    for (key, custom) in [
        ("maskedPaths", &h.masked_paths),
        ("readonlyPaths", &h.readonly_paths),
    ] {
        match custom {
            Some(p) => linux[key] = json!(p),
            None if unmasked => {
                if let Some(o) = linux.as_object_mut() {
                    o.remove(key);
                }
            }
            None => {}
        }
    }
    if let Some(sysctls) = &h.sysctls {
        for k in sysctls.keys() {
            check_sysctl(k, input.netns.is_none(), h.ipc_mode == "host")?;
        }
        if !sysctls.is_empty() {
            linux["sysctl"] = json!(sysctls);
        }
    }
    if !h.privileged {
        match &sec.seccomp {
            security::Seccomp::Unconfined => {}
            security::Seccomp::Profile(p) => linux["seccomp"] = security::oci_profile(p, &caps)?,
            security::Seccomp::Default => {
                if let Some(f) = input.default_seccomp {
                    linux["seccomp"] = f(&caps);
                }
            }
        }
    }
    if let Some(a) = &h.annotations {
        for (k, v) in a {
            spec["annotations"][k] = json!(v);
        }
    }
    Ok(spec)
}

/// Every char and block device of the host, for privileged containers.
fn host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name();
            let name = name.to_string_lossy();
            if ft.is_dir() {
                if !matches!(
                    name.as_ref(),
                    "pts" | "shm" | "mqueue" | ".lxc" | ".udev" | "fd"
                ) {
                    stack.push(p);
                }
                continue;
            }
            if name == "console" || name == "ptmx" {
                continue;
            }
            let s = p.to_string_lossy().to_string();
            if let Ok((kind, major, minor, mode, uid, gid)) = resources::device_numbers(&s) {
                out.push(
                    json!({"path": s, "type": kind.to_string(), "major": major, "minor": minor,
                    "fileMode": mode, "uid": uid, "gid": gid}),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::strslice::StrSlice;

    fn input<'a>(config: &'a Config, host: &'a HostConfig) -> Input<'a> {
        Input {
            id: "abc",
            config,
            host,
            hostname: "abc",
            netns: Some("/run/berth/netns/abc".into()),
            etc: EtcFiles {
                hostname: Path::new("/c/hostname"),
                hosts: Path::new("/c/hosts"),
                resolv_conf: Path::new("/c/resolv.conf"),
            },
            default_ulimits: &[],
            default_shm_size: 64 << 20,
            default_seccomp: None,
            mounts: &[],
        }
    }

    fn dests_of(s: &Value) -> Vec<&str> {
        s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn the_user_and_groups_go_to_shimd_unresolved() {
        let config = Config {
            cmd: Some(StrSlice(vec!["sh".into()])),
            user: "app:wheel".into(),
            ..Default::default()
        };
        let host = HostConfig {
            group_add: Some(vec!["audio".into(), "10".into()]),
            ..Default::default()
        };
        let s = generate(&input(&config, &host)).unwrap();
        // The spec keeps the base's root: shimd replaces it with the resolved identity.
        assert_eq!(s["process"]["user"], json!({"uid": 0, "gid": 0}));
        assert!(s.get("annotations").is_none(), "{}", s["annotations"]);
        assert_eq!(
            process_user(&config, &host),
            v1::ProcessUser {
                user: "app:wheel".into(),
                additional_groups: vec!["audio".into(), "10".into()],
            }
        );
        assert_eq!(
            process_user(&Config::default(), &HostConfig::default()),
            v1::ProcessUser::default()
        );
        for bad in ["", "a:b", "x\ny"] {
            let host = HostConfig {
                group_add: Some(vec![bad.into()]),
                ..Default::default()
            };
            let e = generate(&input(&config, &host)).unwrap_err();
            assert!(e.message.contains("GroupAdd"), "{bad:?}: {}", e.message);
        }
    }

    #[test]
    fn default_spec_matches_docker() {
        let config = Config {
            cmd: Some(StrSlice(vec!["sh".into()])),
            env: Some(vec!["A=1".into()]),
            ..Default::default()
        };
        let host = HostConfig::default();
        let s = generate(&input(&config, &host)).unwrap();
        let spec: oci_spec::runtime::Spec =
            serde_json::from_value(s.clone()).expect("a valid OCI spec");
        assert_eq!(spec.hostname().as_deref(), Some("abc"));
        assert_eq!(s["process"]["args"], json!(["sh"]));
        assert_eq!(
            s["process"]["env"],
            json!(["HOSTNAME=abc", "A=1", berth_spec::DEFAULT_PATH])
        );
        assert!(!dests_of(&s).contains(&"/run"));
        assert_eq!(
            s["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert_eq!(s["linux"]["cgroupsPath"], "/berth/abc");
        let dests: Vec<&str> = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        for d in [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm",
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
        ] {
            assert!(dests.contains(&d), "{d}");
        }
        assert!(s["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        let ns: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["mount", "pid", "ipc", "uts", "network"]);
    }

    #[test]
    fn user_mounts_and_etc_files_mount_parents_first() {
        let config = Config {
            cmd: Some(StrSlice(vec!["sh".into()])),
            ..Default::default()
        };
        let host = HostConfig::default();
        let m = |d: &str| mounts::ContainerMount {
            point: berth_api::mount::MountPoint {
                kind: "volume".into(),
                source: "/v".into(),
                destination: d.into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let user = [m("/etc/app/conf"), m("/etc"), m("/dev/shm")];
        let mut i = input(&config, &host);
        i.mounts = &user;
        let s = generate(&i).unwrap();
        let d = dests_of(&s);
        let pos = |x: &str| d.iter().position(|y| *y == x).unwrap();
        assert!(pos("/etc") < pos("/etc/hosts") && pos("/etc/hosts") < pos("/etc/app/conf"));
        assert!(pos("/dev") < pos("/dev/shm"));
        assert_eq!(
            d.iter().filter(|x| **x == "/dev/shm").count(),
            1,
            "the user's replaces it"
        );
    }

    #[test]
    fn privileged_and_host_modes() {
        let config = Config {
            cmd: Some(StrSlice(vec!["sh".into()])),
            ..Default::default()
        };
        let host = HostConfig {
            privileged: true,
            pid_mode: "host".into(),
            ..Default::default()
        };
        let mut i = input(&config, &host);
        i.netns = None;
        let s = generate(&i).unwrap();
        assert!(s["linux"].get("maskedPaths").is_none());
        assert!(
            s["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len()
                > 30
        );
        let ns: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["mount", "ipc", "uts"]);
        assert_eq!(
            s["linux"]["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        let empty = Config::default();
        let host = HostConfig::default();
        assert_eq!(
            generate(&input(&empty, &host)).unwrap_err().message,
            "No command specified"
        );
        let config = Config {
            cmd: Some(StrSlice(vec!["sh".into()])),
            ..Default::default()
        };
        let host = HostConfig {
            sysctls: Some([("kernel.hostname".to_string(), "x".to_string())].into()),
            ..Default::default()
        };
        assert!(generate(&input(&config, &host)).is_err());
        let host = HostConfig {
            ulimits: Some(vec![berth_api::container::Ulimit {
                name: "bogus".into(),
                soft: 1,
                hard: 1,
            }]),
            ..Default::default()
        };
        assert!(generate(&input(&config, &host))
            .unwrap_err()
            .message
            .contains("invalid ulimit"));
    }
}
