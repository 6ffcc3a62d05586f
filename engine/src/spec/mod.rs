//! The OCI runtime spec of a container, as dockerd would generate it: docker's default
//! mounts, capabilities, masked and read-only paths, device rules and seccomp profile,
//! plus everything the create request asks for.

pub mod caps;
pub mod mounts;
pub mod resources;
pub mod security;
pub mod user;

use std::path::{Path, PathBuf};

use berth_api::container::{Config, HostConfig};
use serde_json::{json, Value};

use crate::error::{Error, Result};

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

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
    pub user: &'a user::Resolved,
    /// The network namespace to join; `None` shares the host's.
    pub netns: Option<PathBuf>,
    pub etc: EtcFiles<'a>,
    pub default_ulimits: &'a [crate::config::UlimitSpec],
    pub default_shm_size: i64,
    /// Docker's default seccomp profile for a capability set (absent until the seccomp
    /// crate provides it; then containers get it unless unconfined or privileged).
    pub default_seccomp: Option<&'a SeccompProfileFn>,
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
    let mut env = vec![format!("HOSTNAME={hostname}")];
    env.extend(config.env.iter().flatten().cloned());
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(DEFAULT_PATH.into());
    }
    if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    env
}

fn rlimits(host: &HostConfig, defaults: &[crate::config::UlimitSpec]) -> Result<Vec<Value>> {
    let mut list: Vec<(String, i64, i64)> = defaults
        .iter()
        .map(|u| (u.name.clone(), u.soft, u.hard))
        .collect();
    for u in host.ulimits.iter().flatten() {
        list.retain(|(n, _, _)| *n != u.name);
        list.push((u.name.clone(), u.soft, u.hard));
    }
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
    list.into_iter()
        .map(|(name, soft, hard)| {
            if !KNOWN.contains(&name.as_str()) {
                return Err(Error::invalid(format!("invalid ulimit type: {name}")));
            }
            if soft > hard && hard >= 0 {
                return Err(Error::invalid(format!(
                    "invalid ulimit argument: {name}: soft limit {soft} is larger than hard limit {hard}"
                )));
            }
            Ok(json!({"type": format!("RLIMIT_{}", name.to_ascii_uppercase()), "soft": soft as u64, "hard": hard as u64}))
        })
        .collect()
}

/// The OCI `process` of the container's init.
pub fn process(input: &Input, caps: &[String], sec: &security::SecurityOpts) -> Result<Value> {
    let c = input.config;
    let args = command_line(c);
    if args.is_empty() {
        return Err(Error::invalid("No command specified"));
    }
    let cwd = if c.working_dir.is_empty() {
        "/"
    } else {
        c.working_dir.as_str()
    };
    let mut p = json!({
        "terminal": c.tty,
        "user": {"uid": input.user.uid, "gid": input.user.gid},
        "args": args,
        "env": environment(c, input.hostname),
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": sec.no_new_privileges,
    });
    if !input.user.additional_gids.is_empty() {
        p["user"]["additionalGids"] = json!(input.user.additional_gids);
    }
    let rl = rlimits(input.host, input.default_ulimits)?;
    if !rl.is_empty() {
        p["rlimits"] = Value::Array(rl);
    }
    if input.host.oom_score_adj != 0 {
        p["oomScoreAdj"] = json!(input.host.oom_score_adj);
    }
    if input.host.console_size != [0, 0] && c.tty {
        p["consoleSize"] =
            json!({"height": input.host.console_size[0], "width": input.host.console_size[1]});
    }
    Ok(p)
}

fn default_mounts(host: &HostConfig, shm_size: i64) -> Vec<Value> {
    let sys_opts = if host.privileged {
        json!(["nosuid", "noexec", "nodev"])
    } else {
        json!(["nosuid", "noexec", "nodev", "ro"])
    };
    let cgroup_opts = if host.privileged {
        json!(["nosuid", "noexec", "nodev", "relatime"])
    } else {
        json!(["ro", "nosuid", "noexec", "nodev", "relatime"])
    };
    let shm = if host.shm_size > 0 {
        host.shm_size
    } else {
        shm_size
    };
    let mut v = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": cgroup_opts}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    if host.ipc_mode != "host" {
        v.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}));
    } else {
        v.push(json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]}));
    }
    v
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

