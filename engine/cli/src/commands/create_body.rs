//! Turns `create`/`run` flags into the body of `POST /containers/create`, validating
//! them the way docker does before anything reaches the daemon.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::container::{
    Config, CreateRequest, Empty, HostConfig, LogConfig, RestartPolicy, ThrottleDevice, Ulimit,
};
use berth_api::network::{EndpointSettings, NetworkingConfig, PortBinding};
use berth_api::strslice::StrSlice;

use super::resource_flags as rf;
use crate::cli::ContainerOpts;
use crate::error::{CliError, EXIT_DAEMON};
use crate::output::units::parse_nano_cpus;
use berth_gocompat::units::ram_in_bytes;

/// Which streams the container is created attached to.
pub struct Attach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// A flag value docker would refuse: exit 125 with docker's wording.
fn bad_flag(value: &str, flag: &str, why: impl std::fmt::Display) -> CliError {
    CliError::new(format!(
        "invalid argument \"{value}\" for \"{flag}\" flag: {why}"
    ))
    .code(EXIT_DAEMON)
}

/// `KEY=VALUE` stays; a bare `KEY` takes the local value when there is one (docker's rule).
pub fn env_entry(e: &str) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_string(),
    }
}

/// Reads an env file: one KEY=VALUE per line, `#` comments and blank lines skipped; a
/// bare KEY takes the local value, or is dropped when there is none.
pub fn read_env_file(path: &Path) -> Result<Vec<String>, CliError> {
    read_kv_file(path, true)
}

/// Reads a KEY=VALUE file (`--env-file`, `--label-file`). With `lookup`, a bare KEY takes
/// the local environment's value (or is dropped); without, it stays as it is.
fn read_kv_file(path: &Path, lookup: bool) -> Result<Vec<String>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::new(format!("open {}: {e}", path.display())).code(EXIT_DAEMON))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split('=').next().unwrap_or("");
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(CliError::new(format!(
                "{}:{}: variable '{name}' contains whitespaces or is empty",
                path.display(),
                n + 1
            ))
            .code(EXIT_DAEMON));
        }
        if line.contains('=') || !lookup {
            out.push(line.to_string());
        } else if let Ok(v) = std::env::var(line) {
            out.push(format!("{line}={v}"));
        }
    }
    Ok(out)
}

/// Environment from `--env-file` files first, then `-e` flags (later ones win in the daemon).
pub fn collect_env(
    files: &[std::path::PathBuf],
    flags: &[String],
) -> Result<Vec<String>, CliError> {
    let mut env = Vec::new();
    for f in files {
        env.extend(read_env_file(f)?);
    }
    env.extend(flags.iter().map(|e| env_entry(e)));
    Ok(env)
}

fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect()
}

/// Labels from `--label-file` files first, then `-l` flags (later ones win).
fn collect_labels(files: &[std::path::PathBuf], flags: &[String]) -> Result<Vec<String>, CliError> {
    let mut labels = Vec::new();
    for f in files {
        labels.extend(read_kv_file(f, false)?);
    }
    labels.extend(flags.iter().cloned());
    Ok(labels)
}

/// A port or a range (`80`, `8000-8010`) as its first and last port.
fn port_range(p: &str) -> Option<(u16, u16)> {
    let (a, b) = p.split_once('-').unwrap_or((p, p));
    let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b).then_some((a, b))
}

/// `--expose 80`, `--expose 8000-8002/udp`: every port of the range, as docker sends them.
fn expose(specs: &[String], exposed: &mut BTreeMap<String, Empty>) -> Result<(), CliError> {
    for e in specs {
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (first, last) = port_range(port).ok_or_else(|| {
            CliError::new(format!(
                "invalid range format for --expose: {e}, error: invalid port range: {port}"
            ))
            .code(EXIT_DAEMON)
        })?;
        for p in first..=last {
            exposed.insert(format!("{p}/{proto}"), Empty {});
        }
    }
    Ok(())
}

