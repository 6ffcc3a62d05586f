//! Turns `create`/`run` flags into the body of `POST /containers/create`, validating
//! them the way docker does before anything reaches the daemon.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::container::{
    Config, CreateRequest, Empty, HostConfig, LogConfig, RestartPolicy, Ulimit,
};
use berth_api::network::{EndpointSettings, NetworkingConfig, PortBinding};
use berth_api::strslice::StrSlice;

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

/// Reads an env file: one KEY=VALUE per line, `#` comments and blank lines skipped.
pub fn read_env_file(path: &Path) -> Result<Vec<String>, CliError> {
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
        if line.contains('=') {
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
        let port_ok = |p: &str| {
            p.split('-').count() <= 2 && p.split('-').all(|x| x.parse::<u16>().is_ok_and(|n| n > 0))
        };
        if !port_ok(container) {
            return Err(bad("invalid containerPort"));
        }
        if !host.is_empty() && !port_ok(host) {
            return Err(bad("invalid hostPort"));
        }
        let key = format!("{container}/{proto}");
        exposed.insert(key.clone(), Empty {});
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: ip.to_string(),
                host_port: host.to_string(),
            });
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
    for e in &o.expose {
        let key = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(key, Empty {});
    }
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
        labels: Some(key_values(&o.label)),
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
        dns: some_if(o.dns.clone()),
        dns_options: some_if(o.dns_option.clone()),
        dns_search: some_if(o.dns_search.clone()),
        group_add: some_if(o.group_add.clone()),
        ipc_mode: o.ipc.clone().unwrap_or_default(),
        pid_mode: o.pid.clone().unwrap_or_default(),
        privileged: o.privileged,
        publish_all_ports: o.publish_all,
        readonly_rootfs: o.read_only,
        security_opt: some_if(security_opts(&o.security_opt)?),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        mounts: some_if(mounts),
        volumes_from: some_if(o.volumes_from.clone()),
        volume_driver: o.volume_driver.clone().unwrap_or_default(),
        uts_mode: o.uts.clone().unwrap_or_default(),
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
        oom_kill_disable: o.oom_kill_disable.then_some(true),
        pids_limit: o.pids_limit,
        ulimits: some_if(ulimits),
        init: o.init.then_some(true),
        ..Default::default()
    };
    Ok(CreateRequest {
        config,
        host_config: Some(host),
        networking_config: endpoint_config(o),
    })
}

/// `--ip`, `--network-alias` and `--mac-address` as the endpoint settings of the network
/// the container joins (`--network`, else the default `bridge`), as docker sends them.
fn endpoint_config(o: &ContainerOpts) -> Option<NetworkingConfig> {
    if o.ip.is_none() && o.network_alias.is_empty() && o.mac_address.is_none() {
        return None;
    }
    let endpoint = EndpointSettings {
        ipam_config: o
            .ip
            .as_ref()
            .map(|ip| serde_json::json!({ "IPv4Address": ip })),
        aliases: some_if(o.network_alias.clone()),
        mac_address: o.mac_address.clone().unwrap_or_default(),
        ..Default::default()
    };
    let network = match o.network.as_deref() {
        None | Some("default") => "bridge".to_string(),
        Some(n) => n.to_string(),
    };
    Some(NetworkingConfig {
        endpoints_config: Some(BTreeMap::from([(network, endpoint)])),
    })
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