/// The whole spec. `root.path` is left for shimd to fill in.
pub fn generate(input: &Input) -> Result<Value> {
    let h = input.host;
    let sec = security::parse(h.security_opt.as_deref().unwrap_or(&[]))?;
    let caps = caps::compute(
        h.privileged,
        h.cap_add.as_deref().unwrap_or(&[]),
        h.cap_drop.as_deref().unwrap_or(&[]),
    )?;
    let process = process(input, &caps, &sec)?;
    let user = mounts::parse(h)?;
    resources::validate(h)?;
    let (resources, devices) = resources::build(h)?;

    let mut mounts = default_mounts(h, input.default_shm_size);
    for (dest, src) in [
        ("/etc/resolv.conf", input.etc.resolv_conf),
        ("/etc/hostname", input.etc.hostname),
        ("/etc/hosts", input.etc.hosts),
    ] {
        // A user mount on the same path wins, as with docker.
        if !user.points.iter().any(|p| p.destination == dest) {
            mounts.push(json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
        }
    }
    // User mounts replace default mounts on the same destination.
    mounts.retain(|m| {
        !user
            .points
            .iter()
            .any(|p| m["destination"] == p.destination.as_str())
    });
    mounts.extend(user.oci);

    let mut namespaces = vec![json!({"type": "mount"})];
    let mut add_ns = |kind: &str, mode: &str| -> Result<()> {
        match mode {
            "" | "private" | "shareable" => namespaces.push(json!({"type": kind})),
            "host" => {}
            other => {
                return Err(Error::invalid(format!("invalid {kind} mode: {other:?}")));
            }
        }
        Ok(())
    };
    add_ns("pid", &h.pid_mode)?;
    add_ns("ipc", &h.ipc_mode)?;
    add_ns("uts", &h.uts_mode)?;
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
    if h.uts_mode == "host" && !input.config.hostname.is_empty() {
        return Err(Error::invalid(
            "conflicting options: hostname and the host UTS namespace",
        ));
    }

    let cgroup_parent = if h.cgroup_parent.is_empty() {
        "/berth"
    } else {
        h.cgroup_parent.as_str()
    };
    let cgroup_parent = if cgroup_parent.starts_with('/') {
        cgroup_parent.to_string()
    } else {
        format!("/{cgroup_parent}")
    };
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": format!("{}/{}", cgroup_parent.trim_end_matches('/'), input.id),
    });
    if !devices.is_empty() || h.privileged {
        let mut all = devices;
        if h.privileged {
            all.extend(host_devices());
        }
        linux["devices"] = Value::Array(all);
    }
    let unmasked = h.privileged || sec.unmask_system_paths;
    let masked: Vec<String> = match &h.masked_paths {
        Some(p) => p.clone(),
        None if unmasked => vec![],
        None => MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
    };
    let readonly: Vec<String> = match &h.readonly_paths {
        Some(p) => p.clone(),
        None if unmasked => vec![],
        None => READONLY_PATHS.iter().map(|s| s.to_string()).collect(),
    };
    if !masked.is_empty() {
        linux["maskedPaths"] = json!(masked);
    }
    if !readonly.is_empty() {
        linux["readonlyPaths"] = json!(readonly);
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
            security::Seccomp::Profile(p) => linux["seccomp"] = p.clone(),
            security::Seccomp::Default => {
                if let Some(f) = input.default_seccomp {
                    linux["seccomp"] = f(&caps);
                }
            }
        }
    }

    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "rootfs", "readonly": h.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
    });
    if h.uts_mode != "host" {
        spec["hostname"] = json!(input.hostname);
        if !input.config.domainname.is_empty() {
            spec["domainname"] = json!(input.config.domainname);
        }
    }
    if let Some(a) = &h.annotations {
        spec["annotations"] = json!(a);
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

    fn input<'a>(config: &'a Config, host: &'a HostConfig, user: &'a user::Resolved) -> Input<'a> {
        Input {
            id: "abc",
            config,
            host,
            hostname: "abc",
            user,
            netns: Some("/run/berth/netns/abc".into()),
            etc: EtcFiles {
                hostname: Path::new("/c/hostname"),
                hosts: Path::new("/c/hosts"),
                resolv_conf: Path::new("/c/resolv.conf"),
            },
            default_ulimits: &[],
            default_shm_size: 64 << 20,
            default_seccomp: None,
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
        let u = user::Resolved::default();
        let s = generate(&input(&config, &host, &u)).unwrap();
        let spec: oci_spec::runtime::Spec =
            serde_json::from_value(s.clone()).expect("a valid OCI spec");
        assert_eq!(spec.hostname().as_deref(), Some("abc"));
        assert_eq!(s["process"]["args"], json!(["sh"]));
        assert_eq!(
            s["process"]["env"],
            json!(["HOSTNAME=abc", "A=1", DEFAULT_PATH])
        );
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
        let u = user::Resolved::default();
        let mut i = input(&config, &host, &u);
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
        let u = user::Resolved::default();
        let empty = Config::default();
        let host = HostConfig::default();
        assert_eq!(
            generate(&input(&empty, &host, &u)).unwrap_err().message,
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
        assert!(generate(&input(&config, &host, &u)).is_err());
        let host = HostConfig {
            ulimits: Some(vec![berth_api::container::Ulimit {
                name: "bogus".into(),
                soft: 1,
                hard: 1,
            }]),
            ..Default::default()
        };
        assert!(generate(&input(&config, &host, &u))
            .unwrap_err()
            .message
            .contains("invalid ulimit"));
    }
}