/// A namespace mode flag docker checks itself: `host`, empty, or (where `container` is
/// allowed) `container:NAME`; `extra` lists other accepted values.
fn namespace_mode(
    value: &Option<String>,
    flag: &str,
    what: &str,
    container: bool,
    extra: &[&str],
) -> Result<String, CliError> {
    let v = value.clone().unwrap_or_default();
    let ok = v.is_empty()
        || v == "host"
        || extra.contains(&v.as_str())
        || (container && v.strip_prefix("container:").is_some_and(|n| !n.is_empty()));
    if !ok {
        return Err(CliError::new(format!("--{flag}: invalid {what} mode")).code(EXIT_DAEMON));
    }
    Ok(v)
}

/// `--link NAME[:ALIAS]`, checked as docker checks it.
fn check_link(l: &str) -> Result<(), CliError> {
    if l.is_empty() {
        return Err(bad_flag(l, "--link", "empty string specified for links"));
    }
    if l.split(':').count() > 2 {
        return Err(bad_flag(l, "--link", format!("bad format for links: {l}")));
    }
    Ok(())
}

fn restart_policy(s: &str) -> Result<RestartPolicy, CliError> {
    let policy = |name: &str, n: i64| RestartPolicy {
        name: name.to_string(),
        maximum_retry_count: n,
    };
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    match (name, count) {
        ("" | "no", None) => Ok(policy("no", 0)),
        ("always" | "unless-stopped" | "on-failure", None) => Ok(policy(name, 0)),
        ("on-failure", Some(c)) => {
            let n: i64 = c
                .parse()
                .map_err(|_| bad_flag(s, "--restart", "maximum retry count must be an integer"))?;
            Ok(policy("on-failure", n))
        }
        ("always" | "unless-stopped" | "no", Some(_)) => Err(bad_flag(
            s,
            "--restart",
            format!("maximum retry count cannot be used with restart policy '{name}'"),
        )),
        _ => Err(bad_flag(s, "--restart", "invalid restart policy format")),
    }
}

fn ulimit(s: &str) -> Result<Ulimit, CliError> {
    let bad = |why: &str| bad_flag(s, "--ulimit", why);
    let (name, limits) = s
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=SOFT[:HARD]"))?;
    let (soft, hard) = match limits.split_once(':') {
        Some((a, b)) => (a, b),
        None => (limits, limits),
    };
    let soft: i64 = soft
        .parse()
        .map_err(|_| bad("soft limit must be an integer"))?;
    let hard: i64 = hard
        .parse()
        .map_err(|_| bad("hard limit must be an integer"))?;
    if soft > hard {
        return Err(bad(
            "soft limit must be less than or equal to the hard limit",
        ));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// `-p [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]` into exposed ports and bindings.
fn publish(specs: &[String], exposed: &mut BTreeMap<String, Empty>) -> Result<PortMap, CliError> {
    let mut bindings = PortMap::new();
    for s in specs {
        let bad = |why: &str| bad_flag(s, "-p, --publish", why);
        let (addr, proto) = match s.rsplit_once('/') {
            Some((a, p)) => (a, p),
            None => (s.as_str(), "tcp"),
        };
        if !matches!(proto, "tcp" | "udp" | "sctp") {
            return Err(bad("invalid proto"));
        }
        let parts: Vec<&str> = match addr.strip_prefix('[') {
            Some(v6) => {
                let (ip, rest) = v6
                    .split_once("]:")
                    .ok_or_else(|| bad("invalid IPv6 address"))?;
                let mut p = vec![ip];
                p.extend(rest.split(':'));
                p
            }
            None => addr.split(':').collect(),
        };
        let (ip, host, container) = match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [i, h, c] => (*i, *h, *c),
            _ => return Err(bad("too many colons")),
        };
        let (first, last) = port_range(container)
            .filter(|(a, _)| *a > 0)
            .ok_or_else(|| bad("invalid containerPort"))?;
        let host_range = match host {
            "" => None,
            h => Some(
                port_range(h)
                    .filter(|(a, _)| *a > 0)
                    .ok_or_else(|| bad("invalid hostPort"))?,
            ),
        };
        // Equal ranges map port to port; a single container port takes the host range.
        let count = last - first;
        if let Some((hf, hl)) = host_range {
            if count > 0 && hl - hf != count {
                return Err(bad("port ranges don't match"));
            }
        }
        for i in 0..=count {
            let key = format!("{}/{proto}", first + i);
            let host_port = match host_range {
                None => String::new(),
                Some((hf, hl)) if count == 0 && hf != hl => format!("{hf}-{hl}"),
                Some((hf, _)) => (hf + i).to_string(),
            };
            exposed.insert(key.clone(), Empty {});
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: ip.to_string(),
                    host_port,
                });
        }
    }
    Ok(bindings)
}

fn security_opts(opts: &[String]) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for o in opts {
        // A seccomp profile is a file on this machine: send its content, as docker does.
        if let Some(path) = o
            .strip_prefix("seccomp=")
            .or_else(|| o.strip_prefix("seccomp:"))
        {
            if path != "unconfined" && path != "builtin" {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CliError::new(format!("opening seccomp profile ({path}) failed: {e}"))
                        .code(EXIT_DAEMON)
                })?;
                let compact: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    CliError::new(format!("seccomp profile ({path}) is not valid JSON: {e}"))
                        .code(EXIT_DAEMON)
                })?;
                out.push(format!("seccomp={compact}"));
                continue;
            }
        }
        if o.starts_with("no-new-privileges") || o.contains('=') || o.contains(':') {
            out.push(o.clone());
        } else {
            return Err(bad_flag(
                o,
                "--security-opt",
                "invalid --security-opt: expected KEY=VALUE or no-new-privileges",
            ));
        }
    }
    Ok(out)
}

fn some_if<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// The create request for `image` running `cmd`.
pub fn build(
    o: &ContainerOpts,
    image: &str,
    cmd: &[String],
    attach: Attach,
    console: Option<(u16, u16)>,
) -> Result<CreateRequest, CliError> {
    let env = collect_env(&o.env_file, &o.env)?;
    let mut exposed = BTreeMap::new();
    expose(&o.expose, &mut exposed)?;
    let port_bindings = publish(&o.publish, &mut exposed)?;
    for h in &o.add_host {
        if !h.contains(':') && !h.contains('=') {
            return Err(bad_flag(
                h,
                "--add-host",
                "invalid argument format, expected HOST:IP",
            ));
        }
    }
    let mut binds = Vec::new();
    let mut volumes = BTreeMap::new();
    for v in &o.volume {
        if v.contains(':') {
            binds.push(super::mount_flags::bind_flag(v));
        } else {
            volumes.insert(v.clone(), Empty {});
        }
    }
    let tmpfs: BTreeMap<String, String> = o
        .tmpfs
        .iter()
        .map(|t| match t.split_once(':') {
            Some((p, opts)) => (p.to_string(), opts.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect();
    let mounts = o
        .mount
        .iter()
        .map(|m| super::mount_flags::parse_mount(m).map_err(|e| bad_flag(m, "--mount", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let ulimits = o
        .ulimit
        .iter()
        .map(|u| ulimit(u))
        .collect::<Result<Vec<_>, _>>()?;
    let size = |v: &Option<String>, flag: &str| -> Result<i64, CliError> {
        match v.as_deref() {
            None => Ok(0),
            Some("-1") => Ok(-1),
            Some(s) => ram_in_bytes(s).map_err(|e| bad_flag(s, flag, e)),
        }
    };
    let nano_cpus = match o.cpus.as_deref() {
        Some(c) => parse_nano_cpus(c).map_err(|e| bad_flag(c, "--cpus", e))?,
        None => 0,
    };
    for l in &o.link {
        check_link(l)?;
    }
    if o.memory_swappiness != -1 && !(0..=100).contains(&o.memory_swappiness) {
        return Err(CliError::new(format!(
            "invalid value: {}. Valid memory swappiness range is 0-100",
            o.memory_swappiness
        ))
        .code(EXIT_DAEMON));
    }
    let storage_opt = o
        .storage_opt
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| CliError::new("invalid storage option").code(EXIT_DAEMON))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let flag_err = |flag: &'static str| move |(v, e): (&String, String)| bad_flag(v, flag, e);
    let each =
        |vals: &[String], flag: &'static str, f: fn(&str) -> Result<ThrottleDevice, String>| {
            vals.iter()
                .map(|v| f(v).map_err(|e| flag_err(flag)((v, e))))
                .collect::<Result<Vec<_>, _>>()
        };
    let weight_devices = o
        .blkio_weight_device
        .iter()
        .map(|v| rf::weight_device(v).map_err(|e| bad_flag(v, "--blkio-weight-device", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let read_bps = each(&o.device_read_bps, "--device-read-bps", rf::throttle_bps)?;
    let write_bps = each(&o.device_write_bps, "--device-write-bps", rf::throttle_bps)?;
    let read_iops = each(&o.device_read_iops, "--device-read-iops", rf::throttle_iops)?;
    let write_iops = each(
        &o.device_write_iops,
        "--device-write-iops",
        rf::throttle_iops,
    )?;
    let mut devices = Vec::new();
    let mut device_requests = Vec::new();
    for d in &o.device {
        match rf::device(d).map_err(|e| CliError::new(e).code(EXIT_DAEMON))? {
            rf::Device::Mapping(m) => devices.push(m),
            rf::Device::Cdi(name) => device_requests.push(serde_json::json!({
                "Driver": "cdi", "Count": 0, "DeviceIDs": [name],
                "Capabilities": null, "Options": null,
            })),
        }
    }
    for g in &o.gpus {
        device_requests.push(rf::gpu_request(g).map_err(|e| bad_flag(g, "--gpus", e))?);
    }
    let healthcheck = rf::healthcheck(o).map_err(|e| CliError::new(e).code(EXIT_DAEMON))?;
    let cgroupns_mode = namespace_mode(&o.cgroupns, "cgroupns", "CGROUP", false, &["private"])?;
    let userns_mode = namespace_mode(&o.userns, "userns", "USER", false, &[])?;
    let uts_mode = namespace_mode(&o.uts, "uts", "UTS", false, &[])?;
    let pid_mode = namespace_mode(&o.pid, "pid", "PID", true, &[])?;
    let labels = collect_labels(&o.label_file, &o.label)?;
    if !matches!(o.pull.as_str(), "always" | "missing" | "never") {
        return Err(bad_flag(
            &o.pull,
            "--pull",
            "must be one of always, missing, never",
        ));
    }
    let config = Config {
        hostname: o.hostname.clone().unwrap_or_default(),
        domainname: o.domainname.clone().unwrap_or_default(),
        user: o.user.clone().unwrap_or_default(),
        attach_stdin: attach.stdin,
        attach_stdout: attach.stdout,
        attach_stderr: attach.stderr,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: o.tty,
        open_stdin: o.interactive,
        stdin_once: o.interactive && attach.stdin,
        env: Some(env),
        cmd: (!cmd.is_empty()).then(|| StrSlice(cmd.to_vec())),
        image: image.to_string(),
        volumes: (!volumes.is_empty()).then_some(volumes),
        working_dir: o.workdir.clone().unwrap_or_default(),
        // `--entrypoint ""` clears the image's entrypoint: docker sends [""].
        entrypoint: o.entrypoint.as_ref().map(|e| StrSlice(vec![e.clone()])),
        labels: Some(key_values(&labels)),
        healthcheck,
        stop_signal: o.stop_signal.clone(),
        stop_timeout: o.stop_timeout,
        // Daemons before API 1.44 read the address only here; later ones take it when it
        // matches the endpoint's.
        mac_address: o.mac_address.clone(),
        ..Default::default()
    };
    let host = HostConfig {
        binds: some_if(binds),
        log_config: LogConfig {
            kind: o.log_driver.clone().unwrap_or_default(),
            config: key_values(&o.log_opt),
        },
        network_mode: o.network.clone().unwrap_or_else(|| "default".into()),
        port_bindings: Some(port_bindings),
        restart_policy: restart_policy(&o.restart)?,
        auto_remove: o.rm,
        console_size: console.map_or([0, 0], |(r, c)| [u32::from(r), u32::from(c)]),
        cap_add: some_if(o.cap_add.clone()),
        cap_drop: some_if(o.cap_drop.clone()),
        extra_hosts: some_if(o.add_host.clone()),
        dns: Some(o.dns.clone()),
        dns_options: Some(o.dns_option.clone()),
        dns_search: Some(o.dns_search.clone()),
        group_add: some_if(o.group_add.clone()),
        ipc_mode: o.ipc.clone().unwrap_or_default(),
        pid_mode,
        cgroupns_mode,
        userns_mode,
        links: some_if(o.link.clone()),
        oom_score_adj: o.oom_score_adj,
        isolation: o.isolation.clone().unwrap_or_default(),
        storage_opt: (!storage_opt.is_empty()).then_some(storage_opt),
        annotations: (!o.annotation.is_empty()).then(|| key_values(&o.annotation)),
        cgroup_parent: o.cgroup_parent.clone().unwrap_or_default(),
        blkio_weight: o.blkio_weight,
        blkio_weight_device: Some(weight_devices),
        blkio_device_read_bps: Some(read_bps),
        blkio_device_write_bps: Some(write_bps),
        blkio_device_read_iops: Some(read_iops),
        blkio_device_write_iops: Some(write_iops),
        cpu_period: o.cpu_period,
        cpu_quota: o.cpu_quota,
        cpu_realtime_period: o.cpu_rt_period,
        cpu_realtime_runtime: o.cpu_rt_runtime,
        devices: Some(devices),
        device_cgroup_rules: some_if(o.device_cgroup_rule.clone()),
        device_requests: some_if(device_requests),
        memory_swappiness: Some(o.memory_swappiness),
        cpu_count: o.cpu_count,
        cpu_percent: o.cpu_percent,
        io_maximum_iops: o.io_maxiops,
        io_maximum_bandwidth: size(&o.io_maxbandwidth, "--io-maxbandwidth")? as u64,
        privileged: o.privileged,
        publish_all_ports: o.publish_all,
        readonly_rootfs: o.read_only,
        security_opt: some_if(security_opts(&o.security_opt)?),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        mounts: some_if(mounts),
        volumes_from: some_if(o.volumes_from.clone()),
        volume_driver: o.volume_driver.clone().unwrap_or_default(),
        uts_mode,
        shm_size: size(&o.shm_size, "--shm-size")?,
        sysctls: (!o.sysctl.is_empty()).then(|| key_values(&o.sysctl)),
        runtime: o.runtime.clone().unwrap_or_default(),
        cpu_shares: o.cpu_shares.unwrap_or(0),
        memory: size(&o.memory, "-m, --memory")?,
        nano_cpus,
        cpuset_cpus: o.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: o.cpuset_mems.clone().unwrap_or_default(),
        memory_reservation: size(&o.memory_reservation, "--memory-reservation")?,
        memory_swap: size(&o.memory_swap, "--memory-swap")?,
        oom_kill_disable: Some(o.oom_kill_disable),
        pids_limit: Some(o.pids_limit.unwrap_or(0)),
        ulimits: Some(ulimits),
        init: o.init.then_some(true),
        ..Default::default()
    };
    Ok(CreateRequest {
        config,
        host_config: Some(host),
        networking_config: endpoint_config(o),
    })
}

/// `--ip`, `--ip6`, `--link-local-ip`, `--network-alias`, `--mac-address` (and `--link` on
/// a user-defined network) as the endpoint settings of the network the container joins
/// (`--network`, else the default `bridge`), as docker sends them.
fn endpoint_config(o: &ContainerOpts) -> Option<NetworkingConfig> {
    let network = match o.network.as_deref() {
        None | Some("default") => "bridge".to_string(),
        Some(n) => n.to_string(),
    };
    let user_defined = !matches!(
        o.network.as_deref(),
        None | Some("default" | "bridge" | "host" | "none")
    ) && !o
        .network
        .as_deref()
        .is_some_and(|n| n.starts_with("container:"));
    let links = if user_defined {
        o.link.clone()
    } else {
        Vec::new()
    };
    if o.ip.is_none()
        && o.ip6.is_none()
        && o.link_local_ip.is_empty()
        && o.network_alias.is_empty()
        && o.mac_address.is_none()
        && links.is_empty()
    {
        return None;
    }
    let mut ipam = serde_json::Map::new();
    if let Some(ip) = &o.ip {
        ipam.insert("IPv4Address".into(), ip.clone().into());
    }
    if let Some(ip) = &o.ip6 {
        ipam.insert("IPv6Address".into(), ip.clone().into());
    }
    if !o.link_local_ip.is_empty() {
        ipam.insert("LinkLocalIPs".into(), o.link_local_ip.clone().into());
    }
    let endpoint = EndpointSettings {
        ipam_config: (!ipam.is_empty()).then_some(serde_json::Value::Object(ipam)),
        aliases: some_if(o.network_alias.clone()),
        links: some_if(links),
        mac_address: o.mac_address.clone().unwrap_or_default(),
        ..Default::default()
    };
    Some(NetworkingConfig {
        endpoints_config: Some(BTreeMap::from([(network, endpoint)])),
    })
}

/// The create request as JSON, with the fields docker sends that the shared request type
/// does not carry (`KernelMemory`).
pub fn build_json(
    o: &ContainerOpts,
    image: &str,
    cmd: &[String],
    attach: Attach,
    console: Option<(u16, u16)>,
) -> Result<serde_json::Value, CliError> {
    let kernel_memory = match o.kernel_memory.as_deref() {
        None => 0,
        Some(s) => ram_in_bytes(s).map_err(|e| bad_flag(s, "--kernel-memory", e))?,
    };
    let mut body = serde_json::to_value(build(o, image, cmd, attach, console)?)
        .map_err(|e| CliError::new(e.to_string()).code(EXIT_DAEMON))?;
    if kernel_memory != 0 {
        if let Some(h) = body.get_mut("HostConfig").and_then(|h| h.as_object_mut()) {
            h.insert("KernelMemory".into(), kernel_memory.into());
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts() -> ContainerOpts {
        ContainerOpts {
            pull: "missing".into(),
            restart: "no".into(),
            ..Default::default()
        }
    }

    fn attach() -> Attach {
        Attach {
            stdin: false,
            stdout: true,
            stderr: true,
        }
    }

    #[test]
    fn maps_the_common_flags() {
        let mut o = opts();
        o.env = vec!["A=1".into()];
        o.memory = Some("64m".into());
        o.cpus = Some("0.5".into());
        o.restart = "on-failure:3".into();
        o.entrypoint = Some(String::new());
        o.publish = vec!["127.0.0.1:8080:80".into()];
        o.label = vec!["k=v".into(), "flag".into()];
        o.pids_limit = Some(10);
        o.read_only = true;
        let b = build(
            &o,
            "busybox",
            &["sh".into(), "-c".into(), "x".into()],
            attach(),
            None,
        )
        .unwrap();
        let b = serde_json::to_value(b).unwrap();
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], json!(["sh", "-c", "x"]));
        assert_eq!(b["Entrypoint"], json!([""]));
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["Labels"], json!({"k": "v", "flag": ""}));
        assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}}));
        let h = &b["HostConfig"];
        assert_eq!(h["Memory"], 64 << 20);
        assert_eq!(h["NanoCpus"], 500_000_000);
        assert_eq!(
            h["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(
            h["PortBindings"]["80/tcp"][0],
            json!({"HostIp": "127.0.0.1", "HostPort": "8080"})
        );
        assert_eq!(h["PidsLimit"], 10);
        assert_eq!(h["ReadonlyRootfs"], true);
    }

    #[test]
    fn refuses_bad_values_with_exit_125() {
        type Case = (fn(&mut ContainerOpts), &'static str);
        let cases: [Case; 7] = [
            (|o| o.memory = Some("lots".into()), "--memory"),
            (|o| o.cpus = Some("x".into()), "--cpus"),
            (|o| o.restart = "sometimes".into(), "--restart"),
            (|o| o.restart = "always:3".into(), "--restart"),
            (|o| o.ulimit = vec!["nofile".into()], "--ulimit"),
            (|o| o.publish = vec!["80:x".into()], "--publish"),
            (|o| o.add_host = vec!["nohost".into()], "--add-host"),
        ];
        for (set, flag) in cases {
            let mut o = opts();
            set(&mut o);
            let e = build(&o, "busybox", &[], attach(), None).unwrap_err();
            assert_eq!(e.code, 125, "{flag}");
            assert!(e.message.contains(flag), "{flag}: {}", e.message);
        }
    }

    #[test]
    fn env_files_and_bare_names() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(
            &f,
            "# comment\n\nA=1\n  B=two words\nBERTH_TEST_UNSET_VAR\n",
        )
        .unwrap();
        let env = collect_env(&[f], &["C=3".into()]).unwrap();
        assert_eq!(env, ["A=1", "B=two words", "C=3"]);
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "BAD NAME=1\n").unwrap();
        assert!(read_env_file(&bad)
            .unwrap_err()
            .message
            .contains("whitespace"));
        assert!(read_env_file(&dir.path().join("missing")).is_err());
    }
}
